"""``bitwave eval RUN``: SE quality on held-out speakers and noises, the way the literature
measures it: SI-SDR improvement, STOI (pystoi), wideband PESQ (pesq), IBM accuracy, and the
oracle-IBM ceiling on the same mixtures.

metrics.json also breaks SI-SDRi down by noise type (held-out types marked), by input SNR and
by data source (``by_source``: speech source, reverberant or dry), and eval/breakdown.png plots
the first two, beside the oracle: where a model falls short shows there. The deployed peer
RNNoise (``bitwave.models.peers``) is scored on the same utterances (``peers``, eval/peers.md),
its MAC/s beside the run's binary MAC/s (``macs_per_second``).

Bitwise and k-bit runs are evaluated through their IR with the golden model, i.e. exactly
what the hardware computes; float runs through torch with their soft mask. A multi-exit run
is measured at every exit (metrics.json ``exits``, eval/exits.md: one row per exit; the
top-level figures are the final exit's, as for a single-exit run).

The model's masks are applied with its gain floor (``mask_floor_db``: the IR's for bitwise and
k-bit runs, the run config's ``model.mask_floor_db`` for float runs; ``--mask-floor``
overrides it). The oracle stays the plain ideal binary mask (no floor): a fixed yardstick, so
a floor cannot move the ceiling that the fractions of the oracle are measured against.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.inputs import safe_load_bounded
from bitwave.core.ops import exit_macs
from bitwave.core.ops.base import REAL_TIME_FPS
from bitwave.core.paths import inside, write_text
from bitwave.models import features, metrics
from bitwave.models.peers import available_peers, peers_table
from bitwave.models.plots import Panel, breakdown_plot, spectrogram_grid

MaskFn = Callable[[np.ndarray], np.ndarray]
MasksFn = Callable[[np.ndarray], list[np.ndarray]]  # magnitudes -> every exit's mask
EXAMPLES = 3


def _coded_network(run: Path) -> ir.Network | None:
    """The run's IR (None for a float run), refused unless it can consume magnitudes."""
    if not (run / "model.bwir").is_file():
        return None
    return load_coded_network(run / "model.bwir")


def load_coded_network(path: str | Path) -> ir.Network:
    """An IR file that can consume magnitudes (it has an input coding)."""
    net = ir.load(path)
    if net.coding is None:
        raise BitwaveError(f"{path} has no input coding; it cannot consume magnitudes")
    return net


def network_mask_function(net: ir.Network) -> MaskFn:
    """noisy magnitudes (frames, 513) -> the golden model's mask bits (the final exit) through
    the IR's input coding: exactly what the hardware computes."""

    def binary_mask(magnitudes: np.ndarray) -> np.ndarray:
        return golden.run(net, features.bitplane_input(magnitudes, net.coding)).astype(np.float32)

    return binary_mask


def run_mask_floor_db(run: str | Path) -> float | None:
    """The gain floor (dB) a run's masks are applied with: its IR's ``mask_floor_db``, or for a
    float run (no IR) its config's ``model.mask_floor_db``; None = no floor."""
    run = Path(run)
    net = _coded_network(run)
    if net is not None:
        return net.mask_floor_db
    config = safe_load_bounded(run / "config.yaml")
    model = config.get("model") if isinstance(config, dict) else None
    floor = model.get("mask_floor_db") if isinstance(model, dict) else None
    problem = ir.mask_floor_problem(floor)
    if problem:
        raise BitwaveError(f"{run}/config.yaml: model.mask_floor_db: {problem}")
    return None if floor is None else float(floor)


def exit_masks_function(run: str | Path) -> MasksFn | None:
    """noisy magnitudes -> every exit's mask (index = exit number) for a run whose IR has
    early exits; None for any other run."""
    net = _coded_network(Path(run))
    if net is None or not net.exits:
        return None

    def masks(magnitudes: np.ndarray) -> list[np.ndarray]:
        bits = features.bitplane_input(magnitudes, net.coding)
        return [out.astype(np.float32) for out in golden.run_exits(net, bits)]

    return masks


