"""The golden model: executes a bitwave IR with exact integer semantics (docs/ir.md).

Every other representation of a network (the torch model in eval mode, the RTL in
simulation, the gate-level netlist) is checked against ``run`` bit for bit.

Networks with a ``binary_gru`` layer are recurrent: the frames given to ``run`` are
consecutive time steps of ONE sequence that starts from each GRU's ``initial_state``.
``starts`` marks frames where a new sequence begins (every GRU state is reset to its
initial state before that frame); ``run_sequences`` runs a list of independent sequences.
Dense-only networks are frame-by-frame, so ``starts`` changes nothing for them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.gru_kernel import gru_recurrence
from bitwave.core.ir import BinaryDense, BinaryGRU, Dense, Layer, Network, ValueType, pack_bits
from bitwave.core.xnor_popcount import mismatches

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


# ---------------------------------------------------------------------------------------------
# binary_gru (IR version 2): one time step per frame
# ---------------------------------------------------------------------------------------------
def _fires(acc: np.ndarray, threshold: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The single-threshold activation: acc >= T (direction +1) or acc <= T (-1), as 0/1."""
    return np.where(direction > 0, acc >= threshold, acc <= threshold).astype(np.int64)


def gru_input_popcounts(layer: BinaryGRU, x_bits: np.ndarray) -> np.ndarray:
    """px[f, g, m] = popcount(XNOR(x[f], Wx[g, m])): (F, N) bits -> (F, 3, H) in [0, N].
    The input term does not depend on the state, so every frame is done in one product."""
    h = layer.out_width
    words = layer.weights_x.reshape(3 * h, -1)
    acc = layer.in_width - mismatches(pack_bits(x_bits), words)
    return acc.reshape(-1, 3, h)


def gru_step(layer: BinaryGRU, px: np.ndarray, h_bits: np.ndarray) -> dict[str, np.ndarray]:
    """One time step from the input popcounts px (3, H) and the state bits h (H,).

    Returns the new state ``h`` and, for tracing, the gates ``z``, ``r``, ``n`` (0/1) and
    their accumulators ``acc_z``, ``acc_r``, ``acc_n`` (docs/ir.md, binary_gru)."""
    width = layer.out_width
    ph = width - mismatches(pack_bits(h_bits[None, :]), layer.weights_h.reshape(3 * width, -1))
    ph = ph.reshape(3, width)
    a, b = layer.coefficients[:, 0], layer.coefficients[:, 1]
    t, d = layer.thresholds, layer.direction
    acc_z = a[0] * px[0] + b[0] * ph[0]
    acc_r = a[1] * px[1] + b[1] * ph[1]
    z = _fires(acc_z, t[:, 0], d[:, 0])
    r = _fires(acc_r, t[:, 1], d[:, 1])
    acc_n = a[2] * px[2] + r * (b[2] * ph[2])  # the reset gate masks the recurrent term
    n = _fires(acc_n, np.where(r == 1, t[:, 3], t[:, 2]), d[:, 2])
    h_new = np.where(z == 1, h_bits, n)  # z = 1 keeps the old state, z = 0 takes n
    return {"h": h_new, "z": z, "r": r, "n": n, "acc_z": acc_z, "acc_r": acc_r, "acc_n": acc_n}


def _starts(frames: int, starts: np.ndarray | None) -> np.ndarray:
    if starts is None:
        flags = np.zeros(frames, bool)
    else:
        flags = np.asarray(starts)
        if flags.shape != (frames,) or flags.dtype.kind not in "biu":
            raise BitwaveError(
                f"starts must be a boolean vector of one flag per frame ({frames}), "
                f"got {flags.dtype} {tuple(flags.shape)}"
            )
        flags = flags.astype(bool)
    if frames:
        flags = flags.copy()
        flags[0] = True  # the first frame always starts a sequence
    return flags


