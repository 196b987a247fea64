"""Component testbenches for single generated blocks (bitwave.sim.blocks, tb_neuron, tb_mvtu,
tb_mvu) and their directed vectors (bitwave.sim.vectors); hw writes the block folders
(bitwave.hw.blocks), sim verifies them."""

import shutil

import numpy as np
import pytest

from bitwave.core import golden, ir
from bitwave.core.random_ir import random_network
from bitwave.hw.blocks import write_layer_block, write_neuron
from bitwave.sim.blocks import verify_layer_block, verify_neuron
from bitwave.sim.mutation import Mutation, apply
from bitwave.sim.vectors import block_frames, frame_with_acc

HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
pytestmark = pytest.mark.usefixtures("shared_build_cache")
needs_icarus = pytest.mark.skipif(
    not HAVE_ICARUS,
    reason="Icarus Verilog (iverilog) is not installed: apt-get install -y iverilog",
)


def test_directed_frames_hit_their_accumulator_targets():
    rng = np.random.default_rng(0)
    binary = random_network([50, 4], seed=1).layers[0]
    for target in (0, 1, 25, 49, 50):
        x = frame_with_acc(binary, 2, target, rng)
        assert golden.dense_acc(binary, x[None])[0, 2] == target
    assert frame_with_acc(binary, 2, 51, rng) is None
    kbit = random_network([20, 3], wbits=3, abits=2, in_bits=3, seed=2).layers[0]
    hits = 0
    for target in range(-10, 11):
        x = frame_with_acc(kbit, 1, target, rng)
        if x is not None:
            hits += 1
            assert golden.dense_acc(kbit, x[None])[0, 1] == target
    assert hits >= 15


def test_block_frames_put_every_neuron_on_its_thresholds():
    layer = random_network([40, 6], abits=2, seed=3).layers[0]
    acc = golden.dense_acc(layer, block_frames(layer, 0, 0, "mvtu"))
    for m in range(layer.out_width):
        for t in layer.thresholds[m]:
            assert {t - 1, t, t + 1} & set(range(41)) <= set(acc[:, m])


@needs_icarus
def test_mvtu_block(tmp_path):
    layer = random_network([37, 11], abits=2, seed=3, name="m").layers[0]
    design = write_layer_block(layer, tmp_path / "mvtu", pe=3, simd=8)
    result = verify_layer_block(design, sim="icarus", random_vectors=10)
    assert result["passed"], result
    assert result["vectors"] > 10  # directed frames were added
    # a threshold off by one is always caught: the directed frames sit on every threshold
    mutated = apply(ir.load(design / "model.bwir"), Mutation("threshold", 0, 4, 1, 1))
    ir.save(mutated, tmp_path / "b.bwir")
    failed = verify_layer_block(
        design, sim="icarus", random_vectors=3, reference=tmp_path / "b.bwir"
    )
    assert not failed["passed"] and failed["first_mismatch"]["index"] == 4


@needs_icarus
def test_kbit_mvu_block_with_memory_weights(tmp_path):
    layer = random_network([13, 6], wbits=3, abits=2, in_bits=3, seed=4, name="k").layers[0]
    design = write_layer_block(layer, tmp_path / "mvu", pe=2, simd=4, weight_storage="memory")
    result = verify_layer_block(design, sim="icarus", random_vectors=10)
    assert result["passed"], result
    assert result["weights_loaded"] > 0 and result["weight_layout_error"] is None


@pytest.mark.parametrize("sim", [pytest.param("icarus", marks=needs_icarus), "verilator"])
def test_neuron_block(tmp_path, sim):
    layer = random_network([64, 1], seed=5, name="n").layers[0]
    design = write_neuron(layer, tmp_path / "neuron")
    result = verify_neuron(design, sim=sim, random_vectors=300, fast_build=True)
    assert result["passed"] and result["frames"] > 300
    # threshold +1 and -1: the edge vectors alone catch both
    for delta in (1, -1):
        mutated = apply(ir.load(design / "model.bwir"), Mutation("threshold", 0, 0, 0, delta))
        ir.save(mutated, tmp_path / "b.bwir")
        failed = verify_neuron(
            design, sim=sim, random_vectors=0, reference=tmp_path / "b.bwir", fast_build=True
        )
        assert not failed["passed"] and failed["mismatches"] >= 1
