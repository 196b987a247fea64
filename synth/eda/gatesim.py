"""Cycle-based, zero-delay simulation of a mapped netlist, bit-parallel over many independent
runs ("lanes": bit k of every uint64 word belongs to lane 64*word+k), counting every net's
transitions between consecutive clock cycles.

This is exact for the synchronous single-clock designs bitwave generates (every flip-flop on
the one clock or on a clock gate fed by it, no other latches); glitches inside a cycle are not
counted (zero-delay model). A clock gate's latch holds its enable as settled before the rising
edge, so a flip-flop behind it takes its next state only in the lanes where that enable is
high, and the gated clock net makes two transitions in each such cycle.
Cells are evaluated from their liberty ``function`` strings, grouped by (level, cell, pin) so
each group is one numpy expression over all its instances and lanes.

Memory macros (``$mem_v2`` kept by ``--memories macro``) are simulated exactly, per lane, with
the flip-flops' cycle semantics: on a rising edge the read register takes the word at the read
address if the read enable is high, reading the contents from before this edge's write
(non-transparent, Amaranth's default read port), and the write port updates the bits whose
write enable is high. A ROM holds its INIT; a RAM has no defined power-up contents and starts
at 0 like the flip-flops, so its contents are what the write port loaded. Addresses outside
the memory read 0 and write nothing. Enabled reads and written bits are counted per lane for
the power estimate.

``counts()`` takes a snapshot of everything counted so far; the difference of two snapshots
(``ActivityCounts.since``) is the activity of the cycles between them, e.g. a steady-state
window of a streaming run (``mark(name)`` keeps named snapshots in ``marks`` for whoever
measures the run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda import gatekernel
from bitwave.synth.eda.liberty import Library
from bitwave.synth.eda.netlist import (
    CONST0,
    CONST1,
    FlatNetlist,
    MacroInstance,
    clock_gates,
    combinational_order,
)

ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
# The marks (``GateSimulator.mark``) that bound a measurement window of a run, e.g. the
# steady state of a stream: the power flow measures the window besides the whole run.
WINDOW_MARKS = ("window start", "window end")


def pack_lanes(bits: np.ndarray) -> np.ndarray:
    """(lanes, width) booleans -> (width, words) uint64, lane k in bit k%64 of word k//64."""
    bits = np.asarray(bits, dtype=bool)
    lanes, width = bits.shape
    words = (lanes + 63) // 64
    padded = np.zeros((words * 64, width), dtype=bool)
    padded[:lanes] = bits
    packed = np.packbits(padded.T.reshape(width, words, 64), axis=2, bitorder="little")
    return np.ascontiguousarray(packed).view(np.uint64).reshape(width, words)


def unpack_lanes(words: np.ndarray, lanes: int) -> np.ndarray:
    """(width, words) uint64 -> (lanes, width) booleans."""
    width = words.shape[0]
    raw = np.unpackbits(
        np.ascontiguousarray(words).view(np.uint8).reshape(width, -1), axis=1, bitorder="little"
    )
    return raw[:, :lanes].T.astype(bool)


@dataclass
class _Group:
    function: Callable[..., np.ndarray]
    inputs: list[np.ndarray]  # one index array per function argument
    output: np.ndarray


@dataclass
class _FlopGroup:
    cell: str
    state: np.ndarray  # flop indices into the state array
    next_state: Callable[..., np.ndarray]
    next_inputs: list[np.ndarray]
    clear: Callable[..., np.ndarray] | None
    clear_inputs: list[np.ndarray]
    preset: Callable[..., np.ndarray] | None
    preset_inputs: list[np.ndarray]
    outputs: list[tuple[Callable[..., np.ndarray], np.ndarray]]  # f(state, ~state) -> net
    gates: np.ndarray  # per flop: its clock gate's row in the enable table (the last: ungated)


@dataclass
class MacroStats:
    """Per macro: enabled read accesses and bits written, summed over counted lanes."""

    reads: int = 0
    bits_written: int = 0


