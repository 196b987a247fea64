"""``bitwave verify``: simulate a generated design and compare every output bit with the
golden model, and check the manifest's cycles-per-frame claim against the simulation.

A recurrent design (a manifest with ``sequence_start``) is driven with whole sequences: several
utterances back to back, the start flag with the first beat of each utterance's first frame,
and every frame compared with the golden model run over the same sequence boundaries."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bitwave.core import contract, golden, ir, weight_loading
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
    """Run the check and write DIR/verify/result.json; returns that result."""
    design = contract.load(design_dir)
    runner.check_simulator(options.sim)
    built_from, reference = _networks(design, options)
    _check_options(options)
    inputs, starts = _stimulus(design, reference, options)
    expected = golden.run(reference, inputs, starts).astype(np.int64)

    out, work = _fresh_output(design, options)
    sources = gate_level_sources(design) if options.gate_level else [design.verilog]
    built = runner.build(options.sim, sources, design.top, runner.build_root(out / "build"),
                         waves=options.waves, fast_build=options.fast_build)  # fmt: skip
    weight_writes, layout_error = _weight_writes(design, options, built_from, reference)
    files = save_stimulus(work, inputs, expected, starts)
    params = {**_testbench_params(design, options, len(inputs), weight_writes), **files}
    waves_file = work / f"waves{runner.waves_suffix(options.sim)}" if options.waves else None
    start = time.perf_counter()
    tb = runner.run_test(built, TB_MODULE, params, work, waves_file)
    run_seconds = time.perf_counter() - start

    result = {
        **_run_facts(design, options, reference, built_from),
        "sequences": None if starts is None else int(starts.sum()),
        **_findings(design, tb),
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


def save_stimulus(
    work: Path, inputs: np.ndarray, expected: np.ndarray, starts: np.ndarray | None = None
) -> dict[str, str]:
    """Write a testbench's input frames, the golden model's outputs and (recurrent designs)
    the sequence starts into ``work``; returns the file entries of its parameters (those, and
    where it writes its outputs and findings)."""
    np.save(work / "inputs.npy", inputs)
    np.save(work / "expected.npy", expected)
    names = {"inputs_npy": "inputs.npy", "expected_npy": "expected.npy",
             "outputs_npy": "outputs.npy", "results_json": "tb_results.json"}  # fmt: skip
    if starts is not None:
        np.save(work / "starts.npy", starts)
        names["starts_npy"] = "starts.npy"
    return {key: str(work / name) for key, name in names.items()}


def _testbench_params(
    design: Design, options: VerifyOptions, frames: int, weight_writes: dict | None
) -> dict:
    """The parameters of ``tb_network``: ports, streams, stalls and cycle budgets."""
    per_frame = design.cycles_per_frame_bound
    stall_factor = 1.0 / (options.p_valid * options.p_ready)
    return {
        "clock": design.clock.port,
        "reset": design.reset.port,
        "reset_active_high": design.reset.active_high,
        "idle_inputs": design.idle_inputs(),
        "sequence_start": design.sequence_start.port if design.sequence_start else None,
        "input_stream": asdict(design.input_stream),
        "output_stream": asdict(design.output_stream),
        "seed": options.seed,
        "p_valid": options.p_valid,
        "p_ready": options.p_ready,
        "steady_frames": max(6, 2 * len(design.layers) + 4),
        "max_cycles": int(1000 + 8 * stall_factor * (design.latency_cycles + frames * per_frame)),
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


def _findings(design: Design, tb: dict) -> dict:
    """The testbench's findings against the golden model and the manifest's timing claims;
    ``checks_passed`` is popped by the caller (the weight layout is checked there too)."""
    cpf_ok = tb["cycles_per_frame"] == design.cycles_per_frame and tb["cycles_per_frame_settled"]
    latency_ok = tb["latency_cycles"] == design.latency_cycles
    bits_ok = tb["mismatches"] == 0 and not tb["timed_out"] and tb["extra_output_beats"] == 0
    return {
        "vectors": tb["frames"],
        "frames_received": tb["frames_received"],
        "timed_out": tb["timed_out"],
        "mismatches": tb["mismatches"],
        "mismatched_frames": tb["mismatched_frames"],
        "first_mismatch": tb["first_mismatch"],
        "extra_output_beats": tb["extra_output_beats"],
        "cycles_per_frame": {
            "measured": tb["cycles_per_frame"],
            "manifest": design.cycles_per_frame,
            "settled": tb["cycles_per_frame_settled"],
            "output_intervals": tb["output_intervals"],
            "match": cpf_ok,
        },
        "latency_cycles": {
            "measured": tb["latency_cycles"],
            "manifest": design.latency_cycles,
            "match": latency_ok,
        },
        "checks_passed": bits_ok and cpf_ok and latency_ok,
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
