"""``bitwave synth DIR``: synthesize a generated design folder (DIR/manifest.json, DIR/rtl/<top>.v)
and write DIR/synth/ (mapped netlist, area.json, timing.json, power.json, report.md, and
cells.v: Verilog models of the liberty's cells, for ``bitwave verify --gate-level``). DIR/synth
is built in a temporary sibling and swapped in whole: a failed or interrupted run leaves the
previous results (or none), never a half-filled folder or a Yosys working folder.

The power simulation doubles as a functional check: a design generated with ``--weights
memory`` first gets its IR's weights through the write port (the documented layout,
``bitwave.core.weight_loading``), and every output frame of the mapped netlist is compared
with the golden model of the design's IR. A mismatch is an error, not a result.

Recurrent designs (a manifest with ``sequence_start``, e.g. a GRU network) carry a state from
frame to frame, so their activity depends on the sequence: each lane streams consecutive frames
of the utterances (``--inputs`` files, each one utterance, back to back; or random frames in
random utterances), the start port is driven with the first beat of every utterance's first
frame and of every lane's first frame (the run starts from reset), and the golden model runs
with the same starts (``golden.run(net, x, starts)``).

Multi-exit designs (a manifest with ``exits``) are synthesized once and simulated once per
exit (every frame at that exit: its power) and once with a random exit per frame (the golden
check against ``golden.run(net, x, exits=...)``); see ``bitwave.synth.flows.exits``.

High-fanout nets get buffer trees first (``--max-fanout``, default 16, 0 for none; see
``bitwave.synth.eda.fanout``): the golden-model check, timing, power and area are all of the
repaired netlist, so the check also proves that the repair kept the function."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bitwave.core import contract, golden, ir, ops
from bitwave.core.codec import bits_to_codes, compare_frames, frames_to_bits
from bitwave.core.contract import Design, Layer
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import require_supported
from bitwave.core.paths import inside, refuse_symlinked_folder, replaced_folder, write_text
from bitwave.core.random_ir import random_codes
from bitwave.core.weight_loading import weight_writes
from bitwave.synth.eda.cells import write_cell_models
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT, check_max_fanout
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.power import realtime_power
from bitwave.synth.eda.sram_table import SramTable, resolve_sram
from bitwave.synth.flows import exits as exit_runs
from bitwave.synth.flows.asic import check_memory_mode
from bitwave.synth.flows.flow import MAIN_RUN, AsicResult, require_ok, run_asic, write_json
from bitwave.synth.flows.stimulus import StreamRun, idle_cycles, load_weights, stream_frames

DEFAULT_LANES = 64
DEFAULT_FRAMES_PER_LANE = 8
CELL_MODELS = "cells.v"  # beside the netlist; read by bitwave verify --gate-level
# Random stimulus of a recurrent design: a new utterance begins at a frame with this
# probability (besides every lane's first frame), so restarts also fall inside the lanes.
RANDOM_RESTART_PROBABILITY = 0.25

Inputs = str | Path | Sequence[str | Path] | None  # --inputs: one .npy or several utterances


@dataclass
class Stimulus:
    """What the gate-level run streams: ``frames`` (lanes, frames per lane, padded frame bits)
    booleans, and for a recurrent design ``starts`` (lanes, frames per lane): True where a frame
    begins a sequence (every lane's first frame does); None for a feed-forward design. For a
    multi-exit design ``exits`` (lanes, frames per lane): the selector value of every frame."""

    frames: np.ndarray
    starts: np.ndarray | None = None
    exits: np.ndarray | None = None

    @property
    def sequences(self) -> int | None:
        return None if self.starts is None else int(self.starts.sum())

    def at_exit(self, k: int) -> Stimulus:
        """The same frames, every one at exit ``k``."""
        return replace(self, exits=np.full(self.frames.shape[:2], k, dtype=np.int64))


def design_ir(design: Design) -> ir.Network | None:
    """The IR the design was built from (every ``bitwave generate`` output has it), else None."""
    return ir.load(design.ir_path) if design.ir_path.is_file() else None


def binary_macs_per_frame(layers: tuple[Layer, ...], net: ir.Network | None = None) -> int:
    """MACs of one frame: the op's count of every layer of the IR (a GRU layer's three gates
    over its input and its state), or in_width x out_width per layer without the IR."""
    if net is not None:
        return sum(ops.op_of(layer).cost_counts(layer).macs for layer in net.layers)
    return sum(layer.in_width * layer.out_width for layer in layers)


def input_files(inputs: Inputs) -> list[Path]:
    """--inputs as a list of files (one path or several)."""
    if inputs is None:
        return []
    return [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]


def inputs_label(inputs: Inputs) -> str:
    """How the reports name the stimulus source."""
    if inputs is None or isinstance(inputs, str | Path):
        return str(inputs) if inputs else "random frames"
    return ", ".join(map(str, inputs)) or "random frames"


def load_frames(
    design: Design, inputs: Inputs, lanes: int, per_lane: int, seed: int = 0
) -> np.ndarray:
    """(lanes, per_lane, padded frame bits) booleans as the input stream carries them (the
    frames of ``load_stimulus``)."""
    return load_stimulus(design, inputs, lanes, per_lane, seed).frames


def load_stimulus(
    design: Design, inputs: Inputs, lanes: int, per_lane: int, seed: int = 0
) -> Stimulus:
    """The frames of every lane, the sequence starts of a recurrent design and a random exit
    selector per frame of a multi-exit design (seeded, ``exits.random_selectors``)."""
    stimulus = _frames_and_starts(design, inputs, lanes, per_lane, seed)
    if design.exits is not None:
        stimulus.exits = exit_runs.random_selectors(design.exits, lanes, per_lane, seed)
    return stimulus


def _frames_and_starts(
    design: Design, inputs: Inputs, lanes: int, per_lane: int, seed: int
) -> Stimulus:
    """The frames of every lane, and the sequence starts of a recurrent design.

    A design that carries its IR (every ``bitwave generate`` output) takes ``inputs`` as the
    other stages do (IR input codes, or float features its coding encodes; several files are
    utterances back to back, each starting a sequence) and otherwise random codes of its input
    type; a hand-made design without an IR takes random frames. Lane k streams frames
    k * per_lane .. (k + 1) * per_lane - 1 of them, reused cyclically when there are fewer."""
    bits = design.input_stream.padded_frame_bits
    rng = np.random.default_rng(seed)
    net = design_ir(design)
    recurrent = design.sequence_start is not None
    files = input_files(inputs)
    if net is None:
        if files:
            raise BitwaveError(
                f"--inputs needs the design's IR ({design.ir_path}) to interpret the frames"
            )
        frames = rng.integers(0, 2, (lanes, per_lane, bits)).astype(bool)
        return Stimulus(frames, _lane_starts(None, lanes, per_lane) if recurrent else None)
    count = lanes * per_lane
    if not files:
        codes = random_codes(net.input_type, count, net.input_width, rng)
        # drawn after the codes, so a design's random frames do not depend on being recurrent
        starts = rng.random(count) < RANDOM_RESTART_PROBABILITY if recurrent else None
    else:
        stream, utterances = _utterances(files, net)
        # Spread the frames over the lanes, reusing them cyclically when there are fewer.
        picks = np.arange(count) % len(stream)
        codes, starts = stream[picks], utterances[picks] if recurrent else None
    frames = frames_to_bits(codes, net.input_type.bits, bits).reshape(lanes, per_lane, bits)
    return Stimulus(frames, _lane_starts(starts, lanes, per_lane) if recurrent else None)


def _utterances(files: list[Path], net: ir.Network) -> tuple[np.ndarray, np.ndarray]:
    """(codes, starts): the frames of every file back to back, each file one utterance that
    begins at its first frame."""
    parts = []
    for path in files:
        codes = golden.load_input_frames(path, net)
        if len(codes) < 1:
            raise BitwaveError(f"--inputs {path} holds no frames")
        parts.append(codes)
    starts = np.zeros(sum(len(part) for part in parts), bool)
    starts[np.cumsum([0] + [len(part) for part in parts[:-1]])] = True
    return np.concatenate(parts), starts


def _lane_starts(starts: np.ndarray | None, lanes: int, per_lane: int) -> np.ndarray:
    """(lanes, per_lane) start flags; each lane's first frame starts a sequence (the gate-level
    run begins from reset, and the golden model must begin there too)."""
    flags = np.zeros((lanes, per_lane), bool) if starts is None else starts.reshape(lanes, -1)
    flags = flags.copy()
    flags[:, 0] = True
    return flags


def expected_beats(
    design: Design,
    frames: np.ndarray,
    starts: np.ndarray | None = None,
    exits: np.ndarray | None = None,
) -> list[list[int]] | None:
    """Per lane, the output beats the golden model of DIR/model.bwir gives for ``frames``
    (each lane its own sequence of frames; a recurrent network also restarts where ``starts``,
    (lanes, frames per lane), is True; a multi-exit network leaves every frame at the exit its
    selector value in ``exits`` picks); None for a design without its IR."""
    net = design_ir(design)
    if net is None:
        return None
    codes = bits_to_codes(frames, net.input_width, net.input_type.bits)
    if starts is None and exits is None:
        outputs = golden.run_sequences(net, list(codes))
    else:
        lanes, per_lane = codes.shape[:2]
        chosen = None if exits is None else exit_runs.selected_exits(design.exits, exits)
        flat = golden.run(
            net,
            codes.reshape(lanes * per_lane, -1),
            None if starts is None else starts.reshape(-1),
            None if chosen is None else chosen.reshape(-1),
        )
        outputs = list(flat.reshape(lanes, per_lane, -1))
    sink = design.output_stream
    return [[b for frame in sink.to_beats(np.asarray(lane)) for b in frame] for lane in outputs]


def check_outputs(expected: list[list[int]] | None, stream: StreamRun, beats: int) -> dict:
    """Compare the netlist's output beats with the golden model's, frame by frame."""
    if expected is None:
        return {"checked": False, "reason": "the design folder has no model.bwir"}
    frames = mismatched = 0
    first = None
    for lane, (want, got) in enumerate(zip(expected, stream.outputs, strict=True)):
        complete = len(got) // beats * beats
        found = compare_frames(
            np.array(want, dtype=object).reshape(-1, beats),
            np.array(got[:complete], dtype=object).reshape(-1, beats),
        )
        frames += len(want) // beats
        mismatched += found["mismatched_frames"]
        if first is None and found["first_mismatch"]:
            first = {"lane": lane, "frame": found["first_mismatch"]["frame"]}
    return {
        "checked": True,
        "frames": frames,
        "mismatched_frames": mismatched,
        "first_mismatch": first,
    }


def synthesize_design(
    design_dir: str | Path,
    liberty: str | Path | None = None,
    clock_mhz: float | None = None,
    inputs: Inputs = None,
    lanes: int = DEFAULT_LANES,
    frames_per_lane: int = DEFAULT_FRAMES_PER_LANE,
    memories: str = "auto",
    max_fanout: int = DEFAULT_MAX_FANOUT,
    sram: str | Path | None = None,
) -> dict:
    """Run the ASIC flow on a generated design and write DIR/synth/. Returns the summary.
    ``sram``: what prices the memory macros: None or "cells" the standard-cell model,
    "openram" the shipped FreePDK45 OpenRAM table, else a datasheet table's path
    (``bitwave.synth.eda.sram_table``).
    ``memories``: "auto" keeps RAMs as modelled macros and maps ROMs to logic, "macro" keeps
    every memory as a macro, "cells" maps them all to cells (see ``bitwave.synth.flows.asic``).
    ``max_fanout``: nets with more loads get buffer trees (0: no repair). ``inputs``: one
    .npy of frames, or several (each one utterance; see the module docstring)."""
    check_memory_mode(memories)
    check_max_fanout(max_fanout)
    table = resolve_sram(sram)
    design = contract.load(design_dir)
    if getattr(design, "audio", None) is not None:  # a full chip: PCM in, PCM out
        return _synthesize_chip(design, liberty, clock_mhz, inputs, memories, max_fanout, table)
    net = design_ir(design)
    if net is not None:
        require_supported(net, "synth")
        design.require_recurrence(net.is_recurrent)
        design.require_exits(net.n_exits)
    liberty_path = Path(liberty) if liberty else COMPACT_LIBRARY
    mhz = float(clock_mhz or design.clock.mhz)
    if mhz <= 0:
        raise BitwaveError(f"--clock-mhz must be positive, got {mhz}")
    out = synth_folder(design)
    stimulus = load_stimulus(design, inputs, lanes, frames_per_lane)
    with replaced_folder(out) as building:
        summary, checks = _synthesize_into(
            building,
            design,
            liberty_path,
            mhz,
            stimulus,
            inputs,
            lanes,
            memories,
            max_fanout,
            table,
        )
        _keep_fpga_results(out, building)
    summary["out"] = str(out)
    for check in checks:
        _require_golden_match(check, design, out)
    return summary


def _synthesize_chip(
    design: Design, liberty: str | Path | None, clock_mhz: float | None, inputs: Inputs,
    memories: str, max_fanout: int, sram: SramTable | None,
) -> dict:  # fmt: skip
    """A full chip (manifest ``audio``): utterances through the netlist, every output sample
    checked against ``golden.run_audio``, area and power per part (``flows.chip``)."""
    from bitwave.synth.flows import chip  # imports this module for the shared report parts

    net = design_ir(design)
    if net is None:
        raise BitwaveError(f"{design.ir_path} is missing: the chip's golden model needs its IR")
    # the chip drives a GRU's start flag and takes the exit in pcm_in: no such ports to check
    require_supported(net, "synth")
    liberty_path = Path(liberty) if liberty else COMPACT_LIBRARY
    mhz = float(clock_mhz or design.clock.mhz)
    if mhz <= 0:
        raise BitwaveError(f"--clock-mhz must be positive, got {mhz}")
    out = synth_folder(design)
    files = input_files(inputs)
    chip.chip_stimulus(design, chip.chip_facts(design), files, net.n_exits)  # refuse up front
    with replaced_folder(out) as building:
        summary, check = chip.synthesize_chip(
            design, liberty_path, mhz, files, memories, max_fanout, building, sram
        )
        _keep_fpga_results(out, building)
    summary["out"] = str(out)
    chip.require_pcm_match(check, design, out)
    return summary


def synth_folder(design: Design) -> Path:
    """DIR/synth, refused when it is a link or holds one (it is replaced whole)."""
    refuse_symlinked_folder(design.root / "synth", "the synthesis folder")
    return inside(design.root, "synth")


def _synthesize_into(
    out: Path, design: Design, liberty_path: Path, mhz: float, stimulus: Stimulus,
    inputs: Inputs, lanes: int, memories: str, max_fanout: int, sram: SramTable | None,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """Run the flow with every file written into ``out``; (the summary, every run's golden
    check: the reported one first, of a multi-exit design the run with exits switching)."""
    runs = _runs(design, stimulus)
    drives = {name: _stimulus(design, each) for name, each in runs.items()}
    scenarios = {name: drive for name, (drive, _) in drives.items() if name != MAIN_RUN}
    scenarios[IDLE_RUN] = _idle_drive(design)
    start = time.perf_counter()
    result = run_asic([design.verilog], design.top, liberty_path, mhz * 1e6, drives[MAIN_RUN][0],
                      lanes=lanes, keep_dir=out, clock_port=design.clock.port,
                      memories=memories, max_fanout=max_fanout,
                      scenarios=scenarios, sram=sram)  # fmt: skip
    require_ok(result)
    checks = {name: _check_run(design, runs[name], run) for name, (_, run) in drives.items()}
    stream = drives[MAIN_RUN][1]["stream"]
    by_exit = _exit_runs(design, result, runs, drives, checks)
    check = checks[exit_runs.SWITCHING if by_exit else MAIN_RUN]
    if by_exit:
        check["frames_per_exit"] = by_exit.frames_per_exit
    seconds = time.perf_counter() - start
    write_cell_models(liberty_path, out / CELL_MODELS)  # for bitwave verify --gate-level
    summary = write_reports(out, design, result, stream, mhz, seconds, inputs, check, by_exit)
    return summary, [check, *(c for c in checks.values() if c is not check)]


IDLE_RUN = "idle"  # the scenario of a design waiting for frames with its clock running


def _idle_drive(design: Design) -> Callable[[GateSimulator], None]:
    idle = [name for name, _ in design.idle_inputs()]
    return lambda sim: idle_cycles(sim, design.input_stream, design.output_stream,
                                   design.reset.port, idle)  # fmt: skip


def _runs(design: Design, stimulus: Stimulus) -> dict[str, Stimulus]:
    """The gate-level runs of one synthesis, by name: the stimulus itself (MAIN_RUN, whose power
    is the top-level figure); for a multi-exit design every frame at the final exit (MAIN_RUN),
    at each early exit, and at its random exit."""
    if design.exits is None:
        return {MAIN_RUN: stimulus}
    final = design.n_exits - 1
    runs = {MAIN_RUN: stimulus.at_exit(final)}
    runs.update({exit_runs.exit_run(k): stimulus.at_exit(k) for k in range(final)})
    runs[exit_runs.SWITCHING] = stimulus
    return runs


def _check_run(design: Design, stimulus: Stimulus, run: dict) -> dict:
    """One run's outputs against the golden model at the same starts and exits."""
    stream = run["stream"]
    if stream.frames_out == 0:
        raise BitwaveError(
            f"the design produced no output frame in {stream.cycles} simulated cycles: check the stream ports"
        )
    expected = expected_beats(design, stimulus.frames, stimulus.starts, stimulus.exits)
    check = check_outputs(expected, stream, design.output_stream.beats_per_frame)
    check["weights_loaded"] = run.get("weights", 0)
    if stimulus.starts is not None and check["checked"]:
        check["sequence_starts"] = stimulus.sequences
    return check


