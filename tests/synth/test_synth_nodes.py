"""The node study's measurement on its own: a node given as Verilog and stimulus is mapped,
replayed at gate level with every expected result checked, and measured."""

import numpy as np
import pytest

from bitwave.core.errors import BitwaveError
from bitwave.synth.studies.nodes import NodeRtl, measure_node

LANES = 8

# A registered signed 4-bit product: y (8 bits, two's complement) = x * w one cycle later.
VERILOG = """
module smul(input clk, input [3:0] x, input [3:0] w, output reg [7:0] y);
  always @(posedge clk) y <= $signed(x) * $signed(w);
endmodule
"""


def _node():
    return NodeRtl("smul", "parallel", 1, "smul", VERILOG, macs_per_cycle=1, signed_width=8)


def _stimulus(offset=0, cycles=6, seed=3):
    rng = np.random.default_rng(seed)
    previous = None
    for _ in range(cycles):
        x, w = rng.integers(-8, 8, LANES), rng.integers(-8, 8, LANES)
        bits = {
            name: ((v[:, None] >> np.arange(4)) & 1).astype(bool)
            for name, v in (("x", x), ("w", w))
        }
        yield bits, None if previous is None else previous + offset, "product"
        previous = x * w


def test_a_node_given_as_verilog_is_checked_and_measured():
    result = measure_node(_node(), _stimulus(), clock_mhz=100.0, lanes=LANES)
    assert result.verified_vectors == 5 * LANES
    assert result.area_um2 > 0 and result.dynamic_w > 0 and result.leakage_w > 0
    assert result.energy_per_mac_j == pytest.approx(result.total_w / 100e6)
    assert result.cells > 0 and result.max_clock_mhz > 0


def test_a_wrong_expected_result_is_a_gate_level_error():
    with pytest.raises(BitwaveError, match="gate-level smul product: lane 0"):
        measure_node(_node(), _stimulus(offset=1), clock_mhz=100.0, lanes=LANES)


def test_a_stimulus_without_expected_results_is_refused():
    steps = [(bits, None, "product") for bits, _, _ in _stimulus()]
    with pytest.raises(BitwaveError, match="checked no output"):
        measure_node(_node(), steps, clock_mhz=100.0, lanes=LANES)
