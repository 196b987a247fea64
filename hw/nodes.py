"""Single N-input arithmetic nodes for the per-node cost comparison (``bitwave nodes``), in
Amaranth, with their numpy reference and the stimulus that checks them:

* ``float32``: IEEE-754 binary32 multiply then add, each rounded to nearest even (subnormals
  flushed, see fp32.py);
* ``int16`` / ``int8``: signed fixed-point multiply-accumulate, exact (wide accumulator);
* ``xnor``: XNOR-popcount with variable weights (weights are inputs, as in the talk);
* ``xnor_const``: XNOR-popcount with constant weights baked into the logic.

The parallel XNOR nodes count with the generator's compressor tree (popcount.py), the circuit
a generated neuron uses, so that the cost table calibrated on them (``bitwave cost
--make-table``) prices generated networks; the multi-bit nodes sum with a pairwise adder tree.

Each in two forms at the same clock: ``parallel`` (N MACs per cycle: N products and an adder
tree, result registered) and ``serial`` (one MAC per cycle into an accumulator; ``start``
restarts the accumulation with the current product).

The synthesis and measurement of a node is synth's (``bitwave.synth.studies.nodes``): it gets
the Verilog and the stimulus of ``node_stimulus`` and replays the stimulus on the mapped
netlist, checking every reference result.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from amaranth import Const, Module, Mux, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitwave.core.errors import BitwaveError
from bitwave.hw.fp32 import fp_add, fp_mul, reference_add, reference_mul
from bitwave.hw.popcount import popcount_tree

KINDS = ("float32", "int16", "int8", "xnor", "xnor_const")
FORMS = ("parallel", "serial")
WIDTH = {"float32": 32, "int16": 16, "int8": 8, "xnor": 1, "xnor_const": 1}


def output_width(kind: str, n: int) -> int:
    if kind == "float32":
        return 32
    if kind.startswith("xnor"):
        return n.bit_length()
    return 2 * WIDTH[kind] + max(1, (n - 1).bit_length()) + 1


def constant_weights(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(bool)


class Node(wiring.Component):
    """One node. Ports: x (N*width, lane i at bits i*width), w (absent for xnor_const), start
    (serial only), y (registered result)."""

    def __init__(self, kind: str, n: int, form: str) -> None:
        if kind not in KINDS:
            raise BitwaveError(f"unknown node kind {kind!r}; choose from {', '.join(KINDS)}")
        if form not in FORMS:
            raise BitwaveError(f"unknown node form {form!r}; choose parallel or serial")
        self.kind, self.n, self.form = kind, n, form
        lanes = n if form == "parallel" else 1
        ports = {"x": In(lanes * WIDTH[kind]), "y": Out(output_width(kind, n))}
        if kind != "xnor_const":
            ports["w"] = In(lanes * WIDTH[kind])
        if form == "serial":
            ports["start"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        width = WIDTH[self.kind]
        lanes = self.n if self.form == "parallel" else 1
        if self.kind == "xnor_const" and self.form == "serial":
            # The constant weight of the current input comes from a counter-indexed table.
            index = Signal(range(self.n))
            with m.If(self.start | (index == self.n - 1)):
                m.d.sync += index.eq(Mux(self.start, 1, 0))
            with m.Else():
                m.d.sync += index.eq(index + 1)
            table = constant_weights(self.n)
            weight = Signal()
            with m.Switch(Mux(self.start, 0, index)):
                for i, bit in enumerate(table):
                    with m.Case(i):
                        m.d.comb += weight.eq(int(bit))
            weights = [weight]
        elif self.kind == "xnor_const":
            weights = [Const(int(bit), 1) for bit in constant_weights(self.n)]
        else:
            weights = [self.w[i * width : (i + 1) * width] for i in range(lanes)]
        xs = [self.x[i * width : (i + 1) * width] for i in range(lanes)]
        if self.kind.startswith("xnor") and self.form == "parallel":
            total = self._popcount(m, xs, weights)
        else:
            products = [
                self._product(m, x, w, i) for i, (x, w) in enumerate(zip(xs, weights, strict=True))
            ]
            total = self._tree(m, products)
        if self.form == "parallel":
            m.d.sync += self.y.eq(total)
        else:
            accumulated = self._add(m, self.y, total, "acc")
            m.d.sync += self.y.eq(Mux(self.start, total, accumulated))
        return m

    def _popcount(self, m: Module, xs: list, weights: list) -> object:
        """The generator's own compressor tree (bitwave.hw.popcount), so that the node costs
        what a generated neuron costs: XNOR(x, w) = ~(x ^ w) enters as a negated bit, and a
        constant weight of -1 (0) as a negated x, which costs no gate at all."""
        if self.kind == "xnor_const":
            bits = xs
            negate = [not bool(w.value) for w in weights]
        else:
            bits = [
                self._signal(m, x ^ w, f"differ{i}")
                for i, (x, w) in enumerate(zip(xs, weights, strict=True))
            ]
            negate = [True] * len(bits)
        count, _ = popcount_tree(m, bits, negate)
        return count

    @staticmethod
    def _signal(m: Module, expr: object, name: str) -> Signal:
        signal = Signal(name=name)
        m.d.comb += signal.eq(expr)
        return signal

    def _product(self, m: Module, x: object, w: object, i: int) -> object:
        if self.kind.startswith("xnor"):
            agree = Signal(name=f"agree{i}")
            m.d.comb += agree.eq(~(x ^ w))
            return agree
        # Each multiplier is its own component, hence its own Verilog module: Yosys and abc then
        # work on one small module at a time (one flat module of N multipliers is much slower).
        unit = Operator("fmul" if self.kind == "float32" else "imul", WIDTH[self.kind])
        m.submodules[f"mul{i}"] = unit
        m.d.comb += [unit.a.eq(x), unit.b.eq(w)]
        return unit.y.as_signed() if self.kind != "float32" else unit.y

    def _add(self, m: Module, a: object, b: object, name: str) -> object:
        if self.kind == "float32":
            unit = Operator("fadd", 32)
            m.submodules[name] = unit
            m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
            return unit.y
        if self.kind.startswith("xnor"):
            return a + b
        return a.as_signed() + b.as_signed() if hasattr(a, "as_signed") else a + b

    def _tree(self, m: Module, terms: list) -> object:
        """Balanced pairwise tree: level by level, (t0+t1), (t2+t3), ...; an odd last term
        passes up unchanged. The reference model sums in the same order."""
        level = 0
        while len(terms) > 1:
            nxt = []
            for j in range(0, len(terms) - 1, 2):
                if self.kind == "float32":
                    nxt.append(self._add(m, terms[j], terms[j + 1], name=f"add{level}_{j}"))
                else:
                    nxt.append(terms[j] + terms[j + 1])
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms, level = nxt, level + 1
        return terms[0]


class Operator(wiring.Component):
    """One arithmetic operator as a component: fmul / fadd (binary32) or imul (signed)."""

    def __init__(self, op: str, width: int) -> None:
        self.op = op
        out = 2 * width if op == "imul" else 32
        super().__init__({"a": In(width), "b": In(width), "y": Out(out)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.op == "fmul":
            m.d.comb += self.y.eq(fp_mul(m, self.a, self.b))
        elif self.op == "fadd":
            m.d.comb += self.y.eq(fp_add(m, self.a, self.b))
        else:
            m.d.comb += self.y.eq(self.a.as_signed() * self.b.as_signed())
        return m


# ---- reference model ---------------------------------------------------------------------


def reference_tree(kind: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The parallel node's result for x, w of shape (vectors, N) (raw integers / bit patterns /
    booleans); same pairwise order as the hardware."""
    if kind == "float32":
        terms = [reference_mul(x[:, i], w[:, i]) for i in range(x.shape[1])]
        while len(terms) > 1:
            nxt = [reference_add(terms[j], terms[j + 1]) for j in range(0, len(terms) - 1, 2)]
            if len(terms) % 2:
                nxt.append(terms[-1])
            terms = nxt
        return terms[0]
    if kind.startswith("xnor"):
        return (~(x.astype(bool) ^ w.astype(bool))).sum(axis=1)
    return (x.astype(np.int64) * w.astype(np.int64)).sum(axis=1)


