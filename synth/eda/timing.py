"""Static timing of a mapped netlist from the liberty tables: the longest register-to-register
(or port-to-register / register-to-port) path, with slews propagated through the arcs and each
net's load = the input capacitance of its sinks (no wire load: pre-layout estimate).

Memory macros (``bitwave.synth.eda.memory_macro``): read data start at the read register's
clock-to-q (the model's flip-flop arc at the net's load); read address and enable pins are
endpoints needing the macro's access time (mux levels + setup), write pins the setup time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bitwave.synth.eda.liberty import Arc, Library
from bitwave.synth.eda.memory_macro import bit_figures, macro_model
from bitwave.synth.eda.netlist import CONST1, FlatNetlist, Instance, combinational_order

LAUNCH_TYPES = ("rising_edge",)
SETUP_TYPES = ("setup_rising",)
SKIPPED_TYPES = ("clear", "preset", "three_state_enable", "three_state_disable", "hold_rising",
                 "recovery_rising", "removal_rising", "min_pulse_width")  # fmt: skip


@dataclass
class TimingReport:
    critical_path_s: float
    setup_s: float
    min_period_s: float
    max_clock_mhz: float
    path: list[dict]  # startpoint first: {"instance", "cell", "pin", "net", "arrival_ns"}
    net_load_f: dict[int, float]
    net_slew_s: dict[int, float]
    endpoint: str = ""

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "critical_path_ns": self.critical_path_s * 1e9,
            "setup_ns": self.setup_s * 1e9,
            "min_period_ns": self.min_period_s * 1e9,
            "max_clock_mhz": self.max_clock_mhz,
            "path": self.path,
            "model": "liberty NLDM tables, pin-capacitance loads, no wire load, ideal clock",
        }


def net_loads(netlist: FlatNetlist, library: Library) -> dict[int, float]:
    loads: dict[int, float] = {}
    for inst in netlist.instances:
        cell = library.cell(inst.cell)
        for pin, net in inst.pins.items():
            if cell.pins[pin].direction == "input":
                loads[net] = loads.get(net, 0.0) + cell.pins[pin].capacitance_f
    if netlist.macros:
        # A macro's read address/enable drive mux selects, its write pins flip-flop inputs
        # (one cell input each: the macro buffers them inside); clocks are inside its model.
        figures = bit_figures(library)
        per_pin = {
            "RD_ADDR": figures.mux_select_capacitance_f,
            "RD_EN": figures.flop_data_capacitance_f,
        }
        per_pin.update(
            dict.fromkeys(("WR_ADDR", "WR_DATA", "WR_EN"), figures.flop_data_capacitance_f)
        )
        for macro in netlist.macros:
            for pin, capacitance in per_pin.items():
                for net in macro.pins[pin]:
                    loads[net] = loads.get(net, 0.0) + capacitance
    return loads


def analyze(netlist: FlatNetlist, library: Library, clock_port: str = "clk") -> TimingReport:
    """The longest path to any endpoint (flip-flop data pin plus setup, macro input plus
    access or setup time, output port), with the load and slew of every net."""
    loads = net_loads(netlist, library)
    clock_nets = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    paths = _Arrivals(netlist, library, loads)
    paths.launch_inputs(netlist.input_nets() - clock_nets)
    paths.launch_flops()
    paths.launch_macros()
    paths.propagate()
    worst = _worst_endpoint(netlist, library, paths.arrival, paths.slew)
    path = _trace(netlist, library, paths.came_from, paths.arrival, worst.net)
    period = max(worst.arrival + worst.setup, _macro_period(netlist, library))
    return TimingReport(
        critical_path_s=worst.arrival,
        setup_s=worst.setup,
        min_period_s=period,
        max_clock_mhz=1e-6 / period if period > 0 else float("inf"),
        path=path,
        net_load_f=loads,
        net_slew_s=paths.slew,
        endpoint=worst.endpoint,
    )


def _macro_period(netlist: FlatNetlist, library: Library) -> float:
    """The longest cycle a memory macro of the netlist needs of its own (a datasheet's)."""
    return max((macro_model(library, m.kind, m.depth, m.width).min_period_s
                for m in netlist.macros), default=0.0)  # fmt: skip


def _flop_arcs(
    netlist: FlatNetlist, library: Library, types: tuple[str, ...]
) -> Iterator[tuple[int, Instance, Arc]]:
    """(instance index, instance, arc) for each connected arc of a sequential cell (or a clock
    gate: its enable is set up to the clock like a flip-flop's data) whose timing type is one
    of ``types``."""
    for index, inst in enumerate(netlist.instances):
        cell = library.cell(inst.cell)
        if cell.sequential is None and not cell.is_clock_gate:
            continue
        for arc in cell.arcs:
            if arc.timing_type in types and arc.pin in inst.pins:
                yield index, inst, arc


class _Arrivals:
    """Latest arrival and its slew per net, and where each came from: net -> (instance index,
    or -1 - macro number; output pin; input net or None at a startpoint)."""

    def __init__(self, netlist: FlatNetlist, library: Library, loads: dict[int, float]) -> None:
        self.netlist, self.library, self.loads = netlist, library, loads
        self.default_slew = library.default_input_slew_s
        self.arrival: dict[int, float] = {}
        self.slew: dict[int, float] = {}
        self.came_from: dict[int, tuple[int, str, int | None]] = {}

    def launch_inputs(self, nets: set[int]) -> None:
        for net in nets:
            self.arrival[net], self.slew[net] = 0.0, self.default_slew

    def launch_flops(self) -> None:
        """Clock-to-output arcs of the flip-flops."""
        for index, inst, arc in _flop_arcs(self.netlist, self.library, LAUNCH_TYPES):
            net = inst.pins[arc.pin]
            load = self.loads.get(net, 0.0)
            delay = arc.delay(self.default_slew, load)
            if delay >= self.arrival.get(net, -1.0):
                self.arrival[net] = delay
                self.slew[net] = arc.transition(self.default_slew, load)
                self.came_from[net] = (index, arc.pin, None)

    def launch_macros(self) -> None:
        """Read data leave a macro at its read register's clock-to-q."""
        if not self.netlist.macros:
            return
        flop = self.library.cell(bit_figures(self.library).flop)
        launch = [a for a in flop.arcs if a.timing_type in LAUNCH_TYPES]
        slew = self.default_slew
        for number, macro in enumerate(self.netlist.macros):
            for net in macro.output_nets():
                load = self.loads.get(net, 0.0)
                delay = max((a.delay(slew, load) for a in launch), default=0.0)
                if delay >= self.arrival.get(net, -1.0):
                    self.arrival[net] = delay
                    self.slew[net] = max((a.transition(slew, load) for a in launch), default=0.0)
                    self.came_from[net] = (-1 - number, "RD_DATA", None)

    def propagate(self) -> None:
        """Through the combinational cells in topological order; a net's slew is that of its
        latest arrival, or the worst of the others when none is later."""
        arrival, slew = self.arrival, self.slew
        for index in combinational_order(self.netlist, self.library):
            inst = self.netlist.instances[index]
            for arc in self.library.cell(inst.cell).arcs:
                if (
                    arc.timing_type in SKIPPED_TYPES
                    or arc.pin not in inst.pins
                    or arc.related_pin not in inst.pins
                ):
                    continue
                source, target = inst.pins[arc.related_pin], inst.pins[arc.pin]
                if source not in arrival or source <= CONST1:
                    continue
                load = self.loads.get(target, 0.0)
                t = arrival[source] + arc.delay(slew[source], load)
                if t > arrival.get(target, -1.0):
                    arrival[target] = t
                    slew[target] = arc.transition(slew[source], load)
                    self.came_from[target] = (index, arc.pin, source)
                else:
                    slew[target] = max(slew.get(target, 0.0), arc.transition(slew[source], load))


@dataclass
class _Endpoint:
    arrival: float = 0.0
    setup: float = 0.0
    net: int | None = None
    endpoint: str = ""

    def offer(self, arrival: float, setup: float, net: int, endpoint: str) -> None:
        if arrival + setup > self.arrival + self.setup:
            self.arrival, self.setup, self.net, self.endpoint = arrival, setup, net, endpoint


def _worst_endpoint(
    netlist: FlatNetlist, library: Library, arrival: dict[int, float], slew: dict[int, float]
) -> _Endpoint:
    """Endpoints: flip-flop data and clock-gate enable pins (plus setup), macro inputs (plus access or setup time)
    and output ports; the first of equally late ones wins."""
    worst = _Endpoint()
    for _, inst, arc in _flop_arcs(netlist, library, SETUP_TYPES):
        net = inst.pins[arc.pin]
        if net in arrival:
            worst.offer(arrival[net], arc.constraint(slew[net]), net,
                        f"{inst.name}.{arc.pin} ({inst.cell})")  # fmt: skip
    for macro in netlist.macros:
        model = macro_model(library, macro.kind, macro.depth, macro.width)
        for pin, nets in macro.input_pins().items():
            if pin in ("RD_CLK", "WR_CLK", "RD_SRST", "RD_ARST"):
                continue
            setup = model.access_s if pin.startswith("RD_") else model.setup_s
            for net in nets:
                if net in arrival and net > CONST1:
                    worst.offer(arrival[net], setup, net, f"{macro.name}.{pin} ({macro.shape})")
    for port in netlist.ports.values():
        if port.direction == "output":
            for net in port.nets:
                if net in arrival:
                    worst.offer(arrival[net], 0.0, net, f"output port {port.name}")
    return worst


def _trace(
    netlist: FlatNetlist, library: Library, came_from: dict, arrival: dict, net: int | None
) -> list[dict]:
    steps = []
    while net is not None and net in came_from:
        index, pin, source = came_from[net]
        if index < 0:  # a memory macro's read data
            macro = netlist.macros[-1 - index]
            name, cell = macro.name, macro.shape
        else:
            name, cell = netlist.instances[index].name, netlist.instances[index].cell
        steps.append({
            "instance": name, "cell": cell, "pin": pin,
            "net": netlist.net_names.get(net, f"net{net}"), "arrival_ns": arrival[net] * 1e9,
        })  # fmt: skip
        net = source
    if net is not None and net not in came_from and net in arrival:
        steps.append(
            {
                "instance": "(input port)",
                "cell": "",
                "pin": "",
                "net": netlist.net_names.get(net, f"net{net}"),
                "arrival_ns": 0.0,
            }
        )
    return list(reversed(steps))
