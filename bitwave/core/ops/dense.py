"""What the two dense ops (``binary_dense``, ``int_dense``) share: the fields around the
weights (widths, value types, thresholds, directions), the multi-threshold activation and the
folded schedule. Each op module adds its weights, its accumulation and its accumulator width.

Activation: count = #{j : acc >= T[m, j]} when direction[m] = +1, #{j : acc <= T[m, j]} when
direction[m] = -1; a bipolar bit when the output type is bipolar (one threshold), a uint<k>
otherwise (2^k - 1 thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bitwave.core.ops.base import (
    CostCounts,
    FieldReader,
    Schedule,
    ValueType,
    check_folding,
    cost_accumulator_bits,
    fold_counts,
    layer_entry,
    weight_layout,
)


@dataclass
class Dense:
    """Fields shared by both dense ops; ``thresholds`` is (out_width, levels - 1) int64 and
    ``direction`` is (out_width,) int8 of +1/-1."""

    name: str
    in_width: int
    out_width: int
    thresholds: np.ndarray
    direction: np.ndarray
    in_type: ValueType
    out_type: ValueType

    op = "dense"


def read_common(
    r: FieldReader, spec: dict, where: str, name: str, width: int, value_type: ValueType
) -> dict[str, Any]:
    """The shared fields of a dense layer, checked against the previous stage's output."""
    in_width = r.positive(spec, "in_width", where)
    out_width = r.positive(spec, "out_width", where)
    in_type = r.value_type(spec, "in_type", where)
    out_type = r.value_type(spec, "out_type", where)
    if in_width != width or in_type != value_type:
        raise r.fail(
            where,
            f"input is {in_width} x {in_type}, but the previous stage gives {width} x {value_type}",
        )
    thresholds = r.array(spec, "thresholds", where, "i", (out_width, out_type.levels - 1))
    direction = r.directions(spec, where, (out_width,))
    return dict(name=name, in_width=in_width, out_width=out_width, thresholds=thresholds.astype(np.int64),
                direction=direction, in_type=in_type, out_type=out_type)  # fmt: skip


def write(layer: Dense, prefix: str, **fields: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """Manifest entry and arrays of a dense layer; ``fields`` are the op's extra entries."""
    entry = layer_entry(
        layer,
        weights=f"{prefix}.weights",
        thresholds=f"{prefix}.thresholds",
        direction=f"{prefix}.direction",
        **fields,
    )
    arrays = {
        f"{prefix}.weights": layer.weights,
        f"{prefix}.thresholds": np.asarray(layer.thresholds, np.int64),
        f"{prefix}.direction": np.asarray(layer.direction, np.int8),
    }
    return entry, arrays


def multi_threshold(acc: np.ndarray, thresholds: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """count[f, m] = #{j : acc >= T[m, j]} (direction +1) or #{j : acc <= T[m, j]} (-1)."""
    up = direction[None, :] > 0
    if thresholds.shape[1] == 1:
        t = thresholds[None, :, 0]
        return np.where(up, acc >= t, acc <= t).astype(np.int64)
    counts = np.empty(acc.shape, np.int64)
    levels = thresholds.shape[1]
    for m in range(acc.shape[1]):
        ordered = np.sort(thresholds[m])
        if direction[m] > 0:
            counts[:, m] = np.searchsorted(ordered, acc[:, m], side="right")
        else:
            counts[:, m] = levels - np.searchsorted(ordered, acc[:, m], side="left")
    return counts


def schedule(
    layer: Dense, pe: int, simd: int, weight_bits: int, accumulator: tuple[int, bool]
) -> Schedule:
    """The folded schedule of a dense layer with ``weight_bits`` per stored weight and an
    accumulator of ``accumulator`` = (bits, signed)."""
    check_folding(layer.name, layer.out_width, layer.in_width, pe, simd)
    nf, sf = fold_counts(layer.out_width, layer.in_width, pe, simd)
    layout = weight_layout(layer.out_width, layer.in_width, pe, simd, weight_bits)
    return Schedule(layer.name, pe, simd, nf, sf, *accumulator, layout)


def cost_counts(layer: Dense) -> CostCounts:
    """In*out weights (``wbits`` bits); the thresholds that replace bias and normalisation are
    stored constants at accumulator width, one comparison each."""
    wbits, abits = int(layer.wbits), int(layer.in_type.bits)
    thresholds = layer.out_width * (2**layer.out_type.bits - 1)
    weights = layer.in_width * layer.out_width
    return CostCounts(
        wbits=wbits,
        abits=abits,
        weights=weights,
        constants=thresholds,
        constant_bits=cost_accumulator_bits(layer.in_width, wbits, abits),
        macs=weights,
        elementwise=thresholds,
        io_bits=layer.in_width * abits + layer.out_width * layer.out_type.bits,
        rows=layer.out_width,
        cols=layer.in_width,
    )
