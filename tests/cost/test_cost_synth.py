"""The cost model's area and leakage estimates against real synthesis: for generated binary
networks of three sizes each is within 15% of the synthesized figure.

The table is calibrated on single nodes (``bitwave nodes``: the XNOR nodes are built with the
generator's own compressor tree, bitwave.hw.popcount) and then applied to whole generated
networks, so this checks the model's composition (neurons, lanes, registers, stream framing),
not a fit to itself. The shipped table (cost/tables/default.yaml, made by ``bitwave cost
--make-table reports/nodes/nodes.json``) is checked on every run; the whole recalibration
from freshly synthesized nodes runs with BITWAVE_COST_SYNTH=1.

Measured (Nov 2026, compact NanGate45, 100 MHz, default table from reports/nodes at N = 16, 64,
256, 1024): 64->16 estimate +0.8%, 256->32 +6.9%, 1024->16 -5.4%. (With the earlier
calibration node, a plain sum of XNORs, the figures were +12.8%, +18.9%, +4.6%.) What remains:
synthesis shares logic between the neurons of one layer, which per-node calibration cannot see.
Leakage (the table's per-lane and per-neuron leakage fitted on the same nodes, registers from
the liberty), Nov 30 2026: 64->16 -2.7%, 256->32 +2.0%, 1024->16 -2.9%; docs/cost.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import NANGATE45 as LIBERTY

from bitwave.core import ir
from bitwave.core.random_ir import random_network
from bitwave.cost.adapters import from_ir
from bitwave.cost.hardware import estimate
from bitwave.cost.tables import CostTable, load_table, make_table, table_from_dict

TOLERANCE = 0.15
SIZES = ([64, 16], [256, 32], [1024, 16])  # input -> output widths of one binary layer
CLOCK_MHZ = 100.0


def within_tolerance(estimated: float, synthesized: float) -> bool:
    return synthesized > 0 and abs(estimated / synthesized - 1) <= TOLERANCE


def _area(summary: dict) -> float:
    for key in ("total_area_um2", "area_um2"):
        if key in summary:
            return float(summary[key])
    raise AssertionError(f"synthesis summary has no area key: {sorted(summary)}")


def synthesized_network(tmp_path: Path, widths: list[int]) -> tuple[ir.Network, float, float]:
    """A fully unrolled constant-weight binary layer of ``widths``, generated and synthesized:
    (its IR, its synthesized area, its synthesized leakage)."""
    from bitwave.hw.generate import generate
    from bitwave.synth.flows.design import synthesize_design

    net = random_network(widths, seed=sum(widths), name=f"net_{'_'.join(map(str, widths))}")
    design, model = tmp_path / net.name, tmp_path / f"{net.name}.bwir"
    ir.save(net, model)
    unrolled = f"fc0:pe={widths[1]},simd={widths[0]}"
    generate(model, design, clock_mhz=CLOCK_MHZ, fold_spec=unrolled, weight_storage="const")
    area = _area(synthesize_design(design, lanes=64, frames_per_lane=2))
    power = json.loads((design / "synth" / "power.json").read_text())
    return net, area, float(power["leakage_w"])


def without_leakage(table: CostTable) -> CostTable:
    """The mutation: the same table with every leakage figure zeroed."""
    actions = {name: replace(a, leakage_w=0.0, overhead_leakage_w=0.0)
               for name, a in table.actions.items()}  # fmt: skip
    return replace(table, actions=actions)


def _report(results: list[tuple[list[int], float, float]], unit: str = "um^2") -> str:
    return "\n".join(
        f"{w}: estimated {e:.4g} {unit} vs synthesized {s:.4g} {unit} ({e / s - 1:+.1%})"
        for w, e, s in results
    )


@pytest.mark.slow
@pytest.mark.parametrize("widths", SIZES, ids=lambda w: f"{w[0]}to{w[1]}")
def test_committed_table_estimates_synthesized_area_within_15_percent(tmp_path, widths):
    """The shipped table (cost/tables/default.yaml, made from reports/nodes) against a
    fresh synthesis of the generated network: area and leakage; the same table with its
    leakage zeroed fails the leakage check (the mutation twin)."""
    net, synthesized, leakage = synthesized_network(tmp_path, widths)
    hardware = estimate(from_ir(net), load_table())
    estimated = hardware.area_um2
    assert within_tolerance(estimated, synthesized), _report([(widths, estimated, synthesized)])
    assert within_tolerance(hardware.leakage_w, leakage), _report(
        [(widths, hardware.leakage_w, leakage)], "W"
    )
    assert not within_tolerance(estimate(from_ir(net), without_leakage(load_table())).leakage_w,
                                leakage)  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(not LIBERTY.is_file(), reason=f"NanGate45 liberty not found at {LIBERTY}")
@pytest.mark.skipif(
    os.environ.get("BITWAVE_COST_SYNTH") != "1",
    reason="recalibrates on 3 freshly synthesized nodes first (~10 min on 2 shared cores): set BITWAVE_COST_SYNTH=1",
)
def test_recalibrated_table_estimates_synthesized_area_within_15_percent(tmp_path):
    """The whole chain: synthesize the calibration nodes, make a table, estimate, compare."""
    from bitwave.app.nodes import run_comparison

    nodes_dir = tmp_path / "nodes"
    run_comparison([64, 256, 1024], CLOCK_MHZ, nodes_dir, kinds=["xnor_const"])
    table = table_from_dict(make_table(nodes_dir / "nodes.json", LIBERTY), "calibrated")
    assert "mac_binary_const" in table.actions
    results, leaks = [], []
    for widths in SIZES:
        net, synthesized, leakage = synthesized_network(tmp_path, list(widths))
        hardware = estimate(from_ir(net), table)
        results.append((list(widths), hardware.area_um2, synthesized))
        leaks.append((list(widths), hardware.leakage_w, leakage))
    assert all(within_tolerance(e, s) for _, e, s in results), _report(results)
    assert all(within_tolerance(e, s) for _, e, s in leaks), _report(leaks, "W")


def test_area_check_can_fail():
    """Mutation: the comparison used above rejects estimates 20% off either way."""
    assert within_tolerance(5400.0, 5000.0) and within_tolerance(4300.0, 5000.0)
    assert not within_tolerance(6000.0, 5000.0) and not within_tolerance(4000.0, 5000.0)
    assert not within_tolerance(1.0, 0.0)
