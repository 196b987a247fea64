"""The chip report's spectrogram plot: digital silence (an all-zero chip output, as a fully
masked clip gives) plots without numpy's divide-by-zero warning in the log."""

import warnings

import numpy as np

from bitwave.app.chip import Clip, spectrogram_plot


def test_silent_output_plots_without_warnings(tmp_path):
    rng = np.random.default_rng(0)
    noisy = (rng.standard_normal(8000) * 1000).astype(np.int16)
    clip = Clip("silence", noisy, np.zeros(8000, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectrogram_plot(tmp_path / "s.png", clip, np.zeros(8200, np.int16))
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
