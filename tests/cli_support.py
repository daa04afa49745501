"""Running the ``sqlml`` command for real, in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sqlml_cli(
    *args: str, cwd: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    # COLUMNS pins the table width, so the assertions do not depend on the caller's terminal.
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    env.pop("SQLML_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "sqlml.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
