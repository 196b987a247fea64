"""Listening material for a data set: a few test mixtures per noise type as wav files, and a
spectrogram gallery (one noisy test mixture per noise type, plus its clean speech)."""

from __future__ import annotations

import os
from collections import defaultdict

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, sanitize_identifier
from bitwave.models.data.audio import write_wav
from bitwave.models.data.dataset import Dataset, Mixture


def _by_type(mixtures: list[Mixture], per_type: int) -> dict[str, list[Mixture]]:
    groups: dict[str, list[Mixture]] = defaultdict(list)
    for mixture in mixtures:
        if len(groups[mixture.noise_type]) < per_type:
            groups[mixture.noise_type].append(mixture)
    return dict(sorted(groups.items()))


def write_examples(dataset: Dataset, out: str | os.PathLike, per_type: int = 1) -> list[str]:
    """Write ``per_type`` test mixtures of every noise type as noisy/clean/noise wav files and
    ``noise_gallery.png``; returns the written file names (relative to ``out``)."""
    from bitwave.models.plots import Panel, spectrogram_grid

    if not 1 <= per_type <= 100:
        raise BitwaveError(f"examples per noise type must be 1..100, got {per_type}")
    written = []
    groups = _by_type(dataset.test, per_type)
    for kind, mixtures in groups.items():
        for mixture in mixtures:
            stem = f"{sanitize_identifier(kind)}_{sanitize_identifier(mixture.id)}"
            for part, audio in (
                ("noisy", mixture.noisy),
                ("clean", mixture.clean),
                ("noise", mixture.noise),
            ):
                name = f"{stem}_{part}.wav"
                write_wav(inside(out, "examples", name), audio)
                written.append(f"examples/{name}")
    panels = [
        Panel.of_audio(f"{kind} ({mixtures[0].snr_db:.1f} dB SNR)", mixtures[0].noisy)
        for kind, mixtures in groups.items()
    ]
    panels.append(
        Panel.of_audio("clean speech (of the first)", next(iter(groups.values()))[0].clean)
    )
    spectrogram_grid(
        inside(out, "noise_gallery.png"),
        panels,
        title=f"{dataset.name}: test mixtures by noise type",
    )
    written.append("noise_gallery.png")
    return written
