"""Single-point mutations of an IR, and design-level twins (a recurrent design that never
restarts, a multi-exit design that sends frames to the wrong exit), for proving that
verification can fail.

A mutation only proves something if it changes the network's outputs on the vectors the
testbench will drive (a flipped weight next to no threshold changes nothing), so
``effective_mutation`` tries candidates until the golden model shows a difference. For a
``binary_gru`` layer "weight" flips a bit of an input weight W, "recurrent_weight" one of a
recurrent weight U, and "threshold" moves one of T_z, T_r, T_n0, T_n1. In a multi-exit network
a mutation may hit an early exit's head (``Mutation.head``), and ``exit_block`` names the trunk
layers of an exit's block.

``no_restart_twin`` is a design-level twin: a copy of a recurrent design whose sequence-start
input is cut off inside (tied to 0), so its state is never reset between sequences.
``exit_swap_twin`` copies a multi-exit design and swaps two selector values before they reach
it, so those frames leave at each other's exit.

The full chip's twins (``ChipTwin``) change its fixed-point audio path instead of the network:
``twiddle_twin`` an FFT twiddle one LSB off, ``threshold_twin`` one integer coding threshold
one off. Both are searched, like ``effective_mutation``, until the golden model's output
samples on the verification's utterances change. A threshold one off changes a code only where
a frame's power equals it exactly, so ``threshold_twin`` first moves one of the IR's coding
boundaries onto a power the utterances reach (the chip is then built from that IR). A twin is
used both ways: as the golden model's ROMs against the true chip (``VerifyOptions.twin``), and
as the ROMs a chip is built with (``bitwave.hw.audio_chip.AudioChip``'s ``table`` and
``thresholds``) against the true golden model; either must fail.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core import audio, contract, golden, ir
from bitwave.core.audio import AudioSpec, AudioTables
from bitwave.core.errors import BitwaveError
from bitwave.core.ops.binary_gru import GATES, BinaryGRU
from bitwave.core.paths import write_text
from bitwave.sim.chip import expected_outputs
from bitwave.sim.verify import GATE_NETLISTS

KINDS = ("weight", "threshold", "recurrent_weight")
CHIP_TWINS = ("twiddle", "threshold")


@dataclass(frozen=True)
class Mutation:
    # "weight": one weight changed (a GRU's W); "recurrent_weight": one bit of a GRU's U;
    # "threshold": one threshold moved by +/-1
    kind: str
    layer: int
    neuron: int
    position: int  # input or state index (weights) or threshold column (threshold)
    delta: int = 0  # threshold change
    gate: int = 0  # a GRU's gate z, r, n (weights)
    head: int | None = None  # the head of early exit ``head`` instead of net.layers[layer]

    def target(self, net: ir.Network) -> ir.Layer:
        """The layer of ``net`` this mutation changes."""
        return net.layers[self.layer] if self.head is None else net.exits[self.head].head

    def describe(self, net: ir.Network) -> str:
        name = self.target(net).name
        if self.kind == "threshold":
            return f"layer {name}: threshold [{self.neuron}, {self.position}] {self.delta:+d}"
        if isinstance(self.target(net), BinaryGRU):
            which = "U" if self.kind == "recurrent_weight" else "W"
            where = f"{which}_{GATES[self.gate]} [{self.neuron}, {self.position}]"
            return f"layer {name}: weight {where} flipped"
        return f"layer {name}: weight [{self.neuron}, {self.position}] flipped"


def _flip(packed: np.ndarray, index: tuple[int, int], bit: int) -> None:
    """Flip one bit of a packed XNOR weight row (bit i of a row in word i // 64)."""
    packed[(*index, bit // ir.WORD_BITS)] ^= np.uint64(1) << np.uint64(bit % ir.WORD_BITS)


def apply(net: ir.Network, mutation: Mutation) -> ir.Network:
    """A copy of ``net`` with one weight flipped or one threshold moved."""
    mutated = copy.deepcopy(net)
    layer = mutation.target(mutated)
    m, i = mutation.neuron, mutation.position
    if mutation.kind == "recurrent_weight":
        if not isinstance(layer, BinaryGRU):
            raise BitwaveError(
                f"a recurrent_weight mutation needs a binary_gru layer, {layer.name} is {layer.op}"
            )
        _flip(layer.weights_h, (mutation.gate, m), i)
    elif mutation.kind == "weight":
        if isinstance(layer, BinaryGRU):
            _flip(layer.weights_x, (mutation.gate, m), i)
        elif isinstance(layer, ir.BinaryDense):
            _flip(layer.weights, (m,), i)
        elif layer.wbits == 1:
            layer.weights[m, i] = -layer.weights[m, i]
        else:  # one step towards the other end of the symmetric range, staying inside it
            low, high = ir.weight_range(layer.wbits)
            w = int(layer.weights[m, i])
            layer.weights[m, i] = w + 1 if w < high else w - 1
    elif mutation.kind == "threshold":
        layer.thresholds[m, i] += mutation.delta
    else:
        raise BitwaveError(
            f"mutation kind must be one of {', '.join(KINDS)}, got {mutation.kind!r}"
        )
    ir.validate(mutated)
    return mutated


def exit_block(net: ir.Network, k: int) -> list[int]:
    """The indices in ``net.layers`` of exit ``k``'s block: the trunk layers exit k computes
    and exit k - 1 does not (the final exit's block leaves out the chain's last layer, its
    head). Changing one changes exits k and deeper, never a shallower one."""
    if not 0 <= k < net.n_exits:
        raise BitwaveError(f"exit {k} of network {net.name!r}: it has exits 0..{net.n_exits - 1}")
    names = [layer.name for layer in net.layers]
    first = 0 if k == 0 else names.index(net.exits[k - 1].after) + 1
    end = names.index(net.exits[k].after) + 1 if k < len(net.exits) else len(net.layers) - 1
    return list(range(first, end))


def _candidates(
    net: ir.Network, kind: str, rng: np.random.Generator, targets: list[tuple[int, int | None]]
) -> list[Mutation]:
    found = []
    for index, head in reversed(targets):  # later layers change the output most directly
        layer = net.layers[index] if head is None else net.exits[head].head
        gru = isinstance(layer, BinaryGRU)
        if kind == "recurrent_weight" and not gru:
            continue
        neurons = rng.permutation(layer.out_width)[:64]
        for m in neurons:
            if kind == "threshold":
                for j in range(layer.thresholds.shape[1]):
                    for delta in (1, -1):
                        found.append(Mutation("threshold", index, int(m), j, delta, head=head))
            elif not gru:
                for i in rng.permutation(layer.in_width)[:16]:
                    found.append(Mutation("weight", index, int(m), int(i), head=head))
            else:  # a GRU: W (weight) or U (recurrent_weight) of each gate
                width = layer.out_width if kind == "recurrent_weight" else layer.in_width
                for gate in range(len(GATES)):
                    for i in rng.permutation(width)[:16]:
                        found.append(Mutation(kind, index, int(m), int(i), gate=gate))
    return found


def effective_mutation(
    net: ir.Network,
    inputs: np.ndarray,
    kind: str,
    seed: int = 0,
    max_tries: int = 2000,
    starts: np.ndarray | None = None,
    layer: int | None = None,
    exits: int | np.ndarray | None = None,
    head: int | None = None,
) -> tuple[ir.Network, Mutation, int]:
    """The first mutation of ``kind`` that changes the golden output on ``inputs`` (a
    recurrent network's sequences begin where ``starts`` says; a multi-exit network's frames
    leave at ``exits``, golden.run's argument): (mutated network, mutation, number of output
    elements that change). ``layer``: mutate only that layer (its index); ``head``: only exit
    ``head``'s head (an early exit's, or the chain's last layer for the final exit)."""
    if kind not in KINDS:
        raise BitwaveError(f"mutation kind must be one of {', '.join(KINDS)}, got {kind!r}")
    targets = _targets(net, layer, head)
    if kind == "recurrent_weight" and not any(
        isinstance(net.layers[i], BinaryGRU) for i, early in targets if early is None
    ):
        raise BitwaveError("a recurrent_weight mutation needs a binary_gru layer to mutate")
    reference = golden.run(net, inputs, starts, exits=exits)
    rng = np.random.default_rng(seed)
    for mutation in _candidates(net, kind, rng, targets)[:max_tries]:
        mutated = apply(net, mutation)
        changed = int((golden.run(mutated, inputs, starts, exits=exits) != reference).sum())
        if changed:
            return mutated, mutation, changed
    raise BitwaveError(
        f"no {kind} mutation among {max_tries} candidates changes the output on these inputs"
    )


def _targets(net: ir.Network, layer: int | None, head: int | None) -> list[tuple[int, int | None]]:
    """(index in net.layers, early exit or None) of the layers a mutation may hit; an early
    exit's head gets index -1. Without ``layer`` or ``head``: the chain's layers only."""
    if head is None:
        return [(i, None) for i in (range(len(net.layers)) if layer is None else [layer])]
    if layer is not None or not 0 <= head < net.n_exits:
        raise BitwaveError(
            f"head must be an exit of {net.name!r} (0..{net.n_exits - 1}) and excludes layer, "
            f"got head {head}, layer {layer}"
        )
    return [(len(net.layers) - 1, None)] if head == len(net.exits) else [(-1, head)]


def no_restart_twin(design_dir: str | Path, out: str | Path) -> Path:
    """A copy of the recurrent design at ``design_dir`` in ``out`` whose sequence-start port is
    tied to 0 inside: the original top (in the RTL and in any netlist of ``bitwave synth``)
    becomes ``<top>__no_restart`` under a wrapper with the same ports, so manifest, IR and
    weights stay valid. Its state then runs on across every sequence boundary (only the first
    frame after reset starts one), which verification must report."""
    design = contract.load(design_dir)
    if design.sequence_start is None:
        raise BitwaveError(f"{design.root} has no sequence-start port (not a recurrent design)")
    # the start flag never reaches the core
    return _rewired_copy(design, out, "no_restart", {design.sequence_start.port: "1'b0"})


def exit_swap_twin(design_dir: str | Path, out: str | Path, a: int, b: int) -> Path:
    """A copy of the multi-exit design at ``design_dir`` in ``out`` whose selector values ``a``
    and ``b`` are swapped before they reach the design (the same wrapper as
    ``no_restart_twin``): a frame sent to exit a leaves at exit b and the other way round,
    consistently through the design's demuxes and order FIFO, which verification must report
    at exits a and b. (A demux that disagrees with the order FIFO inside the design cannot be
    made from outside; bitwave.hw's own tests build that twin.)"""
    design = contract.load(design_dir)
    if design.exits is None:
        raise BitwaveError(f"{design.root} has no exit selector (not a multi-exit design)")
    span = 1 << design.exits.width
    if a == b or not (0 <= a < span and 0 <= b < span):
        raise BitwaveError(f"exit_swap_twin needs two different selector values in 0..{span - 1}")
    port, width = design.exits.port, design.exits.width
    swapped = (f"({port} == {width}'d{a} ? {width}'d{b} : "
               f"{port} == {width}'d{b} ? {width}'d{a} : {port})")  # fmt: skip
    return _rewired_copy(design, out, "exit_swap", {port: swapped})


def _rewired_copy(design: contract.Design, out: str | Path, suffix: str, rewired: dict) -> Path:
    """A copy of ``design`` in ``out`` whose top (in the RTL and in any netlist of ``bitwave
    synth``) becomes ``<top>__<suffix>`` under a wrapper with the same ports that drives the
    ports named in ``rewired`` with the given Verilog expressions."""
    out = Path(out)
    shutil.copytree(design.root, out, ignore=shutil.ignore_patterns("verify"))
    netlists = [out / "synth" / name for name in GATE_NETLISTS]
    for path in [out / "rtl" / design.verilog.name, *netlists]:
        if path.is_file():
            write_text(path, _wrap(path.read_text(), design, suffix, rewired))
    return out


def _wrap(verilog: str, design: contract.Design, suffix: str, rewired: dict) -> str:
    """``verilog`` with its top renamed and wrapped by a top of the same ports whose core sees
    the expressions ``rewired`` gives instead of those input ports."""
    inner = f"{design.top}__{suffix}"
    text, found = re.subn(rf"^module {re.escape(design.top)}\s*\(", f"module {inner}(",
                          verilog, count=1, flags=re.MULTILINE)  # fmt: skip
    if not found:
        raise BitwaveError(f"the design's Verilog declares no module {design.top}")
    names = [p.name for p in design.ports]
    connections = ", ".join(f".{name}({rewired.get(name, name)})" for name in names)
    wrapper = [
        f"module {design.top}({', '.join(names)});",
        *(f"  {p.direction} [{p.width - 1}:0] {p.name};" for p in design.ports),
        f"  {inner} core({connections});",
        "endmodule",
    ]
    return text + "\n" + "\n".join(wrapper) + "\n"


# ---------------------------------------------------------------------------------------------
# The full chip's twins
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChipTwin:
    """One change of the chip's audio path that changes ``changed`` output samples on the
    utterances it was searched on: the twiddle ROMs (``table``) or the integer coding
    thresholds (``thresholds``, (513, levels - 1)) to build or compare with."""

    kind: str  # "twiddle" | "threshold"
    description: str
    changed: int
    table: AudioTables | None = None
    thresholds: np.ndarray | None = None

    def build_args(self) -> dict:
        """The keyword arguments of ``bitwave.hw.generate.generate`` (with ``audio=True``)
        that build the twin as a real chip: its ROMs or its thresholds."""
        return {"audio_table": self.table, "audio_thresholds": self.thresholds}


def _outputs(
    net: ir.Network,
    utterances: Sequence[np.ndarray],
    exits: Sequence[int] | None,
    table: AudioTables | None = None,
    thresholds: np.ndarray | None = None,
) -> list[np.ndarray]:
    return expected_outputs(net, utterances, exits, None, table, thresholds)


def _changed(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    return int(sum((x != y).sum() for x, y in zip(a, b, strict=True)))


def twiddle_twin(
    net: ir.Network,
    utterances: list[np.ndarray],
    exits: Sequence[int] | None = None,
    max_tries: int = 24,
) -> ChipTwin:
    """The first twiddle (cos or sin) one LSB off that changes the golden output samples of
    ``utterances``. Indices shared by many FFT stages come first (most trailing zeros); 0 and
    N/4 (the exact +-1.0 a hardware FFT may bypass) are left out."""
    spec = net.audio or AudioSpec()
    table = audio.tables(spec)
    reference = _outputs(net, utterances, exits)
    half = audio.N_FFT // 2
    order = sorted(set(range(1, half)) - {half // 2}, key=lambda k: (-(k & -k), k))
    candidates = [(k, part, delta) for k in order for part in ("cos", "sin") for delta in (1, -1)]
    for index, part, delta in candidates[:max_tries]:
        twin = audio.mutate_twiddle(table, index, delta, part)
        changed = _changed(reference, _outputs(net, utterances, exits, table=twin))
        if changed:
            return ChipTwin(
                "twiddle", f"twiddle {part}[{index}] {delta:+d} LSB", changed, table=twin
            )
    raise BitwaveError(
        f"no twiddle off by one LSB among {max_tries} candidates changes the output samples of "
        "these utterances; give longer or louder ones"
    )


def threshold_twin(
    net: ir.Network,
    utterances: list[np.ndarray],
    exits: Sequence[int] | None = None,
    seed: int = 0,
    max_tries: int = 200,
) -> tuple[ir.Network, ChipTwin]:
    """(a copy of ``net`` whose coding boundary of one (bin, level) makes its integer threshold
    exactly a power some frame of ``utterances`` reaches, the twin: that threshold one higher)
    such that the twin changes the golden output samples. Build the chip from the copy."""
    if net.coding is None or net.coding.features != audio.N_BINS:
        raise BitwaveError(f"network {net.name!r} has no {audio.N_BINS}-bin input coding")
    spec = net.audio or AudioSpec()
    bounds = np.array(np.broadcast_to(net.coding.boundaries,
                                      (audio.N_BINS, net.coding.boundaries.shape[1])))  # fmt: skip
    base = audio.coding_thresholds(bounds, spec)
    rng = np.random.default_rng(seed)
    picks = list(exits) if exits is not None else [None] * len(utterances)
    for _ in range(max_tries):
        u = int(rng.integers(len(utterances)))
        power = audio.front_end(utterances[u], spec, base, net.coding.bits).power
        frame, b = int(rng.integers(power.shape[0])), int(rng.integers(audio.N_BINS))
        level = int((power[frame, b] >= base[b]).sum()) - 1
        bound = _boundary_on(int(power[frame, b]), spec)
        if level < 0 or bound is None:
            continue
        if level and bound <= bounds[b, level - 1]:
            continue
        placed = bounds.copy()
        placed[b, level] = bound
        moved = copy.deepcopy(net)
        moved.coding = ir.BitplaneCodingSpec(audio.N_BINS, net.coding.bits, placed,
                                             net.coding.levels)  # fmt: skip
        thresholds = audio.coding_thresholds(placed, spec)
        twin = audio.mutate_threshold(thresholds, b, level, +1)
        one = [utterances[u]]
        changed = _changed(_outputs(moved, one, picks[u : u + 1]),
                           _outputs(moved, one, picks[u : u + 1], thresholds=twin))  # fmt: skip
        if changed:
            ir.validate(moved)
            what = (
                f"coding threshold [bin {b}, level {level}] +1 (on frame {frame} of utterance {u})"
            )
            return moved, ChipTwin("threshold", what, changed, thresholds=twin)
    raise BitwaveError(
        f"no coding threshold off by one among {max_tries} candidates changes the output "
        "samples of these utterances"
    )


def _boundary_on(power: int, spec: AudioSpec) -> float | None:
    """A float boundary whose integer threshold (``audio.coding_thresholds``) is ``power``."""
    if power <= 0:
        return None
    bound = float(np.sqrt(power) / float(spec.magnitude_scale))
    for _ in range(64):
        got = int(audio.coding_thresholds(np.array([[bound]]), spec)[0, 0])
        if got == power:
            return bound
        bound = float(np.nextafter(bound, 0.0 if got > power else np.inf))
    return None
