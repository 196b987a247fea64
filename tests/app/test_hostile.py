"""Hostile and bad input at the edge of every command (issue 18, docs/security.md).

Every case asserts the promise of the README: exit code 2, exactly one line on stderr naming
what is wrong, no traceback, and no file changed anywhere in the test's folders (the assets,
the current folder, the would-be output). Commands run in-process through
``bitwave.app.cli.main``; a handful run as real processes to check what a user's terminal sees.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from bitwave.app.cli import main
from bitwave.core.ir import save
from bitwave.core.random_ir import random_network

BILLION_LAUGHS = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)
)
YAML_FILES = {
    "laughs.yaml": BILLION_LAUGHS,
    "recursive.yaml": "train: &a {x: *a}\n",
    "deep.yaml": "train: " + "[" * 2000 + "]" * 2000 + "\n",
    "python.yaml": "name: !!python/object/apply:os.system ['touch pwned']\n",
    "list.yaml": "- a\n- b\n",
    "clock_nan.yaml": "hw: {clock_mhz: .nan}\n",
    "clock_inf.yaml": "hw: {clock_mhz: .inf}\n",
    "clock_neg.yaml": "hw: {clock_mhz: -1}\n",
    "fps_inf.yaml": "hw: {fps: .inf}\n",
    "fps_zero.yaml": "hw: {fps: 0}\n",
    "lr_nan.yaml": "train: {lr: .nan}\n",
    "lr_zero.yaml": "train: {lr: 0}\n",
    "seed_neg.yaml": "seed: -1\n",
    "seed_huge.yaml": "seed: 4294967296\n",
    "hidden_inf.yaml": "model: {hidden: [64, .inf]}\n",
}


def _npy_files(folder: Path) -> None:
    np.save(folder / "good.npy", np.zeros((3, 10), np.uint8))
    good = (folder / "good.npy").read_bytes()
    (folder / "text.npy").write_text("hello, I am not numpy\n")
    (folder / "empty.npy").write_bytes(b"")
    (folder / "truncated.npy").write_bytes(good[:-7])
    np.save(folder / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "strings.npy", np.array(["a", "b"]))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    (folder / "huge.npy").write_bytes(header.getvalue())


def _wav_folder(root: Path) -> None:
    """A data folder whose every file is unusable: rates 1 and 0, 0 channels, silence."""
    (root / "clean").mkdir(parents=True)
    (root / "noise").mkdir()
    wavfile.write(root / "clean" / "rate1.wav", 1, np.ones(4000, np.int16))
    wavfile.write(root / "clean" / "rate0.wav", 0, np.ones(4000, np.int16))
    wavfile.write(root / "noise" / "zero_channels.wav", 16_000, np.zeros((4000, 0), np.int16))
    wavfile.write(root / "noise" / "silent.wav", 16_000, np.zeros(4000, np.int16))


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("assets")
    save(random_network([10, 4], seed=0, name="hostile"), folder / "m.bwir")
    (folder / "file").write_text("an existing file\n")
    (folder / "dir").mkdir()
    _npy_files(folder)
    for name, text in YAML_FILES.items():
        (folder / name).write_text(text)
    (folder / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (folder / "big.yaml").write_text("# padding\n" * 500_000)
    (folder / "random.bwir").write_bytes(os.urandom(512))
    _wav_folder(folder / "wavs")
    if os.geteuid() != 0:
        (folder / "ro").mkdir(mode=0o500)
    return folder


def _unwritable(assets: Path) -> str:
    if os.geteuid() != 0:
        return str(assets / "ro")
    if os.access("/proc/1", os.W_OK):
        pytest.skip("no folder is unwritable for root here")
    return "/proc/1"


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under roots: kind, size and content hash."""
    state = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs:
                state[os.path.join(folder, name)] = ("dir",)
            for name in files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    state[path] = ("link", os.readlink(path))
                else:
                    data = Path(path).read_bytes()
                    state[path] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return state


