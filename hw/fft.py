"""A folded radix-2 FFT unit, bit for bit ``bitwave.core.audio.fft_points`` (docs/hw.md, "Audio
front end (FFT)").

N = 2^stages complex points of ``fft_bits``-wide signed parts, one butterfly per cycle:
- ``i``: N samples (re, im), written at their bit-reversed position (decimation in time);
- run: ``stages`` passes of N/2 butterflies, each ``t = b * tw``,
  ``a' = sat(rs(a * 2^(T-1) + t, T - 1 + s))``, ``b' = sat(rs(a * 2^(T-1) - t, T - 1 + s))``
  with the stage's shift s (one rounding per output, round half up), in place;
- ``o``: the first ``outputs`` bins (default N) in natural order.
The golden model owns every rounding rule; this module only schedules it.

Working memory: two banks of N/2 words (re and im side by side). Point i lives in bank
parity(i) at address i >> 1; the two points of a butterfly differ in one bit, so they are
always in different banks: each bank sees one read and one write per cycle (1R1W memories).
The twiddles ``exp(-2 pi i k / N)`` come from a ROM of (cos, sin) words, T + 1 bits each
(+-1.0 exact, as the golden ROM). A butterfly takes three cycles (read, multiply, round and
write back); a stage waits two cycles for its last write before the next stage reads.

Inverse transforms are the same butterflies on conjugated inputs with their own per-stage
shifts (docs/ir.md, "Audio path"): with ``inverse_shifts`` the unit has an ``inverse`` input,
sampled with a frame's first sample, that selects them for that frame (the conjugation is the
caller's, as in ``audio.inverse_frames``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.errors import BitwaveError
from bitwave.hw.weights import WeightStore

# the cycles a butterfly's write trails its read: the gap between two stages
PIPELINE_GAP = 2


def frame_cycles(stages: int, outputs: int) -> int:
    """Cycles per frame of an FFT of 2^stages points reading ``outputs`` bins, when the source
    and the sink never stall: load N samples, ``stages`` passes of N/2 butterflies plus the
    pipeline gap, then the read-out (its first cycle issues the first read). Measured in
    tests/hw/test_hw_fft.py."""
    points = 1 << stages
    return points + stages * (points // 2 + PIPELINE_GAP) + outputs + 1


def complex_layout(bits: int) -> data.StructLayout:
    """One complex sample: signed ``re`` and ``im`` of ``bits`` each (re at the low bits)."""
    return data.StructLayout({"re": signed(bits), "im": signed(bits)})


def parity(value: Signal) -> Signal:
    return value.xor()


class FFT(wiring.Component):
    """The folded FFT: load N samples on ``i``, read ``outputs`` bins from ``o``; one frame at a
    time (``i`` waits while a frame runs or is read out). ``cos``/``sin``: the twiddle ROM
    (``audio.twiddle_rom(N, twiddle_bits)`` or a mutated copy)."""

    def __init__(
        self,
        stages: int,
        fft_bits: int,
        twiddle_bits: int,
        shifts: Sequence[int],
        cos: np.ndarray,
        sin: np.ndarray,
        inverse_shifts: Sequence[int] | None = None,
        outputs: int | None = None,
    ) -> None:
        self.stages, self.points = stages, 1 << stages
        self.fft_bits, self.twiddle_bits = fft_bits, twiddle_bits
        self.outputs = self.points if outputs is None else outputs
        self.shift_sets = [tuple(shifts)] + ([tuple(inverse_shifts)] if inverse_shifts else [])
        try:
            self._check(cos, sin)
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        self.cos, self.sin = [int(v) for v in cos], [int(v) for v in sin]
        signature = {
            "i": In(stream.Signature(complex_layout(fft_bits))),
            "o": Out(stream.Signature(complex_layout(fft_bits))),
        }
        if inverse_shifts:
            signature["inverse"] = In(1)
        super().__init__(signature)

    def _check(self, cos: np.ndarray, sin: np.ndarray) -> None:
        if self.stages < 1 or not 1 <= self.outputs <= self.points:
            raise BitwaveError(
                f"an FFT of 2^{self.stages} points reading {self.outputs} bins; allowed: at "
                "least one stage and 1 to N bins"
            )
        for shifts in self.shift_sets:
            if len(shifts) != self.stages or not all(0 <= s <= 8 for s in shifts):
                raise BitwaveError(
                    f"FFT shifts {list(shifts)}; allowed: {self.stages} shifts in [0, 8]"
                )
        limit = 1 << self.twiddle_bits  # T + 1 signed bits
        for part in (cos, sin):
            if len(part) != self.points // 2 or any(not -limit <= v < limit for v in part):
                raise BitwaveError(
                    f"twiddle ROM of {len(part)} words; allowed: {self.points // 2} signed "
                    f"{self.twiddle_bits + 1}-bit values"
                )

    @property
    def cycles_per_frame(self) -> int:
        return frame_cycles(self.stages, self.outputs)

    def _twiddle_rom(self) -> WeightStore:
        width = self.twiddle_bits + 1
        mask = (1 << width) - 1
        words = [
            (c & mask) | ((s & mask) << width) for c, s in zip(self.cos, self.sin, strict=True)
        ]
        return WeightStore(words, 2 * width, writable=False)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d, n, half = self.fft_bits, self.points, self.points // 2
        banks = []
        for b in range(2):
            bank = memory.Memory(shape=2 * d, depth=max(2, half), init=[])
            m.submodules[f"bank{b}"] = bank
            banks.append((bank.read_port(), bank.write_port()))
        m.submodules.twiddles = rom = self._twiddle_rom()

        count = Signal(range(n + 1))  # load: sample index; read: bin index
        stage = Signal(range(max(2, self.stages)))
        step = Signal(range(half + PIPELINE_GAP + 1))  # butterfly index, then the gap
        inverse = Signal()
        out_bank = Signal()
        issue = Signal()
        m.d.comb += self.o.payload.eq(Mux(out_bank, banks[1][0].data, banks[0][0].data))
        # reads hold their data unless enabled (a stalled output keeps its bin)
        m.d.comb += [read.en.eq(0) for read, _ in banks]

        with m.FSM(name="phase") as fsm:
            with m.State("LOAD"):
                self._load(m, banks, count, inverse)
                with m.If(self.i.valid & (count == n - 1)):
                    m.d.sync += [count.eq(0), stage.eq(0), step.eq(0)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += issue.eq(step < half)
                m.d.sync += step.eq(step + 1)
                with m.If(step == half + PIPELINE_GAP - 1):
                    m.d.sync += [step.eq(0), stage.eq(stage + 1)]
                    with m.If(stage == self.stages - 1):
                        m.next = "READ"
            with m.State("READ"):
                advance = ~self.o.valid | self.o.ready
                with m.If(advance):
                    with m.If(count < self.outputs):
                        for read, _ in banks:
                            m.d.comb += [read.addr.eq(count >> 1), read.en.eq(1)]
                        m.d.sync += [out_bank.eq(parity(count)), self.o.valid.eq(1)]
                        m.d.sync += count.eq(count + 1)
                    with m.Else():
                        m.d.sync += [self.o.valid.eq(0), count.eq(0)]
                        m.next = "LOAD"
        # outside the cases: a continuous assignment, defined from time 0 in every simulator
        # (Icarus leaves an ``always @*`` whose inputs have not changed yet at X)
        m.d.comb += self.i.ready.eq(fsm.ongoing("LOAD"))
        self._butterflies(m, banks, rom, stage, step, issue, inverse)
        return m

    def _load(self, m: Module, banks: list, count: Signal, inverse: Signal) -> None:
        """Sample ``count`` goes to point bitrev(count): bank parity (the same as count's),
        address bitrev(count) >> 1."""
        reversed_index = Cat(*[count[b] for b in reversed(range(self.stages))])
        word = Cat(self.i.payload.re, self.i.payload.im)
        for b, (_, write) in enumerate(banks):
            m.d.comb += [
                write.addr.eq(reversed_index >> 1),
                write.data.eq(word),
                write.en.eq(self.i.valid & (parity(count) == b)),
            ]
        m.d.sync += count.eq(count + self.i.valid)
        if len(self.shift_sets) > 1:
            with m.If(self.i.valid & (count == 0)):
                m.d.sync += inverse.eq(self.inverse)

    def _butterflies(
        self,
        m: Module,
        banks: list,
        rom: WeightStore,
        stage: Signal,
        step: Signal,
        issue: Signal,
        inverse: Signal,
    ) -> None:
        """Issue (addresses), multiply (registered products), round/saturate/write back."""
        d, t, k = self.fft_bits, self.twiddle_bits, self.stages
        j = step[: max(1, k - 1)] if k > 1 else Const(0, 1)
        index_a = Signal(k)  # the butterfly's points: bit ``stage`` is 0 (a) or 1 (b)
        twiddle = Signal(max(1, k - 1))
        # multiplexers, not a Switch: step 0 of stage 0 changes no input of an ``always @*``,
        # which Icarus would leave at X
        m.d.comb += [
            index_a.eq(_select(stage, [Cat(j[:s], Const(0, 1), j[s : k - 1]) for s in range(k)])),
            twiddle.eq(_select(stage, [j[:s] << (k - 1 - s) if s else 0 for s in range(k)])),
        ]
        index_b = index_a | (Const(1, k) << stage)
        bank_a = parity(index_a)
        for b, (read, _) in enumerate(banks):
            with m.If(issue):
                m.d.comb += [
                    read.en.eq(1),
                    read.addr.eq(Mux(bank_a == b, index_a >> 1, index_b >> 1)),
                ]
        m.d.comb += [rom.addr.eq(twiddle), rom.en.eq(1)]
        # cycle 1: the operands are read; multiply into registers
        valid1, bank1 = Signal(), Signal()
        addr_a1, addr_b1 = Signal(k), Signal(k)
        m.d.sync += [valid1.eq(issue), bank1.eq(bank_a), addr_a1.eq(index_a), addr_b1.eq(index_b)]
        word_a = Mux(bank1, banks[1][0].data, banks[0][0].data)
        word_b = Mux(bank1, banks[0][0].data, banks[1][0].data)
        ar, ai = word_a[:d].as_signed(), word_a[d:].as_signed()
        br, bi = word_b[:d].as_signed(), word_b[d:].as_signed()
        wr = rom.data[: t + 1].as_signed()
        wi = -rom.data[t + 1 :].as_signed()  # exp(-2 pi i k / N)
        valid2, bank2 = Signal(), Signal()
        addr_a2, addr_b2 = Signal(k), Signal(k)
        wide = d + t + 2
        a2r, a2i = Signal(signed(wide)), Signal(signed(wide))
        t2r, t2i = Signal(signed(wide)), Signal(signed(wide))
        m.d.sync += [
            valid2.eq(valid1),
            bank2.eq(bank1),
            addr_a2.eq(addr_a1),
            addr_b2.eq(addr_b1),
            a2r.eq(ar << (t - 1)),
            a2i.eq(ai << (t - 1)),
            t2r.eq(br * wr - bi * wi),
            t2i.eq(br * wi + bi * wr),
        ]
        # cycle 2: one rounding per output, saturation, write back in place
        shift = self._stage_shift(m, stage, inverse)
        outs = [self._round_sat(m, v, shift) for v in (a2r + t2r, a2i + t2i, a2r - t2r, a2i - t2i)]
        new_a, new_b = Cat(outs[0], outs[1]), Cat(outs[2], outs[3])
        for b, (_, write) in enumerate(banks):
            with m.If(valid2):
                mine_a = bank2 == b
                m.d.comb += [
                    write.en.eq(1),
                    write.addr.eq(Mux(mine_a, addr_a2 >> 1, addr_b2 >> 1)),
                    write.data.eq(Mux(mine_a, new_a, new_b)),
                ]

    def _stage_shift(self, m: Module, stage: Signal, inverse: Signal) -> Signal:
        """The current stage's shift s from the (forward or inverse) schedule: constants."""
        shift = Signal(range(9))
        forward = _select(stage, list(self.shift_sets[0]))
        if len(self.shift_sets) > 1:  # multiplexers: defined from time 0 (see _butterflies)
            forward = Mux(inverse, _select(stage, list(self.shift_sets[1])), forward)
        m.d.comb += shift.eq(forward)
        return shift

    def _round_sat(self, m: Module, value: object, shift: Signal) -> Signal:
        """``sat_D(rs(value, T - 1 + shift))``: round half up, arithmetic shift, clamp."""
        d = self.fft_bits
        rounded = Signal(signed(d + self.twiddle_bits + 2))
        used = sorted({s for shifts in self.shift_sets for s in shifts})
        options = []
        for s in used:
            total = self.twiddle_bits - 1 + s
            options.append((value + ((1 << (total - 1)) if total else 0)) >> total)
        # multiplexers (defined from time 0, see _butterflies) keyed by the shift's value
        choice = options[-1]
        for s, option in zip(reversed(used[:-1]), reversed(options[:-1]), strict=True):
            choice = Mux(shift == s, option, choice)
        m.d.comb += rounded.eq(choice)
        top, bottom = (1 << (d - 1)) - 1, -(1 << (d - 1))
        out = Signal(signed(d))
        m.d.comb += out.eq(Mux(rounded > top, top, Mux(rounded < bottom, bottom, rounded)))
        return out


def _select(index: Signal, values: list) -> object:
    """``values[index]`` as a chain of multiplexers (a pure expression: a continuous
    assignment in Verilog); an index past the end gives the last value."""
    out = values[-1]
    for position in reversed(range(len(values) - 1)):
        out = Mux(index == position, values[position], out)
    return out


def pack_complex(re: np.ndarray, im: np.ndarray, bits: int) -> list[int]:
    """(re, im) integer arrays -> ``complex_layout(bits)`` payloads as Python ints."""
    mask = (1 << bits) - 1
    return [(int(r) & mask) | ((int(i) & mask) << bits) for r, i in zip(re, im, strict=True)]


def unpack_complex(words: Sequence[int], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``complex_layout(bits)`` payloads -> (re, im) int64 arrays."""
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)

    def signed_part(v: int) -> int:
        return (v & mask) - ((v & sign) << 1)

    re = [signed_part(w) for w in words]
    im = [signed_part(w >> bits) for w in words]
    return np.array(re, np.int64), np.array(im, np.int64)
