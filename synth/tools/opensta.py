"""Cross-check with OpenSTA (Debian ``opensta``, the ``sta`` command) when it is installed:
``report_checks`` for the critical path and ``report_power`` at one global activity.

OpenSTA 2.0.17 (Debian) has no VCD/SAIF reader, so the comparison is at the same *average*
activity: bitwave's estimator is re-run with every net at that activity. The two models differ
by design (OpenSTA charges internal energy on every input-to-output arc of a toggling input;
bitwave charges it per output transition), so the report states the difference, it does not
expect equality.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bitwave.core.errors import BitwaveError


@dataclass
class StaResult:
    total_power_w: float
    internal_w: float
    switching_w: float
    leakage_w: float
    arrival_ns: float
    setup_ns: float
    log: Path


def sta_available() -> bool:
    return shutil.which("sta") is not None


def run_opensta(
    liberty: Path,
    netlist: Path,
    top: str,
    period_ns: float,
    activity: float,
    workdir: Path,
    clock_port: str = "clk",
) -> StaResult:
    """Run OpenSTA on the flat netlist; paths may be absolute (OpenSTA is a native binary)."""
    sta = shutil.which("sta")
    if sta is None:
        raise BitwaveError("OpenSTA ('sta') is not installed: apt-get install opensta")
    if liberty.suffix == ".gz":
        raise BitwaveError("OpenSTA needs a plain liberty file, not .gz")
    script = workdir / "sta.tcl"
    log = workdir / "sta.log"
    script.write_text(
        "\n".join([
            f"read_liberty {{{liberty.resolve()}}}",
            f"read_verilog {{{netlist.resolve()}}}",
            f"link_design {{{top}}}",
            f"create_clock -name clk -period {period_ns:.6f} [get_ports {{{clock_port}}}]",
            f"set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {{{clock_port}}}]]",
            "set_output_delay 0 -clock clk [all_outputs]",
            f"set_power_activity -global -activity {activity:.6f} -duty 0.5",
            "report_power -digits 6",
            "report_checks -digits 6",
            "",
        ])
    )  # fmt: skip
    result = subprocess.run(
        [sta, "-no_splash", "-exit", str(script)], capture_output=True, text=True, timeout=600
    )
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0 or "Total" not in result.stdout:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise BitwaveError(f"OpenSTA failed (exit {result.returncode}); log {log}:\n{tail}")
    total = re.search(
        r"^Total\s+([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.e+]+)\s+([-\d.e+]+)", result.stdout, re.M
    )
    arrival = re.search(r"([-\d.]+)\s+data arrival time", result.stdout)
    setup = re.search(r"([-\d.]+)\s+[-\d.]+\s+library setup time", result.stdout)
    if not total or not arrival:
        raise BitwaveError(f"cannot read OpenSTA's report_power / report_checks output; log {log}")
    internal, switching, leakage, total_w = (float(total.group(i)) for i in range(1, 5))
    return StaResult(
        total_power_w=total_w,
        internal_w=internal,
        switching_w=switching,
        leakage_w=leakage,
        arrival_ns=float(arrival.group(1)),
        setup_ns=-float(setup.group(1)) if setup else 0.0,
        log=log,
    )
