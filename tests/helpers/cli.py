"""Running ``main.py`` as a subprocess the way the end-to-end tests need it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    data_dir: Path, *args: str, stdin: str | None = None, insecure_file: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python main.py --data-dir DIR ARGS`` with a clean PARLEY_* environment and no system keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update({"PYTHONUTF8": "1", "NO_PROXY": "*"})
    if insecure_file:
        env["PARLEY_INSECURE_FILE_SECRETS"] = "1"
    # A keyring on the test machine must not be touched: the labelled file is what we check.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def json_lines(out: str) -> list[dict[str, object]]:
    """The JSON objects of a ``--json`` output, one a line."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]
