"""Design folders and run folders under hostile or unlucky conditions (issue 18,
docs/security.md): generate, synth and verify write their folders whole (a failure or an
interrupt leaves the old complete folder, a regeneration leaves nothing of the earlier design),
never write through a link, and ``flow --force`` deletes only a run folder bitwave made.

Every refusal asserts exit code 2, exactly one stderr line naming the problem, no traceback,
and no file changed outside the output folder (a snapshot of names, sizes and hashes of the
whole test folder before and after; for a refusal the output folder is unchanged too).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError

PROGRESS = re.compile(r"^[\w -]+:\s+\d+%\|")


# ---------------------------------------------------------------------------- helpers


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed) with its kind, size and hash; entries
    under ``skip`` left out."""
    entries: dict[str, tuple] = {}
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(parent, name)
            if skip is not None and (path == skip or skip in path.parents):
                continue
            key = str(path.relative_to(root))
            if path.is_symlink():
                entries[key] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[key] = ("dir",)
            else:
                entries[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return entries


def refused(capsys: pytest.CaptureFixture, argv: list[str], *words: str, code: int = 2) -> str:
    """Run ``bitwave ARGV``: exit ``code``, one stderr line holding ``words``, no traceback."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    messages = [line for line in lines if not PROGRESS.match(line)]  # tqdm bars are no message
    assert len(messages) == 1, err
    err = messages[0]
    for word in words:
        assert word in err, err
    return err


def temporaries(folder: Path) -> list[Path]:
    """Temporary siblings and Yosys working folders left anywhere under ``folder``."""
    return [p for p in folder.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name
            or p.name.startswith(".yosys_")]  # fmt: skip


def generate(model: Path, out: Path) -> None:
    assert main(["generate", str(model), "--out", str(out)]) == 0


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two small networks with different designs (other widths, other top names)."""
    folder = tmp_path_factory.mktemp("models")
    paths = {"a": folder / "a.bwir", "b": folder / "b.bwir"}
    assert (
        main(["random-ir", "--layers", "16,8,4", "--name", "alpha", "--out", str(paths["a"])]) == 0
    )
    assert main(["random-ir", "--layers", "16,4", "--name", "beta", "--seed", "3",
                 "--out", str(paths["b"])]) == 0  # fmt: skip
    return paths


@pytest.fixture
def design(models, tmp_path) -> Path:
    """A generated design folder of network a."""
    out = tmp_path / "design"
    generate(models["a"], out)
    return out


# ---------------------------------------------------------------------------- generate


def test_regenerating_leaves_no_file_of_the_earlier_design(models, design, tmp_path, capsys):
    (design / "verify").mkdir()
    (design / "verify" / "result.json").write_text('{"passed": true}\n')
    (design / "synth").mkdir()
    (design / "synth" / "area.json").write_text("{}\n")
    generate(models["b"], design)
    fresh = tmp_path / "fresh"
    generate(models["b"], fresh)
    assert set(snapshot(design)) == set(snapshot(fresh)), "only the new design's files"
    assert not (design / "bitwave_alpha.core").exists() and (design / "bitwave_beta.core").exists()
    assert not temporaries(tmp_path)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), BitwaveError("stopped midway")])
def test_an_interrupted_generate_leaves_the_old_folder(models, design, tmp_path, capsys,
                                                       monkeypatch, error):  # fmt: skip
    """The step after the RTL is written fails: the old design stays whole, no sibling."""
    import bitwave.hw.generate as hw_generate

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(hw_generate, "network_manifest", fail)
    before = snapshot(tmp_path)
    interrupted = isinstance(error, KeyboardInterrupt)
    refused(capsys, ["generate", str(models["b"]), "--out", str(design)],
            "interrupted" if interrupted else "stopped midway", code=130 if interrupted else 2)  # fmt: skip
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "content",
    [
        {"notes.txt": "my notes\n"},
        {"manifest.json": "{}"},
        {"manifest.json": "\xff not json"},
        {"sub/deep.txt": "x"},
    ],  # fmt: skip
    ids=["user-file", "foreign-manifest", "broken-manifest", "subfolder"],
)
def test_generate_refuses_a_folder_that_is_not_a_design(models, tmp_path, capsys, content):
    out = tmp_path / "mine"
    for name, text in content.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = snapshot(tmp_path)
    refused(capsys, ["generate", str(models["a"]), "--out", str(out)],
            str(out), "not a bitwave design folder")  # fmt: skip
    assert snapshot(tmp_path) == before


