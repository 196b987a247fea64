"""A mapped Yosys netlist (``write_json``) flattened into liberty-cell instances on global
nets, each instance tagged with the hierarchy block it came from. Memories kept as Yosys
``$mem_v2`` cells (``bitwave synth --memories macro``) become ``MacroInstance``s, priced by
``bitwave.synth.eda.memory_macro``; the forms this flow does not model are refused by name."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Library

CONST0, CONST1 = 0, 1
MACRO_CELL = "$mem_v2"
MACRO_PINS = ("RD_ADDR", "RD_DATA", "RD_EN", "RD_CLK", "RD_SRST", "RD_ARST",
              "WR_ADDR", "WR_DATA", "WR_EN", "WR_CLK")  # fmt: skip


@dataclass
class MacroInstance:
    """A memory macro: one synchronous, non-transparent read port and at most one write port
    (per-bit write enables) on one rising clock. ``init`` holds the initial contents,
    (depth, width) booleans, word 0 first, LSB first; a RAM's write port may change them."""

    name: str
    block: str
    memid: str
    kind: str  # "rom" (no write port) or "ram"
    depth: int
    width: int
    abits: int
    offset: int
    init: np.ndarray
    pins: dict[str, list[int]]  # MACRO_PINS -> nets, LSB first

    @property
    def shape(self) -> str:
        return f"macro {self.kind} {self.depth}x{self.width}"

    def output_nets(self) -> list[int]:
        return [n for n in self.pins["RD_DATA"] if n > CONST1]

    def input_pins(self) -> dict[str, list[int]]:
        return {pin: nets for pin, nets in self.pins.items() if pin != "RD_DATA"}


@dataclass
class Instance:
    name: str
    cell: str
    block: str  # module name of the top-level child it sits in (the top's name for glue logic)
    pins: dict[str, int]  # pin -> global net


@dataclass
class Port:
    name: str
    direction: str
    nets: list[int]  # LSB first


@dataclass
class FlatNetlist:
    top: str
    n_nets: int
    instances: list[Instance]
    ports: dict[str, Port]
    net_names: dict[int, str]
    blocks: list[str] = field(default_factory=list)
    macros: list[MacroInstance] = field(default_factory=list)

    def drivers(self, library: Library) -> dict[int, tuple[int, str]]:
        """net -> (instance index, output pin)."""
        drivers: dict[int, tuple[int, str]] = {}
        for index, inst in enumerate(self.instances):
            cell = library.cell(inst.cell)
            for pin, net in inst.pins.items():
                if cell.pins[pin].direction == "output" and net > CONST1:
                    if net in drivers:
                        raise BitwaveError(f"net {self.net_names.get(net, net)} has two drivers")
                    drivers[net] = (index, pin)
        return drivers

    def sinks(self, library: Library) -> dict[int, list[tuple[int, str]]]:
        """net -> [(instance index, input pin)]."""
        sinks: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for index, inst in enumerate(self.instances):
            cell = library.cell(inst.cell)
            for pin, net in inst.pins.items():
                if cell.pins[pin].direction == "input":
                    sinks[net].append((index, pin))
        return sinks

    def input_nets(self) -> set[int]:
        return {
            n for p in self.ports.values() if p.direction == "input" for n in p.nets if n > CONST1
        }


def load_netlist(path: str | os.PathLike, top: str, library: Library) -> FlatNetlist:
    """Flatten the Yosys JSON netlist at ``path`` below module ``top``."""
    data = json.loads(Path(path).read_text())
    modules = data.get("modules", {})
    if top not in modules:
        raise BitwaveError(
            f"module {top!r} is not in netlist {path} (modules: {sorted(modules)[:10]})"
        )
    flat = _Flattener(modules, library, top)
    top_local: dict[int, int] = {}
    ports = {}
    for port_name, port in modules[top]["ports"].items():
        nets = [flat.bit_to_net(bit, top_local) for bit in port["bits"]]
        ports[port_name] = Port(port_name, port["direction"], nets)
    flat.instantiate(top, top_local, "", top, 0)
    return flat.finish(top, ports)