def mask_function(run: str | Path) -> tuple[str, MaskFn]:
    """(kind, noisy magnitudes (frames, 513) -> mask (frames, 513)) for a trained run (the
    final exit of a multi-exit run)."""
    run = Path(run)
    net = _coded_network(run)
    if net is not None:
        return "bitwise" if all(
            layer.wbits == 1 for layer in net.layers
        ) else "quantized", network_mask_function(net)

    from bitwave.models.train import load_model

    model, inputs, _ = load_model(run)

    def soft_mask(magnitudes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(inputs(magnitudes)).numpy()

    return "float", soft_mask


def _pesq(clean: np.ndarray, estimate: np.ndarray) -> float:
    """PESQ, or NaN (left out of the means) where PESQ cannot score a clip (silence, too short)."""
    try:
        return metrics.pesq_wb(clean, estimate)
    except metrics.MetricUnavailable as error:
        warnings.warn(f"PESQ skipped for one utterance: {error}", stacklevel=2)
        return float("nan")


def _scores(enhanced: np.ndarray, noisy: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    return {
        "si_sdr": metrics.si_sdr(enhanced, clean),
        "si_sdri": metrics.si_sdr_improvement(enhanced, noisy, clean),
        "stoi": metrics.stoi(clean, enhanced),
        "pesq": _pesq(clean, enhanced),
    }


scores = _scores  # public: ``bitwave enhance --clean`` prints these same figures


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys()
    return {key: float(np.nanmean([row[key] for row in rows])) for key in keys}


SNR_BANDS_DB = (-5.0, 0.0, 5.0, 10.0)  # band edges of the by-SNR breakdown (outer bands open)


SNR_BANDS = [f"< {SNR_BANDS_DB[0]:g} dB"] + [
    f"{low:g} .. {high:g} dB" for low, high in zip(SNR_BANDS_DB, SNR_BANDS_DB[1:], strict=False)
] + [f">= {SNR_BANDS_DB[-1]:g} dB", "unknown"]  # fmt: skip


def _snr_band(snr_db: float) -> str:
    if not np.isfinite(snr_db):
        return SNR_BANDS[-1]
    return SNR_BANDS[int(np.searchsorted(SNR_BANDS_DB, snr_db, side="right"))]


def _source(mixture: Any) -> str:
    """The by-source group of a mixture: its speech source, reverberant or dry."""
    return getattr(mixture, "source_label", "unknown")


def breakdown(
    mixtures: Sequence[Any], model_sdri: Sequence[float], oracle_sdri: Sequence[float],
    key: Callable[[Any], str], order: Callable[[str], Any] = str,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Mean SI-SDRi of the model and the oracle IBM per group of mixtures (``key`` names the
    group of one mixture), with the model's fraction of the oracle."""
    groups: dict[str, list[int]] = {}
    for index, mixture in enumerate(mixtures):
        groups.setdefault(key(mixture), []).append(index)
    table = {}
    for name in sorted(groups, key=order):
        rows = groups[name]
        model = float(np.mean([model_sdri[i] for i in rows]))
        oracle = float(np.mean([oracle_sdri[i] for i in rows]))
        table[name] = {"utterances": len(rows), "si_sdri": model, "oracle_si_sdri": oracle,
                       "fraction_of_oracle": model / oracle if oracle else float("nan")}  # fmt: skip
    return table


def add_means(
    table: dict[str, dict[str, Any]], mixtures: Sequence[Any], rows: Sequence[dict[str, float]],
    key: Callable[[Any], str], prefix: str, names: Sequence[str],
) -> None:  # fmt: skip
    """Add the mean of each of ``names`` in ``rows`` (one per mixture) to every group of a
    breakdown table as ``<prefix><name>`` (``key`` names the group of a mixture, as it did for
    the table); PESQ's NaNs (clips it cannot score) are left out of the means."""
    groups: dict[str, list[dict[str, float]]] = {}
    for mixture, row in zip(mixtures, rows, strict=True):
        groups.setdefault(key(mixture), []).append(row)
    for group, members in groups.items():
        for name in names:
            table[group][f"{prefix}{name}"] = float(np.nanmean([row[name] for row in members]))


def _add_perceptual(
    table: dict[str, dict[str, Any]], mixtures: Sequence[Any], systems: dict[str, list[dict]],
    key: Callable[[Any], str],
) -> None:  # fmt: skip
    """STOI and PESQ of every system (model, noisy input, oracle, peers: ``systems`` maps a
    key prefix to its rows) and each peer's SI-SDRi, per group: where a perceptual gain or
    loss comes from (e.g. reverberant natural speech against dry formant speech)."""
    for prefix, rows in systems.items():
        names = (
            ("stoi", "pesq") if prefix in ("", "noisy_", "oracle_") else ("si_sdri", "stoi", "pesq")
        )
        add_means(table, mixtures, rows, key, prefix, names)


def _write_example(
    out: str | Path, name: str, mixture: Any, enhanced: np.ndarray, mask: np.ndarray,
    si_sdri: float,
) -> None:  # fmt: skip
    """``name``_{noisy,enhanced,clean}.wav and ``name``.png (spectrograms and the mask)."""
    from bitwave.models.data import write_wav

    for kind, audio in (("noisy", mixture.noisy), ("enhanced", enhanced), ("clean", mixture.clean)):
        write_wav(inside(out, f"{name}_{kind}.wav"), audio)
    title = f"{mixture.noise_type} at {mixture.snr_db:.1f} dB: SI-SDRi {si_sdri:.1f} dB"
    panels = [Panel.of_audio("noisy", mixture.noisy), Panel.of_audio("enhanced", enhanced),
              Panel.of_audio("clean", mixture.clean), Panel("mask", mask, mask=True)]  # fmt: skip
    spectrogram_grid(inside(out, f"{name}.png"), panels, title)


def _exit_scores(
    masks: list[np.ndarray], noisy_spec: np.ndarray, mixture: Any, ibm: np.ndarray,
    floor: float = 0.0,
) -> list[dict[str, float]]:  # fmt: skip
    """The scores and IBM accuracy of each of ``masks`` on one mixture (gain ``floor``)."""
    rows = []
    for mask in masks:
        enhanced = features.apply_mask(noisy_spec, mask, mixture.noisy.size, floor)
        rows.append({**_scores(enhanced, mixture.noisy, mixture.clean),
                     "ibm_accuracy": metrics.ibm_accuracy(mask >= 0.5, ibm)})  # fmt: skip
    return rows


def _exit_rows(per_utterance: list[list[dict]], oracle: dict) -> list[dict[str, Any]]:
    """One row per exit: the exit number, its blocks (exit k runs blocks 0..k), mean scores."""
    rows = []
    for k, scores in enumerate(zip(*per_utterance, strict=True)):
        mean = _mean(scores)
        fraction = mean["si_sdri"] / oracle["si_sdri"] if oracle["si_sdri"] else float("nan")
        rows.append({"exit": k, "blocks": k + 1, "model": mean,
                     "fraction_of_oracle_si_sdri": fraction})  # fmt: skip
    return rows


def evaluate(
    mask_fn: MaskFn, mixtures: Sequence[Any], out: str | Path | None = None, progress: bool = True,
    heldout_noises: Sequence[str] = (), exits_fn: MasksFn | None = None, floor: float = 0.0,
    peers: Sequence[Any] = (),
) -> dict:  # fmt: skip
    """Metrics of a mask estimator over ``mixtures``, beside the noisy input and the oracle IBM,
    broken down by noise type and input SNR. With ``out``, also writes a few enhanced wav
    examples, spectrogram PNGs and the breakdown plot there. With ``exits_fn`` (a multi-exit
    model: every exit's masks, the last the final exit's, which then replaces ``mask_fn``),
    ``exits`` holds one row of scores per exit. The model's masks are applied with the
    linear gain ``floor`` (``features.mask_gain``; 0 = none), the oracle's without. Each of ``peers``
    (``bitwave.models.peers.Peer``: audio in, audio out) is scored on the same mixtures
    (``peers``, and its SI-SDRi in ``by_source``)."""
    if not mixtures:
        raise BitwaveError("no test mixtures to evaluate")
    rows, oracle_rows, noisy_rows, accuracy, exit_scores = [], [], [], [], []
    peer_rows: dict[str, list[dict[str, float]]] = {peer.name: [] for peer in peers}
    for index, mixture in enumerate(tqdm(mixtures, desc="eval", disable=not progress, unit="utt")):
        noisy_spec, noisy_mag, ibm = features.mixture_frames(mixture)
        masks = exits_fn(noisy_mag) if exits_fn is not None else None
        mask = masks[-1] if masks is not None else mask_fn(noisy_mag)
        enhanced = features.apply_mask(noisy_spec, mask, mixture.noisy.size, floor)
        oracle = features.apply_mask(noisy_spec, ibm, mixture.noisy.size)  # no floor: fixed
        rows.append(_scores(enhanced, mixture.noisy, mixture.clean))
        oracle_rows.append(_scores(oracle, mixture.noisy, mixture.clean))
        noisy_rows.append(
            {
                "stoi": metrics.stoi(mixture.clean, mixture.noisy),
                "pesq": _pesq(mixture.clean, mixture.noisy),
            }
        )
        accuracy.append(metrics.ibm_accuracy(mask >= 0.5, ibm))
        for peer in peers:
            peer_out = peer.enhance(mixture.noisy)
            peer_rows[peer.name].append(_scores(peer_out, mixture.noisy, mixture.clean))
        if masks is not None:  # the final exit's row is the model's
            exit_scores.append(_exit_scores(masks[:-1], noisy_spec, mixture, ibm, floor))
            exit_scores[-1].append({**rows[-1], "ibm_accuracy": accuracy[-1]})
        if out is not None and index < EXAMPLES:
            _write_example(out, f"example{index}", mixture, enhanced, mask, rows[-1]["si_sdri"])
    model = _mean(rows)
    model["ibm_accuracy"] = float(np.mean(accuracy))
    oracle = _mean(oracle_rows)
    model_sdri, oracle_sdri = [r["si_sdri"] for r in rows], [r["si_sdri"] for r in oracle_rows]
    by_noise = breakdown(mixtures, model_sdri, oracle_sdri, lambda m: m.noise_type)
    for name, entry in by_noise.items():
        entry["heldout"] = name in heldout_noises
    by_snr = breakdown(
        mixtures, model_sdri, oracle_sdri, lambda m: _snr_band(m.snr_db), SNR_BANDS.index
    )
    by_source = breakdown(mixtures, model_sdri, oracle_sdri, _source)
    systems = {"": rows, "noisy_": noisy_rows, "oracle_": oracle_rows,
               **{f"{name}_": peer_rows[name] for name in peer_rows}}  # fmt: skip
    _add_perceptual(by_source, mixtures, systems, _source)
    _add_perceptual(by_snr, mixtures, systems, lambda m: _snr_band(m.snr_db))
    for name, rows_of_peer in peer_rows.items():
        add_means(
            by_noise, mixtures, rows_of_peer, lambda m: m.noise_type, f"{name}_", ("si_sdri",)
        )
    if out is not None:
        breakdown_plot(inside(out, "breakdown.png"), mixtures, model_sdri, oracle_sdri, by_noise)
    result = {
        "utterances": len(mixtures),
        "model": model,
        "oracle_ibm": oracle,
        "noisy": _mean(noisy_rows),
        "fraction_of_oracle_si_sdri": model["si_sdri"] / oracle["si_sdri"]
        if oracle["si_sdri"]
        else float("nan"),
        "by_noise": by_noise,
        "by_snr": by_snr,
        "by_source": by_source,
    }
    if peers:
        result["peers"] = {peer.name: {**_mean(peer_rows[peer.name]),
                                       "macs_per_second": peer.macs_per_second} for peer in peers}  # fmt: skip
    if exit_scores:
        result["exits"] = _exit_rows(exit_scores, oracle)
    return result


def groups_table(table: dict[str, dict[str, Any]], peers: Sequence[str] = ()) -> list[str]:
    """A breakdown (``by_source`` or ``by_snr``) as markdown rows: STOI and PESQ of the noisy
    input, the model and each peer, and SI-SDRi of the model, the peers and the oracle."""
    systems = [("noisy", "noisy_"), ("model", ""), *((name, f"{name}_") for name in peers)]
    head = ["group", "utterances"] + [f"{label} {metric}" for metric in ("STOI", "PESQ")
                                      for label, _ in systems]  # fmt: skip
    head += [f"{label} SI-SDRi" for label, _ in systems[1:]] + ["oracle SI-SDRi"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, row in table.items():
        cells = [group, str(row["utterances"])]
        for metric, digits in (("stoi", ".3f"), ("pesq", ".2f")):
            cells += [
                format(row.get(f"{prefix}{metric}", float("nan")), digits) for _, prefix in systems
            ]
        cells += [f"{row[key]:.2f}" for key in ("si_sdri", *(f"{p}_si_sdri" for p in peers))]
        cells.append(f"{row['oracle_si_sdri']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


GROUP_TITLES = {"by_source": "By data source (speech source, reverberant or dry)",
                "by_snr": "By input SNR"}  # fmt: skip


def group_sections(groups: dict[str, dict], peers: Sequence[str], whose: str = "") -> list[str]:
    """A titled ``groups_table`` for each breakdown of ``groups`` (``by_source``, ``by_snr``)
    that has the perceptual columns (an evaluation that predates them: none)."""
    lines: list[str] = []
    for key, title in GROUP_TITLES.items():
        table = groups.get(key)
        if table and all("noisy_stoi" in row for row in table.values()):
            lines += [f"{title}{whose}:", "", *groups_table(table, peers), ""]
    return lines


def breakdown_md(result: dict) -> str:
    """eval/breakdown.md: the by-source and by-SNR tables."""
    lines = ["# Results by data source and input SNR", ""]
    return "\n".join(lines + group_sections(result, list(result.get("peers", {}))))


def exits_table(result: dict) -> str:
    """The markdown table of a multi-exit evaluation: one row per exit, then the oracle IBM."""
    lines = ["| exit | SI-SDRi (dB) | STOI | PESQ | IBM accuracy | fraction of oracle SI-SDRi |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in result["exits"]:
        m = row["model"]
        lines.append(f"| {row['label']} | {m['si_sdri']:.2f} | {m['stoi']:.3f} | {m['pesq']:.2f} "
                     f"| {m['ibm_accuracy']:.3f} | {row['fraction_of_oracle_si_sdri']:.2f} |")  # fmt: skip
    o = result["oracle_ibm"]
    lines.append(f"| oracle IBM | {o['si_sdri']:.2f} | {o['stoi']:.3f} | {o['pesq']:.2f} | 1.000 "
                 "| 1.00 |")  # fmt: skip
    return "\n".join(lines) + "\n"


MODEL_FLOOR = "model"  # evaluate_run's default: the floor the run's model carries


def _seen_test_talkers(trained_on: dict, data: dict | None) -> list[str] | None:
    """With another built-in data set to test on: its test talkers that the run's training set
    has (an empty list: all unseen); None when there is nothing to compare (the run's own
    data, or a folder on either side)."""
    from bitwave.models.data import DataConfig
    from bitwave.models.data.builtin import seen_test_talkers

    if data is None:
        return None
    train, test = DataConfig.from_dict(trained_on), DataConfig.from_dict(data)
    if train.folder or test.folder:
        return None
    return seen_test_talkers(train, test)


def evaluate_run(
    run: str | Path, data: dict | None = None, progress: bool = True,
    mask_floor_db: float | str | None = MODEL_FLOOR, with_peers: bool = True,
    out: str | Path | None = None,
) -> dict:  # fmt: skip
    """Evaluate a trained run on the test split of its own data set (or of ``data``), with the
    run's own mask floor or ``mask_floor_db`` (dB; None = no floor), beside the deployed peers
    unless not ``with_peers`` (a caller that scores them once for several runs). Writes into
    ``out`` (default RUN/eval: one folder per test set keeps each)."""
    from bitwave.models.data import build_dataset

    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise BitwaveError(
            f"{run}: not a run folder (no config.yaml); train one with 'bitwave train'"
        )
    config = safe_load_bounded(run / "config.yaml")
    kind, mask_fn = mask_function(run)
    exits_fn = exit_masks_function(run)
    if mask_floor_db == MODEL_FLOOR:
        mask_floor_db = run_mask_floor_db(run)
    problem = ir.mask_floor_problem(mask_floor_db)
    if problem:
        raise BitwaveError(f"mask floor: {problem}")
    dataset = build_dataset(
        data if data is not None else config.get("data") or {}, progress=progress
    )
    seen = _seen_test_talkers(config.get("data") or {}, data)
    folder = Path(out) if out is not None else run / "eval"
    peer_list, peer_notes = available_peers() if with_peers else ([], [])
    result = {
        "run": run.name,
        "kind": kind,
        "mask_floor_db": mask_floor_db,
        **evaluate(
            mask_fn,
            dataset.test,
            folder,
            progress,
            heldout_noises=dataset.metadata.get("heldout_noises", ()),
            exits_fn=exits_fn,
            floor=ir.floor_gain(mask_floor_db),
            peers=peer_list,
        ),  # fmt: skip
    }
    net = _coded_network(run)  # the binary MAC/s beside the peers' (None for a float run)
    result["macs_per_second"] = exit_macs(net)[-1] * REAL_TIME_FPS if net is not None else None
    result["peer_notes"] = peer_notes
    if seen is not None:
        result["seen_test_talkers"] = seen
    write_text(folder / "peers.md", peers_table(result))
    write_text(folder / "breakdown.md", breakdown_md(result))
    for row in result.get("exits", []):
        blocks = f"{row['blocks']} block{'s' if row['blocks'] > 1 else ''}"
        row["label"] = f"{kind} exit {row['exit']} ({blocks})"
    if "exits" in result:
        write_text(folder / "exits.md", exits_table(result))
    write_text(folder / "metrics.json", json.dumps(result, indent=1))
    return result
