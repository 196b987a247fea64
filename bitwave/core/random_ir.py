"""Random but plausible IR networks, so hardware can be generated and tested without training.

Thresholds are placed at quantiles of each neuron's accumulator over random probe inputs, so
every neuron actually switches (a random network whose outputs are constant would make a
weak test vector)."""

from __future__ import annotations

import numpy as np

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import (
    BIPOLAR,
    MAX_BITS,
    BinaryDense,
    Dense,
    IntDense,
    Network,
    ValueType,
    pack_bits,
    uint,
    validate,
    weight_range,
)
from bitwave.core.paths import sanitize_identifier

PROBE_FRAMES = 256


def random_codes(
    value_type: ValueType, frames: int, width: int, rng: np.random.Generator
) -> np.ndarray:
    """Uniformly random input codes of a value type."""
    return rng.integers(0, value_type.levels, size=(frames, width), dtype=np.int64)


def _per_layer(value: int | list[int], layers: int, what: str) -> list[int]:
    values = [value] * layers if isinstance(value, int) else list(value)
    if len(values) != layers:
        raise BitwaveError(f"{what}: give one value or one per layer ({layers}), got {len(values)}")
    return values


def random_layer(
    name: str,
    in_width: int,
    out_width: int,
    in_type: ValueType,
    wbits: int,
    abits: int,
    rng: np.random.Generator,
    flip_fraction: float = 0.1,
) -> Dense:
    out_type = BIPOLAR if abits == 1 else uint(abits)
    levels = out_type.levels - 1
    placeholder = np.zeros((out_width, levels), np.int64)
    direction = np.where(rng.random(out_width) < flip_fraction, -1, 1).astype(np.int8)
    common = dict(name=name, in_width=in_width, out_width=out_width, thresholds=placeholder,
                  direction=direction, in_type=in_type, out_type=out_type)  # fmt: skip
    if wbits == 1 and in_type == BIPOLAR:
        bits = rng.integers(0, 2, size=(out_width, in_width), dtype=np.uint8)
        layer: Dense = BinaryDense(**common, weights=pack_bits(bits))
    else:
        low, high = weight_range(wbits)
        if wbits == 1:
            weights = rng.choice(np.array([-1, 1], np.int8), size=(out_width, in_width))
        else:
            weights = rng.integers(low, high + 1, size=(out_width, in_width)).astype(
                np.int8 if wbits <= 8 else np.int16
            )
        layer = IntDense(**common, weights=weights, wbits=wbits)
    acc = ops.op_of(layer).accumulate(layer, random_codes(in_type, PROBE_FRAMES, in_width, rng))
    # quantiles of each neuron's accumulator, jittered so thresholds are not all identical
    q = np.sort(rng.uniform(0.15, 0.85, size=(out_width, levels)), axis=1)
    thresholds = np.stack(
        [np.quantile(acc[:, m], q[m], method="nearest") for m in range(out_width)]
    )
    layer.thresholds = thresholds.astype(np.int64).reshape(out_width, levels)
    return layer


def random_network(
    widths: list[int],
    wbits: int | list[int] = 1,
    abits: int | list[int] = 1,
    in_bits: int = 1,
    seed: int = 0,
    name: str = "random",
) -> Network:
    """A random network with ``widths`` = [input, ..., output]; ``in_bits`` = 1 means bipolar input."""
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise BitwaveError(
            f"layers: need at least two positive widths (input, output), got {widths}"
        )
    layers = len(widths) - 1
    wbits = _per_layer(wbits, layers, "wbits")
    abits = _per_layer(abits, layers, "abits")
    for what, values, top in (("wbits", wbits, 8), ("abits", abits, 8)):
        if any(not 1 <= v <= top for v in values):
            raise BitwaveError(f"{what}: each value must be 1..{top}, got {values}")
    if not 1 <= in_bits <= MAX_BITS:
        raise BitwaveError(f"in-bits must be 1..{MAX_BITS}, got {in_bits}")
    rng = np.random.default_rng(seed)
    value_type = BIPOLAR if in_bits == 1 else uint(in_bits)
    net_layers = []
    for i in range(layers):
        layer = random_layer(
            f"fc{i}", widths[i], widths[i + 1], value_type, wbits[i], abits[i], rng
        )
        net_layers.append(layer)
        value_type = layer.out_type
    net = Network(
        name=sanitize_identifier(name),
        input_width=widths[0],
        input_type=BIPOLAR if in_bits == 1 else uint(in_bits),
        layers=net_layers,
        provenance={
            "source": "random-ir",
            "seed": seed,
            "widths": list(widths),
            "wbits": wbits,
            "abits": abits,
            "in_bits": in_bits,
        },  # fmt: skip
    )
    validate(net)
    return net
