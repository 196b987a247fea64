"""Folding: the --fold parser's errors and the rate-driven solver."""

from __future__ import annotations

import pytest

from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.hw.folding import (
    LayerFold,
    estimate_area_um2,
    parse_fold_spec,
    schedule_of,
    solve,
)


@pytest.fixture(scope="module")
def net():
    return random_network([60, 24, 10], seed=0)


def test_parse_a_valid_spec(net):
    folds = parse_fold_spec(" fc0 : pe=8, simd=12 ; fc1:pe=5,simd=7,pad ;", net)
    assert folds == {"fc0": LayerFold(8, 12), "fc1": LayerFold(5, 7, True)}


@pytest.mark.parametrize(
    "spec,message",
    [
        ("fc0:pe=8,simd=12", "must give every layer; missing \\['fc1'\\]"),
        ("fc0:pe=8,simd=12;fc9:pe=1,simd=1", "names layer 'fc9'"),
        (
            "fc0:pe=7,simd=12;fc1:pe=1,simd=1",
            "pe=7 does not divide out_width=24; use a divisor \\(1, 2, 3, 4, 6, 8, 12, 24\\)",
        ),
        ("fc0:pe=8,simd=61;fc1:pe=1,simd=1", "simd=61 must be in 1..60"),
        ("fc0:pe=8;fc1:pe=1,simd=1", "give both pe= and simd="),
        ("fc0:pe=x,simd=1;fc1:pe=1,simd=1", "pe must be an integer"),
        ("fc0:pe=1,simd=1,depth=3;fc1:pe=1,simd=1", "unknown or repeated item 'depth=3'"),
        ("fc0 pe=1;fc1:pe=1,simd=1", "expected LAYER:pe=P,simd=S"),
        ("fc0:pe=1,simd=1;fc0:pe=1,simd=1", "gives layer 'fc0' twice"),
    ],
)
def test_bad_specs_say_what_to_change(net, spec, message):
    with pytest.raises(BitwaveError, match=message):
        parse_fold_spec(spec, net)


def test_solver_meets_the_budget_with_the_cheapest_folding(net):
    budget = 100
    folds = solve(net, clock_mhz=1.0, fps=1e6 / budget, weight_storage="const")
    for layer in net.layers:
        fold = folds[layer.name]
        assert schedule_of(layer, fold).initiation_interval <= budget
        area = estimate_area_um2(layer, fold, "const")
        # no cheaper divisor folding also meets the rate
        for pe in range(1, layer.out_width + 1):
            for simd in range(1, layer.in_width + 1):
                if layer.out_width % pe or layer.in_width % simd:
                    continue
                other = LayerFold(pe, simd)
                if schedule_of(layer, other).initiation_interval <= budget:
                    assert estimate_area_um2(layer, other, "const") >= area - 1e-9


def test_solver_folds_the_se_network_for_real_time_audio():
    se = random_network([2052, 1024, 1024, 513], seed=0)
    folds = solve(se, clock_mhz=100.0, fps=62.5, weight_storage="const")
    for layer in se.layers:
        assert schedule_of(layer, folds[layer.name]).initiation_interval <= 1_600_000
        assert folds[layer.name].pe * folds[layer.name].simd <= 4  # heavy folding at this rate


def test_unmeetable_rate_names_the_clock_that_would_work(net):
    with pytest.raises(
        BitwaveError, match="raise --clock-mhz to at least 3 or lower --fps to at most 333333"
    ):
        solve(net, clock_mhz=1.0, fps=1e6, weight_storage="const")
    with pytest.raises(BitwaveError, match="--fps must be positive"):
        solve(net, clock_mhz=1.0, fps=0, weight_storage="const")
