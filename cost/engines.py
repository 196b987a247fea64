"""What a generated design costs, part by part: the folded engines bitwave.hw builds (the MVTU
of ``binary_dense``, the GRU engine of ``binary_gru``) at their folding, and the stream framing
around them, priced from the liberty's cells, the XNOR-popcount node of the cost table and the
fit over synthesized constant tables (``cost/tables/rom_logic.yaml``).

Where the table-based estimate (``bitwave.cost.hardware``) prices a layer as PE x SIMD MAC
lanes plus a register file, this model counts what the generator actually instantiates:

* flip-flops: the input frame buffer, the fold counters and pipeline flags, the operand
  register, one accumulator per PE, the output buffer, a GRU's state register, reset and update
  gates, and the read registers of the stores. Every flip-flop is clocked every cycle (the
  designs have no clock gating), has a synchronous-reset gate (the stores' read registers
  excepted), and one with an enable holds its value through a 2:1 mux;
* the weight store: with ``--weights const`` a ROM that synthesis folds into logic, priced by
  the fit over random tables of ``bitwave.synth.studies.roms`` (area per stored bit and energy
  per read as functions of depth and width; columns that coincide in a shallow table are
  kept once); with ``--weights memory`` a RAM macro, priced by synthesis' own macro model;
* per PE: SIMD XNOR lanes and the compressor tree (the cost table's ``mac_binary`` lanes),
  the accumulator adder, the threshold comparison; for the GRU also the coefficient multiply
  (popcount x a_g or b_g), the reset gating of the candidate's recurrent term, the four-way
  threshold mux with its direction, two comparators and the update mux;
* the operand multiplexers (input folds, state folds, the start flag's initial state);
* the buffer trees ``bitwave synth`` puts on nets above its max fanout (16): the reset, the
  enables, the fold selects, each operand bit feeding every PE (inside a ROM: in its fit).

Energy of one frame = every flip-flop's clock over the design's cycles per frame + the
datapath's switching over the engine's own compute cycles + leakage over the frame time, at
random data (the activity the table's nodes and the ROM fit were measured at). Not modelled,
as in synthesis: wires, gate sizing, glitches; the handshake logic is a fixed allowance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from bitwave.core.errors import BitwaveError
from bitwave.core.inputs import safe_load_bounded
from bitwave.core.ops import binary_gru
from bitwave.core.ops.base import popcount_width
from bitwave.cost.gating import DEFAULT_OFF_LEAKAGE_FRACTION, GatingWhatIf, RatePower, gating_json
from bitwave.cost.gating import off_leakage_fraction as check_fraction
from bitwave.cost.tables import CONST_BINARY_ACTION, CostTable
from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT

ROM_TABLE = Path(__file__).resolve().parent / "tables" / "rom_logic.yaml"
ROM_FORMAT = "bitwave-rom-logic"
# Shapes (depth, width) ``bitwave cost --make-rom-table`` synthesizes: random tables that span
# the stores of generated layers (wider and deeper ones take Yosys minutes each).
ROM_SHAPES = (
    (8, 16), (16, 16), (64, 16), (256, 16), (1024, 16),
    (8, 64), (16, 64), (32, 64), (64, 64), (128, 64), (256, 64), (512, 64), (1024, 64),
    (16, 256), (64, 256), (256, 256), (16, 1024), (64, 1024), (128, 1024),
)  # fmt: skip
CONTROL_GATES = 24  # handshake and pipeline-flag logic of one engine, in 2-input gates
# A multiplexer tree whose select moves every cycle but whose data inputs hold: about half of
# its nodes switch (the path that changes), against all of them in random-data logic.
SELECT_ACTIVITY = 0.5
ROM_PARTS = ("weight store (ROM as logic)", "gate threshold store", "threshold store")


# ---- constant tables as logic ----------------------------------------------------------------
def kept_columns(depth: int, width: int) -> float:
    """Expected number of distinct, non-constant columns of a random ``depth`` x ``width``
    table: synthesis keeps one register and one function per distinct column (in a shallow
    table many coincide), none for a constant one."""
    if depth > 48:  # every column is its own function
        return float(width)
    patterns = 2.0**depth
    seen = lambda count: count * -math.expm1(width * math.log1p(-1.0 / patterns))  # noqa: E731
    return max(0.0, seen(patterns) - seen(2.0))


@dataclass(frozen=True)
class RomFit:
    """ln(logic area per stored bit) and ln(dynamic energy per read per kept column) as
    linear functions of (1, ln depth, ln^2 depth, ln width), least squares over the measured
    tables ``points`` (each: depth, width, flops, logic_area_um2, logic energy per read)."""

    area: tuple[float, ...]
    energy: tuple[float, ...]
    leakage_w_per_um2: float
    points: tuple[dict, ...] = ()
    source: dict = field(default_factory=dict)

    @staticmethod
    def features(depth: float, width: float) -> np.ndarray:
        ln_d = math.log(max(depth, 2))
        return np.array([1.0, ln_d, ln_d * ln_d, math.log(max(width, 1.0))])

    def _columns(self, coefficients: tuple[float, ...], depth: int, width: float) -> float:
        """The fitted per-column figure (exp of the linear model) times the kept columns."""
        columns = kept_columns(depth, int(round(width))) if width >= 1 else 0.0
        if columns <= 0:
            return 0.0
        return columns * math.exp(float(self.features(depth, columns) @ np.array(coefficients)))

    def logic_area_um2(self, depth: int, width: float) -> float:
        return depth * self._columns(self.area, depth, width)  # the fit is per stored bit

    def read_energy_j(self, depth: int, width: float) -> float:
        return self._columns(self.energy, depth, width)


def fit_rom(
    points: list[dict], flop_cycle_j: float, flop_leakage_w: float, source: dict | None = None
) -> RomFit:
    """Fit ``RomFit`` to measured tables (``bitwave.synth.studies.roms.RomResult.to_json``):
    the logic's energy is the measured dynamic energy per read less its flip-flops' (one
    ``flop_cycle_j`` each: clock and data), its leakage the measured less theirs."""
    rows, areas, energies, leaks = [], [], [], []
    for p in points:
        columns = kept_columns(p["depth"], p["width"])
        logic_j = p["dynamic_energy_per_read_j"] - p["flops"] * flop_cycle_j
        if columns < 1 or p["logic_area_um2"] <= 0 or logic_j <= 0:
            continue
        rows.append(RomFit.features(p["depth"], columns))
        areas.append(math.log(p["logic_area_um2"] / (p["depth"] * columns)))
        energies.append(math.log(logic_j / columns))
        leaks.append((p["leakage_w"] - p["flops"] * flop_leakage_w) / p["logic_area_um2"])
    if len(rows) < 4:
        raise BitwaveError(f"a ROM fit needs at least 4 usable measured tables, got {len(rows)}")
    matrix = np.array(rows)
    area = np.linalg.lstsq(matrix, np.array(areas), rcond=None)[0]
    energy = np.linalg.lstsq(matrix, np.array(energies), rcond=None)[0]
    return RomFit(tuple(map(float, area)), tuple(map(float, energy)), float(np.mean(leaks)),
                  tuple(points), source or {})  # fmt: skip


def load_rom_fit(path: str | Path | None = None) -> RomFit:
    path = Path(path) if path else ROM_TABLE
    if not path.is_file():
        raise BitwaveError(
            f"ROM logic table {path} does not exist (made by `bitwave cost --make-rom-table "
            f"--out {ROM_TABLE.relative_to(ROM_TABLE.parents[2])}`)"
        )
    data = safe_load_bounded(path)
    if not isinstance(data, dict) or data.get("format") != ROM_FORMAT:
        raise BitwaveError(f"{path}: not a {ROM_FORMAT} file")
    try:
        fit = data["fit"]
        return RomFit(tuple(fit["area"]), tuple(fit["energy"]), float(fit["leakage_w_per_um2"]),
                      tuple(data.get("points", ())), data.get("source", {}))  # fmt: skip
    except (KeyError, TypeError) as error:
        raise BitwaveError(f"{path}: malformed fit ({error}); regenerate it") from None


def make_rom_fit(
    liberty: str | Path | None = None,
    shapes: tuple[tuple[int, int], ...] = ROM_SHAPES,
    clock_mhz: float = 100.0,
    progress: bool = True,
) -> RomFit:
    """Synthesize a random table of every shape (``bitwave.synth.studies.roms``) and fit."""
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.studies.roms import measure_rom

    liberty = Path(liberty or COMPACT_LIBRARY)
    figures = flop_figures(load_library(liberty))
    points = []
    for depth, width in shapes:
        if progress:
            print(f"synthesizing a random {depth} x {width} table", flush=True)
        points.append(measure_rom(depth, width, clock_mhz, liberty).to_json())
    source = {"generated_by": "bitwave cost --make-rom-table", "liberty": liberty.name,
              "clock_mhz": clock_mhz, "study": "bitwave.synth.studies.roms (random tables, "
              "consecutive reads, fanout repair at the synth default)"}  # fmt: skip
    return fit_rom(points, figures.cycle_j, figures.leakage_w, source)


def rom_table_yaml(fit: RomFit) -> str:
    data = {
        "format": ROM_FORMAT,
        "version": 1,
        "source": fit.source,
        "fit": {"area": list(fit.area), "energy": list(fit.energy),
                "leakage_w_per_um2": fit.leakage_w_per_um2,
                "features": "1, ln depth, ln^2 depth, ln kept columns; area: ln um^2 per bit, "
                            "energy: ln J per read per kept column"},
        "points": list(fit.points),
    }  # fmt: skip
    header = "# Generated by `bitwave cost --make-rom-table`: random constant tables synthesized as logic.\n"
    return header + yaml.safe_dump(data, sort_keys=False, width=110)


# ---- prices of the parts -------------------------------------------------------------------
_NAND2 = 0b0111  # truth table over rows (a, b) = 00, 10, 01, 11


@dataclass(frozen=True)
class FlopFigures:
    """The plain flip-flop's energies: clock pin (two edges), its clock-net share (C V^2) per
    cycle, one data transition (D, Q and the Q net), leakage."""

    clock_j: float
    clock_net_j: float
    toggle_j: float
    leakage_w: float

    @property
    def cycle_j(self) -> float:
        """One cycle of a register at random data (half its bits change)."""
        return self.clock_j + self.clock_net_j + 0.5 * self.toggle_j


def flop_figures(library: object) -> FlopFigures:
    from bitwave.synth.eda.memory_macro import bit_figures, plain_flop

    bits, flop = bit_figures(library), plain_flop(library)
    clock_pin = next(p for p in flop.inputs() if p != flop.sequential.next_state.name)
    v2 = library.voltage_v**2
    return FlopFigures(
        clock_j=bits.flop_clock_energy_j,
        clock_net_j=flop.pins[clock_pin].capacitance_f * v2,
        toggle_j=2 * (bits.register_bit_energy_j - bits.flop_clock_energy_j) + bits.load_f * v2,
        leakage_w=flop.leakage_w,
    )


@dataclass(frozen=True)
class Unit:
    """A library cell as the model uses it: area and leakage."""

    area_um2: float
    leakage_w: float

    @property
    def leakage_w_per_um2(self) -> float:
        return self.leakage_w / self.area_um2 if self.area_um2 else 0.0


@dataclass(frozen=True)
class Prices:
    """Per-part figures (SI units) from the liberty, the cost table and the ROM fit."""

    library: str
    flop: Unit
    mux: Unit  # 2:1
    adder: Unit  # full adder
    compare: Unit  # one bit of a comparator's carry chain, priced as a half adder
    gate: Unit  # the smallest 2-input NAND
    buffer: Unit  # the cell the fanout repair uses
    flop_clock_j: float  # per cycle: the clock pin's two edges
    clock_net_j: float  # per flip-flop and cycle: its pin's share of the clock net (C V^2)
    flop_toggle_j: float  # per data transition: D and Q pins and the Q net
    logic_j_per_um2: float  # switching energy per cycle of random-data logic, per um^2
    lane_area_um2: float  # one XNOR lane of the compressor tree (mac_binary)
    lane_j: float
    const_lane_area_um2: float  # a lane with its weight wired in (mac_binary_const)
    const_lane_j: float
    rom: RomFit
    # the integrated clock gate synthesis inserts (None: the library has none, nothing gated)
    clock_gate: Unit | None = None
    clock_gate_cell: str = ""
    gate_clock_j: float = 0.0  # per cycle, enabled or not: its clock pin's two edges
    gate_net_j: float = 0.0  # per cycle: its clock pin's share of the root clock net (C V^2)
    gate_out_j: float = 0.0  # per enabled cycle: its gated output's two edges (internal)

    @classmethod
    def from_library(cls, liberty: str | Path, table: CostTable, rom: RomFit) -> Prices:
        from bitwave.synth.eda.fanout import choose_buffer
        from bitwave.synth.eda.liberty import load_library
        from bitwave.synth.eda.memory_macro import mux2, plain_flop, smallest_gate
        from bitwave.synth.flows.asic import find_adder

        library = load_library(liberty)
        flop, figures = plain_flop(library), flop_figures(library)
        full, half = find_adder(library, 3), find_adder(library, 2)
        if full is None or half is None:
            raise BitwaveError(f"liberty {liberty} has no full and half adder cell to price")
        unit = lambda name: Unit(library.cell(name).area_um2, library.cell(name).leakage_w)  # noqa: E731
        nand = smallest_gate(library, 2, _NAND2)
        if nand is None:
            raise BitwaveError(f"liberty {liberty} has no 2-input NAND cell to price logic with")
        gate = unit(nand[0].name)
        period = 1e-6 / table.clock_mhz
        lane, const = table.action("mac_binary"), table.action(CONST_BINARY_ACTION)
        adder = unit(full.cell)
        # the nodes' energies hold their leakage at the table's clock: only switching is kept
        dynamic = lambda e, a: max(0.0, e - adder.leakage_w_per_um2 * a * period)  # noqa: E731
        rho = dynamic(lane.energy_j, lane.area_um2) / lane.area_um2
        return cls(
            library=str(liberty), flop=unit(flop.name), mux=unit(mux2(library)[0].name),
            adder=adder, compare=unit(half.cell), gate=gate,
            buffer=unit(choose_buffer(library, DEFAULT_MAX_FANOUT)),
            flop_clock_j=figures.clock_j, clock_net_j=figures.clock_net_j,
            flop_toggle_j=figures.toggle_j,
            logic_j_per_um2=rho, lane_area_um2=lane.area_um2,
            lane_j=dynamic(lane.energy_j, lane.area_um2), const_lane_area_um2=const.area_um2,
            const_lane_j=dynamic(const.energy_j, const.area_um2), rom=rom,
            **_clock_gate_prices(library),
        )  # fmt: skip

    def popcount(self, lanes: int, constant: bool = False) -> tuple[float, float]:
        """(area, energy per evaluation) of ``lanes`` XNOR lanes and their compressor tree: the
        node's figure per lane (an XNOR and a full adder; a wired-in weight costs no XNOR),
        less the ``popcount_width(lanes)`` full adders a tree of that many inputs saves."""
        area, energy = ((self.const_lane_area_um2, self.const_lane_j) if constant
                        else (self.lane_area_um2, self.lane_j))  # fmt: skip
        total = max(lanes * area - popcount_width(lanes) * self.adder.area_um2, area)
        return total, total * energy / area


def _clock_gate_prices(library: object) -> dict:
    """The ``Prices`` fields of the library's integrated clock gate (the cell Yosys
    ``clockgate`` picks, ``memory_macro.clock_gate``); none when the library has no gate. Its
    gated output is priced at a load of 8 flip-flop clock pins (a typical enable group; the
    table barely moves with the load)."""
    from bitwave.synth.eda.memory_macro import bit_figures, clock_gate, plain_flop

    gate = clock_gate(library)
    if gate is None:
        return {}
    flop = plain_flop(library)
    flop_clock = next(p for p in flop.inputs() if p != flop.sequential.next_state.name)
    role = {pin.clock_gate_role: name for name, pin in gate.pins.items()}
    clock_pin, out = role["clock"], role["out"]
    load = 8 * flop.pins[flop_clock].capacitance_f
    entries = [p.energy(library.default_input_slew_s, load) for p in gate.internal_power
               if p.pin == out]  # fmt: skip
    return {
        "clock_gate": Unit(gate.area_um2, gate.leakage_w),
        "clock_gate_cell": gate.name,
        "gate_clock_j": bit_figures(library).clock_gate_cycle_energy_j,
        "gate_net_j": gate.pins[clock_pin].capacitance_f * library.voltage_v**2,
        "gate_out_j": 2 * float(np.mean(entries)) if entries else 0.0,
    }


# ---- parts -----------------------------------------------------------------------------------
@dataclass
class Part:
    """One kind of hardware in a block: its area, its flip-flops (``gated`` of them behind a
    clock gate, the others clocked every cycle), its clock gates, its leakage, its switching
    energy per compute cycle of its engine and per frame (a gated flip-flop's clock is in
    these: it ticks only when enabled)."""

    name: str
    area_um2: float = 0.0
    flops: int = 0
    leakage_w: float = 0.0
    active_j: float = 0.0
    frame_j: float = 0.0
    cycle_j: float = 0.0  # switching every clock cycle besides the flip-flops' clock (macros)
    gated: int = 0
    clock_gates: int = 0

    @property
    def clocked_flops(self) -> int:
        """The flip-flops whose clock ticks every cycle (no gate in front of them)."""
        return self.flops - self.gated


@dataclass(frozen=True)
class Enable:
    """Flip-flops sharing one enable, loaded ``per_cycle`` times per compute cycle of their
    engine and ``per_frame`` times per frame. With at least ``CLOCK_GATE_MIN_FLOPS`` of them
    and a clock gate in the library synthesis gates their clock (``bitwave.synth.flows.asic``):
    one gate, no hold logic, and their clock ticks only when they load. Otherwise they are
    clocked every cycle and hold through a 2:1 mux each (``mux``; False where the model's
    datapath logic already holds them: counters, accumulators, read registers)."""

    flops: int
    per_cycle: float = 0.0
    per_frame: float = 0.0
    mux: bool = True


@dataclass(frozen=True)
class _Gating:
    """What a part's enables come to: hold muxes, gated flip-flops, gates, and the gated clock
    (flip-flop pins, their share of the gated nets, the gates' outputs) per compute cycle and
    per frame."""

    muxes: float = 0.0
    gated: int = 0
    gates: int = 0
    active_j: float = 0.0
    frame_j: float = 0.0


class _Parts:
    """Collects a block's parts, pricing flip-flops, muxes, adders and gates as they come."""

    def __init__(self, prices: Prices) -> None:
        self.p = prices
        self.parts: list[Part] = []

    def gating(self, enables: tuple[Enable, ...]) -> _Gating:
        """Which enable groups synthesis clock-gates, and their clock energy when enabled."""
        from bitwave.synth.flows.asic import CLOCK_GATE_MIN_FLOPS

        p, muxes, gated, gates, active, frame = self.p, 0.0, 0, 0, 0.0, 0.0
        for group in enables:
            if p.clock_gate is None or group.flops < CLOCK_GATE_MIN_FLOPS:
                muxes += group.flops if group.mux else 0
                continue
            tick = group.flops * (p.flop_clock_j + p.clock_net_j) + p.gate_out_j
            gated, gates = gated + group.flops, gates + 1
            active, frame = active + group.per_cycle * tick, frame + group.per_frame * tick
        return _Gating(muxes, gated, gates, active, frame)

    def add(self, name: str, *, flops: float = 0, enables: tuple[Enable, ...] = (), mux: float = 0,
            adders: float = 0, compare: float = 0, gates: float = 0, other_area: float = 0.0,
            other_leak: float = 0.0, other_j: float = 0.0, toggles: float = 0.0,
            frame_toggles: float = 0.0,
            logic_activity: float = 1.0, reset: bool = True,
            fanout: tuple[tuple[float, float, float], ...] = ()) -> Part:  # fmt: skip
        """``flops`` flip-flops (each with its synchronous-reset gate unless ``reset`` is
        False; those in ``enables`` load only when enabled: gated, or holding through a 2:1 mux
        that switches only with the data it loads), ``mux`` 2:1 muxes, ``adders`` full adders, ``compare`` comparator
        bits, ``gates`` 2-input gates: logic switching at ``logic_activity`` per compute cycle;
        ``toggles`` flip-flop transitions per compute cycle, ``frame_toggles`` per frame;
        ``other_*``: pre-priced logic (area, leakage, energy per compute cycle); ``fanout``: (nets, loads each, transitions per compute
        cycle) of signals broadcast beyond the max fanout, which synthesis buffers."""
        p, gating = self.p, self.gating(enables)
        gate = p.clock_gate or Unit(0.0, 0.0)
        units = ((mux + gating.muxes, p.mux), (adders, p.adder), (compare, p.compare),
                 (gates + (flops if reset else 0), p.gate),
                 (sum(n * buffer_tree(loads) for n, loads, _ in fanout), p.buffer))  # fmt: skip
        combinational = sum(count * u.area_um2 for count, u in units) + other_area
        leakage = sum(count * u.leakage_w for count, u in units) + other_leak
        hold = gating.muxes * p.mux.area_um2 + (flops * p.gate.area_um2 if reset else 0.0)
        logic = combinational - other_area - hold - units[-1][0] * p.buffer.area_um2
        # a flip-flop's data transition also switches its hold mux and reset gate
        toggle_j = p.flop_toggle_j + 2 * (hold / flops if flops else 0.0) * p.logic_j_per_um2
        buffer_j = sum(n * buffer_tree(loads) * rate for n, loads, rate in fanout)
        part = Part(
            name=name, flops=int(flops), gated=gating.gated, clock_gates=gating.gates,
            area_um2=flops * p.flop.area_um2 + combinational + gating.gates * gate.area_um2,
            leakage_w=flops * p.flop.leakage_w + leakage + gating.gates * gate.leakage_w,
            active_j=logic * p.logic_j_per_um2 * logic_activity + other_j + toggles * toggle_j
            + buffer_j * 2 * p.logic_j_per_um2 * p.buffer.area_um2 + gating.active_j,
            frame_j=frame_toggles * toggle_j + gating.frame_j,
            cycle_j=gating.gates * p.gate_clock_j,
        )  # fmt: skip
        self.parts.append(part)
        return part

    def rom(self, name: str, depth: int, width: int, reads_per_cycle: float = 1.0,
            enabled: bool = True) -> None:  # fmt: skip
        """A constant table synthesis folds into logic (read register on its kept columns),
        read with an enable (``enabled``: the engine's running flag, so its read register is
        clock-gated and ticks only in compute cycles) or every cycle."""
        depth = max(depth, 2)  # a one-word store keeps a second word (hw.weights)
        fit, columns = self.p.rom, kept_columns(depth, width)
        area = fit.logic_area_um2(depth, width)
        flops = round(columns)
        enables = (Enable(flops, per_cycle=1.0, mux=False),) if enabled else ()
        self.add(name, flops=flops, enables=enables, other_area=area, reset=False,
                 other_leak=area * fit.leakage_w_per_um2,
                 other_j=reads_per_cycle * fit.read_energy_j(depth, width),
                 toggles=0.5 * columns * reads_per_cycle)  # fmt: skip

    def ram(self, name: str, depth: int, width: int, library: object,
            bits_written_per_frame: int = 0) -> None:  # fmt: skip
        """A writable store: the synthesis flow's memory macro model, read in every compute
        cycle (its read enable is the engine's running flag), clocked every cycle, and
        written ``bits_written_per_frame`` bits a frame (weights: none, loaded once)."""
        from bitwave.synth.eda.memory_macro import macro_model

        model = macro_model(library, "ram", max(depth, 2), width)  # as hw.weights pads it
        self.parts.append(Part(name, model.area_um2, 0, model.leakage_w,
                               active_j=model.read_energy_j,
                               frame_j=bits_written_per_frame * model.write_bit_energy_j,
                               cycle_j=model.cycle_energy_j))  # fmt: skip


def buffer_tree(loads: float, max_fanout: int = DEFAULT_MAX_FANOUT) -> int:
    """Buffers of the balanced tree synthesis puts on a net of ``loads`` loads
    (``bitwave.synth.eda.fanout``): ceil(n / max) per level until the driver sees at most max."""
    count, level = 0, math.ceil(loads)
    while level > max_fanout:
        level = -(-level // max_fanout)
        count += level
    return count


def _bits(count: int) -> int:
    """Bits of a counter over ``count`` values (at least 1, as hw's ``range(max(2, n))``)."""
    return max(1, (max(2, count) - 1).bit_length())


def _control(parts: _Parts, nf: int, sf: int, depth: int, steps_per_word: int) -> None:
    """Handshake, fold counters, word address, pipeline flags (``FoldedLayer._control``). The
    counters move only while the engine runs: the synapse fold and word part every compute
    cycle (the word address too when a word holds one step), the word address once a word, the
    neuron fold once every ``sf`` cycles; the flags have no enable."""
    part, address = 2 * _bits(steps_per_word) if steps_per_word > 1 else 0, _bits(depth)
    every = _bits(sf) + part + (address if steps_per_word == 1 else 0)
    enables = [Enable(every, per_cycle=1.0, mux=False), Enable(_bits(nf), 1.0 / sf, mux=False)]
    if steps_per_word > 1:
        enables.append(Enable(address, per_cycle=1.0 / steps_per_word, mux=False))
    counters = _bits(nf) + _bits(sf) + address + part
    parts.add("control", flops=7 + counters, enables=tuple(enables),
              gates=2 * counters + CONTROL_GATES, compare=counters, toggles=2.0,
              logic_activity=0.25)  # fmt: skip


def _store(parts: _Parts, plan: object, storage: str, library: object) -> None:
    """The weight store of a folded layer and the step select out of a multi-step word."""
    layout = plan.weights
    if storage == "memory":
        parts.ram("weight store (RAM macro)", layout.depth, layout.word_bits, library)
    else:
        parts.rom("weight store (ROM as logic)", layout.depth, layout.word_bits)
    if layout.steps_per_word > 1:
        select = _bits(layout.steps_per_word)
        parts.add("step select", flops=select, enables=(Enable(select, per_cycle=1.0),),
                  mux=(layout.steps_per_word - 1) * layout.step_bits,
                  logic_activity=SELECT_ACTIVITY,
                  fanout=((select, layout.step_bits * layout.steps_per_word / 2, 0.5),))  # fmt: skip


def _reset_tree(parts: _Parts) -> None:
    """The synchronous reset reaches every flip-flop's reset gate through a buffer tree."""
    flops = sum(p.flops for p in parts.parts if p.name not in ROM_PARTS)
    parts.add("reset tree", fanout=((1, flops, 0.0),))


def gru_parts(layer: object, pe: int, simd: int, storage: str, prices: Prices,
              library: object = None) -> tuple[list[Part], int]:  # fmt: skip
    """The GRU engine (``bitwave.hw.gru.FoldedGRU``): its parts and compute cycles per frame."""
    from bitwave.hw.gru import gate_table

    n, h = layer.in_width, layer.out_width
    plan = binary_gru.schedule(layer, pe, simd)
    sfx, sfh = binary_gru.segments(layer, simd)
    nf, steps, acc = plan.nf, plan.sf, plan.acc_bits
    per_gate = sfx + sfh
    width = gate_table(layer).width
    coefficient = int(np.max(layer.coefficients)).bit_length()
    count = popcount_width(simd)
    padded = n % simd != 0 or h % simd != 0
    parts = _Parts(prices)
    parts.add("input frame buffer", flops=n + 1, enables=(Enable(n + 1, per_frame=1.0),),
              frame_toggles=0.5 * (n + 1),
              fanout=((1, n + 1, 0.0),))  # fmt: skip
    # the start flag picks the initial state for every state bit the frame reads
    parts.add("state register", flops=h + 1, enables=(Enable(h + 1, per_frame=1.0),), gates=h,
              logic_activity=0.0,
              frame_toggles=0.5 * h, fanout=((2, h + 1, 0.0),))  # fmt: skip
    _control(parts, nf, steps, plan.weights.depth, plan.weights.steps_per_word)
    parts.add("step flags", flops=_bits(nf) + 5, gates=8, toggles=1.0, logic_activity=0.25)
    # the select moves every step, the selected data (input frame, state) once per frame; each
    # operand bit goes to the XNOR lane of every PE
    parts.add("operand select", flops=simd * (2 if padded else 1), mux=per_gate * simd,
              gates=simd if padded else 0, toggles=0.5 * simd, logic_activity=SELECT_ACTIVITY,
              fanout=((_bits(per_gate), simd * per_gate / 2, 0.5), (simd, pe, 0.5)))  # fmt: skip
    _store(parts, plan, storage, library)
    lanes_area, lanes_j = prices.popcount(simd)
    parts.add("XNOR-popcount lanes", other_area=pe * lanes_area, other_j=pe * lanes_j,
              other_leak=pe * lanes_area * prices.adder.leakage_w_per_um2)  # fmt: skip
    # which gate and phase: the coefficient (a_g or b_g) and the threshold of every PE
    gate_loads = pe * (2 * coefficient + 3 * width + 2)
    parts.add("coefficient multiply", gates=pe * (count * coefficient + 3),
              adders=pe * max(0, coefficient - 1) * count, mux=pe * 2 * coefficient,
              logic_activity=SELECT_ACTIVITY,
              fanout=((3, gate_loads, 1 / per_gate),))  # fmt: skip
    parts.add("accumulators", flops=pe * acc, enables=(Enable(pe * acc, 1.0, mux=False),),
              adders=pe * acc, gates=pe * 2 * acc, toggles=pe * 0.5 * acc,
              fanout=((2, pe * acc, 1 / per_gate),))  # fmt: skip
    parts.add("comparators", compare=pe * 2 * width, gates=pe)
    # T_z, T_r, T_n0 / T_n1 and the directions change with the gate (every SFx + SFh steps)
    parts.add("threshold select", mux=pe * (3 * width + 2), logic_activity=1 / per_gate)
    # z and r load once per neuron fold each (at the last step of their gate)
    parts.add("gates z, r and update", flops=2 * pe, enables=(Enable(pe, per_frame=nf),) * 2,
              mux=pe * nf,
              toggles=0.25 * pe, logic_activity=0.5,
              fanout=((2, pe, 0.0), (_bits(nf), pe * nf / 2, 0.0)))  # fmt: skip
    parts.rom("gate threshold store", nf, pe * (4 * width + 3), reads_per_cycle=1.0 / steps,
              enabled=False)  # fmt: skip
    _output_buffer(parts, nf, pe)
    _reset_tree(parts)
    return parts.parts, nf * steps


INPUT_BUFFER = "input frame buffer"  # a dense layer's own copy of its input frame
INPUT_SLICE = "input slice"  # the register stage B reads a multi-fold frame's slice from


def dense_parts(layer: object, pe: int, simd: int, storage: str, prices: Prices,
                library: object = None) -> tuple[list[Part], int]:  # fmt: skip
    """The MVTU (``bitwave.hw.mvtu.MVTU``, binary_dense): its parts and compute cycles per frame."""
    from bitwave.core import ops
    from bitwave.hw.thresholds import threshold_table

    plan = ops.op_of(layer).schedule(layer, pe, simd)
    nf, sf, acc = plan.nf, plan.sf, plan.acc_bits
    table = threshold_table(layer)
    levels, width = table.levels, table.width
    out_bits = layer.out_type.bits
    constant = storage == "const" and plan.fully_parallel
    parts = _Parts(prices)
    xbuf = sf * simd
    # with one synapse fold the frame buffer feeds the lanes directly: each bit every PE
    direct = ((simd, pe, 0.5 / max(1, nf)),) if sf == 1 else ()
    parts.add(INPUT_BUFFER, flops=xbuf, enables=(Enable(xbuf, per_frame=1.0),),
              frame_toggles=0.5 * xbuf, fanout=((1, xbuf, 0.0), *direct))  # fmt: skip
    _control(parts, nf, sf, plan.weights.depth, plan.weights.steps_per_word)
    if sf > 1:
        parts.add(INPUT_SLICE, flops=simd, enables=(Enable(simd, per_cycle=1.0),),
                  mux=(sf - 1) * simd, toggles=0.5 * simd, logic_activity=SELECT_ACTIVITY,
                  fanout=((_bits(sf), simd * sf / 2, 0.5), (simd, pe, 0.5)))  # fmt: skip
    if layer.in_width % simd:
        parts.add("lane mask", gates=simd, mux=simd)
    if not constant:
        _store(parts, plan, storage, library)
    lanes_area, lanes_j = prices.popcount(simd, constant)
    parts.add("XNOR-popcount lanes", other_area=pe * lanes_area, other_j=pe * lanes_j,
              other_leak=pe * lanes_area * prices.adder.leakage_w_per_um2)  # fmt: skip
    if sf > 1:
        parts.add("accumulators", flops=pe * acc, enables=(Enable(pe * acc, 1.0, mux=False),),
                  adders=pe * acc, gates=pe * acc, toggles=pe * 0.5 * acc,
                  fanout=((2, pe * acc, 1 / sf),))  # fmt: skip
    if nf > 1:
        parts.add("thresholds", compare=pe * levels * 2 * width, mux=pe * levels, gates=pe)
        parts.rom("threshold store", nf, pe * (levels * width + 1), reads_per_cycle=1.0 / sf)
    else:  # constants: a comparison with a wired-in value
        parts.add("thresholds", gates=pe * levels * width)
    _output_buffer(parts, nf, pe * out_bits)
    _reset_tree(parts)
    return parts.parts, nf * sf


def _output_buffer(parts: _Parts, nf: int, group_bits: int) -> None:
    """The output frame buffer: ``group_bits`` shift in at each of the ``nf`` neuron folds (the
    whole buffer loads), and its valid flag."""
    bits = nf * group_bits
    parts.add("output buffer", flops=bits + 1, enables=(Enable(bits, per_frame=nf), Enable(1)),
              frame_toggles=0.5 * nf * bits, fanout=((1, bits + 1, 0.0),))  # fmt: skip


def beat_input_parts(layer: object, pe: int, simd: int, prices: Prices,
                     library: object) -> list[Part]:  # fmt: skip
    """Memory buffering's input (``FoldedLayer._fill_slices``): the frame RAM of SF slices,
    written a slice a beat and read at every compute step, its write index and full flag."""
    from bitwave.core import ops

    sf = ops.op_of(layer).schedule(layer, pe, simd).sf
    slice_bits = simd * layer.in_type.bits
    parts = _Parts(prices)
    parts.ram("input frame RAM (macro)", sf, slice_bits, library, sf * slice_bits)
    index = _bits(sf)
    parts.add("beat index", flops=index + 1, enables=(Enable(index + 1, per_frame=sf, mux=False),),
              gates=2 * index + 4, compare=index, frame_toggles=2.0 * sf)  # fmt: skip
    return parts.parts


def framing_parts(frame_bits: int, beat_bits: int, prices: Prices, serializer: bool,
                  flag: bool = False, tag_bits: int = 0, buffered: bool = True) -> list[Part]:  # fmt: skip
    """A ``hw.framing`` deserializer (beats into a frame, with a recurrent network's start
    ``flag`` and a multi-exit network's ``tag_bits`` beside it) or serializer (a frame into
    beats); an unbuffered serializer (single buffering) registers only its beat index."""
    beats = -(-frame_bits // beat_bits)
    index = _bits(beats)
    parts = _Parts(prices)
    if serializer and not buffered:  # beats cut out of the last layer's output register
        parts.add("beat select", flops=index, mux=(beats - 1) * beat_bits, gates=2 * index + 2,
                  fanout=((index, frame_bits / 2, 0.0),))  # fmt: skip
        _reset_tree(parts)
        return parts.parts
    buffer = frame_bits  # the last beat's padding bits are never read: synthesis drops them
    if serializer:  # the beat index selects the outgoing beat out of the frame
        fanout = ((1, buffer, 0.0), (index, buffer / 2, 0.0))
    else:  # each beat's write enable loads its slice; each data bit goes to every beat's slice
        fanout = ((beats, beat_bits, 0.0), (beat_bits, beats, 0.0))
    if serializer:  # loads a whole frame at once
        enables = (Enable(buffer, per_frame=1.0),)
    else:  # each beat loads its own slice; the first carries the flag and the tag
        sizes = [beat_bits] * (beats - 1) + [buffer - (beats - 1) * beat_bits]
        sizes[0] += int(flag) + tag_bits
        enables = tuple(Enable(size, per_frame=1.0) for size in sizes)
    parts.add("frame buffer", flops=buffer + 2 + index + int(flag) + tag_bits, enables=enables,
              mux=(beats - 1) * beat_bits if serializer else 0, gates=2 * index + 6,
              frame_toggles=0.5 * buffer, fanout=fanout)  # fmt: skip
    _reset_tree(parts)
    return parts.parts


def exit_tag_part(tag_bits: int, prices: Prices) -> Part:
    """A tagged trunk layer's exit tag (``hw.mvtu``): registered beside the input frame when
    it is taken and handed to the output with the finished frame."""
    return _Parts(prices).add("exit tag", flops=2 * tag_bits,
                              enables=(Enable(tag_bits, per_frame=1.0),) * 2,
                              frame_toggles=0.5 * tag_bits)  # fmt: skip


def order_fifo_parts(depth: int, width: int, prices: Prices) -> list[Part]:
    """The exit order FIFO (``amaranth.lib.fifo.SyncFIFO``, first-word fall-through): ``depth``
    words of ``width`` bits written through an address decode and read through a mux tree,
    write and read pointers that wrap at ``depth`` and a level counter. One write and one read
    per frame (its compute "cycle")."""
    pointer, level = _bits(depth), _bits(depth + 1)
    parts = _Parts(prices)
    # every word has its own write enable and is written once every ``depth`` frames
    parts.add("tag storage", flops=depth * width, reset=False,
              enables=(Enable(width, per_frame=1.0 / depth),) * depth,
              mux=(depth - 1) * width, gates=depth, frame_toggles=0.5 * width,
              logic_activity=0.5)  # fmt: skip
    # pointers: an incrementer and a wrap compare each; level: up/down counter, full and empty
    parts.add("pointers and level", flops=2 * pointer + level,
              compare=4 * pointer + 3 * level, mux=2 * pointer + 2 * level,
              gates=CONTROL_GATES // 2, toggles=2 * pointer + level,
              logic_activity=0.5)  # fmt: skip
    _reset_tree(parts)
    return parts.parts


def exit_glue_parts(early_exits: int, tag_bits: int, out_bits: int, prices: Prices) -> list[Part]:
    """The network top's own logic of a multi-exit design (``hw.exits``): a demux after each
    trunk layer with an early exit (tag compare, valid and ready steering) and the merge that
    passes the exit the order FIFO's oldest tag names (an ``out_bits`` mask mux per early
    exit). Switching once per frame, when a new mask passes."""
    parts = _Parts(prices)
    parts.add("exit demuxes", gates=early_exits * (2 * tag_bits + 4), logic_activity=0.25)
    parts.add("merge", mux=early_exits * out_bits, gates=3 * (early_exits + 1) + 2 * tag_bits,
              logic_activity=0.5)  # fmt: skip
    return parts.parts


# ---- blocks and designs ----------------------------------------------------------------------
ENGINES = {"binary_gru": gru_parts, "binary_dense": dense_parts}


@dataclass
class BlockEstimate:
    """One block of a design (a layer's engine or the stream framing) and what it costs."""

    name: str
    module: str
    op: str
    active_cycles: int  # compute cycles per frame (the framing: its beats)
    parts: list[Part]
    pe: int = 0
    simd: int = 0
    always: bool = False  # works on every frame whatever its exit (framing, exit glue)

    @property
    def area_um2(self) -> float:
        return sum(p.area_um2 for p in self.parts)

    @property
    def flops(self) -> int:
        return sum(p.flops for p in self.parts)

    @property
    def leakage_w(self) -> float:
        return sum(p.leakage_w for p in self.parts)

    @property
    def clocked_flops(self) -> int:
        """Flip-flops without a clock gate: clocked every cycle, busy or not."""
        return sum(p.clocked_flops for p in self.parts)

    @property
    def clock_gates(self) -> int:
        return sum(p.clock_gates for p in self.parts)

    def root_clock_j(self, prices: Prices) -> float:
        """Per cycle: this block's load on the ungated clock net (synthesis books that net on
        the top module): its ungated flip-flops' and its clock gates' clock pins."""
        return self.clocked_flops * prices.clock_net_j + self.clock_gates * prices.gate_net_j

    def energy_per_frame_j(
        self, cycles: int, clock_hz: float, prices: Prices, active: bool = True
    ) -> float:
        """Ungated clocks (flip-flops, clock gates) and leakage over the design's ``cycles`` per
        frame, switching (gated clocks included) over the block's own compute cycles and its
        once-per-frame loads; a block the frame does not pass (not ``active``: beyond its exit)
        holds every register, its gated clocks stand still, so only its ungated clock, its
        clock gates' clock pins, a RAM's clock and leakage remain."""
        dynamic = 0.0
        if active:
            dynamic = sum(p.active_j for p in self.parts) * self.active_cycles
            dynamic += sum(p.frame_j for p in self.parts)
        per_cycle = self.clocked_flops * prices.flop_clock_j + sum(p.cycle_j for p in self.parts)
        return dynamic + cycles * (per_cycle + self.leakage_w / clock_hz)


@dataclass(frozen=True)
class ExitEstimate:
    """One exit of a multi-exit design: the layers a frame at it passes and its cycles per
    frame (the manifest's ``per_exit``), and its binary MACs per frame."""

    index: int
    name: str
    layers: tuple[str, ...]
    cycles_per_frame: int
    binary_macs: int


@dataclass
class DesignEstimate:
    """A generated design's estimated area and energy, by block, at its clock and frame rate.
    A multi-exit design lists its ``exits``; its figures without an exit are the final exit's
    (the heads idle), as ``bitwave synth`` reports them."""

    top: str
    clock_mhz: float
    cycles_per_frame: int
    frames_per_second: float
    blocks: list[BlockEstimate]
    prices: Prices
    exits: list[ExitEstimate] = field(default_factory=list)
    latency_cycles: int = 0  # a lone frame, first input beat to last output beat
    holds_state: str = ""  # why the design cannot be gated off between frames ("": it can)
    off_leakage_fraction: float = DEFAULT_OFF_LEAKAGE_FRACTION

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def area_um2(self) -> float:
        return sum(b.area_um2 for b in self.blocks)

    @property
    def leakage_w(self) -> float:
        return sum(b.leakage_w for b in self.blocks)

    def _exit(self, k: int | None) -> ExitEstimate | None:
        """Exit ``k`` (None: the final one), or None for a design without exits."""
        if not self.exits:
            return None
        return self.exits[-1 if k is None else k]

    def frame_cycles(self, k: int | None = None) -> int:
        """Cycles per frame (at exit ``k`` of a multi-exit design; None: the final exit)."""
        point = self._exit(k)
        return point.cycles_per_frame if point else self.cycles_per_frame

    def block_energy_j(self, block: BlockEstimate, k: int | None = None) -> float:
        """``block``'s energy per frame (with every frame at exit ``k``; None: the final)."""
        point = self._exit(k)
        active = point is None or block.always or block.name in point.layers
        return block.energy_per_frame_j(self.frame_cycles(k), self.clock_hz, self.prices, active)

    def clock_net_energy_j(self, k: int | None = None) -> float:
        """The ungated clock net's switching per frame (synthesis books it on the top module;
        the gated nets are in their blocks' energies)."""
        per_cycle = sum(b.root_clock_j(self.prices) for b in self.blocks)
        return per_cycle * self.frame_cycles(k)

    @property
    def clock_net_j(self) -> float:
        return self.clock_net_energy_j()

    @property
    def clock_gating(self) -> dict:
        """The clock gates the model expects synthesis to insert (as ``area.json`` counts
        them): gates, flip-flops, gated flip-flops, and the gate cell ("" when none)."""
        flops = sum(b.flops for b in self.blocks)
        return {"gates": sum(b.clock_gates for b in self.blocks), "flops": flops,
                "gated_flops": flops - sum(b.clocked_flops for b in self.blocks),
                "cell": self.prices.clock_gate_cell if self.prices.clock_gate else ""}  # fmt: skip

    def exit_energy_per_frame_j(self, k: int | None = None) -> float:
        """Energy of one frame with frames streamed back to back at the clock (what
        ``bitwave synth`` measures), every frame at exit ``k`` (None: the final one)."""
        return sum(self.block_energy_j(b, k) for b in self.blocks) + self.clock_net_energy_j(k)

    def exit_dynamic_energy_per_frame_j(self, k: int | None = None) -> float:
        """The same without the leakage over the frame time."""
        frame_s = self.frame_cycles(k) / self.clock_hz
        return self.exit_energy_per_frame_j(k) - self.leakage_w * frame_s

    @property
    def energy_per_frame_j(self) -> float:
        return self.exit_energy_per_frame_j()

    @property
    def power_at_clock_w(self) -> float:
        return self.energy_per_frame_j * self.clock_hz / self.cycles_per_frame

    @property
    def rate_power(self) -> RatePower:
        """At ``frames_per_second``: leakage all the time, switching once per frame."""
        dynamic = self.exit_dynamic_energy_per_frame_j()
        return RatePower(self.frames_per_second, dynamic, self.leakage_w)

    @property
    def power_at_rate_w(self) -> float:
        return self.rate_power.total_w

    @property
    def gating(self) -> GatingWhatIf | None:
        """The power-gating what-if: on for a lone frame's latency, off otherwise (None for a
        design that holds state between frames)."""
        if self.holds_state:
            return None
        return GatingWhatIf(self.rate_power, self.latency_cycles / self.clock_hz,
                            self.off_leakage_fraction)  # fmt: skip

    def _exit_json(self, point: ExitEstimate) -> dict:
        dynamic = self.exit_dynamic_energy_per_frame_j(point.index)
        return {
            "exit": point.index, "name": point.name, "layers": list(point.layers),
            "cycles_per_frame": point.cycles_per_frame,
            "binary_macs_per_frame": point.binary_macs,
            "energy_per_frame_j": self.exit_energy_per_frame_j(point.index),
            "dynamic_energy_per_frame_j": dynamic,
            "power_at_frames_per_second_w": self.leakage_w + dynamic * self.frames_per_second,
        }  # fmt: skip

    def to_json(self) -> dict:
        return {
            "top": self.top, "clock_mhz": self.clock_mhz,
            "cycles_per_frame": self.cycles_per_frame,
            "frames_per_second": self.frames_per_second, "area_um2": self.area_um2,
            "energy_per_frame_j": self.energy_per_frame_j,
            "power_at_clock_w": self.power_at_clock_w, "leakage_w": self.leakage_w,
            "power_at_frames_per_second_w": self.power_at_rate_w,
            "power_at_frames_per_second": self.rate_power.to_json(),
            "power_gating_what_if": gating_json(self.gating, self.holds_state),
            "latency_cycles": self.latency_cycles,
            "clock_net_energy_per_frame_j": self.clock_net_j,
            "clock_gating": self.clock_gating,
            "library": self.prices.library,
            "exits": [self._exit_json(point) for point in self.exits],
            "blocks": [
                {"name": b.name, "module": b.module, "op": b.op, "pe": b.pe, "simd": b.simd,
                 "active_cycles": b.active_cycles, "area_um2": b.area_um2, "flops": b.flops,
                 "gated_flops": b.flops - b.clocked_flops, "clock_gates": b.clock_gates,
                 "energy_per_frame_j": self.block_energy_j(b),
                 "parts": [asdict(p) for p in b.parts]}
                for b in self.blocks
            ],
        }  # fmt: skip


def estimate_design(
    design_dir: str | Path,
    table: CostTable | None = None,
    rom: RomFit | None = None,
    liberty: str | Path | None = None,
    frames_per_second: float | None = None,
    off_leakage_fraction: float = DEFAULT_OFF_LEAKAGE_FRACTION,
    sram: str | Path | None = None,
) -> DesignEstimate:
    """Estimate a design folder (``bitwave generate`` output: manifest and model.bwir) at its
    foldings and clock; ``frames_per_second`` defaults to the manifest's target. A multi-exit
    design adds its heads, the exit tag of the trunk layers that carry it, the order FIFO and
    the top's demuxes and merge, and an energy per frame for every exit.
    ``off_leakage_fraction`` parameterises the power-gating what-if; ``sram`` prices RAM
    weights as synthesis does (``bitwave.synth.eda.sram_table.resolve_sram``)."""
    from bitwave.core import contract, ir
    from bitwave.core.ops.base import REAL_TIME_FPS
    from bitwave.cost.tables import load_table
    from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.eda.memory_macro import with_sram
    from bitwave.synth.eda.sram_table import resolve_sram

    off_leakage_fraction = check_fraction(off_leakage_fraction)
    sram_table = resolve_sram(sram)
    design = contract.load(design_dir)
    if not design.ir_path.is_file():
        raise BitwaveError(f"{design.ir_path} is missing: the estimate reads the design's IR")
    net = ir.load(design.ir_path)
    design.require_exits(net.n_exits)
    liberty = liberty or COMPACT_LIBRARY
    prices = Prices.from_library(liberty, table or load_table(), rom or load_rom_fit())
    library = with_sram(load_library(liberty), sram_table)
    source, sink = design.input_stream, design.output_stream
    tag_bits = design.exits.width if design.exits else 0
    # hw.network.NetworkTop: no duplicate frame copies ("single"), no deserializer ("memory")
    buffering = design.buffering or "double"
    blocks = []
    if buffering != "memory":
        blocks.append(BlockEstimate("deserializer", f"{design.top}__deserializer", "framing",
                                    source.beats_per_frame,
                                    framing_parts(source.frame_bits, source.bits_per_beat, prices,
                                                  False, design.sequence_start is not None,
                                                  tag_bits),
                                    always=True))  # fmt: skip
    tagged = _tagged_layers(net)
    heads = design.exits.heads if design.exits else ()
    for layer, placed in zip([*net.layers, *(early.head for early in net.exits)],
                             [*design.layers, *heads], strict=True):  # fmt: skip
        tag = tag_bits if layer.name in tagged else 0
        first = buffering if layer is net.layers[0] else "double"
        blocks.append(_layer_block(layer, placed, prices, library, tag, first))
    if design.exits:
        blocks += _exit_glue_blocks(design, prices)
    blocks.append(BlockEstimate("serializer", f"{design.top}__serializer", "framing",
                                sink.beats_per_frame,
                                framing_parts(sink.frame_bits, sink.bits_per_beat, prices,
                                              True, buffered=buffering == "double"),
                                always=True))  # fmt: skip
    fps = frames_per_second or design.targets.fps or REAL_TIME_FPS
    return DesignEstimate(design.top, design.clock.mhz, design.cycles_per_frame, fps, blocks,
                          prices, _exit_estimates(design, net), design.latency_cycles,
                          design_holds_state(net, design), off_leakage_fraction)  # fmt: skip


def design_holds_state(net: object, design: object) -> str:
    """Why a design keeps state from one frame to the next ("": it does not): recurrent
    layers, or weights in RAM (both would be lost when powered off)."""
    recurrent = [layer.name for layer in net.layers if layer.op == "binary_gru"]
    if recurrent or design.sequence_start is not None:
        return f"recurrent layers ({', '.join(recurrent)}) hold their state between frames"
    heads = design.exits.heads if design.exits else ()
    ram = [p.name for p in (*design.layers, *heads) if p.weight_storage == "memory"]
    if ram:
        return f"weights in RAM (--weights memory: {', '.join(ram)}) would be lost when off"
    return ""


def _layer_block(
    layer: object, placed: object, prices: Prices, library: object, tag_bits: int,
    buffering: str = "double",
) -> BlockEstimate:  # fmt: skip
    """A layer's (or an exit head's) engine at its folding, with the exit tag it carries;
    ``buffering`` of the first layer: "single", it reads the deserializer's frame register,
    so it has no input frame buffer of its own; "memory", it takes the input beats into a
    RAM (``beat_input_parts``) instead of the frame buffer and the slice register."""
    engine = ENGINES.get(layer.op)
    if engine is None:
        raise BitwaveError(
            f"layer {layer.name}: op {layer.op!r} has no structural model; allowed: "
            f"{', '.join(ENGINES)} (use `bitwave cost MODEL.bwir` for a table estimate)"
        )
    parts, cycles = engine(layer, placed.pe, placed.simd, placed.weight_storage, prices, library)
    if buffering != "double":
        parts = [part for part in parts if part.name != INPUT_BUFFER]
    if buffering == "memory":
        parts = [part for part in parts if part.name != INPUT_SLICE]
        parts += beat_input_parts(layer, placed.pe, placed.simd, prices, library)
    if tag_bits:
        parts = [*parts, exit_tag_part(tag_bits, prices)]
    return BlockEstimate(layer.name, placed.module, layer.op, cycles, parts, placed.pe,
                         placed.simd)  # fmt: skip


def _tagged_layers(net: object) -> set[str]:
    """The trunk layers that carry the exit tag: up to the last early exit's layer
    (``hw.exits.ExitPlan.tagged_layers``)."""
    names = [layer.name for layer in net.layers]
    if not net.exits:
        return set()
    return set(names[: max(names.index(early.after) for early in net.exits) + 1])


def _exit_glue_blocks(design: object, prices: Prices) -> list[BlockEstimate]:
    """The order FIFO's block and the top's own demuxes and merge (one push, one pop and one
    mask through the merge per frame)."""
    spec = design.exits
    fifo = order_fifo_parts(spec.order_fifo_depth, spec.width, prices)
    glue = exit_glue_parts(spec.count - 1, spec.width, design.output_stream.frame_bits, prices)
    return [
        BlockEstimate("exit order FIFO", f"{design.top}__exit_order", "exit glue", 1, fifo,
                      always=True),
        BlockEstimate("exit demuxes, merge", design.top, "exit glue", 1, glue, always=True),
    ]  # fmt: skip


def _exit_estimates(design: object, net: object) -> list[ExitEstimate]:
    """The manifest's exits with the binary MACs of the layers each runs (none without)."""
    from bitwave.cost.adapters import exit_macs

    if design.exits is None:
        return []
    macs = exit_macs(net)
    return [ExitEstimate(p.index, p.name, p.layers, p.cycles_per_frame, macs[p.index])
            for p in design.exits.per_exit]  # fmt: skip
