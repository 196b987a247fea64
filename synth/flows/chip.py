"""``bitwave synth`` on a full chip (a design folder whose manifest has ``audio``: PCM in,
enhanced PCM out; ``bitwave generate --audio``, notes/chip_contract_s8.md).

The mapped, fanout-repaired netlist is simulated (``GateSimulator``, one lane per utterance)
on whole utterances: a memory-weights design first gets its weights through the write port;
then each lane streams its utterance's samples on ``pcm_in`` (``last`` with the final sample,
a multi-exit chip's exit with the first), ``pcm_out`` always ready. Every output sample is
checked against ``golden.run_audio(net, utterance, exit=k)``: a mismatch, a missing or an extra
sample fails synthesis, as for every design.

Stimulus: ``--inputs`` WAV files (``bitwave.core.wav.read_pcm16``: any rate, mixed to mono,
16 kHz) or int16 .npy files, one utterance each; default ``synthetic_utterances`` (harmonics
under a gliding pitch, formant-like weights, a syllable envelope and noise; seeded). Every
utterance needs the manifest's ``min_utterance_samples``.

Reports split area and power into the manifest's parts (``front``, ``network``, ``back``,
``buffer``: Verilog module-name prefixes, memory macros included where they sit) and
``glue`` (the top's own cells and anything outside the parts), so the designer sees what the
network costs against the signal processing around it. Per part, with f the clock and
T = cycles_per_frame / f (a frame = one hop of 256 samples):

    dynamic energy per frame = (P_dyn(run) - P_dyn(idle)) x run time x lanes / frames
                               + P_dyn(idle) x T
    energy per frame         = leakage x T + dynamic energy per frame
    real-time power          = leakage + dynamic energy per frame x fps
                               + P_dyn(idle) x (1 - T x fps)

(``synth.eda.power.realtime_power`` at the manifest's frames per second: the idle run, a reset
chip with its clock running, fills the rest of each second). Subtracting the idle
run's power from the whole run's counts what the frames themselves switch, not the clock of
the cycles a lane waited (fill, drain, a short utterance done early); every figure is linear,
so the parts sum to the total."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bitwave.core import audio, golden, inputs, ir
from bitwave.core.contract import AudioSection, Design, PcmStream
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import write_text
from bitwave.core.synthetic import speech_like
from bitwave.core.wav import read_pcm16
from bitwave.core.weight_loading import weight_writes
from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes, unpack_lanes
from bitwave.synth.eda.power import PowerReport, realtime_power
from bitwave.synth.eda.sram_table import SramTable
from bitwave.synth.flows.flow import AsicResult, require_ok, run_asic, write_json
from bitwave.synth.flows.stimulus import RESET_CYCLES, load_weights

PARTS = ("front", "network", "back", "buffer")
GLUE = "glue"
IDLE_RUN = "idle"
IDLE_CYCLES = 32
DEFAULT_UTTERANCES = 2
# the default utterances: the shortest allowed, and one 100 samples longer (another padding)
DEFAULT_EXTRA_SAMPLES = 100
# cycles a lane may take beyond (frames + this) x the manifest's cycles per frame
BUDGET_SLACK_FRAMES = 3


# ------------------------------------------------------------------------------ the contract
def chip_facts(design: Design) -> AudioSection:
    """The manifest's ``audio`` section as ``bitwave.core.contract`` types it (the PCM streams'
    ports and payload fields, min_utterance_samples, cycles_per_frame, frames_per_second,
    parts); a BitwaveError for a design without one."""
    return design.chip()


# ------------------------------------------------------------------------------ utterances
def synthetic_utterances(
    count: int = DEFAULT_UTTERANCES, lengths: Sequence[int] | None = None, seed: int = 0
) -> list[np.ndarray]:
    """The default stimulus: ``bitwave.core.synthetic.speech_like`` utterances of ``lengths``
    samples (default 768 + 100 k, the shortest the chip takes and a little more)."""
    lengths = list(lengths or [768 + DEFAULT_EXTRA_SAMPLES * k for k in range(count)])
    return speech_like(lengths, seed)


def load_utterances(files: Sequence[str | Path]) -> list[np.ndarray]:
    """--inputs of a chip: WAV files (any rate, mixed to mono, resampled to 16 kHz) or .npy
    files of int16 samples (integers in -32768..32767, one dimension), one utterance each."""
    out = []
    for path in map(Path, files):
        if path.suffix.lower() == ".wav":
            out.append(read_pcm16(path))
            continue
        samples = inputs.load_npy(path, "--inputs")
        if samples.dtype.kind not in "iu" or samples.ndim != 1:
            raise BitwaveError(
                f"--inputs {path}: {samples.ndim}-d {samples.dtype} array; allowed for a full "
                "chip: a WAV file or a 1-d .npy of int16 samples"
            )
        if samples.size and (samples.min() < -32768 or samples.max() > 32767):
            raise BitwaveError(f"--inputs {path}: samples outside -32768..32767 (int16)")
        out.append(samples.astype(np.int16))
    return out


def check_lengths(utterances: Sequence[np.ndarray], minimum: int, names: Sequence[str]) -> None:
    """Every utterance has at least ``minimum`` samples (the chip's contract)."""
    for pcm, name in zip(utterances, names, strict=True):
        if pcm.size < minimum:
            raise BitwaveError(
                f"utterance {name} has {pcm.size} samples; allowed: at least {minimum} "
                f"(min_utterance_samples of the chip: {minimum // audio.HOP} hops of {audio.HOP})"
            )


# ------------------------------------------------------------------------------ the drive
@dataclass
class PcmRun:
    """One gate-level run of utterances: per lane the output samples (int16) and their last
    flags, the cycles, and per lane the cycle its last output left."""

    outputs: list[np.ndarray]
    lasts: list[np.ndarray]
    cycles: int
    done_cycle: list[int | None]
    samples_in: int


def stream_pcm(
    sim: GateSimulator,
    utterances: Sequence[np.ndarray],
    facts: AudioSection,
    reset_port: str,
    exits: Sequence[int] | None = None,
) -> PcmRun:
    """Stream each lane's utterance into ``pcm_in`` (valid while samples are left, a sample
    taken when ready is high; ``last`` on the final one, the exit selector with the first),
    ``pcm_out`` always ready, until every lane has given as many samples as it took or the
    budget (frames + BUDGET_SLACK_FRAMES) x cycles_per_frame runs out."""
    lanes = len(utterances)
    source, sink = facts.pcm_in, facts.pcm_out
    payloads = [_payloads(u, source, None if exits is None else exits[i])
                for i, u in enumerate(utterances)]  # fmt: skip
    lengths = np.array([u.size for u in utterances])
    width = len(sim.netlist.ports[source.data].nets)
    frames = max(audio.frame_count(int(n)) for n in lengths)
    budget = int(lengths.max()) + (frames + BUDGET_SLACK_FRAMES) * facts.cycles_per_frame
    _reset_inputs(sim, reset_port, facts)
    position = np.zeros(lanes, dtype=np.int64)
    outputs: list[list[int]] = [[] for _ in range(lanes)]
    done: list[int | None] = [None] * lanes
    shifts = np.arange(width, dtype=np.int64)
    cycles = 0
    # disable=None: a bar on a terminal only (logs of flows and CI stay readable)
    with tqdm(total=budget, desc="gate-level chip", unit="cycle", leave=False, disable=None) as bar:
        while cycles < budget:
            valid = position < lengths
            words = np.array(
                [p[min(i, len(p) - 1)] for p, i in zip(payloads, position, strict=True)]
            )
            words = np.where(valid, words, 0)
            sim.set_input(source.data, pack_lanes((words[:, None] >> shifts) & 1))
            sim.set_input(source.valid, pack_lanes(valid[:, None]))
            sim.evaluate()
            taken = valid & unpack_lanes(sim.get_output(source.ready), lanes)[:, 0]
            out_valid = unpack_lanes(sim.get_output(sink.valid), lanes)[:, 0]
            if out_valid.any():
                data = _lane_words(sim, sink.data, lanes)
                for lane in np.flatnonzero(out_valid):
                    outputs[lane].append(int(data[lane]))
                    if len(outputs[lane]) == lengths[lane]:
                        done[lane] = cycles
            position += taken
            sim.clock()
            cycles += 1
            bar.update(1)
            if all(d is not None for d in done) and np.all(position >= lengths):
                break
    samples, lasts = zip(*(sink.unpack(np.array(o, np.int64)) for o in outputs), strict=True)
    return PcmRun(list(samples), list(lasts), cycles, done, int(position.sum()))


def _payloads(pcm: np.ndarray, source: PcmStream, exit_value: int | None) -> np.ndarray:
    """Each sample's pcm_in payload word: the sample, last on the final one, the exit on the
    first (0 elsewhere: the chip samples it with the first sample only)."""
    last = np.zeros(pcm.size, np.int64)
    last[-1] = 1
    exits = None
    if exit_value is not None:
        exits = np.zeros(pcm.size, np.int64)
        exits[0] = exit_value
    return source.pack(pcm, last, exits)


def _lane_words(sim: GateSimulator, port: str, lanes: int) -> np.ndarray:
    bits = unpack_lanes(sim.get_output(port), lanes).astype(np.int64)
    return bits @ (np.int64(1) << np.arange(bits.shape[1], dtype=np.int64))


def _reset_inputs(sim: GateSimulator, reset_port: str, facts: AudioSection) -> None:
    """Every input at 0 (the weight port idle), pcm_out ready, then RESET_CYCLES in reset."""
    for name, port in sim.netlist.ports.items():
        if port.direction == "input" and not set(port.nets) & sim.clock_nets:
            sim.set_input_int(name, 0)
    sim.set_input_int(facts.pcm_out.ready, 1)
    sim.set_input_int(reset_port, 1)
    for _ in range(RESET_CYCLES):
        sim.evaluate()
        sim.clock()
    sim.set_input_int(reset_port, 0)


def idle_drive(design: Design, facts: AudioSection) -> Callable[[GateSimulator], None]:
    """Reset, then IDLE_CYCLES with no sample offered: a chip waiting with its clock running."""

    def drive(sim: GateSimulator) -> None:
        _reset_inputs(sim, design.reset.port, facts)
        sim.reset_activity()
        for _ in range(IDLE_CYCLES):
            sim.evaluate()
            sim.clock()
        sim.evaluate()

    return drive


# ------------------------------------------------------------------------------ the check
def expected_pcm(
    net: ir.Network, utterances: Sequence[np.ndarray], exits: Sequence[int] | None = None
) -> list[np.ndarray]:
    """The golden model's output samples of every utterance (``golden.run_audio``)."""
    return [golden.run_audio(net, pcm, exit=None if exits is None else exits[i])
            for i, pcm in enumerate(utterances)]  # fmt: skip


def check_pcm(expected: Sequence[np.ndarray], run: PcmRun) -> dict:
    """Every lane's output against the golden model's: sample for sample, as many as went in,
    ``last`` on the final sample only."""
    mismatched = missing = extra = bad_last = 0
    first = None
    for lane, (want, got, last) in enumerate(zip(expected, run.outputs, run.lasts, strict=True)):
        n = min(want.size, got.size)
        differ = np.flatnonzero(want[:n] != got[:n])
        mismatched += differ.size
        missing += max(0, want.size - got.size)
        extra += max(0, got.size - want.size)
        flags = np.zeros(got.size, bool)
        if got.size:
            flags[min(got.size, want.size) - 1] = True
        bad_last += int(np.count_nonzero(last != flags))
        if first is None and differ.size:
            k = int(differ[0])
            first = {"lane": lane, "sample": k, "expected": int(want[k]), "got": int(got[k])}
    return {
        "checked": True,
        "utterances": len(expected),
        "samples": int(sum(w.size for w in expected)),
        "mismatched_samples": int(mismatched),
        "missing_samples": int(missing),
        "extra_samples": int(extra),
        "misplaced_last_flags": int(bad_last),
        "first_mismatch": first,
    }


def require_pcm_match(check: dict, design: Design, out: Path) -> None:
    """A netlist that computes other samples (or too few, or too many) is an error."""
    wrong = {key: check[key] for key in ("mismatched_samples", "missing_samples", "extra_samples",
                                         "misplaced_last_flags") if check[key]}  # fmt: skip
    if wrong:
        detail = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in wrong.items())
        raise BitwaveError(
            f"the mapped netlist's PCM output differs from the golden model of "
            f"{design.ir_path} ({detail} of {check['samples']}; first: "
            f"{check['first_mismatch']}); reports in {out}"
        )


