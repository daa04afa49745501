"""The README's examples run as written on a fresh database, and its links (and those of
docs/) lead somewhere inside the repository.

Every fenced block of the README is run, in order, unless a ``<!-- not run: why -->`` line
stands right above it: ``python`` blocks in one Python process (DuckDB), ``bash`` blocks
line by line (each a ``sqlml`` command), ``sql`` blocks through psql. The README's
PostgreSQL URL (``postgresql://postgres@localhost/shop``) stands for a database this test
creates; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from servers import SERVER_DSN, dsn_for

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_DSN = "postgresql://postgres@localhost/shop"
DATABASE = "sqlml_readme"


@dataclass
class Block:
    language: str
    code: str
    line: int
    not_run: str | None  # why, when the README says it is not run


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    at = 0
    while at < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[at])
        if not opening:
            at += 1
            continue
        end = lines.index("```", at + 1)
        marker = re.match(r"^<!-- not run: (.+) -->$", lines[at - 1]) if at else None
        found.append(
            Block(
                opening.group(1),
                "\n".join(lines[at + 1 : end]) + "\n",
                at + 1,
                marker.group(1) if marker else None,
            )
        )
        at = end + 1
    return found


def test_every_block_is_run_or_says_why_not():
    for block in blocks(README):
        if block.not_run is None:
            assert block.language in ("python", "bash", "sql", ""), block.line
    assert [b.language for b in blocks(README) if b.not_run is None].count("python") >= 2


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_stay_inside_the_repository_and_resolve():
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            assert linked.is_relative_to(ROOT), f"{document.name} links outside: {target}"
            assert linked.exists(), f"{document.name} links to a missing file: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{document.name}: {target}"


@pytest.fixture
def shop_database() -> str:
    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    yield dsn_for(DATABASE)
    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )


def _run(command: list[str], cwd: Path, what: str, stdin: str | None = None) -> str:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    env.pop("SQLML_DEBUG", None)
    done = subprocess.run(
        command, cwd=cwd, env=env, input=stdin or "", capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{what} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.postgres
def test_the_readme_runs_as_written(tmp_path: Path, shop_database: str):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    sqlml_command = [sys.executable, "-m", "sqlml.cli"]
    python = [b for b in blocks(README) if b.not_run is None and b.language == "python"]
    # Python blocks first: one process, as someone pasting them into one interpreter.
    script = "".join(f"# README line {b.line}\n{b.code}" for b in python)
    _run([sys.executable, "-c", script], tmp_path, "the README's Python")
    for block in blocks(README):
        if block.not_run is not None or block.language == "python":
            continue
        code = block.code.replace(README_DSN, shop_database)
        if block.language == "bash":
            for line in code.splitlines():
                command = shlex.split(line, comments=True)
                if not command:
                    continue
                assert command[0] == "sqlml", f"README line {block.line}: {line}"
                _run(sqlml_command + command[1:], tmp_path, f"README line {block.line}: {line}")
        elif block.language == "sql":
            scripted = tmp_path / f"readme_{block.line}.sql"
            scripted.write_text(code, encoding="utf-8")
            psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", shop_database]
            _run([*psql, "-f", str(scripted)], tmp_path, f"README line {block.line} (psql)")
