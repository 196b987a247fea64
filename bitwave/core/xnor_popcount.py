"""The binary matrix product at the heart of the golden model: for packed bit rows x and w,
mismatches[f, m] = popcount(x[f] XOR w[m]); the XNOR popcount is then N - mismatches.

Padding bits are zero in both operands, so they never count as mismatches and need no mask.
numba compiles the loop with LLVM's ctpop (one VPOPCNTQ per word on AVX-512 machines) and
spreads tiles of frames x neurons over the cores. ``mismatches_reference`` is the plain numpy
formulation that the kernel is tested against.
"""

from __future__ import annotations

import os

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# numba's OpenMP layer leaves its threads spinning after a parallel call, which slows torch in
# the same process (training interleaved with golden checks) by 100x or more; the workqueue
# layer sleeps. A user's own NUMBA_THREADING_LAYER wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

FRAME_TILE = 8
NEURON_TILE = 64


@intrinsic
def _popcount64(typingctx, value):  # noqa: ANN001, ANN202 (numba intrinsic signature)
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        return builder.ctpop(args[0])

    return signature, codegen


@numba.njit(parallel=True, cache=True, nogil=True)
def _mismatches_kernel(x: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    frames, words = x.shape
    neurons = w.shape[0]
    frame_tiles = (frames + FRAME_TILE - 1) // FRAME_TILE
    neuron_tiles = (neurons + NEURON_TILE - 1) // NEURON_TILE
    for tile in numba.prange(frame_tiles * neuron_tiles):
        f0 = (tile // neuron_tiles) * FRAME_TILE
        m0 = (tile % neuron_tiles) * NEURON_TILE
        for m in range(m0, min(neurons, m0 + NEURON_TILE)):
            for f in range(f0, min(frames, f0 + FRAME_TILE)):
                count = np.uint64(0)
                for k in range(words):
                    count += _popcount64(x[f, k] ^ w[m, k])
                out[f, m] = count


def mismatches(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(F, W) uint64 x (M, W) uint64 -> (F, M) int64 Hamming distances."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    w = np.ascontiguousarray(w, dtype=np.uint64)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"word counts differ: {x.shape[1]} vs {w.shape[1]}")
    out = np.empty((x.shape[0], w.shape[0]), np.int64)
    _mismatches_kernel(x, w, out)
    return out


def mismatches_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The same product with numpy's popcount; slow and memory-hungry, for tests only."""
    return np.bitwise_count(x[:, None, :] ^ w[None, :, :]).sum(axis=-1, dtype=np.int64)
