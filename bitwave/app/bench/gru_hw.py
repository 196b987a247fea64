"""``bitwave bench gru-hw``: a random bitwise GRU network through the hardware chain, measured
in one run: generated (cycles per frame, latency), synthesized with random utterances as its
stimulus (maximum clock, area by block, energy per frame, power at the real-time rate of 62.5
frames/s), priced by the cost model (its estimate against that synthesis), and the Verilator
throughput of a 512-unit GRU network (``bitwave verify``: whole sequences, every output frame
checked against the golden model).

Sizes: the synthesized network is 256, gru:128, 64 by default (about 3 minutes of Yosys and
gate-level simulation on a shared 2-core machine); set ``BITWAVE_BENCH_GRU_HW_LAYERS`` and
``BITWAVE_BENCH_GRU_HW_FOLD`` for another, e.g. ``2052,gru:256,513`` with
``gru0:pe=32,simd=108,pad;fc1:pe=27,simd=64`` for the SE size (Yosys then takes tens of
minutes: its 3 Mbit of weights become logic). The Verilator model of the 512-unit network is
built with ``--fast-build`` (-O0 C++, about a minute; ``BITWAVE_BENCH_GRU_HW_OPTIMIZED=1``
builds it optimized: some 12 minutes for its 3.5 MB of Verilog, about 3x the frames per
second); ``BITWAVE_BENCH_GRU_HW_VECTORS`` sets its frames (0 leaves the run out).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

LAYERS_ENV, FOLD_ENV = "BITWAVE_BENCH_GRU_HW_LAYERS", "BITWAVE_BENCH_GRU_HW_FOLD"
VECTORS_ENV = "BITWAVE_BENCH_GRU_HW_VECTORS"
OPTIMIZED_ENV = "BITWAVE_BENCH_GRU_HW_OPTIMIZED"
SYNTH_LAYERS = "256,gru:128,64"
SYNTH_FOLD = "gru0:pe=16,simd=64;fc1:pe=16,simd=128"
VERILATOR_LAYERS = "2052,gru:512,513"
VERILATOR_FOLD = "gru0:pe=32,simd=108,pad;fc1:pe=27,simd=64"
VERILATOR_VECTORS = 32
FRAMES_PER_LANE = 4


def _layers(text: str) -> list[int | str]:
    return [int(item) if item.strip().isdigit() else item.strip() for item in text.split(",")]


def _design(root: Path, layers: str, fold: str) -> Path:
    """A random network of ``layers`` generated at ``fold`` into root/design."""
    from bitwave.core import ir
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate

    root.mkdir(parents=True, exist_ok=True)
    ir.save(random_network(_layers(layers), seed=0, name="bench_gru"), root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=fold, beat_bits=32)
    return root / "design"


def _synthesized(design: Path) -> dict:
    """Synthesis of the design on random utterances, with the power at the real-time rate."""
    import json

    from bitwave.core import contract
    from bitwave.core.ops.base import REAL_TIME_FPS
    from bitwave.synth.flows.design import synthesize_design

    summary = synthesize_design(design, frames_per_lane=FRAMES_PER_LANE)
    manifest = contract.load(design)
    area = json.loads((design / "synth" / "area.json").read_text())
    power = json.loads((design / "synth" / "power.json").read_text())
    frame_s = manifest.cycles_per_frame / (manifest.clock.mhz * 1e6)
    # at the real-time rate the design idles between frames: leakage all the time, the
    # switching of one frame per frame
    switching_j = summary["energy_per_frame_j"] - power["leakage_w"] * frame_s
    return {
        "clock_mhz": manifest.clock.mhz,
        "max_clock_mhz": summary["max_clock_mhz"],
        "area_um2": summary["total_area_um2"],
        "area_by_layer_um2": area["layers"],
        "energy_per_frame_j": summary["energy_per_frame_j"],
        "power_at_clock_w": summary["total_w"],
        "leakage_w": power["leakage_w"],
        "power_at_real_time_w": power["leakage_w"] + switching_j * REAL_TIME_FPS,
        "real_time_fps": REAL_TIME_FPS,
        "golden_check": power["golden_check"],
        "yosys_seconds": round(summary["yosys_seconds"], 1),
        "flow_seconds": round(summary["seconds"], 1),
    }


def _cost(design: Path, synthesized: dict) -> dict:
    """The cost model's estimate of the same design, and its ratio to synthesis."""
    from bitwave.core.ops.base import REAL_TIME_FPS
    from bitwave.cost.engines import estimate_design

    estimate = estimate_design(design, frames_per_second=REAL_TIME_FPS)
    return {
        "area_um2": estimate.area_um2,
        "energy_per_frame_j": estimate.energy_per_frame_j,
        "power_at_real_time_w": estimate.power_at_rate_w,
        "area_ratio_cost_over_synth": estimate.area_um2 / synthesized["area_um2"],
        "energy_ratio_cost_over_synth": (
            estimate.energy_per_frame_j / synthesized["energy_per_frame_j"]
        ),
    }


def _verilator(root: Path, vectors: int, optimized: bool) -> dict:
    """``bitwave verify`` of a 512-unit GRU network on Verilator: frames per second (random
    utterances, no stalls, every frame checked)."""
    from bitwave.app.bench.verify import _verify_run
    from bitwave.core import contract

    design = _design(root, VERILATOR_LAYERS, VERILATOR_FOLD)
    result = _verify_run(design, "verilator", vectors, root / "cache", fast_build=not optimized)
    return {"network": VERILATOR_LAYERS, "fold": VERILATOR_FOLD, "fast_build": not optimized,
            "cycles_per_frame": contract.load(design).cycles_per_frame, **result}  # fmt: skip


def run(layers: str | None = None, fold: str | None = None, vectors: int | None = None) -> dict:
    from bitwave.core import contract

    layers = layers or os.environ.get(LAYERS_ENV, SYNTH_LAYERS)
    fold = fold or os.environ.get(FOLD_ENV, SYNTH_FOLD)
    vectors = int(os.environ.get(VECTORS_ENV, VERILATOR_VECTORS)) if vectors is None else vectors
    with tempfile.TemporaryDirectory(prefix="bitwave_bench_gru_hw_") as tmp:
        root = Path(tmp)
        design = _design(root / "synth", layers, fold)
        manifest = contract.load(design)
        synthesized = _synthesized(design)
        result = {
            "network": layers, "fold": fold,
            "cycles_per_frame": manifest.cycles_per_frame,
            "latency_cycles": manifest.latency_cycles,
            "synth": synthesized, "cost": _cost(design, synthesized),
        }  # fmt: skip
        if vectors:
            optimized = os.environ.get(OPTIMIZED_ENV) == "1"
            result["verilator_512_units"] = _verilator(root / "verilator", vectors, optimized)
    return result
