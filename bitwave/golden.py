"""The golden model: executes a bitwave IR with exact integer semantics (docs/ir.md).

Every other representation of a network (the torch model in eval mode, the RTL in
simulation, the gate-level netlist) is checked against ``run`` bit for bit.
"""

from __future__ import annotations

import numpy as np

from bitwave.errors import BitwaveError
from bitwave.ir import BinaryDense, Dense, Network, ValueType, pack_bits
from bitwave.xnor_popcount import mismatches

# float64 holds every integer below 2^53 exactly; larger accumulators use int64 arithmetic.
_FLOAT_EXACT = 2**53


def check_input(net: Network, x: np.ndarray) -> np.ndarray:
    """Validate a batch of network inputs: (frames, input_width) codes of the input type."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != net.input_width:
        raise BitwaveError(
            f"input frames must have shape (frames, {net.input_width}), got {tuple(x.shape)}"
        )
    if x.dtype.kind not in "iub":
        raise BitwaveError(
            f"input frames must be integer codes of type {net.input_type}, got dtype {x.dtype}"
            + (
                " (use --encode to apply the IR's bit-plane coding to float features)"
                if net.coding
                else ""
            )
        )
    top = net.input_type.levels - 1
    if x.size and (x.min() < 0 or x.max() > top):
        raise BitwaveError(
            f"input codes must lie in [0, {top}] for type {net.input_type}, "
            f"got values in [{x.min()}, {x.max()}]"
        )
    return x.astype(np.int64)


def binary_dense_acc(layer: BinaryDense, x_bits: np.ndarray) -> np.ndarray:
    """Popcount of XNOR(x, w) for every frame and neuron: (F, N) bits -> (F, M) in [0, N]."""
    return layer.in_width - mismatches(pack_bits(x_bits), layer.weights)


def int_dense_acc(layer: Dense, x_codes: np.ndarray) -> np.ndarray:
    """Signed dot product of the input values and the integer weights: (F, N) -> (F, M)."""
    x = layer.in_type.values(x_codes)
    w = layer.weight_values()
    bound = (
        layer.in_width
        * max(1, int(np.abs(w).max(initial=0)))
        * max(1, int(np.abs(x).max(initial=0)))
    )
    if bound < _FLOAT_EXACT:
        return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return x @ w.T


def dense_acc(layer: Dense, x_codes: np.ndarray) -> np.ndarray:
    if isinstance(layer, BinaryDense):
        return binary_dense_acc(layer, x_codes)
    return int_dense_acc(layer, x_codes)


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


def run_layer(layer: Dense, x_codes: np.ndarray) -> np.ndarray:
    """One layer: input codes -> output codes (bits for bipolar, counts for uint)."""
    return multi_threshold(dense_acc(layer, x_codes), layer.thresholds, layer.direction)


def run_layers(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output codes, in order; the last one is the network output."""
    codes = check_input(net, x)
    outputs = []
    for layer in net.layers:
        codes = run_layer(layer, codes)
        outputs.append(codes)
    return outputs


def run(net: Network, x: np.ndarray) -> np.ndarray:
    """Network output codes (frames, output_width): uint8 bits if bipolar, else int64 counts."""
    out = run_layers(net, x)[-1]
    return out.astype(np.uint8) if net.output_type == ValueType("bipolar") else out