class _Flattener:
    """Walks the module hierarchy, giving every bit a global net. Nets that are one wire
    (pass-throughs, bits a child ties to a constant) are merged by union-find and numbered
    densely at the end; ``local`` maps a module's own bit numbers to global nets."""

    def __init__(self, modules: dict, library: Library, top: str) -> None:
        self.modules, self.library = modules, library
        self.n_nets = CONST1 + 1
        self.parent: dict[int, int] = {}
        self.instances: list[Instance] = []
        self.macros: list[MacroInstance] = []
        self.net_names: dict[int, str] = {}
        self.blocks: list[str] = [top]

    def find(self, net: int) -> int:
        parent = self.parent
        while parent.get(net, net) != net:
            parent[net] = parent.get(parent[net], parent[net])
            net = parent[net]
        return net

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if ra <= CONST1 and rb <= CONST1:
            raise BitwaveError("the netlist shorts constant 0 to constant 1")
        if ra <= CONST1:  # constants stay the representative
            ra, rb = rb, ra
        self.parent[ra] = rb

    def bit_to_net(self, bit: int | str, local: dict[int, int]) -> int:
        if isinstance(bit, str):
            if bit == "1":
                return CONST1
            if bit in ("0", "x", "z"):
                return CONST0  # undefined constants are tied low, as the mapper would
            raise BitwaveError(f"unknown netlist bit {bit!r}")
        if bit not in local:
            local[bit] = self.n_nets
            self.n_nets += 1
        return local[bit]

    def instantiate(
        self, module_name: str, local: dict[int, int], prefix: str, block: str, depth: int
    ) -> None:
        if depth > 64:
            raise BitwaveError("netlist hierarchy deeper than 64 levels (recursive module?)")
        module = self.modules[module_name]
        self._name_nets(module, local, prefix)
        for cell_name, cell in module.get("cells", {}).items():
            kind = cell["type"]
            # Liberty cells also appear as blackbox modules (read_liberty -lib): cells first.
            if kind in self.modules and kind not in self.library.cells:
                self._instantiate_child(cell_name, cell, local, prefix, block, depth)
            elif kind in self.library.cells:
                self._add_cell(cell_name, cell, local, prefix, block)
            elif kind == MACRO_CELL:
                pins = {
                    pin: [self.bit_to_net(bit, local) for bit in cell["connections"].get(pin, [])]
                    for pin in MACRO_PINS
                }
                self.macros.append(_macro(f"{prefix}{cell_name}", block, cell, pins))
            else:
                raise BitwaveError(
                    f"netlist cell {prefix}{cell_name} has type {kind!r}, which is neither a module "
                    "nor a cell of the liberty: the design is not fully mapped"
                )

    def _name_nets(self, module: dict, local: dict[int, int], prefix: str) -> None:
        """Name each net after the first visible wire that carries it."""
        for net_name, info in module.get("netnames", {}).items():
            if info.get("hide_name"):
                continue
            bits = info["bits"]
            for i, bit in enumerate(bits):
                net = self.bit_to_net(bit, local)
                if net > CONST1 and net not in self.net_names:
                    suffix = f"[{i}]" if len(bits) > 1 else ""
                    self.net_names[net] = f"{prefix}{net_name}{suffix}"

    def _instantiate_child(
        self, cell_name: str, cell: dict, local: dict[int, int], prefix: str, block: str, depth: int
    ) -> None:
        """A submodule: connect its ports to the parent's nets, then flatten it. Children of the
        top start a block of their own; deeper ones stay in their ancestor's."""
        kind = cell["type"]
        child_local: dict[int, int] = {}
        for port_name, port in self.modules[kind]["ports"].items():
            bits = cell["connections"].get(port_name, [])
            for child_bit, parent_bit in zip(port["bits"], bits, strict=False):
                parent_net = self.bit_to_net(parent_bit, local)
                if not isinstance(child_bit, int):
                    # The child ties this port bit to a constant: so is the parent net.
                    self.union(parent_net, CONST1 if child_bit == "1" else CONST0)
                elif child_bit in child_local:
                    # Two port bits on one child net (a pass-through): one net outside too.
                    self.union(parent_net, child_local[child_bit])
                else:
                    child_local[child_bit] = parent_net
        child_block = kind if depth == 0 else block
        if depth == 0 and kind not in self.blocks:
            self.blocks.append(kind)
        self.instantiate(kind, child_local, f"{prefix}{cell_name}.", child_block, depth + 1)

    def _add_cell(
        self, cell_name: str, cell: dict, local: dict[int, int], prefix: str, block: str
    ) -> None:
        pins = {}
        for pin, bits in cell["connections"].items():
            if len(bits) != 1:
                raise BitwaveError(f"cell {cell_name} pin {pin} has {len(bits)} bits")
            pins[pin] = self.bit_to_net(bits[0], local)
        self.instances.append(Instance(f"{prefix}{cell_name}", cell["type"], block, pins))

    def finish(self, top: str, ports: dict[str, Port]) -> FlatNetlist:
        """Merge aliased nets and renumber densely (0 and 1 stay the constants)."""
        renumber: dict[int, int] = {CONST0: CONST0, CONST1: CONST1}
        next_id = CONST1 + 1
        for net in range(CONST1 + 1, self.n_nets):
            root = self.find(net)
            if root not in renumber:
                renumber[root] = next_id
                next_id += 1
            renumber[net] = renumber[root]
        for inst in self.instances:
            inst.pins = {pin: renumber[net] for pin, net in inst.pins.items()}
        for port in ports.values():
            port.nets = [renumber[net] for net in port.nets]
        for macro in self.macros:
            macro.pins = {pin: [renumber[net] for net in nets] for pin, nets in macro.pins.items()}
            _check_macro_clocks(macro)
        names: dict[int, str] = {}
        for net, name in self.net_names.items():
            names.setdefault(renumber[net], name)
        return FlatNetlist(
            top=top,
            n_nets=next_id,
            instances=self.instances,
            ports=ports,
            net_names={n: v for n, v in names.items() if n > CONST1},
            blocks=self.blocks,
            macros=self.macros,
        )


