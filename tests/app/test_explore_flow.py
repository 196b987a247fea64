"""bitwave flow with hw.fold: explore: the generate stage explores the trained model (a tiny
sweep, RUN/explore with its cache) and builds the minimum-real-time-power point; an explicit
fold still works; the report names the choice; a bad hw.explore.sram fails before training."""

import json

import pytest

from bitwave.app import flow
from bitwave.core import contract, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network

HW = {"clock_mhz": 100.0, "fps": 62.5, "weight_storage": "const", "fold": "explore",
      "explore": {"max_points": 1, "weights": ["const"], "threads": True}}  # fmt: skip


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """A run folder holding a "trained" tiny model, its generate stage run with hw.fold explore
    and then again (a rerun)."""
    run = tmp_path_factory.mktemp("flow_explore")
    (run / "bitwise").mkdir()
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), run / "bitwise" / "model.bwir")
    stages: dict = {}
    chosen = flow._generate(HW, run, stages)
    again = flow._generate(HW, run, stages)
    return run, chosen, again, stages


def test_explore_chooses_the_minimum_power_point_and_generates_it(explored):
    run, chosen, again, stages = explored
    summary = json.loads((run / "explore" / "summary.json").read_text())
    best = summary["min_realtime_power"]
    assert best and summary["cache"] == str(run / "explore" / "cache")
    assert (chosen["fold"], chosen["clock_mhz"], chosen["weights"]) == (
        best["fold"], best["clock_mhz"], best["weights"])  # fmt: skip
    design = contract.load(run / "hw")
    assert design.folding.spec == chosen["fold"] and design.clock.mhz == chosen["clock_mhz"]
    assert design.clock.mhz != HW["clock_mhz"]  # the explored clock, not the config's
    assert chosen["realtime_power_w"] == best["realtime_power_w"] > 0
    assert again == chosen and set(stages) == {"explore", "generate"}
    assert "OpenRAM" in chosen["sram"]  # the flow's default pricing of RAM macros


def test_the_report_names_the_explored_choice(explored):
    _, chosen, _, _ = explored
    hardware = {"folding": chosen["fold"], "explore": chosen, "cycles_per_frame": 1,
                "target_fps": 62.5}  # fmt: skip
    summary = {"name": "t", "quality": {"bitwise": {}, "oracle_ibm": {}}, "targets": {},
               "widths": [16, 8, 4], "model": "m", "hardware": hardware, "stages": {}}  # fmt: skip
    row = next(line for line in flow._report_md(summary).splitlines() if "| folding |" in line)
    assert "chosen by explore" in row and f"{chosen['realtime_power_w'] * 1e6:.4g} uW" in row
    plain = {**summary, "hardware": {k: v for k, v in hardware.items() if k != "explore"}}
    assert "explore" not in next(
        line for line in flow._report_md(plain).splitlines() if "| folding |" in line
    )


def test_an_explicit_fold_still_works_and_is_not_resolved(tmp_path):
    (tmp_path / "bitwise").mkdir()
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), tmp_path / "bitwise" / "model.bwir")
    spec = "fc0:pe=8,simd=16;fc1:pe=4,simd=8"
    stages: dict = {}
    assert flow._generate({**HW, "fold": spec}, tmp_path, stages) is None
    assert contract.load(tmp_path / "hw").folding.spec == spec and "explore" not in stages
    config = {"hw": {**HW, "fold": spec}}
    assert flow._resolved(config, {}) is config
    chosen = {"fold": spec, "clock_mhz": 0.5, "weights": "memory"}
    resolved = flow._resolved({"hw": HW}, {"explore": chosen})["hw"]
    assert (resolved["fold"], resolved["clock_mhz"], resolved["weight_storage"]) == (
        spec, 0.5, "memory")  # fmt: skip


def test_a_bad_explore_table_is_refused_before_training(tmp_path):
    from bitwave.core import config

    path = tmp_path / "c.yaml"
    path.write_text(f"hw: {{fold: explore, explore: {{sram: {tmp_path / 'none.yaml'}}}}}\n")
    settings = config.load(path)
    with pytest.raises(BitwaveError, match="no such file"):
        flow._check_hardware_plan(settings)
    settings["hw"]["explore"]["sram"] = "cells"
    flow._check_hardware_plan(settings)  # the same config with a valid pricing passes


def test_every_synth_stage_prices_rams_by_hw_explore_sram(tmp_path, monkeypatch):
    """An explicit fold with memory weights is priced like an explored design: by
    hw.explore.sram (default: the shipped OpenRAM macros), not by synth's own default."""
    assert flow.memory_pricing({}) == "openram"
    assert flow.memory_pricing({"explore": {"sram": "cells"}}) == "cells"
    run = tmp_path / "run"
    (run / "bitwise").mkdir(parents=True)
    ir.save(random_network([16, 8, 4], seed=0, name="tiny"), run / "bitwise" / "model.bwir")
    priced = []
    monkeypatch.setattr(flow, "_test_frames", lambda *args: [run / "frames.npy"])
    monkeypatch.setattr(flow, "_verify", lambda *args: {})  # stages after generate stubbed
    monkeypatch.setattr(flow, "_synthesize", lambda *args: priced.append(args[-1]) or {})
    hw = {**HW, "fold": "fc0:pe=2,simd=4;fc1:pe=1,simd=2", "weight_storage": "memory",
          "explore": {"sram": "cells"}}  # fmt: skip
    config = {"hw": hw, "flow": {"verify_vectors": 4, "simulator": "verilator", "synth": True}}
    flow._hardware(config, run, {})
    assert priced == ["cells"]
    assert contract.load(run / "hw").weight_memory is not None  # a design with RAM weights
