"""Activity-based power of a mapped netlist:

    P = leakage + sum_pins E_internal(pin) x rate(pin) + sum_nets 0.5 x C_load x V^2 x rate(net)

with rate = transitions per second (activity per cycle x clock frequency), the internal
energies read from the liberty tables at each net's load and slew, and the clock net toggling
twice per cycle. A result with zero dynamic power or with nets lacking activity is refused.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bitwave.errors import BitwaveError
from bitwave.synth.liberty import Library
from bitwave.synth.netlist import CONST1, FlatNetlist


@dataclass
class PowerReport:
    clock_hz: float
    dynamic_w: float
    switching_w: float
    internal_w: float
    clock_w: float
    leakage_w: float
    by_block: dict[str, dict[str, float]]
    mean_activity: float

    @property
    def total_w(self) -> float:
        return self.dynamic_w + self.leakage_w

    def to_json(self) -> dict:
        return {
            "clock_mhz": self.clock_hz / 1e6,
            "dynamic_w": self.dynamic_w,
            "switching_w": self.switching_w,
            "internal_w": self.internal_w,
            "clock_tree_w": self.clock_w,
            "leakage_w": self.leakage_w,
            "total_w": self.total_w,
            "mean_activity_per_cycle": self.mean_activity,
            "by_block": self.by_block,
        }


def _internal_energies(cell: object, pin: str, slew: float, load: float) -> float:
    """Mean internal energy per transition of ``pin`` over its arcs and conditions."""
    entries = [p for p in cell.internal_power if p.pin == pin]
    if not entries:
        return 0.0
    return float(np.mean([p.energy(slew, load) for p in entries]))


def estimate_power(
    netlist: FlatNetlist,
    library: Library,
    activity: np.ndarray,
    clock_hz: float,
    net_load_f: dict[int, float],
    net_slew_s: dict[int, float] | None = None,
    clock_port: str = "clk",
) -> PowerReport:
    """Power at ``clock_hz`` given each net's transitions per cycle (``activity[net]``)."""
    if clock_hz <= 0:
        raise BitwaveError(f"clock frequency must be positive, got {clock_hz} Hz")
    if len(activity) != netlist.n_nets:
        raise BitwaveError(
            f"activity has {len(activity)} entries for {netlist.n_nets} nets: nets are unannotated"
        )
    if not np.all(np.isfinite(activity)):
        raise BitwaveError("activity has non-finite entries: nets are unannotated")
    v2 = library.voltage_v**2
    slews = net_slew_s or {}
    default_slew = library.default_input_slew_s
    clock_nets = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    rate = activity.astype(float).copy()
    for net in clock_nets:
        rate[net] = 2.0  # one rising and one falling edge per cycle
    rate[: CONST1 + 1] = 0.0
    blocks: dict[str, dict[str, float]] = defaultdict(
        lambda: {"switching_w": 0.0, "internal_w": 0.0, "leakage_w": 0.0}
    )
    drivers = netlist.drivers(library)
    switching = internal = clock_power = leakage = 0.0
    # Net switching power goes to the block of the driving cell (inputs: the top block).
    for net, load in net_load_f.items():
        if net <= CONST1:
            continue
        watts = 0.5 * load * v2 * rate[net] * clock_hz
        block = netlist.instances[drivers[net][0]].block if net in drivers else netlist.top
        blocks[block]["switching_w"] += watts
        if net in clock_nets:
            clock_power += watts
        else:
            switching += watts
    for inst in netlist.instances:
        cell = library.cell(inst.cell)
        leakage += cell.leakage_w
        blocks[inst.block]["leakage_w"] += cell.leakage_w
        for pin, net in inst.pins.items():
            if net <= CONST1 or rate[net] == 0.0:
                continue
            direction = cell.pins[pin].direction
            load = net_load_f.get(net, 0.0) if direction == "output" else 0.0
            energy = _internal_energies(cell, pin, slews.get(net, default_slew), load)
            watts = energy * rate[net] * clock_hz
            blocks[inst.block]["internal_w"] += watts
            if net in clock_nets:
                clock_power += watts
            else:
                internal += watts
    dynamic = switching + internal + clock_power
    if dynamic <= 0.0:
        raise BitwaveError(
            "the simulation produced zero dynamic power: the stimulus never toggled the design"
        )
    for entry in blocks.values():
        entry["total_w"] = entry["switching_w"] + entry["internal_w"] + entry["leakage_w"]
    signal_nets = [n for n in range(CONST1 + 1, netlist.n_nets) if n not in clock_nets]
    return PowerReport(
        clock_hz=clock_hz,
        dynamic_w=dynamic,
        switching_w=switching,
        internal_w=internal,
        clock_w=clock_power,
        leakage_w=leakage,
        by_block={k: dict(v) for k, v in blocks.items()},
        mean_activity=float(np.mean(activity[signal_nets])) if signal_nets else 0.0,
    )
