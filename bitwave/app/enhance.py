"""``bitwave enhance RUN|MODEL.bwir NOISY.wav ... --out DIR [--engine golden|rtl|gates]``:
noisy WAV files in, enhanced WAV files out, through the chip's arithmetic.

Every engine computes the full chip (docs/hw.md, "The full chip"): 16-bit PCM in, the
fixed-point front end (window, FFT, the IR's input coding), the network's mask bits, the back
end (gains with the mask floor, inverse FFT, overlap-add), 16-bit PCM out.
- ``golden``: the golden model of that chip (``golden.run_audio``), in numpy; fast.
- ``rtl``: the generated chip (``bitwave generate --audio``) simulated in Verilator: the
  design of ``--design DIR``, else RUN/chip (the flow's chip) when it was built from this IR,
  else one generated into a temporary folder.
- ``gates``: the synthesized netlist of that design (``bitwave synth DIR`` first) in synth's
  compiled gate-level simulator (a few hundred cycles a second: minutes for a second of audio).
The three give the same samples (the tests check it). Inputs are read with
``bitwave.core.wav`` (PCM or float, any rate, resampled to 16 kHz, channels mixed down) and
turned into int16 samples; every input is read and checked before any output is written; each
output, ``DIR/<sanitized stem>_enhanced.wav`` (16 kHz mono 16-bit PCM: the chip's samples
unchanged), is written to a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, sanitize_identifier
from bitwave.core.wav import SAMPLE_RATE, AudioFileError, pcm16, read_wav, write_pcm16
from bitwave.models import evaluate, features

ENGINES = ("golden", "rtl", "gates")
ALLOWED_AUDIO = "a WAV file (PCM 8/16/24/32-bit or float, any channels, 4..384 kHz)"
Engine = Callable[[list[np.ndarray]], list[np.ndarray]]  # int16 utterances -> int16 outputs


# ---------------------------------------------------------------------------------------------
# Reading audio
# ---------------------------------------------------------------------------------------------
def read_audio(path: str | Path) -> np.ndarray:
    """Any usable WAV file as mono float32 at 16 kHz; AudioFileError naming the file and what
    is allowed otherwise (missing, not a WAV, empty, NaN, too short for one frame)."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise AudioFileError(f"{path}: {what}; allowed: {ALLOWED_AUDIO}")
    try:
        audio = read_wav(path, mix_channels=True)
    except AudioFileError as error:
        allowed = "" if "allowed:" in str(error) else f"; allowed: {ALLOWED_AUDIO}"
        raise AudioFileError(f"{error}{allowed}") from None
    if audio.size < features.N_FFT:
        raise AudioFileError(
            f"{path}: {audio.size} samples at {SAMPLE_RATE} Hz; allowed: at least "
            f"{features.N_FFT} (one {features.N_FFT}-sample frame)"
        )
    return audio


# ---------------------------------------------------------------------------------------------
# The model and the engines
# ---------------------------------------------------------------------------------------------
def load_model(model: str | Path) -> ir.Network:
    """The IR of a run folder (RUN/model.bwir) or an IR file, with an input coding."""
    path = Path(model)
    if path.is_dir():
        if not (path / "model.bwir").is_file():
            raise BitwaveError(
                f"{path}: no model.bwir (a float run has none); allowed: a bitwise or k-bit "
                "run folder or a .bwir file with an input coding (the chip runs IR)"
            )
        path = path / "model.bwir"
    net = evaluate.load_coded_network(path)
    if net.output_width != features.N_BINS or net.coding.features != features.N_BINS:
        raise BitwaveError(
            f"{path}: reads {net.coding.features} features and writes {net.output_width} "
            f"mask bins; allowed: a mask estimator of {features.N_BINS} bins in and out"
        )
    return net


def golden_engine(net: ir.Network, progress: bool) -> Engine:
    """The chip's golden model, utterance by utterance."""

    def run(utterances: list[np.ndarray]) -> list[np.ndarray]:
        bar = tqdm(
            utterances, desc="golden", unit="file", disable=not progress or len(utterances) < 2
        )
        return [golden.run_audio(net, pcm) for pcm in bar]

    return run


def chip_engine(design: Path, gates: bool, progress: bool) -> Engine:
    """The chip of ``design``: its RTL in Verilator (every utterance back to back in one
    simulation), or with ``gates`` its synthesized netlist in synth's compiled gate-level
    simulator (one lane per utterance; a Verilator build of a whole chip's netlist would take
    hours)."""
    if gates:
        from bitwave.synth.flows.chip import run_netlist

        return lambda utterances: run_netlist(design, utterances)
    from bitwave.sim.chip import run_chip

    def run(utterances: list[np.ndarray]) -> list[np.ndarray]:
        total = sum(pcm.size for pcm in utterances)
        with tqdm(total=total, unit="sample", desc="rtl", disable=not progress) as bar:

            def moved(done: int, _total: int) -> None:
                bar.update(done - bar.n)

            result = run_chip(design, utterances, progress=moved)
        if result.timed_out or len(result.outputs) < len(utterances):
            raise BitwaveError(
                f"the chip in {design} did not finish every utterance (see {result.log})"
            )
        return result.outputs[: len(utterances)]

    return run


