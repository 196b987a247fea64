"""The input-validation layer (bitwave.core.inputs): numbers, output paths, .npy headers and
bounded YAML, each refusal one BitwaveError naming what is wrong and what is allowed."""

from __future__ import annotations

import io
import math
import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core import inputs
from bitwave.core.errors import BitwaveError


def _unwritable_folder(tmp_path):
    """A folder this process cannot write: chmod for a normal user, /proc/1 for root."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        return folder
    if os.access("/proc/1", os.W_OK):
        pytest.skip("no unwritable folder for root here")
    return "/proc/1"


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e400", "x", "", True, None])
def test_positive_finite_refuses(value):
    with pytest.raises(BitwaveError, match="--clock-mhz: .*allowed: a positive finite number"):
        inputs.positive_finite(value, "--clock-mhz")


@pytest.mark.parametrize(("value", "expected"), [("100", 100.0), ("1e-3", 1e-3), (62.5, 62.5)])
def test_positive_finite_accepts(value, expected):
    assert inputs.positive_finite(value, "--fps") == expected


@pytest.mark.parametrize("value", ["-1", str(2**32), "1.5", "x", "", 1.5, True, "nan"])
def test_seed_refuses(value):
    with pytest.raises(BitwaveError, match=r"--seed: .*allowed: an integer 0 \.\. 4294967295"):
        inputs.seed(value)


def test_int_in_range_bounds():
    assert inputs.int_in_range("7", "--n", 1, 7) == 7
    assert inputs.int_in_range(3.0, "--n", low=0) == 3
    with pytest.raises(BitwaveError, match="--n: 8 is out of range; allowed: an integer 1 .. 7"):
        inputs.int_in_range("8", "--n", 1, 7)
    with pytest.raises(BitwaveError, match="allowed: an integer >= 0"):
        inputs.int_in_range(-1, "--n", low=0)


@given(st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_random_text_as_numbers_is_refused_or_valid(text):
    for check in (
        lambda: inputs.positive_finite(text, "--x"),
        lambda: inputs.seed(text, "--x"),
    ):
        try:
            value = check()
        except BitwaveError as error:
            assert str(error).startswith("--x: ") and "\n" not in str(error)
        else:
            assert math.isfinite(value) and value >= 0


# ---------------------------------------------------------------------------- output paths


def test_output_paths(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    assert inputs.output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert inputs.output_dir(tmp_path / "dir") == tmp_path / "dir"
    assert inputs.output_file(tmp_path / "new" / "f.bwir") == tmp_path / "new" / "f.bwir"
    for call, message in (
        (lambda: inputs.output_dir(""), "--out: the path is empty"),
        (lambda: inputs.output_file("  "), "--out: the path is empty"),
        (lambda: inputs.output_dir(tmp_path / "file"), "is an existing file; allowed: a folder"),
        (lambda: inputs.output_file(tmp_path / "dir"), "is an existing folder; allowed: a file"),
        (lambda: inputs.output_dir(tmp_path / "file" / "sub"), "file is not a folder"),
        (lambda: inputs.output_file(tmp_path / "file" / "x.npy"), "file is not a folder"),
        (lambda: inputs.output_file(tmp_path / "nope" / ".."), "names no file"),
        (lambda: inputs.output_dir(tmp_path / ("x" * 300) / "d"), "File name too long"),
    ):
        with pytest.raises(BitwaveError, match=message):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"], "checks create nothing"


def test_output_in_unwritable_folder(tmp_path):
    folder = _unwritable_folder(tmp_path)
    with pytest.raises(BitwaveError, match="is not writable; allowed: a place you can write to"):
        inputs.output_file(f"{folder}/x.bwir", "--out")
    with pytest.raises(BitwaveError, match="is not writable"):
        inputs.output_dir(f"{folder}/design", "--out")


# ---------------------------------------------------------------------------- .npy


def _header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def test_npy_header_accepts_and_loads(tmp_path):
    x = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "x.npy", x)
    assert inputs.npy_header(tmp_path / "x.npy") == ((3, 4), np.dtype(np.int16))
    assert np.array_equal(inputs.load_npy(tmp_path / "x.npy"), x)


def test_npy_header_refuses(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    np.save(tmp_path / "ok.npy", np.zeros((3, 10), np.uint8))
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:-5])
    (tmp_path / "padded.npy").write_bytes((tmp_path / "ok.npy").read_bytes() + b"xx")
    (tmp_path / "huge.npy").write_bytes(_header((10**6, 10**6)))
    (tmp_path / "text.npy").write_text("hello, not numpy")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "badheader.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{garbage}      \n")
    cases = {
        "obj": "holds object data; allowed: numeric arrays",
        "str": "holds <U1 data; allowed: numeric arrays",
        "trunc": r"declares shape \(3, 10\) \(30 data bytes\) but holds 25",
        "padded": "but holds 32; the file is truncated or padded",
        "huge": "8000000000000 bytes\\); allowed: at most 1073741824 bytes",
        "text": "is not a .npy file; allowed: an array saved with numpy.save",
        "empty": "is empty; allowed: a .npy array",
        "badheader": "unreadable .npy header",
        "missing": "no such input file",
    }
    for name, message in cases.items():
        with pytest.raises(BitwaveError, match=message) as error:
            inputs.load_npy(tmp_path / f"{name}.npy", "--inputs")
        assert str(error.value).startswith("--inputs: ")
        assert "pickle" not in str(error.value) and "allow_pickle" not in str(error.value)


def test_npy_limit_is_checked_before_reading(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(1000, np.float64))
    with pytest.raises(BitwaveError, match="at most 100 bytes"):
        inputs.load_npy(tmp_path / "x.npy", max_bytes=100)


@given(st.binary(max_size=300))
@settings(max_examples=150, deadline=None)
def test_random_bytes_as_npy(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    path.write_bytes(data)
    try:
        array = inputs.load_npy(path, "--inputs")
    except BitwaveError as error:
        assert "\n" not in str(error)
    else:
        assert array.dtype.kind in inputs.NUMERIC_KINDS


# ---------------------------------------------------------------------------- YAML


def _laughs(levels: int = 9) -> str:
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly():
    text = _laughs()
    assert len(text) < 1000
    start = time.perf_counter()
    with pytest.raises(BitwaveError, match="expands to more than 100000 YAML nodes"):
        inputs.safe_load_bounded(text, "c.yaml")
    assert time.perf_counter() - start < 1.0


def test_yaml_bounds(tmp_path):
    assert inputs.safe_load_bounded("base: &b {x: 1}\nother: {<<: *b, y: 2}\n") == {
        "base": {"x": 1},
        "other": {"x": 1, "y": 2},
    }
    assert inputs.safe_load_bounded("") is None
    for text, message in (
        ("a: &a [*a]\n", "refers to its own anchor"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("x: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
        ("a: [\n", "not valid YAML"),
        (b"a: \xff\xfe\x00", "not valid YAML"),
        ("x" * 100, "allowed: YAML of at most 10 bytes"),
    ):
        with pytest.raises(BitwaveError, match=message) as error:
            inputs.safe_load_bounded(text, "c.yaml", max_bytes=10 if len(text) == 100 else 1 << 20)
        assert "\n" not in str(error.value)
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * 10)
    with pytest.raises(BitwaveError, match="big.yaml: 50 bytes; allowed: YAML of at most 20"):
        inputs.safe_load_bounded(big, max_bytes=20)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_random_bytes_as_yaml(data):
    try:
        inputs.safe_load_bounded(data, "c.yaml")
    except BitwaveError as error:
        assert str(error).startswith("c.yaml: ") and "\n" not in str(error)


def test_non_finite_numbers_are_found_by_key_path():
    data = {"hw": {"clock_mhz": math.nan, "fps": 1.0}, "model": {"hidden": [1, math.inf]}}
    assert inputs.non_finite_numbers(data) == ["hw.clock_mhz", "model.hidden[1]"]
    assert inputs.non_finite_numbers({"a": [1, 2.5, "nan"]}) == []
