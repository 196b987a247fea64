"""The data set type every loader returns, and its on-disk form.

A ``Dataset`` holds named splits (``train``, ``valid``, ``test``) of ``Mixture`` records:
time-aligned clean speech and noise at 16 kHz whose sum is the noisy input. Keeping the
noise (not only the noisy mixture) is what the ideal binary mask needs.

On disk (the cache of the built-in data) a data set is a folder with ``audio.npz`` (per
split: all clean signals concatenated, all noise signals concatenated, offsets) and
``dataset.json`` (per-mixture metadata and the data set's metadata), written last so that a
folder with ``dataset.json`` is complete.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write, write_text
from bitwave.models.data.audio import SAMPLE_RATE

SPLITS = ("train", "valid", "test")


@dataclass
class Mixture:
    """One noisy utterance: ``noisy = clean + noise`` (float32, 16 kHz, same length)."""

    id: str
    clean: np.ndarray
    noise: np.ndarray
    speaker: str = "unknown"
    noise_type: str = "unknown"
    snr_db: float = math.nan  # the SNR the mixture was made at (measured for paired data)
    text: str = ""
    source: str = "unknown"  # where the speech comes from: "espeak", "folder", ...
    rt60_s: float = math.nan  # the simulated room's RT60 (NaN: dry speech)
    channel: bool = False  # through a coloured microphone/channel response

    @property
    def reverberant(self) -> bool:
        return not math.isnan(self.rt60_s)

    @property
    def source_label(self) -> str:
        """The speech source and whether it is reverberant: the by-source evaluation groups."""
        return f"{self.source}, {'reverberant' if self.reverberant else 'dry'}"

    @property
    def noisy(self) -> np.ndarray:
        return self.clean + self.noise

    @property
    def seconds(self) -> float:
        return self.clean.size / SAMPLE_RATE

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "speaker": self.speaker,
            "noise_type": self.noise_type,
            "snr_db": None if math.isnan(self.snr_db) else round(float(self.snr_db), 4),
            "text": self.text,
            "samples": int(self.clean.size),
            "source": self.source,
            "rt60_s": None if math.isnan(self.rt60_s) else round(float(self.rt60_s), 4),
            "channel": self.channel,
        }


@dataclass
class Dataset:
    """Named splits of mixtures plus a description of where they came from."""

    name: str
    splits: dict[str, list[Mixture]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[Mixture]:
        """The mixtures of one split; a clear error when the split is missing or empty."""
        if name not in SPLITS:
            raise BitwaveError(f"unknown split {name!r}; allowed: {', '.join(SPLITS)}")
        mixtures = self.splits.get(name, [])
        if not mixtures:
            raise BitwaveError(f"data set {self.name!r} has no {name} mixtures")
        return mixtures

    @property
    def train(self) -> list[Mixture]:
        return self.split("train")

    @property
    def valid(self) -> list[Mixture]:
        return self.split("valid")

    @property
    def test(self) -> list[Mixture]:
        return self.split("test")

    def describe(self) -> dict[str, Any]:
        """Counts, hours, speakers and noise types per split (for logs and reports)."""
        out: dict[str, Any] = {"name": self.name}
        for name, mixtures in self.splits.items():
            out[name] = {
                "mixtures": len(mixtures),
                "seconds": round(sum(m.seconds for m in mixtures), 2),
                "speakers": len({m.speaker for m in mixtures}),
                "noise_types": dict(sorted(Counter(m.noise_type for m in mixtures).items())),
            }
            if any(m.reverberant or m.channel for m in mixtures):  # realism on: how much
                out[name]["reverberant"] = sum(m.reverberant for m in mixtures)
                out[name]["coloured_channel"] = sum(m.channel for m in mixtures)
        return out


def save(dataset: Dataset, folder: str | os.PathLike) -> None:
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {}
    for name, mixtures in dataset.splits.items():
        lengths = [m.clean.size for m in mixtures]
        arrays[f"{name}_offsets"] = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        arrays[f"{name}_clean"] = np.concatenate(
            [m.clean for m in mixtures] or [np.zeros(0)]
        ).astype(np.float32)
        arrays[f"{name}_noise"] = np.concatenate(
            [m.noise for m in mixtures] or [np.zeros(0)]
        ).astype(np.float32)
    with atomic_write(folder / "audio.npz", "wb") as handle:
        np.savez(handle, **arrays)
    meta = {
        "name": dataset.name,
        "metadata": dataset.metadata,
        "splits": {name: [m.meta() for m in mixtures] for name, mixtures in dataset.splits.items()},
    }
    write_text(folder / "dataset.json", json.dumps(meta, indent=1))


def load(folder: str | os.PathLike) -> Dataset:
    """Read a data set written by ``save``; BitwaveError if it is incomplete or corrupt."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "dataset.json").read_text())
        with np.load(folder / "audio.npz") as arrays:
            splits = {}
            for name, records in meta["splits"].items():
                offsets = arrays[f"{name}_offsets"]
                clean, noise = arrays[f"{name}_clean"], arrays[f"{name}_noise"]
                if len(offsets) != len(records) + 1 or offsets[-1] != clean.size:
                    raise ValueError(f"split {name} has inconsistent offsets")
                splits[name] = [
                    Mixture(
                        id=r["id"],
                        clean=clean[a:b],
                        noise=noise[a:b],
                        speaker=r["speaker"],
                        noise_type=r["noise_type"],
                        snr_db=math.nan if r["snr_db"] is None else float(r["snr_db"]),
                        text=r["text"],
                        source=r.get("source", "unknown"),  # absent in older caches
                        rt60_s=math.nan if r.get("rt60_s") is None else float(r["rt60_s"]),
                        channel=bool(r.get("channel", False)),
                    )
                    for r, a, b in zip(records, offsets[:-1], offsets[1:], strict=True)
                ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BitwaveError(f"{folder}: not a complete bitwave data set ({error})") from None
    return Dataset(meta["name"], splits, meta.get("metadata", {}))
