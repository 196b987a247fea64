"""Static timing of a mapped netlist from the liberty tables: the longest register-to-register
(or port-to-register / register-to-port) path, with slews propagated through the arcs and each
net's load = the input capacitance of its sinks (no wire load: pre-layout estimate).

Memory macros (``bitwave.synth.eda.memory_macro``): read data start at the read register's
clock-to-q (the model's flip-flop arc at the net's load); read address and enable pins are
endpoints needing the macro's access time (mux levels + setup), write pins the setup time."""

from __future__ import annotations

from dataclasses import dataclass

from bitwave.synth.eda.liberty import Library
from bitwave.synth.eda.memory_macro import bit_figures, macro_model
from bitwave.synth.eda.netlist import CONST1, FlatNetlist, combinational_order

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
    loads = net_loads(netlist, library)
    clock_nets = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    default_slew = library.default_input_slew_s
    arrival: dict[int, float] = {}
    slew: dict[int, float] = {}
    came_from: dict[int, tuple[int, str, int | None]] = {}  # net -> (instance, out pin, input net)
    for net in netlist.input_nets() - clock_nets:
        arrival[net], slew[net] = 0.0, default_slew
    # Launch: clock-to-output arcs of flip-flops.
    for index, inst in enumerate(netlist.instances):
        cell = library.cell(inst.cell)
        if cell.sequential is None:
            continue
        for arc in cell.arcs:
            if arc.timing_type in LAUNCH_TYPES and arc.pin in inst.pins:
                net = inst.pins[arc.pin]
                load = loads.get(net, 0.0)
                delay = arc.delay(default_slew, load)
                if delay >= arrival.get(net, -1.0):
                    arrival[net], slew[net] = delay, arc.transition(default_slew, load)
                    came_from[net] = (index, arc.pin, None)
    models = [macro_model(library, m.kind, m.depth, m.width) for m in netlist.macros]
    if netlist.macros:
        flop = library.cell(bit_figures(library).flop)
        launch = [a for a in flop.arcs if a.timing_type in LAUNCH_TYPES]
        for number, macro in enumerate(netlist.macros):
            for net in macro.output_nets():
                load = loads.get(net, 0.0)
                delay = max((a.delay(default_slew, load) for a in launch), default=0.0)
                if delay >= arrival.get(net, -1.0):
                    arrival[net] = delay
                    slew[net] = max((a.transition(default_slew, load) for a in launch), default=0.0)
                    came_from[net] = (-1 - number, "RD_DATA", None)
    for index in combinational_order(netlist, library):
        inst = netlist.instances[index]
        cell = library.cell(inst.cell)
        for arc in cell.arcs:
            if (
                arc.timing_type in SKIPPED_TYPES
                or arc.pin not in inst.pins
                or arc.related_pin not in inst.pins
            ):
                continue
            source, target = inst.pins[arc.related_pin], inst.pins[arc.pin]
            if source not in arrival or source <= CONST1:
                continue
            load = loads.get(target, 0.0)
            t = arrival[source] + arc.delay(slew[source], load)
            if t > arrival.get(target, -1.0):
                arrival[target] = t
                slew[target] = arc.transition(slew[source], load)
                came_from[target] = (index, arc.pin, source)
            else:
                slew[target] = max(slew.get(target, 0.0), arc.transition(slew[source], load))
    # Endpoints: flip-flop data pins (plus setup) and output ports.
    worst, worst_net, worst_setup, endpoint = 0.0, None, 0.0, ""
    for inst in netlist.instances:
        cell = library.cell(inst.cell)
        if cell.sequential is None:
            continue
        for arc in cell.arcs:
            if arc.timing_type in SETUP_TYPES and arc.pin in inst.pins:
                net = inst.pins[arc.pin]
                if net in arrival:
                    setup = arc.constraint(slew[net])
                    if arrival[net] + setup > worst + worst_setup:
                        worst, worst_net, worst_setup = arrival[net], net, setup
                        endpoint = f"{inst.name}.{arc.pin} ({inst.cell})"
    for macro, model in zip(netlist.macros, models, strict=True):
        for pin, nets in macro.input_pins().items():
            if pin in ("RD_CLK", "WR_CLK", "RD_SRST", "RD_ARST"):
                continue
            setup = model.access_s if pin.startswith("RD_") else model.setup_s
            for net in nets:
                if net in arrival and net > CONST1 and arrival[net] + setup > worst + worst_setup:
                    worst, worst_net, worst_setup = arrival[net], net, setup
                    endpoint = f"{macro.name}.{pin} ({macro.shape})"
    for port in netlist.ports.values():
        if port.direction == "output":
            for net in port.nets:
                if net in arrival and arrival[net] > worst + worst_setup:
                    worst, worst_net, worst_setup = arrival[net], net, 0.0
                    endpoint = f"output port {port.name}"
    path = _trace(netlist, library, came_from, arrival, worst_net)
    period = worst + worst_setup
    return TimingReport(
        critical_path_s=worst,
        setup_s=worst_setup,
        min_period_s=period,
        max_clock_mhz=1e-6 / period if period > 0 else float("inf"),
        path=path,
        net_load_f=loads,
        net_slew_s=slew,
        endpoint=endpoint,
    )


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
