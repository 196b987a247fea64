"""Activity-based power of a mapped netlist:

    P = leakage + sum_pins E_internal(pin) x rate(pin) + sum_nets 0.5 x C_load x V^2 x rate(net)

with rate = transitions per second (activity per cycle x clock frequency), the internal
energies read from the liberty tables at each net's load and slew, and the clock net toggling
twice per cycle (a gated clock twice per enabled cycle, as the gate-level simulation counts). A result with zero dynamic power or with nets lacking activity is refused.

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
from bitwave.synth.eda.netlist import CONST1, FlatNetlist, clock_tree_nets


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
    _check_annotation(netlist, activity, clock_hz, macro_activity)
    root = set(netlist.ports[clock_port].nets) if clock_port in netlist.ports else set()
    clock_nets = clock_tree_nets(netlist, library, clock_port)
    sums = _PowerSums(netlist, library, clock_hz, _transition_rates(activity, root), clock_nets)
    sums.add_net_switching(net_load_f)
    sums.add_cell_power(net_load_f, net_slew_s or {})
    macros = sums.add_macro_power(macro_activity or [])
    dynamic = sums.switching + sums.internal + sums.clock + sums.macro_dynamic
    if dynamic <= 0.0:
        raise BitwaveError(
            "the simulation produced zero dynamic power: the stimulus never toggled the design"
        )
    signal_nets = [n for n in range(CONST1 + 1, netlist.n_nets) if n not in clock_nets]
    return PowerReport(
        clock_hz=clock_hz,
        dynamic_w=dynamic,
        switching_w=sums.switching,
        internal_w=sums.internal,
        clock_w=sums.clock,
        leakage_w=sums.leakage + sums.macro_leakage,
        by_block=sums.block_totals(),
        mean_activity=float(np.mean(activity[signal_nets])) if signal_nets else 0.0,
        macro_dynamic_w=sums.macro_dynamic,
        macro_leakage_w=sums.macro_leakage,
        macros=macros,
    )


def _check_annotation(
    netlist: FlatNetlist,
    activity: np.ndarray,
    clock_hz: float,
    macro_activity: list[MacroActivity] | None,
) -> None:
    """Refuse a clock or an activity that does not cover every net and macro."""
    if clock_hz <= 0:
        raise BitwaveError(f"clock frequency must be positive, got {clock_hz} Hz")
    if len(activity) != netlist.n_nets:
        raise BitwaveError(
            f"activity has {len(activity)} entries for {netlist.n_nets} nets: nets are unannotated"
        )
    if not np.all(np.isfinite(activity)):
        raise BitwaveError("activity has non-finite entries: nets are unannotated")
    if netlist.macros and (macro_activity is None or len(macro_activity) != len(netlist.macros)):
        raise BitwaveError(
            f"the netlist has {len(netlist.macros)} memory macros but the activity gives the "
            f"accesses of {0 if macro_activity is None else len(macro_activity)}: macros are unannotated"
        )


def _transition_rates(activity: np.ndarray, root_clock: set[int]) -> np.ndarray:
    """Transitions per cycle of every net: the clock twice, the constants never, a gated clock
    as simulated (twice in each cycle its gate was enabled)."""
    rate = activity.astype(float).copy()
    for net in root_clock:
        rate[net] = 2.0  # one rising and one falling edge per cycle
    rate[: CONST1 + 1] = 0.0
    return rate


class _PowerSums:
    """The running sums of the power components, in total and per block (in this order:
    net switching, cell internal and leakage, macros)."""

    def __init__(
        self,
        netlist: FlatNetlist,
        library: Library,
        clock_hz: float,
        rate: np.ndarray,
        clock_nets: set[int],
    ) -> None:
        self.netlist, self.library, self.clock_hz = netlist, library, clock_hz
        self.rate, self.clock_nets = rate, clock_nets
        self.switching = self.internal = self.clock = self.leakage = 0.0
        self.macro_dynamic = self.macro_leakage = 0.0
        self.blocks: dict[str, dict[str, float]] = defaultdict(
            lambda: {
                "switching_w": 0.0,
                "internal_w": 0.0,
                "leakage_w": 0.0,
                "macro_dynamic_w": 0.0,
            }
        )

    def add_net_switching(self, net_load_f: dict[int, float]) -> None:
        """0.5 C V^2 per transition, to the block of the driving cell (inputs: the top)."""
        netlist, v2 = self.netlist, self.library.voltage_v**2
        drivers = netlist.drivers(self.library)
        macro_driven = {n: m.block for m in netlist.macros for n in m.output_nets()}
        for net, load in net_load_f.items():
            if net <= CONST1:
                continue
            watts = 0.5 * load * v2 * self.rate[net] * self.clock_hz
            if net in drivers:
                block = netlist.instances[drivers[net][0]].block
            else:
                block = macro_driven.get(net, netlist.top)
            self.blocks[block]["switching_w"] += watts
            if net in self.clock_nets:
                self.clock += watts
            else:
                self.switching += watts

    def add_cell_power(self, net_load_f: dict[int, float], slews: dict[int, float]) -> None:
        """Every cell's leakage and the internal energy of every toggling pin."""
        default_slew = self.library.default_input_slew_s
        internal_energy = self.library.internal_energy
        for inst in self.netlist.instances:
            cell = self.library.cell(inst.cell)
            self.leakage += cell.leakage_w
            self.blocks[inst.block]["leakage_w"] += cell.leakage_w
            for pin, net in inst.pins.items():
                if net <= CONST1 or self.rate[net] == 0.0:
                    continue
                direction = cell.pins[pin].direction
                load = net_load_f.get(net, 0.0) if direction == "output" else 0.0
                energy = internal_energy(cell, pin, slews.get(net, default_slew), load)
                watts = energy * self.rate[net] * self.clock_hz
                self.blocks[inst.block]["internal_w"] += watts
                if net in self.clock_nets:
                    self.clock += watts
                else:
                    self.internal += watts

    def add_macro_power(self, macro_activity: list[MacroActivity]) -> list[dict]:
        """Each memory macro's modelled power at its accesses; returns the per-macro report."""
        clock_hz, macros = self.clock_hz, []
        for macro, accesses in zip(self.netlist.macros, macro_activity, strict=True):
            model = macro_model(self.library, macro.kind, macro.depth, macro.width)
            read_w = accesses.reads_per_cycle * model.read_energy_j * clock_hz
            write_w = accesses.bits_written_per_cycle * model.write_bit_energy_j * clock_hz
            cycle_w = model.cycle_energy_j * clock_hz
            self.macro_dynamic += read_w + write_w + cycle_w
            self.macro_leakage += model.leakage_w
            self.blocks[macro.block]["macro_dynamic_w"] += read_w + write_w + cycle_w
            self.blocks[macro.block]["leakage_w"] += model.leakage_w
            macros.append({
                "name": macro.name, "block": macro.block, "shape": macro.shape,
                "reads_per_cycle": accesses.reads_per_cycle,
                "bits_written_per_cycle": accesses.bits_written_per_cycle,
                "read_energy_j": model.read_energy_j, "write_bit_energy_j": model.write_bit_energy_j,
                "cycle_energy_j": model.cycle_energy_j,
                "read_w": read_w, "write_w": write_w, "clock_w": cycle_w,
                "leakage_w": model.leakage_w, "total_w": read_w + write_w + cycle_w + model.leakage_w,
            })  # fmt: skip
        return macros

    def block_totals(self) -> dict[str, dict[str, float]]:
        for entry in self.blocks.values():
            entry["total_w"] = (
                entry["switching_w"]
                + entry["internal_w"]
                + entry["leakage_w"]
                + entry["macro_dynamic_w"]
            )
        return {k: dict(v) for k, v in self.blocks.items()}


def realtime_power(leakage_w: float, dynamic_energy_j: float, idle_dynamic_w: float | None,
                   frame_s: float, fps: float) -> float:  # fmt: skip
    """Power at ``fps`` frames per second: leakage, each frame's dynamic energy, and between
    frames the idle dynamic power of a design whose clock keeps running (what clock gating
    leaves clocked: the clock net, the gates, the ungated flip-flops)."""
    busy = min(1.0, frame_s * fps)
    return leakage_w + dynamic_energy_j * fps + (idle_dynamic_w or 0.0) * (1.0 - busy)
