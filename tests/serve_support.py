"""Starting ``sqlml serve`` on a free port for tests, and connecting to it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psycopg


@dataclass
class Served:
    port: int
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=shop user=tester"

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)  # type: ignore[arg-type]


def start_server(database: Path, *extra: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "sqlml", "serve", str(database), "--port", "0", *extra],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line)
        found = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if found:
            served = Served(int(found.group(1)), process, log)
            break
    else:
        raise RuntimeError("sqlml serve did not start:\n" + "".join(log))

    def keep_reading() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return served
