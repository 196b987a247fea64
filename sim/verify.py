"""``bitwave verify``: simulate a generated design and compare every output bit with the
golden model, and check the manifest's cycles-per-frame claim against the simulation.

A recurrent design (a manifest with ``sequence_start``) is driven with whole sequences: several
utterances back to back, the start flag with the first beat of each utterance's first frame,
and every frame compared with the golden model run over the same sequence boundaries.

A multi-exit design (a manifest with ``exits``) gets an exit selector with each frame's first
beat, the same way: one run holds a timing segment per exit (every frame at that exit, no
stalls: its cycles per frame and latency against the manifest's ``per_exit``) and then the
mixed segment, whose exit changes from frame to frame (seeded runs and switches, selector
values past the last exit included) under random stalls; every frame is compared with
``golden.run(net, x, exits=...)`` at its own exit, and the findings are counted per exit."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bitwave.core import contract, golden, ir, weight_loading
from bitwave.core.codec import compare_frames
from bitwave.core.contract import Design
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import require_supported
from bitwave.core.paths import inside, refuse_symlinked_folder, write_text
from bitwave.sim import runner
from bitwave.sim.vectors import block_frames

TB_MODULE = "bitwave.sim.tb_network"
RESULT = "result.json"
DEFAULT_VECTORS = 64
MIN_VECTORS = 3  # two intervals between output frames are needed to see the steady state
RANDOM_EXITS = "random"  # every selector value, in a seeded random mix of runs and switches
MAX_EXIT_RUN = 4  # the longest run of frames at one exit in a random mix


@dataclass(frozen=True)
class VerifyOptions:
    sim: str = "verilator"
    vectors: int | None = None  # None: DEFAULT_VECTORS random frames, or every frame of --inputs
    seed: int = 0
    ir: Path | None = None
    # one .npy of frames, or several: each file one utterance (a recurrent design restarts its
    # state at each file's first frame; for a feed-forward design they are just concatenated)
    inputs: Path | Sequence[Path] | None = None
    waves: bool = False
    gate_level: bool = False
    # memory designs: load --ir's weights instead of the built-from ones
    load_ir_weights: bool = False
    fast_build: bool = False  # Verilator: compile the model at -O0 (large designs)
    # "random" frames, or a component testbench's directed + random frames for a one-layer
    # block ("mvtu", "mvu": see bitwave.sim.vectors)
    stimulus: str = "random"
    p_valid: float = 0.7  # probability that the input offers a beat in a stall-phase cycle
    p_ready: float = 0.7  # probability that the output accepts a beat in a stall-phase cycle
    # multi-exit designs: the selector values mixed from frame to frame ("random": all of
    # them, past the last exit included; one value: every mixed frame at that exit)
    exits: str | tuple[int, ...] = RANDOM_EXITS
    # full-chip designs: a bitwave.sim.mutation.ChipTwin whose ROMs or coding thresholds the
    # golden model uses instead of the IR's (the chip must then fail)
    twin: object | None = None


def random_inputs(net: ir.Network, count: int, seed: int) -> np.ndarray:
    """The random frames ``verify`` drives for a seed (tests reproduce them with this)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, net.input_type.levels, size=(count, net.input_width), dtype=np.int64)


def random_starts(count: int, seed: int) -> np.ndarray:
    """The utterance boundaries ``verify`` drives on a recurrent design for a seed (a bool per
    frame, True where an utterance begins): back-to-back utterances whose lengths are the
    numbers 1 .. L in a random order, L the smallest with 1 + ... + L >= count (the last one
    cut short). Every length is different, a 1-frame utterance makes two restarts in a row,
    and with about sqrt(2 * count) restarts some fall among the first, unstalled frames."""
    rng = np.random.default_rng([seed, 1])  # a stream of its own: the frames stay random_inputs'
    longest = 1
    while longest * (longest + 1) // 2 < count:
        longest += 1
    starts = np.zeros(count, bool)
    at = 0
    for length in rng.permutation(np.arange(1, longest + 1)):
        if at >= count:
            break
        starts[at] = True
        at += int(length)
    return starts


