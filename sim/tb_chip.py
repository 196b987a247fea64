"""The full SE chip's testbench (a cocotb test module): PCM samples in, enhanced PCM out.

Started by ``bitwave.sim.runner.run_test`` from ``bitwave.sim.chip.run_chip`` with a JSON
parameter file (BITWAVE_TB_PARAMS) naming the ports, the payload fields of ``pcm_in`` and
``pcm_out`` (offset, width), the utterances (one int16 .npy of every sample back to back, and
their lengths), each utterance's exit (multi-exit chips), the stall seed and probabilities,
and the cycle budget. It streams the utterances back to back (``last`` on each one's last
sample, the exit with each one's first sample and seeded random bits in the exit field of
every other sample), collects every ``pcm_out`` payload, and writes the raw payloads, the
cycles of the frame boundaries and its counts; ``run_chip`` decodes and judges them.

The chip runs thousands of cycles per frame, mostly computing with neither stream moving, so
the loop wakes Python only where something can happen: each cycle it drives after the falling
edge and samples in the read-only phase before the rising one (a transfer is exactly valid
and ready high at that edge); when the input is offered but not accepted (or all sent) and no
output is valid, nothing the testbench does can matter until the chip raises ``ready`` or
``valid``, so it sleeps on those two edges (bounded by the cycle budget) and resumes on the
clock grid, reading the cycle number from the simulation time.

Stalls: the first ``calm`` utterances stream without any (samples offered at once, outputs
taken at once: the steady state the manifest's ``cycles_per_frame`` claims); the rest with a
seeded random gap before each offered sample and random ``ready`` on the output.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from bitwave.sim.tb_network import Ports, load_params, port, read_int, reset_and_load_weights

PERIOD_NS = 10  # the clock reset_and_load_weights starts
HOP = 256  # samples per frame boundary on pcm_out (bitwave.core.audio.HOP)
PROGRESS_EVERY = 4096  # output samples between progress notes
X_PAYLOAD = -1  # a payload with X/Z bits (Icarus)


@cocotb.test()
async def chip_stream(dut: object) -> None:
    params = load_params()
    results = await drive_utterances(dut, params)
    Path(params["results_json"]).write_text(json.dumps(results))
    assert not results["timed_out"], f"timed out after {results['cycles']} cycles"


def input_payloads(params: dict, pcm: np.ndarray) -> list[int]:
    """Every pcm_in payload: the sample, ``last`` on each utterance's last sample, the exit on
    each utterance's first sample and seeded random bits in the exit field elsewhere."""
    fields = params["pcm_in"]
    (s_off, s_bits), (l_off, _) = fields["sample"], fields["last"]
    lengths = np.asarray(params["lengths"], np.int64)
    ends = np.cumsum(lengths)
    last = np.zeros(pcm.size, np.int64)
    last[ends - 1] = 1
    words = ((pcm.astype(np.int64) & ((1 << s_bits) - 1)) << s_off) | (last << l_off)
    if fields.get("exit"):
        e_off, e_bits = fields["exit"]
        rng = np.random.default_rng([params["seed"], 3])  # its own stream: the stalls stay put
        tags = rng.integers(0, 1 << e_bits, pcm.size, dtype=np.int64)
        tags[ends - lengths] = params["exits"]
        words |= tags << e_off
    return [int(w) for w in words]


@dataclass
class _Run:
    """What the stream loop saw."""

    cycle: int = 0
    sent: int = 0
    payloads: list[int] = field(default_factory=list)  # every pcm_out payload taken
    lasts: int = 0  # output samples with last = 1
    in_first: list[int] = field(default_factory=list)  # cycle each utterance's sample 0 went in
    out_hops: list[list[int]] = field(default_factory=lambda: [[]])  # cycles of outputs 256 k
    at: int = 0  # output samples of the current utterance so far
    sleeps: int = 0  # times the loop slept until the chip moved
    timed_out: bool = False


async def drive_utterances(dut: object, params: dict) -> dict:
    """Reset (and load weights), stream every utterance, drain; the findings as a dict."""
    pcm = np.load(params["inputs_npy"])
    payloads = input_payloads(params, pcm)
    ports = Ports(*(port(dut, params[key]) for key in
                     ("clock", "reset", "in_data", "in_valid", "in_ready",
                      "out_data", "out_valid", "out_ready")))  # fmt: skip
    wall = time.perf_counter()
    await reset_and_load_weights(dut, params, ports, [])
    await FallingEdge(ports.clk)
    start = _now()
    run = await _stream(ports, params, payloads, start)
    extra = await _drain(ports, params)
    np.save(params["outputs_npy"], np.array(run.payloads, np.int64))
    return {
        "samples_in": run.sent,
        "samples_out": len(run.payloads),
        "lasts": run.lasts,
        "extra_output_samples": extra,
        "timed_out": run.timed_out,
        "cycles": run.cycle,
        "max_cycles": params["max_cycles"],
        "in_first": run.in_first,
        "out_hops": run.out_hops[: len(params["lengths"])],
        "sleeps": run.sleeps,
        "sim_seconds": time.perf_counter() - wall,
    }


