"""Pre-layout fanout repair: balanced buffer trees on high-fanout nets of a ``FlatNetlist``.

Real flows buffer high-fanout nets before timing (OpenROAD ``repair_design``, Design
Compiler's ``max_fanout`` fixing); without it one X1 gate driving thousands of pins (a weight
ROM's address bit, the reset) is timed into its whole load. ``repair_fanout`` gives every net
with more than ``max_fanout`` loads a tree of one buffer cell:

* Loads are the input pins of cells, the input pins of memory macros (read address and enable,
  write address, data and enables: one load per bit, as ``timing.net_loads`` prices them) and
  the bits of output ports. A port bit stays on its net: port nets keep their id and their
  driver, so an output port is still driven by the same logic. Every other load may move.
* Movable loads are ordered by hierarchy block (then netlist order, which keeps Yosys' local
  order) and split into ``ceil(n / max_fanout)`` contiguous groups of near-equal size, each
  driven by one buffer; the buffers' inputs are grouped the same way, level by level, until
  the original driver sees at most ``max_fanout`` loads (port bits included). With no port on
  the net that is ``ceil(n/F) + ceil(ceil(n/F)/F) + ...`` buffers, stopping at the first level
  of at most F.
* The clock net and the gated clocks made from it are excluded and stay ideal, as ``timing.analyze`` and ``power`` treat it:
  clock trees are built by clock-tree synthesis, after placement, with their own cells and
  skew targets. Constant nets (tie-offs) are not buffered either. The reset net is an
  ordinary signal here (Amaranth resets are synchronous logic) and is repaired like any other.
* Nothing else changes: existing nets keep their ids (new nets are appended), instances and
  macros keep their names and blocks, so gate-level simulation, timing, power and area all run
  on the result. A buffer belongs to the block holding most of the loads below it.

The buffer cell (``choose_buffer``): among the library's single-input, single-output,
non-inverting combinational cells (checked by truth table, not by name), the one with the
smallest delay through a two-level tree, computed from the liberty tables: a minimum-area
candidate driving ``max_fanout`` buffer inputs, one level of buffers driving ``max_fanout``
buffer inputs, and a leaf level driving ``max_fanout`` typical pins (the median input-pin
capacitance of the library), slews propagated; ties go to the smaller area. This charges a
strong buffer for its input capacitance, which a weak driver above it has to charge, without
sizing each buffer to its own load (no sizing is done: one cell for every tree).

Not modelled: wires (no wire load or placement, so no wire-driven splitting), gate sizing,
clock-tree synthesis, hold fixing, ``max_transition`` / ``max_capacitance`` repair.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Arc, Cell, Library
from bitwave.synth.eda.netlist import (
    CONST1,
    FlatNetlist,
    Instance,
    MacroInstance,
    Port,
    clock_tree_nets,
)

DEFAULT_MAX_FANOUT = 16
# Macro pins that are loads of their nets (the read/write clocks are clock pins, the read-port
# resets are refused by ``netlist._macro`` unless tied to 0).
MACRO_LOAD_PINS = ("RD_ADDR", "RD_EN", "WR_ADDR", "WR_DATA", "WR_EN")
COMBINATIONAL_TIMING_TYPES = ("combinational", "")


@dataclass
class FanoutRepair:
    """What ``repair_fanout`` did. Fanouts count cell input pins, macro input pin bits and
    output port bits; the excluded clock nets are not counted."""

    max_fanout: int
    buffer_cell: str | None
    buffers: int
    buffer_area_um2: float
    nets_repaired: int
    largest_fanout_before: int
    largest_fanout_after: int
    excluded_nets: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "model": "balanced trees of one buffer cell per net above max_fanout; clock net "
            "excluded (ideal, no CTS); no wire load, no sizing",
        }


def check_max_fanout(value: object) -> int:
    """``value`` as a max fanout: 0 (no repair) or an integer of at least 2."""
    if isinstance(value, bool) or not isinstance(value, int) or (value != 0 and value < 2):
        raise BitwaveError(
            f"--max-fanout must be 0 (no fanout repair) or an integer >= 2, got {value!r}: "
            "a buffer tree with at most one load per driver never ends"
        )
    return value


def buffer_cells(library: Library) -> list[str]:
    """Cells computing the identity of their one input on their one output, with a timing arc."""
    found = []
    for name, cell in library.cells.items():
        inputs, outputs = cell.inputs(), cell.outputs()
        if cell.sequential is not None or cell.dont_use or len(inputs) != 1 or len(outputs) != 1:
            continue
        if len(cell.pins) != 2:  # no extra (e.g. enable or internal) pins
            continue
        function = cell.pins[outputs[0]].function
        if function is None or function.variables() != inputs:
            continue
        if function.truth_table(inputs) != 0b10 or _arc(cell) is None:
            continue
        found.append(name)
    return found


def _arc(cell: Cell) -> Arc | None:
    out, inp = cell.outputs()[0], cell.inputs()[0]
    for arc in cell.arcs:
        if (
            arc.pin == out
            and arc.related_pin == inp
            and arc.timing_type in COMBINATIONAL_TIMING_TYPES
        ):
            return arc
    return None


def require_buffer(library: Library, buffer: str) -> list[str]:
    """The library's buffer cells, after checking that ``buffer`` is one of them."""
    candidates = buffer_cells(library)
    if buffer not in candidates:
        raise BitwaveError(
            f"cell {buffer!r} is not a buffer of liberty {library.path} "
            f"(buffers: {', '.join(candidates) or 'none'})"
        )
    return candidates