def parse_exits(text: str) -> str | tuple[int, ...]:
    """--exits: "random", or selector values separated by commas ("0,2")."""
    if text.strip() == RANDOM_EXITS:
        return RANDOM_EXITS
    items = [item.strip() for item in text.split(",")]
    if not all(item.isdigit() for item in items):
        raise BitwaveError(
            f"--exits must be 'random' or non-negative selector values separated by commas "
            f"(e.g. 0,2), got {text!r}"
        )
    return tuple(int(item) for item in items)


def random_exits(count: int, values: Sequence[int], seed: int) -> np.ndarray:
    """The selector value of every frame of a mixed run for a seed: runs of 1 .. MAX_EXIT_RUN
    frames at one value, each run at another value than the one before, the values taken in
    shuffled rounds; the first round's runs are one frame each, so every value appears within
    the first len(values) frames (and the first switches fall among the unstalled frames)."""
    rng = np.random.default_rng([seed, 2])  # a stream of its own: the frames stay random_inputs'
    pool = np.array(sorted(set(values)), np.int64)
    out: list[int] = []
    first_round = True
    while len(out) < count:
        order = rng.permutation(pool).tolist()
        if out and len(order) > 1 and order[0] == out[-1]:
            order[0], order[-1] = order[-1], order[0]  # a run always switches the value
        for value in order:
            length = 1 if first_round else int(rng.integers(1, MAX_EXIT_RUN + 1))
            out += [value] * length
        first_round = False
    return np.array(out[:count], np.int64)


def input_paths(inputs: Path | Sequence[Path] | None) -> list[Path]:
    """The --inputs files as a list (one path or several)."""
    if inputs is None:
        return []
    return [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]


def load_utterances(paths: Sequence[Path], net: ir.Network) -> tuple[np.ndarray, np.ndarray]:
    """(frames, starts): the frames of every file back to back, each file one utterance that
    starts at its first frame. Each file holds codes or float features (``golden``'s rules)."""
    parts = []
    for path in paths:
        frames = golden.load_input_frames(path, net)
        if len(frames) == 0:
            raise BitwaveError(
                f"--inputs {path} holds no frames; each --inputs file is one utterance of at "
                f"least one frame of shape ({net.input_width},)"
            )
        parts.append(frames)
    starts = np.zeros(sum(len(part) for part in parts), bool)
    starts[np.cumsum([0] + [len(part) for part in parts[:-1]])] = True
    return np.concatenate(parts), starts


def _check_interface(design: Design, net: ir.Network, source: str) -> None:
    """The IR to compare with must have the design's input and output framing."""
    for role, fmt, width, value_type in (
        ("input", design.input_stream, net.input_width, net.input_type),
        ("output", design.output_stream, net.output_width, net.output_type),
    ):
        if (fmt.elements, fmt.element_bits) != (width, value_type.bits):
            raise BitwaveError(
                f"{source} has {width} {role} elements of type {value_type}, but the design's "
                f"{role} stream carries {fmt.elements} elements of {fmt.element_bits} bits"
            )


GATE_NETLISTS = ("mapped.v", "mapped_flat.v")  # bitwave synth's netlists, preferred first
CELL_MODELS = "cells.v"  # bitwave synth's Verilog models of the liberty's cells