def _param(cell: dict, name: str, macro: str) -> int:
    """An integer parameter of a Yosys cell (JSON writes them as binary strings)."""
    value = cell.get("parameters", {}).get(name)
    if value is None:
        raise BitwaveError(f"memory {macro}: the netlist gives no parameter {name}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or any(c not in "01xz" for c in text):
        raise BitwaveError(f"memory {macro}: parameter {name}={value!r} is not a bit string")
    return int(text.replace("x", "0").replace("z", "0"), 2)


def _macro(name: str, block: str, cell: dict, pins: dict[str, list[int]]) -> MacroInstance:
    """Read one ``$mem_v2`` cell, refusing (by memory and parameter) what is not modelled."""
    size, width = _param(cell, "SIZE", name), _param(cell, "WIDTH", name)
    read_ports, write_ports = _param(cell, "RD_PORTS", name), _param(cell, "WR_PORTS", name)

    def refuse(parameter: str, value: object, why: str) -> BitwaveError:
        return BitwaveError(
            f"memory {name}: {parameter}={value} ({why}) is not modelled as a macro; "
            "modelled: one synchronous non-transparent read port and at most one write port on "
            "one rising clock. Synthesize with --memories cells instead"
        )

    if read_ports != 1:
        raise refuse("RD_PORTS", read_ports, "macros have exactly one read port")
    if write_ports > 1:
        raise refuse("WR_PORTS", write_ports, "more than one write port")
    # (parameter, the value a modelled macro has, what another value would mean)
    required = [
        ("RD_CLK_ENABLE", 1, "an asynchronous read port"),
        ("RD_CLK_POLARITY", 1, "a falling-edge read port"),
        ("RD_TRANSPARENCY_MASK", 0, "a transparent read port"),
        ("RD_WIDE_CONTINUATION", 0, "a wide read port"),
    ]
    if write_ports:
        required += [
            ("WR_CLK_ENABLE", 1, "an asynchronous write port"),
            ("WR_CLK_POLARITY", 1, "a falling-edge write port"),
            ("WR_WIDE_CONTINUATION", 0, "a wide write port"),
        ]
    for parameter, wanted, why in required:
        value = _param(cell, parameter, name)
        if value != wanted:
            raise refuse(parameter, value, why)
    for pin in ("RD_SRST", "RD_ARST"):
        if any(net != CONST0 for net in pins[pin]):
            raise refuse(pin, "connected", "a read-port reset")
    abits = _param(cell, "ABITS", name)
    expected = {"RD_ADDR": abits, "RD_DATA": width, "RD_EN": 1, "RD_CLK": 1}
    if write_ports:
        expected.update({"WR_ADDR": abits, "WR_DATA": width, "WR_EN": width, "WR_CLK": 1})
    for pin, bits in expected.items():
        if len(pins[pin]) != bits:
            raise BitwaveError(
                f"memory {name}: pin {pin} has {len(pins[pin])} bits, expected {bits}"
            )
    init_text = str(cell.get("parameters", {}).get("INIT", ""))
    if init_text and any(c not in "01xz" for c in init_text):
        raise BitwaveError(f"memory {name}: INIT is not a bit string")
    bits = np.zeros(size * width, dtype=bool)
    if init_text:
        # INIT is one integer, MSB first: word i at bits [i*WIDTH, (i+1)*WIDTH). x reads as 0.
        lsb_first = np.frombuffer(init_text[::-1].encode(), dtype=np.uint8) == ord("1")
        bits[: min(len(lsb_first), bits.size)] = lsb_first[: bits.size]
    memid = str(cell.get("parameters", {}).get("MEMID", "")).lstrip("\\")
    return MacroInstance(
        name=name,
        block=block,
        memid=memid,
        kind="ram" if write_ports else "rom",
        depth=size,
        width=width,
        abits=abits,
        offset=_param(cell, "OFFSET", name),
        init=bits.reshape(size, width),
        pins=pins,
    )


def _check_macro_clocks(macro: MacroInstance) -> None:
    clocks = {n for pin in ("RD_CLK", "WR_CLK") for n in macro.pins[pin]}
    if len(clocks) > 1:
        raise BitwaveError(
            f"memory {macro.name}: read and write ports on different clocks (RD_CLK, WR_CLK) "
            "are not modelled as a macro; synthesize with --memories cells instead"
        )


@dataclass(frozen=True)
class ClockGate:
    """An integrated clock-gating cell on the clock port: ``gated`` pulses with the clock in
    the cycles whose enable (any of ``enables``, sampled before the rising edge) is high."""

    instance: int
    enables: tuple[int, ...]
    gated: int


def clock_gates(netlist: FlatNetlist, library: Library, clock_port: str = "clk") -> list[ClockGate]:
    """The clock-gating cells of ``netlist`` (inserted by synthesis: Yosys ``clockgate``), each
    fed by the clock port itself: gated clocks are one level deep, as the flow builds them."""
    root = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    gates = []
    for index, inst in enumerate(netlist.instances):
        cell = library.cell(inst.cell)
        if not cell.is_clock_gate:
            continue
        (clock_pin,), (out_pin,) = cell.clock_gate_pins("clock"), cell.clock_gate_pins("out")
        if inst.pins.get(clock_pin) not in root:
            raise BitwaveError(
                f"clock gate {inst.name} is not fed by the clock port {clock_port!r}: "
                "only one level of gating on the one clock is supported"
            )
        enable_pins = cell.clock_gate_pins("enable") + cell.clock_gate_pins("test")
        enables = tuple(inst.pins[p] for p in enable_pins if p in inst.pins)
        gates.append(ClockGate(index, enables, inst.pins[out_pin]))
    return gates


def clock_gating_summary(
    netlist: FlatNetlist, library: Library, clock_port: str = "clk"
) -> dict[str, int]:
    """How many clock gates there are and how many of the flip-flops sit behind one."""
    gated = {gate.gated for gate in clock_gates(netlist, library, clock_port)}
    flops = [
        inst
        for inst in netlist.instances
        if library.cell(inst.cell).sequential is not None
        and library.cell(inst.cell).sequential.kind == "ff"
    ]
    behind = sum(any(net in gated for net in inst.pins.values()) for inst in flops)
    return {"gates": len(gated), "flops": len(flops), "gated_flops": behind}


def clock_tree_nets(netlist: FlatNetlist, library: Library, clock_port: str = "clk") -> set[int]:
    """The clock port's nets and the gated clocks made from them: the ideal clock network
    that timing, fanout repair and power treat apart from the logic."""
    root = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    return root | {gate.gated for gate in clock_gates(netlist, library, clock_port)}


def combinational_order(netlist: FlatNetlist, library: Library) -> list[int]:
    """Combinational instances in topological order (drivers before loads); clock gates are
    part of the clock network, not of the logic."""
    drivers = netlist.drivers(library)
    comb = [
        i
        for i, inst in enumerate(netlist.instances)
        if library.cell(inst.cell).sequential is None and not library.cell(inst.cell).is_clock_gate
    ]
    comb_set = set(comb)
    depends: dict[int, set[int]] = {}
    for index in comb:
        inst = netlist.instances[index]
        cell = library.cell(inst.cell)
        before = set()
        for pin, net in inst.pins.items():
            if (
                cell.pins[pin].direction == "input"
                and net in drivers
                and drivers[net][0] in comb_set
            ):
                before.add(drivers[net][0])
        depends[index] = before
    order: list[int] = []
    state: dict[int, int] = {}
    for start in comb:
        if state.get(start):
            continue
        stack = [(start, iter(depends[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    raise BitwaveError(
                        f"combinational loop through {netlist.instances[child].name}"
                    )
                if not state.get(child):
                    state[child] = 1
                    stack.append((child, iter(depends[child])))
                    break
            else:
                stack.pop()
                state[node] = 2
                order.append(node)
    return order


def area_by(
    netlist: FlatNetlist, library: Library
) -> tuple[float, dict[str, dict], dict[str, float]]:
    """Total area, {cell: {count, area_um2}} and {block: area_um2}; memory macros are priced
    by their model and listed by shape ("macro rom 512x64")."""
    from bitwave.synth.eda.memory_macro import macro_model

    by_cell: dict[str, dict] = {}
    by_block: dict[str, float] = {block: 0.0 for block in netlist.blocks}
    total = 0.0
    for inst in netlist.instances:
        area = library.cell(inst.cell).area_um2
        entry = by_cell.setdefault(inst.cell, {"count": 0, "area_um2": 0.0})
        entry["count"] += 1
        entry["area_um2"] += area
        by_block[inst.block] = by_block.get(inst.block, 0.0) + area
        total += area
    macro_cells: dict[str, dict] = {}
    for macro in netlist.macros:
        area = macro_model(library, macro.kind, macro.depth, macro.width).area_um2
        entry = macro_cells.setdefault(macro.shape, {"count": 0, "area_um2": 0.0})
        entry["count"] += 1
        entry["area_um2"] += area
        by_block[macro.block] = by_block.get(macro.block, 0.0) + area
        total += area
    by_cell = dict(sorted(by_cell.items()))
    by_cell.update(sorted(macro_cells.items()))
    return total, by_cell, by_block


def flat_verilog(netlist: FlatNetlist, library: Library) -> str:
    """Structural Verilog of the flat netlist (for OpenSTA and gate-level simulators): one
    module with the original ports, net ``n<id>`` per net, instance ``u<index>`` per cell.
    Memory macros have no liberty cell, so a netlist with macros is refused."""
    if netlist.macros:
        raise BitwaveError(
            f"{len(netlist.macros)} memory macros have no liberty cell: no flat Verilog for them"
        )

    def port_bit(port: Port, bit: int) -> str:
        return port.name if len(port.nets) == 1 else f"{port.name}[{bit}]"

    def ref(net: int) -> str:
        return "1'b1" if net == CONST1 else "1'b0" if net == CONST0 else f"n{net}"

    lines = [f"module {netlist.top}({', '.join(netlist.ports)});"]
    assigns = []
    for port in netlist.ports.values():
        width = f"[{len(port.nets) - 1}:0] " if len(port.nets) > 1 else ""
        lines.append(f"  {port.direction} {width}{port.name};")
        for bit, net in enumerate(port.nets):
            if port.direction == "input":
                if net > CONST1:
                    assigns.append(f"  assign n{net} = {port_bit(port, bit)};")
            else:
                assigns.append(f"  assign {port_bit(port, bit)} = {ref(net)};")
    lines += [f"  wire n{net};" for net in range(CONST1 + 1, netlist.n_nets)]
    lines += assigns
    for index, inst in enumerate(netlist.instances):
        library.cell(inst.cell)  # refuses cells the liberty does not have
        pins = ", ".join(f".{pin}({ref(net)})" for pin, net in sorted(inst.pins.items()))
        lines.append(f"  {inst.cell} u{index} ({pins});")
    lines += ["endmodule", ""]
    return "\n".join(lines)
