"""The built-in data set: synthetic speech (eSpeak, and Piper voices with ``speech_sources``)
+ procedural noise, mixed at random SNRs.

Everything is derived from ``config.seed``: utterance i of split s uses its own generator
seeded with (seed, s, i), so the data set is identical from run to run and machine to
machine (given the same eSpeak data). Splits:

- ``train``: training speakers, ``train_noises``.
- ``valid``: the same speakers and noise types, other sentences and noise instances.
- ``test``: unseen speakers (no shared voice/variant pair), ``train_noises`` +
  ``heldout_noises`` as new instances; babble uses a separate group of talkers per side.

With ``reverb``, ``channel`` or ``level_drift_db`` on (``acoustics.py``), each utterance also
draws its room, channel and level curve from its own streams (seeded with (seed, split, i,
part)), so the speech, noise and SNR of utterance i do not change when they are switched.

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
from bitwave.models.data import acoustics
from bitwave.models.data import dataset as dataset_io
from bitwave.models.data.audio import SAMPLE_RATE
from bitwave.models.data.config import DataConfig
from bitwave.models.data.dataset import Dataset, Mixture
from bitwave.models.data.noise import make_noise
from bitwave.models.data.sentences import make_sentence
from bitwave.models.data.speech import (
    PiperSpeaker,
    Speaker,
    available_voice_pairs,
    espeak_version,
    piper_version,
    speaker_split,
    synthesize,
)

# Bump when the generated audio changes for the same config (invalidates old caches).
GENERATOR_VERSION = 2
BABBLE_TALKERS = 8  # per side (train/valid and test), disjoint from the speech speakers
BABBLE_CLIPS = 24
SPEECH_SOURCE = "espeak"  # the synthesizer of caches from before Mixture.source existed
_ACOUSTICS = 20  # seed-sequence tag of the acoustic-realism streams
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
    if config.reverb.probability:  # the simulated rooms depend on the simulator's version
        content["pyroomacoustics"] = acoustics.simulator_version()
    if "piper" in config.speech_sources:  # Piper's audio depends on the runtime and the voices
        content["piper"] = piper_version()
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def mix_gains(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, level_db: float | None = None
) -> tuple[float, float]:
    """(speech gain, noise gain) that put the noise ``snr_db`` below the speech (RMS) and,
    with ``level_db``, the speech RMS at ``level_db`` dBFS."""
    clean_rms = np.sqrt(np.mean(np.square(clean, dtype=np.float64)))
    noise_rms = np.sqrt(np.mean(np.square(noise, dtype=np.float64)))
    if clean_rms == 0 or noise_rms == 0:
        raise BitwaveError("cannot mix at an SNR: the speech or the noise is silent")
    speech_gain = 1.0
    if level_db is not None:
        speech_gain = 10 ** (level_db / 20) / clean_rms
        clean_rms = 10 ** (level_db / 20)
    return speech_gain, clean_rms / noise_rms / 10 ** (snr_db / 20)


def _unclipped(clean: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled down together if their sum would clip; float32."""
    peak = np.abs(clean + noise).max()
    if peak > 0.99:
        clean, noise = clean * (0.99 / peak), noise * (0.99 / peak)
    return clean.astype(np.float32), noise.astype(np.float32)