# ------------------------------------------------------------------------------ per part
def part_of(block: str, parts: Mapping[str, str]) -> str:
    """The part a netlist block (a top-level child module) belongs to: the part whose prefix
    is the block's name or a parent of it (``prefix__...``), else GLUE."""
    for name, prefix in parts.items():
        if block == prefix or block.startswith(prefix + "__") or block.startswith(prefix + "."):
            return name
    return GLUE


def split_area(by_block: Mapping[str, float], macros: Sequence[dict],
               parts: Mapping[str, str]) -> dict[str, dict]:  # fmt: skip
    """Area per part (memory macros included where they sit) and glue; sums to the total."""
    split = {name: {"area_um2": 0.0, "macro_area_um2": 0.0, "blocks": []}
             for name in (*parts, GLUE)}  # fmt: skip
    for block, area in by_block.items():
        entry = split[part_of(block, parts)]
        entry["area_um2"] += area
        entry["blocks"].append(block)
    for macro in macros:
        split[part_of(macro["block"], parts)]["macro_area_um2"] += macro["area_um2"]
    return split


def split_power(power: PowerReport, parts: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Leakage and dynamic power per part and glue, from the per-block power."""
    split = {name: {"leakage_w": 0.0, "dynamic_w": 0.0} for name in (*parts, GLUE)}
    for block, entry in power.by_block.items():
        target = split[part_of(block, parts)]
        target["leakage_w"] += entry["leakage_w"]
        target["dynamic_w"] += entry["total_w"] - entry["leakage_w"]
    return split


def part_energy(run: dict, idle: dict, run_s: float, lanes: int, frames: int, frame_s: float,
                fps: float) -> dict[str, float]:  # fmt: skip
    """One part's (or the total's) figures per frame (see the module docstring)."""
    above_idle = (run["dynamic_w"] - idle["dynamic_w"]) * run_s * lanes / frames
    dynamic = above_idle + idle["dynamic_w"] * frame_s
    return {
        "leakage_w": run["leakage_w"],
        "dynamic_w": run["dynamic_w"],
        "idle_dynamic_w": idle["dynamic_w"],
        "dynamic_energy_per_frame_j": dynamic,
        "energy_per_frame_j": run["leakage_w"] * frame_s + dynamic,
        "realtime_w": realtime_power(run["leakage_w"], dynamic, idle["dynamic_w"], frame_s, fps),
    }


def parts_json(result: AsicResult, facts: AudioSection, mhz: float, frames: int) -> dict:
    """power.json / area.json ``parts``: every part and glue with area and energy figures,
    and ``total`` (the same formulas on the whole chip: the parts sum to it)."""
    frame_s = facts.cycles_per_frame / (mhz * 1e6)
    run_s = result.cycles / (mhz * 1e6)
    area = split_area(result.by_block, result.macros, facts.parts)
    run, idle = (
        split_power(result.power, facts.parts),
        split_power(result.scenarios[IDLE_RUN], facts.parts),
    )
    out = {}
    for name in (*facts.parts, GLUE):
        out[name] = {**area[name], **part_energy(run[name], idle[name], run_s, result.lanes,
                                                   frames, frame_s, facts.frames_per_second)}  # fmt: skip
    total_run = {"leakage_w": result.power.leakage_w, "dynamic_w": result.power.dynamic_w}
    total_idle = {"dynamic_w": result.scenarios[IDLE_RUN].dynamic_w}
    out["total"] = {"area_um2": result.area_um2, "macro_area_um2": result.macro_area_um2,
                    **part_energy(total_run, {**total_idle, "leakage_w": 0.0}, run_s,
                                  result.lanes, frames, frame_s, facts.frames_per_second)}  # fmt: skip
    return out


# ------------------------------------------------------------------------------ the flow
@dataclass
class ChipStimulus:
    """The utterances of a run, their names, and a multi-exit chip's exit per utterance."""

    utterances: list[np.ndarray]
    names: list[str]
    selectors: list[int] | None = None  # pcm_in exit field values (None: no exit field)
    exits: list[int] | None = None  # the exit each selector picks


