"""Directed test vectors for single blocks: inputs that put a neuron's accumulator exactly on,
just below and just above each of its thresholds, and inputs that drive accumulators to their
extremes (accumulator width, sign handling). Random frames almost never hit these points for
wide layers: a 1024-input popcount lands on one given value with probability < 3%."""

from __future__ import annotations

import numpy as np

from bitwave.core import golden, ir


def _value_range(value_type: ir.ValueType) -> tuple[int, int]:
    return (-1, 1) if value_type.kind == "bipolar" else (0, value_type.levels - 1)


def _to_codes(values: np.ndarray, value_type: ir.ValueType) -> np.ndarray:
    return (
        (values > 0).astype(np.int64) if value_type.kind == "bipolar" else values.astype(np.int64)
    )


def frame_with_acc(
    layer: ir.Dense, neuron: int, target: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Input codes whose accumulator for ``neuron`` equals ``target`` (None if not reached).

    Binary layers: start from the weights (all inputs match, acc = N) and flip N - target
    inputs. Integer layers: greedy steps on single inputs from a random start."""
    n = layer.in_width
    if isinstance(layer, ir.BinaryDense):
        if not 0 <= target <= n:
            return None
        x = layer.weight_bits()[neuron].astype(np.int64)
        flip = rng.choice(n, size=n - target, replace=False)
        x[flip] ^= 1
        return x
    low, high = _value_range(layer.in_type)
    w = layer.weight_values()[neuron]
    if layer.in_type.kind == "bipolar":
        v = rng.choice(np.array([-1, 1]), size=n)
    else:
        v = rng.integers(low, high + 1, size=n)
    step = 2 if layer.in_type.kind == "bipolar" else 1
    for _ in range(8 * n + 16):
        diff = target - int(w @ v)
        if diff == 0:
            return _to_codes(v, layer.in_type)
        # per input: the value change (in allowed steps) that brings acc closest to the target
        with np.errstate(divide="ignore", invalid="ignore"):
            ideal = np.where(w != 0, np.round(diff / np.where(w != 0, w, 1) / step) * step, 0)
        moved = np.clip(v + ideal, low, high)
        if layer.in_type.kind == "bipolar":
            moved = np.where(np.abs(moved) == 1, moved, v)  # only -1 <-> +1
        gain = np.abs(diff) - np.abs(diff - w * (moved - v))
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            return None
        v[best] = moved[best]
    return None


def threshold_edge_frames(
    layer: ir.Dense, rng: np.random.Generator, max_neurons: int = 32
) -> np.ndarray:
    """Frames with acc = T-1, T, T+1 for every threshold T of up to ``max_neurons`` neurons."""
    frames = []
    neurons = rng.permutation(layer.out_width)[:max_neurons]
    for m in neurons:
        for t in np.unique(layer.thresholds[m]):
            for target in (t - 1, t, t + 1):
                x = frame_with_acc(layer, int(m), int(target), rng)
                if x is not None:
                    frames.append(x)
    return np.array(frames, np.int64).reshape(-1, layer.in_width)


def extreme_frames(layer: ir.Dense, max_neurons: int = 8) -> np.ndarray:
    """All-lowest and all-highest inputs, alternating inputs, and for a few neurons the inputs
    that maximise and minimise the accumulator (the widest values the datapath must hold)."""
    low, high = _value_range(layer.in_type)
    n = layer.in_width
    alternating = np.where(np.arange(n) % 2 == 0, high, low)
    values = [np.full(n, low), np.full(n, high), alternating]
    w = layer.weight_values()
    for m in range(min(max_neurons, layer.out_width)):
        values.append(np.where(w[m] > 0, high, low))
        values.append(np.where(w[m] > 0, low, high))
    return np.stack([_to_codes(v, layer.in_type) for v in values])


def block_frames(layer: ir.Dense, random_count: int, seed: int, kind: str) -> np.ndarray:
    """The stimulus of a component testbench: directed frames first, then random ones."""
    rng = np.random.default_rng(seed)
    parts = [
        threshold_edge_frames(layer, rng, max_neurons=layer.out_width if kind == "neuron" else 32)
    ]
    parts.append(extreme_frames(layer, max_neurons=layer.out_width if kind == "mvu" else 4))
    parts.append(
        rng.integers(0, layer.in_type.levels, size=(random_count, layer.in_width), dtype=np.int64)
    )
    frames = np.concatenate(parts)
    golden.check_input(ir.Network("block", layer.in_width, layer.in_type, [layer]), frames)
    return frames