def mix_at_snr(
    clean: np.ndarray, noise: np.ndarray, snr_db: float, level_db: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scale noise to ``snr_db`` below the clean signal (RMS), optionally set the speech RMS
    level to ``level_db`` dBFS, and scale both down together if the sum would clip."""
    clean = np.asarray(clean, np.float64)
    noise = np.asarray(noise, np.float64)
    speech_gain, noise_gain = mix_gains(clean, noise, snr_db, level_db)
    if level_db is not None:
        clean = clean * speech_gain
    return _unclipped(clean, noise * noise_gain)


def realistic_mix(
    config: DataConfig, stream: tuple[int, ...], dry: np.ndarray, noise: np.ndarray,
    snr_db: float, level_db: float,
) -> tuple[np.ndarray, np.ndarray, acoustics.Applied]:  # fmt: skip
    """(target, interference, what was applied): ``dry`` speech with level drift, in a room
    and through a channel as ``config`` asks, mixed with ``noise`` at ``snr_db`` (reverberant
    speech over noise, before the channel). ``stream`` seeds the draws (one stream per part)."""
    rooms, channels, levels = (
        np.random.default_rng(np.random.SeedSequence([config.seed, *stream, _ACOUSTICS, part]))
        for part in range(3)
    )
    speech = np.asarray(dry, np.float64)
    if config.level_drift_db:
        speech = speech * acoustics.level_curve(levels, speech.size, config.level_drift_db)
    early, late, rt60 = speech, np.zeros_like(speech), float("nan")
    if rooms.uniform() < config.reverb.probability:
        rt60 = float(rooms.uniform(*config.reverb.rt60_s))
        early, late = acoustics.reverberate(speech, *acoustics.room_impulse_response(rooms, rt60))
    speech_gain, noise_gain = mix_gains(early + late, noise, snr_db, level_db)
    target = early * speech_gain
    interference = late * speech_gain + np.asarray(noise, np.float64) * noise_gain
    coloured = bool(channels.uniform() < config.channel.probability)
    if coloured:
        sos = acoustics.channel_filter(channels, config.channel.eq_db)
        target, interference = acoustics.colour(sos, target, interference)
    return *_unclipped(target, interference), acoustics.Applied(rt60, coloured)


def _utterance(
    config: DataConfig, rng: np.random.Generator, speakers: list[Speaker | PiperSpeaker],
    index: int,
) -> tuple[Speaker | PiperSpeaker, str, np.ndarray]:  # fmt: skip
    """Utterance ``index`` of a split: the sources of ``speakers`` take turns (so each has its
    share of utterances), then one of that source's speakers is drawn."""
    present = [name for name in config.speech_sources if any(s.source == name for s in speakers)]
    turn = present[index % len(present)]
    speakers = [s for s in speakers if s.source == turn]
    speaker = speakers[rng.integers(len(speakers))]
    text = make_sentence(rng, config.max_words)
    audio = synthesize(text, speaker)[: int(config.max_seconds * SAMPLE_RATE)]
    return speaker, text, audio


def _babble_pool(
    config: DataConfig, stream: str, talkers: list[Speaker | PiperSpeaker]
) -> list[np.ndarray]:
    rng = _rng(config, stream)
    return [_utterance(config, rng, talkers, clip)[2] for clip in range(BABBLE_CLIPS)]


def _make_split(
    config: DataConfig, split: str, count: int, speakers: list[Speaker | PiperSpeaker],
    noises: tuple[str, ...], pool: list[np.ndarray], progress: tqdm,
) -> list[Mixture]:  # fmt: skip
    mixtures = []
    for i in range(count):
        rng = _rng(config, split, i)
        speaker, text, clean = _utterance(config, rng, speakers, i)
        # Noise types cycle so that every type is equally represented in every split.
        kind = noises[i % len(noises)]
        snr = float(rng.uniform(*config.snr_db))
        level = float(rng.uniform(*config.level_db))
        noise = make_noise(kind, rng, clean.size, pool)
        applied = acoustics.Applied()
        if config.realism:
            code = (_SPLIT_CODES[split], i)
            clean, noise, applied = realistic_mix(config, code, clean, noise, snr, level)
        else:
            clean, noise = mix_at_snr(clean, noise, snr, level)
        mixtures.append(Mixture(f"{split}_{i:05d}", clean, noise, speaker.name, kind, snr, text,
                                speaker.source, applied.rt60_s, applied.channel))  # fmt: skip
        progress.update(1)
    return mixtures


def speaker_groups(config: DataConfig) -> dict[str, list[Speaker | PiperSpeaker]]:
    """The disjoint speaker groups of a data set (drawn, not synthesized: cheap)."""
    counts = {"train": config.train_speakers, "test": config.test_speakers,
              "babble_train": BABBLE_TALKERS, "babble_test": BABBLE_TALKERS}  # fmt: skip
    return speaker_split(_rng(config, "speakers"), counts, config.speech_sources)


def seen_test_talkers(trained_on: DataConfig, tested_on: DataConfig) -> list[str]:
    """The test talkers of ``tested_on`` that speak in the training split of ``trained_on``
    (both built-in): an evaluation on another data set is on unseen speakers only if this is
    empty."""
    heard = {s.talker for s in speaker_groups(trained_on)["train"]}
    return sorted({s.talker for s in speaker_groups(tested_on)["test"]} & heard)


def generate(config: DataConfig, progress: bool = True) -> Dataset:
    """Build the built-in data set from scratch (no cache)."""
    groups = speaker_groups(config)
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
        **({"piper": piper_version()} if "piper" in config.speech_sources else {}),
        "speech_sources": list(config.speech_sources),
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
            for split in loaded.splits.values():  # caches from before source tags: all eSpeak
                for mixture in split:
                    if mixture.source == "unknown":
                        mixture.source = SPEECH_SOURCE
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