def _exit_runs(
    design: Design, result: AsicResult, runs: dict[str, Stimulus], drives: dict, checks: dict
) -> exit_runs.ExitRuns | None:
    """The per-exit runs' power, checks and streams of a multi-exit design (else None)."""
    if design.exits is None:
        return None
    final = design.n_exits - 1
    names = [exit_runs.exit_run(k) for k in range(final)]
    chosen = exit_runs.selected_exits(design.exits, runs[exit_runs.SWITCHING].exits)
    return exit_runs.ExitRuns(
        powers=[*(result.scenarios[n] for n in names), result.power],
        windows=[result.windows.get(n) for n in [*names, MAIN_RUN]],
        checks=[*(checks[n] for n in names), checks[MAIN_RUN]],
        streams=[*(drives[n][1]["stream"] for n in names), drives[MAIN_RUN][1]["stream"]],
        switching_power=result.scenarios[exit_runs.SWITCHING],
        switching_stream=drives[exit_runs.SWITCHING][1]["stream"],
        frames_per_exit=np.bincount(chosen.reshape(-1), minlength=design.n_exits).tolist(),
    )


def _keep_fpga_results(old: Path, new: Path) -> None:
    """``bitwave synth --target <fpga>`` results of the same design stay beside a new ASIC run
    (a regeneration of the design removes them with the rest)."""
    if old.is_dir():  # copied, not moved: the old folder stays whole until the swap
        for entry in old.glob("fpga_*"):
            if entry.is_dir():
                shutil.copytree(entry, new / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, new / entry.name)


