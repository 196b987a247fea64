"""GRU folding maths (float64, no torch): the gate ratio alpha_h / alpha_x as a small rational
b / a, and each gate's BatchNorm folded into an integer threshold on a * popcount_x +
b * popcount_h. Shared by the torch integer path and the export, so both test the same
thresholds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitwave.core.ir import MAX_GRU_COEFFICIENT

DEFAULT_COEFFICIENT_LIMIT = 15  # a, b in [1, 15]: a 4-bit constant multiplier per popcount


@dataclass
class GRUFold:
    """A GRU layer's integer parameters (the IR fields of binary_gru)."""

    coefficients: np.ndarray  # (3, 2) int64: (a, b) per gate z, r, n
    thresholds: np.ndarray  # (H, 4) int64: T_z, T_r, T_n|r=0, T_n|r=1
    direction: np.ndarray  # (H, 3) int8


@dataclass(frozen=True)
class GateScales:
    """One gate's float64 parameters: the weight scales and its eval-mode BatchNorm written as
    y = scale * S + offset (scale = gamma / sqrt(var + eps), offset = beta - scale * mu)."""

    alpha_x: float
    alpha_h: float
    scale: np.ndarray  # (H,)
    offset: np.ndarray  # (H,)


def coefficient_pair(ratio: float, limit: int = DEFAULT_COEFFICIENT_LIMIT) -> tuple[int, int]:
    """Integers (a, b) in [1, limit] with b / a closest to ``ratio`` (in log scale; ties go to
    the smaller a): the gate then weighs a * popcount_x against b * popcount_h."""
    if not 1 <= limit <= MAX_GRU_COEFFICIENT:
        raise ValueError(f"coefficient limit must be 1..{MAX_GRU_COEFFICIENT}, got {limit}")
    if not math.isfinite(ratio) or ratio <= 0:
        ratio = 1.0 if not math.isfinite(ratio) or ratio == 0 else abs(ratio)
    best = (math.inf, 1, 1)
    for a in range(1, limit + 1):
        for b in {
            max(1, min(limit, math.floor(ratio * a))),
            max(1, min(limit, math.ceil(ratio * a))),
        }:
            error = abs(math.log(b / a) - math.log(ratio))
            if error < best[0] - 1e-12:
                best = (error, a, b)
    return best[1], best[2]


def fold_threshold(
    k: np.ndarray, c: np.ndarray, low: int, high: int
) -> tuple[np.ndarray, np.ndarray]:
    """Integer threshold and direction of [k * acc + c >= 0] for integer acc in [low, high].

    k > 0: acc >= ceil(-c / k) (direction +1); k < 0: acc <= floor(-c / k) (direction -1);
    k = 0: constant (threshold low, or high + 1 when it never fires). Thresholds are clipped
    just outside the accumulator range, which keeps the same outputs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -c / k
    up = k > 0
    thresholds = np.where(up, np.ceil(bound), np.floor(bound))
    thresholds = np.where(k == 0, np.where(c >= 0, low, high + 1), thresholds)
    direction = np.where(up | (k == 0), 1, -1).astype(np.int8)
    clip_low = np.where(direction > 0, low, low - 1)
    clip_high = np.where(direction > 0, high + 1, high)
    thresholds = np.clip(np.nan_to_num(thresholds, nan=0.0), clip_low, clip_high)
    return thresholds.astype(np.int64), direction


def fold_gates(gates: Sequence[GateScales], n_in: int, width: int, limit: int) -> GRUFold:
    """Coefficients, thresholds and directions of the binary_gru op for gates z, r, n.

    A gate's BatchNorm output is y = scale * S + offset with
    S = alpha_x * (dot_x + (b / a) * dot_h), dot = 2 * popcount - width.
    So S = (alpha_x / a) * (2 * acc - (a * N + b * H)) with acc = a * px + b * ph, and
    y = k * acc + c: k = 2 scale alpha_x / a, c = offset - scale alpha_x (a N + b H) / a.
    For n with r = 0 the recurrent term is masked: acc = a * px and c = offset - scale alpha_x N.
    """
    coefficients = np.zeros((3, 2), np.int64)
    thresholds = np.zeros((width, 4), np.int64)
    direction = np.zeros((width, 3), np.int8)
    for g, gate in enumerate(gates):
        alpha_x, scale, offset = gate.alpha_x, gate.scale, gate.offset
        a, b = coefficient_pair(gate.alpha_h / alpha_x, limit)
        coefficients[g] = a, b
        k = 2.0 * scale * alpha_x / a
        c_full = offset - scale * alpha_x * (a * n_in + b * width) / a
        full_high = a * n_in + b * width
        if g < 2:
            thresholds[:, g], direction[:, g] = fold_threshold(k, c_full, 0, full_high)
        else:
            c_masked = offset - scale * alpha_x * n_in
            thresholds[:, 2], direction[:, 2] = fold_threshold(k, c_masked, 0, a * n_in)
            thresholds[:, 3], _ = fold_threshold(k, c_full, 0, full_high)
    return GRUFold(coefficients, thresholds, direction)
