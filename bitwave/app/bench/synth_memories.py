"""``bitwave bench synth-memories``: one moderately folded design (weight ROMs of a few hundred
words) synthesized with its memories as macros and as cells: area, maximum clock and Yosys
wall time of each, measured in one run."""

from __future__ import annotations

import tempfile
from pathlib import Path

SIZES = (256, 128, 64)
FOLD = "fc0:pe=4,simd=16;fc1:pe=2,simd=16"


def run(sizes: tuple[int, ...] = SIZES, fold: str = FOLD, frames_per_lane: int = 2) -> dict:
    from bitwave.core import ir
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate
    from bitwave.synth.flows.design import synthesize_design

    result: dict = {"network": "-".join(map(str, sizes)), "fold": fold}
    with tempfile.TemporaryDirectory(prefix="bitwave_bench_mem_") as tmp:
        root = Path(tmp)
        ir.save(random_network(list(sizes), seed=0, name="bench"), root / "net.bwir")
        generate(root / "net.bwir", root / "design", fold_spec=fold, weight_storage="const")
        for mode in ("macro", "cells"):
            summary = synthesize_design(
                root / "design", memories=mode, frames_per_lane=frames_per_lane
            )
            result[mode] = {
                key: summary[key]
                for key in (
                    "total_area_um2",
                    "standard_cell_area_um2",
                    "macro_area_um2",
                    "macros",
                    "max_clock_mhz",
                    "total_w",
                    "energy_per_frame_j",
                    "yosys_seconds",
                    "seconds",
                    "golden_mismatched_frames",
                )
            }
    result["area_ratio_cells_over_macro"] = (
        result["cells"]["total_area_um2"] / result["macro"]["total_area_um2"]
    )
    result["yosys_time_ratio_cells_over_macro"] = (
        result["cells"]["yosys_seconds"] / result["macro"]["yosys_seconds"]
    )
    return result
