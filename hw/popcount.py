"""Popcount as an explicit full-adder / half-adder compressor tree.

The tree is built column by column (weight 2^k), always combining the three earliest-ready
bits of a column (a timing-driven Wallace/Dadda reduction), until each column holds one bit:
the binary count. Every full adder is written as its own ``sum = a ^ b ^ c`` and
``carry = maj(a, b, c)`` signals so that synthesis (Yosys ``extract_fa``) maps each one onto a
full-adder cell; there is no chain of ``+``.

Constant weights cost no gates. With a constant weight, XNOR(x, w) is either x (w = +1) or
~x (w = -1). Instead of spending an inverter on each ~x we write ~x = 1 - x: the bit x enters
the tree as a *negabit* (weight -2^k) and 1 goes into a constant. A full adder is self-dual,
FA(~a, ~b, ~c) = ~FA(a, b, c), which in negabit terms reads -(a + b + c) = -(s + 2c): three
negabits compress into a negabit sum and a negabit carry with the very same cell. Likewise a
half adder on two negabits gives negabits. Only where a column's leftovers mix polarities is
one bit inverted (about one inverter per column, O(log N) in all), which moves another
constant. The accumulated constant is finally injected as constant-1 bits into the columns
where it has ones, where a constant 1 turns a would-be half adder into the (equally cheap)
``XNOR/OR`` pair; so the tree outputs the exact count, and N inputs take exactly
N - width + (constant ones) full-adder-equivalent cells, close to the N - ceil(log2(N+1))
lower bound.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.errors import BitwaveError
from bitwave.core.ops.base import popcount_width as count_width


@dataclass
class TreeStats:
    """What the compressor emitted: the cell budget that synthesis should reproduce."""

    full_adders: int = 0
    half_adders: int = 0
    constant_adders: int = 0  # a + b + 1: XNOR and OR, the cost of a half adder
    inverters: int = 0
    depth: int = 0


@dataclass(order=True)
class _Bit:
    depth: int
    order: int
    value: Value = field(compare=False)
    negative: bool = field(compare=False, default=False)


class _Tree:
    def __init__(self, m: Module, prefix: str, width: int) -> None:
        self.m = m
        self.prefix = prefix
        self.width = width
        self.columns: list[list[_Bit]] = [[] for _ in range(width + 2)]
        self.constant = 0
        self.stats = TreeStats()
        self._order = itertools.count()
        self._names = itertools.count()

    def add(self, k: int, value: Value, depth: int, negative: bool) -> None:
        if k < self.width:  # carries out of the top column are zero: the count fits in width
            self.stats.depth = max(self.stats.depth, depth)
            heapq.heappush(self.columns[k], _Bit(depth, next(self._order), value, negative))

    def _signal(self, kind: str, expr: Value) -> Signal:
        signal = Signal(name=f"{self.prefix}{kind}{next(self._names)}")
        self.m.d.comb += signal.eq(expr)
        return signal

    def _pop(self, k: int, negative: bool, count: int) -> list[_Bit]:
        chosen = sorted(bit for bit in self.columns[k] if bit.negative == negative)[:count]
        for bit in chosen:
            self.columns[k].remove(bit)
        heapq.heapify(self.columns[k])
        return chosen

    def _count(self, k: int, negative: bool) -> int:
        return sum(1 for bit in self.columns[k] if bit.negative == negative)

    def full_adder(self, k: int, negative: bool) -> None:
        a, b, c = self._pop(k, negative, 3)
        s = self._signal("fa_s", a.value ^ b.value ^ c.value)
        carry = self._signal(
            "fa_c", (a.value & b.value) | (a.value & c.value) | (b.value & c.value)
        )
        depth = max(a.depth, b.depth, c.depth) + 1
        self.stats.full_adders += 1
        self.add(k, s, depth, negative)
        self.add(k + 1, carry, depth, negative)

    def half_adder(self, k: int, negative: bool) -> None:
        a, b = self._pop(k, negative, 2)
        depth = max(a.depth, b.depth) + 1
        self.stats.half_adders += 1
        self.add(k, self._signal("ha_s", a.value ^ b.value), depth, negative)
        self.add(k + 1, self._signal("ha_c", a.value & b.value), depth, negative)

    def flip(self, k: int, negative: bool) -> None:
        """Invert one bit of the given polarity: -x = ~x - 1 and x = 1 - ~x."""
        (bit,) = self._pop(k, negative, 1)
        self.constant += (1 << k) if not negative else -(1 << k)
        self.stats.inverters += 1
        self.add(k, self._signal("inv", ~bit.value), bit.depth + 1, not negative)

    def reduce_column(self, k: int) -> Value:
        # 1. free compression within each polarity
        while self._count(k, False) >= 3 or self._count(k, True) >= 3:
            for negative in (False, True):
                if self._count(k, negative) >= 3:
                    self.full_adder(k, negative)
        pos, neg = self._count(k, False), self._count(k, True)
        # 2. leftovers: at most two of each polarity; fix the mix with as few inverters as possible
        if neg == 2 and pos == 1:
            self.flip(k, False)
            self.full_adder(k, True)
        elif neg == 2 and pos == 0:
            self.half_adder(k, True)
        while self._count(k, True):
            self.flip(k, True)
        while self._count(k, False) >= 3:
            self.full_adder(k, False)
        # 3. the constant's bit k joins the column as a constant 1
        constant_one = (self.constant >> k) & 1
        self.constant -= constant_one << k
        bits = self._pop(k, False, 2)
        if constant_one and len(bits) == 2:
            a, b = bits
            depth = max(a.depth, b.depth) + 1
            self.stats.constant_adders += 1
            self.add(k + 1, self._signal("fa1_c", a.value | b.value), depth, False)
            return self._signal("fa1_s", ~(a.value ^ b.value))
        if constant_one and len(bits) == 1:
            (a,) = bits
            self.add(k + 1, a.value, a.depth, False)
            self.stats.inverters += 1
            return self._signal("inc_s", ~a.value)
        if constant_one:
            return Const(1, 1)
        if len(bits) == 2:
            a, b = bits
            self.stats.half_adders += 1
            self.add(
                k + 1, self._signal("ha_c", a.value & b.value), max(a.depth, b.depth) + 1, False
            )
            return self._signal("ha_s", a.value ^ b.value)
        if len(bits) == 1:
            return bits[0].value
        return Const(0, 1)


def popcount_tree(
    m: Module,
    bits: Sequence[Value],
    negate: Sequence[bool] | None = None,
    prefix: str = "pc_",
) -> tuple[Signal, TreeStats]:
    """Add a compressor tree to ``m`` counting ``bits[i] ^ negate[i]``; returns (count, stats).

    ``negate`` holds compile-time constants (a constant weight of -1 is an XNOR that became an
    inversion); negated bits cost no gates. The count is exact and ``count_width(len(bits))``
    bits wide.
    """
    n = len(bits)
    if n < 1:
        raise BitwaveError("popcount needs at least one input bit")
    negate = [False] * n if negate is None else [bool(v) for v in negate]
    if len(negate) != n:
        raise BitwaveError(f"popcount: {len(negate)} polarities for {n} input bits")
    width = count_width(n)
    tree = _Tree(m, prefix, width)
    for value, neg in zip(bits, negate, strict=True):
        tree.add(0, value, 0, neg)
        tree.constant += int(neg)  # ~x = 1 - x
    out_bits = [tree.reduce_column(k) for k in range(width)]
    if tree.constant % (1 << width):
        raise AssertionError(f"popcount constant {tree.constant} left over")  # internal invariant
    count = Signal(width, name=f"{prefix}count")
    m.d.comb += count.eq(Cat(*out_bits))
    return count, tree.stats


class Popcount(wiring.Component):
    """Combinational popcount of ``x ^ negate`` (``negate`` constant); ``count`` is exact."""

    def __init__(self, n: int, negate: Sequence[bool] | None = None) -> None:
        self.n = n
        self.negate = list(negate) if negate is not None else None
        super().__init__({"x": In(n), "count": Out(count_width(n))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        x = Signal(self.n, name="x_bits")
        m.d.comb += x.eq(self.x)
        count, self.stats = popcount_tree(m, [x[i] for i in range(self.n)], self.negate)
        m.d.comb += self.count.eq(count)
        return m