def reference_serial(kind: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Accumulate x[:, t] * w[:, t] over t in order (the serial node after N cycles)."""
    if kind == "float32":
        acc = reference_mul(x[:, 0], w[:, 0])
        for t in range(1, x.shape[1]):
            acc = reference_add(acc, reference_mul(x[:, t], w[:, t]))
        return acc
    return reference_tree(kind, x, w)


def random_operands(
    kind: str, vectors: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random x, w of shape (vectors, n) as the node's raw port values."""
    if kind == "float32":
        # Gaussian values over a moderate exponent range: every product and sum stays normal.
        def draw() -> np.ndarray:
            return (
                (rng.standard_normal((vectors, n)) * np.exp2(rng.integers(-8, 8, (vectors, n))))
                .astype(np.float32)
                .view(np.uint32)
            )

        return draw(), draw()
    if kind in ("int16", "int8"):
        bits = WIDTH[kind]
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        return rng.integers(lo, hi, (vectors, n)), rng.integers(lo, hi, (vectors, n))
    x = rng.integers(0, 2, (vectors, n)).astype(bool)
    if kind == "xnor_const":
        return x, np.broadcast_to(constant_weights(n), (vectors, n))
    return x, rng.integers(0, 2, (vectors, n)).astype(bool)


def operand_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(vectors, lanes) integers -> (vectors, lanes*width) bits, lane i at bits i*width (two's
    complement for negative values)."""
    values = np.asarray(values).astype(np.int64)
    shifts = np.arange(width, dtype=np.int64)
    return ((values[:, :, None] >> shifts) & 1).astype(bool).reshape(values.shape[0], -1)


def node_verilog(kind: str, n: int, form: str, top: str) -> str:
    return verilog.convert(Node(kind, n, form), name=top, emit_src=False)


def node_top(kind: str, n: int, form: str) -> str:
    """The Verilog top-level name of a node."""
    return f"node_{kind}_{form}_{n}"


def signed_output(kind: str) -> bool:
    """Whether the node's result y is a two's-complement number (the integer MACs)."""
    return kind in ("int16", "int8")


# ---- stimulus ------------------------------------------------------------------------------

# One clock cycle of a node's stimulus, for ``lanes`` independent lanes: (inputs, expected,
# what). ``inputs`` maps input port -> (lanes, port width) bits, driven before the cycle
# settles (ports not named keep their value); ``expected``, when not None, holds the reference
# result per lane (signed for the integer MACs) that y must show once settled, before the
# clock edge; ``what`` names that result in a mismatch message.
Step = tuple[dict[str, np.ndarray], np.ndarray | None, str]


def node_stimulus(
    kind: str, n: int, form: str, lanes: int = 64, cycles: int = 24, seed: int = 0
) -> Iterator[Step]:
    """Random operands for ``cycles`` clock cycles (at least one whole accumulation of a
    serial node) with the reference result of every registered output."""
    rng = np.random.default_rng(seed)
    if form == "parallel":
        return _parallel_steps(kind, n, lanes, cycles, rng)
    return _serial_steps(kind, n, lanes, cycles, rng)


def _operand_inputs(kind: str, x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    inputs = {"x": operand_bits(x, WIDTH[kind])}
    if kind != "xnor_const":
        inputs["w"] = operand_bits(w, WIDTH[kind])
    return inputs


def _parallel_steps(
    kind: str, n: int, lanes: int, cycles: int, rng: np.random.Generator
) -> Iterator[Step]:
    """New operands every cycle; the registered result of cycle t is checked in cycle t+1."""
    previous = None
    for _ in range(cycles):
        x, w = random_operands(kind, lanes, n, rng)
        expected = None if previous is None else reference_tree(kind, *previous)
        yield _operand_inputs(kind, x, w), expected, "parallel result"
        previous = (x, w)


def _serial_steps(
    kind: str, n: int, lanes: int, cycles: int, rng: np.random.Generator
) -> Iterator[Step]:
    """Back-to-back accumulations of N MACs each; a result is checked when the next starts."""
    rounds = max(1, cycles // n) if n <= cycles else 1
    total_cycles = max(cycles, rounds * n)
    x, w = random_operands(kind, lanes, total_cycles, rng)
    if kind == "xnor_const":
        w = np.broadcast_to(
            np.tile(constant_weights(n), total_cycles // n + 1)[:total_cycles],
            (lanes, total_cycles),
        )
    for t in range(total_cycles + 1):
        inputs = {}
        if t < total_cycles:
            inputs = _operand_inputs(kind, x[:, t : t + 1], w[:, t : t + 1])
            inputs["start"] = np.full((lanes, 1), t % n == 0)
        expected = None
        if t > 0 and t % n == 0:
            expected = reference_serial(kind, x[:, t - n : t], w[:, t - n : t])
        yield inputs, expected, "serial accumulation"