def _require_golden_match(check: dict, design: Design, out: Path) -> None:
    """A netlist that computes something else is an error, not a result."""
    if check.get("mismatched_frames"):
        raise BitwaveError(
            f"the mapped netlist's outputs differ from the golden model of {design.ir_path} "
            f"in {check['mismatched_frames']} of {check['frames']} frames (first: lane "
            f"{check['first_mismatch']['lane']}, frame {check['first_mismatch']['frame']}); reports in {out}"
        )


def _stimulus(
    design: Design, stimulus: Stimulus
) -> tuple[Callable[[GateSimulator], None], dict[str, object]]:
    """The gate-level drive (weight load for a memory design, then the frames with their
    sequence starts or exit selectors) and the dict it records into: "weights" (words written)
    and "stream" (the ``StreamRun``)."""
    writes, driven = None, ()
    if design.weight_memory is not None:
        net = design_ir(design)
        if net is None:
            raise BitwaveError(f"{design.ir_path} is missing: the weights to load come from the IR")
        writes = weight_writes(design.weight_memory, net)
        driven = (writes.en, writes.addr, writes.data)
    idle = [name for name, _ in design.idle_inputs(also_driven=driven)]
    start_port = design.sequence_start.port if design.sequence_start else None
    exit_port = design.exits.port if stimulus.exits is not None else None
    cycles, latency = design.cycles_per_frame, design.latency_cycles
    steady = None
    if design.exits is not None:  # the cycle budget of the slowest exit, switching included
        cycles = design.switching_cycles_bound
        latency = max(point.latency_cycles for point in design.exits.per_exit)
        steady = exit_runs.steady_period(design.exits, stimulus.exits)
    run: dict[str, object] = {}

    def drive(sim: GateSimulator) -> None:
        if writes is not None:
            run["weights"] = load_weights(sim, writes, design.reset.port)
            sim.reset_activity()  # power describes inference, not the weight load
        run["stream"] = stream_frames(sim, stimulus.frames, design.input_stream,
                                      design.output_stream, design.reset.port, cycles, latency,
                                      idle, starts=stimulus.starts, start_port=start_port,
                                      exits=stimulus.exits, exit_port=exit_port,
                                      steady_period=steady)  # fmt: skip

    return drive, run


