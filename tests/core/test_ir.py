"""The IR file format: round trips, and one clear error for each kind of damage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rewrite_ir

from bitwave.core import ir
from bitwave.core.errors import IRError
from bitwave.core.random_ir import random_network


@pytest.fixture
def net():
    return random_network([70, 33, 9], wbits=[1, 4], abits=[2, 1], seed=3, name="t")


@pytest.fixture
def saved(tmp_path, net):
    path = tmp_path / "t.bwir"
    ir.save(net, path)
    return path


def rewrite(src, dst, manifest_edit=None, arrays_edit=None, redeclare=False):
    return rewrite_ir(src, dst, manifest_edit, arrays_edit, redeclare)


def test_round_trip_preserves_everything(saved, net):
    loaded = ir.load(saved)
    assert loaded.sha256 == net.sha256
    assert [layer.op for layer in loaded.layers] == ["binary_dense", "int_dense"]
    for a, b in zip(loaded.layers, net.layers, strict=True):
        assert np.array_equal(a.weights, b.weights)
        assert np.array_equal(a.thresholds, b.thresholds)
        assert np.array_equal(a.direction, b.direction)
        assert a.out_type == b.out_type
    assert loaded.provenance["source"] == "random-ir"


def test_pack_unpack_round_trip_with_padding():
    bits = np.random.default_rng(0).integers(0, 2, size=(5, 131), dtype=np.uint8)
    words = ir.pack_bits(bits)
    assert words.shape == (5, 3) and words.dtype == np.uint64
    assert np.array_equal(ir.unpack_bits(words, 131), bits)
    assert not np.any(words[:, -1] >> np.uint64(131 - 128)), "padding bits must be zero"
    assert int(ir.pack_bits(np.eye(1, 64, 5, dtype=np.uint8))[0, 0]) == 1 << 5, (
        "bit i at bit i % 64"
    )


def test_hash_depends_on_content_not_provenance(net):
    other = random_network([70, 33, 9], wbits=[1, 4], abits=[2, 1], seed=3, name="t")
    other.provenance = {"note": "different"}
    assert other.sha256 == net.sha256
    other.layers[0].thresholds[0, 0] += 1
    assert other.sha256 != net.sha256


def set_version(m):
    m["version"] = 4


def drop_layers(m):
    del m["layers"]


def wrong_width(m):
    m["layers"][1]["in_width"] = 34


def unknown_op(m):
    m["layers"][0]["op"] = "conv2d"


def bad_type(m):
    m["input"]["width"] = "70"


DAMAGE = [
    (set_version, "version: unsupported version 4"),
    (drop_layers, "layers: missing field"),
    (wrong_width, "layers[1]: input is 34 x uint2, but the previous stage gives 33 x uint2"),
    (unknown_op, "layers[0].op: unknown op 'conv2d'"),
    (bad_type, "input.width: expected int, got str"),
]


@pytest.mark.parametrize(("edit", "message"), DAMAGE, ids=[d[0].__name__ for d in DAMAGE])
def test_manifest_damage_is_named(tmp_path, saved, edit, message):
    bad = rewrite(saved, tmp_path / "bad.bwir", manifest_edit=edit)
    with pytest.raises(IRError) as error:
        ir.load(bad)
    assert message in str(error.value)


def _shrink_thresholds(arrays):
    arrays["layers.0.thresholds"] = arrays["layers.0.thresholds"][:-1]


def _float_weights(arrays):
    arrays["layers.1.weights"] = arrays["layers.1.weights"].astype(np.float32)


@pytest.mark.parametrize(
    "change, message",
    [
        (_shrink_thresholds, r"layers\[0\]\.thresholds: expected shape \(33, 3\), got \(32, 3\)"),
        (_float_weights, r"layers\[1\]\.weights: expected dtype kind 'i', got float32"),
    ],
)
def test_array_that_disagrees_with_its_field_is_named(tmp_path, saved, change, message):
    """An array stored consistently with its declaration, but not what its field needs."""
    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=change, redeclare=True)
    with pytest.raises(IRError, match=message):
        ir.load(bad)


def test_undeclared_array_dtype_is_caught(tmp_path, saved):
    def to_int32(arrays):
        arrays["layers.0.direction"] = arrays["layers.0.direction"].astype(np.int32)

    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=to_int32)
    with pytest.raises(
        IRError, match=r"arrays\.layers\.0\.direction: declared \|i1 \[33\], file holds <i4 \[33\]"
    ):
        ir.load(bad)


def test_weight_out_of_range_is_named(tmp_path, saved):
    def too_big(arrays):
        arrays["layers.1.weights"][0, 0] = 9  # wbits=4 allows [-7, 7]

    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=too_big)
    with pytest.raises(
        IRError, match=r"layers\[1\]\.weights: 1 weights outside \[-7, 7\] for wbits=4"
    ):
        ir.load(bad)


def test_nonzero_padding_is_rejected(tmp_path, saved):
    def set_pad(arrays):
        arrays["layers.0.weights"][0, -1] |= np.uint64(1 << 63)

    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=set_pad)
    with pytest.raises(IRError, match="padding bits above bit 70 must be zero"):
        ir.load(bad)


def test_bad_direction_is_rejected(tmp_path, saved):
    def zero(arrays):
        arrays["layers.0.direction"][3] = 0

    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=zero)
    with pytest.raises(IRError, match=r"layers\[0\]\.direction: expected only \+1"):
        ir.load(bad)


def test_modified_content_fails_the_hash(tmp_path, saved):
    def flip(arrays):
        arrays["layers.0.weights"][0, 0] ^= np.uint64(1)

    bad = rewrite(saved, tmp_path / "bad.bwir", arrays_edit=flip)
    with pytest.raises(IRError, match="content hash mismatch"):
        ir.load(bad)


def test_truncated_file(tmp_path, saved):
    data = saved.read_bytes()
    bad = tmp_path / "trunc.bwir"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(IRError, match="truncated or not a zip archive"):
        ir.load(bad)


def test_corrupt_bytes_anywhere_never_give_a_different_network(tmp_path, saved, net):
    """A flipped byte either raises IRError or hit metadata (zip timestamps): never another
    exception, never a network with different content."""
    original = saved.read_bytes()
    caught = 0
    for position in range(0, len(original), max(1, len(original) // 60)):
        data = bytearray(original)
        data[position] ^= 0xFF
        bad = tmp_path / "corrupt.bwir"
        bad.write_bytes(bytes(data))
        try:
            assert ir.load(bad).sha256 == net.sha256
        except IRError:
            caught += 1
    assert caught >= 50


def test_not_an_ir(tmp_path):
    bad = tmp_path / "x.bwir"
    bad.write_text("hello")
    with pytest.raises(IRError, match="not a bitwave IR file"):
        ir.load(bad)
    with pytest.raises(IRError, match="no such IR file"):
        ir.load(tmp_path / "missing.bwir")


def test_save_refuses_invalid_network_and_writes_nothing(tmp_path, net):
    net.layers[0].direction[0] = 5
    target = tmp_path / "never.bwir"
    with pytest.raises(IRError, match="direction"):
        ir.save(net, target)
    assert list(tmp_path.iterdir()) == []


def test_coding_round_trip(tmp_path):
    from bitwave.core.coding import fit_lloyd_max

    features = np.abs(np.random.default_rng(1).standard_normal((400, 6)))
    net = random_network([24, 5], seed=1)
    net.coding = fit_lloyd_max(features, bits=4)
    ir.save(net, tmp_path / "c.bwir")
    loaded = ir.load(tmp_path / "c.bwir")
    assert np.array_equal(loaded.coding.boundaries, net.coding.boundaries)
    assert loaded.coding.features == 6 and loaded.coding.bits == 4
