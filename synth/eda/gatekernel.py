"""The gate-level simulator's compiled inner loops (numba): every combinational cell output of
a netlist as one truth table over its input nets, evaluated in topological order over the
lane-packed words, and the clock gates' enables (the OR of each gate's enable nets).

Why: the numpy path of ``GateSimulator`` issues one numpy call per (level, cell, pin) group and
per input of it, a few thousand calls per cycle on an FFT datapath (~90 cycles/s on the audio
front end); the full chip runs thousands of cycles per frame. A truth table per output pin
(at most ``MAX_INPUTS`` inputs, so it fits one uint64) evaluated as a multiplexer tree gives
the same bits with no per-group overhead. ``GateSimulator(compiled=False)`` keeps the numpy path
as the reference the tests compare against."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numba
import numpy as np

MAX_INPUTS = 6  # 2^6 minterms: one uint64 truth table


def truth_table(function: Callable[..., np.ndarray], inputs: int) -> int:
    """Bit m of the result = the function's output when input i is bit i of m (``function``:
    a ``boolexpr`` compiled for numpy uint64 arrays, ``inputs`` <= MAX_INPUTS arguments)."""
    minterms = 1 << inputs
    patterns = [
        np.array([sum(((m >> i) & 1) << m for m in range(minterms))], dtype=np.uint64)
        for i in range(inputs)
    ]
    out = int(np.asarray(function(*patterns), dtype=np.uint64).reshape(-1)[0])
    return out & ((1 << minterms) - 1) if minterms < 64 else out


class CompiledLogic:
    """The combinational outputs of a netlist as flat arrays for ``evaluate_logic``: per
    output (in evaluation order) its net, its truth table and its input nets."""

    def __init__(self) -> None:
        self._outputs: list[int] = []
        self._tables: list[int] = []
        self._inputs: list[Sequence[int]] = []

    def add(self, output: int, table: int, inputs: Sequence[int]) -> None:
        self._outputs.append(output)
        self._tables.append(table)
        self._inputs.append(list(inputs))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(outputs, tables, input starts, input counts, input nets)."""
        counts = np.array([len(nets) for nets in self._inputs], dtype=np.int64)
        starts = np.cumsum(counts) - counts
        flat = [net for nets in self._inputs for net in nets]
        return (
            np.array(self._outputs, dtype=np.int64),
            np.array(self._tables, dtype=np.uint64),
            starts,
            counts,
            np.array(flat, dtype=np.int64),
        )


@numba.njit(cache=True, inline="always")
def _mask(table, m):  # noqa: ANN001, ANN202
    """Truth-table entry m as a word: 0 or all ones."""
    return np.uint64(0) - ((table >> np.uint64(m)) & np.uint64(1))


@numba.njit(cache=True, inline="always")
def _small(values, out, inputs, base, k, table):  # noqa: ANN001, ANN202
    """A cell output of 1 to 3 inputs: the multiplexer tree written out."""
    for w in range(values.shape[1]):
        a = values[inputs[base], w]
        lo = (a & _mask(table, 1)) | (~a & _mask(table, 0))
        if k == 1:
            values[out, w] = lo
            continue
        hi = (a & _mask(table, 3)) | (~a & _mask(table, 2))
        b = values[inputs[base + 1], w]
        low = (b & hi) | (~b & lo)
        if k == 2:
            values[out, w] = low
            continue
        lo2 = (a & _mask(table, 5)) | (~a & _mask(table, 4))
        hi2 = (a & _mask(table, 7)) | (~a & _mask(table, 6))
        high = (b & hi2) | (~b & lo2)
        c = values[inputs[base + 2], w]
        values[out, w] = (c & high) | (~c & low)


@numba.njit(cache=True)
def evaluate_logic(values, outputs, tables, starts, counts, inputs):  # noqa: ANN001, ANN201
    """values[outputs[o]] = truth table o of its input nets' values, for o in order: the
    multiplexer tree halves the 2^k table entries once per input, highest input first."""
    zero = np.uint64(0)
    one = np.uint64(1)
    scratch = np.empty(1 << MAX_INPUTS, dtype=np.uint64)
    for o in range(outputs.shape[0]):
        k = counts[o]
        base = starts[o]
        table = tables[o]
        if k <= 3:  # most cells: straight-line multiplexers, no scratch
            _small(values, outputs[o], inputs, base, k, table)
            continue
        for w in range(values.shape[1]):
            for m in range(1 << k):  # 0 or all ones, without a branch
                scratch[m] = zero - ((table >> np.uint64(m)) & one)
            for i in range(k - 1, -1, -1):
                x = values[inputs[base + i], w]
                half = 1 << i
                for m in range(half):
                    scratch[m] = (x & scratch[m + half]) | (~x & scratch[m])
            values[outputs[o], w] = scratch[0]


@numba.njit(cache=True)
def gate_enables(values, starts, counts, nets, table):  # noqa: ANN001, ANN201
    """table[g] = OR of gate g's enable nets (rows 0..gates-1; the caller's last row stays)."""
    for g in range(starts.shape[0]):
        for w in range(values.shape[1]):
            acc = np.uint64(0)
            for j in range(starts[g], starts[g] + counts[g]):
                acc |= values[nets[j], w]
            table[g, w] = acc


@numba.njit(cache=True)
def clock_memory(values, read, write, contents, rom, output, offset, lanes):  # noqa: ANN001, ANN201
    """One rising edge of a memory macro in every lane, as ``GateSimulator._clock_macro`` does
    it: the read register takes the word at the read address where the read enable is high
    (0 outside the memory; the contents from before this edge's write), then the per-bit
    write enables store the write data. ``read`` = (enable net, address nets...), ``write`` =
    (address nets, data nets, enable nets) stacked as rows of one (3, ...) array (empty for a
    ROM, whose words are ``rom``). Returns (reads, bits written) over the first ``lanes``."""
    depth = contents.shape[0] if write.shape[1] else rom.shape[0]
    width = output.shape[0]
    reads = 0
    written = 0
    one = np.uint64(1)
    for lane in range(values.shape[1] * 64):
        w = lane >> 6
        b = np.uint64(lane & 63)
        mask = one << b
        if (values[read[0], w] >> b) & one:
            address = 0
            for j in range(1, read.shape[0]):
                address |= int((values[read[j], w] >> b) & one) << (j - 1)
            word = address - offset
            for j in range(width):
                bit = np.uint64(0)
                if 0 <= word < depth:
                    if write.shape[1]:
                        bit = (contents[word, j, w] >> b) & one
                    else:
                        bit = np.uint64(rom[word, j])
                if bit:
                    output[j, w] |= mask
                else:
                    output[j, w] &= ~mask
            if lane < lanes:
                reads += 1
        if write.shape[1]:
            address = 0
            for j in range(write.shape[1]):
                if write[0, j] >= 0:
                    address |= int((values[write[0, j], w] >> b) & one) << j
            word = address - offset
            if 0 <= word < depth:
                for j in range(width):
                    if (values[write[2, j], w] >> b) & one:
                        if (values[write[1, j], w] >> b) & one:
                            contents[word, j, w] |= mask
                        else:
                            contents[word, j, w] &= ~mask
                        if lane < lanes:
                            written += 1
    return reads, written
