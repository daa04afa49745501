"""One ``sqlml serve`` for the whole session, on a free port, over a DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_support import Served, start_server


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_server(tmp_path_factory.mktemp("served") / "shop.duckdb")
    yield server
    server.process.terminate()
    server.process.wait(timeout=30)