def gate_level_sources(design: Design) -> list[Path]:
    """The cell models and the netlist ``bitwave synth`` wrote into DIR/synth/."""
    synth_dir = design.root / "synth"
    netlist = next(
        (synth_dir / name for name in GATE_NETLISTS if (synth_dir / name).is_file()), None
    )
    if netlist is None:
        raise BitwaveError(
            f"--gate-level needs the mapped netlist {synth_dir / GATE_NETLISTS[0]}: run bitwave synth {design.root} first"
        )
    area_path = synth_dir / "area.json"
    if not area_path.is_file():
        raise BitwaveError(
            f"--gate-level: {area_path} (naming the top of the netlist) is missing; rerun bitwave synth"
        )
    area = json.loads(area_path.read_text())
    if area.get("top", design.top) != design.top:
        raise BitwaveError(
            f"--gate-level: {area_path} is for top {area.get('top')!r}, the manifest says {design.top!r}"
        )
    cells = synth_dir / CELL_MODELS
    if not cells.is_file():
        raise BitwaveError(
            f"--gate-level needs the cell models {cells} that bitwave synth writes beside the "
            f"netlist: run bitwave synth {design.root} first"
        )
    return [cells, netlist]


def verify(design_dir: str | Path, options: VerifyOptions) -> dict:
    """Run the check and write DIR/verify/result.json; returns that result. A full-chip design
    (a manifest with ``audio``) is checked by ``bitwave.sim.chip_verify``."""
    design = contract.load(design_dir)
    if design.audio is not None:
        from bitwave.sim.chip_verify import verify_chip  # it builds on this module

        return verify_chip(design_dir, options)
    if options.twin is not None:
        raise BitwaveError("a chip twin is for full-chip designs (generate --audio)")
    runner.check_simulator(options.sim)
    built_from, reference = _networks(design, options)
    _check_options(options)
    _check_exit_option(design, options)
    inputs, starts = _stimulus(design, reference, options)
    plan = _exit_plan(design, inputs, options)
    expected = golden.run(reference, plan.frames, starts, exits=plan.exits).astype(np.int64)

    out, work = _fresh_output(design, options)
    sources = gate_level_sources(design) if options.gate_level else [design.verilog]
    built = runner.build(options.sim, sources, design.top, runner.build_root(out / "build"),
                         waves=options.waves, fast_build=options.fast_build)  # fmt: skip
    weight_writes, layout_error = _weight_writes(design, options, built_from, reference)
    files = save_stimulus(work, plan.frames, expected)
    params = {**_testbench_params(design, options, plan, weight_writes), **files,
              "side_inputs": save_side_inputs(work, design, options.seed, starts, plan.selectors)}  # fmt: skip
    waves_file = work / f"waves{runner.waves_suffix(options.sim)}" if options.waves else None
    start = time.perf_counter()
    tb = runner.run_test(built, TB_MODULE, params, work, waves_file)
    run_seconds = time.perf_counter() - start

    exits = _exit_findings(design, tb, plan, expected, np.load(files["outputs_npy"]))
    result = {
        **_run_facts(design, options, reference, built_from),
        "sequences": None if starts is None else int(starts.sum()),
        **_findings(design, tb, exits),
        "weights_loaded": len(weight_writes["writes"]) if weight_writes else 0,
        "weights_from": str(options.ir) if options.load_ir_weights else "built-from IR",
        "weight_layout_error": layout_error,
        **_run_costs(built, tb, run_seconds),
        "waves": str(waves_file) if waves_file else None,
        "log": str(work / "sim.log"),
    }
    result["passed"] = result.pop("checks_passed") and layout_error is None
    write_text(out / RESULT, json.dumps(result, indent=1) + "\n")  # atomic, and last
    return result


def _fresh_output(design: Design, options: VerifyOptions) -> tuple[Path, Path]:
    """(DIR/verify, its work folder for this simulator and level), checked and cleared.

    DIR/verify must lie inside the design and hold no link (a linked DIR/verify would carry
    the build and the result out of the folder). It is not swapped in whole like DIR/synth:
    its build folder is a cache kept across runs and the result names the log by its final
    path. Instead the old result.json is removed before any work and the new one written
    atomically last, so a failed or interrupted run leaves no result (never an old PASS), and
    the work folder starts empty (no outputs or waves of an earlier run beside the new log)."""
    refuse_symlinked_folder(design.root / "verify", "the verify folder")
    out = inside(design.root, "verify")
    work = inside(out, f"{options.sim}-{'gate' if options.gate_level else 'rtl'}")
    (out / RESULT).unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return out, work


