"""The fast liberty lookups (plain floats, two rows) and the remembered internal energies give
the figures of the straightforward numpy computation bit for bit, on every table of the compact
library and on the timing and power of a small mapped design."""

import dataclasses

import numpy as np
import pytest

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda import liberty
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.liberty import Library, Table, load_library


def _reference_interp1(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """The interpolation as first written: numpy searchsorted and clip."""
    if len(xs) == 1:
        return float(ys[0])
    i = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
    x0, x1 = xs[i], xs[i + 1]
    return float(ys[i] + (ys[i + 1] - ys[i]) * (x - x0) / (x1 - x0))


def reference_lookup(table: Table, slew: float, load: float, related: float | None = None) -> float:
    """Every row interpolated along the second axis, then along the first."""
    if not table.variables:
        return float(table.values.reshape(-1)[0])
    coordinates = [
        load if "capacitance" in v
        else (slew if related is None else related) if v.startswith("related_pin")
        else slew
        for v in table.variables
    ]  # fmt: skip
    if len(table.variables) == 1:
        return _reference_interp1(table.index[0], table.values.reshape(-1), coordinates[0])
    rows = [_reference_interp1(table.index[1], row, coordinates[1]) for row in table.values]
    return _reference_interp1(table.index[0], np.asarray(rows), coordinates[0])


def reference_energy(cell: liberty.Cell, pin: str, slew: float, load: float) -> float:
    """Mean over the pin's entries of the mean of their rise and fall energies, with np.mean."""
    means = []
    for entry in (p for p in cell.internal_power if p.pin == pin):
        tables = [t for t in (entry.rise, entry.fall) if t is not None]
        values = [reference_lookup(t, slew, load) for t in tables]
        means.append(float(np.mean(values)) if values else 0.0)
    return float(np.mean(means)) if means else 0.0


def _probe_points(axis: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Axis points (both ends, one inside), points between them, beyond both ends
    (extrapolation) and zero."""
    between = rng.uniform(axis[0], axis[-1], 2) if len(axis) > 1 else []
    return [axis[0], axis[len(axis) // 2], axis[-1], *between, axis[0] * 0.5, axis[-1] * 3, 0.0]


def _all_tables(library: Library) -> list[Table]:
    tables = [t for c in library.cells.values() for a in c.arcs for t in a.tables.values()]
    tables += [t for c in library.cells.values() for p in c.internal_power
               for t in (p.rise, p.fall) if t is not None]  # fmt: skip
    return tables


@pytest.fixture(scope="module")
def compact() -> Library:
    return load_library(COMPACT_LIBRARY)


@pytest.fixture(scope="module")
def node(compact, tmp_path_factory):
    """A 4-input int8 MAC node mapped onto the compact library, simulated on random inputs."""
    from bitwave.hw.nodes import node_verilog
    from bitwave.synth.eda.gatesim import GateSimulator
    from bitwave.synth.eda.netlist import load_netlist
    from bitwave.synth.flows.asic import map_to_cells

    folder = tmp_path_factory.mktemp("node")
    rtl = folder / "node.v"
    rtl.write_text(node_verilog("int8", 4, "parallel", "node"))
    mapped = map_to_cells([rtl], "node", COMPACT_LIBRARY, workdir=folder / "yosys", library=compact)
    netlist = load_netlist(mapped.netlist_json, "node", compact)
    sim = GateSimulator(netlist, compact, lanes=64)
    rng = np.random.default_rng(0)
    for _ in range(12):
        sim.set_input_int("x", rng.integers(0, 1 << 32, 64).astype(object))
        sim.set_input_int("w", rng.integers(0, 1 << 32, 64).astype(object))
        sim.evaluate()
        sim.clock()
    return netlist, sim.activity()


def test_every_table_lookup_equals_the_numpy_reference(compact):
    rng = np.random.default_rng(1)
    compared = 0
    for table in _all_tables(compact)[::4]:  # every 4th of ~2,700 tables, of every kind
        slews = _probe_points(table.index[0], rng) if table.index else [2e-11]
        loads = _probe_points(table.index[-1], rng) if table.index else [1e-15]
        for slew in slews:
            for load in loads:
                related_slews = (None, 3e-11) if "related" in str(table.variables) else (None,)
                for related in related_slews:
                    got = table.lookup(slew, load, related)
                    assert type(got) is float
                    assert got == reference_lookup(table, slew, load, related)
                    compared += 1
    assert compared > 20_000
    # Twin: clamping at the table edges (np.interp) instead of extrapolating is told apart.
    table = next(t for t in _all_tables(compact)
                 if len(t.variables) == 2 and "transition" in t.variables[0])  # fmt: skip
    beyond = table.index[0][-1] * 3.0
    clamped = np.interp(beyond, table.index[0], table.values[:, 0])
    assert table.lookup(beyond, table.index[1][0]) != clamped


@pytest.mark.parametrize(
    "variables",
    [
        (),
        ("total_output_net_capacitance",),
        ("input_net_transition", "total_output_net_capacitance"),
        ("related_pin_transition", "constrained_pin_transition"),
    ],
)
@pytest.mark.parametrize("size", [1, 2, 5, 7])
def test_tables_of_every_shape_equal_the_numpy_reference(variables, size):
    """The compact library's tables are 2 x 2: larger grids (NanGate45's are 7 x 7), single
    points and one-row tables exercise the segment search and the row selection."""
    rng = np.random.default_rng(size)
    shape = tuple(size + k for k in range(len(variables)))  # unequal axes: a swap would fail
    index = tuple(np.sort(rng.uniform(1e-12, 1e-10, n)) for n in shape)
    table = Table(variables, index, rng.uniform(0.0, 1e-14, shape) if shape else np.array([3.0]))
    probes = [_probe_points(axis, rng) for axis in index] or [[2e-11]]
    for first in probes[0]:
        for second in probes[-1]:
            for related in (None, 5e-11):
                expected = reference_lookup(table, first, second, related)
                assert table.lookup(first, second, related) == expected


def test_power_and_timing_equal_the_straightforward_computation(compact, node, monkeypatch):
    from bitwave.synth.eda.power import estimate_power
    from bitwave.synth.eda.timing import analyze

    netlist, activity = node

    def figures(library: Library) -> tuple[dict, dict, dict]:
        timing = analyze(netlist, library)
        power = estimate_power(netlist, library, activity, 100e6, timing.net_load_f,
                               timing.net_slew_s)  # fmt: skip
        return timing.to_json(), timing.net_slew_s, power.to_json()

    fresh = dataclasses.replace(compact)  # an empty energy memory
    first = figures(fresh)
    remembered = len(fresh._energy_memo)
    assert remembered > 0
    again = figures(fresh)  # every energy from the memory
    assert len(fresh._energy_memo) == remembered
    with monkeypatch.context() as patch:
        patch.setattr(Table, "lookup", reference_lookup)
        patch.setattr(Library, "internal_energy",
                      lambda self, cell, pin, slew, load: reference_energy(cell, pin, slew, load))  # fmt: skip
        reference = figures(compact)
        # Twin: energies 1e-9 larger change the figures, so the equality below can fail.
        patch.setattr(Library, "internal_energy",
                      lambda self, cell, pin, slew, load: reference_energy(cell, pin, slew, load)
                      * (1 + 1e-9))  # fmt: skip
        perturbed = figures(compact)
    assert first == reference and again == reference
    assert first[2]["internal_w"] > 0
    assert perturbed[2]["internal_w"] != reference[2]["internal_w"]


def test_replaced_table_values_and_axes_are_looked_up(compact):
    table = next(t for t in _all_tables(compact) if len(t.variables) == 2)
    table = dataclasses.replace(table)
    slew, load = float(table.index[0][1]), float(table.index[1][1])
    before = table.lookup(slew, load)
    table.values = table.values * 2
    assert table.lookup(slew, load) == 2 * before
    table.index = (table.index[0] * 2, table.index[1] * 2)
    assert table.lookup(2 * slew, 2 * load) == 2 * before


def test_energy_memory_is_bounded_and_exact(compact, monkeypatch):
    monkeypatch.setattr(liberty, "ENERGY_MEMO_SIZE", 3)
    library = dataclasses.replace(compact)
    cell = next(c for c in library.cells.values() if c.outputs() and c.internal_power)
    pin = cell.internal_power[0].pin
    for k in range(7):
        slew, load = 1e-11 * (k + 1), 1e-15 * k
        assert library.internal_energy(cell, pin, slew, load) == reference_energy(
            cell, pin, slew, load
        )
        assert len(library._energy_memo) <= 3
    assert library.internal_energy(cell, "no such pin", 1e-11, 0.0) == 0.0


def test_energy_memory_follows_replaced_tables(tmp_path):
    """A library whose tables are replaced after a power estimate (as a test's mutation does)
    gives the new energies, not the remembered ones."""
    library = load_library(COMPACT_LIBRARY)  # its own tables: they are replaced below
    cell = next(c for c in library.cells.values() if c.outputs() and c.internal_power)
    pin = cell.internal_power[0].pin
    before = library.internal_energy(cell, pin, 2e-11, 1e-15)
    for entry in cell.internal_power:
        for table in (entry.rise, entry.fall):
            if table is not None:
                table.values = table.values * 2
    assert library.internal_energy(cell, pin, 2e-11, 1e-15) == 2 * before


def test_tables_over_three_variables_are_refused():
    axis = np.array([1.0, 2.0])
    table = Table(("input_net_transition", "total_output_net_capacitance", "time"),
                  (axis, axis, axis), np.zeros((2, 2, 2)))  # fmt: skip
    with pytest.raises(BitwaveError, match="at most 2 variables"):
        table.lookup(1.0, 1.0)
