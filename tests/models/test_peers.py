"""The RNNoise peer (pyrnnoise): aligned output, its compute, its rows in the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.models import evaluate, peers
from bitwave.models.data import Mixture
from bitwave.models.data.speech import Speaker, synthesize

pytest.importorskip("pyrnnoise", reason="the RNNoise peer needs pyrnnoise")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synthesize("the peer listens now", Speaker("en", "m3", 50, 50, 170))


def _lag(output: np.ndarray, reference: np.ndarray, span: int = 400) -> int:
    """The shift of ``output`` against ``reference`` that correlates best (+: output late)."""
    lags = range(-span, span + 1)
    n = reference.size - 2 * span
    scores = [
        np.dot(output[span + lag : span + lag + n], reference[span : span + n]) for lag in lags
    ]
    return lags[int(np.argmax(scores))]


def test_rnnoise_output_is_aligned(speech, monkeypatch):
    out = peers.rnnoise_enhance(speech)
    assert out.dtype == np.float32 and out.shape == speech.shape
    assert not np.allclose(out, speech, atol=1e-3)  # it processes, it is not a pass-through
    assert _lag(out, speech) == 0
    # mutation twin: one frame less of delay compensation leaves the output late
    monkeypatch.setattr(peers, "RNNOISE_DELAY", peers.RNNOISE_FRAME)
    assert _lag(peers.rnnoise_enhance(speech), speech) == peers.RNNOISE_FRAME // 3


def test_rnnoise_compute_matches_its_published_network():
    # RNNoise 0.2 (rnnoise/torch/rnnoise/rnnoise.py): 65 features -> conv 3 taps -> 128 ->
    # conv 3 taps -> 384 -> three 384-unit GRUs -> dense 4x384 -> 32 gains (+ 1 VAD output).
    gru = 3 * 384 * 384
    published = 65 * 3 * 128 + 128 * 3 * 384 + 3 * (gru + gru) + 4 * 384 * 32 + 4 * 384
    peer = peers.rnnoise()
    assert peer.macs_per_frame == published
    assert peer.macs_per_second == pytest.approx(published * 100)


def _mixture(name: str, speech: np.ndarray, seed: int, **tags) -> Mixture:
    noise = np.random.default_rng(seed).standard_normal(speech.size).astype(np.float32)
    noise *= 0.5 * np.std(speech)
    return Mixture(name, speech, noise, noise_type="white", snr_db=6.0, **tags)


def test_eval_lists_the_peer_and_splits_by_source(speech):
    mixtures = [
        _mixture("a", speech, 0, source="espeak"),
        _mixture("b", speech, 1, source="espeak", rt60_s=0.4),
        _mixture("c", speech, 2, source="folder"),
    ]
    result = evaluate.evaluate(
        lambda mag: np.ones_like(mag), mixtures, progress=False, peers=[peers.rnnoise()]
    )
    row = result["peers"]["rnnoise"]
    assert row["macs_per_second"] == peers.rnnoise().macs_per_second
    assert row["si_sdri"] > 0.5  # white noise at 6 dB: RNNoise removes some
    by_source = result["by_source"]
    assert set(by_source) == {"espeak, dry", "espeak, reverberant", "folder, dry"}
    assert sum(e["utterances"] for e in by_source.values()) == len(mixtures)
    for key in ("si_sdri", "oracle_si_sdri", "rnnoise_si_sdri"):
        whole = row["si_sdri"] if key == "rnnoise_si_sdri" else result[
            "model" if key == "si_sdri" else "oracle_ibm"]["si_sdri"]  # fmt: skip
        parts = sum(e[key] * e["utterances"] for e in by_source.values()) / len(mixtures)
        assert parts == pytest.approx(whole)
    # STOI and PESQ per source: one utterance a group here, so each is that utterance's score
    for key, whole in (("stoi", result["model"]["stoi"]), ("noisy_pesq", result["noisy"]["pesq"]),
                       ("oracle_stoi", result["oracle_ibm"]["stoi"]), ("rnnoise_pesq", row["pesq"])):  # fmt: skip
        parts = sum(e[key] * e["utterances"] for e in by_source.values()) / len(mixtures)
        assert parts == pytest.approx(whole)
    assert {"stoi", "pesq", "noisy_stoi", "rnnoise_stoi"} <= set(result["by_snr"]["5 .. 10 dB"])
    md = evaluate.breakdown_md(result)
    assert (
        "| espeak, reverberant | 1 |" in md and "rnnoise PESQ" in md and "| 5 .. 10 dB | 3 |" in md
    )
    table = peers.peers_table({**result, "kind": "bitwise", "macs_per_second": 1.05e7})
    assert "| rnnoise |" in table and "288 MMAC/s" in table and "10.5 MMAC/s" in table


def test_missing_pyrnnoise_omits_the_row(monkeypatch):
    def unavailable():
        raise peers.PeerUnavailable("RNNoise needs the pyrnnoise package (no module)")

    monkeypatch.setattr(peers, "rnnoise", unavailable)
    found, notes = peers.available_peers()
    assert found == [] and notes == [
        "RNNoise row omitted: RNNoise needs the pyrnnoise package (no module)"
    ]
    result = {"noisy": {"stoi": 0.5, "pesq": 1.0}, "peer_notes": notes,
              "model": {"si_sdri": 1.0, "stoi": 0.6, "pesq": 1.1},
              "oracle_ibm": {"si_sdri": 9.0, "stoi": 0.9, "pesq": 2.0}}  # fmt: skip
    table = peers.peers_table(result)
    assert "rnnoise |" not in table and table.rstrip().endswith(notes[0])
