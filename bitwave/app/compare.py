"""Side-by-side comparison of two flow results (``flow.compare``): e.g. the bitwise GRU against
the bitwise MLP of the demo, on quality, size, area, energy and quality per unit of energy.

The compared result is another run's flow.json (a run folder, a report folder such as
reports/demo, or the file itself). Every figure is read from the two flow.json files as
their stages measured them; only the ratios are computed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bitwave.core import ir, ops
from bitwave.core.errors import BitwaveError

MAX_FLOW_JSON_BYTES = 4 << 20  # a flow.json has a few KiB


def parameters(net: ir.Network) -> int:
    """Stored weights of the network, early exit heads included (every op's cost counts)."""
    layers = [*net.layers, *(early.head for early in net.exits)]
    return sum(ops.op_of(layer).cost_counts(layer).weights for layer in layers)


def flow_json_path(path: str | Path) -> Path:
    """The flow.json named by ``path`` (the file, or a folder holding it)."""
    path = Path(path)
    target = path / "flow.json" if path.is_dir() else path
    if not target.is_file():
        raise BitwaveError(
            f"flow.compare: {path} holds no flow.json; allowed: a flow run folder, a report "
            "folder (e.g. reports/demo) or a flow.json file"
        )
    return target


def load_compared(path: str | Path) -> dict:
    """The compared flow result, checked for the fields the comparison reads."""
    target = flow_json_path(path)
    if target.stat().st_size > MAX_FLOW_JSON_BYTES:
        raise BitwaveError(f"flow.compare: {target} is larger than {MAX_FLOW_JSON_BYTES} bytes")
    try:
        data = json.loads(target.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BitwaveError(f"flow.compare: {target} is not a JSON flow result ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("quality"), dict):
        raise BitwaveError(f"flow.compare: {target} is not a flow.json (no quality table)")
    if "bitwise" not in data["quality"]:
        raise BitwaveError(f"flow.compare: {target} has no bitwise model quality")
    data["source"] = str(target)
    return data


def _figures(summary: dict) -> dict[str, Any]:
    quality, hw = summary["quality"]["bitwise"], summary.get("hardware") or {}
    energy = hw.get("energy_per_frame_j")
    si_sdri = quality.get("si_sdri")
    return {
        "model": f"{summary.get('name')} ({summary.get('model')})",
        "SI-SDRi (dB)": si_sdri,
        "STOI": quality.get("stoi"),
        "PESQ (wb)": quality.get("pesq"),
        "parameters": summary.get("parameters"),
        "area (um^2)": hw.get("area_um2"),
        "energy per frame (nJ)": energy * 1e9 if energy else None,
        "power at the real-time rate (mW)": hw["realtime_w"] * 1e3
        if hw.get("realtime_w")
        else None,
        "SI-SDRi per nJ per frame (dB/nJ)": si_sdri / (energy * 1e9)
        if energy and si_sdri
        else None,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def compared_summary(other: dict) -> dict:
    """What the report keeps of the compared result (it is stored in this run's flow.json)."""
    keys = ("name", "model", "widths", "parameters", "quality", "hardware", "source")
    return {key: other.get(key) for key in keys}


def report_lines(summary: dict, other: dict) -> list[str]:
    """The markdown section: this result and the compared one side by side, with their ratio."""
    mine, theirs = _figures(summary), _figures(other)
    lines = [
        f"## Side by side with {theirs['model']}",
        "",
        f"From `{other['source']}` (flow.compare); difference and ratio: this design against "
        "the compared one.",
        "",
        f"| figure | {mine['model']} | {theirs['model']} | difference | ratio |",
        "|---|---|---|---|---|",
    ]
    for key in list(mine)[1:]:
        a, b = mine[key], theirs[key]
        both = isinstance(a, int | float) and isinstance(b, int | float)
        difference = a - b if both else None
        ratio = a / b if both and b else None
        lines.append(f"| {key} | {_cell(a)} | {_cell(b)} | {_cell(difference)} | {_cell(ratio)} |")
    return [*lines, ""]
