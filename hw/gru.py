"""The folded bitwise GRU engine (op ``binary_gru``, one time step per frame; docs/ir.md).

PE units run in parallel on SIMD lanes. Per unit fold the gates run in the order z, r, n; each
gate accumulates ``a_g * popcount(XNOR(x, W_g))`` over SFx = ceil(N / SIMD) input folds, then
``b_g * popcount(XNOR(h, U_g))`` over SFh = ceil(H / SIMD) state folds (for n only where the
unit's reset gate r is 1), and compares the sum with the unit's threshold (for n: T_n0 or
T_n1 as r is 0 or 1). The unit's new state bit is its old one where z = 1, else n. A frame
thus takes NF * 3 * (SFx + SFh) compute cycles (the op's ``schedule``); the weights W and U
share one store whose fold steps are laid out in exactly that order.

Recurrence: every gate of frame t reads the state h(t-1) from the state register, which is
replaced by h(t) on the clock edge that completes the frame (the same edge that shows the
output). The next frame's first state fold is read at least one cycle after that edge, so the
recurrence adds no cycles: initiation interval and latency are those of the dense engine.

Sequences: the frame's payload carries one bit above its N input bits, the sequence-start
flag. A flagged frame reads ``initial_state`` instead of the state register (the register is
not cleared, it is overwritten by the frame's result). The output payload carries the flag of
the frame it belongs to in the same position, so a following GRU layer restarts with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from bitwave.core.ir import BinaryGRU
from bitwave.core.ops import binary_gru
from bitwave.core.ops.base import signed_width
from bitwave.hw.mvtu import FoldedLayer, _Control
from bitwave.hw.popcount import popcount_tree
from bitwave.hw.weights import WeightStore


@dataclass
class GateTable:
    """Per unit: the clamped thresholds T_z, T_r, T_n0, T_n1 (H, 4) and the direction bits
    (H, 3, 1 = "acc >= T") in a signed ``width`` that holds every accumulator compared."""

    values: np.ndarray
    up: np.ndarray
    width: int

    @property
    def bits_per_unit(self) -> int:
        return 4 * self.width + 3

    def word(self, units: range, pad_to: int) -> int:
        """One ROM word: per unit T_z, T_r, T_n0, T_n1 of ``width`` bits, then 3 direction bits."""
        word, shift, mask = 0, 0, (1 << self.width) - 1
        for index in range(pad_to):
            unit = units[index] if index < len(units) else None
            for j in range(4):
                value = int(self.values[unit, j]) if unit is not None else 0
                word |= (value & mask) << shift
                shift += self.width
            for g in range(3):
                up = 1 if unit is None else int(self.up[unit, g])
                word |= up << shift
                shift += 1
        return word


def gate_table(layer: BinaryGRU) -> GateTable:
    """Thresholds beyond the reachable accumulators are clamped one step outside, which keeps
    every comparison's result and bounds the comparator width."""
    low, high = binary_gru.accumulator_range(layer)
    values = np.clip(np.asarray(layer.thresholds, np.int64), low - 1, high + 1)
    up = (np.asarray(layer.direction) > 0).astype(np.int64)
    return GateTable(values, up, signed_width(low - 1, high + 1))


@dataclass
class _Steps:
    """Stage B's view of the current fold step (registered from stage A's counters)."""

    nf: Signal  # unit fold
    gate: Signal  # 0 = z, 1 = r, 2 = n
    state_phase: Signal  # 1: the step reads the state (U), 0: the input (W)
    gate_first: Signal
    gate_last: Signal
    operand: Signal  # the SIMD input or state bits of the step
    mask: Value | None  # the lanes that hold real bits (None: all)


