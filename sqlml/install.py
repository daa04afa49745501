"""`sqlml install`: put schema sqlml (catalog, PL/Python functions, grants) into PostgreSQL."""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import psycopg

from sqlml import catalog_upgrade
from sqlml._udfs_loader import udfs
from sqlml.backends.postgres import open_connection
from sqlml.errors import SqlmlError
from sqlml.version import __version__

# The folder that holds the sqlml package (a checkout, or site-packages).
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent

# What the server's Python must import to train and predict.
REQUIRED_MODULES = (
    "numpy",
    "pyarrow",
    "onnxruntime",
    "onnx",
    "sklearn",
    "lightgbm",
    "skl2onnx",
    "onnxmltools",
    "sqlglot",
    "sqlml",
)

Report = Callable[[str], None]


def python_paths() -> list[str]:
    """Where this client's sqlml and its dependencies are importable from.

    The server gets the same list: sqlml installed on the database machine (the usual case
    for a local server, and what `pip install sqlml` on that machine gives).
    """
    site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys([str(_PACKAGE_PARENT), *site]))


def _quote(conn: psycopg.Connection, identifier: str) -> str:
    return psycopg.sql.Identifier(identifier).as_string(conn)


def check_server_python(conn: psycopg.Connection, paths: list[str]) -> None:
    """Fail with what to do when the server's Python cannot import sqlml's packages."""
    probe = (
        "import sys, importlib, json\n"
        f"sys.path[:0] = [p for p in {paths!r} if p not in sys.path]\n"
        "missing = []\n"
        f"for name in {list(REQUIRED_MODULES)!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        missing.append(f'{name} ({type(error).__name__}: {error})')\n"
        # A folder on the way to a path that the server's OS user may not enter (a home
        # directory of mode 700) hides everything below it: say which one.
        "import os, pwd\n"
        "blocked = []\n"
        f"for path in {paths!r}:\n"
        "    parts = path.split(os.sep)\n"
        "    for end in range(2, len(parts) + 1):\n"
        "        folder = os.sep.join(parts[:end])\n"
        "        if os.path.isdir(folder) and not os.access(folder, os.X_OK):\n"
        "            blocked.append(folder)\n"
        "            break\n"
        "user = pwd.getpwuid(os.geteuid()).pw_name\n"
        "GD['sqlml_probe'] = json.dumps({'missing': missing, 'python': sys.version, "
        "'executable': sys.executable, 'blocked': sorted(set(blocked)), 'user': user})\n"
        "if missing:\n"
        "    plpy.error('sqlml-probe ' + GD['sqlml_probe'])\n"
    )
    try:
        conn.execute(f"DO $sqlml_probe$\n{probe}\n$sqlml_probe$ LANGUAGE plpython3u")
    except psycopg.Error as error:
        message = error.diag.message_primary or str(error)
        marker = message.find("sqlml-probe ")  # PL/Python prefixes "plpy.Error: "
        if marker < 0:
            raise SqlmlError(f"the server could not run PL/Python: {message}") from error
        report = json.loads(message[marker:].removeprefix("sqlml-probe "))
        if report.get("blocked"):
            folders = ", ".join(report["blocked"])
            raise SqlmlError(
                f"the PostgreSQL server runs as OS user {report['user']}, which may not enter "
                f"{folders}, where sqlml and its packages are (a home directory of mode 700?): "
                f"let it through (chmod o+rx on the folders on the way, for example chmod o+x "
                f"{report['blocked'][0]}), or install sqlml in a folder it can read, such as "
                "/opt/sqlml (python3 -m venv /opt/sqlml && /opt/sqlml/bin/pip install sqlml), "
                "and run sqlml install from there"
            ) from error
        raise SqlmlError(
            "the PostgreSQL server's Python ("
            + report["python"].split()[0]
            + ") cannot import: "
            + "; ".join(report["missing"])
            + ". Install sqlml on the database machine for that Python (for example "
            "`python3 -m venv /opt/sqlml && /opt/sqlml/bin/pip install sqlml`, with the same "
            "Python minor version as the server's), make it readable by the postgres user, and "
            "run `sqlml install` from that environment; searched: " + ", ".join(paths)
        ) from error


def installed_version(conn: psycopg.Connection) -> str | None:
    ((catalog_info,),) = conn.execute("SELECT to_regclass('sqlml.catalog_info')").fetchall()
    if catalog_info is None:
        return None
    row = conn.execute(
        "SELECT value FROM sqlml.catalog_info WHERE key = 'installed_version'"
    ).fetchone()
    return row[0] if row else "0.0.0"


def _set_info(conn: psycopg.Connection, key: str, value: str) -> None:
    conn.execute("DELETE FROM sqlml.catalog_info WHERE key = %s", [key])
    conn.execute("INSERT INTO sqlml.catalog_info VALUES (%s, %s)", [key, value])


