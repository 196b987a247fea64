"""Weight words for designs generated with ``--weights memory``, computed from the IR by the
layout the manifest documents (not by hw/'s code), so that loading them through the write
port checks the write path and the documented layout at the same time.

Manifest ``weight_memory``: ports {en, addr, data}; regions [{layer, base, depth, word_bits,
pe, simd, weight_bits, steps_per_word, step_bits}]. Fold step ``t = nf*SF + sf`` lives in
region word ``t // steps_per_word`` at bits ``[(t % steps_per_word)*step_bits, +step_bits)``;
within a step, lane (p, s) = weight of neuron ``nf*PE + p``, input ``sf*SIMD + s`` at bits
``[(p*SIMD + s)*b, +b)``: 1-bit weights 1 = +1, 0 = -1; wider weights two's complement; lanes
past the layer's width are ignored. Without steps_per_word/step_bits a word holds one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core import ir
from bitwave.core.errors import BitwaveError

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


def _lane_codes(layer: ir.Dense, bits: int) -> np.ndarray:
    """(out_width, in_width) unsigned lane codes of ``bits`` bits."""
    values = layer.weight_values()
    if bits == 1:
        if np.any(np.abs(values) != 1):
            raise BitwaveError(f"layer {layer.name}: 1-bit weight lanes need weights in {{-1, +1}}")
        return (values > 0).astype(np.int64)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if values.min() < low or values.max() > high:
        raise BitwaveError(f"layer {layer.name}: weights do not fit {bits}-bit lanes")
    return values & ((1 << bits) - 1)


def _step_words(layer: ir.Dense, pe: int, simd: int, bits: int) -> tuple[list[int], list[int]]:
    """One (word, mask) per fold step t = nf*SF + sf."""
    sf = -(-layer.in_width // simd)
    nf = -(-layer.out_width // pe)
    codes = _lane_codes(layer, bits)
    lane_mask = (1 << bits) - 1
    words, masks = [], []
    for n in range(nf):
        for s in range(sf):
            word = mask = 0
            for p in range(pe):
                neuron = n * pe + p
                if neuron >= layer.out_width:
                    continue
                for q in range(simd):
                    synapse = s * simd + q
                    if synapse >= layer.in_width:
                        continue
                    shift = (p * simd + q) * bits
                    word |= int(codes[neuron, synapse]) << shift
                    mask |= lane_mask << shift
            words.append(word)
            masks.append(mask)
    return words, masks


def region_words(layer: ir.Dense, region: dict) -> tuple[list[int], list[int]]:
    """(words, masks) of one region, in address order."""
    pe, simd, bits = region["pe"], region["simd"], region["weight_bits"]
    steps, step_masks = _step_words(layer, pe, simd, bits)
    per_word = region.get("steps_per_word", 1)
    step_bits = region.get("step_bits", pe * simd * bits)
    if step_bits < pe * simd * bits or per_word * step_bits > region["word_bits"]:
        raise BitwaveError(
            f"weight_memory region {region['layer']}: {per_word} steps of {step_bits} bits do not fit "
            f"{region['word_bits']}-bit words, or a step is narrower than pe*simd*weight_bits = {pe * simd * bits}"
        )
    depth = -(-len(steps) // per_word)
    if depth != region["depth"]:
        raise BitwaveError(
            f"weight_memory region {region['layer']}: depth {region['depth']} but pe={pe}, simd={simd} "
            f"on a {layer.in_width}->{layer.out_width} layer with {per_word} steps per word needs {depth} words"
        )
    words, masks = [0] * depth, [0] * depth
    for t, (word, mask) in enumerate(zip(steps, step_masks, strict=True)):
        shift = (t % per_word) * step_bits
        words[t // per_word] |= word << shift
        masks[t // per_word] |= mask << shift
    return words, masks


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
    layers = {layer.name: layer for layer in net.layers}
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