def chip_stimulus(design: Design, facts: AudioSection, files: Sequence[Path], n_exits: int = 1,
                  seed: int = 0) -> ChipStimulus:  # fmt: skip
    """--inputs (or the synthetic default), their lengths checked; for a multi-exit chip
    (``n_exits`` of its IR) a seeded selector per utterance drawn over the whole exit field
    (values past the final exit select it)."""
    if files:
        utterances, names = load_utterances(files), [str(f) for f in files]
    else:
        utterances = synthetic_utterances(
            lengths=[facts.min_utterance_samples + DEFAULT_EXTRA_SAMPLES * k
                     for k in range(DEFAULT_UTTERANCES)], seed=seed)  # fmt: skip
        names = [f"synthetic {k}" for k in range(len(utterances))]
    check_lengths(utterances, facts.min_utterance_samples, names)
    stimulus = ChipStimulus(utterances, names)
    if facts.pcm_in.exit is not None:
        rng = np.random.default_rng([seed, 1])
        stimulus.selectors = rng.integers(0, 1 << facts.pcm_in.exit[1], len(utterances)).tolist()
        stimulus.exits = [design.exits.exit_of(v) if design.exits else min(v, n_exits - 1)
                          for v in stimulus.selectors]  # fmt: skip
    return stimulus


