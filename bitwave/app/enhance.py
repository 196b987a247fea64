"""``bitwave enhance RUN|MODEL.bwir NOISY.wav ... --out DIR``: noisy WAV files in, enhanced WAV
files out, through the golden model.

The enhancement is eval's bitwise path, reused and not re-implemented: STFT, the IR's input
coding, ``golden.run`` for the mask bits, the gain floor (the model's ``mask_floor_db`` or
``--mask-floor``), inverse STFT (``features.enhance`` with ``evaluate.network_mask_function``).
Inputs are read with the data folders' WAV reader (``read_wav``: PCM or float, resampled to
16 kHz); a multichannel file is mixed down to mono first. Every input is read and checked
before any output is written; each output, ``DIR/<sanitized stem>_enhanced.wav`` (16 kHz mono
16-bit PCM), is written to a temporary name and renamed.

Only the ``golden`` engine exists; the command refuses ``rtl`` and ``gates`` (the full chip in
simulation, issue 16) by name until they land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, sanitize_identifier
from bitwave.models import evaluate, features
from bitwave.models.data.audio import (
    SAMPLE_RATE,
    AudioFileError,
    read_wav,
    write_wav,
)

PROGRESS_FRAMES = 2_000  # a progress bar from 32 s of audio on (62.5 frames/s)
BLOCK_FRAMES = 500  # frames per golden call of a feed-forward network (8 s of audio)
ALLOWED_AUDIO = "a WAV file (PCM 8/16/24/32-bit or float, any channels, 4..384 kHz)"


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
# The model and the enhancement
# ---------------------------------------------------------------------------------------------
def load_model(model: str | Path) -> ir.Network:
    """The IR of a run folder (RUN/model.bwir) or an IR file, with an input coding."""
    path = Path(model)
    if path.is_dir():
        if not (path / "model.bwir").is_file():
            raise BitwaveError(
                f"{path}: no model.bwir (a float run has none); allowed: a bitwise or k-bit "
                "run folder or a .bwir file with an input coding (the golden engine runs IR)"
            )
        path = path / "model.bwir"
    net = evaluate.load_coded_network(path)
    if net.output_width != features.N_BINS or net.coding.features != features.N_BINS:
        raise BitwaveError(
            f"{path}: reads {net.coding.features} features and writes {net.output_width} "
            f"mask bins; allowed: a mask estimator of {features.N_BINS} bins in and out"
        )
    return net


def golden_mask_function(net: ir.Network, progress: bool = True) -> evaluate.MaskFn:
    """eval's golden mask function, run in blocks of frames with a progress bar for long
    files. Only a feed-forward network is split (each frame's mask depends on that frame
    alone, so the blocks give the same bits); a recurrent one runs as one sequence."""
    mask_fn = evaluate.network_mask_function(net)

    def masks(magnitudes: np.ndarray) -> np.ndarray:
        frames = magnitudes.shape[0]
        block = frames if net.is_recurrent else BLOCK_FRAMES
        out = []
        with tqdm(total=frames, unit="frame", desc="golden",
                  disable=not progress or frames < PROGRESS_FRAMES) as bar:  # fmt: skip
            for start in range(0, frames, max(block, 1)):
                out.append(mask_fn(magnitudes[start : start + block]))
                bar.update(out[-1].shape[0])
        return np.concatenate(out)

    return masks


def enhance_audio(
    net: ir.Network, audio: np.ndarray, floor_db: float | None, progress: bool = True
) -> np.ndarray:
    """16 kHz mono audio enhanced by ``net`` through the golden model, gain floor in dB."""
    enhanced, _ = features.enhance(
        audio, golden_mask_function(net, progress), ir.floor_gain(floor_db)
    )
    return enhanced


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------
@dataclass
class Job:
    noisy: Path
    audio: np.ndarray
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
        job = Job(Path(path), read_audio(path), target)
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
    progress: bool = True, report: Callable[[str], None] = print,
) -> list[Path]:  # fmt: skip
    """Enhance every noisy file into ``out``; returns the written files. ``floor_db``: the
    model's own floor (default), None for none, or dB."""
    net = load_model(model)
    if floor_db == evaluate.MODEL_FLOOR:
        floor_db = net.mask_floor_db
    jobs = prepare(noisy, out, clean)
    floor_text = "none" if floor_db is None else f"{floor_db:g} dB"
    for job in tqdm(jobs, desc="enhance", unit="file", disable=not progress or len(jobs) < 2):
        enhanced = enhance_audio(net, job.audio, floor_db, progress)
        write_wav(job.out, enhanced)
        seconds = job.audio.size / SAMPLE_RATE
        report(f"wrote {job.out} ({seconds:.1f} s, mask floor {floor_text})")
        if job.clean is not None:
            report(_quality(job.audio, enhanced, job.clean))
    return [job.out for job in jobs]


def _quality(noisy: np.ndarray, enhanced: np.ndarray, clean: np.ndarray) -> str:
    """SI-SDR, STOI and PESQ of the noisy input and the enhanced output against the clean one:
    eval's figures (``evaluate.scores``)."""
    lines = []
    for label, audio in (("noisy   ", noisy), ("enhanced", enhanced)):
        s = evaluate.scores(audio, noisy, clean)
        lines.append(
            f"  {label}  SI-SDR {s['si_sdr']:6.2f} dB  STOI {s['stoi']:.3f}  PESQ {s['pesq']:.2f}"
        )
    return "\n".join(lines)
