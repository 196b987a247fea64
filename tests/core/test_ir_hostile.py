"""Hostile .bwir files: every one is refused with one IRError naming the problem, fast and
within bounded memory (sizes are checked from the zip directory and the .npy headers before
anything is inflated), and through the CLI as one exit-2 line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitwave.app.cli import main
from bitwave.core import ir
from bitwave.core.errors import IRError
from bitwave.core.random_ir import random_network

BOMB_BYTES = 1 << 30  # the zip bomb's one member inflates to 1 GiB of zeros


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(descr: str, shape: str, fortran: bool = False) -> bytes:
    """A .npy 1.0 header written by hand, so that it may declare anything."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin1")


def write_zip(path: Path, members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def mark_encrypted(path: Path) -> Path:
    """Set the 'encrypted' flag of every central-directory entry (zipfile never writes it)."""
    content = bytearray(path.read_bytes())
    start = content.find(b"PK\x01\x02")
    while start >= 0:
        content[start + 8] |= 0x1
        start = content.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(content))
    return path


def write_bomb(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """The valid members plus layers.0.weights.npy: a correct header declaring 1 GiB and
    1 GiB of zeros, deflated to about 5 MB."""
    members = [(name, data) for name, data in members if name != "layers.0.weights.npy"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members:
            archive.writestr(name, data)
        with archive.open("layers.0.weights.npy", "w", force_zip64=True) as member:
            member.write(npy_header("<u8", f"({BOMB_BYTES // 8},)"))
            zeros = bytes(4 << 20)
            for _ in range(BOMB_BYTES // len(zeros)):
                member.write(zeros)
    return path


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("valid") / "t.bwir"
    ir.save(random_network([70, 33, 9], wbits=[1, 4], abits=[2, 1], seed=3, name="t"), path)
    return path


def _members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _replaced(members: list[tuple[str, bytes]], name: str, data: bytes):
    return [(n, data if n == name else d) for n, d in members]


def _manifest(members: list[tuple[str, bytes]]) -> dict:
    return json.loads(dict(members)["manifest.json"])


def _build(folder: Path, valid: Path) -> dict[str, Path]:
    """Every hostile file of CASES, by case name."""
    good = _members(valid)
    weights = "layers.0.weights.npy"
    deep = {**_manifest(good), "provenance": json.loads("[" * 100 + "]" * 100)}
    files = {
        "zip bomb": lambda p: write_bomb(p, good),
        "huge shape in a tiny member": lambda p: write_zip(
            p, _replaced(good, weights, npy_header("<u8", "(1000000, 1000000)"))
        ),
        "header larger than the data": lambda p: write_zip(
            p, _replaced(good, weights, npy_header("<u8", "(33, 2)") + bytes(8))
        ),
        "negative dimension": lambda p: write_zip(
            p, _replaced(good, weights, npy_header("<u8", "(-1,)"))
        ),
        "dimension beyond numpy": lambda p: write_zip(
            p, _replaced(good, weights, npy_header("<u8", f"({2**70}, 0)"))
        ),
        "object dtype": lambda p: write_zip(
            p, _replaced(good, weights, npy(np.array([{"a": 1}, None], dtype=object)))
        ),
        "string dtype": lambda p: write_zip(p, _replaced(good, weights, npy(np.array(["ab"])))),
        "complex dtype": lambda p: write_zip(p, _replaced(good, weights, npy(np.ones(3, "c16")))),
        "record dtype": lambda p: write_zip(
            p, _replaced(good, weights, npy(np.zeros(2, [("a", "<u8"), ("b", "<i4")])))
        ),
        "not an npy member": lambda p: write_zip(p, _replaced(good, weights, b"PK not numpy")),
        "truncated zip": lambda p: p.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2]),
        "random bytes": lambda p: p.write_bytes(np.random.default_rng(1).bytes(2048)),
        "empty file": lambda p: p.write_bytes(b""),
        "manifest not UTF-8": lambda p: write_zip(
            p, _replaced(good, "manifest.json", b'{"name": "\xff\xfe"}')
        ),
        "manifest not an object": lambda p: write_zip(p, _replaced(good, "manifest.json", b"[]")),
        "manifest nested past the parser": lambda p: write_zip(
            p, _replaced(good, "manifest.json", b"[" * 200_000 + b"]" * 200_000)
        ),
        "manifest nested past the limit": lambda p: write_zip(
            p, _replaced(good, "manifest.json", json.dumps(deep).encode())
        ),
        "manifest integer of 5000 digits": lambda p: write_zip(
            p, _replaced(good, "manifest.json", b'{"version": ' + b"9" * 5000 + b"}")
        ),
        "manifest too large": lambda p: write_zip(
            p, _replaced(good, "manifest.json", b"{" + b" " * (2 << 20) + b"}")
        ),
        "manifest missing": lambda p: write_zip(p, [m for m in good if m[0] != "manifest.json"]),
        "duplicate member": lambda p: write_zip(p, good + [(weights, dict(good)[weights])]),
        "member named ../x": lambda p: write_zip(p, good + [("../x.npy", npy(np.ones(2)))]),
        "member with an absolute path": lambda p: write_zip(p, good + [("/etc/x.npy", b"")]),
        "member with a backslash": lambda p: write_zip(p, good + [("..\\x.npy", b"")]),
        "too many members": lambda p: write_zip(
            p, good + [(f"extra{i}.txt", b"") for i in range(ir.MAX_MEMBERS)]
        ),
        "bzip2 member": lambda p: write_zip(p, good, zipfile.ZIP_BZIP2),
        "encrypted member": lambda p: mark_encrypted(write_zip(p, good)),
    }
    paths = {}
    for name, make in files.items():
        path = folder / (name.replace(" ", "_").replace("/", "_").replace(".", "_") + ".bwir")
        make(path)
        paths[name] = path
    return paths


CASES = {  # case -> what the message must say
    "zip bomb": r"layers\.0\.weights\.npy' declares 1073741952 bytes uncompressed; "
    r"allowed: at most 67108864",
    "huge shape in a tiny member": r"shape \(1000000, 1000000\) of uint64 \(8000000000000 "
    r"bytes\), the member holds 0; allowed: exactly the declared data",
    "header larger than the data": r"declares shape \(33, 2\) .* the member holds 8",
    "negative dimension": r"negative dimension in shape \(-1,\); allowed: sizes >= 0",
    "dimension beyond numpy": r"too large for numpy",
    "object dtype": r"holds object data; allowed: numeric arrays .* never Python objects",
    "string dtype": r"holds <U2 data; allowed: numeric arrays",
    "complex dtype": r"holds complex128 data; allowed: numeric arrays",
    "record dtype": r"holds .* data; allowed: numeric arrays",
    "not an npy member": r"weights\.npy: not a readable \.npy array .*allowed: numpy\.save",
    "truncated zip": r"not a bitwave IR file: truncated or not a zip archive",
    "random bytes": r"not a bitwave IR file: truncated or not a zip archive",
    "empty file": r"not a bitwave IR file: truncated or not a zip archive",
    "manifest not UTF-8": r"manifest\.json is not valid JSON: not UTF-8 text .*allowed: a UTF-8",
    "manifest not an object": r"manifest\.json must hold an object",
    "manifest nested past the parser": r"manifest\.json is nested too deeply; allowed: 64",
    "manifest nested past the limit": r"manifest\.json is nested too deeply; allowed: 64",
    "manifest integer of 5000 digits": r"manifest\.json is not valid JSON \(Exceeds the limit",
    "manifest too large": r"'manifest\.json' declares 2097154 bytes .*allowed: at most 1048576",
    "manifest missing": r"manifest\.json missing \(not a bitwave IR archive\)",
    "duplicate member": r"'layers\.0\.weights\.npy' appears twice; allowed: once",
    "member named ../x": r"'\.\./x\.npy' is a path; allowed: plain file names",
    "member with an absolute path": r"'/etc/x\.npy' is a path; allowed: plain file names",
    "member with a backslash": r"is a path; allowed: plain file names",
    "too many members": r"1031 archive members; allowed: at most 1024",
    "bzip2 member": r"uses compression method 12; allowed: stored or deflated",
    "encrypted member": r"is encrypted; allowed: plain members",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, valid) -> dict[str, Path]:
    return _build(tmp_path_factory.mktemp("hostile"), valid)


@pytest.mark.parametrize("case", CASES)
def test_load_refuses(case, hostile):
    start = time.perf_counter()
    with pytest.raises(IRError, match=CASES[case]) as error:
        ir.load(hostile[case])
    assert time.perf_counter() - start < 1.0, "refused from headers, not after reading"
    assert "\n" not in str(error.value) and str(hostile[case]) in str(error.value)


@pytest.mark.parametrize("case", CASES)
def test_cli_inspect_refuses(case, hostile, capsys):
    assert main(["inspect", str(hostile[case])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bitwave inspect: error: "), lines
    assert "Traceback" not in captured.err


def test_bomb_inflates_nothing(hostile, monkeypatch):
    """The cap is observable: loading the bomb inflates no member data at all."""
    inflated = []
    read = zipfile.ZipExtFile.read

    def counting(self, n=-1):
        data = read(self, n)
        inflated.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    with pytest.raises(IRError, match="declares 1073741952 bytes"):
        ir.load(hostile["zip bomb"])
    assert sum(inflated) == 0


MEMORY_CAPPED = """
import resource, sys, time
from bitwave.core import ir
from bitwave.core.errors import IRError
status = open("/proc/self/status").read()
used = int(status.split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (used + (200 << 20),) * 2)  # far below 1 GiB
for path in sys.argv[1:]:
    start = time.perf_counter()
    try:
        ir.load(path)
    except IRError:
        print(f"IRError {time.perf_counter() - start:.3f}")
"""


def test_bomb_and_huge_shape_under_a_memory_cap(hostile):
    """Before these limits, both ended in MemoryError under a memory cap."""
    files = [str(hostile[case]) for case in ("zip bomb", "huge shape in a tiny member")]
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CAPPED, *files], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    seconds = [float(line.split()[1]) for line in result.stdout.splitlines()]
    assert len(seconds) == 2 and max(seconds) < 1.0, result.stdout


def test_archive_and_file_totals(valid, monkeypatch):
    """Members under their own limit can still add up past the archive limit."""
    total = sum(info.file_size for info in zipfile.ZipFile(valid).infolist())
    monkeypatch.setattr(ir, "MAX_ARCHIVE_BYTES", total - 1)
    with pytest.raises(IRError, match=rf"members declare {total} bytes uncompressed; "
                       rf"allowed: at most {total - 1} in all"):  # fmt: skip
        ir.load(valid)
    monkeypatch.setattr(ir, "MAX_ARCHIVE_BYTES", valid.stat().st_size - 1)
    with pytest.raises(IRError, match=r"bytes; allowed: IR files of at most"):
        ir.load(valid)


def test_stream_longer_or_shorter_than_declared():
    """The data are read with a cap whatever the zip entry claims: at most the declared
    bytes + 1, and a stream that ends early is refused."""
    target = np.empty(8, np.uint8)
    with pytest.raises(IRError, match=r"more data than its header declares \(8 bytes\)"):
        ir._read_exactly(io.BytesIO(bytes(9)), target, "x")
    with pytest.raises(IRError, match="the data end after 5 of 8 bytes"):
        ir._read_exactly(io.BytesIO(bytes(5)), target, "x")


def test_fortran_order_and_other_valid_layouts_still_load(tmp_path, valid):
    """numpy's own options (Fortran order, big-endian) load as np.load read them."""
    members = _members(valid)
    weights = np.load(io.BytesIO(dict(members)["layers.1.weights.npy"]))
    fortran = _replaced(members, "layers.1.weights.npy", npy(np.asfortranarray(weights)))
    loaded = ir.load(write_zip(tmp_path / "f.bwir", fortran, zipfile.ZIP_STORED))
    assert loaded.sha256 == ir.load(valid).sha256
    assert np.array_equal(loaded.layers[1].weights, weights)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_fuzz_mutated_files_load_or_raise_irerror(data, valid, tmp_path):
    """Random byte edits, insertions and truncations of a valid file either load the same
    network (the edit hit zip metadata) or raise IRError: never another exception."""
    original = valid.read_bytes()
    content = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(content) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            content[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            content[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del content[position : position + data.draw(st.integers(1, 8))]
    if data.draw(st.booleans()):
        content = content[: data.draw(st.integers(0, len(content)))]
    path = tmp_path / "mutated.bwir"
    path.write_bytes(bytes(content))
    try:
        assert ir.load(path).sha256 == ir.load(valid).sha256
    except IRError as error:
        assert "\n" not in str(error)
