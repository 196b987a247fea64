"""bitwave.core.wav: the chip's int16 samples from float audio and from WAV files."""

import numpy as np

from bitwave.core.wav import pcm16, read_pcm16, write_wav


def test_pcm16_rounds_and_clips():
    audio = np.array([0.0, 0.5, -1.0, 1.0, -2.0, 1.5 / 32768, 32767.4 / 32768])
    assert pcm16(audio).tolist() == [0, 16384, -32768, 32767, -32768, 2, 32767]
    assert pcm16(audio).dtype == np.int16


def test_a_16_bit_file_comes_back_sample_for_sample(tmp_path):
    pcm = np.array([0, 1, -1, 12345, -32768, 32767], np.int16)
    write_wav(tmp_path / "x.wav", pcm / 32767.0)  # the writer scales by 32767
    back = read_pcm16(tmp_path / "x.wav")
    from scipy.io import wavfile

    assert np.array_equal(back, wavfile.read(tmp_path / "x.wav")[1])


def test_write_pcm16_keeps_every_sample(tmp_path):
    from bitwave.core.wav import write_pcm16

    pcm = np.array([0, 1, -1, 32767, -32768], np.int16)
    write_pcm16(tmp_path / "y.wav", pcm)
    assert np.array_equal(read_pcm16(tmp_path / "y.wav"), pcm)
