"""The ``binary_gru`` op (IR version 2): a bitwise GRU cell; frames are consecutive time steps.

Gates z, r in {0, 1} and the candidate n are single thresholds over weighted XNOR popcounts of
the input and the state, the reset gate masks the recurrent term of n, h' = z ? h : n
(docs/ir.md). This module owns the op's fields (reading, validation, writing), its golden
execution and its cost counts; its hardware schedule does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.gru_kernel import gru_recurrence
from bitwave.core.ops.base import (
    BIPOLAR,
    WORD_BITS,
    CostCounts,
    FieldReader,
    Schedule,
    ValueType,
    cost_accumulator_bits,
    layer_entry,
    pack_bits,
    sequence_starts,
    unpack_bits,
)
from bitwave.core.xnor_popcount import mismatches

NAME = "binary_gru"
SUPPORTED_STAGES = ("train", "golden", "cost")
MIN_VERSION = 2
MAX_GRU_COEFFICIENT = 255  # popcount weights lie in [1, MAX_GRU_COEFFICIENT]
GATES = ("z", "r", "n")


@dataclass
class BinaryGRU:
    """Bitwise GRU cell (IR version 2); semantics in docs/ir.md.

    Gates are ordered z (update), r (reset), n (candidate) along the first axis of the
    weights and the last axis of ``direction``. With N = in_width and H = out_width (the
    state width):
    - ``weights_x``: (3, H, ceil(N/64)) uint64, packed like binary_dense (padding zero),
    - ``weights_h``: (3, H, ceil(H/64)) uint64,
    - ``coefficients``: (3, 2) int64, per gate (a, b) in [1, MAX_GRU_COEFFICIENT]: the gate
      accumulates a * popcount_x + b * popcount_h,
    - ``thresholds``: (H, 4) int64: T_z, T_r, T_n for r = 0, T_n for r = 1,
    - ``direction``: (H, 3) int8 of +1/-1 for z, r, n,
    - ``initial_state``: (H,) uint8 bits, the state before the first frame of a sequence.
    """

    name: str
    in_width: int
    out_width: int
    weights_x: np.ndarray
    weights_h: np.ndarray
    coefficients: np.ndarray
    thresholds: np.ndarray
    direction: np.ndarray
    initial_state: np.ndarray
    in_type: ValueType = BIPOLAR
    out_type: ValueType = BIPOLAR

    op = NAME
    wbits = 1
    GATES = GATES
    MIN_VERSION = MIN_VERSION

    @property
    def state_width(self) -> int:
        return self.out_width

    def weight_bits(self) -> tuple[np.ndarray, np.ndarray]:
        """Unpacked weight bits, 1 = +1: (3, H, N) for the input, (3, H, H) for the state."""
        return unpack_bits(self.weights_x, self.in_width), unpack_bits(
            self.weights_h, self.out_width
        )


# ---- fields ---------------------------------------------------------------------------------
def read(
    r: FieldReader, spec: dict, where: str, name: str, width: int, value_type: ValueType
) -> BinaryGRU:
    n = r.positive(spec, "in_width", where)
    h = r.positive(spec, "out_width", where)
    for key in ("in_type", "out_type"):
        declared = r.value_type(spec, key, where)
        if declared != BIPOLAR:
            raise r.fail(f"{where}.{key}", f"binary_gru is bipolar in and out, got {declared}")
    words_x, words_h = -(-n // WORD_BITS), -(-h // WORD_BITS)
    weights_x = r.packed(spec, "weights_x", where, (3, h, words_x), n)
    weights_h = r.packed(spec, "weights_h", where, (3, h, words_h), h)
    coefficients = r.array(spec, "coefficients", where, "i", (3, 2)).astype(np.int64)
    if np.any((coefficients < 1) | (coefficients > MAX_GRU_COEFFICIENT)):
        raise r.fail(
            f"{where}.coefficients",
            f"expected integers in [1, {MAX_GRU_COEFFICIENT}], got {coefficients.tolist()}",
        )
    thresholds = r.array(spec, "thresholds", where, "i", (h, 4)).astype(np.int64)
    direction = r.directions(spec, where, (h, 3))
    initial = r.array(spec, "initial_state", where, "u", (h,))
    if np.any(initial > 1):
        raise r.fail(f"{where}.initial_state", "expected state bits 0 (-1) or 1 (+1)")
    if n != width or value_type != BIPOLAR:
        raise r.fail(
            where, f"input is {n} x bipolar, but the previous stage gives {width} x {value_type}"
        )
    return BinaryGRU(name, n, h, weights_x, weights_h, coefficients, thresholds, direction,
                     initial.astype(np.uint8))  # fmt: skip


def write(layer: BinaryGRU, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    arrays = {
        f"{prefix}.weights_x": layer.weights_x,
        f"{prefix}.weights_h": layer.weights_h,
        f"{prefix}.coefficients": np.asarray(layer.coefficients, np.int64),
        f"{prefix}.thresholds": np.asarray(layer.thresholds, np.int64),
        f"{prefix}.direction": np.asarray(layer.direction, np.int8),
        f"{prefix}.initial_state": np.asarray(layer.initial_state, np.uint8),
    }
    entry = layer_entry(layer, **{key.rsplit(".", 1)[1]: key for key in arrays})
    return entry, arrays


# ---- golden execution: one time step per frame ----------------------------------------------
def _fires(acc: np.ndarray, threshold: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The single-threshold activation: acc >= T (direction +1) or acc <= T (-1), as 0/1."""
    return np.where(direction > 0, acc >= threshold, acc <= threshold).astype(np.int64)