def _networks(design: Design, options: VerifyOptions) -> tuple[ir.Network, ir.Network]:
    """(the IR the design was built from, the IR to compare with), both checked."""
    built_from = ir.load(design.ir_path) if design.ir_path.is_file() else None
    if built_from is None:
        raise BitwaveError(f"{design.ir_path} (the IR the design was built from) is missing")
    reference = ir.load(options.ir) if options.ir else built_from
    for net in (built_from, reference):
        require_supported(net, "verify")
        if options.gate_level:
            require_supported(net, "gate-level")
    if built_from.sha256 != design.ir_sha256:
        raise BitwaveError(
            f"{design.ir_path} has hash {built_from.sha256[:12]}..., but the manifest says the "
            f"design was built from {design.ir_sha256[:12]}...: the folder is inconsistent"
        )
    if options.load_ir_weights and design.weight_memory is None:
        raise BitwaveError("--load-ir-weights needs a design generated with --weights memory")
    design.require_recurrence(built_from.is_recurrent)
    design.require_exits(built_from.n_exits)
    if reference.n_exits != design.n_exits:
        raise BitwaveError(
            f"{options.ir} has {reference.n_exits} exit(s) but the design {design.n_exits}; "
            "compare a design with an IR of the same exits"
        )
    if reference.is_recurrent and design.sequence_start is None:
        raise BitwaveError(
            f"{options.ir} is recurrent (binary_gru), but the design has no sequence-start "
            "port; compare a feed-forward design with a feed-forward IR"
        )
    _check_interface(design, reference, str(options.ir or design.ir_path))
    return built_from, reference


def _check_options(options: VerifyOptions) -> None:
    if options.seed < 0:
        raise BitwaveError(f"--seed must be a non-negative integer, got {options.seed}")
    if not (0 < options.p_valid <= 1 and 0 < options.p_ready <= 1):
        raise BitwaveError(
            f"stall probabilities must lie in (0, 1], got {options.p_valid}, {options.p_ready}"
        )
    if options.vectors is not None and options.vectors < MIN_VECTORS:
        raise BitwaveError(
            f"--vectors must be at least {MIN_VECTORS} (to measure cycles per frame), got {options.vectors}"
        )


def _check_exit_option(design: Design, options: VerifyOptions) -> None:
    if options.exits != RANDOM_EXITS and design.exits is None:
        raise BitwaveError(
            f"--exits is for multi-exit designs; {design.root} has no exit selector (its IR "
            "has no early exits)"
        )


def _stimulus(
    design: Design, reference: ir.Network, options: VerifyOptions
) -> tuple[np.ndarray, np.ndarray | None]:
    """(frames to drive, sequence starts per frame or None for a feed-forward design): --inputs
    (encoded with the IR's coding; each file an utterance), random frames (in random
    utterances for a recurrent design), or a block's directed + random stimulus."""
    recurrent = design.sequence_start is not None
    paths = input_paths(options.inputs)
    if options.stimulus != "random" and (len(reference.layers) != 1 or paths or recurrent):
        raise BitwaveError(
            f"stimulus {options.stimulus!r} is for one-layer feed-forward blocks with random inputs"
        )
    if paths:
        inputs, starts = load_utterances(paths, reference)
        if options.vectors is not None:
            inputs, starts = inputs[: options.vectors], starts[: options.vectors]
        if len(inputs) < MIN_VECTORS:
            raise BitwaveError(
                f"--inputs {', '.join(map(str, paths))} hold {len(inputs)} frames; at least "
                f"{MIN_VECTORS} are needed"
            )
        return inputs, starts if recurrent else None
    count = options.vectors or DEFAULT_VECTORS
    inputs = random_inputs(reference, count, options.seed)
    if recurrent:
        return inputs, random_starts(count, options.seed)
    if options.stimulus == "random":
        return inputs, None
    return block_frames(reference.layers[0], len(inputs), options.seed, options.stimulus), None


