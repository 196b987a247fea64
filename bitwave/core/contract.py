"""The generated-design contract: DIR/manifest.json as one typed, versioned object.

hw writes a design folder with ``write(manifest, dir)``; sim, synth, flow and the benchmarks
read it with ``load(dir) -> Design``. The JSON layout is fixed by the JSON Schema beside this
module (``design_contract.schema.json``, draft 2020-12), and a manifest of another contract
version is refused, so a folder from an older bitwave fails with one message instead of a
simulator crash. Facts derived from the manifest (the input ports a testbench holds idle, the
bound on cycles per frame, the stream packing through ``bitwave.core.codec``) are computed
here once. Folder layout::

    DIR/manifest.json   this contract
    DIR/rtl/<top>.v     the Verilog named by ``top``
    DIR/model.bwir      the IR the design was built from (sim needs it; synth uses it if there)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from bitwave.core import codec
from bitwave.core.audio import AudioSpec
from bitwave.core.errors import BitwaveError
from bitwave.core.paths import inside, write_text

CONTRACT = "bitwave-design/1"
MANIFEST = "manifest.json"
SCHEMA_PATH = Path(__file__).with_name("design_contract.schema.json")
REGENERATE = "regenerate it with bitwave generate"
BUFFERING = ("double", "single", "memory")  # a design's ``buffering`` (generate --buffering)


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" | "output"
    width: int


@dataclass(frozen=True)
class Clock:
    port: str
    mhz: float


@dataclass(frozen=True)
class Reset:
    port: str
    synchronous: bool = True
    active: str = "high"  # "high" | "low"

    @property
    def active_high(self) -> bool:
        return self.active == "high"


@dataclass(frozen=True)
class Stream:
    """A valid/ready stream carrying frames of ``elements`` codes of ``element_bits`` bits in
    ``beats_per_frame`` beats of ``bits_per_beat`` bits (packing: ``bitwave.core.codec``)."""

    data: str
    valid: str
    ready: str
    bits_per_beat: int
    beats_per_frame: int
    element_bits: int
    elements: int

    @classmethod
    def carrying(
        cls, ports: tuple[str, str, str], bits_per_beat: int, element_bits: int, elements: int
    ) -> Stream:
        """The stream on ports (data, valid, ready) for frames of this shape."""
        beats = codec.beats_per_frame(elements * element_bits, bits_per_beat)
        return cls(*ports, bits_per_beat, beats, element_bits, elements)

    @property
    def frame_bits(self) -> int:
        return self.elements * self.element_bits

    @property
    def padded_frame_bits(self) -> int:
        """Bits of a frame's beats, padding included."""
        return self.beats_per_frame * self.bits_per_beat

    def to_beats(self, codes: np.ndarray) -> list[list[int]]:
        """(frames, elements) codes -> every frame as its list of beats."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.elements:
            raise BitwaveError(
                f"frames must have shape (frames, {self.elements}), got {codes.shape}"
            )
        return codec.frames_to_beats(codes, self.element_bits, self.bits_per_beat)

    def to_frame(self, beats: list[int]) -> np.ndarray:
        """One frame's beats -> its (elements,) codes."""
        if len(beats) != self.beats_per_frame:
            raise BitwaveError(f"a frame has {self.beats_per_frame} beats, got {len(beats)}")
        return codec.beats_to_frame(beats, self.elements, self.element_bits, self.bits_per_beat)


@dataclass(frozen=True)
class Layer:
    name: str
    module: str
    op: str
    in_width: int
    out_width: int
    pe: int
    simd: int
    cycles_per_frame: int
    initiation_interval: int
    latency_cycles: int
    weight_storage: str  # "const" | "memory"
    padded: bool


@dataclass(frozen=True)
class Targets:
    clock_mhz: float
    fps: float | None  # None: no frame rate was asked for
    achieved_fps: float


@dataclass(frozen=True)
class Folding:
    source: str  # "explicit" | "solver"
    spec: str


@dataclass(frozen=True)
class SequenceStart:
    """A recurrent design's sequence-start input: a 1 read with a frame's first input beat
    makes that frame start a new sequence (every recurrent layer reads its initial state)."""

    port: str
    sampled: str = "with the first beat of each input frame (ignored on other beats)"
    meaning: str = (
        "1: this frame starts a new sequence (every recurrent layer restarts from its IR "
        "initial_state); 0: it continues the previous frame's sequence. The first frame after "
        "reset starts one either way."
    )


