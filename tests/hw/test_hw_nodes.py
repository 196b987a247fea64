"""The per-node comparison's RTL (bitwave.hw.nodes) in Amaranth's simulator, lane by lane,
against the reference results its own stimulus carries (synthesis replays the same stimulus on
the mapped netlist, see tests/app/test_app_nodes.py)."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from bitwave.core.errors import BitwaveError
from bitwave.hw import nodes
from bitwave.hw.nodes import Node, node_stimulus, output_width, signed_output

LANES = 3


def _lane_value(bits):
    return sum(int(b) << i for i, b in enumerate(bits))


def _simulate(kind, n, form, stimulus):
    """y for every step that expects a result, as (lanes, results) signed or unsigned ints."""
    dut = Node(kind, n, form)
    steps = list(stimulus)
    got = np.zeros((LANES, sum(e is not None for _, e, _ in steps)), dtype=object)
    width = output_width(kind, n)

    def lane_bench(lane):
        async def bench(ctx):
            checked = 0
            for inputs, expected, _ in steps:
                for port, bits in inputs.items():
                    ctx.set(getattr(dut, port), _lane_value(bits[lane]))
                if expected is not None:
                    value = ctx.get(dut.y)
                    if signed_output(kind) and value >> (width - 1) & 1:
                        value -= 1 << width
                    got[lane, checked] = value
                    checked += 1
                await ctx.tick()

        return bench

    for lane in range(LANES):
        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(lane_bench(lane))
        sim.run()
    expected = np.array([e for _, e, _ in steps if e is not None], dtype=object).T
    return got, expected


@pytest.mark.parametrize(
    ("kind", "n", "form"),
    [
        ("xnor", 8, "parallel"),
        ("xnor_const", 8, "parallel"),
        ("xnor_const", 4, "serial"),
        ("int8", 4, "serial"),
        ("int16", 3, "parallel"),
        ("float32", 3, "parallel"),
        ("float32", 2, "serial"),
    ],
)
def test_node_rtl_matches_its_reference(kind, n, form):
    got, expected = _simulate(kind, n, form, node_stimulus(kind, n, form, lanes=LANES, cycles=8))
    assert got.size > 0
    np.testing.assert_array_equal(got.astype(np.int64), np.asarray(expected, dtype=np.int64))


def test_a_wrong_reference_differs_from_the_rtl(monkeypatch):
    """Mutation: a popcount reference off by one disagrees with the RTL in every lane."""
    original = nodes.reference_tree
    monkeypatch.setattr(nodes, "reference_tree", lambda kind, x, w: original(kind, x, w) + 1)
    got, expected = _simulate("xnor", 8, "parallel", node_stimulus("xnor", 8, "parallel", LANES, 4))
    assert np.all(got != expected)


def test_serial_stimulus_covers_whole_accumulations():
    steps = list(node_stimulus("int8", 4, "serial", lanes=2, cycles=10))
    checks = [t for t, (_, e, _) in enumerate(steps) if e is not None]
    assert checks == [4, 8]
    assert steps[0][0]["start"].all() and not steps[1][0]["start"].any()


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_unknown_kind_or_form_is_refused():
    with pytest.raises(BitwaveError, match="unknown node kind"):
        Node("float64", 4, "parallel")
    with pytest.raises(BitwaveError, match="unknown node form"):
        Node("int8", 4, "pipelined")
    gc.collect()  # the refused objects warn when collected: here, under the filter above
