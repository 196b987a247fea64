"""bitwave verify on designs from the generator (bitwave.hw.generate) of several shapes, on
both simulators, and the mutation tests: a design built from IR A checked against IR B (one
weight flipped, one threshold off by one) must fail with the mismatch reported."""

import shutil

import numpy as np
import pytest

from bitwave.core import golden, ir
from bitwave.core.random_ir import random_network
from bitwave.sim.mutation import effective_mutation
from bitwave.sim.verify import VerifyOptions, random_inputs, verify

generate = pytest.importorskip("bitwave.hw.generate").generate

HAVE_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
pytestmark = pytest.mark.usefixtures("shared_build_cache")
NO_ICARUS = "Icarus Verilog (iverilog) is not installed: apt-get install -y iverilog"
VECTORS = 30

# name: (network, fold spec, weight storage, beat bits)
SHAPES = {
    # binary, odd widths, padded folds, multi-beat frames
    "binary": (lambda: random_network([37, 11, 7], seed=3, name="binary"),
               "fc0:pe=3,simd=8,pad;fc1:pe=2,simd=4,pad", "const", 8),
    # the same network with run-time loadable weights
    "binary_memory": (lambda: random_network([37, 11, 7], seed=3, name="binary"),
                      "fc0:pe=3,simd=8,pad;fc1:pe=2,simd=4,pad", "memory", 8),
    # k-bit: binary layer with a uint3 output, then a 2-bit-weight int_dense layer, 5-bit beats
    "kbit": (lambda: random_network([19, 10, 6], wbits=[1, 2], abits=[3, 2], seed=4, name="kbit"),
             "fc0:pe=5,simd=19;fc1:pe=3,simd=4,pad", "const", 5),
    # uint4 input codes, 3-bit weights, memory weights
    "uint_input": (lambda: random_network([9, 6, 4], wbits=[3, 1], abits=[1, 2], in_bits=4, seed=5, name="uin"),
                   "fc0:pe=2,simd=3;fc1:pe=4,simd=6", "memory", 7),
    # one fully parallel layer (constant weights become wiring), a whole frame per beat
    "parallel": (lambda: random_network([23, 5], abits=4, seed=6, name="par"), "fc0:pe=5,simd=23", "const", 64),
}  # fmt: skip


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    made = {}

    def get(name):
        if name not in made:
            make_net, fold, storage, beat = SHAPES[name]
            ir.save(make_net(), root / f"{name}.bwir")
            generate(
                root / f"{name}.bwir",
                root / name,
                fold_spec=fold,
                weight_storage=storage,
                beat_bits=beat,
            )
            made[name] = root / name
        return made[name]

    return get


def _on(shape, sim):
    marks = pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS) if sim == "icarus" else ()
    return pytest.param(shape, sim, marks=marks, id=f"{shape}-{sim}")


@pytest.mark.parametrize(
    "shape, sim",
    [_on("binary", "verilator"), _on("binary", "icarus"), _on("kbit", "verilator"), _on("kbit", "icarus"),
     _on("binary_memory", "icarus"), _on("uint_input", "icarus"), _on("parallel", "icarus")],
)  # fmt: skip
def test_generated_design_matches_golden(designs, shape, sim):
    design = designs(shape)
    # -O0 C++ (fast_build) for Verilator: these small designs build faster and run fast enough
    result = verify(design, VerifyOptions(sim=sim, vectors=VECTORS, seed=11, fast_build=True))
    assert result["passed"], result
    assert result["frames_received"] == VECTORS and result["mismatches"] == 0
    assert result["cycles_per_frame"]["measured"] == result["cycles_per_frame"]["manifest"]
    assert result["latency_cycles"]["measured"] == result["latency_cycles"]["manifest"]
    if shape.endswith("memory") or shape == "uint_input":
        assert result["weights_loaded"] > 0 and result["weight_layout_error"] is None


@pytest.mark.parametrize("kind", ["weight", "threshold"])
def test_design_from_a_fails_against_mutated_b(designs, tmp_path, kind):
    design = designs("binary")
    net = ir.load(design / "model.bwir")
    inputs = random_inputs(net, VECTORS, 0)
    mutated, mutation, changed = effective_mutation(net, inputs, kind)
    ir.save(mutated, tmp_path / "b.bwir")
    result = verify(
        design, VerifyOptions(vectors=VECTORS, seed=0, ir=tmp_path / "b.bwir", fast_build=True)
    )
    assert not result["passed"], mutation.describe(net)
    assert result["mismatches"] == changed > 0
    frame, index = np.argwhere(golden.run(net, inputs) != golden.run(mutated, inputs))[0]
    first = result["first_mismatch"]
    assert (first["frame"], first["index"]) == (frame, index)
    assert first["expected"] == golden.run(mutated, inputs)[frame, index] != first["got"]


@pytest.mark.skipif(not HAVE_ICARUS, reason=NO_ICARUS)
def test_memory_design_runs_the_weights_loaded_through_the_write_port(designs, tmp_path):
    design = designs("binary_memory")
    net = ir.load(design / "model.bwir")
    mutated, _, _ = effective_mutation(net, random_inputs(net, VECTORS, 0), "weight")
    ir.save(mutated, tmp_path / "b.bwir")
    options = dict(sim="icarus", vectors=VECTORS, seed=0, ir=tmp_path / "b.bwir")
    assert not verify(design, VerifyOptions(**options))["passed"]  # built-from weights loaded
    # loading B's weights makes the hardware compute B: proves the write path works
    assert verify(design, VerifyOptions(**options, load_ir_weights=True))["passed"]


@pytest.mark.slow
def test_large_folded_network_on_verilator(tmp_path):
    """2052-1024-1024-513 binary, folded to ~1200 cycles per frame (the bench's design)."""
    from bitwave.app.bench.verify import BEAT_BITS, FOLD, WIDTHS

    ir.save(random_network(list(WIDTHS), seed=0, name="large"), tmp_path / "large.bwir")
    generate(tmp_path / "large.bwir", tmp_path / "large", fold_spec=FOLD, beat_bits=BEAT_BITS)
    # 12 frames: 10 without stalls (cycles per frame, latency), 2 with random stalls
    result = verify(tmp_path / "large", VerifyOptions(vectors=12, seed=1, fast_build=True))
    assert result["passed"], result
    assert result["frames_received"] == 12 and result["mismatches"] == 0