@dataclass(frozen=True)
class ExitPoint:
    """One exit of a multi-exit design: its head (``name``; the final exit's is the chain's last
    layer), the chain layer the head reads (``after``; None for the final exit), the layers a
    frame at this exit passes, in order, and its timing when every frame takes it (steady-state
    cycles per frame; latency without stalls, counted like the design's ``latency_cycles``)."""

    index: int
    name: str
    after: str | None
    layers: tuple[str, ...]
    cycles_per_frame: int
    latency_cycles: int


@dataclass(frozen=True)
class Exits:
    """A multi-exit design's run-time exit selector and its exits (``per_exit[k]`` = exit k;
    the last one is the final exit, whose timing is the design's ``cycles_per_frame`` and
    ``latency_cycles``). ``heads``: the early exits' head layers (``heads[k]`` = exit k's),
    described like ``layers``; the chain's layers stay in ``layers``. ``order_fifo_depth``:
    frames the design keeps in flight at most (its input waits beyond that)."""

    port: str
    width: int
    count: int
    order_fifo_depth: int
    per_exit: tuple[ExitPoint, ...]
    heads: tuple[Layer, ...]
    sampled: str = "with the first beat of each input frame (ignored on other beats)"
    meaning: str = (
        "the exit the frame leaves at: k < count selects exit k, values >= count - 1 the final "
        "exit (count - 1); frames leave in input order whatever their exits, and the layers "
        "beyond a frame's exit never see it"
    )

    def exit_of(self, selector: int) -> int:
        """The exit a selector value picks (values past the last exit pick the final one)."""
        return min(int(selector), self.count - 1)


@dataclass(frozen=True)
class RtlFiles:
    verilog: str
    lint_waivers: str
    verilog_bytes: int


