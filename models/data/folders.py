"""Real data from folders of WAV files (any sample rate, mono; resampled to 16 kHz).

Two layouts are recognised in ``config.folder``:

1. **Paired** (VoiceBank+DEMAND style): sibling folders ``clean<suffix>`` and
   ``noisy<suffix>`` (e.g. ``clean_trainset_28spk_wav`` / ``noisy_trainset_28spk_wav``) with
   files of the same names. A suffix containing ``test`` makes a test pair, anything else a
   training pair; ``valid_fraction`` of the training files becomes the validation split.
   The noise is ``noisy - clean``; the speaker is the file name up to the first ``_``
   (``p232_001.wav`` -> ``p232``).
2. **Clean + noise**: folders ``clean/`` and ``noise/`` (or ``train/clean``, ``train/noise``,
   ``test/clean``, ``test/noise`` for explicit splits). Without explicit splits,
   ``test_fraction`` of the clean files and of the noise files (at least one of each) go to
   the test set, so test speech and test noise are unseen. Each clean file is mixed once with
   a noise file (cycled; a random segment, looped if short) at an SNR from ``snr_db``.

Unusable files (not WAV, several channels, an absurd sample rate, empty, silent, shorter than
one STFT frame) are skipped with a ``SkippedFileWarning`` naming each; a folder with nothing
usable is a BitwaveError.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import AudioFileError, SkippedFileWarning, read_wav
from bitwave.models.data.builtin import mix_at_snr
from bitwave.models.data.config import DataConfig
from bitwave.models.data.dataset import Dataset, Mixture

MIN_SAMPLES = 1024  # one STFT frame
LAYOUT_HELP = (
    "expected either paired folders clean<suffix>/ + noisy<suffix>/ (VoiceBank+DEMAND style, "
    "e.g. clean_testset_wav/ and noisy_testset_wav/), or clean/ + noise/ folders "
    "(optionally under train/ and test/)"
)


def _wav_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")


def _read_usable(path: Path) -> np.ndarray | None:
    """The file's audio, or None (with a warning naming the file) if it is unusable."""
    try:
        audio = read_wav(path)
    except AudioFileError as error:
        warnings.warn(f"skipping {error}", SkippedFileWarning, stacklevel=3)
        return None
    problem = None
    if audio.size < MIN_SAMPLES:
        problem = f"only {audio.size} samples at 16 kHz (need >= {MIN_SAMPLES})"
    elif not np.any(audio):  # no level to mix at an SNR, no mask to learn
        problem = "silent (every sample is zero)"
    if problem:
        warnings.warn(f"skipping {path}: {problem}", SkippedFileWarning, stacklevel=3)
        return None
    return audio


def _read_folder(folder: Path) -> list[tuple[Path, np.ndarray]]:
    files = _wav_files(folder)
    usable = [(p, a) for p in files if (a := _read_usable(p)) is not None]
    if not usable:
        raise BitwaveError(
            f"{folder}: no usable WAV files ({len(files)} .wav files found, all skipped)"
            if files
            else f"{folder}: contains no .wav files"
        )
    return usable


def _speaker(path: Path) -> str:
    return path.stem.split("_")[0]


def _measured_snr(clean: np.ndarray, noise: np.ndarray) -> float:
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    clean_power = float(np.mean(clean.astype(np.float64) ** 2))
    return (
        10 * math.log10(clean_power / noise_power)
        if noise_power > 0 and clean_power > 0
        else math.nan
    )