def write_reports(
    out: Path,
    design: Design,
    result: AsicResult,
    stream: StreamRun,
    mhz: float,
    seconds: float,
    inputs: object,
    check: dict | None = None,
    by_exit: exit_runs.ExitRuns | None = None,
) -> dict:
    """Write area.json, timing.json, power.json and report.md; returns the summary. A
    multi-exit design's ``by_exit`` runs add the ``exits`` sections (``flows.exits``)."""
    # Energy of one frame: the average power over the run times the frame's cycles.
    period_s = 1e-6 / mhz
    frame_time = design.cycles_per_frame * period_s
    energy_per_frame = result.power.total_w * frame_time
    heads = design.exits.heads if design.exits else ()
    block_layer = {layer.module: layer.name for layer in (*design.layers, *heads)}
    net = design_ir(design)
    macs = binary_macs_per_frame(design.layers, net)
    area = _area_json(result, block_layer)
    timing = _timing_json(result, mhz)
    power = _power_json(result, stream, frame_time, macs, inputs, check)
    idle = result.scenarios.get(IDLE_RUN)
    power["idle_dynamic_w"] = idle.dynamic_w if idle else None
    power["realtime_fps"] = design.targets.fps
    power["realtime_w"] = realtime_power(
        result.power.leakage_w,
        result.power.dynamic_w * frame_time,
        power["idle_dynamic_w"],
        frame_time,
        design.targets.fps,
    )
    power["realtime_model"] = REALTIME_MODEL
    per_exit: list[str] = []
    if by_exit is not None:
        area["exits"] = exit_runs.exit_area(design, result.by_block)
        power["exits"] = exit_runs.exit_entries(design, net, by_exit, mhz, power["idle_dynamic_w"])
        power["exit_switching"] = exit_runs.switching_json(by_exit, check)
        per_exit = exit_runs.exit_table(power["exits"], design.targets.fps)
        block_layer = {**block_layer, **exit_runs.block_roles(design)}
    write_json(out / "area.json", area)
    write_json(out / "timing.json", timing)
    write_json(out / "power.json", power)
    lines = [
        f"# Synthesis report: {design.top}",
        "",
        *_report_header(result, mhz, seconds),
        *_figures_table(
            result, area, stream, energy_per_frame, design.cycles_per_frame, macs, check
        ),
        *_realtime_rows(power),
        *per_exit,
        *_block_table(result, block_layer),
        *_macro_table(result),
        *_cell_table(result),
        *_opensta_section(result),
        "",
        "Model: zero-delay cycle simulation of the mapped netlist (no glitches), pin-capacitance loads "
        "without wire load, ideal clock (excluded from fanout repair: no clock-tree synthesis), "
        "buffer trees on nets above the max fanout (one buffer cell, no sizing); internal energy "
        "from the liberty at each net's load and slew.",
        "",
    ]
    write_text(out / "report.md", "\n".join(lines))
    summary = _summary(result, timing["fanout_repair"], energy_per_frame, check, seconds, out)
    if by_exit is not None:
        summary["exits_energy_per_frame_j"] = [e["energy_per_frame_j"] for e in power["exits"]]
    return summary


