"""The binary_gru recurrence compiled with numba: the golden model's inner loop over frames.

The input popcounts px do not depend on the state, so ``bitwave.core.ops.binary_gru`` computes
them for all frames with one XNOR-popcount product; what is left is inherently sequential: per
frame, pack the state, three XNOR popcounts against U_z, U_r, U_n, the gates and the mux
(docs/ir.md, binary_gru). Done per frame in numpy that costs ~100 array calls; this loop keeps
everything in one compiled function. ``bitwave.core.ops.binary_gru.step`` is the same step
written in numpy, and tests check both against a direct unit-by-unit formulation.
"""

from __future__ import annotations

import numba
import numpy as np

from bitwave.core.xnor_popcount import _popcount64

WORD_BITS = 64


@numba.njit(cache=True, nogil=True)
def _fires(acc: np.int64, threshold: np.int64, direction: np.int8) -> np.int64:
    if direction > 0:
        return np.int64(acc >= threshold)
    return np.int64(acc <= threshold)


@numba.njit(cache=True, nogil=True)
def gru_recurrence(
    px: np.ndarray,  # (F, 3, H) int64 input popcounts
    weights_h: np.ndarray,  # (3, H, W) uint64
    coefficients: np.ndarray,  # (3, 2) int64
    thresholds: np.ndarray,  # (H, 4) int64
    direction: np.ndarray,  # (H, 3) int8
    initial: np.ndarray,  # (H,) int64 bits
    starts: np.ndarray,  # (F,) bool
    out: np.ndarray,  # (F, H) int64: state bits after each frame
    trace: bool,
    gates: np.ndarray,  # (F, 3, H) int64 z, r, n (written when trace)
    accs: np.ndarray,  # (F, 3, H) int64 acc_z, acc_r, acc_n (written when trace)
) -> None:
    frames = px.shape[0]
    width = initial.shape[0]
    words = weights_h.shape[2]
    h = initial.copy()
    new = np.empty(width, np.int64)
    packed = np.zeros(words, np.uint64)
    a_z, b_z = coefficients[0, 0], coefficients[0, 1]
    a_r, b_r = coefficients[1, 0], coefficients[1, 1]
    a_n, b_n = coefficients[2, 0], coefficients[2, 1]
    for f in range(frames):
        if starts[f]:
            h[:] = initial
        packed[:] = 0
        for i in range(width):  # bit i at word i // 64, bit i % 64 (zero padding)
            if h[i]:
                packed[i // WORD_BITS] |= np.uint64(1) << np.uint64(i % WORD_BITS)
        for m in range(width):
            miss_z = np.int64(0)
            miss_r = np.int64(0)
            miss_n = np.int64(0)
            for k in range(words):
                miss_z += _popcount64(packed[k] ^ weights_h[0, m, k])
                miss_r += _popcount64(packed[k] ^ weights_h[1, m, k])
                miss_n += _popcount64(packed[k] ^ weights_h[2, m, k])
            acc_z = a_z * px[f, 0, m] + b_z * (width - miss_z)
            acc_r = a_r * px[f, 1, m] + b_r * (width - miss_r)
            z = _fires(acc_z, thresholds[m, 0], direction[m, 0])
            r = _fires(acc_r, thresholds[m, 1], direction[m, 1])
            acc_n = a_n * px[f, 2, m] + r * b_n * (width - miss_n)
            n = _fires(acc_n, thresholds[m, 3] if r == 1 else thresholds[m, 2], direction[m, 2])
            new[m] = h[m] if z == 1 else n
            if trace:
                gates[f, 0, m], gates[f, 1, m], gates[f, 2, m] = z, r, n
                accs[f, 0, m], accs[f, 1, m], accs[f, 2, m] = acc_z, acc_r, acc_n
        h[:] = new
        out[f, :] = h
