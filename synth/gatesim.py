"""Cycle-based, zero-delay simulation of a mapped netlist, bit-parallel over many independent
runs ("lanes": bit k of every uint64 word belongs to lane 64*word+k), counting every net's
transitions between consecutive clock cycles.

This is exact for the synchronous single-clock designs bitwave generates (every flip-flop on
the one clock, no latches); glitches inside a cycle are not counted (zero-delay model).
Cells are evaluated from their liberty ``function`` strings, grouped by (level, cell, pin) so
each group is one numpy expression over all its instances and lanes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bitwave.errors import BitwaveError
from bitwave.synth.liberty import Library
from bitwave.synth.netlist import CONST0, CONST1, FlatNetlist, combinational_order

ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


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


class GateSimulator:
    """Simulate ``netlist`` for ``lanes`` independent runs. Usage: ``set_input`` for each
    input port, ``evaluate()``, read ``get_output``, then ``clock()``; repeat."""

    def __init__(
        self, netlist: FlatNetlist, library: Library, lanes: int, clock_port: str = "clk"
    ) -> None:
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
        # Padding lanes of the last word are simulated but never counted.
        bits = np.zeros(self.words * 64, dtype=bool)
        bits[:lanes] = True
        self.lane_mask = pack_lanes(bits[:, None])[0]
        self._build()

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
        self._build_flops()
        undriven = self._undriven_nets(drivers)
        if undriven:
            names = ", ".join(netlist.net_names.get(n, f"net{n}") for n in sorted(undriven)[:8])
            raise BitwaveError(
                f"{len(undriven)} nets are read but never driven (e.g. {names}): cannot annotate their activity"
            )

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
            if any(inst.pins.get(v) not in self.clock_nets for v in clock_vars):
                raise BitwaveError(
                    f"flip-flop {inst.name} is not clocked by the clock port: single-clock designs only"
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
                )
            )
        self._drive_flop_outputs()

    def _undriven_nets(self, drivers: dict[int, tuple[int, str]]) -> set[int]:
        read = set()
        for inst in self.netlist.instances:
            cell = self.library.cell(inst.cell)
            for pin, net in inst.pins.items():
                if cell.pins[pin].direction == "input":
                    read.add(net)
        for port in self.netlist.ports.values():
            if port.direction == "output":
                read.update(port.nets)
        sources = set(drivers) | self.netlist.input_nets() | {CONST0, CONST1}
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
        for group in self.groups:
            values[group.output] = group.function(*(values[idx] for idx in group.inputs))
        if self.previous is not None:
            self.toggles += np.bitwise_count((values ^ self.previous) & self.lane_mask).sum(
                axis=1, dtype=np.int64
            )
            self.cycles += 1
        self.previous = values.copy()

    def clock(self) -> None:
        """A rising clock edge: every flip-flop takes its next state."""
        values = self.values
        for group in self.flop_groups:
            new = group.next_state(*(values[idx] for idx in group.next_inputs))
            if group.clear is not None:
                new = new & ~group.clear(*(values[idx] for idx in group.clear_inputs))
            if group.preset is not None:
                new = new | group.preset(*(values[idx] for idx in group.preset_inputs))
            self.state[group.state] = new
        self._drive_flop_outputs()

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
        if self.cycles == 0:
            raise BitwaveError(
                "no simulated cycle pairs: run at least two cycles before reading activity"
            )
        return self.toggles / float(self.cycles * self.lanes)
