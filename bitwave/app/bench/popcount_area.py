"""``bitwave bench popcount-area``: a 1024-input constant-weight XNOR-popcount neuron mapped to
NanGate45 by the full-adder-aware flow of bitwave.synth, against the full-adder lower bound.

bound = (N - ceil(log2(N + 1))) FA_X1 + the design's output flip-flops (DFF area each): a
popcount of N bits into ceil(log2(N+1)) output bits needs at least that many 3:2 compressors.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError

N_INPUTS = 1024


def _cells(stat_text: str, known: dict) -> dict[str, int]:
    """Cell name -> count from a ``stat -liberty`` report (lines "COUNT AREA NAME")."""
    cells = {}
    for count, name in re.findall(
        r"^\s+(\d+)\s+\S+\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", stat_text, re.M
    ):
        if name in known:
            cells[name] = int(count)
    return cells


def run(n: int = N_INPUTS, liberty: str | None = None, seed: int = 0) -> dict:
    from amaranth.back import verilog

    from bitwave.hw.xnor_neuron import XnorNeuron
    from bitwave.synth.eda.derive_liberty import default_full_library
    from bitwave.synth.flows.asic import map_to_cells, stat_total_area

    lib_path = Path(liberty) if liberty else default_full_library()
    if not lib_path.is_file():
        raise BitwaveError(
            f"popcount-area needs the NanGate45 liberty at {lib_path} (../shared/pdk)"
        )
    start = time.perf_counter()
    weights = np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)
    neuron = XnorNeuron(weights)
    with tempfile.TemporaryDirectory(prefix="bitwave_popcount_") as tmp:
        source = Path(tmp) / "neuron.v"
        source.write_text(verilog.convert(neuron, name="neuron", emit_src=False))
        mapped = map_to_cells(
            [source], "neuron", lib_path, workdir=Path(tmp) / "synth", flatten=True
        )
        stat = mapped.stat_report.read_text()
        area = stat_total_area(stat)
        library = mapped.liberty
        cells = _cells(stat, library.cells)
    fa = library.cell("FA_X1").area_um2
    flops = {
        name: count
        for name, count in cells.items()
        if library.cells.get(name) and library.cells[name].sequential
    }
    flop_area = sum(library.cell(name).area_um2 * count for name, count in flops.items())
    full_adders = n - math.ceil(math.log2(n + 1))
    bound = full_adders * fa + flop_area
    return {
        "inputs": n,
        "area_um2": round(area, 3),
        "bound_um2": round(bound, 3),
        "ratio": round(area / bound, 4),
        "bound_full_adders": full_adders,
        "cells": cells,
        "tree": {
            "full_adders": neuron.stats.full_adders,
            "half_adders": neuron.stats.half_adders,
            "constant_adders": neuron.stats.constant_adders,
            "inverters": neuron.stats.inverters,
            "depth": neuron.stats.depth,
        },
        "yosys_seconds": round(mapped.yosys_seconds, 2),
        "seconds": round(time.perf_counter() - start, 2),
    }
