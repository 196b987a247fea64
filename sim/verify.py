"""``bitwave verify``: simulate a generated design and compare every output bit with the
golden model, and check the manifest's cycles-per-frame claim against the simulation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.sim import runner, weight_loading
from bitwave.sim.design import GeneratedDesign, load_design

TB_MODULE = "bitwave.sim.tb_network"
DEFAULT_VECTORS = 64
MIN_VECTORS = 3  # two intervals between output frames are needed to see the steady state


@dataclass(frozen=True)
class VerifyOptions:
    sim: str = "verilator"
    vectors: int | None = None  # None: DEFAULT_VECTORS random frames, or every frame of --inputs
    seed: int = 0
    ir: Path | None = None
    inputs: Path | None = None
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


def _check_interface(design: GeneratedDesign, net: ir.Network, source: str) -> None:
    """The IR to compare with must have the design's input and output framing."""
    for role, fmt, width, value_type in (
        ("input", design.input, net.input_width, net.input_type),
        ("output", design.output, net.output_width, net.output_type),
    ):
        if (fmt.elements, fmt.element_bits) != (width, value_type.bits):
            raise BitwaveError(
                f"{source} has {width} {role} elements of type {value_type}, but the design's "
                f"{role} stream carries {fmt.elements} elements of {fmt.element_bits} bits"
            )


GATE_NETLISTS = ("mapped.v", "mapped_flat.v")  # bitwave synth's netlists, preferred first


def gate_level_sources(design: GeneratedDesign, work: Path) -> tuple[list[Path], str]:
    """The netlist ``bitwave synth`` wrote plus Verilog models of its cells generated from the
    liberty it was mapped onto (named in DIR/synth/area.json)."""
    from bitwave.synth.eda.cells import write_cell_models

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
            f"--gate-level: {area_path} (naming the liberty of the netlist) is missing; rerun bitwave synth"
        )
    area = json.loads(area_path.read_text())
    liberty = Path(area.get("liberty", ""))
    if not liberty.is_absolute():
        liberty = synth_dir / liberty
    if not liberty.is_file():
        raise BitwaveError(
            f"--gate-level: the liberty {liberty} that {netlist.name} was mapped onto is not found"
        )
    if area.get("top", design.top) != design.top:
        raise BitwaveError(
            f"--gate-level: {area_path} is for top {area.get('top')!r}, the manifest says {design.top!r}"
        )
    cells = write_cell_models(liberty, work / "cells.v")
    return [cells, netlist], design.top


