"""Stream framing between the outside world (narrow beats) and the layers (whole frames).

A frame is the flattened codes of a layer's input or output: element e (a bipolar bit or a
uint<k> code) occupies frame bits [e*k, (e+1)*k), LSB first; beat b carries frame bits
[b*B, (b+1)*B) with frame bit b*B at data bit 0, and the last beat is zero-padded.
``FrameDeserializer`` collects beats into a frame, ``FrameSerializer`` cuts a frame into
beats. The same mapping in Python (for the generator's checks and every testbench) is
``bitwave.core.codec``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.codec import beats_per_frame


class FrameDeserializer(wiring.Component):
    """Beats in (``i``), whole frames out (``o``). Accepts one beat per cycle; the next frame's
    first beat may arrive in the cycle the finished frame is taken. Side inputs sampled with a
    frame's first beat ride above the frame on ``o``, in this order: with ``flag`` the 1-bit
    ``start`` (a recurrent network's sequence-start flag), with ``tag_bits`` the ``tag`` (a
    multi-exit network's exit selector)."""

    def __init__(
        self, frame_bits: int, beat_bits: int, flag: bool = False, tag_bits: int = 0
    ) -> None:
        self.frame_bits, self.beat_bits, self.flag = frame_bits, beat_bits, flag
        self.tag_bits = tag_bits
        self.beats = beats_per_frame(frame_bits, beat_bits)
        # (port, register name, bits) of each side input, in payload order above the frame
        self.sides = [("start", "flag", 1)] if flag else []
        if tag_bits:
            self.sides.append(("tag", "frame_tag", tag_bits))
        side_bits = sum(bits for _, _, bits in self.sides)
        signature = {
            "i": In(stream.Signature(beat_bits)),
            "o": Out(stream.Signature(frame_bits + side_bits)),
        }
        for port, _, bits in self.sides:
            signature[port] = In(bits)
        super().__init__(signature)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        buffer = Signal(self.beats * self.beat_bits)
        index = Signal(range(max(2, self.beats)))
        frame = buffer[: self.frame_bits]
        for port, name, bits in self.sides:
            held = Signal(bits, name=name)
            with m.If(self.i.valid & self.i.ready & (index == 0)):
                m.d.sync += held.eq(getattr(self, port))
            frame = Cat(frame, held)
        m.d.comb += [
            self.o.payload.eq(frame),
            self.i.ready.eq(~self.o.valid | self.o.ready),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            if self.beats == 1:
                m.d.sync += buffer.eq(self.i.payload)
            else:
                m.d.sync += buffer.word_select(index, self.beat_bits).eq(self.i.payload)
            with m.If(index == self.beats - 1):
                m.d.sync += [index.eq(0), self.o.valid.eq(1)]
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m


class FrameSerializer(wiring.Component):
    """Whole frames in (``i``), beats out (``o``); the next frame is taken in the cycle the last
    beat of the current one transfers. ``buffered`` (double buffering): the frame is copied
    into the serializer's own register when taken, freeing the upstream stage at once, and
    beat 0 is valid from the next cycle. Unbuffered (single buffering): the beats are cut
    straight out of the upstream frame register, beat 0 valid in the cycle the frame is, and
    the frame is taken with its last beat; only the beat index is registered."""

    def __init__(self, frame_bits: int, beat_bits: int, buffered: bool = True) -> None:
        self.frame_bits, self.beat_bits, self.buffered = frame_bits, beat_bits, buffered
        self.beats = beats_per_frame(frame_bits, beat_bits)
        super().__init__(
            {"i": In(stream.Signature(frame_bits)), "o": Out(stream.Signature(beat_bits))}
        )

    def elaborate(self, platform: object) -> Module:
        if not self.buffered:
            return self._unbuffered()
        m = Module()
        buffer = Signal(self.beats * self.beat_bits)
        index = Signal(range(max(2, self.beats)))
        last = index == self.beats - 1
        done = self.o.valid & self.o.ready & last
        m.d.comb += [
            self.o.payload.eq(
                buffer.word_select(index, self.beat_bits) if self.beats > 1 else buffer
            ),
            self.i.ready.eq(~self.o.valid | done),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += index.eq(Mux(last, 0, index + 1))
            with m.If(last):
                m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [buffer.eq(self.i.payload), self.o.valid.eq(1)]
        return m

    def _unbuffered(self) -> Module:
        m = Module()
        index = Signal(range(max(2, self.beats)))
        last = index == self.beats - 1
        frame = Signal(self.beats * self.beat_bits)  # the upstream frame, last beat zero-padded
        m.d.comb += [
            frame.eq(self.i.payload),
            self.o.payload.eq(
                frame.word_select(index, self.beat_bits) if self.beats > 1 else frame
            ),
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready & last),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += index.eq(Mux(last, 0, index + 1))
        return m