def tree_delay_s(library: Library, buffer: str, max_fanout: int) -> float:
    """Delay through a two-level tree of ``buffer`` (see the module docstring): a minimum-area
    buffer driving ``max_fanout`` of them, which each drive ``max_fanout`` more, which each
    drive ``max_fanout`` pins of the library's median input capacitance."""
    candidates = require_buffer(library, buffer)
    smallest = min(candidates, key=lambda name: (library.cells[name].area_um2, name))
    cell = library.cells[buffer]
    arc, root_arc = _arc(cell), _arc(library.cells[smallest])
    c_in = cell.pins[cell.inputs()[0]].capacitance_f
    c_pin = statistics.median(
        p.capacitance_f
        for c in library.cells.values()
        for p in c.pins.values()
        if p.direction == "input" and not p.is_clock and p.capacitance_f > 0
    )
    slew = library.default_input_slew_s
    total = 0.0
    for stage_arc, load in ((root_arc, max_fanout * c_in), (arc, max_fanout * c_in),
                            (arc, max_fanout * c_pin)):  # fmt: skip
        total += stage_arc.delay(slew, load)
        slew = stage_arc.transition(slew, load)
    return total


def choose_buffer(library: Library, max_fanout: int) -> str:
    """The buffer cell with the smallest ``tree_delay_s`` (ties: smaller area, then name)."""
    candidates = buffer_cells(library)
    if not candidates:
        raise BitwaveError(
            f"liberty {library.path} has no buffer cell (one input A, one output with function A) "
            "for fanout repair: use --max-fanout 0"
        )
    return min(
        candidates,
        key=lambda name: (
            tree_delay_s(library, name, max_fanout),
            library.cells[name].area_um2,
            name,
        ),
    )


@dataclass
class _Load:
    kind: str  # "pin" (instance input), "macro" (macro input bit), "buffer" (a new buffer's input)
    index: int
    pin: str
    bit: int
    block: str


def _clock_nets(netlist: FlatNetlist, clock_port: str) -> set[int]:
    return set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()


def fanouts(netlist: FlatNetlist, library: Library, clock_port: str = "clk") -> dict[int, int]:
    """Loads per signal net (cell inputs, macro input bits, output port bits), without the
    clock network (the port and its gated clocks) and constant nets."""
    excluded = clock_tree_nets(netlist, library, clock_port)
    counts: Counter[int] = Counter()
    for inst in netlist.instances:
        cell = library.cell(inst.cell)
        for pin, net in inst.pins.items():
            if cell.pins[pin].direction == "input":
                counts[net] += 1
    for macro in netlist.macros:
        for pin in MACRO_LOAD_PINS:
            counts.update(macro.pins.get(pin, []))
    for port in netlist.ports.values():
        if port.direction == "output":
            counts.update(port.nets)
    return {net: n for net, n in counts.items() if net > CONST1 and net not in excluded}


def repair_fanout(
    netlist: FlatNetlist,
    library: Library,
    max_fanout: int = DEFAULT_MAX_FANOUT,
    clock_port: str = "clk",
    buffer_cell: str | None = None,
) -> tuple[FlatNetlist, FanoutRepair]:
    """A copy of ``netlist`` with buffer trees on every net above ``max_fanout`` loads (the
    input is not modified), and what was done. ``max_fanout`` 0 returns an unchanged copy."""
    check_max_fanout(max_fanout)
    result = _copy(netlist)
    before = fanouts(netlist, library, clock_port)
    largest_before = max(before.values(), default=0)
    excluded = sorted(netlist.net_names.get(n, f"net{n}") for n in _clock_nets(netlist, clock_port))
    if max_fanout == 0 or largest_before <= max_fanout:
        return result, FanoutRepair(max_fanout, None, 0, 0.0, 0, largest_before, largest_before,
                                    excluded)  # fmt: skip
    buffer = buffer_cell or choose_buffer(library, max_fanout)
    require_buffer(library, buffer)
    movable = _movable_loads(result, library, [net for net, n in before.items() if n > max_fanout])
    fixed = _output_port_bits(netlist)
    trees = _TreeBuilder(result, library.cells[buffer])
    for net in sorted(movable):
        # The driver keeps the port bits; the rest of its at most max_fanout loads are buffers.
        trees.buffer(net, movable[net], max_fanout, root_capacity=max(1, max_fanout - fixed[net]))
    after = fanouts(result, library, clock_port)
    count = len(result.instances) - len(netlist.instances)
    return result, FanoutRepair(
        max_fanout=max_fanout,
        buffer_cell=buffer,
        buffers=count,
        buffer_area_um2=count * library.cells[buffer].area_um2,
        nets_repaired=len(movable),
        largest_fanout_before=largest_before,
        largest_fanout_after=max(after.values(), default=0),
        excluded_nets=excluded,
    )