def _paired_dirs(root: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    for clean_dir in sorted(
        p for p in root.iterdir() if p.is_dir() and p.name.lower().startswith("clean")
    ):
        suffix = clean_dir.name[len("clean") :]
        noisy_dir = root / f"noisy{suffix}"
        if noisy_dir.is_dir():
            pairs.append((suffix, clean_dir, noisy_dir))
    return pairs


def _split_off(items: list, fraction: float, rng: np.random.Generator) -> tuple[list, list]:
    """(rest, chosen): a deterministic random ``fraction`` of items (at least one if any is
    asked for and two or more exist)."""
    if fraction <= 0 or len(items) < 2:
        return items, []
    count = min(len(items) - 1, max(1, round(len(items) * fraction)))
    chosen = set(rng.permutation(len(items))[:count].tolist())
    return [x for i, x in enumerate(items) if i not in chosen], [
        x for i, x in enumerate(items) if i in chosen
    ]


def load_paired(root: Path, config: DataConfig) -> Dataset:
    pairs = _paired_dirs(root)
    if not pairs:
        raise BitwaveError(f"{root}: no clean*/noisy* folder pairs; {LAYOUT_HELP}")
    splits: dict[str, list[Mixture]] = {"train": [], "valid": [], "test": []}
    for suffix, clean_dir, noisy_dir in pairs:
        split = "test" if "test" in suffix.lower() else "train"
        noisy_files = {p.relative_to(noisy_dir): p for p in _wav_files(noisy_dir)}
        for clean_path, clean in _read_folder(clean_dir):
            rel = clean_path.relative_to(clean_dir)
            if rel not in noisy_files:
                warnings.warn(
                    f"skipping {clean_path}: no matching {noisy_dir / rel}",
                    SkippedFileWarning,
                    stacklevel=2,
                )
                continue
            noisy = _read_usable(noisy_files[rel])
            if noisy is None:
                continue
            n = min(clean.size, noisy.size)
            noise = noisy[:n] - clean[:n]
            splits[split].append(
                Mixture(f"{split}_{rel.with_suffix('').as_posix()}", clean[:n], noise, _speaker(rel),
                        "unknown", _measured_snr(clean[:n], noise), source="folder")
            )  # fmt: skip
    if not any(splits.values()):
        raise BitwaveError(f"{root}: no usable clean/noisy file pairs")
    rng = np.random.default_rng(config.seed)
    splits["train"], splits["valid"] = _split_off(splits["train"], config.valid_fraction, rng)
    return Dataset(root.name, splits, {"source": "paired", "folder": str(root)})


def _mix_folder(
    split: str, clean_files: list[tuple[Path, np.ndarray]], noise_files: list[tuple[Path, np.ndarray]],
    config: DataConfig, stream: int,
) -> list[Mixture]:  # fmt: skip
    mixtures = []
    for i, (path, clean) in enumerate(clean_files):
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, stream, i]))
        noise_path, noise = noise_files[i % len(noise_files)]
        if noise.size < clean.size:  # loop short noise recordings
            noise = np.tile(noise, clean.size // noise.size + 1)
        start = int(rng.integers(0, noise.size - clean.size + 1))
        snr = float(rng.uniform(*config.snr_db))
        try:
            mixed_clean, mixed_noise = mix_at_snr(clean, noise[start : start + clean.size], snr)
        except BitwaveError as error:  # e.g. a silent stretch of the noise recording
            warnings.warn(
                f"skipping {path} mixed with {noise_path}: {error}",
                SkippedFileWarning,
                stacklevel=2,
            )
            continue
        mixtures.append(
            Mixture(
                f"{split}_{path.stem}",
                mixed_clean,
                mixed_noise,
                _speaker(path),
                noise_path.stem,
                snr,
                source="folder",
            )
        )
    return mixtures


def load_clean_noise(root: Path, config: DataConfig) -> Dataset:
    rng = np.random.default_rng(config.seed)
    if (root / "train" / "clean").is_dir() or (root / "test" / "clean").is_dir():
        sides = {}
        for side in ("train", "test"):
            if (root / side / "clean").is_dir():
                if not (root / side / "noise").is_dir():
                    raise BitwaveError(
                        f"{root / side}: has clean/ but no noise/ folder; {LAYOUT_HELP}"
                    )
                sides[side] = (
                    _read_folder(root / side / "clean"),
                    _read_folder(root / side / "noise"),
                )
        train_clean, train_noise = sides.get("train", ([], []))
        test_clean, test_noise = sides.get("test", ([], []))
    else:
        clean, noise = _read_folder(root / "clean"), _read_folder(root / "noise")
        train_clean, test_clean = _split_off(clean, config.test_fraction, rng)
        train_noise, test_noise = _split_off(noise, config.test_fraction, rng)
    train_clean, valid_clean = _split_off(train_clean, config.valid_fraction, rng)
    splits = {
        "train": _mix_folder("train", train_clean, train_noise, config, 1) if train_noise else [],
        "valid": _mix_folder("valid", valid_clean, train_noise, config, 2) if train_noise else [],
        "test": _mix_folder("test", test_clean, test_noise, config, 3) if test_noise else [],
    }
    return Dataset(root.name, splits, {"source": "clean+noise", "folder": str(root)})


def load_folder(config: DataConfig) -> Dataset:
    """Load ``config.folder`` in whichever supported layout it has."""
    root = Path(str(config.folder)).expanduser()
    if not root.is_dir():
        raise BitwaveError(f"data folder {root} does not exist or is not a folder")
    if _paired_dirs(root):
        return load_paired(root, config)
    if (root / "clean").is_dir() and (root / "noise").is_dir():
        return load_clean_noise(root, config)
    if any((root / side / "clean").is_dir() for side in ("train", "test")):
        return load_clean_noise(root, config)
    raise BitwaveError(f"{root}: unrecognised layout; {LAYOUT_HELP}")