def _render(script: str, paths: list[str]) -> str:
    prelude = udfs.pg_functions.prelude(paths)
    return re.sub(r"^@PRELUDE@$", lambda _: prelude, script, flags=re.MULTILINE)


def _add_dblink(conn: psycopg.Connection, report: Report) -> None:
    """dblink, which sqlml.record_failed_run writes with, in a schema of its own that no
    role but the installer may use (its functions connect anywhere). Without it a failed
    run inside the server is not recorded: sqlml works on."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'dblink'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE SCHEMA IF NOT EXISTS sqlml_dblink")
            conn.execute("REVOKE ALL ON SCHEMA sqlml_dblink FROM PUBLIC")
            conn.execute("CREATE EXTENSION dblink SCHEMA sqlml_dblink")
    except psycopg.Error as error:
        report(
            f"dblink is not available ({error.diag.message_primary}): failed runs inside the "
            "server (sqlml.execute) will not be recorded"
        )


def install(dsn: str, upgrade: bool = False, report: Report = print) -> str:
    """Install (or, with ``upgrade``, move forward) sqlml in the database; its version."""
    version = __version__
    script = catalog_upgrade.sql_dir() / f"sqlml--{version}.sql"
    with open_connection(dsn) as conn:
        superuser = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not superuser or not superuser[0]:
            raise SqlmlError("sqlml install needs a superuser (it creates PL/Python functions)")
        present = installed_version(conn)
        if present is not None and present != version and not upgrade:
            raise SqlmlError(
                f"sqlml {present} is installed; run `sqlml install --upgrade` to move to {version}"
            )
        report("checking PL/Python")
        conn.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
        _add_dblink(conn, report)
        paths = python_paths()
        report("checking that the server's Python can import sqlml")
        check_server_python(conn, paths)
        with conn.transaction():
            # sqlml_user trains and uses models; sqlml_admin also manages everyone's.
            conn.execute(
                "DO $$ BEGIN "
                "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sqlml_user') "
                "THEN CREATE ROLE sqlml_user NOLOGIN; END IF; "
                "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sqlml_admin') "
                "THEN CREATE ROLE sqlml_admin NOLOGIN IN ROLE sqlml_user; END IF; END $$"
            )
            if present is not None and present != version:
                for step in catalog_upgrade.upgrade_path(present, version):
                    report(f"applying {step.name}")
                    conn.execute(catalog_upgrade.render(step.read_text(), "postgres"))
            for statement in udfs.catalog.ddl("postgres"):
                conn.execute(statement)
            report(f"installing {script.name}")
            conn.execute(_render(script.read_text(), paths))
            _set_info(conn, "schema_version", udfs.catalog.SCHEMA_VERSION)
            _set_info(conn, "installed_version", version)
            _set_info(conn, "python_path", json.dumps(paths))
            # Models trained before an upgrade get functions with the new prelude.
            for (name,) in conn.execute("SELECT name FROM sqlml.model_registry").fetchall():
                conn.execute("SELECT sqlml._install_model_functions(%s)", [name])
    report(f"sqlml {version} is installed")
    return version


def contents(dsn: str) -> tuple[int, int] | None:
    """How many models and feature tables an uninstall would drop (None: not installed)."""
    with open_connection(dsn) as conn:
        if installed_version(conn) is None:
            return None
        tables = conn.execute("SELECT count(*) FROM sqlml.feature_tables").fetchone()
        models = conn.execute(
            "SELECT count(*) FROM sqlml.model_registry r JOIN sqlml.model_versions v "
            "ON v.name = r.name AND v.version = r.current_version "
            "WHERE NOT (v.metadata::jsonb ? 'trial_of')"  # a kept trial goes with its model
        ).fetchone()
        return (models[0] if models else 0), (tables[0] if tables else 0)


def _models(conn: psycopg.Connection) -> list[str]:
    """The models, a search's kept trials (m.trial_N) before the model they go with."""
    names = conn.execute("SELECT name FROM sqlml.model_registry").fetchall()
    return sorted((name for (name,) in names), key=len, reverse=True)


def uninstall(dsn: str, report: Report = print) -> None:
    """Remove schema sqlml, every model and the models' FUNCTIONs."""
    with open_connection(dsn) as conn, conn.transaction():
        if installed_version(conn) is not None:
            for name in _models(conn):
                conn.execute("SELECT sqlml.drop_model(%s)", [name])
        conn.execute("DROP SCHEMA IF EXISTS sqlml CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS sqlml_dblink CASCADE")  # what install added
    report(
        "sqlml is uninstalled (roles sqlml_user and sqlml_admin are kept: other databases "
        "may use them)"
    )


if __name__ == "__main__":  # pragma: no cover - a convenience for `python -m sqlml.install`
    install(sys.argv[1])
