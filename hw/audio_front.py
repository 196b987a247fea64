"""The audio front end: 16-bit PCM samples in, the network's input frames out, bit for bit
``bitwave.core.audio.front_end`` (docs/hw.md, "Audio front end (FFT)").

Per frame (1024 samples, hop 256, frame t centred on sample 256 t):
1. framing: a 1024-sample history memory (a ring); after reset it counts as holding 512 zero
   samples, so the first frame is ready after 512 samples and every 256 samples after that;
   entries older than the first sample since reset read as zero (no clearing pass);
2. window: each sample times the Hann ROM, ``rs(x * w, W - g)``, loaded into the FFT unit
   (``bitwave.hw.fft``) one per cycle;
3. the FFT's bins 0..512, the squared magnitude ``P = re^2 + im^2`` (exact);
4. the coding: level ``#{j : P >= thr[f, j]}`` against the integer thresholds
   (``audio.coding_thresholds`` of the IR's boundaries; a ROM word per bin, or constants when
   all bins share one row), written MSB first into the output frame: element f * bits + b of
   the frame is bit (bits - 1 - b) of bin f's level, the IR's ``bitplanes`` order and the
   network's input frame (``bitwave.core.codec``).

Ports: ``i`` (stream of signed 16-bit samples) with ``last`` (1 on an utterance's last sample)
and, with ``exit_bits``, ``exit`` (sampled with an utterance's first sample); ``o`` (stream of
whole frames, 513 * bits bits, the first layer's input) with its sideband ``side`` (``first``:
frame 0 of an utterance, ``end``: its last frame, ``extra``: its length mod 256, ``exit``),
valid from the frame's first bin read-out until the next frame's; ``spectrum`` (stream of the
FFT's bins 0..512, re and im, in bin order, for the back end). After a ``last`` sample the unit
feeds 512 - (length mod 256) zero samples into its framing itself (the golden model's padding),
so the utterance's last frame is the golden model's last, then restarts as after reset: the
next utterance's first frame sees zeros before it. Backpressure runs all the way back: a frame
or a bin not taken holds the FFT's read-out, which holds the next frame's load, which holds
the samples.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core import audio
from bitwave.core.audio import AudioSpec, AudioTables
from bitwave.core.errors import BitwaveError
from bitwave.hw.fft import FFT, complex_layout, frame_cycles
from bitwave.hw.weights import WeightStore

# the cycles from a history read to the windowed sample at the FFT's input
WINDOW_PIPELINE = 2
EXTRA_BITS = (audio.HOP - 1).bit_length()  # an utterance's length mod 256


def side_layout(exit_bits: int) -> data.StructLayout:
    """A frame's sideband: frame 0 of its utterance, the utterance's last frame, the
    utterance's length mod 256, and (with ``exit_bits``) the utterance's exit."""
    fields = {"first": 1, "end": 1, "extra": EXTRA_BITS}
    return data.StructLayout({**fields, "exit": exit_bits} if exit_bits else fields)


class AudioFront(wiring.Component):
    """PCM in, network input frames out. ``thresholds``: (513 or 1, levels - 1) integer
    thresholds on P; ``bits``: bit-planes per bin; ``table``: the ROMs (default
    ``audio.tables(spec)``; a mutated copy for the verification's twins)."""

    def __init__(
        self,
        spec: AudioSpec,
        thresholds: np.ndarray,
        bits: int,
        table: AudioTables | None = None,
        exit_bits: int = 0,
    ) -> None:
        self.spec, self.bits, self.exit_bits = spec, bits, exit_bits
        self.table = table or audio.tables(spec)
        self.thresholds = np.asarray(thresholds)
        try:
            self._check()
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        self.levels = self.thresholds.shape[1]
        self.power_bits = 2 * spec.fft_bits  # P <= 2^(2D - 1); thresholds capped at that + 1
        self.frame_bits = audio.N_BINS * bits
        signature = {
            "i": In(stream.Signature(signed(audio.PCM_BITS))),
            "last": In(1),
            "o": Out(stream.Signature(self.frame_bits)),
            "side": Out(side_layout(exit_bits)),
            "spectrum": Out(stream.Signature(complex_layout(spec.fft_bits))),
        }
        if exit_bits:
            signature["exit"] = In(exit_bits)
        super().__init__(signature)

    def _check(self) -> None:
        thr = self.thresholds
        if not 1 <= self.bits <= 8:
            raise BitwaveError(f"{self.bits} bit-planes per bin; allowed: 1 to 8")
        top = 1 << (2 * self.spec.fft_bits)
        if (
            thr.ndim != 2
            or thr.shape[0] not in (1, audio.N_BINS)
            or not 1 <= thr.shape[1] < 1 << self.bits
            or thr.dtype.kind not in "iu"
            or thr.min() < 0
            or thr.max() >= top
        ):
            raise BitwaveError(
                f"coding thresholds {thr.dtype} {thr.shape}; allowed: integers in [0, 2^"
                f"{2 * self.spec.fft_bits}) of shape (1 or {audio.N_BINS}, 1 to "
                f"{(1 << self.bits) - 1}) (audio.coding_thresholds)"
            )

    def _fft(self) -> FFT:
        spec = self.spec
        return FFT(audio.STAGES, spec.fft_bits, spec.twiddle_bits, spec.fft_shifts,
                   self.table.cos, self.table.sin, outputs=audio.N_BINS)  # fmt: skip

    @property
    def cycles_per_frame(self) -> int:
        """Cycles between frames when samples arrive faster than the FFT's loop (the FFT's own
        cycles per frame, one cycle to see it ready, the window pipeline); the coding follows
        the read-out bin by bin (measured in tests/hw/test_hw_audio_front.py). At 16 kHz a
        frame arrives every 256 samples: the chip needs only this many cycles per 16 ms."""
        return frame_cycles(audio.STAGES, audio.N_BINS) + 1 + WINDOW_PIPELINE

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.fft = fft = self._fft()
        self._framing(m, fft)
        self._coding(m, fft)
        return m

    def _framing(self, m: Module, fft: FFT) -> None:
        """History ring, frame trigger (with the utterance's padding), and the window pass
        into the FFT."""
        n, spec = audio.N_FFT, self.spec
        m.submodules.history = history = memory.Memory(shape=signed(16), depth=n, init=[])
        write, read = history.write_port(), history.read_port()
        m.submodules.window = window = WeightStore(
            [int(v) for v in self.table.window], spec.window_bits, writable=False
        )
        head = Signal(range(n), init=n // 2)  # next write; the oldest sample of a frame
        real = Signal(range(n + 1))  # samples of the utterance (saturating): older ones read 0
        index = Signal(range(n + 1), init=n)  # the window pass's sample; n: no pass
        padding = Signal()  # feeding the zeros after an utterance's last sample
        sample = Mux(padding, 0, self.i.payload)
        m.d.comb += [write.addr.eq(head), write.data.eq(sample)]
        m.d.comb += [read.addr.eq(head + index), window.addr.eq(index), window.en.eq(1)]
        restart = self._utterance(m, fft, write.en, head, real, index, padding)
        with m.If(restart):  # the next utterance's first frame sees zeros before it
            m.d.sync += real.eq(0)
        # the pipeline: read (index), multiply and round (registered), the FFT's input
        issued, zero = Signal(), Signal()
        m.d.sync += [issued.eq(index < n), zero.eq(index < n - real)]
        self._window(m, fft, read.data, window.data, issued, zero)

    def _utterance(self, m: Module, fft: FFT, write_en: Signal, head: Signal, real: Signal,
                   index: Signal, padding: Signal) -> Signal:  # fmt: skip
        """The framing FSM: take samples (or pad zeros), trigger frames at hop boundaries,
        run the window pass; the frame's sideband follows it into the FFT. Returns the signal
        that restarts the framing (the end of an utterance's last window pass)."""
        n, hop_bits = audio.N_FFT, audio.HOP.bit_length() - 1
        pad_left = Signal(range(n // 2))
        ending = Signal()  # the frame being filled is the utterance's last
        first = Signal(init=1)  # the next frame is an utterance's first
        starting = Signal(init=1)  # the next sample is an utterance's first
        extra = Signal(EXTRA_BITS)
        utterance_exit = Signal(max(1, self.exit_bits))
        in_fft = Signal(side_layout(self.exit_bits))  # the sideband of the frame in the FFT
        restart = Signal()
        length = (head + 1)[:hop_bits]  # samples of the utterance mod 256 (frames hop-aligned)
        with m.FSM(name="framing") as fsm:
            with m.State("FILL"):
                with m.If(padding | self.i.valid):
                    m.d.sync += [head.eq(head + 1), real.eq(Mux(real == n, n, real + 1))]
                    with m.If(padding):
                        m.d.sync += pad_left.eq(pad_left - 1)
                        with m.If(pad_left == 0):
                            m.d.sync += [padding.eq(0), ending.eq(1)]
                    with m.Else():
                        if self.exit_bits:
                            with m.If(starting):
                                m.d.sync += utterance_exit.eq(self.exit)
                        m.d.sync += starting.eq(0)
                        with m.If(self.last):
                            m.d.sync += [padding.eq(1), pad_left.eq(n // 2 - 1 - length),
                                         extra.eq(length)]  # fmt: skip
                    # a frame ends here: a hop boundary, at least 512 samples of the utterance
                    with m.If((length == 0) & (real + 1 >= n // 2)):
                        m.next = "WAIT"
            with m.State("WAIT"):  # the FFT takes N samples back to back once it is ready
                with m.If(fft.i.ready):
                    m.d.sync += [index.eq(0), in_fft.first.eq(first), in_fft.end.eq(ending),
                                 in_fft.extra.eq(extra), first.eq(0), ending.eq(0)]  # fmt: skip
                    if self.exit_bits:
                        m.d.sync += in_fft.exit.eq(utterance_exit)
                    m.next = "WINDOW"
            with m.State("WINDOW"):
                m.d.sync += index.eq(index + 1)
                with m.If(index == n - 1):
                    m.d.comb += restart.eq(in_fft.end)
                    m.next = "FILL"
        # outside the FSM's cases: a continuous assignment, defined from time 0 in every
        # simulator (an ``always @*`` case of a state that has not changed yet is X in Icarus)
        filling = fsm.ongoing("FILL")
        m.d.comb += [self.i.ready.eq(filling & ~padding),
                     write_en.eq(filling & (padding | self.i.valid))]  # fmt: skip
        with m.If(restart):
            m.d.sync += [first.eq(1), starting.eq(1)]
        self._in_fft = in_fft
        return restart

    def _window(self, m: Module, fft: FFT, sample: Signal, weight: Signal, issued: Signal,
                zero: Signal) -> None:  # fmt: skip
        """``rs(x * w, W - g)`` into the FFT, one cycle after the history read."""
        spec = self.spec
        product = Mux(zero, 0, sample) * weight
        windowed = Signal(signed(spec.fft_bits))
        valid = Signal()
        shift = spec.window_bits - spec.input_shift
        bias = (1 << (shift - 1)) if shift else 0
        m.d.sync += [windowed.eq((product + bias) >> shift), valid.eq(issued)]
        m.d.comb += [fft.i.payload.re.eq(windowed), fft.i.payload.im.eq(0), fft.i.valid.eq(valid)]

    def _threshold_words(self) -> list[int]:
        width = self.power_bits
        return [sum(int(v) << (j * width) for j, v in enumerate(row)) for row in self.thresholds]

    def _coding(self, m: Module, fft: FFT) -> None:
        """Stage 1 takes a bin: P registered, the bin's threshold word read; stage 2 counts the
        thresholds P reaches and writes the level, MSB first, into the output frame."""
        width, bits = self.power_bits, self.bits
        frame = Signal(self.frame_bits)
        bin_index = Signal(range(audio.N_BINS + 1))
        take = fft.o.valid & fft.o.ready
        m.d.comb += [
            fft.o.ready.eq(~self.o.valid & self.spectrum.ready),
            self.o.payload.eq(frame),
            self.spectrum.valid.eq(fft.o.valid & ~self.o.valid),
            self.spectrum.payload.eq(fft.o.payload),
        ]
        with m.If(take & (bin_index == 0)):  # the frame's sideband, until the next frame's
            m.d.sync += self.side.eq(self._in_fft)
        with m.If(take):
            m.d.sync += bin_index.eq(Mux(bin_index == audio.N_BINS - 1, 0, bin_index + 1))
        power = Signal(unsigned(width))
        re, im = fft.o.payload.re, fft.o.payload.im
        valid2, bin2 = Signal(), Signal.like(bin_index)
        m.d.sync += [valid2.eq(take), bin2.eq(bin_index)]
        with m.If(take):
            m.d.sync += power.eq(re * re + im * im)
        if self.thresholds.shape[0] == 1:  # one row for every bin: constants
            word = Const(self._threshold_words()[0], self.levels * width)
        else:
            m.submodules.thresholds = rom = WeightStore(
                self._threshold_words(), self.levels * width, writable=False
            )
            m.d.comb += [rom.addr.eq(bin_index), rom.en.eq(take)]
            word = rom.data
        reached = [power >= word[j * width : (j + 1) * width] for j in range(self.levels)]
        level = Signal(bits)  # levels < 2^bits: the count fits
        m.d.comb += level.eq(sum(reached))
        code = Cat(*[level[b] for b in reversed(range(bits))])  # plane 0 = the MSB
        with m.If(valid2):
            m.d.sync += frame.word_select(bin2, bits).eq(code)
            with m.If(bin2 == audio.N_BINS - 1):
                m.d.sync += self.o.valid.eq(1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