def _copy(netlist: FlatNetlist) -> FlatNetlist:
    """A copy whose instances, macros, ports and names can be changed without touching
    ``netlist`` (the macros' initial contents are shared: the repair never changes them)."""
    instances = [Instance(i.name, i.cell, i.block, dict(i.pins)) for i in netlist.instances]
    macros = [
        MacroInstance(m.name, m.block, m.memid, m.kind, m.depth, m.width, m.abits, m.offset,
                      m.init, {pin: list(nets) for pin, nets in m.pins.items()})
        for m in netlist.macros
    ]  # fmt: skip
    return FlatNetlist(
        top=netlist.top,
        n_nets=netlist.n_nets,
        instances=instances,
        ports={n: Port(p.name, p.direction, list(p.nets)) for n, p in netlist.ports.items()},
        net_names=dict(netlist.net_names),
        blocks=list(netlist.blocks),
        macros=macros,
    )


def _output_port_bits(netlist: FlatNetlist) -> Counter[int]:
    """Output port bits per net: loads that stay on their net."""
    fixed: Counter[int] = Counter()
    for port in netlist.ports.values():
        if port.direction == "output":
            fixed.update(port.nets)
    return fixed


def _movable_loads(
    netlist: FlatNetlist, library: Library, nets: list[int]
) -> dict[int, list[_Load]]:
    """The loads of ``nets`` a buffer may take over (cell inputs, macro input bits), in
    netlist order."""
    movable: dict[int, list[_Load]] = {net: [] for net in nets}
    for index, inst in enumerate(netlist.instances):
        pins = library.cell(inst.cell).pins
        for pin, net in inst.pins.items():
            if net in movable and pins[pin].direction == "input":
                movable[net].append(_Load("pin", index, pin, 0, inst.block))
    for index, macro in enumerate(netlist.macros):
        for pin in MACRO_LOAD_PINS:
            for bit, net in enumerate(macro.pins.get(pin, [])):
                if net in movable:
                    movable[net].append(_Load("macro", index, pin, bit, macro.block))
    return movable


class _TreeBuilder:
    """Adds buffer trees of one cell to ``netlist`` (in place), naming the buffers
    fanout_buf_<k> with names not yet taken and their output nets after the root net."""

    def __init__(self, netlist: FlatNetlist, cell: Cell) -> None:
        self.netlist, self.cell = netlist, cell
        self.in_pin, self.out_pin = cell.inputs()[0], cell.outputs()[0]
        self.taken = {inst.name for inst in netlist.instances}
        self.counter = 0

    def buffer(self, net: int, loads: list[_Load], max_fanout: int, root_capacity: int) -> None:
        """Group ``loads`` by block under buffers, level by level, until at most
        ``root_capacity`` remain for the driver of ``net``."""
        root_name = self.netlist.net_names.get(net, f"net{net}")
        loads = sorted(loads, key=lambda load: load.block)  # stable: netlist order kept
        level = 0
        while len(loads) > root_capacity:
            level += 1
            loads = [
                self._add_buffer(net, group, f"{root_name}$fanout{level}_{number}")
                for number, group in enumerate(_balanced_groups(loads, max_fanout))
            ]
        for load in loads:
            self._attach(load, net)

    def _add_buffer(self, net: int, group: list[_Load], out_name: str) -> _Load:
        """A buffer on ``net`` driving ``group``; returns its input as a load of ``net``."""
        while f"fanout_buf_{self.counter}" in self.taken:
            self.counter += 1
        name = f"fanout_buf_{self.counter}"
        self.taken.add(name)
        block = Counter(load.block for load in group).most_common(1)[0][0]
        out_net = self.netlist.n_nets
        self.netlist.n_nets += 1
        self.netlist.net_names[out_net] = out_name
        pins = {self.in_pin: net, self.out_pin: out_net}
        self.netlist.instances.append(Instance(name, self.cell.name, block, pins))
        for load in group:
            self._attach(load, out_net)
        return _Load("buffer", len(self.netlist.instances) - 1, self.in_pin, 0, block)

    def _attach(self, load: _Load, net: int) -> None:
        if load.kind == "macro":
            self.netlist.macros[load.index].pins[load.pin][load.bit] = net
        else:
            self.netlist.instances[load.index].pins[load.pin] = net


def _balanced_groups(loads: list[_Load], max_fanout: int) -> list[list[_Load]]:
    """``loads`` in order, cut into ceil(n / max_fanout) runs whose sizes differ by at most 1."""
    groups = math.ceil(len(loads) / max_fanout)
    size, extra = divmod(len(loads), groups)
    cuts, start = [], 0
    for k in range(groups):
        end = start + size + (1 if k < extra else 0)
        cuts.append(loads[start:end])
        start = end
    return cuts
