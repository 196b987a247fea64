"""Activity-based power of a mapped netlist:

    P = leakage + sum_pins E_internal(pin) x rate(pin) + sum_nets 0.5 x C_load x V^2 x rate(net)

with rate = transitions per second (activity per cycle x clock frequency), the internal
energies read from the liberty tables at each net's load and slew, and the clock net toggling
twice per cycle. A result with zero dynamic power or with nets lacking activity is refused.

Memory macros (``bitwave.synth.eda.memory_macro``) add their own power:

    P_macro = leakage + f x (E_cycle + reads per cycle x E_read + bits written per cycle x E_bit)

with the reads and written bits counted per lane and cycle by the gate-level simulation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Library
from bitwave.synth.eda.memory_macro import macro_model
from bitwave.synth.eda.netlist import CONST1, FlatNetlist


@dataclass(frozen=True)
class MacroActivity:
    """One macro's accesses per clock cycle (averaged over lanes and cycles)."""

    reads_per_cycle: float
    bits_written_per_cycle: float


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
    macro_dynamic_w: float = 0.0
    macro_leakage_w: float = 0.0
    macros: list[dict] = field(default_factory=list)

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
            "macro_dynamic_w": self.macro_dynamic_w,
            "macro_leakage_w": self.macro_leakage_w,
            "macros": self.macros,
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
    macro_activity: list[MacroActivity] | None = None,
) -> PowerReport:
    """Power at ``clock_hz`` given each net's transitions per cycle (``activity[net]``) and,
    for a netlist with memory macros, each macro's accesses (``macro_activity``)."""
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
    if netlist.macros and (macro_activity is None or len(macro_activity) != len(netlist.macros)):
        raise BitwaveError(
            f"the netlist has {len(netlist.macros)} memory macros but the activity gives the "
            f"accesses of {0 if macro_activity is None else len(macro_activity)}: macros are unannotated"
        )
    blocks: dict[str, dict[str, float]] = defaultdict(
        lambda: {"switching_w": 0.0, "internal_w": 0.0, "leakage_w": 0.0, "macro_dynamic_w": 0.0}
    )
    drivers = netlist.drivers(library)
    macro_driven = {n: m.block for m in netlist.macros for n in m.output_nets()}
    switching = internal = clock_power = leakage = 0.0
    # Net switching power goes to the block of the driving cell (inputs: the top block).
    for net, load in net_load_f.items():
        if net <= CONST1:
            continue
        watts = 0.5 * load * v2 * rate[net] * clock_hz
        if net in drivers:
            block = netlist.instances[drivers[net][0]].block
        else:
            block = macro_driven.get(net, netlist.top)
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
    macro_dynamic = macro_leakage = 0.0
    macros = []
    for macro, accesses in zip(netlist.macros, macro_activity or [], strict=True):
        model = macro_model(library, macro.kind, macro.depth, macro.width)
        read_w = accesses.reads_per_cycle * model.read_energy_j * clock_hz
        write_w = accesses.bits_written_per_cycle * model.write_bit_energy_j * clock_hz
        cycle_w = model.cycle_energy_j * clock_hz
        macro_dynamic += read_w + write_w + cycle_w
        macro_leakage += model.leakage_w
        blocks[macro.block]["macro_dynamic_w"] += read_w + write_w + cycle_w
        blocks[macro.block]["leakage_w"] += model.leakage_w
        macros.append({
            "name": macro.name, "block": macro.block, "shape": macro.shape,
            "reads_per_cycle": accesses.reads_per_cycle,
            "bits_written_per_cycle": accesses.bits_written_per_cycle,
            "read_energy_j": model.read_energy_j, "write_bit_energy_j": model.write_bit_energy_j,
            "cycle_energy_j": model.cycle_energy_j,
            "read_w": read_w, "write_w": write_w, "clock_w": cycle_w,
            "leakage_w": model.leakage_w, "total_w": read_w + write_w + cycle_w + model.leakage_w,
        })  # fmt: skip
    leakage += macro_leakage
    dynamic = switching + internal + clock_power + macro_dynamic
    if dynamic <= 0.0:
        raise BitwaveError(
            "the simulation produced zero dynamic power: the stimulus never toggled the design"
        )
    for entry in blocks.values():
        entry["total_w"] = (
            entry["switching_w"]
            + entry["internal_w"]
            + entry["leakage_w"]
            + entry["macro_dynamic_w"]
        )
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
        macro_dynamic_w=macro_dynamic,
        macro_leakage_w=macro_leakage,
        macros=macros,
    )
