"""`dcmms dev` in a subprocess, as tests/browser/conftest.py starts it, for scripts that are not pytest (benches).

Its own state file and a free port, the stack's own settings only (no ``DCMMS_*`` from this process's environment),
up when the state file appears, stopped with Ctrl-C's SIGINT (the stack stops every server it started).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dcmms_dev.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """`dcmms dev` exited, or was not up in time; the message ends with the tail of its log."""


def log_tail(log: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no output)"


@contextlib.contextmanager
def dev_stack(workdir: Path, timeout_s: float = 120.0) -> Iterator[dict[str, Any]]:
    """Start `dcmms dev` with ``workdir``/local.json as its state file; yield that file's contents (``api_url``,
    ``api_keys[tenant][role]``, ``users[tenant][role]``); stop it on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    state_file, log = workdir / "local.json", workdir / "dcmms-dev.log"
    state_file.unlink(missing_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dcmms_dev.cli", "dev", "--port", str(free_port()), "--state-file", str(state_file)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("DCMMS_")},
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not state_file.exists():
            if proc.poll() is not None:
                raise StackError(f"dcmms dev exited ({proc.returncode}) before it was up:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise StackError(f"dcmms dev was not up within {timeout_s:.0f} s:\n{log_tail(log)}")
            time.sleep(0.2)
        yield json.loads(state_file.read_text())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
