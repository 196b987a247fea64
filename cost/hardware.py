"""Area, energy per frame and cycles per frame of an architecture at a folding, from a
per-action table.

Hardware model (FINN-style dataflow: each layer has its own compute):
- A layer's matrix (rows x cols) runs on PE neurons of SIMD lanes each, PE <= rows, SIMD <= cols;
  it takes repeats * ceil(rows/PE) * ceil(cols/SIMD) cycles per frame. Layers are pipelined,
  so a frame takes the slowest layer's cycles (throughput) and the sum (latency).
- Compute area = PE * (overhead + SIMD * lane) of the layer's MAC kind.
- A fully unrolled layer (PE = rows, SIMD = cols) has its weights wired in as constants, as the
  project's generator does, so it needs no weight memory. A folded layer keeps its weights in a
  register file read once per MAC: area per stored bit and energy per bit read per mux level.
  Binary layers that are fully unrolled use the constant-weight XNOR node's figures
  (``mac_binary_const``) when the table has them.
- Activations and persistent state live in registers (area per bit, energy per bit per frame).
- Element-wise work (nonlinearities, gate products) is outside the table and not estimated.
- Leakage: per MAC lane and per neuron (fitted on the synthesized nodes), per register bit and
  per stored register-file bit (the liberty's flip-flop and mux), whenever the table has the
  figures. At a frame rate the design leaks all the time and switches once per frame
  (``bitwave.cost.gating``); the nodes' energies hold their leakage over one cycle, which the
  dynamic energy leaves out (``energy_per_frame_j`` keeps the figure with it, as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitwave.core.errors import BitwaveError
from bitwave.core.ops.base import fold_counts
from bitwave.cost.counts import ArchCost, LayerCost
from bitwave.cost.gating import (
    DEFAULT_OFF_LEAKAGE_FRACTION,
    GatingWhatIf,
    RatePower,
    gating_json,
)
from bitwave.cost.gating import off_leakage_fraction as check_fraction
from bitwave.cost.tables import CONST_BINARY_ACTION, MAC_ACTIONS, CostTable, depth_levels


@dataclass(frozen=True)
class Folding:
    """PE neurons x SIMD lanes per layer; ``None`` means fully unrolled in that dimension."""

    pe: int | None = None
    simd: int | None = None

    def __post_init__(self) -> None:
        for name in ("pe", "simd"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise BitwaveError(
                    f"folding {name}: {value!r}; allowed a positive integer (or unset = fully unrolled)"
                )

    @property
    def label(self) -> str:
        return f"PE={self.pe or 'all'} SIMD={self.simd or 'all'}"


@dataclass
class LayerEstimate:
    name: str
    kind: str
    pe: int
    simd: int
    cycles: int
    compute_area_um2: float
    memory_area_um2: float
    energy_j: float  # the nodes' energy per MAC, their leakage over the MAC's cycle included
    hardwired: bool
    leakage_w: float | None = None  # None: the table has no leakage for its entries
    dynamic_energy_j: float = 0.0  # switching only


@dataclass
class HardwareEstimate:
    table: str
    library: str
    clock_mhz: float
    folding: str
    layers: list[LayerEstimate] = field(default_factory=list)
    register_area_um2: float = 0.0
    register_energy_j: float = 0.0
    frames_per_second: float = 0.0
    register_leakage_w: float | None = None
    off_leakage_fraction: float = DEFAULT_OFF_LEAKAGE_FRACTION
    holds_state: str = ""  # why the design cannot be gated between frames ("": it can)

    @property
    def area_um2(self) -> float:
        return (
            sum(e.compute_area_um2 + e.memory_area_um2 for e in self.layers)
            + self.register_area_um2
        )

    @property
    def energy_per_frame_j(self) -> float:
        """The figure before leakage was modelled: the nodes' energies (their leakage over
        each MAC's cycle included) plus storage switching."""
        return sum(e.energy_j for e in self.layers) + self.register_energy_j

    @property
    def dynamic_energy_per_frame_j(self) -> float:
        return sum(e.dynamic_energy_j for e in self.layers) + self.register_energy_j

    @property
    def leakage_w(self) -> float | None:
        parts = [e.leakage_w for e in self.layers] + [self.register_leakage_w]
        return None if None in parts else sum(parts)

    @property
    def rate_power(self) -> RatePower | None:
        """At ``frames_per_second``: switching once per frame plus leakage (None: the table
        has no leakage figures)."""
        leakage = self.leakage_w
        if leakage is None:
            return None
        return RatePower(self.frames_per_second, self.dynamic_energy_per_frame_j, leakage)

    @property
    def gating(self) -> GatingWhatIf | None:
        """The power-gating what-if: powered while a frame passes the layers one after the
        other (the latency), off otherwise; None for a design that holds state."""
        rate = self.rate_power
        if rate is None or self.holds_state:
            return None
        on_s = self.latency_cycles / (self.clock_mhz * 1e6)
        return GatingWhatIf(rate, on_s, self.off_leakage_fraction)

    @property
    def gating_why_not(self) -> str:
        if self.leakage_w is None:
            return "the table has no leakage figures"
        return self.holds_state

    @property
    def cycles_per_frame(self) -> int:
        return max((e.cycles for e in self.layers), default=0)

    @property
    def latency_cycles(self) -> int:
        return sum(e.cycles for e in self.layers)

    @property
    def real_time(self) -> bool:
        return self.cycles_per_frame * self.frames_per_second <= self.clock_mhz * 1e6

    def to_json(self) -> dict:
        rate = self.rate_power
        return {
            "table": self.table,
            "library": self.library,
            "clock_mhz": self.clock_mhz,
            "folding": self.folding,
            "area_um2": self.area_um2,
            "area_mm2": self.area_um2 / 1e6,
            "energy_per_frame_j": self.energy_per_frame_j,
            "power_without_leakage_w": self.energy_per_frame_j * self.frames_per_second,
            "dynamic_energy_per_frame_j": self.dynamic_energy_per_frame_j,
            "dynamic_w": self.dynamic_energy_per_frame_j * self.frames_per_second,
            "leakage_w": self.leakage_w,
            "power_w": rate.total_w if rate else None,
            "power_gating_what_if": gating_json(self.gating, self.gating_why_not),
            "cycles_per_frame": self.cycles_per_frame,
            "latency_cycles": self.latency_cycles,
            "real_time_at_clock": self.real_time,
            "register_area_um2": self.register_area_um2,
            "register_leakage_w": self.register_leakage_w,
            "layers": [e.__dict__ for e in self.layers],
        }


