"""``bitwave bench golden``: binary MAC/s of the golden model against torch float32 matmul of
the same shape, measured in the same run (best of several repeats each)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np


def _best_seconds(step: Callable[[], object], repeats: int) -> float:
    step()  # warm-up: numba compilation, allocator, thread pools
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def run(neurons: int = 1024, inputs: int = 1024, batch: int = 1000, repeats: int = 7) -> dict:
    import torch

    from bitwave.core.ir import pack_bits
    from bitwave.core.xnor_popcount import mismatches

    rng = np.random.default_rng(0)
    x = pack_bits(rng.integers(0, 2, size=(batch, inputs), dtype=np.uint8))
    w = pack_bits(rng.integers(0, 2, size=(neurons, inputs), dtype=np.uint8))
    binary_s = _best_seconds(lambda: mismatches(x, w), repeats)

    a = torch.randn(batch, inputs)
    b = torch.randn(inputs, neurons)
    float_s = _best_seconds(lambda: a @ b, repeats)

    macs = batch * inputs * neurons
    return {
        "shape": {"batch": batch, "inputs": inputs, "neurons": neurons},
        "binary_macs_per_s": macs / binary_s,
        "torch_float_macs_per_s": macs / float_s,
        "ratio": float_s / binary_s,
        "threads": {"torch": torch.get_num_threads(), "cpus": os.cpu_count()},
    }
