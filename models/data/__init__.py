"""bitwave.models.data: speech-enhancement data that works offline.

Entry point::

    from bitwave.models.data import DataConfig, build_dataset
    dataset = build_dataset({"preset": "demo", "seed": 0})   # or a DataConfig, or None
    for mixture in dataset.train:                             # also .valid, .test
        mixture.noisy, mixture.clean, mixture.noise           # float32, 16 kHz, same length
        mixture.speaker, mixture.noise_type, mixture.snr_db, mixture.text, mixture.id
        mixture.source, mixture.rt60_s, mixture.channel      # where it comes from, acoustics

- Built-in data (default): eSpeak NG speech (``speech.py``, ``sentences.py``) mixed with
  ten procedural noise types (``noise.py``) at SNRs from ``snr_db`` (``builtin.py``); test
  speakers and one noise type (``engine``) are unseen in training; cached on disk by a hash
  of the generation parameters.
- Acoustic realism, off by default (``acoustics.py``): ``reverb`` (simulated rooms; the
  target is the direct path + early reflections), ``channel`` colouring, ``level_drift_db``.
- Real data: ``{"folder": PATH}`` loads a VoiceBank+DEMAND-style paired folder or clean/ +
  noise/ folders (``folders.py``).
- ``DataConfig`` (``config.py``) documents every key; ``Dataset``/``Mixture`` are in
  ``dataset.py``; WAV input/output and resampling in ``audio.py``.
"""

from __future__ import annotations

from typing import Any

from bitwave.models.data.audio import (
    SAMPLE_RATE,
    AudioFileError,
    SkippedFileWarning,
    read_wav,
    write_wav,
)
from bitwave.models.data.config import PRESETS, DataConfig
from bitwave.models.data.dataset import SPLITS, Dataset, Mixture
from bitwave.models.data.noise import NOISE_TYPES


def build_dataset(
    config: DataConfig | dict[str, Any] | None = None, progress: bool = True
) -> Dataset:
    """The data set described by ``config`` (a DataConfig, the ``data:`` mapping of a bitwave
    config, or None for the built-in demo set)."""
    if not isinstance(config, DataConfig):
        config = DataConfig.from_dict(config)
    if config.folder:
        from bitwave.models.data.folders import load_folder

        return load_folder(config)
    from bitwave.models.data.builtin import build_builtin

    return build_builtin(config, progress=progress)


__all__ = [
    "NOISE_TYPES", "PRESETS", "SAMPLE_RATE", "SPLITS", "AudioFileError", "DataConfig", "Dataset",
    "Mixture", "SkippedFileWarning", "build_dataset", "read_wav", "write_wav",
]  # fmt: skip