@dataclass(frozen=True)
class PcmStream:
    """A full chip's PCM stream (``audio.pcm_in`` / ``audio.pcm_out``): its ports and its
    payload fields, (offset, width) LSB first; ``exit`` only on a multi-exit chip's input."""

    data: str
    valid: str
    ready: str
    width: int
    sample: tuple[int, int]
    last: tuple[int, int]
    exit: tuple[int, int] | None = None

    def pack(self, samples: np.ndarray, last: np.ndarray, exit: np.ndarray | None = None
             ) -> np.ndarray:  # fmt: skip
        """Payload words (int64) of int16 ``samples`` with their ``last`` flags and, for a
        stream with an exit field, ``exit`` values (each masked to its field)."""
        (s_off, s_bits), (l_off, _) = self.sample, self.last
        words = (np.asarray(samples, np.int64) & ((1 << s_bits) - 1)) << s_off
        words |= np.asarray(last, np.int64) << l_off
        if exit is not None and self.exit is not None:
            e_off, e_bits = self.exit
            words |= (np.asarray(exit, np.int64) & ((1 << e_bits) - 1)) << e_off
        return words

    def unpack(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int16 samples, bool last flags) of payload words (sign-extended samples)."""
        words = np.asarray(words, np.int64)
        (s_off, s_bits), (l_off, _) = self.sample, self.last
        raw = (words >> s_off) & ((1 << s_bits) - 1)
        samples = np.where(raw >= 1 << (s_bits - 1), raw - (1 << s_bits), raw).astype(np.int16)
        return samples, ((words >> l_off) & 1).astype(bool)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PcmStream:
        fields_ = data["fields"]
        place = {key: (int(f["offset"]), int(f["width"])) for key, f in fields_.items()}
        return cls(data["data"], data["valid"], data["ready"], int(data["width"]),
                   place["sample"], place["last"], place.get("exit"))  # fmt: skip


@dataclass(frozen=True)
class AudioSection:
    """The manifest's ``audio`` object of a full chip (docs/hw.md, "The full chip"), typed:
    what a testbench, synth and enhance need (``Manifest.audio_section``)."""

    spec: AudioSpec
    bits: int
    floor_gain_code: int
    min_utterance_samples: int
    sample_rate_hz: int
    hop: int
    pcm_in: PcmStream
    pcm_out: PcmStream
    cycles_per_frame: int  # the claimed steady state: samples at once, outputs taken at once
    clock_mhz: float
    frames_per_second: float
    realtime_load: float
    parts: Mapping[str, str] = field(hash=False)  # front/network/back/buffer -> module prefix
    exits: int = 1  # the network's exits (1: no exit field on pcm_in)
    recurrent: bool = False
    # the claim of an utterance at each exit (index = exit); one entry without exits
    cycles_per_frame_per_exit: tuple[int, ...] = ()

    def exit_claims(self) -> tuple[int, ...]:
        """Claimed cycles per frame at each exit (the one claim for a single-exit chip)."""
        return self.cycles_per_frame_per_exit or (self.cycles_per_frame,) * self.exits

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = MANIFEST) -> AudioSection:
        """The section of a schema-checked manifest; stream fields the chip cannot lack are
        checked here (``sample`` and ``last`` on both streams, ``exit`` with exits)."""
        for key in ("pcm_in", "pcm_out"):
            missing = {"sample", "last"} - set(data[key]["fields"])
            if missing:
                raise BitwaveError(f"{source}: audio.{key}.fields lacks {sorted(missing)}")
        exits = int(data.get("exits", 1))
        if (exits > 1) != ("exit" in data["pcm_in"]["fields"]):
            raise BitwaveError(
                f"{source}: audio.pcm_in has {'no ' if exits > 1 else 'an '}exit field but the "
                f"chip has {exits} exit(s); {REGENERATE}"
            )
        claims = data.get("cycles_per_frame_per_exit")
        if claims is not None and (
            not isinstance(claims, list) or len(claims) != exits
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in claims)
        ):  # fmt: skip
            raise BitwaveError(
                f"{source}: audio.cycles_per_frame_per_exit must list one positive integer per "
                f"exit ({exits}), got {claims!r}; {REGENERATE}"
            )
        try:
            spec = AudioSpec.from_json(data["spec"])
        except (BitwaveError, TypeError, KeyError, ValueError) as exc:
            raise BitwaveError(f"{source}: audio.spec: {exc}") from None
        return cls(
            spec=spec, bits=int(data["bits"]), floor_gain_code=int(data["floor_gain_code"]),
            min_utterance_samples=int(data["min_utterance_samples"]),
            sample_rate_hz=int(data["sample_rate_hz"]), hop=int(data["hop"]),
            pcm_in=PcmStream.from_json(data["pcm_in"]),
            pcm_out=PcmStream.from_json(data["pcm_out"]),
            cycles_per_frame=int(data["cycles_per_frame"]), clock_mhz=float(data["clock_mhz"]),
            frames_per_second=float(data["frames_per_second"]),
            realtime_load=float(data["realtime_load"]), parts=dict(data["parts"]),
            exits=exits, recurrent="recurrent" in data,
            cycles_per_frame_per_exit=tuple(claims or ()),
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The contents of DIR/manifest.json (``to_json`` gives the JSON, keys in this order)."""

    top: str
    ir_sha256: str
    ir_name: str
    clock: Clock
    reset: Reset
    ports: tuple[Port, ...]
    input_stream: Stream
    output_stream: Stream
    layers: tuple[Layer, ...]
    cycles_per_frame: int
    latency_cycles: int
    targets: Targets
    folding: Folding
    sequence_start: SequenceStart | None = None  # recurrent designs only
    exits: Exits | None = None  # multi-exit designs only
    rtl: RtlFiles | None = None
    # the weight write bus (ports, regions, layout), read by bitwave.core.weight_loading
    weight_memory: Mapping[str, Any] | None = field(default=None, hash=False)
    # the full chip (bitwave generate --audio): PCM ports, spec, timing, parts (docs/hw.md)
    audio: Mapping[str, Any] | None = field(default=None, hash=False)
    # where frames are registered (BUFFERING; docs/hw.md): absent = "double", every stage its
    # own copy; "single": the first layer reads the deserializer's register in place and the
    # serializer cuts beats out of the last layer's; "memory": as single, and the first layer
    # takes the input stream itself, one SIMD slice a beat, into a RAM (no deserializer; the
    # input beat is that slice). The timing claims above hold either way.
    buffering: str | None = None

    @cached_property
    def audio_section(self) -> AudioSection | None:
        """The ``audio`` object typed (None: not a full chip), parsed once per manifest."""
        return None if self.audio is None else AudioSection.from_json(self.audio)

    def to_json(self) -> dict:
        data = {"contract": CONTRACT}
        for f in fields(Manifest):
            value = getattr(self, f.name)
            if value is not None:
                data[f.name] = _plain(value)
        return data

    @classmethod
    def from_json(cls, data: object, source: str = MANIFEST) -> Manifest:
        """Check ``data`` against the contract (version, schema, cross-field rules)."""
        check_json(data, source)
        manifest = cls(**_manifest_fields(data))
        if manifest.buffering not in (None, *BUFFERING):
            raise BitwaveError(
                f"{source}: buffering {manifest.buffering!r}: expected one of "
                f"{', '.join(BUFFERING)} (absent = double); {REGENERATE}"
            )
        _check_ports(manifest, source)
        return manifest

    @property
    def port_map(self) -> dict[str, tuple[str, int]]:
        """Port name -> (direction, width)."""
        return {port.name: (port.direction, port.width) for port in self.ports}

    def idle_inputs(self, also_driven: Iterable[str] = ()) -> list[tuple[str, int]]:
        """Input ports a stream testbench does not drive (it holds them at 0), e.g. a weight
        write port: (name, width). ``also_driven``: further ports the caller drives."""
        driven = {
            self.clock.port, self.reset.port, self.input_stream.data, self.input_stream.valid,
            self.output_stream.ready, *also_driven,
        }  # fmt: skip
        if self.sequence_start is not None:
            driven.add(self.sequence_start.port)
        if self.exits is not None:
            driven.add(self.exits.port)
        return [
            (p.name, p.width) for p in self.ports if p.direction == "input" and p.name not in driven
        ]

    @property
    def cycles_per_frame_bound(self) -> int:
        """Cycles a frame takes at the most in steady state: the claimed cycles per frame
        (at any exit of a multi-exit design), or a stream's beats per frame if the design's
        claim is smaller."""
        per_exit = [e.cycles_per_frame for e in self.exits.per_exit] if self.exits else []
        return max(
            self.cycles_per_frame,
            self.input_stream.beats_per_frame,
            self.output_stream.beats_per_frame,
            *per_exit,
        )

    @property
    def switching_cycles_bound(self) -> int:
        """Cycles between two frames' outputs at the most when the exit changes from frame to
        frame (no output stalls): the oldest frame in flight never waits for a younger one, so
        each frame leaves within the largest exit latency (plus its input beats) of the one
        before. Without exits: ``cycles_per_frame_bound``."""
        if self.exits is None:
            return self.cycles_per_frame_bound
        slowest = max(e.latency_cycles for e in self.exits.per_exit)
        return max(self.cycles_per_frame_bound, slowest + self.input_stream.beats_per_frame)

    @property
    def n_exits(self) -> int:
        """How many exits the design has (1 without early exits)."""
        return 1 if self.exits is None else self.exits.count