def estimate_layer(layer: LayerCost, table: CostTable, folding: Folding) -> LayerEstimate | None:
    """Estimate one matrix layer; layers without a matrix (PReLU) return None. An IR
    ``binary_gru`` layer is priced as the engine the generator builds for it."""
    if layer.rows == 0 or layer.cols == 0 or layer.macs == 0:
        return None
    if layer.op == "binary_gru" and layer.source is not None:
        return gru_layer_estimate(layer, table, folding)
    pe = min(folding.pe or layer.rows, layer.rows)
    simd = min(folding.simd or layer.cols, layer.cols)
    hardwired = pe == layer.rows and simd == layer.cols
    constant = hardwired and layer.kind == "binary" and CONST_BINARY_ACTION in table.actions
    mac = table.action(CONST_BINARY_ACTION if constant else MAC_ACTIONS[layer.kind])
    nf, sf = fold_counts(layer.rows, layer.cols, pe, simd)  # the folding rule of every op
    steps = nf * sf
    cycles = layer.repeats * steps
    compute_area = pe * (mac.overhead_area_um2 + simd * mac.area_um2)
    # per-MAC energy plus the per-neuron overhead, spread over the lanes it serves
    energy = layer.macs * (mac.energy_j + mac.overhead_energy_j / layer.cols)
    lane_j, neuron_j = mac.switching_j(table.clock_mhz)
    dynamic = layer.macs * (lane_j + neuron_j / layer.cols)
    leakage = _sum_or_none(pe * mac.overhead_leakage_w, pe * simd, mac.leakage_w)
    memory_area = 0.0
    if not hardwired:
        regfile = table.action("regfile_bit_read")
        memory_area = layer.weight_memory_bits * regfile.area_um2
        bits_read = layer.macs * layer.precision.wbits
        reads_j = bits_read * regfile.energy_j * depth_levels(steps)
        energy, dynamic = energy + reads_j, dynamic + reads_j
        leakage = _sum_or_none(leakage, layer.weight_memory_bits, regfile.leakage_w)
    return LayerEstimate(layer.name, layer.kind, pe, simd, cycles, compute_area, memory_area,
                         energy, hardwired, leakage, dynamic)  # fmt: skip


