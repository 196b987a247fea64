"""The CLI on multi-exit networks: random-ir writes them, run-golden runs any exit, inspect
lists them, and a bad exit is one clear error (exit code 2)."""

from __future__ import annotations

import json

import numpy as np

from bitwave.app.cli import main
from bitwave.core import golden, ir


def test_random_ir_run_golden_and_inspect_with_exits(tmp_path, capsys):
    model, frames, out = tmp_path / "m.bwir", tmp_path / "x.npy", tmp_path / "y.npy"
    assert main(["random-ir", "--layers", "48,20,exit,20,10", "--out", str(model)]) == 0
    net = ir.load(model)
    assert net.version == 3 and net.n_exits == 2
    x = np.random.default_rng(1).integers(0, 2, (30, 48))
    np.save(frames, x)
    for k in range(2):
        args = ["run-golden", str(model), "--input", str(frames), "--output", str(out)]
        assert main([*args, "--exit", str(k)]) == 0
        assert np.array_equal(np.load(out), golden.run(net.exit_network(k), x))
    capsys.readouterr()
    assert main(["run-golden", str(model), "--input", str(frames), "--output", str(out),
                 "--exit", "2"]) == 2  # fmt: skip
    assert "exits must be in [0, 1]" in capsys.readouterr().err
    assert main(["inspect", "--json", str(model)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exits"] == [
        {"after": "fc0", "layer": {"name": "exit0", "op": "binary_dense", "in_width": 20,
                                   "out_width": 10, "wbits": 1, "in_type": "bipolar",
                                   "out_type": "bipolar"}}
    ]  # fmt: skip


def test_random_ir_refuses_a_misplaced_exit(tmp_path, capsys):
    assert main(["random-ir", "--layers", "48,exit,10", "--out", str(tmp_path / "m.bwir")]) == 2
    assert "must follow a hidden layer" in capsys.readouterr().err
    assert not (tmp_path / "m.bwir").exists()
