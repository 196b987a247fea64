"""Single generated blocks as their own design folders, for the component testbenches of
``bitwave.sim.blocks``: a folded layer (MVTU for ``binary_dense``, MVU for ``int_dense``) as a
design folder of the generated-design contract with whole frames per beat (``i``/``o``
streams), and one XNOR-popcount neuron (``XnorNeuron``: no handshake, a registered output one
cycle after its input) described by DIR/neuron.json.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bitwave.core import contract, ir
from bitwave.core.contract import Clock, Folding, Layer, Manifest, Reset, Targets
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, sanitize_identifier, write_text
from bitwave.hw.folding import LayerFold
from bitwave.hw.generate import contract_ports, is_padded, stream_of, write_verilog
from bitwave.hw.mvtu import FoldedLayer
from bitwave.hw.network import build_layer
from bitwave.hw.xnor_neuron import XnorNeuron

BLOCK_CLOCK_MHZ = 100.0


def _block_folder(layer: ir.Dense, out: str | Path, top: str, component: object) -> Path:
    """DIR with the one-layer IR (named ``top``) and the component's Verilog."""
    out = Path(out)
    net = ir.Network(name=top, input_width=layer.in_width, input_type=layer.in_type, layers=[layer])
    out.mkdir(parents=True, exist_ok=True)
    ir.save(net, out / "model.bwir")
    write_verilog(component, out, top)
    return out


def write_layer_block(
    layer: ir.Dense, out: str | Path, pe: int, simd: int, weight_storage: str = "const"
) -> Path:
    """One folded layer (MVTU for binary_dense, MVU for int_dense) as a design folder."""
    block = build_layer(layer, LayerFold(pe, simd, pad=True), weight_storage)
    top = sanitize_identifier(f"block_{layer.name}")
    out = _block_folder(layer, out, top, block)
    manifest = _layer_block_manifest(block, top, ir.load(out / "model.bwir").sha256)
    if weight_storage == "memory":
        weight_memory = _write_block_weights(block, out, top)
        manifest = replace(manifest, weight_memory=weight_memory)
    contract.write(manifest, out)
    return out


def _layer_block_manifest(block: FoldedLayer, top: str, ir_sha256: str) -> Manifest:
    layer = block.layer
    # the contract counts edges from the accepting one to the one after which the output is
    # valid; the block's own figure counts to the cycle o.valid is seen, one more
    latency = block.latency_cycles - 1
    entry = Layer(name=layer.name, module=top, op=layer.op, in_width=layer.in_width,
                  out_width=layer.out_width, pe=block.pe, simd=block.simd,
                  cycles_per_frame=block.initiation_interval,
                  initiation_interval=block.initiation_interval, latency_cycles=latency,
                  weight_storage=block.weight_storage, padded=is_padded(block))  # fmt: skip
    frame_in = layer.in_width * layer.in_type.bits
    frame_out = layer.out_width * layer.out_type.bits
    return Manifest(
        top=top, ir_sha256=ir_sha256, ir_name=top,
        clock=Clock("clk", BLOCK_CLOCK_MHZ), reset=Reset("rst"), ports=contract_ports(block),
        input_stream=stream_of("i", frame_in, layer.in_type, layer.in_width),
        output_stream=stream_of("o", frame_out, layer.out_type, layer.out_width),
        layers=(entry,), cycles_per_frame=block.initiation_interval, latency_cycles=latency,
        targets=Targets(BLOCK_CLOCK_MHZ, None, BLOCK_CLOCK_MHZ * 1e6 / block.initiation_interval),
        folding=Folding("explicit", f"{layer.name}:pe={block.pe},simd={block.simd},pad"),
    )  # fmt: skip


def _write_block_weights(block: FoldedLayer, out: Path, top: str) -> dict:
    """DIR/rtl/<top>_wmem.hex and the manifest's weight_memory of the block's write port."""
    words = block.weight_words()
    digits = -(-block.word_bits // 4)
    write_text(inside(out, "rtl", f"{top}_wmem.hex"), "".join(f"{w:0{digits}x}\n" for w in words))
    region = {
        "layer": block.layer.name, "base": 0, "depth": len(words), "word_bits": block.word_bits,
        "pe": block.pe, "simd": block.simd, "weight_bits": block.weight_bits,
        "steps_per_word": block.steps_per_word, "step_bits": block.step_bits,
    }  # fmt: skip
    return {
        "ports": {"en": "wr__en", "addr": "wr__addr", "data": "wr__data"},
        "init_file": f"rtl/{top}_wmem.hex",
        "regions": [region],
    }


def write_neuron(layer: ir.BinaryDense, out: str | Path) -> Path:
    """A one-neuron binary layer as ``XnorNeuron`` (x -> registered y); writes model.bwir,
    rtl/<top>.v and neuron.json (ports and the one-cycle latency)."""
    if (
        not isinstance(layer, ir.BinaryDense)
        or layer.out_width != 1
        or layer.out_type != ir.BIPOLAR
    ):
        raise BitwaveError("a neuron block needs a binary_dense layer with one bipolar output")
    top = sanitize_identifier(f"neuron_{layer.name}")
    neuron = XnorNeuron(
        layer.weight_bits()[0], int(layer.thresholds[0, 0]), int(layer.direction[0])
    )
    out = _block_folder(layer, out, top, neuron)
    spec = {"top": top, "clock": "clk", "x": "x", "y": "y", "latency": 1}
    write_text(out / "neuron.json", json.dumps(spec) + "\n")
    return out
