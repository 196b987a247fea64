"""Audio files and sample rates for the data folders: the WAV reader and writer live in
``bitwave.core.wav`` (the chip's tools read audio too); this module adds the data folders'
warning for a skipped file.
"""

from __future__ import annotations

from bitwave.core.wav import (
    MAX_FILE_RATE,
    MIN_FILE_RATE,
    SAMPLE_RATE,
    AudioFileError,
    read_wav,
    resample,
    write_wav,
)

__all__ = [
    "MAX_FILE_RATE", "MIN_FILE_RATE", "SAMPLE_RATE", "AudioFileError", "SkippedFileWarning",
    "read_wav", "resample", "write_wav",
]  # fmt: skip


class SkippedFileWarning(UserWarning):
    """A data file was skipped; the message names it and says why."""
