"""The sqlml dbt package that ships inside sqlml (sqlml/integrations/dbt), and adding it to
a dbt project's packages.yml as a local package, so that `dbt deps` needs no network."""

from __future__ import annotations

import re
from pathlib import Path

from sqlml.errors import MissingExtraError, SqlmlError


def path() -> Path:
    """Where the package is: what `packages: - local: ...` names."""
    return Path(__file__).resolve().parent / "dbt"


def add_to_project(project: Path) -> str:
    """Adds the package to the project's packages.yml (made if missing); what was done."""
    try:
        import yaml
    except ImportError as error:
        raise MissingExtraError("sqlml dbt init needs dbt: pip install 'sqlml[dbt]'") from error
    if not (project / "dbt_project.yml").exists():
        raise SqlmlError(f"{project} is not a dbt project (it has no dbt_project.yml)")
    packages = project / "packages.yml"
    entry = f"  - local: {path()}\n"
    if not packages.exists():
        packages.write_text(f"packages:\n{entry}")
        return f"wrote {packages}"
    text = packages.read_text()
    listed = (yaml.safe_load(text) or {}).get("packages") or []
    if any((project / str(item.get("local", ""))).resolve() == path() for item in listed):
        return f"{packages} has the sqlml package already"
    # Appended as text below the last line of the packages list: comments stay.
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"packages\s*:", line)), None)
    if start is None:
        changed = text + ("\n" if text and not text.endswith("\n") else "") + f"packages:\n{entry}"
    else:
        end = start + 1  # past the list's items, then back over blank lines
        while end < len(lines) and (lines[end][:1] in (" ", "-", "#") or not lines[end].strip()):
            end += 1
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        changed = "".join([*lines[:end], entry, *lines[end:]])
    found = (yaml.safe_load(changed) or {}).get("packages") or []
    if not any(str(item.get("local", "")) == str(path()) for item in found):
        raise SqlmlError(
            f"cannot add the sqlml package to {packages}: add `{entry.strip()}` to its "
            "packages list by hand"
        )
    packages.write_text(changed)
    return f"added the sqlml package to {packages}"