def chip_drive(design: Design, net: ir.Network, facts: AudioSection, stimulus: ChipStimulus
               ) -> tuple[Callable[[GateSimulator], None], dict[str, Any]]:  # fmt: skip
    """The gate-level drive (weights first for a memory-weights chip, then the utterances)
    and the dict it records into: "weights", "pcm" (the PcmRun), "seconds"."""
    writes = weight_writes(design.weight_memory, net) if design.weight_memory else None
    run: dict[str, Any] = {}

    def drive(sim: GateSimulator) -> None:
        if writes is not None:
            run["weights"] = load_weights(sim, writes, design.reset.port)
            sim.reset_activity()  # power describes the audio, not the weight load
        start = time.perf_counter()
        run["pcm"] = stream_pcm(sim, stimulus.utterances, facts, design.reset.port,
                                stimulus.selectors)  # fmt: skip
        run["seconds"] = time.perf_counter() - start

    return drive, run


def synthesize_chip(
    design: Design, liberty_path: Path, mhz: float, files: Sequence[Path], memories: str,
    max_fanout: int, out: Path, sram: SramTable | None = None,
) -> tuple[dict, dict]:  # fmt: skip
    """Map, measure and check a chip into ``out``; (the summary, the golden check)."""
    from bitwave.synth.flows import design as flows  # the shared report parts

    facts = chip_facts(design)
    net = flows.design_ir(design)
    if net is None:
        raise BitwaveError(f"{design.ir_path} is missing: the chip's golden model needs its IR")
    stimulus = chip_stimulus(design, facts, files, net.n_exits)
    expected = expected_pcm(net, stimulus.utterances, stimulus.exits)
    drive, run = chip_drive(design, net, facts, stimulus)
    start = time.perf_counter()
    result = run_asic([design.verilog], design.top, liberty_path, mhz * 1e6, drive,
                      lanes=len(stimulus.utterances), keep_dir=out, clock_port=design.clock.port,
                      memories=memories, max_fanout=max_fanout,
                      scenarios={IDLE_RUN: idle_drive(design, facts)}, sram=sram)  # fmt: skip
    require_ok(result)
    pcm: PcmRun = run["pcm"]
    check = check_pcm(expected, pcm)
    check.update(weights_loaded=run.get("weights", 0), exits=stimulus.exits)
    seconds = time.perf_counter() - start
    flows.write_cell_models(liberty_path, out / flows.CELL_MODELS)
    np.savez(out / PCM_OUTPUTS, **{f"lane{k}": o for k, o in enumerate(pcm.outputs)})
    frames = sum(audio.frame_count(u.size) for u in stimulus.utterances)
    parts = parts_json(result, facts, mhz, frames)
    timing = flows._timing_json(result, mhz)
    area = {**result.area_json(), "parts": {k: v["area_um2"] for k, v in parts.items()}}
    power = chip_power_json(result, facts, parts, pcm, run["seconds"], stimulus, check)
    write_json(out / "area.json", area)
    write_json(out / "timing.json", timing)
    write_json(out / "power.json", power)
    write_text(out / "report.md", "\n".join(chip_report(design, result, facts, parts, power,
                                                        mhz, seconds)))  # fmt: skip
    summary = flows._summary(result, timing["fanout_repair"], parts["total"]["energy_per_frame_j"],
                             None, seconds, out)  # fmt: skip
    summary.pop("golden_mismatched_frames")
    summary.update(golden_mismatched_samples=check["mismatched_samples"],
                   realtime_w=parts["total"]["realtime_w"],
                   parts={k: {f: v[f] for f in ("area_um2", "energy_per_frame_j", "realtime_w")}
                          for k, v in parts.items()})  # fmt: skip
    return summary, check


