"""`bitwave cost DESIGN` on a single- or memory-buffered design (generate --buffering single): the first
layer reads the deserializer's frame in place and the serializer cuts beats out of the last
layer's register, so neither copy of a frame is priced (measured on 2052-64-64-513 at
fc0:pe=1,simd=36;fc1:pe=1,simd=16;fc2:pe=1,simd=16, 1 MHz: estimate / synthesis area 0.94
double, 0.93 single; real-time power 0.92 both). With memory buffering the first layer takes
the beats into a RAM macro: no deserializer, no frame register, no slice register."""

import pytest

from bitwave.core import ir
from bitwave.core.contract import BUFFERING
from bitwave.core.random_ir import random_network
from bitwave.cost.engines import INPUT_BUFFER, INPUT_SLICE, estimate_design
from bitwave.hw.generate import generate

FOLD = "fc0:pe=2,simd=8;fc1:pe=2,simd=4"


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost_buffering")
    ir.save(random_network([48, 8, 20], seed=3, name="buf"), root / "m.bwir")
    for buffering in BUFFERING:
        generate(root / "m.bwir", root / buffering, clock_mhz=1.0, fold_spec=FOLD,
                 beat_bits=8, buffering=buffering)  # fmt: skip
    return {b: estimate_design(root / b).to_json() for b in BUFFERING}


def _block(estimate, name):
    return next(b for b in estimate["blocks"] if b["name"] == name)


def _parts(block):
    return {p["name"]: p for p in block["parts"]}


def test_the_first_layer_prices_no_input_copy(designs):
    double, single = (_parts(_block(designs[b], "fc0")) for b in ("double", "single"))
    assert INPUT_BUFFER in double and INPUT_BUFFER not in single
    assert INPUT_BUFFER in _parts(_block(designs["single"], "fc1"))  # only the first reads in place


def test_the_serializer_registers_only_its_beat_index(designs):
    double = _block(designs["double"], "serializer")
    single = _block(designs["single"], "serializer")
    beats = -(-20 // 8)
    assert single["flops"] == (beats - 1).bit_length()
    assert double["flops"] >= 20 + single["flops"]


def test_single_buffering_saves_exactly_the_two_copies(designs):
    double, single = designs["double"], designs["single"]
    first = _parts(_block(double, "fc0"))[INPUT_BUFFER]["area_um2"]
    framing = _block(double, "serializer")["area_um2"] - _block(single, "serializer")["area_um2"]
    assert single["area_um2"] == pytest.approx(double["area_um2"] - first - framing)
    assert single["leakage_w"] < double["leakage_w"]


def test_memory_buffering_prices_a_frame_ram_instead_of_the_deserializer(designs):
    memory = designs["memory"]
    names = [b["name"] for b in memory["blocks"]]
    assert "deserializer" not in names and "deserializer" in [
        b["name"] for b in designs["single"]["blocks"]
    ]
    first = _parts(_block(memory, "fc0"))
    assert INPUT_BUFFER not in first and INPUT_SLICE not in first
    ram = first["input frame RAM (macro)"]
    assert ram["area_um2"] > 0 and ram["leakage_w"] > 0 and ram["frame_j"] > 0  # written a frame
    assert INPUT_SLICE in _parts(_block(designs["single"], "fc0"))  # 48 / 8: six synapse folds
    single_serializer = _block(designs["single"], "serializer")
    assert _block(memory, "serializer")["flops"] == single_serializer["flops"]