def _sum_or_none(base: float | None, count: float, each: float | None) -> float | None:
    """``base + count * each``, or None when either figure is missing from the table."""
    return None if base is None or each is None else base + count * each


def holds_state(arch: ArchCost, layers: list[LayerEstimate]) -> str:
    """Why the estimated design keeps state from one frame to the next ("": it does not):
    recurrent state or history buffers, or weights in writable storage."""
    names = lambda found: ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")  # noqa: E731
    stateful = [layer.name for layer in arch.layers if layer.state_bits]
    if stateful:
        return f"{names(stateful)} hold state between frames (recurrent or history)"
    folded = [e.name for e in layers if not e.hardwired]
    if folded:
        return (
            f"{len(folded)} folded layers ({names(folded)}) keep their weights in a register file, "
            "which loses them when off (a design folder with --weights const prices its "
            "weights as ROM logic and can be gated: `bitwave cost DESIGN_DIR`)"
        )
    return ""


def estimate(
    arch: ArchCost,
    table: CostTable,
    folding: Folding | None = None,
    off_leakage_fraction: float = DEFAULT_OFF_LEAKAGE_FRACTION,
) -> HardwareEstimate:
    """Area, energy per frame, leakage and cycles for the most expensive run path of
    ``arch``; ``off_leakage_fraction`` parameterises the power-gating what-if."""
    folding = folding or Folding()
    off_leakage_fraction = check_fraction(off_leakage_fraction)
    totals = arch.totals()
    if arch.stages:
        worst = max(arch.stages, key=lambda s: sum(layer.macs for layer in arch.stage_layers(s)))
        layers = arch.stage_layers(worst)
    else:
        layers = arch.layers
    result = HardwareEstimate(
        table=table.path, library=table.library, clock_mhz=table.clock_mhz, folding=folding.label,
        frames_per_second=arch.frames_per_second, off_leakage_fraction=off_leakage_fraction,
    )  # fmt: skip
    for layer in layers:
        layer_estimate = estimate_layer(layer, table, folding)
        if layer_estimate is not None:
            result.layers.append(layer_estimate)
    register = table.action("register_bit")
    result.register_area_um2 = totals.activation_bits * register.area_um2
    # every activation bit is written once per frame; the cycles in between the registers hold
    result.register_energy_j = totals.activation_bits * register.energy_j
    result.register_leakage_w = _sum_or_none(0.0, totals.activation_bits, register.leakage_w)
    result.holds_state = holds_state(arch, result.layers)
    return result


def gru_layer_estimate(layer: LayerCost, table: CostTable, folding: Folding) -> LayerEstimate:
    """A ``binary_gru`` layer as the GRU engine of ``bitwave.cost.engines`` (constant weights,
    the compact library), running its own frames back to back at the table's clock. Unset
    foldings unroll: PE = H units, SIMD = the wider of input and state."""
    from bitwave.cost.engines import ROM_PARTS, BlockEstimate, Prices, gru_parts, load_rom_fit
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY

    ir_layer = layer.source
    h, lanes = ir_layer.out_width, max(ir_layer.in_width, ir_layer.out_width)
    pe, simd = min(folding.pe or h, h), min(folding.simd or lanes, lanes)
    prices = Prices.from_library(COMPACT_LIBRARY, table, load_rom_fit())
    parts, cycles = gru_parts(ir_layer, pe, simd, "const", prices)
    block = BlockEstimate(layer.name, layer.name, layer.op, cycles, parts, pe, simd)
    energy = block.energy_per_frame_j(cycles, table.clock_mhz * 1e6, prices)
    energy += block.root_clock_j(prices) * cycles
    store = sum(p.area_um2 for p in parts if p.name in ROM_PARTS)
    dynamic = energy - block.leakage_w * cycles / (table.clock_mhz * 1e6)
    return LayerEstimate(layer.name, layer.kind, pe, simd, cycles, block.area_um2 - store,
                         store, energy, False, block.leakage_w, dynamic)  # fmt: skip
