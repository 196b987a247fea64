"""The full SE chip in simulation (issue 16): int16 utterances in, the chip's enhanced samples
out, on Verilator or Icarus, from the RTL or from a gate-level netlist.

``run_chip`` is the API ``bitwave enhance --engine rtl|gates`` and ``bitwave verify`` call: it
reads the design folder's contract (its ``audio`` section names the ``pcm_in`` / ``pcm_out``
streams and their payload fields), builds the Verilog once (cached by content, like verify's
builds), streams the utterances back to back through ``bitwave.sim.tb_chip`` and returns each
utterance's output samples, split where the chip raised ``last``, with the cycles it took.
It compares nothing: ``expected_outputs`` gives the golden model's samples for the same
utterances (the verification's oracle), and ``compare_utterances`` counts the differences.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitwave.core import audio, contract, golden, ir, synthetic, weight_loading
from bitwave.core.audio import AudioSpec, AudioTables
from bitwave.core.contract import Design
from bitwave.core.errors import BitwaveError
from bitwave.sim import runner
from bitwave.sim.verify import CELL_MODELS

TB_MODULE = "bitwave.sim.tb_chip"
P_VALID = P_READY = 0.7  # stall probabilities, as verify's
RESET_ALLOWANCE = 2_000  # cycles of reset, weight loading slack and pipeline fill in the budget
MAX_LISTED = 5  # mismatching samples listed in a comparison
Progress = Callable[[int, int], None]  # (output samples so far, output samples in all)


# ---------------------------------------------------------------------------------------------
# The chip's interface, from the contract
# ---------------------------------------------------------------------------------------------
# the contract's typed audio section is the chip's interface: its PCM streams (ports, payload
# fields), the shortest utterance, the claimed cycles per frame, the AudioSpec, the exits
ChipStream = contract.PcmStream
ChipInterface = contract.AudioSection


def chip_interface(design: Design) -> ChipInterface:
    """The chip facts of a design folder; a BitwaveError for a design without ``audio``."""
    return design.chip()


def exit_claims(design: Design) -> list[int]:
    """The claimed cycles per frame of an utterance at each exit (index = exit)."""
    return list(chip_interface(design).exit_claims())


def stream_fields(stream: ChipStream) -> dict:
    """A PCM stream's payload fields for the testbench: (offset, width) per field."""
    return {"sample": stream.sample, "last": stream.last, "exit": stream.exit}


# ---------------------------------------------------------------------------------------------
# Utterances and their expected outputs
# ---------------------------------------------------------------------------------------------
def check_utterances(utterances: Sequence[np.ndarray], minimum: int) -> list[np.ndarray]:
    """The utterances as 1-D int16 arrays of at least ``minimum`` samples each (the chip's
    framing needs that many; every tool that drives it refuses shorter ones)."""
    if isinstance(utterances, np.ndarray) or not len(utterances):
        raise BitwaveError("utterances must be a non-empty list of 1-D int16 sample arrays")
    checked = []
    for k, pcm in enumerate(utterances):
        pcm = np.asarray(pcm)
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise BitwaveError(
                f"utterance {k} is {pcm.dtype} of shape {pcm.shape}; allowed: 1-D int16 samples"
            )
        if pcm.size < minimum:
            raise BitwaveError(
                f"utterance {k} has {pcm.size} samples; the chip needs at least {minimum} "
                f"({minimum // audio.HOP} hops of {audio.HOP}) per utterance"
            )
        checked.append(pcm)
    return checked


def check_exits(exits: Sequence[int] | None, count: int, n_exits: int) -> list[int] | None:
    """One exit per utterance for a multi-exit chip (None: the final exit for all); refused
    for a chip without exits."""
    if exits is None:
        return None if n_exits == 1 else [n_exits - 1] * count
    if n_exits == 1:
        raise BitwaveError("exits are for multi-exit chips; this chip's network has one exit")
    exits = [int(e) for e in exits]
    if len(exits) != count or any(not 0 <= e < n_exits for e in exits):
        raise BitwaveError(
            f"exits must give one exit in 0..{n_exits - 1} per utterance ({count}), got {exits}"
        )
    return exits