def input_popcounts(layer: BinaryGRU, x_bits: np.ndarray) -> np.ndarray:
    """px[f, g, m] = popcount(XNOR(x[f], Wx[g, m])): (F, N) bits -> (F, 3, H) in [0, N].
    The input term does not depend on the state, so every frame is done in one product."""
    h = layer.out_width
    words = layer.weights_x.reshape(3 * h, -1)
    acc = layer.in_width - mismatches(pack_bits(x_bits), words)
    return acc.reshape(-1, 3, h)


def step(layer: BinaryGRU, px: np.ndarray, h_bits: np.ndarray) -> dict[str, np.ndarray]:
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


def run(
    layer: BinaryGRU, x_bits: np.ndarray, starts: np.ndarray | None = None, trace: bool = False
) -> np.ndarray | dict[str, np.ndarray]:
    """The state bits after every frame (F, H). Frames are consecutive time steps; the state
    is reset to ``initial_state`` before frame 0 and before every frame flagged in ``starts``.
    With ``trace`` every field of ``step`` is returned, stacked over frames. The loop over
    frames runs compiled (``bitwave.core.gru_kernel``); ``step`` is the same step in numpy."""
    x_bits = np.asarray(x_bits, np.int64)
    frames, width = x_bits.shape[0], layer.out_width
    flags = sequence_starts(frames, starts)
    px = np.ascontiguousarray(input_popcounts(layer, x_bits))
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
    for i, gate in enumerate(GATES):
        fields[gate] = gates[:, i]
        fields[f"acc_{gate}"] = accs[:, i]
    return fields


# ---- schedule -------------------------------------------------------------------------------
def schedule(layer: BinaryGRU, pe: int, simd: int) -> Schedule:
    raise BitwaveError(
        f"layer {layer.name}: op 'binary_gru' is not supported by hardware yet "
        "(no folded GRU datapath); hardware supports binary_dense, int_dense"
    )


# ---- cost -----------------------------------------------------------------------------------
def cost_counts(layer: BinaryGRU) -> CostCounts:
    """3 gates of XNOR-popcount over the input and the state; per-gate coefficients, four
    thresholds per unit and the initial state are stored constants."""
    n, h = layer.in_width, layer.out_width
    weights = 3 * h * (n + h)
    return CostCounts(
        wbits=1,
        abits=1,
        weights=weights,
        constants=4 * h + 6,
        constant_bits=cost_accumulator_bits(n + h, 1, 1) + 8,  # a * popcount_x + b * popcount_h
        macs=weights,
        elementwise=4 * h,  # threshold comparisons and the state update
        state_bits=h,
        io_bits=n + h,
        rows=3 * h,
        cols=n + h,
    )
