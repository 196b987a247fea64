"""Component testbench for one binary MVTU block (cocotb test module): threshold-edge frames
for up to 32 neurons (accumulator at T-1, T, T+1), extreme frames, then random frames, all
streamed with the network testbench's driver (no-stall phase, then random stalls)."""

from __future__ import annotations

import cocotb

from bitwave.sim.tb_network import drive_frames, finish, load_params
from bitwave.sim.vectors import block_stimulus


@cocotb.test()
async def mvtu_block(dut: object) -> None:
    params = load_params()
    inputs, expected = block_stimulus(params, "mvtu")
    finish(params, await drive_frames(dut, params, inputs, expected))