def expected_outputs(
    net: ir.Network,
    utterances: Sequence[np.ndarray],
    exits: Sequence[int] | None = None,
    spec: AudioSpec | None = None,
    table: AudioTables | None = None,
    thresholds: np.ndarray | None = None,
    *,
    restart: bool = True,
) -> list[np.ndarray]:
    """The golden model's output samples of every utterance (``golden.run_audio``). ``table``
    or ``thresholds`` (a mutated ROM or coding threshold: the twins of bitwave.sim.mutation)
    compose the same front end, network and back end from ``bitwave.core.audio`` with them.
    ``restart=False`` (a recurrent network only) is the twin of a chip that never restarts its
    recurrent state: the utterances' frames run as ONE sequence (the framing still restarts)."""
    picks = list(exits) if exits is not None else [None] * len(utterances)
    if not restart and not net.is_recurrent:
        raise BitwaveError(f"restart=False is a twin for recurrent networks; {net.name!r} has none")
    if table is None and thresholds is None and restart:
        return [
            golden.run_audio(net, pcm, spec, exit=k)
            for pcm, k in zip(utterances, picks, strict=True)
        ]
    spec = spec or net.audio or AudioSpec()
    if thresholds is None:
        thresholds = audio.coding_thresholds(net.coding.boundaries, spec)
    table = table or audio.tables(spec)
    fronts = [audio.front_end(pcm, spec, thresholds, net.coding.bits, table) for pcm in utterances]
    if restart:
        masks = [golden.run(net, f.codes, exits=k) for f, k in zip(fronts, picks, strict=True)]
    else:
        ends = np.cumsum([f.codes.shape[0] for f in fronts])[:-1]
        masks = np.split(golden.run(net, np.concatenate([f.codes for f in fronts])), ends)
    return [audio.back_end(f.re, f.im, mask, pcm.size, net.mask_floor_gain, spec, table)
            for f, mask, pcm in zip(fronts, masks, utterances, strict=True)]  # fmt: skip