PCM_OUTPUTS = "pcm_out.npz"  # the netlist's output samples, one array per utterance (lane)


def chip_power_json(result: AsicResult, facts: AudioSection, parts: dict, pcm: PcmRun,
                    seconds: float, stimulus: ChipStimulus, check: dict) -> dict:  # fmt: skip
    power = result.power.to_json()
    frames = [audio.frame_count(u.size) for u in stimulus.utterances]
    power.update({
        "parts": parts,
        "energy_per_frame_j": parts["total"]["energy_per_frame_j"],
        "realtime_w": parts["total"]["realtime_w"],
        "realtime_fps": facts.frames_per_second,
        "idle_dynamic_w": result.scenarios[IDLE_RUN].dynamic_w,
        "cycles_per_frame": facts.cycles_per_frame,
        "energy_model": ENERGY_MODEL,
        "stimulus": {
            "source": ", ".join(stimulus.names), "lanes": result.lanes,
            "samples": [int(u.size) for u in stimulus.utterances], "frames": frames,
            "cycles": pcm.cycles, "done_cycle": pcm.done_cycle,
            # whole utterances from reset: fill and drain included
            "cycles_per_frame_measured": [None if d is None else d / f
                                          for d, f in zip(pcm.done_cycle, frames, strict=True)],
            "gate_level_cycles_per_s": pcm.cycles / seconds if seconds else None,
        },
        "opensta": result.opensta,
        "opensta_skipped": result.extra.get("opensta_skipped"),
        "golden_check": check,
    })  # fmt: skip
    return power


