"""Component testbench for one k-bit integer MVU block (cocotb test module): extreme frames
that drive every neuron's accumulator to its maximum and minimum (datapath width and sign),
threshold-edge frames, then random frames, streamed with the network testbench's driver."""

from __future__ import annotations

import cocotb

from bitwave.sim.tb_network import drive_frames, finish, load_params
from bitwave.sim.vectors import block_stimulus


@cocotb.test()
async def mvu_block(dut: object) -> None:
    params = load_params()
    inputs, expected = block_stimulus(params, "mvu")
    finish(params, await drive_frames(dut, params, inputs, expected))
