"""The ``binary_gru`` op (IR version 2): a bitwise GRU cell; frames are consecutive time steps.

Gates z, r in {0, 1} and the candidate n are single thresholds over weighted XNOR popcounts of
the input and the state, the reset gate masks the recurrent term of n, h' = z ? h : n
(docs/ir.md). This module owns the op's fields (reading, validation, writing), its golden
execution, its folded schedule (bitwave.hw.gru builds it) and its cost counts.
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
    popcount_width,
    sequence_starts,
    unpack_bits,
    weight_layout,
)
from bitwave.core.xnor_popcount import mismatches

NAME = "binary_gru"
SUPPORTED_STAGES = ("train", "golden", "generate", "verify", "gate-level", "synth", "cost")
STATEFUL = True  # carries a state from frame to frame: hardware needs the sequence flag
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
def segments(layer: BinaryGRU, simd: int) -> tuple[int, int]:
    """(SFx, SFh): the SIMD-wide folds of the input and of the state; a gate takes
    SFx + SFh steps (docs/hardware.md, binary_gru)."""
    return -(-layer.in_width // simd), -(-layer.out_width // simd)


def accumulator_range(layer: BinaryGRU) -> tuple[int, int]:
    """The smallest and largest gate accumulator a * popcount_x + b * popcount_h."""
    n, h = layer.in_width, layer.out_width
    return 0, max(int(a) * n + int(b) * h for a, b in np.asarray(layer.coefficients).tolist())


def weight_codes(layer: BinaryGRU, simd: int) -> np.ndarray:
    """(H, 3 * (SFx + SFh) * SIMD) lane codes, 1 = +1: per gate z, r, n the input weights
    zero-padded to SFx * SIMD columns, then the state weights padded to SFh * SIMD, so that
    the dense layout's fold steps are the GRU engine's steps in the order it runs them."""
    sfx, sfh = segments(layer, simd)
    wx, wh = layer.weight_bits()
    h = layer.out_width
    codes = np.zeros((h, 3, sfx + sfh, simd), np.int64).reshape(h, 3, -1)
    codes[:, :, : layer.in_width] = wx.transpose(1, 0, 2)
    codes[:, :, sfx * simd : sfx * simd + h] = wh.transpose(1, 0, 2)
    return codes.reshape(h, -1)


def store_words(layer: BinaryGRU, plan: Schedule) -> list[int]:
    """The weight store's words at this schedule: ``weight_codes`` laid out by ``plan``."""
    return plan.weights.words(weight_codes(layer, plan.simd))


def schedule(layer: BinaryGRU, pe: int, simd: int) -> Schedule:
    """PE units x SIMD lanes; per unit fold the gates run in the order z, r, n, each over SFx
    input folds then SFh state folds, so a frame takes NF * 3 * (SFx + SFh) steps. The state
    is read whole from its register during a frame and replaced at the frame's end, so frame
    t + 1 can start as soon as frame t's output is taken: the recurrence costs no extra
    cycles beyond the dense engine's hand-over."""
    h = layer.out_width
    if not (1 <= pe <= h and 1 <= simd <= max(layer.in_width, h)):
        raise BitwaveError(
            f"layer {layer.name}: pe={pe}, simd={simd} out of range: need 1 <= pe <= {h} "
            f"(out_width) and 1 <= simd <= {max(layer.in_width, h)} (the wider of in_width "
            "and out_width)"
        )
    sfx, sfh = segments(layer, simd)
    steps = 3 * (sfx + sfh)
    nf = -(-h // pe)
    acc_bits = popcount_width(accumulator_range(layer)[1])
    layout = weight_layout(h, steps * simd, pe, simd, 1)
    return Schedule(layer.name, pe, simd, nf, steps, acc_bits, False, layout)


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
