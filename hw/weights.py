"""Weight storage for a folded layer, one word per fold step.

The words and their layout (which weight sits in which word at which bits) are the op's
schedule: ``bitwave.core.ops.base.WeightLayout``; this module only builds the store.

Two styles:
- ``const``: a ROM (``amaranth.lib.memory.Memory`` with no write port, init = the IR's
  weights); synthesis folds it into logic. (A fully parallel constant layer has no store at
  all: the weights become wires and inverters, see ``bitwave.hw.popcount``.)
- ``memory``: the same memory with a write port, so weights can be (re)loaded at run time.
Both read synchronously: data appears one cycle after the address, in the cycles after one
with ``en`` high (the data hold otherwise, so an idle engine's read register takes no new
value and synthesis can gate its clock).
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

STORAGE_STYLES = ("const", "memory")


def address_width(depth: int) -> int:
    """Address bits for ``depth`` words; at least 1 so that no port has zero width."""
    return max(1, (depth - 1).bit_length())


def write_signature(addr_bits: int, data_bits: int) -> wiring.Signature:
    """A simple synchronous write port: on a rising edge with ``en`` high, word ``addr`` := ``data``."""
    return wiring.Signature({"en": Out(1), "addr": Out(addr_bits), "data": Out(data_bits)})


class WeightStore(wiring.Component):
    """``depth`` words of ``word_bits``, read synchronously at ``addr``; writable if asked."""

    def __init__(self, words: Sequence[int], word_bits: int, writable: bool) -> None:
        self.words = list(words)
        self.depth = len(self.words)
        self.word_bits = word_bits
        self.writable = writable
        self.addr_bits = address_width(self.depth)
        signature = {"addr": In(self.addr_bits), "en": In(1, init=1), "data": Out(word_bits)}
        if writable:
            signature["wr"] = In(write_signature(self.addr_bits, word_bits))
        super().__init__(signature)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # a one-word store keeps a second (unused) word: a zero-width address is not valid Verilog
        words = self.words + [0] * max(0, 2 - self.depth)
        m.submodules.mem = mem = memory.Memory(shape=self.word_bits, depth=len(words), init=words)
        read = mem.read_port()
        m.d.comb += [read.addr.eq(self.addr), read.en.eq(self.en), self.data.eq(read.data)]
        if self.writable:
            write = mem.write_port()
            in_range = self.wr.addr < self.depth
            m.d.comb += [
                write.addr.eq(self.wr.addr),
                write.data.eq(self.wr.data),
                write.en.eq(self.wr.en & in_range),
            ]
        return m
