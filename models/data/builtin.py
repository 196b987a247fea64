"""The built-in data set: eSpeak speech + procedural noise, mixed at random SNRs.

Everything is derived from ``config.seed``: utterance i of split s uses its own generator
seeded with (seed, s, i), so the data set is identical from run to run and machine to
machine (given the same eSpeak data). Splits:

- ``train``: training speakers, ``train_noises``.
- ``valid``: the same speakers and noise types, other sentences and noise instances.
- ``test``: unseen speakers (no shared voice/variant pair), ``train_noises`` +
  ``heldout_noises`` as new instances; babble uses a separate group of talkers per side.

The result is cached under ``config.cache_root()/builtin-<hash>``, where the hash covers the
generation parameters, the generator version and the eSpeak version, so a rerun loads it in
well under a second and any change of parameters builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
from tqdm import tqdm

from bitwave.core.errors import BitwaveError
from bitwave.models.data import dataset as dataset_io
from bitwave.models.data.audio import SAMPLE_RATE
from bitwave.models.data.config import DataConfig
from bitwave.models.data.dataset import Dataset, Mixture
from bitwave.models.data.noise import make_noise
from bitwave.models.data.sentences import make_sentence
from bitwave.models.data.speech import (
    Speaker,
    available_voice_pairs,
    espeak_version,
    speaker_split,
    synthesize,
)

# Bump when the generated audio changes for the same config (invalidates old caches).
GENERATOR_VERSION = 2
BABBLE_TALKERS = 8  # per side (train/valid and test), disjoint from the speech speakers
BABBLE_CLIPS = 24
_SPLIT_CODES = {
    "train": 1,
    "valid": 2,
    "test": 3,
    "speakers": 10,
    "babble_train": 11,
    "babble_test": 12,
}


def _rng(config: DataConfig, stream: str, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([config.seed, _SPLIT_CODES[stream], index]))


def cache_key(config: DataConfig) -> str:
    content = {
        "generator": GENERATOR_VERSION,
        "espeak": espeak_version(),
        "voices": available_voice_pairs(),  # the speaker pool the seed draws from
        "config": config.content(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def mix_at_snr(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, level_db: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scale noise to ``snr_db`` below the clean signal (RMS), optionally set the speech RMS
    level to ``level_db`` dBFS, and scale both down together if the sum would clip."""
    clean = np.asarray(clean, np.float64)
    noise = np.asarray(noise, np.float64)
    clean_rms = np.sqrt(np.mean(clean**2))
    noise_rms = np.sqrt(np.mean(noise**2))
    if clean_rms == 0 or noise_rms == 0:
        raise BitwaveError("cannot mix at an SNR: the speech or the noise is silent")
    if level_db is not None:
        clean = clean * (10 ** (level_db / 20) / clean_rms)
        clean_rms = 10 ** (level_db / 20)
    noise = noise * (clean_rms / noise_rms / 10 ** (snr_db / 20))
    peak = np.abs(clean + noise).max()
    if peak > 0.99:
        clean, noise = clean * (0.99 / peak), noise * (0.99 / peak)
    return clean.astype(np.float32), noise.astype(np.float32)


def _utterance(
    config: DataConfig, rng: np.random.Generator, speakers: list[Speaker]
) -> tuple[Speaker, str, np.ndarray]:
    speaker = speakers[rng.integers(len(speakers))]
    text = make_sentence(rng, config.max_words)
    audio = synthesize(text, speaker)[: int(config.max_seconds * SAMPLE_RATE)]
    return speaker, text, audio


def _babble_pool(config: DataConfig, stream: str, talkers: list[Speaker]) -> list[np.ndarray]:
    rng = _rng(config, stream)
    return [_utterance(config, rng, talkers)[2] for _ in range(BABBLE_CLIPS)]


def _make_split(
    config: DataConfig, split: str, count: int, speakers: list[Speaker], noises: tuple[str, ...],
    pool: list[np.ndarray], progress: tqdm,
) -> list[Mixture]:  # fmt: skip
    mixtures = []
    for i in range(count):
        rng = _rng(config, split, i)
        speaker, text, clean = _utterance(config, rng, speakers)
        # Noise types cycle so that every type is equally represented in every split.
        kind = noises[i % len(noises)]
        snr = float(rng.uniform(*config.snr_db))
        level = float(rng.uniform(*config.level_db))
        noise = make_noise(kind, rng, clean.size, pool)
        clean, noise = mix_at_snr(clean, noise, snr, level)
        mixtures.append(Mixture(f"{split}_{i:05d}", clean, noise, speaker.name, kind, snr, text))
        progress.update(1)
    return mixtures


def generate(config: DataConfig, progress: bool = True) -> Dataset:
    """Build the built-in data set from scratch (no cache)."""
    groups = speaker_split(
        _rng(config, "speakers"),
        {
            "train": config.train_speakers,
            "test": config.test_speakers,
            "babble_train": BABBLE_TALKERS,
            "babble_test": BABBLE_TALKERS,
        },
    )
    total = config.train_utterances + config.valid_utterances + config.test_utterances
    with tqdm(
        total=total, desc="built-in data", unit="utt", disable=not progress, leave=False
    ) as bar:
        train_pool = _babble_pool(config, "babble_train", groups["babble_train"])
        test_pool = _babble_pool(config, "babble_test", groups["babble_test"])
        test_noises = config.train_noises + config.heldout_noises
        splits = {
            "train": _make_split(config, "train", config.train_utterances, groups["train"], config.train_noises, train_pool, bar),
            "valid": _make_split(config, "valid", config.valid_utterances, groups["train"], config.train_noises, train_pool, bar),
            "test": _make_split(config, "test", config.test_utterances, groups["test"], test_noises, test_pool, bar),
        }  # fmt: skip
    metadata = {
        "source": "builtin",
        "config": config.content(),
        "espeak": espeak_version(),
        "generator": GENERATOR_VERSION,
        "speakers": {name: [s.name for s in group] for name, group in groups.items()},
        "test_noises": list(test_noises),
        "heldout_noises": list(config.heldout_noises),
    }
    return Dataset("builtin", splits, metadata)


def build_builtin(config: DataConfig, progress: bool = True, use_cache: bool = True) -> Dataset:
    """The built-in data set, from the cache when it is there, generated (and cached) if not."""
    folder = config.cache_root() / f"builtin-{cache_key(config)}"
    if use_cache and (folder / "dataset.json").is_file():
        try:
            loaded = dataset_io.load(folder)
            loaded.metadata["cache"] = str(folder)
            return loaded
        except BitwaveError as error:
            warnings.warn(f"rebuilding the cached data set: {error}", stacklevel=2)
    built = generate(config, progress)
    if use_cache:
        try:
            dataset_io.save(built, folder)
        except OSError as error:
            warnings.warn(f"could not cache the data set in {folder}: {error}", stacklevel=2)
    built.metadata["cache"] = str(folder) if use_cache else None
    return built
