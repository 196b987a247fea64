"""Stream framing of the generated-design contract (bitwave.sim.framing)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core.errors import BitwaveError
from bitwave.sim.framing import StreamFormat, beats_to_frame, frames_to_beats


def fmt(elements, element_bits, bits_per_beat):
    beats = -(-elements * element_bits // bits_per_beat)
    return StreamFormat("d", "v", "r", bits_per_beat, beats, element_bits, elements)


def test_layout_matches_the_contract():
    # 3 elements of 2 bits in 4-bit beats: frame bits = e0 (bits 0-1), e1 (2-3), e2 (4-5)
    f = fmt(3, 2, 4)
    beats = frames_to_beats(np.array([[1, 2, 3]]), f)[0]
    assert beats == [0b1001, 0b0011]  # beat 0 = e1:e0 = 10:01, beat 1 = padding 00 : e2 = 11


def test_bipolar_frame_bit_i_is_data_bit_i_mod_beat():
    bits = np.array([[1, 0, 0, 1, 1]])
    beats = frames_to_beats(bits, fmt(5, 1, 2))[0]
    assert beats == [0b01, 0b10, 0b01]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_round_trip(elements, element_bits, beat, seed):
    f = fmt(elements, element_bits, beat)
    codes = np.random.default_rng(seed).integers(0, 2**element_bits, size=(3, elements))
    for frame, beats in zip(codes, frames_to_beats(codes, f), strict=True):
        assert len(beats) == f.beats_per_frame
        assert all(0 <= b < 2**beat for b in beats)
        np.testing.assert_array_equal(beats_to_frame(beats, f), frame)


def test_manifest_with_wrong_beat_count_is_refused():
    spec = {
        "data": "d",
        "valid": "v",
        "ready": "r",
        "bits_per_beat": 8,
        "beats_per_frame": 2,
        "element_bits": 1,
        "elements": 20,
    }
    with pytest.raises(BitwaveError, match="need 3 beats per frame"):
        StreamFormat.from_manifest(spec, "input_stream")


def test_codes_that_do_not_fit_are_refused():
    with pytest.raises(BitwaveError, match="fit 2 bits"):
        frames_to_beats(np.array([[4]]), fmt(1, 2, 8))
