"""Configuration: defaults, overrides, and errors that name the key path and what is allowed."""

from __future__ import annotations

import pytest

from bitwave.app.cli import main
from bitwave.core import config
from bitwave.core.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_validate_and_overrides_merge(tmp_path):
    merged = config.load(write(tmp_path, "train: {epochs: 2}\n"))
    assert merged["train"]["epochs"] == 2
    assert merged["train"]["lr"] == config.defaults()["train"]["lr"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train: {epoch: 2}\n",
            "train: unknown key 'epoch'; allowed keys: batch_size, binary_steps, checkpoint_every, epochs, exits, loss_weighting, lr",
        ),
        ("train: {epochs: two}\n", "train.epochs: expected integer, got str 'two'"),
        ("train: {epochs: 0}\n", "train.epochs: 0 is out of range; allowed: 1 .. 10000"),
        (
            "model: {wbits: 9}\n",
            "model.wbits: 9 is not allowed; choose one of [1, 2, 3, 4, 5, 6, 7, 8, 32]",
        ),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("train: [\n", "not valid YAML"),
        ("hw: {clock_mhz: .nan}\n", "hw.clock_mhz: not a finite number; allowed: finite numbers"),
        ("hw: {fps: .inf}\n", "hw.fps: not a finite number"),
        ("train: {lr: .nan}\n", "train.lr: not a finite number"),
        ("train: {lr: 0}\n", "train.lr: 0 is out of range"),
        ("data: {snr_db: [.nan, 3]}\n", "data.snr_db[0]: not a finite number"),
        ("seed: 4294967296\n", "seed: 4294967296 is out of range; allowed: 0 .. 4294967295"),
        ("a: &a [*a]\n", "refers to its own anchor"),
    ],
)
def test_bad_config_names_key_and_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        config.load(write(tmp_path, text))
    assert message in str(error.value)


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(write(tmp_path, "name: !!python/object/apply:os.system ['true']\n"))


def test_cli_config_errors_exit_2(tmp_path, capsys):
    assert main(["config", str(write(tmp_path, "hw: {clock_mhz: -1}\n"))]) == 2
    err = capsys.readouterr().err
    assert "hw.clock_mhz: -1 is out of range" in err and "Traceback" not in err


def test_billion_laughs_is_refused_before_validation(tmp_path):
    text = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)
    )
    with pytest.raises(ConfigError, match="expands to more than 100000 YAML nodes"):
        config.load(write(tmp_path, text))


def test_validate_refuses_non_finite_numbers_of_a_merged_config():
    merged = config.merge(config.defaults(), {"hw": {"clock_mhz": float("inf")}})
    with pytest.raises(ConfigError, match="flow: hw.clock_mhz: not a finite number"):
        config.validate(merged, "flow")
