"""bitwave.core.synthetic: the chip's default speech-like stimulus is deterministic, sized as
asked, voiced (most energy below 4 kHz) and not silent."""

import numpy as np

from bitwave.core.synthetic import speech_like


def test_speech_like_is_deterministic_sized_and_voiced():
    a, b = speech_like([768, 2000], seed=3), speech_like([768, 2000], seed=3)
    assert [u.size for u in a] == [768, 2000] and all(u.dtype == np.int16 for u in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], speech_like([2000], seed=4)[0])
    spectrum = np.abs(np.fft.rfft(a[1].astype(float))) ** 2
    low = spectrum[: len(spectrum) // 2].sum()  # below 4 kHz of the 8 kHz band
    assert low > 0.9 * spectrum.sum() and 8_000 < np.abs(a[1]).max() <= 16_000