@dataclass(frozen=True)
class ExitPlan:
    """Every frame a run drives, with its selector value (multi-exit designs) and its segments
    (``tb_network.Segment`` fields): a single-exit design's frames are the stimulus, one
    segment; a multi-exit design's start with one timing segment per exit (exit k's first
    frames of the stimulus, every frame at exit k, no stalls) before the mixed segment."""

    frames: np.ndarray
    selectors: np.ndarray | None  # the selector value of every frame (None: no exits)
    exits: np.ndarray | None  # the exit of every frame (selector values past the last: final)
    segments: list[dict]
    mixed_first: int  # the first frame of the mixed segment


def _calm_frames(layers: int) -> int:
    """Unstalled frames that show a path of ``layers`` layers in its steady state."""
    return max(6, 2 * layers + 4)


def _per_exit(design: Design) -> tuple[contract.ExitPoint, ...]:
    return design.exits.per_exit if design.exits else ()


def _exit_plan(design: Design, inputs: np.ndarray, options: VerifyOptions) -> ExitPlan:
    """The frames, selectors and segments of the run (see ``ExitPlan``)."""
    calm = min(len(inputs), _calm_frames(len(design.layers)))
    mixed = {"frames": len(inputs), "calm": calm}
    if design.exits is None:
        return ExitPlan(inputs, None, None, [{"first": 0, **mixed}], 0)
    parts, selectors, segments = [], [], []
    for point in design.exits.per_exit:
        count = _calm_frames(len(point.layers))
        segments.append({"first": sum(map(len, parts)), "frames": count, "calm": count})
        parts.append(np.resize(inputs[:count], (count, inputs.shape[1])))  # repeats if short
        selectors.append(np.full(count, point.index, np.int64))
    segments.append({"first": sum(map(len, parts)), **mixed})
    parts.append(inputs)
    selectors.append(random_exits(len(inputs), _selector_values(design, options), options.seed))
    selected = np.concatenate(selectors)
    exits = np.array([design.exits.exit_of(value) for value in selected], np.int64)
    return ExitPlan(np.concatenate(parts), selected, exits, segments, segments[-1]["first"])


def _selector_values(design: Design, options: VerifyOptions) -> list[int]:
    """The selector values of the mixed segment: --exits, checked against the port's width."""
    span = 1 << design.exits.width
    if options.exits == RANDOM_EXITS:
        return list(range(span))
    if not options.exits or any(not 0 <= value < span for value in options.exits):
        raise BitwaveError(
            f"--exits values must lie in 0..{span - 1} (the {design.exits.width}-bit selector "
            f"{design.exits.port}; {design.n_exits - 1} and above select the final exit), "
            f"got {','.join(map(str, options.exits))}"
        )
    return list(options.exits)


def _weight_writes(
    design: Design, options: VerifyOptions, built_from: ir.Network, reference: ir.Network
) -> tuple[dict | None, str | None]:
    """(the writes the testbench makes through the weight port, a layout error) of a memory
    design. The design's weights are (re)loaded from the IR it was built from, so that --ir
    still compares the hardware with a different network; --load-ir-weights loads the --ir
    network's weights instead (its thresholds must then match the design's)."""
    if design.weight_memory is None:
        return None, None
    source = reference if options.load_ir_weights else built_from
    loads = weight_loading.weight_writes(design.weight_memory, source)
    layout_error = None
    init_file = design.weight_memory.get("init_file")
    if init_file and not options.load_ir_weights:
        layout_error = weight_loading.check_init_file(design.root / init_file, loads)
    writes = {"en": loads.en, "addr": loads.addr, "data": loads.data, "writes": loads.writes}
    return writes, layout_error