@dataclass(frozen=True, kw_only=True)
class Design(Manifest):
    """A design folder: its manifest and where its files are."""

    root: Path

    @property
    def verilog(self) -> Path:
        return self.root / "rtl" / f"{self.top}.v"

    @property
    def ir_path(self) -> Path:
        return self.root / "model.bwir"

    def chip(self) -> AudioSection:
        """The full chip's audio section; a BitwaveError for a design that is not a chip."""
        if self.audio_section is None:
            raise BitwaveError(
                f"{self.root} is not a full-chip design (its manifest has no audio section); "
                "generate one with bitwave generate --audio"
            )
        return self.audio_section

    def require_recurrence(self, recurrent: bool) -> None:
        """The folder's IR is recurrent exactly when the manifest has the sequence-start port
        (``recurrent``: whether the IR in ``ir_path`` has a recurrent layer)."""
        if recurrent != (self.sequence_start is not None):
            raise BitwaveError(
                f"{self.ir_path} is {'' if recurrent else 'not '}recurrent but the manifest "
                f"{'lacks' if recurrent else 'has'} a sequence_start port: the folder is "
                f"inconsistent; {REGENERATE}"
            )

    def require_exits(self, n_exits: int) -> None:
        """The folder's IR has as many exits as the manifest (``n_exits``: the IR's
        ``Network.n_exits``, 1 without early exits): a stage that drives or measures exits
        calls this before it trusts ``exits``."""
        if n_exits != self.n_exits:
            raise BitwaveError(
                f"{self.ir_path} has {n_exits} exit(s) but the manifest describes "
                f"{self.n_exits}{'' if self.exits else ' (no exits section)'}: the folder is "
                f"inconsistent; {REGENERATE}"
            )


