"""Constant tables as logic: what a read-only weight store costs once synthesis has folded it
into gates (``--memories auto`` maps every ROM to logic), measured on random tables.

A folded layer generated with ``--weights const`` keeps its weights (and thresholds) in a ROM
that Yosys turns into logic: its area per stored bit depends on the table's depth (the number
of address bits each output column is a function of) and on its width (columns share the
address decoding). The cost model (``bitwave cost``) prices those stores from a fit over the
shapes measured here (``bitwave.cost.engines``).

Each table is written as plain Verilog with the read port the generator's ``WeightStore`` has
(one synchronous read per cycle), filled with random words, read at consecutive addresses
(the order a folded engine steps through its words) on every lane, and every word read back
from the mapped netlist is checked against the table.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.fanout import DEFAULT_MAX_FANOUT
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.flows.flow import require_ok, run_asic

TOP = "rom_table"


@dataclass(frozen=True)
class RomResult:
    """One measured table. ``flops``: the flip-flops Yosys kept (the read register, narrower
    than ``width`` where columns coincide); ``logic_area_um2``: everything else; energies per
    read (one per clock cycle), dynamic, including the kept flip-flops' clock."""

    depth: int
    width: int
    area_um2: float
    flops: int
    flop_area_um2: float
    logic_area_um2: float
    dynamic_energy_per_read_j: float
    leakage_w: float
    clock_mhz: float
    reads_checked: int

    def to_json(self) -> dict:
        return asdict(self)


def random_words(depth: int, width: int, seed: int) -> list[int]:
    rng = np.random.default_rng([seed, depth, width])
    return [int.from_bytes(rng.bytes((width + 7) // 8), "little") % (1 << width)
            for _ in range(depth)]  # fmt: skip


def rom_verilog(words: list[int], width: int) -> str:
    """A ``len(words)`` x ``width`` table with a registered read port."""
    depth = len(words)
    address = max(1, (depth - 1).bit_length())
    contents = "\n".join(f"    mem[{i}] = {width}'h{word:x};" for i, word in enumerate(words))
    return (
        f"module {TOP}(input clk, input [{address - 1}:0] addr, output reg [{width - 1}:0] data);\n"
        f"  reg [{width - 1}:0] mem [0:{depth - 1}];\n"
        f"  initial begin\n{contents}\n  end\n"
        "  always @(posedge clk) data <= mem[addr];\n"
        "endmodule\n"
    )


def measure_rom(
    depth: int,
    width: int,
    clock_mhz: float = 100.0,
    liberty: Path | None = None,
    seed: int = 0,
    lanes: int = 64,
    reads: int = 256,
    max_fanout: int = DEFAULT_MAX_FANOUT,
) -> RomResult:
    """Synthesize a random ``depth`` x ``width`` table as logic, read it ``reads`` times at
    consecutive addresses (each lane from its own start), check every word and measure. Like
    ``bitwave synth``, nets above ``max_fanout`` loads get buffer trees first (the address
    lines of a deep table fan out to every column): the buffers are part of the logic."""
    if depth < 2 or width < 1:
        raise BitwaveError(f"a table needs depth >= 2 and width >= 1, got {depth} x {width}")
    words = random_words(depth, width, seed)
    table = np.array(words, dtype=object)
    offsets = np.random.default_rng([seed, 1]).integers(0, depth, lanes)
    checked = [0]

    def drive(sim: GateSimulator) -> None:
        previous = None
        for step in range(reads + 1):
            address = (offsets + step) % depth
            sim.set_input_int("addr", address)
            sim.evaluate()
            if previous is not None:  # the word addressed before the last edge
                got = sim.get_output_int("data")
                wrong = np.flatnonzero(table[previous] != got)
                if len(wrong):
                    raise BitwaveError(
                        f"{depth} x {width} table: lane {wrong[0]} read a wrong word"
                    )
                checked[0] += lanes
            sim.clock()
            previous = address

    liberty_path = liberty or COMPACT_LIBRARY
    library = load_library(liberty_path)
    with tempfile.TemporaryDirectory(prefix="bitwave_rom_") as tmp:
        rtl = Path(tmp) / f"{TOP}.v"
        rtl.write_text(rom_verilog(words, width))
        result = run_asic([rtl], TOP, liberty_path, clock_mhz * 1e6, drive, lanes=lanes,
                          library=library, cross_check=False, memories="auto",
                          max_fanout=max_fanout)  # fmt: skip
    require_ok(result)
    flop_cells = {c: e for c, e in result.by_cell.items()
                  if c in library.cells and library.cell(c).sequential is not None}  # fmt: skip
    flops = sum(e["count"] for e in flop_cells.values())
    flop_area = sum(e["area_um2"] for e in flop_cells.values())
    return RomResult(  # plain Python numbers: the results go to YAML and JSON
        depth=depth, width=width, area_um2=float(result.area_um2), flops=int(flops),
        flop_area_um2=float(flop_area), logic_area_um2=float(result.area_um2 - flop_area),
        dynamic_energy_per_read_j=float(result.power.dynamic_w) / (clock_mhz * 1e6),
        leakage_w=float(result.power.leakage_w), clock_mhz=float(clock_mhz),
        reads_checked=int(checked[0]),
    )  # fmt: skip
