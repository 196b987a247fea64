"""The generated-design contract (bitwave.core.contract): one typed, versioned manifest,
written once and loaded with every error naming the field path."""

import json
from dataclasses import replace

import pytest

from bitwave.core import contract
from bitwave.core.contract import CONTRACT, Manifest
from bitwave.core.errors import BitwaveError


def make_manifest(weight_memory=None):
    """A 20-in, 5 x 2-bit-out design: 8-bit input beats, 3-bit output beats."""
    source = contract.Stream.carrying(("in_data", "in_valid", "in_ready"), 8, 1, 20)
    sink = contract.Stream.carrying(("out_data", "out_valid", "out_ready"), 3, 2, 5)
    ports = [("clk", "input", 1), ("rst", "input", 1), ("in_data", "input", 8),
             ("in_valid", "input", 1), ("in_ready", "output", 1), ("out_data", "output", 3),
             ("out_valid", "output", 1), ("out_ready", "input", 1)]  # fmt: skip
    if weight_memory:
        ports += [("wr_en", "input", 1), ("wr_addr", "input", 4), ("wr_data", "input", 16)]
    layer = contract.Layer(name="fc0", module="t", op="binary_dense", in_width=20, out_width=5, pe=5,
                  simd=20, cycles_per_frame=8, initiation_interval=8, latency_cycles=6,
                  weight_storage="memory" if weight_memory else "const", padded=False)  # fmt: skip
    return Manifest(
        top="t", ir_sha256="ab" * 32, ir_name="tiny", clock=contract.Clock("clk", 100.0),
        reset=contract.Reset("rst"), ports=tuple(contract.Port(*p) for p in ports), input_stream=source,
        output_stream=sink, layers=(layer,), cycles_per_frame=8, latency_cycles=6,
        targets=contract.Targets(100.0, None, 12.5e6), folding=contract.Folding("explicit", "fc0:pe=5,simd=20"),
        weight_memory=weight_memory,
    )  # fmt: skip


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "rtl").mkdir()
    (tmp_path / "rtl" / "t.v").write_text("module t; endmodule\n")
    contract.write(make_manifest(), tmp_path)
    return tmp_path


def edit(folder, change):
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_written_manifest_loads_back_equal_and_carries_the_version(folder):
    data = json.loads((folder / "manifest.json").read_text())
    assert data["contract"] == CONTRACT and list(data)[:3] == ["contract", "top", "ir_sha256"]
    assert "weight_memory" not in data and "rtl" not in data
    design = contract.load(folder)
    assert design.root == folder and design.verilog == folder / "rtl" / "t.v"
    assert design.ir_path == folder / "model.bwir"
    assert replace(make_manifest()) == Manifest(**{
        name: getattr(design, name) for name in Manifest.__dataclass_fields__
    })  # fmt: skip
    assert design.to_json() == data
    assert design.input_stream.beats_per_frame == 3 and design.output_stream.beats_per_frame == 4
    assert design.cycles_per_frame_bound == 8


def test_idle_inputs_are_the_undriven_inputs():
    memory = {"ports": {"en": "wr_en", "addr": "wr_addr", "data": "wr_data"}, "regions": []}
    manifest = make_manifest(weight_memory=memory)
    assert manifest.idle_inputs() == [("wr_en", 1), ("wr_addr", 4), ("wr_data", 16)]
    assert manifest.idle_inputs(also_driven=("wr_en", "wr_addr", "wr_data")) == []
    assert make_manifest().idle_inputs() == []


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["input_stream"].update(bits_per_beat=0),
         r"manifest.json: input_stream.bits_per_beat must be a positive integer up to 2\*\*20, got 0"),
        (lambda d: d["ports"][2].update(direction="inout"),
         r"manifest.json: ports\[2\].direction must be input or output, got 'inout'"),
        (lambda d: d.pop("latency_cycles"), r"manifest.json: the manifest lacks 'latency_cycles'"),
        (lambda d: d["reset"].pop("port"), r"manifest.json: reset lacks 'port'"),
        (lambda d: d.update(top="../evil"), r"top must be a plain identifier"),
        (lambda d: d["layers"][0].update(pe=True), r"layers\[0\].pe must be a positive integer"),
        (lambda d: d["input_stream"].update(beats_per_frame=2),
         r"input_stream: 20 elements of 1 bits in 8-bit beats need 3 beats per frame"),
        (lambda d: d["output_stream"].update(ready="nope"),
         r"output_stream.ready names port 'nope', which is not in ports"),
        (lambda d: d["ports"][2].update(width=7),
         r"input_stream.data 'in_data' must be a 8-bit input, ports lists a 7-bit input"),
        (lambda d: d.pop("contract"), r"made by an older bitwave; regenerate it with bitwave generate"),
        (lambda d: d.update(contract="bitwave-design/0"),
         r"follows design contract 'bitwave-design/0'.*regenerate it with bitwave generate"),
        (lambda d: d["input_stream"].update(bits_per_beat=2**40),
         r"input_stream.bits_per_beat must be a positive integer up to 2\*\*20"),
        (lambda d: d["clock"].update(mhz=float("inf")), r"clock.mhz must be a positive finite number"),
        (lambda d: d.update(cycles_per_frame=[1]), r"cycles_per_frame must be a positive integer"),
    ],
)  # fmt: skip
def test_bad_manifests_are_refused_with_the_field_path(folder, change, message):
    edit(folder, change)
    with pytest.raises(BitwaveError, match=message):
        contract.load(folder)


def test_missing_files_are_named(folder, tmp_path):
    with pytest.raises(BitwaveError, match="manifest.json is missing"):
        contract.load(tmp_path / "nothing")
    (folder / "rtl" / "t.v").unlink()
    with pytest.raises(BitwaveError, match=r"Verilog .*t\.v .* is missing"):
        contract.load(folder)
    (folder / "manifest.json").write_text("{")
    with pytest.raises(BitwaveError, match="not valid JSON"):
        contract.load(folder)


def test_write_refuses_a_manifest_that_breaks_the_contract(tmp_path):
    broken = replace(make_manifest(), cycles_per_frame=0)
    with pytest.raises(BitwaveError, match="cycles_per_frame must be a positive integer"):
        contract.write(broken, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_a_manifest_that_is_not_utf8_or_too_large_is_refused(folder):
    (folder / "manifest.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(BitwaveError, match="is not UTF-8 text"):
        contract.load(folder)
    (folder / "manifest.json").write_bytes(b" " * (contract.MAX_MANIFEST_BYTES + 1))
    with pytest.raises(BitwaveError, match="a manifest has at most"):
        contract.load(folder)


def test_pcm_stream_packs_and_unpacks_payload_words():
    """The chip's PCM payload layout, owned by the contract: sample (sign-extended on the way
    back), last flag, and an exit field masked to its width."""
    import numpy as np

    from bitwave.core.contract import PcmStream

    stream = PcmStream("d", "v", "r", 19, (0, 16), (16, 1), (17, 2))
    pcm = np.array([-1, 5, -32768, 7, 32767], np.int16)
    words = stream.pack(pcm, np.array([0, 0, 0, 0, 1]), np.array([3, 0, 0, 0, 6]))
    assert words.tolist() == [0xFFFF | 3 << 17, 5, 0x8000, 7, 0x7FFF | 1 << 16 | 2 << 17]
    samples, lasts = stream.unpack(words)
    assert np.array_equal(samples, pcm) and lasts.tolist() == [False] * 4 + [True]