def run_gru(
    layer: BinaryGRU, x_bits: np.ndarray, starts: np.ndarray | None = None, trace: bool = False
) -> np.ndarray | dict[str, np.ndarray]:
    """The state bits after every frame (F, H). Frames are consecutive time steps; the state
    is reset to ``initial_state`` before frame 0 and before every frame flagged in ``starts``.
    With ``trace`` every field of ``gru_step`` is returned, stacked over frames. The loop over
    frames runs compiled (``bitwave.core.gru_kernel``); ``gru_step`` is the same step in numpy."""
    x_bits = np.asarray(x_bits, np.int64)
    frames, width = x_bits.shape[0], layer.out_width
    flags = _starts(frames, starts)
    px = np.ascontiguousarray(gru_input_popcounts(layer, x_bits))
    out = np.empty((frames, width), np.int64)
    shape = (frames, 3, width) if trace else (1, 3, 1)
    gates, accs = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    gru_recurrence(
        px,
        np.ascontiguousarray(layer.weights_h, dtype=np.uint64),
        np.ascontiguousarray(layer.coefficients, dtype=np.int64),
        np.ascontiguousarray(layer.thresholds, dtype=np.int64),
        np.ascontiguousarray(layer.direction, dtype=np.int8),
        layer.initial_state.astype(np.int64),
        flags,
        out,
        trace,
        gates,
        accs,
    )
    if not trace:
        return out
    fields = {"h": out}
    for i, gate in enumerate(("z", "r", "n")):
        fields[gate] = gates[:, i]
        fields[f"acc_{gate}"] = accs[:, i]
    return fields


def run_layer(layer: Layer, x_codes: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """One layer: input codes -> output codes (bits for bipolar, counts for uint)."""
    if isinstance(layer, BinaryGRU):
        return run_gru(layer, x_codes, starts)
    return multi_threshold(dense_acc(layer, x_codes), layer.thresholds, layer.direction)


def run_layers(net: Network, x: np.ndarray, starts: np.ndarray | None = None) -> list[np.ndarray]:
    """Every layer's output codes, in order; the last one is the network output.
    For recurrent networks the frames are one sequence unless ``starts`` flags new ones."""
    codes = check_input(net, x)
    flags = _starts(codes.shape[0], starts) if net.is_recurrent else None
    outputs = []
    for layer in net.layers:
        codes = run_layer(layer, codes, flags)
        outputs.append(codes)
    return outputs


def run(net: Network, x: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Network output codes (frames, output_width): uint8 bits if bipolar, else int64 counts.
    A network with a binary_gru treats the frames as one time sequence (see the module
    docstring); ``starts`` flags frames that begin a new sequence."""
    out = run_layers(net, x, starts)[-1]
    return out.astype(np.uint8) if net.output_type == ValueType("bipolar") else out


def run_sequences(net: Network, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """Run independent sequences (each (frames, input_width)), each from the initial state."""
    arrays = [check_input(net, seq) for seq in sequences]
    if not arrays:
        return []
    lengths = [len(a) for a in arrays]
    starts = np.zeros(sum(lengths), bool)
    starts[np.cumsum([0] + lengths[:-1])] = True
    out = run(net, np.concatenate(arrays), starts)
    return np.split(out, np.cumsum(lengths)[:-1])


def load_input_frames(path: str | os.PathLike, net: Network) -> np.ndarray:
    """Input frames from a .npy file: integer codes of the IR's input type (frames, width), or
    float features that the IR's bit-plane coding turns into codes. Every stage that takes
    ``--inputs`` reads them through here."""
    from bitwave.core.coding import encode

    path = Path(path)
    if not path.is_file():
        raise BitwaveError(f"{path}: no such input file (expected a .npy array of frames)")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise BitwaveError(f"{path}: not a readable numeric .npy array ({error})") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.dtype.kind == "f":
        if net.coding is None:
            raise BitwaveError(
                f"{path} holds float features but IR {net.name} has no input coding; give integer "
                f"codes of type {net.input_type} with shape (frames, {net.input_width})"
            )
        if not np.all(np.isfinite(x)):
            raise BitwaveError(f"{path} contains NaN or infinite values")
        x = encode(net.coding, x)
    return check_input(net, x)