MAX_MANIFEST_BYTES = 1 << 20  # refuse absurd files before parsing them


def write(manifest: Manifest, out_dir: str | Path) -> Path:
    """Write DIR/manifest.json (checked against the contract first); returns its path."""
    data = manifest.to_json()
    Manifest.from_json(data, f"the manifest written for {manifest.top}")
    path = inside(out_dir, MANIFEST)
    write_text(path, json.dumps(data, indent=2) + "\n")
    return path


def load(root: str | Path) -> Design:
    """Read and check DIR/manifest.json and the Verilog it names."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BitwaveError(
            f"{root} is not a generated design: {path} is missing (run bitwave generate)"
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BitwaveError(
            f"{path} holds {path.stat().st_size} bytes; a manifest has at most "
            f"{MAX_MANIFEST_BYTES} (a generated one has a few KiB)"
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BitwaveError(
            f"{path} is not UTF-8 text: {error.reason} at byte {error.start}"
        ) from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise BitwaveError(f"{path} is not valid JSON: {error}") from None
    manifest = Manifest.from_json(data, str(path))
    design = Design(root=root, **{f.name: getattr(manifest, f.name) for f in fields(Manifest)})
    if not design.verilog.is_file():
        raise BitwaveError(f"the design's Verilog {design.verilog} (named by top) is missing")
    return design


# ---- checking ---------------------------------------------------------------------------------
@cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def check_json(data: object, source: str) -> None:
    """Refuse JSON that is not a manifest of this contract version, naming the field path."""
    if not isinstance(data, dict):
        raise BitwaveError(f"{source} must hold a JSON object")
    version = data.get("contract")
    if version is None:
        raise BitwaveError(
            f"{source} has no contract version: it was made by an older bitwave; {REGENERATE}"
        )
    if version != CONTRACT:
        raise BitwaveError(
            f"{source} follows design contract {version!r}, this bitwave reads {CONTRACT!r}: "
            f"it was made by another bitwave; {REGENERATE}"
        )
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise BitwaveError(_describe(error, source))


def _where(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    """One message naming the field path and what is allowed there."""
    where = _where(error.absolute_path)
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{source}: {where or 'the manifest'} lacks {', '.join(map(repr, missing))}"
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        return f"{source}: {where} must be {description}, got {error.instance!r}"
    return f"{source}: {where}: {error.message}"


def _check_ports(manifest: Manifest, source: str) -> None:
    """Clock, reset and the stream ports must exist with the right direction and width, and
    each stream's beat count must fit its frames."""
    ports = manifest.port_map
    expected = [("clock.port", manifest.clock.port, "input", 1),
                ("reset.port", manifest.reset.port, "input", 1)]  # fmt: skip
    for key, stream, towards, back in (
        ("input_stream", manifest.input_stream, "input", "output"),
        ("output_stream", manifest.output_stream, "output", "input"),
    ):
        expected += [(f"{key}.data", stream.data, towards, stream.bits_per_beat),
                     (f"{key}.valid", stream.valid, towards, 1),
                     (f"{key}.ready", stream.ready, back, 1)]  # fmt: skip
        beats = codec.beats_per_frame(stream.frame_bits, stream.bits_per_beat)
        if stream.beats_per_frame != beats:
            raise BitwaveError(
                f"{source}: {key}: {stream.elements} elements of {stream.element_bits} bits in "
                f"{stream.bits_per_beat}-bit beats need {beats} beats per frame, "
                f"the manifest says {stream.beats_per_frame}"
            )
    if manifest.sequence_start is not None:
        expected.append(("sequence_start.port", manifest.sequence_start.port, "input", 1))
    if manifest.exits is not None:
        _check_exits(manifest, source)
        expected.append(("exits.port", manifest.exits.port, "input", manifest.exits.width))
    if manifest.audio is not None:
        section = AudioSection.from_json(manifest.audio, source)
        for key, towards, back in (("pcm_in", "input", "output"), ("pcm_out", "output", "input")):
            pcm = getattr(section, key)
            expected += [(f"audio.{key}.data", pcm.data, towards, pcm.width),
                         (f"audio.{key}.valid", pcm.valid, towards, 1),
                         (f"audio.{key}.ready", pcm.ready, back, 1)]  # fmt: skip
    for key, name, direction, width in expected:
        if name not in ports:
            raise BitwaveError(f"{source}: {key} names port {name!r}, which is not in ports")
        if ports[name] != (direction, width):
            raise BitwaveError(
                f"{source}: {key} {name!r} must be a {width}-bit {direction}, ports lists "
                f"a {ports[name][1]}-bit {ports[name][0]}"
            )


