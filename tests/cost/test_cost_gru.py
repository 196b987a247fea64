"""The cost model of GRU designs against synthesis: ``bitwave cost DIR`` prices what the
generator builds (``bitwave.cost.engines``) and must agree with ``bitwave synth`` of the same
design within 15% in area and in energy per frame, for the whole design and for the GRU layer.

The model is calibrated on single pieces (the XNOR node of the cost table, random constant
tables in cost/tables/rom_logic.yaml, the liberty's cells), never on GRU designs. Measured
(Nov 2026, compact NanGate45, 100 MHz, random frames), estimate / synthesis:

| design | folding | area | energy/frame |
|---|---|---|---|
| 40, gru:16, 12 | gru0 pe=4 simd=8 | 0.97 (GRU 0.97) | 1.08 (GRU 1.10) |
| 40, gru:16, 12 | gru0 pe=16 simd=40 | 0.95 (GRU 0.95) | 0.95 (GRU 0.94) |
| 128, gru:64, 32 | gru0 pe=8 simd=32 | 1.03 (GRU 1.01) | 1.04 (GRU 1.04) |
| 100, gru:48, 20 | gru0 pe=12 simd=32 pad | 0.99 (GRU 0.98) | 0.98 (GRU 0.97) |
| 2052, gru:64, 513 | gru0 pe=8 simd=114 | 0.95 (GRU 0.92) | 0.99 (GRU 0.98) |

Those were before synthesis gated clocks. After (Nov 30 2026), with the model's clock gating
(docs/cost.md): 40, gru:16, 12 at gru0 pe=4 simd=8: area 0.98 (GRU 0.99), energy 1.14 (GRU
1.15), 14 clock gates against 14; the model without clock gating: energy 1.44.
"""

import json
from dataclasses import replace

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import contract, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.ops import binary_gru
from bitwave.core.random_ir import random_network
from bitwave.cost.adapters import from_ir
from bitwave.cost.engines import (
    ROM_SHAPES,
    Prices,
    buffer_tree,
    estimate_design,
    kept_columns,
    load_rom_fit,
)
from bitwave.cost.hardware import Folding, estimate
from bitwave.cost.tables import load_table
from bitwave.hw.generate import generate
from bitwave.synth.flows.design import synthesize_design

TOLERANCE = 0.15
LAYERS = [40, "gru:16", 12]
FOLD = "gru0:pe=4,simd=8;fc1:pe=12,simd=16"


def within(estimated: float, synthesized: float) -> bool:
    return synthesized > 0 and abs(estimated / synthesized - 1) <= TOLERANCE


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    """A small GRU design, generated and synthesized on random frames: (folder, IR)."""
    root = tmp_path_factory.mktemp("gru_cost")
    net = random_network(LAYERS, seed=1, name="gru_cost")
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=FOLD)
    synthesize_design(root / "design", frames_per_lane=4)
    return root / "design", net


def _synth(design):
    area = json.loads((design / "synth" / "area.json").read_text())
    power = json.loads((design / "synth" / "power.json").read_text())
    return area, power


def test_design_estimate_agrees_with_synthesis_within_15_percent(synthesized):
    design, _ = synthesized
    area, power = _synth(design)
    est = estimate_design(design)
    ratios = {"area": est.area_um2 / area["total_area_um2"],
              "energy": est.energy_per_frame_j / power["energy_per_frame_j"],
              "leakage": est.leakage_w / power["leakage_w"]}  # fmt: skip
    assert all(abs(r - 1) <= TOLERANCE for r in ratios.values()), ratios
    # the GRU layer alone: its block's area and energy per frame
    manifest = contract.load(design)
    frame_s = manifest.cycles_per_frame / (manifest.clock.mhz * 1e6)
    block = next(b for b in est.blocks if b.name == "gru0")
    synth_j = power["by_block"][block.module]["total_w"] * frame_s
    assert within(block.area_um2, area["layers"]["gru0"]), (block.area_um2, area["layers"])
    assert within(est.block_energy_j(block), synth_j), (est.block_energy_j(block), synth_j)
    synth_leak = power["by_block"][block.module]["leakage_w"]
    assert within(block.leakage_w, synth_leak), (block.leakage_w, synth_leak)
    # the compute cycles the model counts are the schedule's
    assert block.active_cycles == binary_gru.schedule(ir.load(design / "model.bwir").layers[0],
                                                      4, 8).cycles_per_frame  # fmt: skip