def _area_json(result: AsicResult, block_layer: dict[str, str]) -> dict:
    area = result.area_json()
    area["layers"] = {block_layer[b]: a for b, a in result.by_block.items() if b in block_layer}
    return area


def _timing_json(result: AsicResult, mhz: float) -> dict:
    timing = result.timing.to_json()
    timing["clock_mhz"] = mhz
    timing["slack_ns"] = 1e-6 / mhz * 1e9 - result.timing.min_period_s * 1e9
    timing["fanout_repair"] = result.fanout.to_json() if result.fanout else None
    return timing


def _power_json(
    result: AsicResult, stream: StreamRun, frame_time: float, macs: int, inputs: object,
    check: dict | None,
) -> dict:  # fmt: skip
    power = result.power.to_json()
    energy_per_frame = result.power.total_w * frame_time
    power.update({
        "energy_per_frame_j": energy_per_frame,
        "frames_per_second_at_clock": 1.0 / frame_time,
        "energy_per_binary_mac_j": energy_per_frame / macs if macs else None,
        "stimulus": {
            "source": inputs_label(inputs),
            "lanes": stream.lanes, "cycles": stream.cycles,
            "frames_in": stream.frames_in, "frames_out": stream.frames_out,
        },
        "opensta": result.opensta,
        "opensta_skipped": result.extra.get("opensta_skipped"),
        "golden_check": check,
    })  # fmt: skip
    if not macs:
        power["energy_per_binary_mac_note"] = (
            "manifest layers give neither macs_per_frame nor in_width/out_width"
        )
    return power


