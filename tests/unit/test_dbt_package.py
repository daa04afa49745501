"""`sqlml dbt init` adds the sqlml dbt package to a project's packages.yml, keeping what the
file had; `sqlml dbt-package` prints where the package is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sqlml.errors import SqlmlError
from sqlml.integrations import dbt_package


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    return tmp_path


def listed(project: Path) -> list[dict]:
    return yaml.safe_load((project / "packages.yml").read_text())["packages"]


def test_the_package_is_a_dbt_project_with_its_materializations():
    root = dbt_package.path()
    assert yaml.safe_load((root / "dbt_project.yml").read_text())["name"] == "sqlml"
    macros = {path.name for path in (root / "macros").rglob("*.sql")}
    assert {"sqlml_model.sql", "sqlml_feature_table.sql", "scoring.sql", "tests.sql"} <= macros


def test_a_project_without_packages_gets_the_file(project):
    assert "wrote" in dbt_package.add_to_project(project)
    assert listed(project) == [{"local": str(dbt_package.path())}]


def test_an_existing_list_keeps_its_packages_and_comments(project):
    (project / "packages.yml").write_text(
        "packages:\n  # from the hub\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
        "\n# a comment at the end\n"
    )
    assert "added" in dbt_package.add_to_project(project)
    text = (project / "packages.yml").read_text()
    assert "# from the hub" in text and "# a comment at the end" in text
    assert listed(project) == [
        {"package": "dbt-labs/dbt_utils", "version": "1.3.0"},
        {"local": str(dbt_package.path())},
    ]
    assert "already" in dbt_package.add_to_project(project)
    assert len(listed(project)) == 2


def test_a_folder_that_is_no_dbt_project_is_refused(tmp_path):
    with pytest.raises(SqlmlError, match="not a dbt project"):
        dbt_package.add_to_project(tmp_path)
    assert not (tmp_path / "packages.yml").exists()


def test_a_file_without_a_packages_list_gets_one(project):
    (project / "packages.yml").write_text("# nothing yet")
    dbt_package.add_to_project(project)
    assert listed(project) == [{"local": str(dbt_package.path())}]
    assert (project / "packages.yml").read_text().startswith("# nothing yet\n")
