"""The package's shape: what runs inside the database imports nothing of the client's, and
a wheel carries udfs/ and sql/ under the sqlml package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_udfs_import_without_sqlglot_or_a_driver():
    """The database-side package and the server's entry points: a scoring function's process
    never loads the parser or a client driver."""
    modules = sorted(f"udfs.{p.stem}" for p in (ROOT / "udfs").glob("*.py") if p.stem != "__init__")
    modules.append("sqlml.in_server")
    script = (
        "import sys\n"
        "for blocked in ('sqlglot', 'psycopg'):\n"
        "    sys.modules[blocked] = None  # any import of it now fails\n"
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_wheel_ships_udfs_and_sql_inside_the_package(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("sqlml-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sqlml/_udfs/train.py" in names
    assert "sqlml/_udfs/pg_scoring.py" in names
    assert "sqlml/_sql/sqlml--0.5.0.sql" in names
    # the dbt package, which `sqlml dbt-package` points packages.yml at
    assert "sqlml/integrations/dbt/dbt_project.yml" in names
    assert "sqlml/integrations/dbt/macros/materializations/sqlml_model.sql" in names
    assert not any(n.startswith("udfs/") for n in names), "no top-level udfs module"