def chip_design(model: str | Path, net: ir.Network, design: str | Path | None) -> Path | None:
    """The chip design the rtl and gates engines simulate: ``design``, else RUN/chip of a run
    folder if it was built from this IR; None: generate one. A design of another IR (another
    network or mask floor) is refused: its samples would differ."""
    from bitwave.core import contract

    if design is None:
        candidate = Path(model) / "chip"
        if not (Path(model).is_dir() and (candidate / "manifest.json").is_file()):
            return None
        design = candidate
    built = ir.load(contract.load(design).ir_path)
    if built.sha256 != net.sha256:
        raise BitwaveError(
            f"{design} was built from another IR ({built.name}, sha256 {built.sha256[:12]}; "
            f"this model with its mask floor: {net.sha256[:12]}); allowed: a chip generated "
            "from this model (bitwave generate MODEL.bwir --audio --out DIR), or no --design"
        )
    return Path(design)


@contextmanager
def engine_for(
    engine: str, model: str | Path, net: ir.Network, design: str | Path | None, progress: bool
) -> Iterator[Engine]:
    """The engine; for rtl without a design, a chip generated into a temporary folder."""
    if engine not in ENGINES:
        raise BitwaveError(f"engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "golden":
        yield golden_engine(net, progress)
        return
    found = chip_design(model, net, design)
    if found is not None:
        yield chip_engine(found, engine == "gates", progress)
        return
    if engine == "gates":
        raise BitwaveError(
            "--engine gates needs a synthesized chip: bitwave generate MODEL.bwir --audio --out "
            "DIR, then bitwave synth DIR, then --design DIR (or a flow run folder with chip/)"
        )
    from bitwave.hw.generate import generate

    with tempfile.TemporaryDirectory(prefix="bitwave-enhance-") as scratch:
        ir.save(net, Path(scratch) / "model.bwir")
        generate(Path(scratch) / "model.bwir", Path(scratch) / "chip", audio=True)
        yield chip_engine(Path(scratch) / "chip", False, progress)


def with_floor(net: ir.Network, floor_db: float | str | None) -> ir.Network:
    """The model with ``floor_db`` as its mask floor (``MODEL_FLOOR``: its own)."""
    if floor_db == evaluate.MODEL_FLOOR or floor_db == net.mask_floor_db:
        return net
    return dataclasses.replace(net, mask_floor_db=floor_db)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
@dataclass
class Job:
    noisy: Path
    audio: np.ndarray  # int16, the chip's samples
    out: Path
    clean: np.ndarray | None = None


def output_names(noisy: Sequence[str | Path], out: str | Path) -> list[Path]:
    """``out/<sanitized stem>_enhanced.wav`` per input; two inputs with one name are refused."""
    names: dict[Path, Path] = {}
    for path in map(Path, noisy):
        target = inside(out, f"{sanitize_identifier(path.stem, 'audio')}_enhanced.wav")
        if target in names:
            raise BitwaveError(
                f"{names[target]} and {path} would both be written to {target}; allowed: "
                "inputs whose file names differ after sanitizing ([A-Za-z0-9_])"
            )
        names[target] = path
    return list(names)


def prepare(
    noisy: Sequence[str | Path], out: str | Path, clean: Sequence[str | Path] | None = None
) -> list[Job]:
    """Every input read and checked (and its --clean reference) before anything is written."""
    if clean is not None and len(clean) != len(noisy):
        raise BitwaveError(
            f"--clean: {len(clean)} reference(s) for {len(noisy)} noisy file(s); allowed: one "
            "clean reference per noisy file, in the same order"
        )
    jobs = []
    for index, (path, target) in enumerate(zip(noisy, output_names(noisy, out), strict=True)):
        job = Job(Path(path), pcm16(read_audio(path)), target)
        if clean is not None:
            job.clean = read_audio(clean[index])
            if job.clean.size != job.audio.size:
                raise BitwaveError(
                    f"--clean {clean[index]}: {job.clean.size} samples at 16 kHz, {path} has "
                    f"{job.audio.size}; allowed: a reference of the noisy file's length"
                )
        jobs.append(job)
    return jobs


def run(
    model: str | Path, noisy: Sequence[str | Path], out: str | Path,
    floor_db: float | str | None = evaluate.MODEL_FLOOR, clean: Sequence[str | Path] | None = None,
    progress: bool = True, report: Callable[[str], None] = print, engine: str = "golden",
    design: str | Path | None = None,
) -> list[Path]:  # fmt: skip
    """Enhance every noisy file into ``out`` through ``engine``; returns the written files.
    ``floor_db``: the model's own floor (default), None for none, or dB."""
    net = with_floor(load_model(model), floor_db)
    jobs = prepare(noisy, out, clean)
    floor_text = "none" if net.mask_floor_db is None else f"{net.mask_floor_db:g} dB"
    with engine_for(engine, model, net, design, progress) as enhance:
        outputs = enhance([job.audio for job in jobs])
    for job, enhanced in zip(jobs, outputs, strict=True):
        write_pcm16(job.out, enhanced)
        seconds = job.audio.size / SAMPLE_RATE
        report(f"wrote {job.out} ({seconds:.1f} s, {engine} engine, mask floor {floor_text})")
        if job.clean is not None:
            report(_quality(job.audio, enhanced, job.clean))
    return [job.out for job in jobs]


def _quality(noisy: np.ndarray, enhanced: np.ndarray, clean: np.ndarray) -> str:
    """SI-SDR, STOI and PESQ of the noisy input and the enhanced output (int16 samples)
    against the clean one: eval's figures (``evaluate.scores``)."""
    lines = []
    noisy, enhanced = noisy / 32768.0, enhanced / 32768.0
    for label, audio in (("noisy   ", noisy), ("enhanced", enhanced)):
        s = evaluate.scores(audio, noisy, clean)
        lines.append(
            f"  {label}  SI-SDR {s['si_sdr']:6.2f} dB  STOI {s['stoi']:.3f}  PESQ {s['pesq']:.2f}"
        )
    return "\n".join(lines)