def run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse refusals exit from parse_args
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(args, expected, assets, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    filled = [
        a.format(a=assets, t=tmp_path, ro=_unwritable(assets) if "{ro}" in a else "") for a in args
    ]
    before = snapshot(assets, tmp_path)
    code, out, err = run(filled, capsys)
    assert code == 2, (filled, out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text in err, err
    assert snapshot(assets, tmp_path) == before, "a refused command changed files"


OUTPUT_PATHS = {
    "random-ir empty --out": (["random-ir", "--layers", "10,4", "--out", ""], "the path is empty"),
    "random-ir --out folder": (["random-ir", "--layers", "10,4", "--out", "{a}/dir"], "is an existing folder"),
    "random-ir --out under file": (["random-ir", "--layers", "10,4", "--out", "{a}/file/x.bwir"], "is not a folder"),
    "random-ir --out unwritable": (["random-ir", "--layers", "10,4", "--out", "{ro}/x.bwir"], "is not writable"),
    "run-golden empty --output": (["run-golden", "{a}/m.bwir", "--input", "{a}/good.npy", "--output", ""], "the path is empty"),
    "run-golden --output folder": (["run-golden", "{a}/m.bwir", "--input", "{a}/good.npy", "--output", "{a}/dir"], "is an existing folder"),
    "run-golden --output unwritable": (["run-golden", "{a}/m.bwir", "--input", "{a}/good.npy", "--output", "{ro}/y.npy"], "is not writable"),
    "generate empty --out": (["generate", "{a}/m.bwir", "--out", ""], "the path is empty"),
    "generate --out file": (["generate", "{a}/m.bwir", "--out", "{a}/file"], "is an existing file"),
    "generate --out under file": (["generate", "{a}/m.bwir", "--out", "{a}/file/d"], "is not a folder"),
    "generate --out unwritable": (["generate", "{a}/m.bwir", "--out", "{ro}/design"], "is not writable"),
    "data --out file": (["data", "--out", "{a}/file"], "is an existing file"),
    "data empty --out": (["data", "--out", ""], "the path is empty"),
    "train --out file": (["train", "--out", "{a}/file"], "is an existing file"),
    "train empty --out": (["train", "--out", ""], "the path is empty"),
    "train --out unwritable": (["train", "--out", "{ro}/run"], "is not writable"),
    "flow --out file": (["flow", "--out", "{a}/file"], "is an existing file"),
    "flow empty --out": (["flow", "--out", ""], "the path is empty"),
    "flow --report-dir file": (["flow", "--out", "{t}/run", "--report-dir", "{a}/file"], "is an existing file"),
    "cost --seed-table --out file": (["cost", "--seed-table", "--out", "{a}/file"], "is an existing file"),
    "cost --make-table --out folder": (["cost", "--make-table", "{a}/file", "--out", "{a}/dir"], "is an existing folder"),
    "cost empty --out": (["cost", "--seed-table", "--out", ""], "the path is empty"),
    "derive-liberty out folder": (["derive-liberty", "{a}/file", "{a}/dir"], "is an existing folder"),
    "random-ir --out name too long": (["random-ir", "--layers", "10,4", "--out", "{t}/" + "x" * 5000], "File name too long"),
    "generate --out name too long": (["generate", "{a}/m.bwir", "--out", "{t}/" + "y" * 300 + "/d"], "File name too long"),
    "verify empty design": (["verify", ""], "the path is empty"),
    "synth empty design": (["synth", ""], "the path is empty"),
}  # fmt: skip

NUMBERS = {
    "generate --clock-mhz inf": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz", "inf"], "--clock-mhz: inf is out of range"),
    "generate --clock-mhz nan": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz", "nan"], "--clock-mhz: nan"),
    "generate --clock-mhz -1": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz=-1"], "positive finite"),
    "generate --clock-mhz 0": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz", "0"], "positive finite"),
    "generate --clock-mhz 1e999": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz", "1e999"], "positive finite"),
    "generate --clock-mhz text": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--clock-mhz", "fast"], "'fast' is not a number"),
    "generate --fps inf": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--fps", "inf"], "--fps: inf"),
    "generate --fps nan": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--fps", "NaN"], "--fps: NaN"),
    "generate --fps 0": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--fps", "0"], "--fps"),
    "generate --beat-bits 0": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--beat-bits", "0"], "--beat-bits: 0 is out of range"),
    "generate --beat-bits huge": (["generate", "{a}/m.bwir", "--out", "{t}/d", "--beat-bits", "99999999"], "--beat-bits"),
    "synth --clock-mhz inf": (["synth", "{a}/dir", "--clock-mhz", "inf"], "--clock-mhz: inf"),
    "synth --clock-mhz nan": (["synth", "{a}/dir", "--clock-mhz", "nan"], "--clock-mhz: nan"),
    "cost --frames-per-second inf": (["cost", "{a}/m.bwir", "--frames-per-second", "inf"], "--frames-per-second: inf"),
    "cost --frames-per-second nan": (["cost", "{a}/m.bwir", "--frames-per-second", "nan"], "--frames-per-second: nan"),
    "cost --pe 0": (["cost", "{a}/m.bwir", "--pe", "0"], "--pe: 0 is out of range"),
    "cost --simd 1.5": (["cost", "{a}/m.bwir", "--simd", "1.5"], "--simd: '1.5' is not an integer"),
    "random-ir --seed -1": (["random-ir", "--layers", "10,4", "--seed=-1", "--out", "{t}/r.bwir"], "--seed: -1 is out of range"),
    "random-ir --seed 2**32": (["random-ir", "--layers", "10,4", "--seed", "4294967296", "--out", "{t}/r.bwir"], "0 .. 4294967295"),
    "random-ir --seed 1e3": (["random-ir", "--layers", "10,4", "--seed", "1e3", "--out", "{t}/r.bwir"], "is not an integer"),
    "verify --seed -1": (["verify", "{a}/dir", "--seed=-1"], "--seed"),
    "verify --vectors huge": (["verify", "{a}/dir", "--vectors", "1000000000"], "--vectors"),
    "verify --vectors text": (["verify", "{a}/dir", "--vectors", "many"], "--vectors"),
    "data --seed -1": (["data", "--seed=-1"], "--seed"),
    "data --seed huge": (["data", "--seed", "99999999999"], "--seed"),
    "data --examples 0": (["data", "--examples", "0"], "--examples"),
    "data --examples 1000": (["data", "--examples", "1000"], "--examples"),
}  # fmt: skip

CONFIGS = {
    **{f"config {name}": (["config", "{a}/" + name], message) for name, message in (
        ("laughs.yaml", "expands to more than 100000 YAML nodes"),
        ("recursive.yaml", "refers to its own anchor"),
        ("deep.yaml", "nested too deeply"),
        ("python.yaml", "not valid YAML"),
        ("list.yaml", "the top level must be a mapping"),
        ("latin1.yaml", "not valid YAML"),
        ("big.yaml", "allowed: YAML of at most"),
        ("clock_nan.yaml", "hw.clock_mhz: not a finite number"),
        ("clock_inf.yaml", "hw.clock_mhz: not a finite number"),
        ("clock_neg.yaml", "hw.clock_mhz: -1 is out of range"),
        ("fps_inf.yaml", "hw.fps: not a finite number"),
        ("fps_zero.yaml", "hw.fps: 0 is out of range"),
        ("lr_nan.yaml", "train.lr: not a finite number"),
        ("lr_zero.yaml", "train.lr: 0 is out of range"),
        ("seed_neg.yaml", "seed: -1 is out of range"),
        ("seed_huge.yaml", "seed: 4294967296 is out of range"),
        ("hidden_inf.yaml", "model.hidden[1]: not a finite number"),
        ("missing.yaml", "no such config file"),
    )},
    "train laughs": (["train", "{a}/laughs.yaml", "--out", "{t}/run"], "expands to more than"),
    "train lr nan": (["train", "{a}/lr_nan.yaml", "--out", "{t}/run"], "train.lr: not a finite number"),
    "flow laughs": (["flow", "{a}/laughs.yaml", "--out", "{t}/run"], "expands to more than"),
    "flow clock inf": (["flow", "{a}/clock_inf.yaml", "--out", "{t}/run"], "hw.clock_mhz: not a finite"),
    "data laughs": (["data", "{a}/laughs.yaml"], "expands to more than"),
    "eval --data laughs": (["eval", "{a}/dir", "--data", "{a}/laughs.yaml"], "expands to more than"),
    "cost laughs": (["cost", "{a}/laughs.yaml"], "expands to more than"),
    "cost --table laughs": (["cost", "{a}/m.bwir", "--table", "{a}/laughs.yaml"], "expands to more than"),
}  # fmt: skip

NPY_MESSAGES = {
    "text.npy": "is not a .npy file; allowed: an array saved with numpy.save",
    "empty.npy": "is empty",
    "truncated.npy": "the file is truncated or padded",
    "object.npy": "holds object data",
    "strings.npy": "holds <U1 data",
    "huge.npy": "allowed: at most 1073741824 bytes",
    "m.bwir": "is not a .npy file",
    "missing.npy": "no such input file",
}
NPY_INPUTS = {
    f"{command} {name}": (args + [f"{{a}}/{name}"], (f"{flag}: ", message))
    for name, message in NPY_MESSAGES.items()
    for command, args, flag in (
        ("run-golden", ["run-golden", "{a}/m.bwir", "--output", "{t}/y.npy", "--input"], "--input"),
        ("verify", ["verify", "{a}/dir", "--inputs"], "--inputs"),
        ("synth", ["synth", "{a}/dir", "--inputs"], "--inputs"),
    )
}

OTHER = {
    "unknown command": (["transmogrify"], "invalid choice"),
    "missing required": (["generate"], "the following arguments are required"),
    "flag without value": (["random-ir", "--layers"], "expected one argument"),
    "bench unknown": (["bench", "nope"], "invalid choice"),
    "random bytes as IR": (["inspect", "{a}/random.bwir"], "not a bitwave IR file"),
    "wav folder all unusable": (["data", "--folder", "{a}/wavs", "--quiet"], "no usable WAV files"),
}


CASES = {
    f"{kind}: {name}": case
    for kind, table in (
        ("output path", OUTPUT_PATHS),
        ("number", NUMBERS),
        ("yaml", CONFIGS),
        ("npy", NPY_INPUTS),
        ("other", OTHER),
    )  # fmt: skip
    for name, case in table.items()
}


@pytest.mark.parametrize(("args", "expected"), CASES.values(), ids=CASES.keys())
def test_hostile_input_is_refused(args, expected, assets, tmp_path, capsys, monkeypatch):
    assert_refused(args, expected, assets, tmp_path, capsys, monkeypatch)


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _fuzz_file(assets, tmp_path, capsys, name, data, args, allowed=(2,)):
    (tmp_path / name).write_bytes(data)
    before = snapshot(assets, tmp_path)
    code, out, err = run([a.format(a=assets, t=tmp_path) for a in args], capsys)
    assert code in allowed, err
    assert "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    changed = {p for p in set(before) ^ set(snapshot(assets, tmp_path))}
    assert changed <= {str(tmp_path / "out.npy")}, changed


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_npy_bytes(data, assets, tmp_path, capsys):
    args = ["run-golden", "{a}/m.bwir", "--input", "{t}/x.npy", "--output", "{t}/out.npy"]
    _fuzz_file(assets, tmp_path, capsys, "x.npy", data, args, allowed=(0, 2))
    (tmp_path / "out.npy").unlink(missing_ok=True)


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_fuzz_yaml_bytes(data, assets, tmp_path, capsys):
    _fuzz_file(assets, tmp_path, capsys, "c.yaml", data, ["config", "{t}/c.yaml"], (0, 2))


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_ir_bytes(data, assets, tmp_path, capsys):
    _fuzz_file(assets, tmp_path, capsys, "x.bwir", data, ["inspect", "{t}/x.bwir"])


MEMBER_NAMES = st.one_of(
    st.sampled_from(["../evil.npy", "/abs.npy", "a/../../b.npy", "weights.npy", "x" * 300]),
    st.from_regex(r"[A-Za-z0-9_.\-]{0,8}/?[A-Za-z0-9_.]{1,8}", fullmatch=True),
).filter(lambda name: name.strip("/.") != "")


@FUZZ
@given(data=st.builds(lambda names: _zip_of(names), st.lists(MEMBER_NAMES, max_size=4)))
def test_fuzz_ir_zip_members(data, assets, tmp_path, capsys):
    _fuzz_file(assets, tmp_path, capsys, "x.bwir", data, ["inspect", "{t}/x.bwir"])


def _zip_of(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("manifest.json", '{"format": "bitwave-ir"}')
        for name in dict.fromkeys(names):
            if name != "manifest.json":
                archive.writestr(name, b"\x93NUMPY")
    return buf.getvalue()


@FUZZ
@given(text=st.text(max_size=16))
def test_fuzz_numbers(text, assets, tmp_path, capsys):
    before = snapshot(assets, tmp_path)
    args = ["cost", str(assets / "m.bwir"), f"--frames-per-second={text}"]
    code, out, err = run(args, capsys)
    assert code in (0, 2) and "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "--frames-per-second" in err, err
    assert snapshot(assets, tmp_path) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["generate", "{a}/m.bwir", "--out", ""], "the path is empty"),
        (["config", "{a}/laughs.yaml"], "expands to more than"),
        (["run-golden", "{a}/m.bwir", "--input", "{a}/text.npy", "--output", "{t}/y.npy"], "not a .npy"),
        (["random-ir", "--layers", "10,4", "--seed=-1", "--out", "{t}/r.bwir"], "--seed"),
    ],
    ids=["generate-empty-out", "config-laughs", "run-golden-text-npy", "random-ir-seed"],
)  # fmt: skip
def test_real_process(args, expected, assets, tmp_path):
    before = snapshot(assets, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bitwave.app.cli", *[a.format(a=assets, t=tmp_path) for a in args]],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stdout + result.stderr
    assert snapshot(assets, tmp_path) == before
