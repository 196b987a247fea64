"""The full speech-enhancement chip: 16-bit PCM in, enhanced 16-bit PCM out (docs/hw.md, "The
full chip"; the contract of issue #16), bit for bit ``bitwave.core.golden.run_audio`` per
utterance.

    pcm_in -> front (AudioFront) --frame--> network (NetworkTop) --mask--> buffer -> back -> pcm_out
                    \\------------spectrum-----------------------------> buffer /

- ``front`` frames, windows and transforms the samples, pads each utterance (``last``) and
  codes each frame into the network's bit-planes; its FFT read-out also hands the frame's
  spectrum (bins 0..512) to the ``buffer``.
- ``network`` takes a frame in one beat and gives its 513 mask bits in one beat; a recurrent
  network's sequence-start flag is the frame's ``first``, a multi-exit network's selector the
  utterance's exit.
- ``buffer`` (``SpectrumBuffer``) holds ONE frame's spectrum until that frame's mask arrives,
  then streams bins and mask bits into ``back``; the front end's read-out of the next frame
  waits until then. One frame in flight bounds the buffer to 513 words and keeps frames,
  masks and the sideband in order without tags; the two FFTs still overlap with the network
  and with each other. The chip's rate is the back end's, or, for a slow network, the loop's
  (read-out, coding, network latency, hand-over: ``loop_cycles``, ``cycles_per_frame``).
- ``back`` gains, inverse-transforms and overlap-adds; ``end``/``extra`` come with the frame
  from the front end's sideband (stable until the front end reads out the next frame, which
  the buffer holds back until this frame is in the back end).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core import audio
from bitwave.core.audio import AudioSpec, AudioTables
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Network, ValueType
from bitwave.hw.audio_back import MIN_FRAMES, AudioBack, bin_layout
from bitwave.hw.audio_front import AudioFront
from bitwave.hw.exits import EXIT_PORT
from bitwave.hw.fft import complex_layout
from bitwave.hw.folding import LayerFold
from bitwave.hw.network import START_PORT, NetworkTop
from bitwave.hw.weights import STORAGE_STYLES, write_signature

BINS = audio.N_BINS
MIN_UTTERANCE_SAMPLES = (MIN_FRAMES - 1) * audio.HOP  # 4 frames; shorter: refused by the tools
PARTS = ("front", "network", "back", "buffer")  # submodule names: Verilog module prefixes


def pcm_in_layout(exit_bits: int = 0) -> data.StructLayout:
    """``pcm_in``'s payload, LSB first: the sample, ``last``, and a multi-exit network's exit."""
    fields = {"sample": signed(audio.PCM_BITS), "last": 1}
    return data.StructLayout({**fields, "exit": exit_bits} if exit_bits else fields)


def pcm_out_layout() -> data.StructLayout:
    """``pcm_out``'s payload, LSB first: the sample and ``last``."""
    return data.StructLayout({"sample": signed(audio.PCM_BITS), "last": 1})


def require_audio_network(net: Network) -> int:
    """The coding's bit-planes per bin of a network that can take and make audio (the checks
    of ``golden.audio_front`` and ``golden.run_audio``), else one BitwaveError."""
    if net.coding is None or net.coding.features != BINS:
        raise BitwaveError(
            f"network {net.name!r} cannot take audio: the full chip needs a bit-plane input "
            f"coding of {BINS} magnitude bins (an IR exported from an audio model)"
        )
    if net.output_type != ValueType("bipolar") or net.output_width != BINS:
        raise BitwaveError(
            f"network {net.name!r} cannot make audio: the full chip needs one mask bit per bin "
            f"({BINS} x bipolar out), it outputs {net.output_width} x {net.output_type}"
        )
    return net.coding.bits