def save_stimulus(work: Path, inputs: np.ndarray, expected: np.ndarray) -> dict[str, str]:
    """Write a testbench's input frames and the golden model's outputs into ``work``; returns
    the file entries of its parameters (those, and where it writes its outputs and findings)."""
    np.save(work / "inputs.npy", inputs)
    np.save(work / "expected.npy", expected)
    names = {"inputs_npy": "inputs.npy", "expected_npy": "expected.npy",
             "outputs_npy": "outputs.npy", "results_json": "tb_results.json"}  # fmt: skip
    return {key: str(work / name) for key, name in names.items()}


def save_side_inputs(
    work: Path, design: Design, seed: int, starts: np.ndarray | None, selectors: np.ndarray | None
) -> list[dict]:
    """Write the per-frame side inputs (a recurrent design's start flags, ``starts.npy``; a
    multi-exit design's exit selectors, ``exits.npy``) into ``work``; returns the testbench's
    ``side_inputs`` parameter. Each gets random bits of its own seed on the beats it ignores."""
    sides = []
    if starts is not None:
        np.save(work / "starts.npy", starts)
        sides.append({"port": design.sequence_start.port, "width": 1,
                      "values_npy": str(work / "starts.npy"), "seed": seed + 1})  # fmt: skip
    if selectors is not None:
        np.save(work / "exits.npy", selectors)
        sides.append({"port": design.exits.port, "width": design.exits.width,
                      "values_npy": str(work / "exits.npy"), "seed": seed + 2})  # fmt: skip
    return sides


def _testbench_params(
    design: Design, options: VerifyOptions, plan: ExitPlan, weight_writes: dict | None
) -> dict:
    """The parameters of ``tb_network``: ports, streams, stalls, segments and cycle budgets.
    A frame takes at most ``switching_cycles_bound`` (the claimed cycles per frame without
    exits), and each segment's first frame waits for an empty pipeline, one latency."""
    per_frame = design.switching_cycles_bound
    slowest = max([design.latency_cycles, *(e.latency_cycles for e in _per_exit(design))])
    waits = len(plan.segments) * slowest
    stall_factor = 1.0 / (options.p_valid * options.p_ready)
    return {
        "clock": design.clock.port,
        "reset": design.reset.port,
        "reset_active_high": design.reset.active_high,
        "idle_inputs": design.idle_inputs(),
        "input_stream": asdict(design.input_stream),
        "output_stream": asdict(design.output_stream),
        "seed": options.seed,
        "p_valid": options.p_valid,
        "p_ready": options.p_ready,
        "segments": plan.segments,
        "max_cycles": int(1000 + 8 * stall_factor * (waits + len(plan.frames) * per_frame)),
        "drain_cycles": 2 * per_frame + 16,
        "weight_writes": weight_writes,
        "ir_path": str(Path(options.ir or design.ir_path).resolve()),
    }


def _run_facts(
    design: Design, options: VerifyOptions, reference: ir.Network, built_from: ir.Network
) -> dict:
    """What was run: the design, level, simulator, IRs and stimulus."""
    return {
        "design": str(design.root),
        "top": design.top,
        "level": "gate" if options.gate_level else "rtl",
        "simulator": options.sim,
        "simulator_version": runner.simulator_version(options.sim),
        "ir": str(options.ir or design.ir_path),
        "ir_sha256": reference.sha256,
        "built_from_ir_sha256": built_from.sha256,
        "inputs": ", ".join(map(str, input_paths(options.inputs)))
        or f"{options.stimulus}, seed {options.seed}",
        "seed": options.seed,
        "stall_probabilities": {"valid": options.p_valid, "ready": options.p_ready},
    }


