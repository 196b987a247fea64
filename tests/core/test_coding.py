"""Input coding: Lloyd-Max fit and the documented MSB-first bit-plane layout."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.core.coding import decode, encode, fit_lloyd_max
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BitplaneCodingSpec


def test_lloyd_max_beats_uniform_quantization_on_skewed_data():
    x = np.random.default_rng(0).exponential(1.0, size=(20000, 1))
    coding = fit_lloyd_max(x, bits=4)
    lloyd = np.mean((decode(coding, encode(coding, x)) - x) ** 2)
    edges = np.linspace(x.min(), x.max(), 17)
    centres = 0.5 * (edges[:-1] + edges[1:])
    uniform = np.mean((centres[np.clip(np.digitize(x, edges[1:-1]), 0, 15)] - x) ** 2)
    assert lloyd < 0.7 * uniform  # measured 0.55 on this data
    assert np.all(np.diff(coding.boundaries[0]) >= 0)


def test_bitplanes_are_msb_first_and_feature_major():
    coding = BitplaneCodingSpec(2, 3, np.arange(1, 8, dtype=np.float64)[None, :])
    bits = encode(coding, np.array([[5.0, 2.5]]))  # levels 5 (101) and 2 (010)
    assert bits.tolist() == [[1, 0, 1, 0, 1, 0]]
    assert encode(coding, np.array([[-9.0, 99.0]])).tolist() == [[0, 0, 0, 1, 1, 1]]


def test_per_feature_boundaries_differ_per_feature():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(0, 1, 5000), rng.normal(10, 5, 5000)], axis=1)
    coding = fit_lloyd_max(x, bits=2, per_feature=True)
    assert coding.boundaries.shape == (2, 3)
    assert coding.boundaries[1, 1] > coding.boundaries[0, 1] + 5


@pytest.mark.parametrize(
    ("features", "bits", "message"),
    [(np.zeros((1, 3)), 4, "frames >= 2"), (np.zeros((10, 3)), 9, "bits must be 1..8"),
     (np.full((10, 3), np.nan), 4, "NaN")],
)  # fmt: skip
def test_fit_rejects_bad_input(features, bits, message):
    with pytest.raises(BitwaveError, match=message):
        fit_lloyd_max(features, bits=bits)
