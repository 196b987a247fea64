"""The audio back end: the masked spectrum in, 16-bit PCM out, bit for bit
``bitwave.core.audio.back_end`` (docs/hw.md, "Audio front end (FFT)").

Per frame (bins 0..512 with their mask bits, in bin order, on ``i``):
1. gain: a mask bit 1 keeps the bin, a bit 0 gives ``rs(X * g, G)`` (g the floor gain code);
   the bins go to a 513-word spectrum memory;
2. the inverse FFT (``bitwave.hw.fft`` with ``ifft_shifts``) of ``conj(Y)``: bins 0..512 read
   in order with their imaginary parts negated (zeroed at 0 and 512), then bins 511..1 with
   theirs as they are (the mirrored conjugates); the real part is the frame;
3. overlap-add: ``y[n] * w[n]`` into a 1024-word accumulator ring at position 256 t + n (a
   position no earlier frame covers starts from zero); the first 256 positions of a frame are
   then final: ``sat16(rs(rs(acc, W) * r, out_shift))`` with r from the normalisation ROM
   (``audio.normalisation_rom``: the head value for frame 2, the interior one per hop phase
   from frame 3 on); frames 0 and 1 complete only the padding before the first sample;
4. the end of an utterance: the frame sent with ``end`` = 1 is its last; after it the unit
   flushes the 256 + ``extra`` positions that no later frame completes (``extra`` = the
   utterance's length mod 256, sampled with the frame's first bin) with the tail
   normalisation, and the next frame starts a new utterance; ``last`` (valid with ``o``) marks
   the utterance's last PCM sample, the flush's last.
The last-frame normalisation assumes at least 4 frames (768 samples) per utterance.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core import audio
from bitwave.core.audio import AudioSpec, AudioTables
from bitwave.core.errors import BitwaveError
from bitwave.hw.fft import FFT, frame_cycles
from bitwave.hw.weights import WeightStore

N, HOP, BINS = audio.N_FFT, audio.HOP, audio.N_BINS
MIN_FRAMES = 4  # the normalisation ROM's tail holds for utterances of at least 4 frames
# the ROM: head (frame 2's outputs), interior (one per hop phase), tail (the flush)
HEAD, INTERIOR, TAIL = 0, HOP, 2 * HOP


def bin_layout(bits: int) -> data.StructLayout:
    """One bin of the masked spectrum and its mask bit (``keep``)."""
    return data.StructLayout({"re": signed(bits), "im": signed(bits), "keep": 1})


class AudioBack(wiring.Component):
    """Masked spectrum in (``i``: bins 0..512 per frame, ``end`` and ``extra`` sampled with
    bin 0), PCM out (``o``, with ``last`` on an utterance's last sample). ``floor_gain``: the
    IR's floor (0: a bit 0 zeroes its bin)."""

    def __init__(
        self, spec: AudioSpec, floor_gain: float, table: AudioTables | None = None
    ) -> None:
        self.spec = spec
        self.table = table or audio.tables(spec)
        try:
            self.gain = audio.gain_code(floor_gain, spec)
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        length = MIN_FRAMES * HOP - 1  # 4 frames: head, interior and every tail offset
        self.norm = audio.normalisation_rom(MIN_FRAMES, length, spec, self.table)
        self.acc_bits = spec.fft_bits + spec.window_bits + 3  # 4 frames of y * w, signed
        super().__init__(
            {
                "i": In(stream.Signature(bin_layout(spec.fft_bits))),
                "end": In(1),
                "extra": In(8),
                "o": Out(stream.Signature(signed(audio.PCM_BITS))),
                "last": Out(1),
            }
        )

    def frame_cycles(self, outputs: int = HOP) -> int:
        """Cycles between frames when bins arrive in time and the PCM is taken at once: the
        FFT's loads, run and first read-out cycle; one cycle to see it ready, one to read the
        spectrum, one to see its read-out end; the read-out at the overlap-add's pace (2
        cycles a sample, one more for each of the ``outputs`` that make a PCM sample: 256 from
        frame 2 on, none in frames 0 and 1). Measured in tests/hw/test_hw_audio_back.py."""
        return frame_cycles(audio.STAGES, 0) + 3 + 2 * (N - 1) + outputs

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        m.submodules.fft = fft = FFT(audio.STAGES, spec.fft_bits, spec.twiddle_bits,
                                     spec.ifft_shifts, self.table.cos, self.table.sin)  # fmt: skip
        end, extra = self._spectrum_in(m, fft)
        self._overlap_add(m, fft, end, extra)
        return m

    def _spectrum_in(self, m: Module, fft: FFT) -> tuple[Signal, Signal]:
        """Gather a frame's gained bins, then feed conj(Y) (1024 points) into the FFT."""
        d, gbits = self.spec.fft_bits, self.spec.gain_bits
        m.submodules.spectrum = buf = memory.Memory(shape=2 * d, depth=BINS, init=[])
        write, read = buf.write_port(), buf.read_port()
        k = Signal(range(N + 1), init=N)  # the feed's point; N: no feed
        count = Signal(range(BINS))
        end, extra = Signal(), Signal(8)  # of the gathered frame ...
        feed_end, feed_extra = Signal(), Signal(8)  # ... and of the frame in the FFT

        def gained(part: object) -> object:
            low = (part * self.gain + (1 << (gbits - 1))) >> gbits
            return Mux(self.i.payload.keep, part, low)[:d]  # |low| <= |part|: fits

        m.d.comb += [
            write.addr.eq(count),
            write.data.eq(Cat(gained(self.i.payload.re), gained(self.i.payload.im))),
            read.addr.eq(Mux(k <= BINS - 1, k, N - k)),
        ]
        with m.FSM(name="spectrum_in") as fsm:
            with m.State("GATHER"):
                with m.If(self.i.valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += [end.eq(self.end), extra.eq(self.extra)]
                    with m.If(count == BINS - 1):
                        m.d.sync += count.eq(0)
                        m.next = "WAIT"
            with m.State("WAIT"):  # the FFT takes N points back to back once it is ready
                with m.If(fft.i.ready):
                    m.d.sync += [k.eq(0), feed_end.eq(end), feed_extra.eq(extra)]
                    m.next = "FEED"
            with m.State("FEED"):
                m.d.sync += k.eq(k + 1)
                with m.If(k == N - 1):
                    m.next = "GATHER"
        gathering = fsm.ongoing("GATHER")  # outside the cases: defined from time 0 (Icarus)
        m.d.comb += [self.i.ready.eq(gathering), write.en.eq(gathering & self.i.valid)]
        # one cycle to read, then the conjugate: -im below bin 512 (0 at bins 0 and 512)
        valid, point = Signal(), Signal.like(k)
        m.d.sync += [valid.eq(k < N), point.eq(k)]
        re, im = read.data[:d].as_signed(), read.data[d:].as_signed()
        real_bin = (point == 0) | (point == BINS - 1)
        m.d.comb += [
            fft.i.valid.eq(valid),
            fft.i.payload.re.eq(re),
            fft.i.payload.im.eq(Mux(real_bin, 0, Mux(point < BINS, -im, im))),
        ]
        return feed_end, feed_extra

    def _overlap_add(self, m: Module, fft: FFT, end: Signal, extra: Signal) -> None:
        """Stage 1 takes a time sample (or a flush step) and reads the ring, window and
        normalisation ROMs; stage 2 accumulates, writes back, and makes a PCM sample."""
        spec, acc_bits = self.spec, self.acc_bits
        m.submodules.ring = ring = memory.Memory(shape=signed(acc_bits), depth=N, init=[])
        ring_w, ring_r = ring.write_port(), ring.read_port()
        m.submodules.window = window = WeightStore(
            [int(v) for v in self.table.window], spec.window_bits, writable=False
        )
        m.submodules.norm = norm = WeightStore(
            [int(v) for v in self.norm], max(1, int(self.norm.max()).bit_length()), False
        )
        base = Signal(range(N))  # ring position of the frame's sample 0 (256 t mod 1024)
        frame = Signal(range(4))  # frames of the utterance so far, saturating at 3
        n = Signal(range(N + 1))  # the frame's sample; then the flush's offset
        flush_left = Signal(range(2 * HOP))
        flushing = Signal()
        stall = Signal()
        take = fft.o.valid & fft.o.ready
        m.d.comb += fft.o.ready.eq(~flushing & ~stall)
        step = take | (flushing & ~stall)
        m.d.comb += [
            ring_r.addr.eq(base + n),
            ring_r.en.eq(step),
            window.addr.eq(n),
            window.en.eq(step),
            norm.addr.eq(Mux(flushing, TAIL + n, Mux(frame == 2, HEAD + n[:8], INTERIOR + n[:8]))),
            norm.en.eq(step),
        ]
        # stage 2 registers
        v2, out2, fresh2, add2 = Signal(), Signal(), Signal(), Signal()
        pos2, y2, last2 = Signal(range(N)), Signal(signed(spec.fft_bits)), Signal()
        m.d.sync += [
            v2.eq(step),
            out2.eq(flushing | ((n < HOP) & (frame >= 2))),
            last2.eq(flushing & (flush_left == 0)),
            fresh2.eq((frame == 0) | (n >= N - HOP)),
            add2.eq(~flushing),
            pos2.eq(base + n),
            y2.eq(fft.o.payload.re),
        ]
        m.d.comb += stall.eq(v2 | self.o.valid)  # one sample at a time: output ready first
        with m.If(step):
            m.d.sync += n.eq(n + 1)
        with m.If(take & (n == N - 1)):  # the frame's last sample: the next frame, or a flush
            m.d.sync += [n.eq(0), base.eq(base + HOP), frame.eq(Mux(frame == 3, 3, frame + 1))]
            with m.If(end):
                m.d.sync += [flushing.eq(1), flush_left.eq(HOP + extra - 1)]
        with m.If(flushing & step):
            with m.If(flush_left == 0):  # the utterance is done: the next one starts afresh
                m.d.sync += [flushing.eq(0), n.eq(0), base.eq(0), frame.eq(0)]
            with m.Else():
                m.d.sync += flush_left.eq(flush_left - 1)
        product = y2 * window.data
        total = Signal(signed(acc_bits))
        m.d.comb += total.eq(Mux(add2, Mux(fresh2, 0, ring_r.data) + product, ring_r.data))
        m.d.comb += [ring_w.addr.eq(pos2), ring_w.data.eq(total), ring_w.en.eq(v2 & add2)]
        self._pcm_out(m, v2 & out2, total, norm.data, last2)

    def _pcm_out(self, m: Module, valid: Signal, total: Signal, r: Signal, last: Signal) -> None:
        """``sat16(rs(rs(acc, W) * r, out_shift))`` into the output register."""
        w, shift = self.spec.window_bits, self.spec.output_shift
        scaled = ((total + (1 << (w - 1))) >> w) * r
        rounded = (scaled + (1 << (shift - 1))) >> shift if shift else scaled
        top = (1 << (audio.PCM_BITS - 1)) - 1
        sample = Mux(rounded > top, top, Mux(rounded < -top - 1, -top - 1, rounded))
        with m.If(valid):
            m.d.sync += [self.o.payload.eq(sample), self.last.eq(last), self.o.valid.eq(1)]
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
