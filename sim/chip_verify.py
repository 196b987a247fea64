"""``bitwave verify`` on a full-chip design (a manifest with ``audio``): speech samples in,
every output sample compared with ``golden.run_audio`` per utterance, and the manifest's
claimed cycles per frame against the simulation.

The utterances are the ``--inputs`` files (a WAV file read and resampled to 16 kHz by
``bitwave.core.wav``, or a 1-D int16 .npy; one file = one utterance), else a few seeded
synthetic speech-like ones (``chip.synthetic_speech``). They stream back to back; the first
goes in without stalls (its frame intervals are the measured steady state), the rest with
seeded random valid/ready stalls. A multi-exit chip gets an exit per utterance (``--exits``).
A twin (``VerifyOptions.twin``, bitwave.sim.mutation) replaces the golden model's ROMs or
coding thresholds: the same chip must then fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bitwave.core import contract, inputs, ir
from bitwave.core.contract import Design
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import require_supported
from bitwave.core.paths import write_text
from bitwave.core.wav import read_pcm16
from bitwave.sim import runner
from bitwave.sim.chip import (
    P_READY,
    P_VALID,
    ChipRun,
    chip_interface,
    compare_utterances,
    exit_claims,
    expected_outputs,
    run_chip,
    synthetic_speech,
)
from bitwave.sim.verify import (
    RANDOM_EXITS,
    RESULT,
    VerifyOptions,
    _fresh_output,
    gate_level_sources,
    input_paths,
)

DEFAULT_UTTERANCES = 3  # synthetic utterances without --inputs
OUTPUTS = "chip_outputs.npz"  # the chip's samples (out_K) and the golden ones (golden_K)


def verify_chip(design_dir: str | Path, options: VerifyOptions) -> dict:
    """Run the chip check and write DIR/verify/result.json; returns that result."""
    design = contract.load(design_dir)
    chip = chip_interface(design)
    runner.check_simulator(options.sim)
    net = _reference(design, options)
    _check_chip_options(options)
    utterances, sources = load_chip_inputs(options, chip.min_utterance_samples)
    exits = chip_exits(design, options, len(utterances))
    twin = options.twin
    expected = expected_outputs(net, utterances, exits, table=getattr(twin, "table", None),
                                thresholds=getattr(twin, "thresholds", None))  # fmt: skip
    out, work = _fresh_output(design, options)
    netlist = gate_level_sources(design)[1] if options.gate_level else None
    start = time.perf_counter()
    run = run_chip(design.root, utterances, exits, options.sim, netlist, stalls=options.seed,
                   calm=1, work_dir=work, fast_build=options.fast_build)  # fmt: skip
    seconds = time.perf_counter() - start
    found = compare_utterances(expected, run.outputs)
    np.savez(work / OUTPUTS, **{f"out_{k}": o for k, o in enumerate(run.outputs)},
             **{f"golden_{k}": e for k, e in enumerate(expected)})  # fmt: skip
    result = {
        **_facts(design, options, net, sources, twin),
        "utterances": [
            {
                "source": s,
                "samples": int(u.size),
                "exit": None if exits is None else exits[k],
                "mismatching_samples": _count(expected, run.outputs, k),
            }
            for k, (u, s) in enumerate(zip(utterances, sources, strict=True))
        ],  # fmt: skip
        "samples": int(sum(u.size for u in utterances)),
        **found,
        **_run_findings(run, exit_claims(design), None if exits is None else exits[0]),
        **_costs(run, seconds, len(utterances)),
        "outputs": str(work / OUTPUTS),
        "log": str(run.log),
    }
    result["passed"] = _passed(result)
    write_text(out / RESULT, json.dumps(result, indent=1) + "\n")  # atomic, and last
    return result


def _count(expected: list[np.ndarray], got: list[np.ndarray], k: int) -> int:
    return compare_utterances(expected[k : k + 1], got[k : k + 1])["mismatching_samples"]


def _reference(design: Design, options: VerifyOptions) -> ir.Network:
    """The IR to compare with (--ir, else the built-from one), checked against the folder."""
    built_from = ir.load(design.ir_path) if design.ir_path.is_file() else None
    if built_from is None:
        raise BitwaveError(f"{design.ir_path} (the IR the design was built from) is missing")
    if built_from.sha256 != design.ir_sha256:
        raise BitwaveError(
            f"{design.ir_path} has hash {built_from.sha256[:12]}..., but the manifest says the "
            f"design was built from {design.ir_sha256[:12]}...: the folder is inconsistent"
        )
    net = ir.load(options.ir) if options.ir else built_from
    require_supported(net, "verify")
    if options.gate_level:
        require_supported(net, "gate-level")
    if net.n_exits != built_from.n_exits or net.is_recurrent != built_from.is_recurrent:
        raise BitwaveError(
            f"{options.ir} is not a network of the chip's kind (exits, recurrence); compare a "
            "chip with an IR of the same exits and recurrence"
        )
    return net


def _check_chip_options(options: VerifyOptions) -> None:
    """The network options that mean nothing for a chip, refused by name."""
    if options.seed < 0:
        raise BitwaveError(f"--seed must be a non-negative integer, got {options.seed}")
    for name, used in (("--vectors", options.vectors is not None),
                       ("--load-ir-weights", options.load_ir_weights),
                       ("--waves", options.waves)):  # fmt: skip
        if used:
            raise BitwaveError(
                f"{name} is not available for a full-chip design; a chip is driven with "
                "utterances (--inputs WAV or int16 .npy files, or the synthetic default)"
            )


def load_chip_inputs(options: VerifyOptions, minimum: int) -> tuple[list[np.ndarray], list[str]]:
    """(utterances, where each came from): the --inputs files (.wav: any usable WAV, mixed to
    mono and resampled to 16 kHz; .npy: 1-D int16 samples), else the synthetic default."""
    paths = input_paths(options.inputs)
    if not paths:
        speech = synthetic_speech(DEFAULT_UTTERANCES, options.seed)
        return speech, [f"synthetic speech {k}, seed {options.seed}" for k in range(len(speech))]
    out = []
    for path in paths:
        if path.suffix.lower() == ".wav":
            pcm = read_pcm16(path)
        else:
            pcm = inputs.load_npy(path, "--inputs")
            if pcm.ndim != 1 or pcm.dtype != np.int16:
                raise BitwaveError(
                    f"--inputs {path} is {pcm.dtype} of shape {pcm.shape}; a chip takes a WAV "
                    "file or a .npy of 1-D int16 samples (16 kHz), one utterance per file"
                )
        if pcm.size < minimum:
            raise BitwaveError(
                f"--inputs {path} has {pcm.size} samples at 16 kHz; the chip needs at least "
                f"{minimum} per utterance"
            )
        out.append(pcm)
    return out, [str(p) for p in paths]


def chip_exits(design: Design, options: VerifyOptions, count: int) -> list[int] | None:
    """A multi-exit chip's exit per utterance: every exit in a seeded order, repeated
    (--exits random), or the --exits values in turn (values past the last exit: the final).
    The chip's exits come from its ``audio`` section (a chip's manifest has no ``exits``
    entry: the selector is inside, on ``pcm_in``)."""
    chip = chip_interface(design)
    n = chip.exits
    if n == 1:
        if options.exits != RANDOM_EXITS:
            raise BitwaveError(f"--exits is for multi-exit designs; {design.root} has one exit")
        return None
    if options.exits == RANDOM_EXITS:
        order = np.random.default_rng([options.seed, 4]).permutation(n).tolist()
    else:
        span = 1 << chip.pcm_in.exit[1]
        if not options.exits or any(not 0 <= v < span for v in options.exits):
            raise BitwaveError(f"--exits values must lie in 0..{span - 1}, got {options.exits}")
        order = [min(int(v), n - 1) for v in options.exits]
    return [int(order[k % len(order)]) for k in range(count)]


def _facts(
    design: Design, options: VerifyOptions, net: ir.Network, sources: list[str], twin: object
) -> dict:
    return {
        "design": str(design.root),
        "top": design.top,
        "kind": "chip",
        "level": "gate" if options.gate_level else "rtl",
        "simulator": options.sim,
        "simulator_version": runner.simulator_version(options.sim),
        "ir": str(options.ir or design.ir_path),
        "ir_sha256": net.sha256,
        "built_from_ir_sha256": design.ir_sha256,
        "inputs": ", ".join(sources),
        "seed": options.seed,
        "stall_probabilities": {"valid": P_VALID, "ready": P_READY},
        "stalls": "none on utterance 0 (timing), seeded random on the others",
        "twin": getattr(twin, "description", None),
    }


def _run_findings(run: ChipRun, claims: list[int], timed_exit: int | None) -> dict:
    """The run's counts and its timing: the unstalled utterance 0's steady state against the
    claim of ITS exit (an utterance at an earlier exit may run faster than the slowest)."""
    measured = run.cycles_per_frame
    claim = claims[timed_exit or 0]
    return {
        "x_samples": run.x_samples,
        "extra_output_samples": run.extra_output_samples,
        "timed_out": run.timed_out,
        "cycles_per_frame": {
            "measured": measured,
            "manifest": claim,
            "exit": timed_exit,  # the timed utterance's (None: a chip without exits)
            "manifest_per_exit": claims,
            "settled": run.settled,
            "intervals": run.frame_intervals,
            # too short a first utterance shows no steady state: reported, not failed
            "measurable": run.settled,
            "match": measured == claim and run.settled,
        },
    }


def _costs(run: ChipRun, seconds: float, utterances: int) -> dict:
    return {
        "cycles_simulated": run.cycles,
        "build": {
            "seconds": round(run.build.seconds, 3),
            "cached": run.build.cached,
            "fast_build": run.build.fast_build,
            "dir": str(run.build.build_dir),
        },  # fmt: skip
        "wall_seconds": round(seconds, 3),
        "testbench_seconds": round(run.sim_seconds, 3),
        "simulated_cycles_per_second": round(run.cycles / max(run.sim_seconds, 1e-9)),
        "seconds_per_utterance": round(run.wall_seconds / utterances, 3),
    }


def _passed(result: dict) -> bool:
    cpf = result["cycles_per_frame"]
    return (
        result["mismatching_samples"] == 0
        and result["x_samples"] == 0
        and result["extra_output_samples"] == 0
        and not result["timed_out"]
        and (cpf["match"] or not cpf["measurable"])
    )


def chip_summary(result: dict) -> list[str]:
    """Human-readable lines for the CLI."""
    cpf = result["cycles_per_frame"]
    lines = [
        f"{result['level']} chip {result['top']} on {result['simulator_version']}: "
        f"{len(result['utterances'])} utterances, {result['samples']} samples ({result['inputs']})",
        f"{result['mismatching_samples']} mismatching output samples"
        + (f" in utterance(s) {result['mismatched_utterances']}" if result["mismatching_samples"] else ""),
        f"cycles per frame: measured {cpf['measured']}, manifest {cpf['manifest']}"
        + ("" if cpf.get("exit") is None else f" (utterance 0's exit {cpf['exit']})")
        + ("" if cpf["match"] else "  <-- MISMATCH" if cpf["measurable"]
           else f"  (no steady state in utterance 0: intervals {cpf['intervals']})"),
        f"{result['cycles_simulated']} cycles in {result['testbench_seconds']} s "
        f"({result['simulated_cycles_per_second']} cycles/s), "
        f"{result['seconds_per_utterance']} s per utterance; build "
        + ("cached" if result["build"]["cached"] else f"{result['build']['seconds']} s"),
    ]  # fmt: skip
    if result["twin"]:
        lines.append(f"golden model with the twin: {result['twin']}")
    for m in result["first_mismatches"]:
        lines.append(f"  mismatch: {m}")
    if result["timed_out"]:
        lines.append("timed out: the chip did not finish every utterance within the cycle budget")
    if result["x_samples"]:
        lines.append(f"{result['x_samples']} output samples carried X/Z bits")
    if result["extra_output_samples"]:
        lines.append(f"{result['extra_output_samples']} output samples after the last utterance")
    lines.append("PASS" if result["passed"] else f"FAIL (log {result['log']})")
    return lines