REALTIME_MODEL = (
    "leakage + dynamic energy per frame x frames per second + the idle run's dynamic power "
    "(clock running, no frame) for the rest of each second, all at the synthesis clock"
)

MEMORY_NOTES = {
    "auto": "RAMs kept as macros priced by the memory macro model, an estimate (see "
    "synth/README.md); ROMs mapped to logic",
    "macro": "kept as macros priced by the memory macro model, an estimate: see synth/README.md",
}


def _report_header(result: AsicResult, mhz: float, seconds: float) -> list[str]:
    note = MEMORY_NOTES.get(result.memories, "mapped to flip-flops and logic")
    return [
        f"Liberty: `{Path(result.liberty).name}`; clock {mhz:g} MHz; Yosys {result.yosys_seconds:.1f} s, whole flow {seconds:.1f} s.",
        f"Memories: `{result.memories}` ({note}).",
        *([f"Memory macros priced by: {result.macro_pricing}."] if result.macro_pricing else []),
        _clock_gating_line(result.clock_gating),
        "",
    ]


def _clock_gating_line(summary: dict) -> str:
    if not summary.get("gates"):
        return "Clock gating: none (the liberty has no rising-edge clock gate, or it was off)."
    return (
        f"Clock gating: {summary['gates']:,} integrated clock gates; {summary['gated_flops']:,} of "
        f"{summary['flops']:,} flip-flops take the clock only when their enable is high."
    )