def test_leakage_without_the_flip_flops_fails_the_check(synthesized, monkeypatch):
    """Mutation: the design re-priced with flip-flops that do not leak is outside 15% of the
    synthesized leakage, so the leakage check above can fail."""
    design, _ = synthesized
    _, power = _synth(design)
    original = Prices.from_library

    def leakless(*args: object) -> Prices:
        prices = original(*args)
        return replace(prices, flop=replace(prices.flop, leakage_w=0.0))

    monkeypatch.setattr(Prices, "from_library", staticmethod(leakless))
    mutated = estimate_design(design)
    assert mutated.prices.flop.leakage_w == 0.0
    assert not within(mutated.leakage_w, power["leakage_w"]), mutated.leakage_w / power["leakage_w"]


def without_clock_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-price every estimate as if the library had no clock gate: every flip-flop clocked
    every cycle, holding through a mux (what the model did before synthesis gated clocks)."""
    original = Prices.from_library

    def ungated(*args: object) -> Prices:
        return replace(original(*args), clock_gate=None)

    monkeypatch.setattr(Prices, "from_library", staticmethod(ungated))


def test_clock_gates_are_the_ones_synthesis_inserts(synthesized):
    """The model's enable groups (``engines.Enable``): as many clock gates and gated
    flip-flops as synthesis put in (area.json), within the tolerance."""
    design, _ = synthesized
    area, _ = _synth(design)
    model, synth = estimate_design(design).clock_gating, area["clock_gating"]
    assert model["cell"] == "CLKGATE_X1" and synth["gates"] > 0
    for key in ("gates", "flops", "gated_flops"):
        assert within(model[key], synth[key]), (key, model, synth)


def test_an_ungated_model_fails_the_energy_check(synthesized, monkeypatch):
    """Mutation: without clock gating (every flip-flop's clock charged on every cycle) the
    estimate is far above the synthesized energy per frame, so the check above can fail."""
    design, _ = synthesized
    _, power = _synth(design)
    without_clock_gates(monkeypatch)
    mutated = estimate_design(design)
    assert mutated.clock_gating["gates"] == 0 and mutated.clock_gating["cell"] == ""
    assert mutated.energy_per_frame_j / power["energy_per_frame_j"] > 1 + TOLERANCE


def test_the_generic_table_model_fails_the_same_check(synthesized):
    """Mutation: the GRU priced as a generic folded layer (PE x SIMD MAC lanes and a register
    file for its weights, what the table model gives a layer it has no structure for) is far
    outside 15% of synthesis, so the check above can fail."""
    design, net = synthesized
    area, _ = _synth(design)
    arch = from_ir(net)
    generic = replace(arch, layers=[replace(layer, source=None) for layer in arch.layers])
    folding = Folding(pe=4, simd=8)
    gru = next(e for e in estimate(generic, load_table(), folding).layers if e.name == "gru0")
    assert not within(gru.compute_area_um2 + gru.memory_area_um2, area["layers"]["gru0"])
    structural = next(e for e in estimate(arch, load_table(), folding).layers if e.name == "gru0")
    assert within(structural.compute_area_um2 + structural.memory_area_um2, area["layers"]["gru0"])


def test_cost_cli_on_a_design_folder(synthesized, capsys):
    design, _ = synthesized
    assert main(["cost", str(design), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out.strip().splitlines()[-1])
    assert [b["name"] for b in data["blocks"]] == ["deserializer", "gru0", "fc1", "serializer"]
    assert data["frames_per_second"] == 62.5 and data["area_um2"] > 0
    # at the real-time rate the design idles: leakage plus one frame's switching per frame
    switching = data["energy_per_frame_j"] - data["leakage_w"] * data["cycles_per_frame"] / 100e6
    assert data["power_at_frames_per_second_w"] == pytest.approx(
        data["leakage_w"] + 62.5 * switching
    )
    rate = data["power_at_frames_per_second"]
    assert rate["total_w"] == pytest.approx(rate["dynamic_w"] + rate["leakage_w"])
    assert rate["dynamic_w"] == pytest.approx(62.5 * switching) and rate["leakage_w"] > 0
    # a GRU holds its state between frames: no power-gating what-if
    assert data["power_gating_what_if"]["offered"] is False
    assert "recurrent layers (gru0)" in data["power_gating_what_if"]["reason"]
    assert "not offered: recurrent layers" in out
    assert "weight store (ROM as logic)" in out and "state register" in out
    assert main(["cost", str(design), "--pe", "4"]) == 2
    assert "carries its own folding" in capsys.readouterr().err


def test_ir_estimate_of_a_gru_layer_follows_its_folding(synthesized):
    _, net = synthesized
    layer = estimate(from_ir(net), load_table(), Folding(pe=4, simd=8)).layers[0]
    plan = binary_gru.schedule(net.layers[0], 4, 8)
    assert layer.cycles == plan.cycles_per_frame and layer.memory_area_um2 > 0
    wider = estimate(from_ir(net), load_table(), Folding(pe=16, simd=8)).layers[0]
    assert wider.cycles * 4 == layer.cycles and wider.compute_area_um2 > layer.compute_area_um2


def test_rom_fit_reproduces_its_measured_tables():
    fit = load_rom_fit()
    shapes = {(p["depth"], p["width"]) for p in fit.points}
    assert shapes == set(ROM_SHAPES)
    for point in fit.points:
        estimated = fit.logic_area_um2(point["depth"], point["width"])
        assert abs(estimated / point["logic_area_um2"] - 1) < TOLERANCE, point
        assert point["reads_checked"] > 0  # every read of the synthesized table was checked


def test_shallow_tables_keep_only_distinct_columns():
    assert kept_columns(2, 1000) == pytest.approx(2.0, abs=1e-6)  # 01 and 10; 00, 11 constant
    assert kept_columns(3, 1000) == pytest.approx(6.0, abs=1e-3)
    assert kept_columns(64, 912) == 912.0
    assert 0 < kept_columns(6, 64) < 64


def test_buffer_trees_count_like_the_fanout_repair():
    """A net of n loads above the max fanout (16) gets ceil(n/16) buffers per level."""
    assert [buffer_tree(n) for n in (1, 16, 17, 256, 257, 4096)] == [0, 0, 2, 16, 19, 272]


def test_design_estimate_refuses_an_op_without_a_structure(tmp_path):
    net = random_network([16, 8, 4], wbits=[4, 1], abits=[4, 1], seed=0, name="kbit")
    ir.save(net, tmp_path / "m.bwir")
    generate(tmp_path / "m.bwir", tmp_path / "d")
    with pytest.raises(BitwaveError, match="int_dense.*no structural model"):
        estimate_design(tmp_path / "d")


def test_kept_columns_match_random_tables():
    """The expected count of distinct non-constant columns against random tables."""
    rng = np.random.default_rng(0)
    for depth, width in ((3, 40), (5, 100), (8, 64)):
        columns = rng.integers(0, 2, (200, depth, width))
        packed = [(t * (1 << np.arange(depth))[:, None]).sum(0) for t in columns]
        kept = np.mean([len(set(c) - {0, (1 << depth) - 1}) for c in packed])
        assert kept == pytest.approx(kept_columns(depth, width), rel=0.03)


def test_rom_table_is_made_from_checked_synthesized_tables(tmp_path):
    """``--make-rom-table`` on a few small shapes: every read word checked, the fit written as
    YAML and read back to the same figures."""
    from bitwave.cost.engines import make_rom_fit, rom_table_yaml

    fit = make_rom_fit(shapes=((8, 8), (16, 8), (32, 8), (16, 32), (64, 8)), progress=False)
    assert all(p["reads_checked"] > 0 and p["flops"] <= p["width"] for p in fit.points)
    (tmp_path / "rom.yaml").write_text(rom_table_yaml(fit))
    again = load_rom_fit(tmp_path / "rom.yaml")
    assert again.area == pytest.approx(fit.area) and len(again.points) == 5
    assert again.logic_area_um2(16, 32) == pytest.approx(fit.logic_area_um2(16, 32))
