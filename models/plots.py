"""Spectrogram figures (matplotlib, Agg backend, written atomically as PNG).

``spectrogram_grid(path, panels)`` draws one panel per (title, image) pair: a magnitude
spectrogram (frames, 513) in dB, or a mask in [0, 1] when the title says so via
``Panel.mask``. Frequency runs 0-8 kHz upwards, time in seconds to the right.
``breakdown_plot(path, ...)`` draws evaluation results per noise type and against input SNR.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bitwave.core.paths import atomic_write
from bitwave.models.features import FRAME_RATE, magnitude, stft

DB_RANGE = (-80.0, 20.0)


@dataclass
class Panel:
    title: str
    image: np.ndarray  # (frames, bins): a magnitude, or a mask when ``mask`` is set
    mask: bool = False

    @classmethod
    def of_audio(cls, title: str, audio: np.ndarray) -> Panel:
        return cls(title, magnitude(stft(audio)))


def spectrogram_grid(
    path: str | os.PathLike, panels: Sequence[Panel], title: str = "", columns: int = 4
) -> None:
    """Save the panels as one PNG, ``columns`` per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    cols = min(columns, len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False, sharey=True)
    for axis in axes.flat[len(panels) :]:
        axis.axis("off")
    for axis, panel in zip(axes.flat, panels, strict=False):
        seconds = panel.image.shape[0] / FRAME_RATE
        if panel.mask:
            data, style = panel.image.T, {"vmin": 0.0, "vmax": 1.0, "cmap": "gray"}
        else:
            data = 20 * np.log10(np.maximum(panel.image.T, 1e-5))
            style = {"vmin": DB_RANGE[0], "vmax": DB_RANGE[1], "cmap": "magma"}
        axis.imshow(data, origin="lower", aspect="auto", extent=(0, seconds, 0, 8), **style)
        axis.set_title(panel.title, fontsize=10)
        axis.set_xlabel("time (s)")
    for row in axes:
        row[0].set_ylabel("frequency (kHz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=80)
    plt.close(fig)


def breakdown_plot(
    path: str | os.PathLike, mixtures: Sequence[Any], model_sdri: Sequence[float],
    oracle_sdri: Sequence[float], by_noise: dict[str, dict],
) -> None:  # fmt: skip
    """Two panels: mean SI-SDRi per noise type (model beside the oracle IBM, held-out types
    hatched) and every utterance's SI-SDRi against its input SNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(by_noise)
    x = np.arange(len(names))
    model = bars.bar(x - 0.2, [by_noise[n]["si_sdri"] for n in names], 0.4, label="model")
    bars.bar(x + 0.2, [by_noise[n]["oracle_si_sdri"] for n in names], 0.4, label="oracle IBM",
             color="lightgray")  # fmt: skip
    for patch, name in zip(model.patches, names, strict=True):
        if by_noise[name].get("heldout"):
            patch.set_hatch("//")
    labels = [f"{n}\n(held out)" if by_noise[n].get("heldout") else n for n in names]
    bars.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    bars.set_ylabel("SI-SDRi (dB)")
    bars.set_title("per noise type")
    bars.legend(fontsize=8)
    snr = [m.snr_db for m in mixtures]
    scatter.scatter(snr, oracle_sdri, s=10, color="lightgray", label="oracle IBM")
    scatter.scatter(snr, model_sdri, s=10, label="model")
    scatter.set_xlabel("input SNR (dB)")
    scatter.set_ylabel("SI-SDRi (dB)")
    scatter.set_title("per utterance")
    scatter.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=80)
    plt.close(fig)