@dataclass(frozen=True)
class ActivityCounts:
    """What a simulator has counted at one moment: transitions per net, evaluated cycle pairs,
    clock edges and per-macro accesses (``GateSimulator.counts``)."""

    toggles: np.ndarray
    cycles: int
    clock_edges: int
    macros: tuple[MacroStats, ...]

    def since(self, earlier: ActivityCounts) -> ActivityCounts:
        """What was counted between ``earlier`` and this snapshot."""
        return ActivityCounts(
            self.toggles - earlier.toggles,
            self.cycles - earlier.cycles,
            self.clock_edges - earlier.clock_edges,
            tuple(
                MacroStats(now.reads - then.reads, now.bits_written - then.bits_written)
                for now, then in zip(self.macros, earlier.macros, strict=True)
            ),
        )

    def activity(self, lanes: int) -> np.ndarray:
        """Transitions per clock cycle of every net, averaged over lanes and cycles."""
        if self.cycles == 0:
            raise BitwaveError(
                "no simulated cycle pairs: run at least two cycles before reading activity"
            )
        return self.toggles / float(self.cycles * lanes)


class _MacroState:
    """One macro's contents and its port nets, lane-packed like the simulator's values."""

    def __init__(self, macro: MacroInstance, words: int) -> None:
        self.macro = macro
        pins = macro.pins
        self.addr = np.array(pins["RD_ADDR"], dtype=np.int64)
        self.enable = pins["RD_EN"][0]
        data = np.array(pins["RD_DATA"], dtype=np.int64)
        # Unused read-data bits are tied to constants in the netlist: never drive those.
        self.data_columns = np.flatnonzero(data > CONST1)
        self.data = data[self.data_columns]
        self.writable = macro.kind == "ram"
        if self.writable:
            self.w_addr = np.array(pins["WR_ADDR"], dtype=np.int64)
            self.w_data = np.array(pins["WR_DATA"], dtype=np.int64)
            self.w_enable = np.array(pins["WR_EN"], dtype=np.int64)
            # (depth, width, words): bit k of word w is lane 64*w+k; a RAM starts at 0.
            self.contents = np.zeros((macro.depth, macro.width, words), dtype=np.uint64)
        else:
            self.rom = macro.init  # (depth, width) booleans shared by every lane
        self.output = np.zeros((macro.width, words), dtype=np.uint64)
        self.stats = MacroStats()
        # the compiled path's view of the ports (``gatekernel.clock_memory``)
        self.read_nets = np.array([self.enable, *self.addr], dtype=np.int64)
        if self.writable:
            rows = (self.w_addr, self.w_data, self.w_enable)
            self.write_nets = np.full((3, max(map(len, rows))), -1, dtype=np.int64)
            for row, nets in enumerate(rows):
                self.write_nets[row, : len(nets)] = nets
            self.rom_bits = np.zeros((1, 1), dtype=np.uint8)
        else:
            self.write_nets = np.zeros((3, 0), dtype=np.int64)
            self.rom_bits = np.asarray(self.rom, dtype=np.uint8)

    EMPTY_CONTENTS = np.zeros((0, 0, 1), dtype=np.uint64)