class SpectrumBuffer(wiring.Component):
    """One frame's spectrum (``i``: bins 0..512 as the FFT reads them out) held until its mask
    (``mask``: 513 bits, bit k = bin k's) is valid, then bins with their mask bits on ``o``;
    the mask is taken with the last bin, and only then does ``i`` take the next frame."""

    def __init__(self, fft_bits: int) -> None:
        self.fft_bits = fft_bits
        super().__init__(
            {
                "i": In(stream.Signature(complex_layout(fft_bits))),
                "mask": In(stream.Signature(BINS)),
                "o": Out(stream.Signature(bin_layout(fft_bits))),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        d = self.fft_bits
        m.submodules.words = words = memory.Memory(shape=2 * d, depth=BINS, init=[])
        write, read = words.write_port(), words.read_port()
        count = Signal(range(BINS))  # the next bin written
        full = Signal()
        fill = self.i.valid & ~full
        m.d.comb += [
            self.i.ready.eq(~full),
            write.addr.eq(count),
            write.data.eq(self.i.payload.as_value()),
            write.en.eq(fill),
        ]
        with m.If(fill):
            m.d.sync += count.eq(Mux(count == BINS - 1, 0, count + 1))
            with m.If(count == BINS - 1):
                m.d.sync += full.eq(1)
        k = Signal(range(BINS + 1))  # the next bin read
        current = Signal(range(BINS))  # the bin on ``o``
        advance = ~self.o.valid | self.o.ready
        issue = advance & full & self.mask.valid & (k < BINS)
        m.d.comb += [read.addr.eq(k), read.en.eq(issue)]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(issue)
        with m.If(issue):
            m.d.sync += [current.eq(k), k.eq(k + 1)]
        done = self.o.valid & self.o.ready & (current == BINS - 1)
        m.d.comb += [
            self.o.payload.re.eq(read.data[:d].as_signed()),
            self.o.payload.im.eq(read.data[d:].as_signed()),
            self.o.payload.keep.eq(self.mask.payload.bit_select(current, 1)),
            self.mask.ready.eq(done),
        ]
        with m.If(done):
            m.d.sync += [full.eq(0), k.eq(0)]
        return m


class AudioChip(wiring.Component):
    """PCM in (``pcm_in``), enhanced PCM out (``pcm_out``), payloads ``pcm_in_layout`` and
    ``pcm_out_layout``; a memory-weights network's ``wmem`` bus is passed through.
    ``thresholds``: ``audio.coding_thresholds`` of the IR's boundaries (or a mutated copy);
    ``table``: the ROMs (default ``audio.tables(spec)``; a mutated copy for twins)."""

    def __init__(
        self,
        net: Network,
        folds: dict[str, LayerFold],
        spec: AudioSpec,
        thresholds: np.ndarray,
        floor_gain: float,
        weight_storage: str = "const",
        table: AudioTables | None = None,
    ) -> None:
        if weight_storage not in STORAGE_STYLES:
            self._MustUse__silence = True
            raise BitwaveError(f"weights {weight_storage!r}: expected one of {STORAGE_STYLES}")
        try:
            bits = require_audio_network(net)
        except BitwaveError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        self.net, self.spec = net, spec
        self.network = NetworkTop(net, folds, weight_storage, 1 << 20, 1 << 20)  # one beat each
        self.exit_bits = self.network.exit_plan.tag_bits if net.exits else 0
        try:
            self.front = AudioFront(spec, thresholds, bits, table, self.exit_bits)
            self.back = AudioBack(spec, floor_gain, table)
        except BitwaveError:
            self.network.discard()
            self._MustUse__silence = True
            raise
        self.buffer = SpectrumBuffer(spec.fft_bits)
        self.weight_storage = weight_storage
        self.twin = False  # the generator marks a chip built with a twin's ROMs or thresholds
        signature = {
            "pcm_in": In(stream.Signature(pcm_in_layout(self.exit_bits))),
            "pcm_out": Out(stream.Signature(pcm_out_layout())),
        }
        if weight_storage == "memory":
            top = self.network
            signature["wmem"] = In(write_signature(top.wmem_addr_bits, top.wmem_data_bits))
        super().__init__(signature)

    def discard(self) -> None:
        """Mark the chip and its parts as intentionally never elaborated (e.g. rejected)."""
        self.network.discard()
        for part in (self, self.front, self.back, self.buffer):
            part._MustUse__silence = True

    def exit_loop_cycles(self, k: int) -> int:
        """The one-frame loop (docs/hw.md, "The full chip") for frames at exit ``k``: the
        front end reads frame t + 1 out only once the buffer has handed frame t to the back
        end, so one frame is in flight at a time and a frame costs, first bin read out to the
        next frame's: 513 bins read out + 2 (the coding pipeline: the frame is valid 514
        cycles after its first bin), the network's latency at exit ``k`` + 1 (frame valid to
        mask valid), 1 (the buffer issues its first read) + 513 bins into the back end, 1
        (the buffer frees). A multi-exit chip's loop is shorter at an earlier exit."""
        return (BINS + 1) + (self.network.exit_latency_cycles(k) + 1) + (BINS + 1)

    @property
    def loop_cycles(self) -> int:
        """``exit_loop_cycles`` at the slowest exit (the only one of a single-exit chip)."""
        return max(map(self.exit_loop_cycles, range(self.network.exit_plan.n_exits)))

    def exit_cycles_per_frame(self, k: int) -> int:
        """Steady-state cycles between frames of an utterance at exit ``k`` when samples
        arrive at once and PCM is taken at once: ``max(front, back, loop)``, the largest of
        the front end's own period (``AudioFront.cycles_per_frame``, always below the back
        end's), the back end's (``AudioBack.frame_cycles``: its FFT's loads, run and the
        overlap-add read-out) and the one-frame loop at that exit (``exit_loop_cycles``).
        Every other cycle through the parts (e.g. the back end's feed, then the loop) is
        shorter than one of these, so the largest is the period exactly (measured in
        tests/sim/test_sim_chip.py, tests/sim/test_sim_chip_networks.py, several foldings)."""
        own = max(self.front.cycles_per_frame, self.back.frame_cycles())
        return max(own, self.exit_loop_cycles(k))

    @property
    def exits_cycles_per_frame(self) -> list[int]:
        """``exit_cycles_per_frame`` of every exit (index = exit; one entry without exits)."""
        return [self.exit_cycles_per_frame(k) for k in range(self.network.exit_plan.n_exits)]

    @property
    def cycles_per_frame(self) -> int:
        """The claimed steady state at the slowest exit (``exit_cycles_per_frame``): the rate
        every utterance sustains, whatever its exit."""
        return max(self.exits_cycles_per_frame)

    @property
    def latency_cycles(self) -> int:
        """Cycles from the start of a frame's window pass to its first PCM sample when no part
        is busy with another frame, derived as ``loop_cycles`` is (not measured): the front
        end's window, FFT and read-out up to the coded frame (its ``cycles_per_frame`` + 1),
        the network (latency + 1), the buffer's first bin (2) and its 513 bins, and the back
        end's loads, run and first sample (``AudioBack.frame_cycles`` without the
        overlap-add's read-out)."""
        back = self.back.frame_cycles(0) - 2 * (audio.N_FFT - 1)
        front = self.front.cycles_per_frame + 1
        return front + self.network.latency_cycles + 1 + 2 + BINS + back

    def elaborate(self, platform: object) -> Module:
        m = Module()
        front, network, back, buffer = self.front, self.network, self.back, self.buffer
        m.submodules.front, m.submodules.network = front, network
        m.submodules.back, m.submodules.buffer = back, buffer
        pcm_in, pcm_out = self.pcm_in, self.pcm_out
        m.d.comb += [
            front.i.payload.eq(pcm_in.payload.sample),
            front.last.eq(pcm_in.payload.last),
            front.i.valid.eq(pcm_in.valid),
            pcm_in.ready.eq(front.i.ready),
        ]
        wiring.connect(m, front.o, network.data_in)
        if network.recurrent:
            m.d.comb += getattr(network, START_PORT).eq(front.side.first)
        if self.exit_bits:
            m.d.comb += [front.exit.eq(pcm_in.payload.exit),
                         getattr(network, EXIT_PORT).eq(front.side.exit)]  # fmt: skip
        wiring.connect(m, front.spectrum, buffer.i)
        wiring.connect(m, network.data_out, buffer.mask)
        wiring.connect(m, buffer.o, back.i)
        m.d.comb += [back.end.eq(front.side.end), back.extra.eq(front.side.extra)]
        m.d.comb += [
            pcm_out.payload.sample.eq(back.o.payload),
            pcm_out.payload.last.eq(back.last),
            pcm_out.valid.eq(back.o.valid),
            back.o.ready.eq(pcm_out.ready),
        ]
        if self.weight_storage == "memory":
            wiring.connect(m, wiring.flipped(self.wmem), network.wmem)
        return m
