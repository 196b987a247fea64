"""Single generated blocks under their own testbenches: an XNOR-popcount neuron
(``bitwave.hw.xnor_neuron.XnorNeuron``), a binary MVTU and a k-bit MVU (``bitwave.hw.mvtu``,
``bitwave.hw.mvu``), each built from one IR layer by hw/'s own classes.

A layer block is written as a design folder that follows the generated-design contract with
whole frames per beat (``i``/``o`` streams), so the network testbench's stream driver
(``tb_network``, with its no-stall and random-stall phases) runs it, fed with directed vectors
(``bitwave.sim.vectors``: threshold edges for the MVTU; accumulator extremes and threshold
edges for the k-bit MVU) before random ones. The neuron has no handshake (a registered output
one cycle after its input) and its own cocotb testbench, ``tb_neuron``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import sanitize_identifier, write_text
from bitwave.sim import runner


def _single_layer_network(layer: ir.Dense, name: str) -> ir.Network:
    return ir.Network(
        name=name, input_width=layer.in_width, input_type=layer.in_type, layers=[layer]
    )


def write_layer_block(
    layer: ir.Dense, out: str | Path, pe: int, simd: int, weight_storage: str = "const"
) -> Path:
    """One folded layer (MVTU for binary_dense, MVU for int_dense) as a design folder."""
    from amaranth.back import verilog

    from bitwave.hw.folding import LayerFold
    from bitwave.hw.generate import ports_of
    from bitwave.hw.network import build_layer

    out = Path(out)
    block = build_layer(layer, LayerFold(pe, simd, pad=True), weight_storage)
    top = sanitize_identifier(f"block_{layer.name}")
    net = _single_layer_network(layer, top)
    out.mkdir(parents=True, exist_ok=True)
    ir.save(net, out / "model.bwir")
    write_text(out / "rtl" / f"{top}.v", verilog.convert(block, name=top, emit_src=False))
    frame_in, frame_out = layer.in_width * layer.in_type.bits, layer.out_width * layer.out_type.bits

    def stream(prefix: str, bits: int, value_type: ir.ValueType, elements: int) -> dict:
        return {"data": f"{prefix}__payload", "valid": f"{prefix}__valid", "ready": f"{prefix}__ready",
                "bits_per_beat": bits, "beats_per_frame": 1, "element_bits": value_type.bits, "elements": elements}  # fmt: skip

    manifest = {
        "top": top,
        "ir_sha256": net.sha256,
        "ir_name": net.name,
        "clock": {"port": "clk", "mhz": 100.0},
        "reset": {"port": "rst", "synchronous": True, "active": "high"},
        "ports": ports_of(block),
        "input_stream": stream("i", frame_in, layer.in_type, layer.in_width),
        "output_stream": stream("o", frame_out, layer.out_type, layer.out_width),
        "layers": [
            {
                "name": layer.name,
                "module": top,
                "op": layer.op,
                "in_width": layer.in_width,
                "out_width": layer.out_width,
                "pe": pe,
                "simd": simd,
                "cycles_per_frame": block.initiation_interval,
                "latency_cycles": block.latency_cycles - 1,
                "weight_storage": weight_storage,
            }
        ],  # fmt: skip
        "cycles_per_frame": block.initiation_interval,
        # the contract counts edges from the accepting one to the one after which the output
        # is valid; the block's own figure counts to the cycle o.valid is seen, one more
        "latency_cycles": block.latency_cycles - 1,
        "targets": {
            "clock_mhz": 100.0,
            "fps": None,
            "achieved_fps": 100e6 / block.initiation_interval,
        },
        "folding": {"source": "explicit", "spec": f"{layer.name}:pe={pe},simd={simd},pad"},
    }
    if weight_storage == "memory":
        words = block.weight_words()
        digits = -(-block.word_bits // 4)
        write_text(out / "rtl" / f"{top}_wmem.hex", "".join(f"{w:0{digits}x}\n" for w in words))
        manifest["weight_memory"] = {
            "ports": {"en": "wr__en", "addr": "wr__addr", "data": "wr__data"},
            "init_file": f"rtl/{top}_wmem.hex",
            "regions": [
                {
                    "layer": layer.name,
                    "base": 0,
                    "depth": len(words),
                    "word_bits": block.word_bits,
                    "pe": pe,
                    "simd": simd,
                    "weight_bits": block.weight_bits,
                    "steps_per_word": block.steps_per_word,
                    "step_bits": block.step_bits,
                }
            ],  # fmt: skip
        }
    write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return out


def verify_layer_block(
    design: str | Path,
    sim: str = "verilator",
    random_vectors: int = 32,
    seed: int = 0,
    reference: Path | None = None,
) -> dict:
    """Run a layer block under its component testbench (directed + random frames), against
    its own IR or ``reference``."""
    from bitwave.sim.verify import VerifyOptions, verify

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


# ---- the neuron ----------------------------------------------------------------------------
def write_neuron(layer: ir.BinaryDense, out: str | Path) -> Path:
    """A one-neuron binary layer as ``XnorNeuron`` (x -> registered y); writes model.bwir,
    rtl/<top>.v and neuron.json (ports and the one-cycle latency)."""
    from amaranth.back import verilog

    from bitwave.hw.xnor_neuron import XnorNeuron

    if (
        not isinstance(layer, ir.BinaryDense)
        or layer.out_width != 1
        or layer.out_type != ir.BIPOLAR
    ):
        raise BitwaveError("a neuron block needs a binary_dense layer with one bipolar output")
    out = Path(out)
    top = sanitize_identifier(f"neuron_{layer.name}")
    neuron = XnorNeuron(
        layer.weight_bits()[0], int(layer.thresholds[0, 0]), int(layer.direction[0])
    )
    out.mkdir(parents=True, exist_ok=True)
    ir.save(_single_layer_network(layer, top), out / "model.bwir")
    write_text(out / "rtl" / f"{top}.v", verilog.convert(neuron, name=top, emit_src=False))
    write_text(
        out / "neuron.json",
        json.dumps({"top": top, "clock": "clk", "x": "x", "y": "y", "latency": 1}) + "\n",
    )
    return out


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
    from bitwave.sim.vectors import block_frames

    design = Path(design)
    spec = json.loads((design / "neuron.json").read_text())
    net = ir.load(reference or design / "model.bwir")
    inputs = block_frames(net.layers[0], random_vectors, seed, "neuron")
    expected = golden.run(net, inputs).astype(np.int64)
    work = (design / "verify" / f"{sim}-neuron").resolve()
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "inputs.npy", inputs)
    np.save(work / "expected.npy", expected)
    built = runner.build(
        sim,
        [design / "rtl" / f"{spec['top']}.v"],
        spec["top"],
        runner.build_root(design / "verify" / "build"),
        fast_build=fast_build,
    )
    params = {**spec, "inputs_npy": str(work / "inputs.npy"), "expected_npy": str(work / "expected.npy"),
              "outputs_npy": str(work / "outputs.npy"), "results_json": str(work / "tb_results.json")}  # fmt: skip
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
