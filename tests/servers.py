"""Which PostgreSQL server the tests use: SQLML_TEST_DSN, else libpq's PG* variables, else
the local server as user postgres."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SERVER_DSN = os.environ.get("SQLML_TEST_DSN") or (
    f"postgresql://{os.environ.get('PGUSER', 'postgres')}@{os.environ.get('PGHOST', '127.0.0.1')}"
    f":{os.environ.get('PGPORT', '5432')}/{os.environ.get('PGDATABASE', 'postgres')}"
)


def dsn_for(database: str) -> str:
    """SERVER_DSN (a postgresql:// URL) with another database."""
    return urlsplit(SERVER_DSN)._replace(path=f"/{database}").geturl()
