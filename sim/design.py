"""Reading a generated-design folder (DIR/manifest.json, DIR/rtl, DIR/model.bwir) and checking
it against the contract before any simulator is started, so that a malformed folder gives one
clear message instead of a simulator crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bitwave.core.errors import BitwaveError
from bitwave.sim.framing import StreamFormat

MANIFEST_KEYS = (
    "top", "ir_sha256", "ir_name", "clock", "reset", "ports", "input_stream", "output_stream",
    "layers", "cycles_per_frame", "latency_cycles",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedDesign:
    root: Path
    manifest: dict
    top: str
    rtl: Path
    ir_path: Path
    clock: str
    reset: str
    reset_active_high: bool
    input: StreamFormat
    output: StreamFormat
    cycles_per_frame: int
    latency_cycles: int
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (direction, width)

    @property
    def weight_memory(self) -> dict | None:
        return self.manifest.get("weight_memory")

    def idle_inputs(self) -> list[tuple[str, int]]:
        """Input ports the network testbench does not drive itself (held at 0), e.g. a weight
        write port: (name, width)."""
        driven = {self.clock, self.reset, self.input.data, self.input.valid, self.output.ready}
        return [
            (name, width)
            for name, (d, width) in self.ports.items()
            if d == "input" and name not in driven
        ]


def _positive_int(manifest: dict, key: str) -> int:
    value = manifest[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BitwaveError(f"manifest {key} must be a positive integer, got {value!r}")
    return value


def _read_ports(manifest: dict) -> dict[str, tuple[str, int]]:
    ports: dict[str, tuple[str, int]] = {}
    if not isinstance(manifest["ports"], list):
        raise BitwaveError("manifest ports must be a list of {name, direction, width}")
    for i, port in enumerate(manifest["ports"]):
        if not isinstance(port, dict) or not {"name", "direction", "width"} <= port.keys():
            raise BitwaveError(
                f"manifest ports[{i}] must have name, direction and width, got {port!r}"
            )
        if port["direction"] not in ("input", "output"):
            raise BitwaveError(
                f"manifest ports[{i}].direction must be input or output, got {port['direction']!r}"
            )
        if not isinstance(port["width"], int) or port["width"] < 1:
            raise BitwaveError(
                f"manifest ports[{i}].width must be a positive integer, got {port['width']!r}"
            )
        ports[str(port["name"])] = (port["direction"], port["width"])
    return ports


def _check_port(ports: dict, name: str, direction: str, width: int, role: str) -> None:
    if name not in ports:
        raise BitwaveError(f"manifest names {role} port {name!r}, which is not in ports")
    if ports[name] != (direction, width):
        raise BitwaveError(
            f"{role} port {name!r} must be a {width}-bit {direction}, the manifest lists "
            f"a {ports[name][1]}-bit {ports[name][0]}"
        )


def load_design(root: str | Path) -> GeneratedDesign:
    """Read DIR and check everything the testbench relies on."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise BitwaveError(
            f"{root} is not a generated design: {manifest_path} is missing (run bitwave generate)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise BitwaveError(f"{manifest_path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict):
        raise BitwaveError(f"{manifest_path} must hold a JSON object")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise BitwaveError(f"{manifest_path} lacks the keys {', '.join(missing)}")

    top = manifest["top"]
    if not isinstance(top, str) or not top.isidentifier():
        raise BitwaveError(f"manifest top must be a Verilog identifier, got {top!r}")
    rtl = root / "rtl" / f"{top}.v"
    if not rtl.is_file():
        raise BitwaveError(f"the RTL {rtl} named by manifest top is missing")
    ir_path = root / "model.bwir"
    if not ir_path.is_file():
        raise BitwaveError(f"{ir_path} (the IR the design was built from) is missing")

    ports = _read_ports(manifest)
    clock = manifest["clock"].get("port") if isinstance(manifest["clock"], dict) else None
    reset_spec = manifest["reset"] if isinstance(manifest["reset"], dict) else {}
    reset = reset_spec.get("port")
    if reset_spec.get("active", "high") not in ("high", "low"):
        raise BitwaveError(
            f"manifest reset.active must be high or low, got {reset_spec.get('active')!r}"
        )
    _check_port(ports, clock, "input", 1, "clock")
    _check_port(ports, reset, "input", 1, "reset")
    fmt_in = StreamFormat.from_manifest(manifest["input_stream"], "input_stream")
    fmt_out = StreamFormat.from_manifest(manifest["output_stream"], "output_stream")
    for fmt, role, towards, back in (
        (fmt_in, "input", "input", "output"),
        (fmt_out, "output", "output", "input"),
    ):
        _check_port(ports, fmt.data, towards, fmt.bits_per_beat, f"{role} stream data")
        _check_port(ports, fmt.valid, towards, 1, f"{role} stream valid")
        _check_port(ports, fmt.ready, back, 1, f"{role} stream ready")
    return GeneratedDesign(
        root=root,
        manifest=manifest,
        top=top,
        rtl=rtl,
        ir_path=ir_path,
        clock=clock,
        reset=reset,
        reset_active_high=reset_spec.get("active", "high") == "high",
        input=fmt_in,
        output=fmt_out,
        cycles_per_frame=_positive_int(manifest, "cycles_per_frame"),
        latency_cycles=_positive_int(manifest, "latency_cycles"),
        ports=ports,
    )