def _check_exits(manifest: Manifest, source: str) -> None:
    """An exits section describes ``count`` exits, the last one the design's own timing, with
    a selector port of ceil(log2(count)) bits."""
    spec = manifest.exits
    width = max(1, (spec.count - 1).bit_length())
    final = spec.per_exit[-1] if spec.per_exit else None
    problems = [
        (spec.count < 2, f"count is {spec.count}; a multi-exit design has at least 2"),
        (spec.width != width, f"width is {spec.width}; {spec.count} exits need {width} bits"),
        (
            len(spec.per_exit) != spec.count or len(spec.heads) != spec.count - 1,
            f"{spec.count} exits need {spec.count} per_exit entries and {spec.count - 1} heads, "
            f"got {len(spec.per_exit)} and {len(spec.heads)}",
        ),
        (
            [e.index for e in spec.per_exit] != list(range(len(spec.per_exit))),
            "per_exit[k].index must be k",
        ),
        (
            any(e.after is None for e in spec.per_exit[:-1])
            or (final is not None and final.after is not None),
            "every exit but the last (the final one) names the layer its head reads in after",
        ),
        (
            final is not None
            and (final.cycles_per_frame, final.latency_cycles)
            != (manifest.cycles_per_frame, manifest.latency_cycles),
            "the final exit's cycles_per_frame and latency_cycles must be the design's",
        ),
    ]
    for failed, message in problems:
        if failed:
            raise BitwaveError(f"{source}: exits: {message}")


def _exits_record(data: Mapping[str, Any]) -> Exits:
    fields_ = {f.name: data[f.name] for f in fields(Exits) if f.name in data}
    fields_["per_exit"] = tuple(
        _record(ExitPoint, {**point, "layers": tuple(point["layers"])})
        for point in data["per_exit"]
    )
    fields_["heads"] = tuple(_record(Layer, head) for head in data["heads"])
    return Exits(**fields_)


def _record(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass from the JSON object's keys that it has fields for."""
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _manifest_fields(data: dict) -> dict[str, Any]:
    return {
        "top": data["top"], "ir_sha256": data["ir_sha256"], "ir_name": data["ir_name"],
        "clock": _record(Clock, data["clock"]), "reset": _record(Reset, data["reset"]),
        "ports": tuple(_record(Port, port) for port in data["ports"]),
        "input_stream": _record(Stream, data["input_stream"]),
        "output_stream": _record(Stream, data["output_stream"]),
        "layers": tuple(_record(Layer, layer) for layer in data["layers"]),
        "cycles_per_frame": data["cycles_per_frame"], "latency_cycles": data["latency_cycles"],
        "targets": _record(Targets, data["targets"]), "folding": _record(Folding, data["folding"]),
        "sequence_start": (
            _record(SequenceStart, data["sequence_start"]) if "sequence_start" in data else None
        ),
        "exits": _exits_record(data["exits"]) if "exits" in data else None,
        "rtl": _record(RtlFiles, data["rtl"]) if "rtl" in data else None,
        "weight_memory": data.get("weight_memory"),
        "audio": data.get("audio"),
        "buffering": data.get("buffering"),
    }  # fmt: skip


def _plain(value: Any) -> Any:
    """Dataclasses and tuples -> JSON objects and lists."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
