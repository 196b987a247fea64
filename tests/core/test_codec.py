"""Bit packing of frames (bitwave.core.codec) and the stream framing of the design contract."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core import codec
from bitwave.core.contract import Stream
from bitwave.core.errors import BitwaveError


def fmt(elements, element_bits, bits_per_beat):
    return Stream.carrying(("d", "v", "r"), bits_per_beat, element_bits, elements)


def test_layout_matches_the_contract():
    # 3 elements of 2 bits in 4-bit beats: frame bits = e0 (bits 0-1), e1 (2-3), e2 (4-5)
    f = fmt(3, 2, 4)
    beats = f.to_beats(np.array([[1, 2, 3]]))[0]
    assert beats == [0b1001, 0b0011]  # beat 0 = e1:e0 = 10:01, beat 1 = padding 00 : e2 = 11


def test_bipolar_frame_bit_i_is_data_bit_i_mod_beat():
    bits = np.array([[1, 0, 0, 1, 1]])
    beats = fmt(5, 1, 2).to_beats(bits)[0]
    assert beats == [0b01, 0b10, 0b01]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_round_trip(elements, element_bits, beat, seed):
    f = fmt(elements, element_bits, beat)
    codes = np.random.default_rng(seed).integers(0, 2**element_bits, size=(3, elements))
    for frame, beats in zip(codes, f.to_beats(codes), strict=True):
        assert len(beats) == f.beats_per_frame
        assert all(0 <= b < 2**beat for b in beats)
        np.testing.assert_array_equal(f.to_frame(beats), frame)
        value = codec.frame_to_int(frame, element_bits)
        np.testing.assert_array_equal(codec.int_to_frame(value, elements, element_bits), frame)
        assert value == sum(b << (i * beat) for i, b in enumerate(beats))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(1, 5), st.integers(0, 8), st.integers(0, 2**32 - 1))
def test_bits_round_trip_with_padding(elements, element_bits, pad, seed):
    codes = np.random.default_rng(seed).integers(0, 2**element_bits, size=(4, elements))
    bits = codec.frames_to_bits(codes, element_bits, elements * element_bits + pad)
    assert (
        bits.shape == (4, elements * element_bits + pad)
        and not bits[:, elements * element_bits :].any()
    )
    np.testing.assert_array_equal(codec.bits_to_codes(bits, elements, element_bits), codes)


def test_codes_that_do_not_fit_are_refused():
    with pytest.raises(BitwaveError, match="fit 2 bits"):
        fmt(1, 2, 8).to_beats(np.array([[4]]))
    with pytest.raises(BitwaveError, match=r"shape \(frames, 3\)"):
        fmt(3, 1, 8).to_beats(np.zeros((2, 4), np.int64))


def test_compare_frames_names_the_first_mismatch_and_counts_missing_frames():
    expected = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    got = np.array([[1, 2, 3], [4, 0, 6]])
    found = codec.compare_frames(expected, got)
    assert found == {
        "mismatches": 1 + 3,
        "mismatched_frames": 1 + 1,
        "first_mismatch": {"frame": 1, "index": 1, "expected": 5, "got": 0},
    }
    assert codec.compare_frames(expected, expected)["mismatches"] == 0