def _timing_claims(measured: dict, cycles_per_frame: int, latency_cycles: int) -> dict:
    """A segment's measured cycles per frame and latency against the claimed ones."""
    return {
        "cycles_per_frame": {
            "measured": measured["cycles_per_frame"],
            "manifest": cycles_per_frame,
            "settled": measured["cycles_per_frame_settled"],
            "output_intervals": measured["output_intervals"],
            "match": measured["cycles_per_frame"] == cycles_per_frame
            and measured["cycles_per_frame_settled"],
        },
        "latency_cycles": {
            "measured": measured["latency_cycles"],
            "manifest": latency_cycles,
            "match": measured["latency_cycles"] == latency_cycles,
        },
    }


def _exit_findings(
    design: Design, tb: dict, plan: ExitPlan, expected: np.ndarray, got: np.ndarray
) -> dict | None:
    """A multi-exit run's findings per exit (frames, mismatches, timing against ``per_exit``),
    the largest output interval of the mixed segment's unstalled frames against
    ``switching_cycles_bound``, and the exits whose frames mismatched (None without exits)."""
    if design.exits is None:
        return None
    received = np.zeros(len(plan.frames), bool)
    received[: len(got)] = True
    per_exit = []
    for point, measured in zip(design.exits.per_exit, tb["segments"], strict=False):
        rows = plan.exits == point.index
        found = compare_frames(expected[rows], got[rows[received]])
        if found["first_mismatch"]:  # the frame's number in the run, not among the exit's
            first = found["first_mismatch"]
            first["frame"] = int(np.flatnonzero(rows)[first["frame"]])
        per_exit.append({
            "index": point.index,
            "name": point.name,
            "frames": int(rows.sum()),
            "mixed_frames": int(rows[plan.mixed_first :].sum()),
            **found,
            **_timing_claims(measured, point.cycles_per_frame, point.latency_cycles),
        })  # fmt: skip
    mixed = plan.exits[plan.mixed_first :]
    widest = max(tb["segments"][-1]["output_intervals"], default=None)
    bound = design.switching_cycles_bound
    return {
        "port": design.exits.port,
        "count": design.n_exits,
        "selector_values": sorted(set(plan.selectors[plan.mixed_first :].tolist())),
        "timing_frames": plan.mixed_first,
        "mixed_frames": len(mixed),
        "switches": int((mixed[1:] != mixed[:-1]).sum()),
        "per_exit": per_exit,
        "switching": {
            "max_output_interval": widest,
            "bound": bound,
            "match": widest is not None and widest <= bound,
        },
        "mismatched_exits": [e["index"] for e in per_exit if e["mismatched_frames"]],
    }


def _findings(design: Design, tb: dict, exits: dict | None = None) -> dict:
    """The testbench's findings against the golden model and the manifest's timing claims
    (a multi-exit design's top-level claims are its final exit's, measured on that exit's
    timing segment); ``checks_passed`` is popped by the caller (the weight layout is checked
    there too)."""
    measured = tb["segments"][design.n_exits - 1]
    timing = _timing_claims(measured, design.cycles_per_frame, design.latency_cycles)
    bits_ok = tb["mismatches"] == 0 and not tb["timed_out"] and tb["extra_output_beats"] == 0
    timing_ok = timing["cycles_per_frame"]["match"] and timing["latency_cycles"]["match"]
    exits_ok = exits is None or (exits["switching"]["match"] and all(
        e["cycles_per_frame"]["match"] and e["latency_cycles"]["match"] for e in exits["per_exit"]
    ))  # fmt: skip
    return {
        "vectors": tb["frames"],
        "frames_received": tb["frames_received"],
        "timed_out": tb["timed_out"],
        "mismatches": tb["mismatches"],
        "mismatched_frames": tb["mismatched_frames"],
        "first_mismatch": tb["first_mismatch"],
        "extra_output_beats": tb["extra_output_beats"],
        **timing,
        **({} if exits is None else {"exits": exits}),
        "checks_passed": bits_ok and timing_ok and exits_ok,
    }