class FoldedGRU(FoldedLayer):
    """Folded bitwise GRU cell; ports as ``FoldedLayer`` with the sequence-start flag as the
    payload's top bit on ``i`` and ``o``."""

    FLAG_BITS = 1

    def __init__(
        self,
        layer: BinaryGRU,
        pe: int,
        simd: int,
        weight_storage: str = "const",
        reset_on_start: bool = True,
    ) -> None:
        # ``reset_on_start=False`` builds a defective twin that ignores the flag (tests only)
        self.reset_on_start = reset_on_start
        super().__init__(layer, pe, simd, weight_storage)
        self.sfx, self.sfh = binary_gru.segments(layer, simd)

    @property
    def lane_widths(self) -> tuple[int, ...]:
        return (self.layer.in_width, self.layer.out_width)

    def _threshold_table(self) -> GateTable:
        return gate_table(self.layer)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n, h = self.layer.in_width, self.layer.out_width
        ctl = self._control(m, n + 1)
        start = ctl.xbuf[n]
        initial = _bits_value(self.layer.initial_state)
        state = Signal(h, init=initial)
        previous = Mux(start, Const(initial, h), state) if self.reset_on_start else state
        steps = self._steps(m, ctl, ctl.xbuf[:n], previous)
        w_word = self._weight_word(m, ctl)
        t_word = self._gate_word(m, ctl)
        padded = Cat(previous, Const(0, self.nf * self.pe - h))
        old = padded.word_select(steps.nf, self.pe) if self.nf > 1 else padded
        bits = [self._unit(m, p, ctl, steps, w_word, t_word, old[p]) for p in range(self.pe)]
        flag = Signal(name="out_start")
        finished = self._output(m, ctl, bits, flag)
        with m.If(ctl.b_valid & ctl.b_frame_last):  # h(t) and the flag of its frame
            m.d.sync += [state.eq(finished[:h]), flag.eq(start)]
        return m

    # ---- stage A -> B: which gate, which operand ---------------------------------------------
    def _steps(self, m: Module, ctl: _Control, x: Value, previous: Value) -> _Steps:
        simd, sfx, sfh = self.simd, self.sfx, self.sfh
        per_gate = sfx + sfh
        gate_a = Mux(ctl.sf >= 2 * per_gate, 2, Mux(ctl.sf >= per_gate, 1, 0))
        k = Signal(range(max(2, per_gate)))
        m.d.comb += k.eq(ctl.sf - gate_a * per_gate)
        x_padded = Cat(x, Const(0, sfx * simd - len(x)))
        h_padded = Cat(previous, Const(0, sfh * simd - len(previous)))
        x_slice = x_padded.word_select(k, simd) if sfx > 1 else x_padded
        kh = Signal.like(k)  # the state fold (meaningful where k >= SFx)
        m.d.comb += kh.eq(k - sfx)
        h_slice = h_padded.word_select(kh, simd) if sfh > 1 else h_padded

        b = _Steps(
            nf=Signal.like(ctl.nf, name="b_nf"),
            gate=Signal(2, name="b_gate"),
            state_phase=Signal(name="b_state_phase"),
            gate_first=Signal(name="b_gate_first"),
            gate_last=Signal(name="b_gate_last"),
            operand=Signal(simd, name="b_operand"),
            mask=None,
        )
        in_state = k >= sfx
        m.d.sync += [
            b.nf.eq(ctl.nf),
            b.gate.eq(gate_a),
            b.state_phase.eq(in_state),
            b.gate_first.eq(k == 0),
            b.gate_last.eq(k == per_gate - 1),
            b.operand.eq(Mux(in_state, h_slice, x_slice)),
        ]
        b.mask = self._lane_mask(m, k)
        return b

    def _lane_mask(self, m: Module, k: Signal) -> Value | None:
        """Lanes past N in the last input fold and past H in the last state fold are padding."""
        simd, n, h = self.simd, self.layer.in_width, self.layer.out_width
        full = (1 << simd) - 1
        last_x = (1 << (n - (self.sfx - 1) * simd)) - 1
        last_h = (1 << (h - (self.sfh - 1) * simd)) - 1
        if last_x == full and last_h == full:
            return None
        mask = Signal(simd, name="b_mask")
        pick = Mux(k == self.sfx - 1, last_x, Mux(k == self.sfx + self.sfh - 1, last_h, full))
        m.d.sync += mask.eq(pick)
        return mask

    def _gate_word(self, m: Module, ctl: _Control) -> Value:
        """Thresholds and directions of the PE units of the current unit fold, read with the
        step's weights (a ROM; one word when there is one unit fold)."""
        table, pe = self.thresholds, self.pe
        words = [
            table.word(range(f * pe, min((f + 1) * pe, self.layer.out_width)), pe)
            for f in range(self.nf)
        ]
        m.submodules.thresholds = store = WeightStore(words, pe * table.bits_per_unit, False)
        m.d.comb += store.addr.eq(ctl.nf)
        return store.data

    # ---- stage B: one unit -------------------------------------------------------------------
    def _unit(
        self, m: Module, p: int, ctl: _Control, b: _Steps, w: Value, t_word: Value, old: Value
    ) -> Value:
        """PE ``p``'s gates over the fold steps; returns its new state bit (valid at the last
        step of gate n)."""
        match = Signal(self.simd, name=f"pe{p}_xnor")
        xnor = ~(b.operand ^ w[p * self.simd : (p + 1) * self.simd])
        m.d.comb += match.eq(xnor & b.mask if b.mask is not None else xnor)
        count, _ = popcount_tree(m, [match[s] for s in range(self.simd)], prefix=f"pe{p}_")

        z, r = Signal(name=f"pe{p}_z"), Signal(name=f"pe{p}_r")
        coefficient = self._coefficient(b.gate, b.state_phase)
        gated = Mux(b.state_phase & (b.gate == 2) & ~r, 0, count * coefficient)
        acc = Signal(self.schedule.acc_bits, name=f"acc{p}")
        acc_next = Signal(self.schedule.acc_bits, name=f"acc{p}_next")
        m.d.comb += acc_next.eq(Mux(b.gate_first, 0, acc) + gated)
        with m.If(ctl.b_valid):
            m.d.sync += acc.eq(acc_next)

        table = self.thresholds
        unit = t_word[p * table.bits_per_unit : (p + 1) * table.bits_per_unit]
        t = [unit[j * table.width : (j + 1) * table.width].as_signed() for j in range(4)]
        up = [unit[4 * table.width + g] for g in range(3)]
        threshold = Mux(b.gate == 0, t[0], Mux(b.gate == 1, t[1], Mux(r, t[3], t[2])))
        direction = Mux(b.gate == 0, up[0], Mux(b.gate == 1, up[1], up[2]))
        fires = Mux(direction, acc_next >= threshold, acc_next <= threshold)
        with m.If(ctl.b_valid & b.gate_last & (b.gate == 0)):
            m.d.sync += z.eq(fires)
        with m.If(ctl.b_valid & b.gate_last & (b.gate == 1)):
            m.d.sync += r.eq(fires)
        return Mux(z, old, fires)

    def _coefficient(self, gate: Value, state_phase: Value) -> Value:
        """a_g on input folds, b_g on state folds (constants of the layer)."""
        c = np.asarray(self.layer.coefficients).tolist()
        pick = [Mux(state_phase, int(c[g][1]), int(c[g][0])) for g in range(3)]
        return Mux(gate == 0, pick[0], Mux(gate == 1, pick[1], pick[2]))


def _bits_value(bits: np.ndarray) -> int:
    """State bits (bit i = unit i) as one integer."""
    return sum(int(b) << i for i, b in enumerate(np.asarray(bits).tolist()))