def test_generate_into_an_empty_folder_works(models, tmp_path):
    (tmp_path / "empty").mkdir()
    generate(models["a"], tmp_path / "empty")
    assert (tmp_path / "empty" / "manifest.json").is_file()


@pytest.mark.parametrize("kind", ["out-is-link", "link-inside"])
def test_generate_refuses_links(models, design, tmp_path, capsys, kind):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me\n")
    if kind == "out-is-link":
        out = tmp_path / "link"
        out.symlink_to(design)
    else:
        out = design
        (design / "verify").symlink_to(elsewhere)
    before = snapshot(tmp_path)
    refused(capsys, ["generate", str(models["b"]), "--out", str(out)], "symbolic link")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["", "file"])
def test_library_generate_checks_its_output(models, tmp_path, out):
    """Library callers (flow, benchmarks) get the CLI's output checks."""
    from bitwave.hw.generate import generate as generate_design

    (tmp_path / "file").write_text("a file\n")
    with pytest.raises(BitwaveError, match="allowed"):
        generate_design(models["a"], str(tmp_path / out) if out else "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---------------------------------------------------------------------------- synth


def _poison(monkeypatch, figure: str) -> None:
    """Make the flow measure a NaN power or an infinite area."""
    import bitwave.synth.flows.flow as flow

    if figure == "power":
        real = flow.estimate_power
        monkeypatch.setattr(flow, "estimate_power",
                            lambda *a, **k: replace(real(*a, **k), dynamic_w=math.nan))  # fmt: skip
    else:
        real_area = flow.area_by

        def area_by(*args, **kwargs):
            total, by_cell, by_block = real_area(*args, **kwargs)
            return math.inf, by_cell, by_block

        monkeypatch.setattr(flow, "area_by", area_by)


@pytest.mark.parametrize("figure", ["power", "area"])
def test_synth_refuses_a_non_finite_figure(design, tmp_path, capsys, monkeypatch, figure):
    _poison(monkeypatch, figure)
    before = snapshot(tmp_path)
    refused(capsys, ["synth", str(design)], figure, "non-finite")
    assert snapshot(tmp_path) == before, "no DIR/synth, no temporary folder"


def _fail_synth(monkeypatch, design: Path, step: str) -> str:
    """Make synth fail at ``step``; returns the words of the message."""
    import bitwave.synth.flows.asic as asic
    import bitwave.synth.flows.design as synth_design
    import bitwave.synth.flows.flow as flow
    from bitwave.synth.tools.yosys import YosysError

    def yosys_fails(script, workdir, name="synth", timeout_s=0):
        (Path(workdir) / f"{name}.log").write_text("ERROR: broken\n")
        raise YosysError("yosys failed (exit 1): ERROR: broken")

    def interrupted(*args, **kwargs):
        assert temporaries(design), "Yosys works inside the temporary sibling"
        raise KeyboardInterrupt

    def reports_fail(*args, **kwargs):
        raise BitwaveError("stopped midway")

    if step == "yosys":
        monkeypatch.setattr(asic, "run_yosys", yosys_fails)
        return "yosys failed"
    if step == "measure":
        monkeypatch.setattr(flow, "measure", interrupted)
        return "interrupted"
    monkeypatch.setattr(synth_design, "write_cell_models", reports_fail)
    return "stopped midway"


@pytest.mark.parametrize("step", ["yosys", "measure", "reports"])
def test_a_failed_synth_leaves_the_old_results_and_no_temporaries(design, tmp_path, capsys,
                                                                  monkeypatch, step):  # fmt: skip
    """Yosys fails; the measurement is interrupted after Yosys ran; writing the reports
    fails after the netlists were kept: DIR/synth is the old one, no temporary folder."""
    words = _fail_synth(monkeypatch, design, step)
    (design / "synth").mkdir()
    (design / "synth" / "area.json").write_text('{"previous": "run"}\n')
    before = snapshot(tmp_path)
    refused(capsys, ["synth", str(design)], words, code=130 if step == "measure" else 2)
    assert snapshot(tmp_path) == before


def test_synth_replaces_its_folder_whole(design, tmp_path, capsys):
    """A new run leaves no stale file of an earlier one; FPGA results of the design stay."""
    (design / "synth").mkdir()
    (design / "synth" / "stale.json").write_text("{}\n")
    (design / "synth" / "fpga_ice40.json").write_text('{"target": "ice40"}\n')
    assert main(["synth", str(design)]) == 0
    names = {p.name for p in (design / "synth").iterdir()}
    assert "stale.json" not in names and {"area.json", "power.json", "fpga_ice40.json"} <= names
    assert not temporaries(tmp_path)


def test_synth_refuses_a_linked_synth_folder(design, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (design / "synth").symlink_to(elsewhere)
    before = snapshot(tmp_path)
    refused(capsys, ["synth", str(design)], "symbolic link")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- verify


@pytest.mark.parametrize("kind", ["verify-is-link", "build-is-link"])
def test_verify_never_writes_through_a_link(design, tmp_path, capsys, kind):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if kind == "verify-is-link":
        (design / "verify").symlink_to(elsewhere)
    else:
        (design / "verify").mkdir()
        (design / "verify" / "build").symlink_to(elsewhere)
    before = snapshot(tmp_path)
    refused(capsys, ["verify", str(design), "--sim", "icarus"], "symbolic link")
    assert snapshot(tmp_path) == before and not any(elsewhere.iterdir())


def test_a_failed_verify_leaves_no_old_pass(design, tmp_path, capsys, monkeypatch):
    """The old result.json goes before any work: a failure never leaves an old PASS."""
    from bitwave.sim import runner

    def fail(*args, **kwargs):
        raise BitwaveError("the simulator failed")

    monkeypatch.setattr(runner, "build", fail)
    (design / "verify").mkdir()
    (design / "verify" / "result.json").write_text('{"passed": true}\n')
    before = snapshot(tmp_path, skip=design / "verify")
    refused(capsys, ["verify", str(design), "--sim", "icarus"], "the simulator failed")
    assert snapshot(tmp_path, skip=design / "verify") == before
    assert not (design / "verify" / "result.json").exists()


# ---------------------------------------------------------------------------- flow --force


@pytest.fixture
def stopped_flow(monkeypatch):
    """flow with its stages replaced: it prepares the run folder, then stops (exit 2)."""
    import bitwave.app.flow as flow

    def stop(*args, **kwargs):
        raise BitwaveError("stages skipped by the test")

    monkeypatch.setattr(flow, "_stage", lambda *args, **kwargs: None)
    monkeypatch.setattr(flow, "_train", stop)


@pytest.mark.parametrize("kind", ["user-folder", "old-run", "link"])
def test_flow_force_deletes_only_run_folders(stopped_flow, tmp_path, capsys, kind):
    run = tmp_path / "run"
    if kind == "link":
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "thesis.tex").write_text("years of work\n")
        run.symlink_to(tmp_path / "home")
    else:
        run.mkdir()
        (run / "thesis.tex").write_text("years of work\n")
        if kind == "old-run":
            (run / "flow_config.json").write_text("{}")
    before = snapshot(tmp_path)
    err = refused(capsys, ["flow", "--out", str(run), "--force"], str(run),
                  "delete it by hand" if kind == "old-run" else "not a bitwave run folder")  # fmt: skip
    assert kind == "old-run" or "bitwave deletes only folders it made" in err
    assert snapshot(tmp_path) == before


def test_flow_force_redoes_a_marked_run_folder(stopped_flow, tmp_path, capsys):
    from bitwave.app.flow import RUN_FORMAT, RUN_MARKER

    run = tmp_path / "run"
    refused(capsys, ["flow", "--out", str(run)], "stages skipped")
    marker = json.loads((run / RUN_MARKER).read_text())
    assert marker["format"] == RUN_FORMAT and len(marker["config_sha256"]) == 64
    (run / "bitwise").mkdir()
    (run / "bitwise" / "train.json").write_text("{}")
    refused(capsys, ["flow", "--out", str(run), "--force"], "stages skipped")
    assert sorted(p.name for p in run.iterdir()) == [RUN_MARKER, "flow_config.json"]


def test_flow_force_takes_an_empty_folder(stopped_flow, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    refused(capsys, ["flow", "--out", str(tmp_path / "run"), "--force"], "stages skipped")
    assert (tmp_path / "run" / ".bitwave-run").is_file()


def test_flow_refuses_a_run_of_another_configuration(stopped_flow, tmp_path, capsys):
    run = tmp_path / "run"
    refused(capsys, ["flow", "--out", str(run)], "stages skipped")
    (run / "flow_config.json").write_text('{"name": "another"}')
    before = snapshot(tmp_path)
    refused(capsys, ["flow", "--out", str(run)], "made with another configuration")
    assert snapshot(tmp_path) == before


def test_flow_refuses_to_write_into_a_folder_that_is_no_run(stopped_flow, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    refused(capsys, ["flow", "--out", str(tmp_path / "mine")], "not a bitwave run folder")
    assert snapshot(tmp_path) == before