def _run_costs(built: runner.Build, tb: dict, run_seconds: float) -> dict:
    return {
        "cycles_simulated": tb["cycles"],
        "build": {
            "seconds": round(built.seconds, 3),
            "cached": built.cached,
            "fast_build": built.fast_build,
            "dir": str(built.build_dir),
        },
        "wall_seconds": round(run_seconds, 3),
        "testbench_seconds": round(tb["sim_seconds"], 3),
        "vectors_per_second": round(tb["frames"] / run_seconds, 1),
    }


def summary(result: dict) -> list[str]:
    """Human-readable lines for the CLI."""
    if result.get("kind") == "chip":
        from bitwave.sim.chip_verify import chip_summary

        return chip_summary(result)
    cpf = result["cycles_per_frame"]
    lines = [
        f"{result['level']} {result['top']} on {result['simulator_version']}: {result['vectors']} vectors"
        + ("" if result["sequences"] is None else f" in {result['sequences']} sequences")
        + f", {result['mismatches']} mismatching output elements",
        f"cycles per frame: measured {cpf['measured']}, manifest {cpf['manifest']}"
        + (
            ""
            if cpf["match"]
            else "  <-- MISMATCH"
            + ("" if cpf["settled"] else f" (not settled: {cpf['output_intervals']})")
        ),
        f"latency: measured {result['latency_cycles']['measured']} cycles, manifest {result['latency_cycles']['manifest']}"
        + ("" if result["latency_cycles"]["match"] else "  <-- MISMATCH"),
        f"build {'cached' if result['build']['cached'] else str(result['build']['seconds']) + ' s'}, "
        f"run {result['wall_seconds']} s ({result['vectors_per_second']} vectors/s)",
    ]
    if result.get("exits"):
        lines += _exit_summary(result["exits"])
    if result["first_mismatch"]:
        m = result["first_mismatch"]
        lines.append(
            f"first mismatch: frame {m['frame']}, output index {m['index']}, expected {m['expected']}, got {m['got']}"
        )
    if result["timed_out"]:
        lines.append(
            f"timed out: {result['frames_received']} of {result['vectors']} frames came out"
        )
    if result["extra_output_beats"]:
        lines.append(f"{result['extra_output_beats']} output beats appeared after the last frame")
    if result["weights_loaded"]:
        lines.append(f"{result['weights_loaded']} weight words loaded through the write port")
    if result["weight_layout_error"]:
        lines.append(f"weight layout: {result['weight_layout_error']}")
    if result["waves"]:
        lines.append(f"waves: {result['waves']}")
    lines.append("PASS" if result["passed"] else f"FAIL (log {result['log']})")
    return lines


def _exit_summary(exits: dict) -> list[str]:
    """The per-exit lines of a multi-exit design's summary."""
    switching = exits["switching"]
    lines = [
        f"exits on {exits['port']}: {exits['mixed_frames']} mixed frames at selector values "
        f"{', '.join(map(str, exits['selector_values']))} with {exits['switches']} exit "
        f"switches, after {exits['timing_frames']} frames of one timing run per exit"
    ]
    for e in exits["per_exit"]:
        cpf, latency = e["cycles_per_frame"], e["latency_cycles"]
        wrong = not (cpf["match"] and latency["match"])
        lines.append(
            f"  exit {e['index']} ({e['name']}): {e['frames']} frames, {e['mismatches']} "
            f"mismatching output elements; cycles per frame measured {cpf['measured']}, "
            f"manifest {cpf['manifest']}; latency measured {latency['measured']}, manifest "
            f"{latency['manifest']}" + ("  <-- MISMATCH" if wrong else "")
        )
    lines.append(
        f"switching exits: largest output interval {switching['max_output_interval']} cycles, "
        f"bound {switching['bound']}" + ("" if switching["match"] else "  <-- MISMATCH")
    )
    if exits["mismatched_exits"]:
        names = {e["index"]: e["name"] for e in exits["per_exit"]}
        where = ", ".join(f"{k} ({names[k]})" for k in exits["mismatched_exits"])
        lines.append(f"frames mismatched at exit(s) {where}")
    return lines