def _figures_table(
    result: AsicResult, area: dict, stream: StreamRun, energy_per_frame: float,
    cycles_per_frame: int, macs: int, check: dict | None,
) -> list[str]:  # fmt: skip
    power, timing = result.power, result.timing
    macros = f" + {len(result.macros)} memory macros" if result.macros else ""
    return [
        "| figure | value |",
        "|---|---|",
        f"| area | {result.area_um2:,.1f} um^2 ({area['cells']} cells{macros}) |",
        f"| area: standard cells / macros | {result.standard_cell_area_um2:,.1f} / {result.macro_area_um2:,.1f} um^2 |",
        "| fanout repair | " + _fanout_row(result) + " |",
        f"| critical path | {timing.critical_path_s * 1e9:.3f} ns + setup {timing.setup_s * 1e9:.3f} ns |",
        f"| max clock | {timing.max_clock_mhz:,.1f} MHz |",
        f"| dynamic power | {power.dynamic_w * 1e3:.4f} mW |",
        f"| leakage power | {power.leakage_w * 1e3:.4f} mW |",
        f"| total power | {power.total_w * 1e3:.4f} mW |",
        f"| energy per frame | {energy_per_frame * 1e9:.4f} nJ ({cycles_per_frame} cycles) |",
        f"| energy per binary MAC | {energy_per_frame / macs * 1e15:.3f} fJ ({macs} MACs/frame) |"
        if macs
        else "| energy per binary MAC | n/a |",
        f"| mean net activity | {power.mean_activity:.4f} transitions/cycle over {stream.cycles} cycles x {stream.lanes} lanes |",
        f"| timing endpoint | {timing.endpoint} |",
        f"| golden-model check | {_check_cell(check)} |",
    ]


def _realtime_rows(power: dict) -> list[str]:
    idle = power.get("idle_dynamic_w")
    return [
        f"| idle dynamic power (clock running, no frame) | "
        f"{'n/a' if idle is None else f'{idle * 1e3:.4f} mW'} |",
        f"| power at the real-time rate ({power['realtime_fps']:g} frames/s) | "
        f"{power['realtime_w'] * 1e3:.4f} mW ({power['realtime_model']}) |",
    ]


def _check_cell(check: dict | None) -> str:
    if check and check.get("checked"):
        equal = check["frames"] - check["mismatched_frames"]
        restarts = check.get("sequence_starts")
        sequences = f" ({restarts} sequence starts driven)" if restarts is not None else ""
        exits = check.get("frames_per_exit")
        if exits is not None:
            counts = ", ".join(f"{n} at exit {k}" for k, n in enumerate(exits))
            sequences += f" (a random exit per frame: {counts})"
        return f"{equal} of {check['frames']} output frames equal{sequences}"
    return "not run" + (f" ({check['reason']})" if check else "")