def _now() -> int:
    return int(get_sim_time("ns")) // PERIOD_NS


class _Stalls:
    """Seeded valid gaps and ready backpressure, off for the first ``calm`` utterances."""

    def __init__(self, params: dict) -> None:
        self.rng = random.Random(params["seed"])
        self.on = params["stalls"]
        self.p_valid, self.p_ready = params["p_valid"], params["p_ready"]
        self.calm_samples = sum(params["lengths"][: params["calm"]])
        self.calm_utterances = params["calm"]

    def offer(self, sent: int) -> bool:
        return not self.on or sent < self.calm_samples or self.rng.random() < self.p_valid

    def take(self, utterance: int) -> bool:
        return not self.on or utterance < self.calm_utterances or self.rng.random() < self.p_ready


async def _stream(ports: Ports, params: dict, payloads: list[int], start: int) -> _Run:
    """The loop the module docstring describes, until every utterance's last sample came out
    (or as many samples as went in, should ``last`` never come) or the budget ran out."""
    run, stalls = _Run(), _Stalls(params)
    total, utterances = len(payloads), len(params["lengths"])
    firsts = set(np.cumsum([0, *params["lengths"][:-1]]).tolist())
    budget, progress = params["max_cycles"], params.get("progress_file")
    holding, valid_now, ready_now = False, 0, -1
    while run.lasts < utterances and len(run.payloads) < total:
        if run.cycle >= budget:
            run.timed_out = True
            break
        if not holding and run.sent < total and stalls.offer(run.sent):
            holding = True
            ports.in_data.value = payloads[run.sent]
        if int(holding) != valid_now:
            valid_now = int(holding)
            ports.in_valid.value = valid_now
        ready = int(stalls.take(run.lasts))
        if ready != ready_now:
            ready_now = ready
            ports.out_ready.value = ready
        await ReadOnly()
        accepted = holding and ports.in_ready.value == 1
        if accepted:
            if run.sent in firsts:
                run.in_first.append(run.cycle)
            run.sent += 1
            holding = False
        if ports.out_valid.value == 1:
            if ready:
                _take(ports, params, run)
                if progress and len(run.payloads) % PROGRESS_EVERY == 0:
                    Path(progress).write_text(str(len(run.payloads)))
        elif not accepted and (holding or run.sent == total):
            await _sleep(ports, holding, budget - run.cycle)
            run.sleeps += 1
            await FallingEdge(ports.clk)
            run.cycle = _now() - start
            continue
        await FallingEdge(ports.clk)
        run.cycle += 1
    return run


async def _sleep(ports: Ports, holding: bool, cycles: int) -> None:
    """Wait until the chip raises in_ready (while a sample is offered) or out_valid, or the
    budget's cycles pass."""
    edges = [RisingEdge(ports.out_valid), Timer(max(cycles, 1) * PERIOD_NS, "ns")]
    if holding:
        edges.append(RisingEdge(ports.in_ready))
    await First(*edges)


def _take(ports: Ports, params: dict, run: _Run) -> None:
    """A pcm_out transfer: keep the payload, note the cycle of every 256th sample of an
    utterance (the frame boundaries), and split at ``last``."""
    payload = read_int(ports.out_data)
    run.payloads.append(X_PAYLOAD if payload is None else payload)
    if run.at % HOP == 0:
        run.out_hops[-1].append(run.cycle)
    run.at += 1
    l_off = params["pcm_out"]["last"][0]
    if payload is not None and (payload >> l_off) & 1:
        run.lasts += 1
        run.at = 0
        run.out_hops.append([])


async def _drain(ports: Ports, params: dict) -> int:
    """After the last utterance no output may appear: count those that do within the drain
    cycles (ready held high, the input idle)."""
    await FallingEdge(ports.clk)
    ports.in_valid.value, ports.out_ready.value = 0, 1
    end = _now() + params["drain_cycles"]
    extra = 0
    while _now() < end:
        await ReadOnly()
        if ports.out_valid.value == 1:
            extra += 1
            await FallingEdge(ports.clk)
            continue
        await First(RisingEdge(ports.out_valid), Timer((end - _now()) * PERIOD_NS, "ns"))
        await FallingEdge(ports.clk)
    return extra