def verify(design_dir: str | Path, options: VerifyOptions) -> dict:
    """Run the check and write DIR/verify/result.json; returns that result."""
    design = load_design(design_dir)
    runner.check_simulator(options.sim)
    built_from = ir.load(design.ir_path)
    if built_from.sha256 != design.manifest["ir_sha256"]:
        raise BitwaveError(
            f"{design.ir_path} has hash {built_from.sha256[:12]}..., but the manifest says the "
            f"design was built from {str(design.manifest['ir_sha256'])[:12]}...: the folder is inconsistent"
        )
    reference = ir.load(options.ir) if options.ir else built_from
    if options.load_ir_weights and design.weight_memory is None:
        raise BitwaveError("--load-ir-weights needs a design generated with --weights memory")
    _check_interface(design, reference, str(options.ir or design.ir_path))

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
    if options.inputs is not None:
        inputs = golden.load_input_frames(options.inputs, reference)
        if options.vectors is not None:
            inputs = inputs[: options.vectors]
        if len(inputs) < MIN_VECTORS:
            raise BitwaveError(
                f"--inputs {options.inputs} has {len(inputs)} frames; at least {MIN_VECTORS} are needed"
            )
    else:
        inputs = random_inputs(reference, options.vectors or DEFAULT_VECTORS, options.seed)
    if options.stimulus != "random":
        from bitwave.sim.vectors import block_frames

        if len(reference.layers) != 1 or options.inputs is not None:
            raise BitwaveError(
                f"stimulus {options.stimulus!r} is for one-layer blocks with random inputs"
            )
        inputs = block_frames(reference.layers[0], len(inputs), options.seed, options.stimulus)
    expected = golden.run(reference, inputs).astype(np.int64)

    out = design.root / "verify"
    kind = "gate" if options.gate_level else "rtl"
    work = (out / f"{options.sim}-{kind}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if options.gate_level:
        sources, top = gate_level_sources(design, work)
    else:
        sources, top = [design.rtl], design.top
    built = runner.build(
        options.sim,
        sources,
        top,
        runner.build_root(out / "build"),
        waves=options.waves,
        fast_build=options.fast_build,
    )

    weight_writes, layout_error = None, None
    if design.weight_memory is not None:
        # the design's weights are (re)loaded from the IR it was built from, so that --ir
        # still compares the hardware with a different network; --load-ir-weights loads the
        # --ir network's weights instead (its thresholds must then match the design's)
        loads = weight_loading.weight_writes(
            design.weight_memory, reference if options.load_ir_weights else built_from
        )
        init_file = design.weight_memory.get("init_file")
        if init_file and not options.load_ir_weights:
            layout_error = weight_loading.check_init_file(design.root / init_file, loads)
        weight_writes = {
            "en": loads.en,
            "addr": loads.addr,
            "data": loads.data,
            "writes": loads.writes,
        }

    np.save(work / "inputs.npy", inputs)
    np.save(work / "expected.npy", expected)
    per_frame = max(
        design.cycles_per_frame, design.input.beats_per_frame, design.output.beats_per_frame
    )
    stall_factor = 1.0 / (options.p_valid * options.p_ready)
    params = {
        "clock": design.clock,
        "reset": design.reset,
        "reset_active_high": design.reset_active_high,
        "idle_inputs": design.idle_inputs(),
        "input_stream": design.input.__dict__,
        "output_stream": design.output.__dict__,
        "inputs_npy": str(work / "inputs.npy"),
        "expected_npy": str(work / "expected.npy"),
        "outputs_npy": str(work / "outputs.npy"),
        "results_json": str(work / "tb_results.json"),
        "seed": options.seed,
        "p_valid": options.p_valid,
        "p_ready": options.p_ready,
        "steady_frames": max(6, 2 * len(design.manifest["layers"]) + 4),
        "max_cycles": int(
            1000 + 8 * stall_factor * (design.latency_cycles + len(inputs) * per_frame)
        ),
        "drain_cycles": 2 * per_frame + 16,
        "weight_writes": weight_writes,
        "ir_path": str(Path(options.ir or design.ir_path).resolve()),
    }
    waves_file = work / f"waves{runner.waves_suffix(options.sim)}" if options.waves else None
    start = time.perf_counter()
    tb = runner.run_test(built, TB_MODULE, params, work, waves_file)
    run_seconds = time.perf_counter() - start

    measured_cpf = tb["cycles_per_frame"]
    cpf_ok = measured_cpf == design.cycles_per_frame and tb["cycles_per_frame_settled"]
    latency_ok = tb["latency_cycles"] == design.latency_cycles
    bits_ok = tb["mismatches"] == 0 and not tb["timed_out"] and tb["extra_output_beats"] == 0
    result = {
        "design": str(design.root),
        "top": top,
        "level": "gate" if options.gate_level else "rtl",
        "simulator": options.sim,
        "simulator_version": runner.simulator_version(options.sim),
        "ir": str(options.ir or design.ir_path),
        "ir_sha256": reference.sha256,
        "built_from_ir_sha256": built_from.sha256,
        "inputs": str(options.inputs)
        if options.inputs
        else f"{options.stimulus}, seed {options.seed}",
        "seed": options.seed,
        "stall_probabilities": {"valid": options.p_valid, "ready": options.p_ready},
        "vectors": tb["frames"],
        "frames_received": tb["frames_received"],
        "timed_out": tb["timed_out"],
        "mismatches": tb["mismatches"],
        "mismatched_frames": tb["mismatched_frames"],
        "first_mismatch": tb["first_mismatch"],
        "extra_output_beats": tb["extra_output_beats"],
        "cycles_per_frame": {
            "measured": measured_cpf,
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
        "weights_loaded": len(weight_writes["writes"]) if weight_writes else 0,
        "weights_from": str(options.ir) if options.load_ir_weights else "built-from IR",
        "weight_layout_error": layout_error,
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
        "waves": str(waves_file) if waves_file else None,
        "log": str(work / "sim.log"),
        "passed": bits_ok and cpf_ok and latency_ok and layout_error is None,
    }
    write_text(out / "result.json", json.dumps(result, indent=1) + "\n")
    return result


def summary(result: dict) -> list[str]:
    """Human-readable lines for the CLI."""
    cpf = result["cycles_per_frame"]
    lines = [
        f"{result['level']} {result['top']} on {result['simulator_version']}: {result['vectors']} vectors, "
        f"{result['mismatches']} mismatching output elements",
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