def _block_table(result: AsicResult, block_layer: dict[str, str]) -> list[str]:
    lines = ["", "## By block", "", "| block | layer | area um^2 | power mW |", "|---|---|---|---|"]
    for block, block_area in result.by_block.items():
        watts = result.power.by_block.get(block, {}).get("total_w", 0.0)
        lines.append(
            f"| {block} | {block_layer.get(block, '')} | {block_area:,.1f} | {watts * 1e3:.4f} |"
        )
    return lines


def _macro_table(result: AsicResult) -> list[str]:
    if not result.macros:
        return []
    accesses = {m["name"]: m for m in result.power.macros}
    lines = [
        "", "## Memory macros", "",
        "| macro | block | kind | words x bits | area um^2 | access ns | reads | bits written | "
        "read energy pJ | power mW |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for macro in result.macros:
        used = accesses.get(macro["name"], {})
        lines.append(
            f"| {macro['name']} | {macro['block']} | {macro['kind']} | {macro['depth']} x {macro['width']} "
            f"| {macro['area_um2']:,.1f} | {macro['access_ns']:.3f} | {used.get('reads', 0)} "
            f"| {used.get('bits_written', 0)} | {macro['read_energy_j'] * 1e12:.4f} "
            f"| {used.get('total_w', 0.0) * 1e3:.4f} |"
        )
    return lines


def _cell_table(result: AsicResult) -> list[str]:
    lines = ["", "## By cell", "", "| cell | count | area um^2 |", "|---|---|---|"]
    for cell, entry in result.by_cell.items():
        lines.append(f"| {cell} | {entry['count']} | {entry['area_um2']:,.1f} |")
    return lines


def _opensta_section(result: AsicResult) -> list[str]:
    if not result.opensta:
        return []
    o = result.opensta
    return [
        "", "## OpenSTA cross-check", "",
        f"At activity {o['activity_per_cycle']:.4f} on every net: OpenSTA {o['opensta_total_w'] * 1e3:.4f} mW, "
        f"bitwave {o['bitwave_uniform_total_w'] * 1e3:.4f} mW (ratio {o['power_ratio_bitwave_over_opensta']:.3f}). "
        f"Critical path: OpenSTA {o['opensta_arrival_ns']:.3f} ns, bitwave {o['bitwave_arrival_ns']:.3f} ns.",
    ]  # fmt: skip


def _summary(
    result: AsicResult, repair: dict | None, energy_per_frame: float, check: dict | None,
    seconds: float, out: Path,
) -> dict:  # fmt: skip
    return {
        "memories": result.memories,
        "total_area_um2": result.area_um2,
        "standard_cell_area_um2": result.standard_cell_area_um2,
        "macro_area_um2": result.macro_area_um2,
        "macros": len(result.macros),
        "macro_pricing": result.macro_pricing,
        "max_fanout": repair["max_fanout"] if repair else 0,
        "fanout_buffers": repair["buffers"] if repair else 0,
        "fanout_buffer_area_um2": repair["buffer_area_um2"] if repair else 0.0,
        "max_clock_mhz": result.timing.max_clock_mhz,
        "total_w": result.power.total_w,
        "energy_per_frame_j": energy_per_frame,
        "golden_mismatched_frames": (check or {}).get("mismatched_frames"),
        "yosys_seconds": result.yosys_seconds,
        "seconds": seconds,
        "out": str(out),
    }


def _fanout_row(result: AsicResult) -> str:
    repair = result.fanout
    if repair is None or repair.max_fanout == 0:
        return "off (--max-fanout 0): every net timed with its whole load on its driver"
    if not repair.buffers:
        return (
            f"max fanout {repair.max_fanout}: no net above it "
            f"(largest {repair.largest_fanout_before}), no buffers"
        )
    return (
        f"max fanout {repair.max_fanout}: {repair.buffers:,} {repair.buffer_cell} on "
        f"{repair.nets_repaired:,} nets, {repair.buffer_area_um2:,.1f} um^2; largest fanout "
        f"{repair.largest_fanout_before:,} -> {repair.largest_fanout_after:,} (clock excluded)"
    )