ENERGY_MODEL = (
    "per part: dynamic energy per frame = (run dynamic power - idle dynamic power) x run time "
    "x lanes / frames + idle dynamic power x frame time; energy per frame = that + leakage x "
    "frame time; real-time power = leakage + dynamic energy per frame x fps + idle dynamic "
    "power for the rest of each second (frame time = the manifest's cycles_per_frame at the clock)"
)


def chip_report(design: Design, result: AsicResult, facts: AudioSection, parts: dict, power: dict,
                mhz: float, seconds: float) -> list[str]:  # fmt: skip
    """report.md of a chip: the figures, the parts table, then blocks, macros and cells."""
    from bitwave.synth.flows import design as flows

    check, stim = power["golden_check"], power["stimulus"]
    equal = check["samples"] - check["mismatched_samples"] - check["missing_samples"]
    total = parts["total"]
    lines = [
        f"# Synthesis report: {design.top} (full chip: PCM in, enhanced PCM out)", "",
        *flows._report_header(result, mhz, seconds),
        "| figure | value |", "|---|---|",
        f"| area | {result.area_um2:,.1f} um^2 ({result.standard_cell_area_um2:,.1f} standard "
        f"cells + {len(result.macros)} memory macros {result.macro_area_um2:,.1f}) |",
        "| fanout repair | " + flows._fanout_row(result) + " |",
        f"| max clock | {result.timing.max_clock_mhz:,.1f} MHz (endpoint {result.timing.endpoint}) |",
        f"| cycles per frame (manifest) | {facts.cycles_per_frame:,} (hop {audio.HOP} samples) |",
        f"| energy per frame | {total['energy_per_frame_j'] * 1e9:.3f} nJ |",
        f"| power at the real-time rate ({facts.frames_per_second:g} frames/s) | {total['realtime_w'] * 1e3:.4f} mW |",
        f"| power with frames back to back at {mhz:g} MHz | {result.power.total_w * 1e3:.4f} mW |",
        f"| golden-model check | {equal} of {check['samples']} output samples equal over "
        f"{check['utterances']} utterances ({stim['source']}) |",
        f"| gate-level simulation | {stim['cycles']:,} cycles x {stim['lanes']} lanes, "
        f"{stim['gate_level_cycles_per_s']:,.0f} cycles/s |",
        "", "## By part", "",
        "| part | area um^2 | of which macros | leakage mW | energy/frame nJ | "
        "dynamic energy/frame nJ | real-time mW |", "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, p in parts.items():
        lines.append(
            f"| {name} | {p['area_um2']:,.1f} | {p['macro_area_um2']:,.1f} | "
            f"{p['leakage_w'] * 1e3:.4f} | {p['energy_per_frame_j'] * 1e9:.4f} | "
            f"{p['dynamic_energy_per_frame_j'] * 1e9:.4f} | {p['realtime_w'] * 1e3:.4f} |"
        )
    lines += ["", f"Energy model: {ENERGY_MODEL}."]
    labels = {block: part_of(block, facts.parts) for block in result.by_block}
    lines += [*flows._block_table(result, labels), *flows._macro_table(result),
              *flows._cell_table(result), *flows._opensta_section(result), ""]  # fmt: skip
    return lines


def run_netlist(
    design_dir: str | Path, utterances: Sequence[np.ndarray], exits: Sequence[int] | None = None
) -> list[np.ndarray]:
    """The synthesized chip's mapped netlist (DIR/synth/mapped.json on the liberty synth used)
    on ``utterances``, one gate-level lane each, as synth's golden check drives it: each
    utterance's int16 output samples. ``exits``: one per utterance (multi-exit chips; default
    the final exit). The gates engine of ``bitwave enhance``: the compiled gate-level
    simulator runs a few hundred cycles a second, where a Verilator build of a whole chip's
    netlist (hundreds of C++ files) takes hours."""
    import json

    from bitwave.core import contract
    from bitwave.synth.eda.liberty import load_library
    from bitwave.synth.eda.netlist import load_netlist

    design = contract.load(design_dir)
    facts = chip_facts(design)
    synth_dir = design.root / "synth"
    if not (synth_dir / "mapped.json").is_file() or not (synth_dir / "area.json").is_file():
        raise BitwaveError(f"{design.root} has no synthesized netlist: run bitwave synth "
                           f"{design.root} first")  # fmt: skip
    library = load_library(json.loads((synth_dir / "area.json").read_text())["liberty"])
    netlist = load_netlist(synth_dir / "mapped.json", design.top, library)
    net = ir.load(design.ir_path)
    check_lengths(utterances, facts.min_utterance_samples,
                  [f"utterance {k}" for k in range(len(utterances))])  # fmt: skip
    stimulus = ChipStimulus([np.asarray(u, np.int16) for u in utterances], [])
    if facts.pcm_in.exit is not None:  # the selector value k picks exit k
        stimulus.selectors = list(exits) if exits else [net.n_exits - 1] * len(utterances)
    drive, run = chip_drive(design, net, facts, stimulus)
    drive(GateSimulator(netlist, library, len(utterances), design.clock.port))
    pcm: PcmRun = run["pcm"]
    outputs = [np.asarray(o, np.int64).astype(np.int16) for o in pcm.outputs]
    short = [k for k, (o, u) in enumerate(zip(outputs, utterances, strict=True)) if o.size < u.size]
    if short:
        raise BitwaveError(f"the netlist of {design.root} did not finish utterance(s) {short}")
    return outputs