def compare_utterances(expected: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> dict:
    """Sample-by-sample comparison: mismatching samples (a missing or extra sample counts as
    one), the utterances that differ, and the first few differences."""
    mismatches, bad, listed = 0, [], []
    for k in range(max(len(expected), len(got))):
        want = expected[k] if k < len(expected) else np.zeros(0, np.int16)
        have = got[k] if k < len(got) else np.zeros(0, np.int16)
        common = min(want.size, have.size)
        wrong = np.flatnonzero(want[:common].astype(np.int64) != have[:common])
        count = wrong.size + abs(int(want.size) - int(have.size))
        if count:
            bad.append(k)
            mismatches += count
        for i in wrong[: max(0, MAX_LISTED - len(listed))]:
            listed.append({"utterance": k, "sample": int(i), "expected": int(want[i]),
                           "got": int(have[i])})  # fmt: skip
        if want.size != have.size and len(listed) < MAX_LISTED:
            listed.append({"utterance": k, "samples_expected": int(want.size),
                           "samples_got": int(have.size)})  # fmt: skip
    return {"mismatching_samples": mismatches, "mismatched_utterances": bad,
            "first_mismatches": listed}  # fmt: skip


def synthetic_speech(count: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Deterministic speech-like utterances of 0.1 to 0.3 s (``count`` of them, int16 at
    16 kHz): ``bitwave.core.synthetic.speech_like`` (the one generator verify and synth share)
    at seeded lengths."""
    rng = np.random.default_rng([seed, 17])  # the lengths' own stream
    rate = synthetic.RATE
    lengths = rng.integers(int(0.1 * rate), int(0.3 * rate) + 1, count)
    return synthetic.speech_like(lengths.tolist(), seed)


# ---------------------------------------------------------------------------------------------
# Running the chip
# ---------------------------------------------------------------------------------------------
@dataclass
class ChipRun:
    """What one simulation of the chip gave: each utterance's output samples (split where the
    chip raised ``last``; samples after the final ``last`` form one more piece) and its timing."""

    outputs: list[np.ndarray]  # int16 per utterance
    lasts: int  # output samples with last = 1
    x_samples: int  # output samples with X/Z bits (Icarus; stored as 0 in ``outputs``)
    extra_output_samples: int  # samples that appeared after the last utterance's last one
    timed_out: bool
    cycles: int  # from the first streaming cycle to the last output sample
    frame_intervals: list[int]  # cycles between frame outputs of the unstalled utterances
    utterance_intervals: list[list[int]]  # the same, one list per unstalled utterance
    cycles_per_frame: int | None  # the steady state: the last of those intervals
    settled: bool  # the last intervals agree (a steady state was reached)
    sim_seconds: float  # the testbench's own wall time inside the simulator
    wall_seconds: float  # the simulator process, start to end
    build: runner.Build
    log: Path
    sleeps: int = 0  # times the testbench slept until the chip moved (its per-cycle cost saved)

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.wall_seconds if self.wall_seconds else 0.0


def run_chip(
    design_dir: str | Path,
    utterances: Sequence[np.ndarray],
    exits: Sequence[int] | None = None,
    sim: str = "verilator",
    netlist: str | Path | None = None,
    stalls: int | None = None,
    progress: Progress | None = None,
    *,
    calm: int = 0,
    work_dir: str | Path | None = None,
    fast_build: bool = False,
) -> ChipRun:
    """Simulate the chip of ``design_dir`` on ``utterances`` (int16, back to back).

    ``exits``: one per utterance (multi-exit chips; default the final exit). ``netlist``: a
    gate-level netlist of ``bitwave synth`` (its cell models ``cells.v`` beside it) instead of
    the RTL. ``stalls``: a seed for random valid/ready stalls (None: samples offered at once,
    outputs taken at once), sparing the first ``calm`` utterances (their frame intervals are
    the steady state). ``progress(done, total)``: output samples so far, called from a thread.
    ``work_dir``: where the run's files go (default a temporary folder, removed after); the
    build is cached in DIR/verify/build (or $BITWAVE_SIM_CACHE)."""
    design = contract.load(design_dir)
    chip = chip_interface(design)
    utterances = check_utterances(utterances, chip.min_utterance_samples)
    picks = check_exits(exits, len(utterances), chip.exits)
    runner.check_simulator(sim)
    if stalls is not None and stalls < 0:
        raise BitwaveError(f"the stall seed must be a non-negative integer, got {stalls}")
    net = ir.load(design.ir_path)
    built = runner.build(sim, _sources(design, netlist), design.top,
                         runner.build_root(design.root / "verify" / "build"),
                         fast_build=fast_build)  # fmt: skip
    scratch = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="bitwave-chip-")) if scratch else Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        params = _params(design, chip, net, utterances, picks, stalls, calm, work)
        total = sum(pcm.size for pcm in utterances)
        start = time.perf_counter()
        with _Watcher(Path(params["progress_file"]), total, progress):
            tb = runner.run_test(built, TB_MODULE, params, work)
        wall = time.perf_counter() - start
        return _chip_run(chip, utterances, calm if stalls is not None else len(utterances),
                         tb, np.load(params["outputs_npy"]), built, wall, work)  # fmt: skip
    finally:
        if scratch:
            shutil.rmtree(work, ignore_errors=True)


def _sources(design: Design, netlist: str | Path | None) -> list[Path]:
    """The RTL, or the cell models and a gate-level netlist (``bitwave synth``'s files)."""
    if netlist is None:
        return [design.verilog]
    netlist = Path(netlist)
    cells = netlist.parent / CELL_MODELS
    for path, what in ((netlist, "the gate-level netlist"), (cells, "its cell models")):
        if not path.is_file():
            raise BitwaveError(f"{what} {path} is missing: run bitwave synth {design.root} first")
    return [cells, netlist]


def _params(
    design: Design,
    chip: ChipInterface,
    net: ir.Network,
    utterances: list[np.ndarray],
    exits: list[int] | None,
    stalls: int | None,
    calm: int,
    work: Path,
) -> dict:
    """The testbench's parameters, with the samples written into ``work``."""
    np.save(work / "inputs.npy", np.concatenate(utterances))
    lengths = [int(pcm.size) for pcm in utterances]
    frames = sum(n // audio.HOP + 1 for n in lengths) + 3 * len(lengths)
    slow = 1.0 if stalls is None else 1.0 / (P_VALID * P_READY)
    loads = None
    if design.weight_memory is not None:  # the network's weights, through its write port
        w = weight_loading.weight_writes(design.weight_memory, net)
        loads = {"en": w.en, "addr": w.addr, "data": w.data, "writes": w.writes}
    also = [chip.pcm_in.data, chip.pcm_in.valid, chip.pcm_out.ready]
    return {
        "clock": design.clock.port, "reset": design.reset.port,
        "reset_active_high": design.reset.active_high,
        "idle_inputs": design.idle_inputs(also_driven=also),
        "in_data": chip.pcm_in.data, "in_valid": chip.pcm_in.valid,
        "in_ready": chip.pcm_in.ready, "out_data": chip.pcm_out.data,
        "out_valid": chip.pcm_out.valid, "out_ready": chip.pcm_out.ready,
        "pcm_in": stream_fields(chip.pcm_in), "pcm_out": stream_fields(chip.pcm_out),
        "lengths": lengths, "exits": exits,
        "seed": 0 if stalls is None else stalls, "stalls": stalls is not None,
        "p_valid": P_VALID, "p_ready": P_READY, "calm": calm,
        "max_cycles": int(RESET_ALLOWANCE + 4 * slow * frames * chip.cycles_per_frame),
        "drain_cycles": 2 * chip.cycles_per_frame + 16,
        "weight_writes": loads,
        "inputs_npy": str(work / "inputs.npy"), "outputs_npy": str(work / "outputs.npy"),
        "results_json": str(work / "tb_results.json"),
        "progress_file": str(work / "progress.txt"),
    }  # fmt: skip


class _Watcher:
    """Calls ``progress`` with the testbench's output count (its progress file) while the
    simulator runs, and once with the total at the end."""

    def __init__(self, path: Path, total: int, progress: Progress | None) -> None:
        self.path, self.total, self.progress = path, total, progress
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _Watcher:
        if self.progress:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.stop.set()
            self.thread.join()
            if exc[0] is None:
                self.progress(self.total, self.total)

    def _poll(self) -> None:
        seen = -1
        while not self.stop.wait(0.25):
            try:
                done = int(self.path.read_text())
            except (OSError, ValueError):
                continue
            if done != seen:
                seen = done
                self.progress(min(done, self.total), self.total)


def decode(payloads: np.ndarray, stream: ChipStream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(samples int16, last flags, X flags) of raw pcm_out payloads (-1: X/Z bits)."""
    payloads = np.asarray(payloads, np.int64)
    unknown = payloads < 0
    samples, lasts = stream.unpack(np.where(unknown, 0, payloads))
    return samples, lasts, unknown


def split_at_last(samples: np.ndarray, lasts: np.ndarray) -> list[np.ndarray]:
    """The samples cut after every ``last``; samples after the final one form one more piece."""
    ends = (np.flatnonzero(lasts) + 1).tolist()
    pieces = np.split(samples, ends)
    return pieces if pieces[-1].size else pieces[:-1]


def frame_intervals(hops: list[list[int]], lengths: list[int], calm: int) -> list[list[int]]:
    """The cycles between consecutive frames' outputs of each of the first ``calm``
    utterances: ``hops[u]`` holds the cycle of every 256th output sample of utterance u; its
    first len // 256 - 1 blocks each follow one frame (the rest is the last frame's flush)."""
    out = []
    for cycles, n in zip(hops[:calm], lengths[:calm], strict=False):
        blocks = cycles[: n // audio.HOP - 1]
        out.append(np.diff(blocks).astype(int).tolist())
    return out


def _chip_run(
    chip: ChipInterface,
    utterances: list[np.ndarray],
    calm: int,
    tb: dict,
    payloads: np.ndarray,
    built: runner.Build,
    wall: float,
    work: Path,
) -> ChipRun:
    samples, lasts, unknown = decode(payloads, chip.pcm_out)
    lengths = [pcm.size for pcm in utterances]
    per_utterance = frame_intervals(tb["out_hops"], lengths, calm)
    longest = max(per_utterance, key=len, default=[])
    return ChipRun(
        outputs=split_at_last(samples, lasts),
        lasts=int(lasts.sum()),
        x_samples=int(unknown.sum()),
        extra_output_samples=tb["extra_output_samples"],
        timed_out=tb["timed_out"],
        cycles=tb["cycles"],
        frame_intervals=[i for each in per_utterance for i in each],
        utterance_intervals=per_utterance,
        cycles_per_frame=longest[-1] if longest else None,
        settled=len(longest) >= 2 and longest[-1] == longest[-2],
        sim_seconds=tb["sim_seconds"],
        wall_seconds=wall,
        build=built,
        log=work / "sim.log",
        sleeps=tb["sleeps"],
    )
