"""Hostile checkpoints on `bitwave train CONFIG --out RUN --resume` (issue 18, docs/security.md).

A corrupt, truncated, foreign or mismatched RUN/checkpoint.pt is one BitwaveError naming the
file (exit 2, one stderr line, no traceback, never torch's advice to load it unsafely), and the
run's config.yaml and checkpoint.pt are left exactly as they were.
"""

from __future__ import annotations

import io
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from test_train import tiny_config

from bitwave.app.cli import main
from bitwave.core import config
from bitwave.core.errors import BitwaveError
from bitwave.models.kinds import build_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A one-epoch tiny bitwise run and a config that resumes it for a second epoch."""
    from bitwave.models.train import train

    tmp = tmp_path_factory.mktemp("hostile_checkpoint")
    train(config.load(tiny_config(tmp)), tmp / "run", progress=False)
    return tmp, _resume_config(tmp, "more.yaml")


def _resume_config(tmp: Path, name: str, **model) -> Path:
    user = yaml.safe_load((tmp / "cfg_0.yaml").read_text())
    user["train"]["epochs"] = 2
    user["model"].update(model)
    (tmp / name).write_text(yaml.safe_dump(user))
    return tmp / name


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)


def _saved(state: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _other_model(state: dict, hidden: list[int], wbits: int = 1) -> bytes:
    """The checkpoint with the weights (and optimizer) of another model and no model config,
    as an older checkpoint or a foreign one would be."""
    model = build_model({"kind": "mlp", "hidden": hidden, "wbits": wbits, "abits": wbits}, 2052)
    optimizer = torch.optim.Adam(model.parameters())
    sum(param.sum() for param in model.parameters()).backward()
    optimizer.step()  # an optimizer state with tensors of this model's shapes
    state = {**state, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    del state["model_config"]
    return _saved(state)


def _edited(state: dict, **changes) -> bytes:
    return _saved({**state, **changes})


def _zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"not a pickle")
    return buffer.getvalue()


HOSTILE = {
    "empty": lambda good, state: b"",
    "truncated": lambda good, state: good[: len(good) // 2],
    "random_bytes": lambda good, state: bytes(range(256)) * 8,
    "foreign_pickle": lambda good, state: pickle.dumps(Path("/etc/passwd")),
    "foreign_zip": lambda good, state: _zip_archive(),
    "plain_dict_other_keys": lambda good, state: _saved({"state_dict": {}, "epoch": 3}),
    "a_list": lambda good, state: _saved([1, 2, 3]),
    "negative_epoch": lambda good, state: _edited(state, epoch=-1),
    "history_not_records": lambda good, state: _edited(state, history="x" * 100),
    "other_width": lambda good, state: _other_model(state, [16]),
    "float_model": lambda good, state: _other_model(state, [24], wbits=32),
    "other_input_bits": lambda good, state: _edited(state, inputs={**state["inputs"], "bits": 3}),
    "weights_not_tensors": lambda good, state: _edited(state, model={k: 0 for k in state["model"]}),
    "optimizer_of_another_model": lambda good, state: _edited(
        state, optimizer=torch.load(io.BytesIO(_other_model(state, [16])))["optimizer"]
    ),
}


def _hostile_run(trained: tuple[Path, Path], tmp_path: Path, case: str) -> Path:
    """A copy of the trained run whose checkpoint.pt is the hostile case."""
    tmp, _ = trained
    run = tmp_path / "run"
    shutil.copytree(tmp / "run", run)
    good = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(HOSTILE[case](good, _checkpoint(run)))
    return run


def _snapshot(run: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(run.iterdir())}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_checkpoint_is_one_clear_refusal(trained, tmp_path, capsys, case):
    from bitwave.models.train import train

    run = _hostile_run(trained, tmp_path, case)
    before = _snapshot(run)
    with pytest.raises(BitwaveError, match="checkpoint.pt"):
        train(config.load(trained[1]), run, resume=True, progress=False)
    assert _snapshot(run) == before
    capsys.readouterr()
    assert main(["train", str(trained[1]), "--out", str(run), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "checkpoint.pt" in err and "allowed:" in err
    assert "Traceback" not in err and "weights_only" not in err
    assert _snapshot(run) == before, "config.yaml or checkpoint.pt changed on a refusal"


def test_checkpoint_of_another_config_is_refused(trained, tmp_path, capsys):
    """Same weight shapes (abits 1 vs 2), another model config: refused by the config the
    checkpoint records, before config.yaml is rewritten."""
    run = tmp_path / "run"
    shutil.copytree(trained[0] / "run", run)
    before = _snapshot(run)
    other = _resume_config(trained[0], "abits2.yaml", abits=2)
    assert main(["train", str(other), "--out", str(run), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "model.abits 1, the config has 2" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(run) == before
