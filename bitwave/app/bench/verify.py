"""``bitwave bench verify``: simulation throughput of a generated 2052-1024-1024-513 binary
network on Verilator (through ``bitwave verify``) and on Amaranth's own simulator (through
``bitwave.hw.testbench``), with the build times, all measured in one run. Icarus is added
when it is installed. Both simulators stream the same frames with no stalls and every output
is compared with the golden model, so a figure is only reported for a correct run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

WIDTHS = (2052, 1024, 1024, 513)
# PE x SIMD lanes 16 x 108, 16 x 64, 27 x 64: about 1200 cycles per frame, a few MB of Verilog
FOLD = "fc0:pe=16,simd=108;fc1:pe=16,simd=64;fc2:pe=27,simd=64"
BEAT_BITS = 32


def _verify_run(
    design: Path, sim: str, vectors: int, cache: Path, fast_build: bool = False
) -> dict:
    import os

    from bitwave.sim.runner import CACHE_ENV
    from bitwave.sim.verify import VerifyOptions, verify

    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)  # a fresh cache: the build is timed, not reused
    try:
        result = verify(
            design,
            VerifyOptions(
                sim=sim, vectors=vectors, seed=0, p_valid=1.0, p_ready=1.0, fast_build=fast_build
            ),
        )
    finally:
        if saved is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = saved
    if not result["passed"]:
        raise RuntimeError(
            f"{sim} verification failed: {result['mismatches']} mismatches, {result['cycles_per_frame']}"
        )
    return {
        "simulator": result["simulator_version"],
        "build_seconds": result["build"]["seconds"],
        "vectors": result["vectors"],
        "run_seconds": result["wall_seconds"],
        "vectors_per_second": result["vectors_per_second"],
        "cycles_per_second": round(result["cycles_simulated"] / result["wall_seconds"], 1),
    }


def _amaranth_run(net: object, fold: str, frames: np.ndarray) -> dict:
    from bitwave.core import golden
    from bitwave.hw.folding import parse_fold_spec
    from bitwave.hw.network import NetworkTop
    from bitwave.hw.testbench import check_against_golden, run_network

    start = time.perf_counter()
    top = NetworkTop(net, parse_fold_spec(fold, net), "const", BEAT_BITS, BEAT_BITS)
    elaborate_s = time.perf_counter() - start
    start = time.perf_counter()
    got, log = run_network(top, frames)
    run_s = time.perf_counter() - start
    check_against_golden(got, golden.run(net, frames), "Amaranth simulation")
    return {
        "simulator": "amaranth.sim (pysim)",
        # Simulator() elaborates inside run_network, so run_seconds includes elaboration;
        # constructing the component is all that happens before it
        "construct_seconds": round(elaborate_s, 3),
        "vectors": len(frames),
        "run_seconds": round(run_s, 3),
        "vectors_per_second": round(len(frames) / run_s, 3),
        "cycles_per_second": round(log.outputs[-1] / run_s, 1),
    }


def _neuron_runs(inputs: int, vectors: int, root: Path) -> dict:
    """One XNOR-popcount neuron (the block-level reference point): one vector per cycle."""
    import os
    import shutil

    from bitwave.core.random_ir import random_network
    from bitwave.hw.blocks import write_neuron
    from bitwave.sim.blocks import verify_neuron
    from bitwave.sim.runner import CACHE_ENV

    design = write_neuron(
        random_network([inputs, 1], seed=0, name="bench").layers[0], root / "neuron"
    )
    os.environ[CACHE_ENV] = str(root / "neuron_cache")
    runs = {}
    try:
        for sim in ("verilator", "icarus"):
            if sim == "icarus" and not shutil.which("iverilog"):
                runs[sim] = "skipped: iverilog not installed"
                continue
            count = vectors if sim == "verilator" else max(1, vectors // 10)
            result = verify_neuron(design, sim=sim, random_vectors=count)
            if not result["passed"]:
                raise RuntimeError(f"{sim} neuron verification failed: {result['first_mismatch']}")
            runs[sim] = {
                "build_seconds": result["build_seconds"],
                "vectors": result["frames"],
                "run_seconds": result["wall_seconds"],
                "vectors_per_second": result["vectors_per_second"],
                "testbench_loop_vectors_per_second": round(
                    result["frames"] / result["sim_seconds"], 1
                ),
            }
    finally:
        os.environ.pop(CACHE_ENV, None)
    return runs


def run(
    verilator_vectors: int = 40,
    amaranth_vectors: int = 2,
    icarus_vectors: int = 3,
    neuron_vectors: int = 10_000,
    seed: int = 0,
) -> dict:
    import shutil

    from bitwave.core import ir
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate
    from bitwave.sim.verify import random_inputs

    net = random_network(list(WIDTHS), seed=seed, name="bench")
    with tempfile.TemporaryDirectory(prefix="bitwave-bench-verify-") as tmp:
        root = Path(tmp)
        ir.save(net, root / "bench.bwir")
        start = time.perf_counter()
        generated = generate(
            root / "bench.bwir", root / "design", fold_spec=FOLD, beat_bits=BEAT_BITS
        )
        generate_s = time.perf_counter() - start
        results = {
            "network": "-".join(map(str, WIDTHS)),
            "fold": FOLD,
            "cycles_per_frame": generated.manifest["cycles_per_frame"],
            "verilog_bytes": generated.manifest["rtl"]["verilog_bytes"]
            if "rtl" in generated.manifest
            else None,
            "generate_seconds": round(generate_s, 2),
            "verilator": _verify_run(
                root / "design", "verilator", verilator_vectors, root / "cache"
            ),
            # -O0 C++: the build time a user of --fast-build sees, and what it costs at run time
            "verilator_fast_build": _verify_run(
                root / "design", "verilator", verilator_vectors, root / "cache", fast_build=True
            ),
        }
        if shutil.which("iverilog"):
            results["icarus"] = _verify_run(
                root / "design", "icarus", icarus_vectors, root / "cache"
            )
        else:
            results["icarus"] = "skipped: iverilog not installed"
        results["neuron_1024"] = _neuron_runs(1024, neuron_vectors, root)
        frames = random_inputs(net, amaranth_vectors, seed)
        results["amaranth"] = _amaranth_run(net, FOLD, frames)
    results["verilator_over_amaranth"] = round(
        results["verilator"]["vectors_per_second"] / results["amaranth"]["vectors_per_second"], 1
    )
    return results