class GateSimulator:
    """Simulate ``netlist`` for ``lanes`` independent runs. Usage: ``set_input`` for each
    input port, ``evaluate()``, read ``get_output``, then ``clock()``; repeat."""

    def __init__(
        self,
        netlist: FlatNetlist,
        library: Library,
        lanes: int,
        clock_port: str = "clk",
        compiled: bool = True,
    ) -> None:
        """``compiled``: evaluate the logic and the clock gates' enables with the numba
        kernels (``gatekernel``; same bits, tens of times faster on large netlists); False
        keeps the numpy path per (level, cell, pin) group, the reference."""
        if clock_port not in netlist.ports:
            raise BitwaveError(
                f"clock port {clock_port!r} is not a port of {netlist.top} (ports: {sorted(netlist.ports)})"
            )
        self.netlist = netlist
        self.library = library
        self.lanes = lanes
        self.words = (lanes + 63) // 64
        self.values = np.zeros((netlist.n_nets, self.words), dtype=np.uint64)
        self.values[CONST1] = ALL_ONES
        self.previous: np.ndarray | None = None
        self.toggles = np.zeros(netlist.n_nets, dtype=np.int64)
        self.cycles = 0
        self.clock_nets = set(netlist.ports[clock_port].nets)
        self.gates = clock_gates(netlist, library, clock_port)
        self.gated_nets = np.array([gate.gated for gate in self.gates], dtype=np.int64)
        counts = np.array([len(gate.enables) for gate in self.gates], dtype=np.int64)
        self._enable_nets = (
            np.cumsum(counts) - counts,
            counts,
            np.array([net for gate in self.gates for net in gate.enables], dtype=np.int64),
        )
        # Padding lanes of the last word are simulated but never counted.
        bits = np.zeros(self.words * 64, dtype=bool)
        bits[:lanes] = True
        self.lane_mask = pack_lanes(bits[:, None])[0]
        self.lane_index = np.arange(self.words * 64)
        self.clock_edges = 0
        self.marks: dict[str, ActivityCounts] = {}
        self.compiled = compiled
        self._build()
        self.enables = self._gate_enables()  # until the first evaluate()

    # -- construction ------------------------------------------------------------------------
    def _build(self) -> None:
        netlist, library = self.netlist, self.library
        order = combinational_order(netlist, library)
        drivers = netlist.drivers(library)
        level = np.zeros(netlist.n_nets, dtype=np.int64)
        grouped: dict[tuple[int, str, str], list[int]] = defaultdict(list)
        for index in order:
            inst = netlist.instances[index]
            cell = library.cell(inst.cell)
            input_level = max(
                (level[n] for p, n in inst.pins.items() if cell.pins[p].direction == "input"),
                default=0,
            )
            for pin in cell.outputs():
                if pin not in inst.pins:
                    continue
                if cell.pins[pin].function is None:
                    raise BitwaveError(
                        f"cell {cell.name} output {pin} has no function: cannot simulate it"
                    )
                grouped[(int(input_level) + 1, cell.name, pin)].append(index)
                level[inst.pins[pin]] = input_level + 1
        self.groups: list[_Group] = []
        logic = gatekernel.CompiledLogic()
        for (_, cell_name, pin), members in sorted(grouped.items()):
            cell = library.cell(cell_name)
            expr = cell.pins[pin].function
            names = expr.variables() or cell.inputs()[:1]
            self.groups.append(
                _Group(
                    function=expr.compile_numpy(names),
                    inputs=[np.array([self._pin_net(m, n) for m in members]) for n in names],
                    output=np.array([netlist.instances[m].pins[pin] for m in members]),
                )
            )
            self._add_compiled(logic, self.groups[-1], len(names))
        self._logic = logic.arrays()
        self._build_flops()
        self._build_macros()
        undriven = self._undriven_nets(drivers)
        if undriven:
            names = ", ".join(netlist.net_names.get(n, f"net{n}") for n in sorted(undriven)[:8])
            raise BitwaveError(
                f"{len(undriven)} nets are read but never driven (e.g. {names}): cannot annotate their activity"
            )

    def _add_compiled(self, logic: gatekernel.CompiledLogic, group: _Group, inputs: int) -> None:
        """The group's outputs as truth tables for the compiled path (groups come in level
        order, so appending keeps the evaluation topological)."""
        if inputs > gatekernel.MAX_INPUTS:
            self.compiled = False  # no such cell in the libraries bitwave uses; numpy path
            return
        table = gatekernel.truth_table(group.function, inputs)
        for row, output in enumerate(group.output):
            logic.add(int(output), table, [int(nets[row]) for nets in group.inputs])

    def _pin_net(self, instance: int, pin: str) -> int:
        pins = self.netlist.instances[instance].pins
        if pin not in pins:
            raise BitwaveError(
                f"instance {self.netlist.instances[instance].name} leaves input {pin} unconnected"
            )
        return pins[pin]

    def _build_flops(self) -> None:
        netlist, library = self.netlist, self.library
        by_cell: dict[str, list[int]] = defaultdict(list)
        clocks = self.clock_nets | {gate.gated for gate in self.gates}
        for index, inst in enumerate(netlist.instances):
            cell = library.cell(inst.cell)
            if cell.sequential is None:
                continue
            seq = cell.sequential
            if seq.kind != "ff":
                raise BitwaveError(
                    f"cell {cell.name} is a {seq.kind}: only edge-triggered flip-flops are simulated"
                )
            clock_vars = seq.clocked_on.variables() if seq.clocked_on else []
            if seq.clocked_on is None or seq.clocked_on.op != "var":
                raise BitwaveError(
                    f"flip-flop {cell.name} clocked on {seq.texts.get('clocked_on')!r}: only rising edges are supported"
                )
            if any(inst.pins.get(v) not in clocks for v in clock_vars):
                raise BitwaveError(
                    f"flip-flop {inst.name} is not clocked by the clock port or a clock gate "
                    "on it: single-clock designs only"
                )
            by_cell[cell.name].append(index)
        self.n_flops = sum(len(v) for v in by_cell.values())
        self.state = np.zeros((self.n_flops, self.words), dtype=np.uint64)
        self.flop_groups: list[_FlopGroup] = []
        offset = 0
        for cell_name, members in sorted(by_cell.items()):
            cell = library.cell(cell_name)
            seq = cell.sequential
            state_idx = np.arange(offset, offset + len(members))
            offset += len(members)

            def compiled(
                expr: object, members: list[int] = members, cell: object = cell
            ) -> tuple[Callable | None, list[np.ndarray]]:
                if expr is None:
                    return None, []
                names = expr.variables() or [cell.inputs()[0]]
                return expr.compile_numpy(names), [
                    np.array([self._pin_net(m, n) for m in members]) for n in names
                ]

            clock_pins = seq.clocked_on.variables()
            next_fn, next_in = compiled(seq.next_state)
            clear_fn, clear_in = compiled(seq.clear)
            preset_fn, preset_in = compiled(seq.preset)
            outputs = []
            for pin in cell.outputs():
                if pin not in netlist.instances[members[0]].pins:
                    continue
                function = cell.pins[pin].function
                if function is None:
                    raise BitwaveError(f"flip-flop {cell.name} output {pin} has no function")
                outputs.append(
                    (
                        function.compile_numpy([seq.state, seq.state_inverted]),
                        np.array([netlist.instances[m].pins[pin] for m in members]),
                    )
                )
            self.flop_groups.append(
                _FlopGroup(
                    cell_name,
                    state_idx,
                    next_fn,
                    next_in,
                    clear_fn,
                    clear_in,
                    preset_fn,
                    preset_in,
                    outputs,
                    self._gate_rows(members, clock_pins),
                )
            )
        self._drive_flop_outputs()

    def _gate_rows(self, members: list[int], clock_pins: list[str]) -> np.ndarray:
        """Each flop's row in the table ``_gate_enables`` returns: its clock gate, or the
        all-ones last row for a flop on the clock port itself."""
        row_of = {gate.gated: row for row, gate in enumerate(self.gates)}
        pins = [self.netlist.instances[m].pins[clock_pins[0]] for m in members]
        return np.array([row_of.get(net, len(self.gates)) for net in pins], dtype=np.int64)

    def _gate_enables(self) -> np.ndarray:
        """(gates + 1, words): each clock gate's enable (any of its enable pins) as settled
        now, and a last row of ones for the ungated flops."""
        table = np.empty((len(self.gates) + 1, self.words), dtype=np.uint64)
        if self.compiled:
            gatekernel.gate_enables(self.values, *self._enable_nets, table)
        else:
            for row, gate in enumerate(self.gates):
                table[row] = np.bitwise_or.reduce(self.values[list(gate.enables)], axis=0)
        table[-1] = ALL_ONES
        return table

    def _build_macros(self) -> None:
        self.macros: list[_MacroState] = []
        for macro in self.netlist.macros:
            for pin in ("RD_CLK", "WR_CLK"):
                if any(net not in self.clock_nets for net in macro.pins[pin]):
                    raise BitwaveError(
                        f"memory {macro.name}: {pin} is not the clock port: single-clock designs only"
                    )
            self.macros.append(_MacroState(macro, self.words))
        self._drive_macro_outputs()

    def _undriven_nets(self, drivers: dict[int, tuple[int, str]]) -> set[int]:
        read = set()
        for macro in self.netlist.macros:
            for nets in macro.input_pins().values():
                read.update(nets)
        for inst in self.netlist.instances:
            cell = self.library.cell(inst.cell)
            for pin, net in inst.pins.items():
                if cell.pins[pin].direction == "input":
                    read.add(net)
        for port in self.netlist.ports.values():
            if port.direction == "output":
                read.update(port.nets)
        sources = set(drivers) | self.netlist.input_nets() | {CONST0, CONST1}
        sources.update(n for macro in self.netlist.macros for n in macro.output_nets())
        return read - sources

    # -- running -----------------------------------------------------------------------------
    def set_input(self, port: str, words: np.ndarray) -> None:
        """Drive input ``port`` with (width, words) uint64 lane-packed bits."""
        nets = self.netlist.ports[port].nets
        words = np.asarray(words, dtype=np.uint64).reshape(len(nets), self.words)
        for net, row in zip(nets, words, strict=True):
            if net > CONST1:
                self.values[net] = row

    def set_input_int(self, port: str, value: np.ndarray | int) -> None:
        """Drive ``port`` with one integer per lane (or the same integer in all lanes)."""
        width = len(self.netlist.ports[port].nets)
        values = np.broadcast_to(np.asarray(value, dtype=object), (self.lanes,))
        bits = np.array([[(int(v) >> b) & 1 for b in range(width)] for v in values], dtype=bool)
        self.set_input(port, pack_lanes(bits))

    def evaluate(self) -> None:
        """Settle the combinational logic and count transitions since the last cycle."""
        values = self.values
        if self.compiled:
            gatekernel.evaluate_logic(values, *self._logic)
        else:
            for group in self.groups:
                values[group.output] = group.function(*(values[idx] for idx in group.inputs))
        # the gates' latched enables: counted below, and what the next edge loads by
        self.enables = self._gate_enables()
        if self.previous is not None:
            self.toggles += np.bitwise_count((values ^ self.previous) & self.lane_mask).sum(
                axis=1, dtype=np.int64
            )
            self._count_gated_clocks()
            self.cycles += 1
        self.previous = values.copy()

    def _count_gated_clocks(self) -> None:
        """A gated clock pulses (two transitions) in the lanes whose gate is enabled."""
        if self.gates:
            enabled = self.enables[:-1] & self.lane_mask
            counts = np.bitwise_count(enabled).sum(axis=1, dtype=np.int64)
            self.toggles[self.gated_nets] += 2 * counts

    def clock(self) -> None:
        """A rising clock edge: every flip-flop takes its next state, every macro reads and
        writes (all from the values settled before the edge)."""
        values = self.values
        for state in self.macros:
            self._clock_macro(state)
        self.clock_edges += 1
        for group in self.flop_groups:
            new = group.next_state(*(values[idx] for idx in group.next_inputs))
            if self.gates:
                enable = self.enables[group.gates]
                new = (new & enable) | (self.state[group.state] & ~enable)
            if group.clear is not None:
                new = new & ~group.clear(*(values[idx] for idx in group.clear_inputs))
            if group.preset is not None:
                new = new | group.preset(*(values[idx] for idx in group.preset_inputs))
            self.state[group.state] = new
        self._drive_flop_outputs()
        self._drive_macro_outputs()

    def _lane_ints(self, nets: np.ndarray) -> np.ndarray:
        """Per lane (all 64*words of them), the unsigned integer on ``nets`` (LSB first)."""
        bits = unpack_lanes(self.values[nets], self.words * 64)
        return bits.astype(np.int64) @ (np.int64(1) << np.arange(len(nets), dtype=np.int64))

    def _lane_bits(self, nets: np.ndarray) -> np.ndarray:
        """(lanes incl. padding, len(nets)) booleans."""
        return unpack_lanes(self.values[nets], self.words * 64)

    def _clock_macro(self, state: _MacroState) -> None:
        if self.compiled:
            reads, written = gatekernel.clock_memory(
                self.values, state.read_nets, state.write_nets,
                state.contents if state.writable else state.EMPTY_CONTENTS,
                state.rom_bits, state.output, state.macro.offset, self.lanes,
            )  # fmt: skip
            state.stats.reads += reads
            state.stats.bits_written += written
            return
        macro = state.macro
        lanes = self.lane_index
        counted = lanes < self.lanes
        enable = self._lane_bits(np.array([state.enable]))[:, 0]
        word = self._lane_ints(state.addr) - macro.offset
        valid = (word >= 0) & (word < macro.depth)
        row = np.where(valid, word, 0)
        if state.writable:
            # stored[l, j] = contents[row[l], j, l // 64]; the lane's own bit is l % 64
            stored = state.contents[
                row[:, None], np.arange(macro.width)[None, :], (lanes // 64)[:, None]
            ]
            read = ((stored >> (lanes % 64).astype(np.uint64)[:, None]) & np.uint64(1)).astype(bool)
        else:
            read = macro.init[row]
        read &= valid[:, None]
        new_output = pack_lanes(read)
        # Lanes whose read enable is low keep their previous read data.
        enable_words = pack_lanes(enable[:, None])[0]
        state.output = (new_output & enable_words) | (state.output & ~enable_words)
        state.stats.reads += int(np.count_nonzero(enable & counted))
        if state.writable:
            self._write_macro(state, counted)

    def _write_macro(self, state: _MacroState, counted: np.ndarray) -> None:
        macro = state.macro
        enables = self._lane_bits(state.w_enable)  # (lanes, width): per-bit write enables
        word = self._lane_ints(state.w_addr) - macro.offset
        enables &= ((word >= 0) & (word < macro.depth))[:, None]
        if not enables.any():
            return
        data = self._lane_bits(state.w_data)
        lane, bit = np.nonzero(enables)
        index = (word[lane], bit, lane // 64)
        mask = np.uint64(1) << (lane % 64).astype(np.uint64)
        np.bitwise_and.at(state.contents, index, ~mask)
        np.bitwise_or.at(state.contents, index, np.where(data[lane, bit], mask, np.uint64(0)))
        state.stats.bits_written += int(np.count_nonzero(enables & counted[:, None]))

    def _drive_macro_outputs(self) -> None:
        for state in self.macros:
            self.values[state.data] = state.output[state.data_columns]

    def macro_stats(self) -> list[MacroStats]:
        """Reads and bits written per macro (in ``netlist.macros`` order) since the last reset."""
        return [state.stats for state in self.macros]

    def reset_activity(self) -> None:
        """Forget the transitions, cycles and macro accesses counted so far (e.g. after loading
        weights), so that the activity describes only what runs next."""
        self.toggles[:] = 0
        self.cycles = 0
        self.clock_edges = 0
        self.previous = None
        self.marks.clear()
        for state in self.macros:
            state.stats = MacroStats()

    def _drive_flop_outputs(self) -> None:
        for group in self.flop_groups:
            state = self.state[group.state]
            for function, nets in group.outputs:
                self.values[nets] = function(state, ~state)

    def get_output(self, port: str) -> np.ndarray:
        """(width, words) uint64 of a port's current value."""
        return self.values[self.netlist.ports[port].nets]

    def get_output_int(self, port: str) -> np.ndarray:
        """One Python integer per lane."""
        bits = unpack_lanes(self.get_output(port), self.lanes)
        weights = [1 << b for b in range(bits.shape[1])]
        return np.array(
            [sum(w for w, b in zip(weights, row, strict=True) if b) for row in bits], dtype=object
        )

    def activity(self) -> np.ndarray:
        """Transitions per clock cycle of every net, averaged over lanes and cycles."""
        return self.counts().activity(self.lanes)

    def counts(self) -> ActivityCounts:
        """A snapshot of everything counted since the last ``reset_activity``."""
        return ActivityCounts(
            self.toggles.copy(),
            self.cycles,
            self.clock_edges,
            tuple(MacroStats(m.reads, m.bits_written) for m in self.macro_stats()),
        )

    def mark(self, name: str) -> None:
        """Keep ``counts()`` as ``marks[name]`` (a later mark of the name replaces it)."""
        self.marks[name] = self.counts()
