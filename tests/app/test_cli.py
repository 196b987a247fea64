"""The bitwave command: subcommands, the core flow, and exit code 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import golden, ir


def bitwave(*args):
    return subprocess.run(
        [sys.executable, "-m", "bitwave.app.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_help_lists_subcommands():
    result = bitwave("--help")
    assert result.returncode == 0
    for name in ("random-ir", "run-golden", "inspect", "config", "bench"):
        assert name in result.stdout


def test_random_ir_then_run_golden(tmp_path):
    model = tmp_path / "m.bwir"
    assert main(["random-ir", "--layers", "100,37,9", "--seed", "4", "--out", str(model)]) == 0
    net = ir.load(model)
    assert net.widths == [100, 37, 9]
    x = np.random.default_rng(0).integers(0, 2, size=(25, 100)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert (
        main(
            [
                "run-golden",
                str(model),
                "--input",
                str(tmp_path / "x.npy"),
                "--output",
                str(tmp_path / "y.npy"),
            ]
        )
        == 0
    )
    assert np.array_equal(np.load(tmp_path / "y.npy"), golden.run(net, x))


def test_random_ir_mixed_bits(tmp_path):
    model = tmp_path / "m.bwir"
    assert (
        main(
            [
                "random-ir",
                "--layers",
                "20,10,5",
                "--wbits",
                "1,4",
                "--abits",
                "3,1",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    assert [layer.op for layer in ir.load(model).layers] == ["binary_dense", "int_dense"]


def test_inspect_json(tmp_path, capsys):
    model = tmp_path / "m.bwir"
    main(["random-ir", "--layers", "10,4", "--out", str(model)])
    capsys.readouterr()
    assert main(["inspect", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layers"][0]["op"] == "binary_dense" and len(info["sha256"]) == 64


def test_float_features_are_encoded_with_the_irs_coding(tmp_path):
    from bitwave.core.coding import encode, fit_lloyd_max

    features = np.abs(np.random.default_rng(0).normal(size=(50, 5)))
    net = ir.load(_saved(tmp_path))
    net.coding = fit_lloyd_max(features, bits=2)
    ir.save(net, tmp_path / "c.bwir")
    np.save(tmp_path / "f.npy", features)
    assert (
        main(
            [
                "run-golden",
                str(tmp_path / "c.bwir"),
                "--input",
                str(tmp_path / "f.npy"),
                "--output",
                str(tmp_path / "y.npy"),
            ]
        )
        == 0
    )
    assert np.array_equal(
        np.load(tmp_path / "y.npy"), golden.run(net, encode(net.coding, features))
    )


def _saved(tmp_path):
    path = tmp_path / "n.bwir"
    main(["random-ir", "--layers", "10,3", "--out", str(path)])
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["random-ir", "--layers", "10,x", "--out", "{tmp}/a.bwir"],
            "--layers: expected comma-separated integers",
        ),
        (
            ["random-ir", "--layers", "10,4", "--wbits", "9", "--out", "{tmp}/a.bwir"],
            "wbits: each value must be 1..8",
        ),
        (
            ["random-ir", "--layers", "10,4,3", "--abits", "1,1,1", "--out", "{tmp}/a.bwir"],
            "abits: give one value or one per layer (2)",
        ),
        (["inspect", "{tmp}/missing.bwir"], "no such IR file"),
        (
            [
                "run-golden",
                "{tmp}/n.bwir",
                "--input",
                "{tmp}/missing.npy",
                "--output",
                "{tmp}/y.npy",
            ],
            "no such input file",
        ),
        (
            ["run-golden", "{tmp}/n.bwir", "--input", "{tmp}/wide.npy", "--output", "{tmp}/y.npy"],
            "shape (frames, 10)",
        ),
        (
            ["run-golden", "{tmp}/n.bwir", "--input", "{tmp}/float.npy", "--output", "{tmp}/y.npy"],
            "holds float features but IR random has no input coding",
        ),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path, capsys, args, message):
    # in process (a real process costs seconds of imports; test_parser_errors_are_one_line and
    # tests/app/test_hostile.py run real ones): an exception escaping main fails the test
    _saved(tmp_path)
    np.save(tmp_path / "wide.npy", np.zeros((3, 11), np.uint8))
    np.save(tmp_path / "float.npy", np.zeros((3, 10), np.float32))
    capsys.readouterr()
    try:
        code = main([a.format(tmp=tmp_path) for a in args])
    except SystemExit as stop:  # argparse's refusals
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "a.bwir").exists() and not (tmp_path / "y.npy").exists()


def test_bench_golden_prints_json(capsys):
    with pytest.raises(SystemExit) as stop:  # in process: test_help_lists_subcommands runs one
        main(["bench", "--help"])
    assert stop.value.code == 0 and "golden" in capsys.readouterr().out


def test_outputs_get_normal_permissions(tmp_path):
    model = tmp_path / "m.bwir"
    main(["random-ir", "--layers", "10,4", "--out", str(model)])
    assert model.stat().st_mode & 0o044, (
        "group/other can read what bitwave writes (umask permitting)"
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_every_command_has_its_help_from_its_handler():
    from bitwave.app.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {action.dest: action.help for action in subparsers._choices_actions}
    assert helps["random-ir"] == "write a random (untrained) IR network"
    assert helps["generate"] == "lower an IR to Verilog, manifest.json and a FuseSoC core"
    assert all(helps.values()), [name for name, text in helps.items() if not text]


def test_parser_errors_are_one_line(tmp_path):
    result = bitwave("generate", "m.bwir", "--out", str(tmp_path / "d"), "--clock-mhz", "inf")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bitwave generate: error: argument --clock-mhz: inf is out of range; allowed: a "
        "positive finite number (see bitwave generate --help)"
    ]
    assert not (tmp_path / "d").exists()
