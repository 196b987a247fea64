"""Weight words for designs generated with ``--weights memory``, computed from the IR by the
layout the manifest documents (each region's fields build a ``WeightLayout``, the op
schedule's memory layout, independently of the hw components), so that loading them through
the write port checks the write path and the documented layout at the same time.

Manifest ``weight_memory``: ports {en, addr, data}; regions [{layer, base, depth, word_bits,
pe, simd, weight_bits, steps_per_word, step_bits}]. Fold step ``t = nf*SF + sf`` lives in
region word ``t // steps_per_word`` at bits ``[(t % steps_per_word)*step_bits, +step_bits)``;
within a step, lane (p, s) = weight of neuron ``nf*PE + p``, input ``sf*SIMD + s`` at bits
``[(p*SIMD + s)*b, +b)``: 1-bit weights 1 = +1, 0 = -1; wider weights two's complement; lanes
past the layer's width are ignored. Without steps_per_word/step_bits a word holds one step.
A binary_gru region holds the op's store columns instead of "inputs": per unit, the input and
then the state weights of gates z, r, n, each padded to whole SIMD folds
(``bitwave.core.ops.binary_gru.weight_codes``). A multi-exit network's early-exit heads have
regions of their own, named by the head (after the chain's regions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import binary_gru
from bitwave.core.ops.base import WeightLayout, fold_counts, lane_codes

REGION_KEYS = (
    "layer",
    "base",
    "depth",
    "word_bits",
    "pe",
    "simd",
    "weight_bits",
)  # + optional steps_per_word, step_bits


@dataclass(frozen=True)
class WeightWrites:
    en: str
    addr: str
    data: str
    writes: list[tuple[int, int]]  # (address, word)
    masks: list[int]  # bits of each word that hold real (not padding) lanes


def store_codes(layer: ir.Layer, simd: int, bits: int) -> np.ndarray:
    """The (rows, columns) lane codes a layer's weight store holds: a dense layer's weights,
    or a GRU's store columns at this SIMD."""
    if isinstance(layer, ir.BinaryGRU):
        return binary_gru.weight_codes(layer, simd)
    return lane_codes(layer.weight_values(), bits, layer.name)


def region_words(layer: ir.Layer, region: dict) -> tuple[list[int], list[int]]:
    """(words, masks) of one region, in address order."""
    pe, simd, bits = region["pe"], region["simd"], region["weight_bits"]
    codes = store_codes(layer, simd, bits)
    rows, cols = codes.shape
    per_word = region.get("steps_per_word", 1)
    step_bits = region.get("step_bits", pe * simd * bits)
    if step_bits < pe * simd * bits or per_word * step_bits > region["word_bits"]:
        raise BitwaveError(
            f"weight_memory region {region['layer']}: {per_word} steps of {step_bits} bits do not fit "
            f"{region['word_bits']}-bit words, or a step is narrower than pe*simd*weight_bits = {pe * simd * bits}"
        )
    nf, sf = fold_counts(rows, cols, pe, simd)
    layout = WeightLayout(pe, simd, nf, sf, bits, per_word, step_bits, region["word_bits"])
    if layout.depth != region["depth"]:
        raise BitwaveError(
            f"weight_memory region {region['layer']}: depth {region['depth']} but pe={pe}, simd={simd} "
            f"on a {layer.in_width}->{layer.out_width} layer with {per_word} steps per word needs {layout.depth} words"
        )
    return layout.words(codes), layout.masks(rows, cols)


def weight_writes(spec: dict, net: ir.Network) -> WeightWrites:
    """Every (address, word) to write so that the design holds ``net``'s weights."""
    try:
        ports = spec["ports"]
        en, addr, data = ports["en"], ports["addr"], ports["data"]
        regions = spec["regions"]
    except (KeyError, TypeError) as error:
        raise BitwaveError(
            f"manifest weight_memory lacks {error}: need ports {{en, addr, data}} and regions"
        ) from None
    # a multi-exit network's heads have regions too (after the chain's, named by the head)
    layers = {layer.name: layer for layer in [*net.layers, *(e.head for e in net.exits)]}
    writes, masks = [], []
    for region in regions:
        missing = [key for key in REGION_KEYS if key not in region]
        if missing:
            raise BitwaveError(
                f"manifest weight_memory region {region!r} lacks {', '.join(missing)}"
            )
        if region["layer"] not in layers:
            raise BitwaveError(
                f"manifest weight_memory names layer {region['layer']!r}, not in the IR"
            )
        words, word_masks = region_words(layers[region["layer"]], region)
        writes += [(region["base"] + i, word) for i, word in enumerate(words)]
        masks += word_masks
    return WeightWrites(en, addr, data, writes, masks)


def check_init_file(path: Path, loads: WeightWrites) -> str | None:
    """Compare the generator's initial weight words with ours; a message if they differ."""
    lines = [line.strip() for line in path.read_text().split() if line.strip()]
    if len(lines) < len(loads.writes):
        return f"{path} holds {len(lines)} words, the layout needs {len(loads.writes)}"
    for (address, word), mask in zip(loads.writes, loads.masks, strict=True):
        theirs = int(lines[address], 16)
        if (theirs ^ word) & mask:
            return f"{path} word {address} is {theirs:x}, the documented layout gives {word:x} (mask {mask:x})"
    return None
