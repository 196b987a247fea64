"""Single generated blocks under their own testbenches: an XNOR-popcount neuron, a binary MVTU
and a k-bit MVU, each a folder that hw writes from one IR layer (``bitwave.hw.blocks``; the
tests and ``bitwave bench verify`` build it, sim only reads the folder).

A layer block is a design folder that follows the generated-design contract with whole
frames per beat (``i``/``o`` streams), so the network testbench's stream driver
(``tb_network``, with its no-stall and random-stall phases) runs it, fed with directed vectors
(``bitwave.sim.vectors``: threshold edges for the MVTU; accumulator extremes and threshold
edges for the k-bit MVU) before random ones. The neuron has no handshake (a registered output
one cycle after its input), described by DIR/neuron.json, and its own cocotb testbench,
``tb_neuron``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bitwave.core import golden, ir
from bitwave.sim import runner
from bitwave.sim.vectors import block_frames
from bitwave.sim.verify import VerifyOptions, save_stimulus, verify


def verify_layer_block(
    design: str | Path,
    sim: str = "verilator",
    random_vectors: int = 32,
    seed: int = 0,
    reference: Path | None = None,
) -> dict:
    """Run a layer block under its component testbench (directed + random frames), against
    its own IR or ``reference``."""
    net = ir.load(Path(design) / "model.bwir")
    kind = "mvtu" if isinstance(net.layers[0], ir.BinaryDense) else "mvu"
    options = VerifyOptions(
        sim=sim,
        vectors=max(3, random_vectors),
        seed=seed,
        ir=reference,
        stimulus=kind,
    )
    return verify(design, options)


def verify_neuron(
    design: str | Path,
    sim: str = "verilator",
    random_vectors: int = 1000,
    seed: int = 0,
    reference: Path | None = None,
    fast_build: bool = False,
) -> dict:
    """Drive one input vector per cycle into a neuron block and check every output against
    its own IR or ``reference``."""
    design = Path(design)
    spec = json.loads((design / "neuron.json").read_text())
    net = ir.load(reference or design / "model.bwir")
    inputs = block_frames(net.layers[0], random_vectors, seed, "neuron")
    expected = golden.run(net, inputs).astype(np.int64)
    work = (design / "verify" / f"{sim}-neuron").resolve()
    work.mkdir(parents=True, exist_ok=True)
    files = save_stimulus(work, inputs, expected)
    built = runner.build(
        sim,
        [design / "rtl" / f"{spec['top']}.v"],
        spec["top"],
        runner.build_root(design / "verify" / "build"),
        fast_build=fast_build,
    )
    params = {**spec, **files}
    start = time.perf_counter()
    tb = runner.run_test(built, "bitwave.sim.tb_neuron", params, work)
    seconds = time.perf_counter() - start
    return {
        **tb,
        "simulator": runner.simulator_version(sim),
        "build_seconds": round(built.seconds, 3),
        "build_cached": built.cached,
        "wall_seconds": round(seconds, 3),
        "vectors_per_second": round(len(inputs) / seconds, 1),
        "passed": tb["mismatches"] == 0,
    }
