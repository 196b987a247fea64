"""The golden model: executes a bitwave IR with exact integer semantics (docs/ir.md).

Every other representation of a network (the torch model in eval mode, the RTL in
simulation, the gate-level netlist) is checked against ``run`` bit for bit.

Networks with a ``binary_gru`` layer are recurrent: the frames given to ``run`` are
consecutive time steps of ONE sequence that starts from each GRU's ``initial_state``.
``starts`` marks frames where a new sequence begins (every GRU state is reset to its
initial state before that frame); ``run_sequences`` runs a list of independent sequences.
Dense-only networks are frame-by-frame, so ``starts`` changes nothing for them.

``run_audio`` runs audio in to audio out as the chip does: the fixed-point front end and back
end of ``bitwave.core.audio`` around ``run``.

Each op executes itself (``bitwave.core.ops.<op>.run``); this module checks the input and runs
the layers in order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bitwave.core import audio, inputs, ops
from bitwave.core.audio import AudioSpec
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Dense, Layer, Network, ValueType
from bitwave.core.ops.base import sequence_starts
from bitwave.core.ops.binary_gru import input_popcounts as gru_input_popcounts  # noqa: F401
from bitwave.core.ops.binary_gru import run as run_gru  # noqa: F401
from bitwave.core.ops.binary_gru import step as gru_step  # noqa: F401
from bitwave.core.ops.dense import multi_threshold  # noqa: F401 (tests and docs name it here)


def check_input(net: Network, x: np.ndarray) -> np.ndarray:
    """Validate a batch of network inputs: (frames, input_width) codes of the input type."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != net.input_width:
        raise BitwaveError(
            f"input frames must have shape (frames, {net.input_width}), got {tuple(x.shape)}"
        )
    if x.dtype.kind not in "iub":
        raise BitwaveError(
            f"input frames must be integer codes of type {net.input_type}, got dtype {x.dtype}"
            + (
                " (use --encode to apply the IR's bit-plane coding to float features)"
                if net.coding
                else ""
            )
        )
    top = net.input_type.levels - 1
    if x.size and (x.min() < 0 or x.max() > top):
        raise BitwaveError(
            f"input codes must lie in [0, {top}] for type {net.input_type}, "
            f"got values in [{x.min()}, {x.max()}]"
        )
    return x.astype(np.int64)


def dense_acc(layer: Dense, x_codes: np.ndarray) -> np.ndarray:
    """The accumulators of a dense layer, (F, N) input codes -> (F, M), by its op."""
    return ops.op_of(layer).accumulate(layer, x_codes)


def run_layer(layer: Layer, x_codes: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """One layer: input codes -> output codes (bits for bipolar, counts for uint)."""
    return ops.op_of(layer).run(layer, x_codes, starts)


def run_layers(net: Network, x: np.ndarray, starts: np.ndarray | None = None) -> list[np.ndarray]:
    """Every layer's output codes, in order; the last one is the network output.
    For recurrent networks the frames are one sequence unless ``starts`` flags new ones."""
    codes = check_input(net, x)
    flags = sequence_starts(codes.shape[0], starts) if net.is_recurrent else None
    outputs = []
    for layer in net.layers:
        codes = run_layer(layer, codes, flags)
        outputs.append(codes)
    return outputs


def run(
    net: Network,
    x: np.ndarray,
    starts: np.ndarray | None = None,
    exits: int | np.ndarray | None = None,
) -> np.ndarray:
    """Network output codes (frames, output_width): uint8 bits if bipolar, else int64 counts.
    A network with a binary_gru treats the frames as one time sequence (see the module
    docstring); ``starts`` flags frames that begin a new sequence. ``exits`` picks the exit of
    a multi-exit network: None = the final one, an int = that one for every frame, an int
    array = one per frame."""
    if exits is None:
        out = run_layers(net, x, starts)[-1]
    else:
        out = _run_selected(net, x, exits)
    return out.astype(np.uint8) if net.output_type == ValueType("bipolar") else out


def run_exits(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """Every exit's output (index = exit number; a plain network has one): the chain is run
    once and each head reads its layer's output."""
    codes = check_input(net, x)
    if net.is_recurrent and net.exits:
        raise BitwaveError("early exits need a feed-forward network")
    outputs = {}
    for layer in net.layers:
        codes = run_layer(layer, codes)
        outputs[layer.name] = codes
    heads = [run_layer(early.head, outputs[early.after]) for early in net.exits]
    bipolar = net.output_type == ValueType("bipolar")
    return [out.astype(np.uint8) if bipolar else out for out in [*heads, codes]]


def exit_selection(net: Network, frames: int, exits: int | np.ndarray) -> np.ndarray:
    """A per-frame exit vector (int64, frames) from an int or an array, checked in range."""
    selection = np.broadcast_to(np.asarray(exits), (frames,)) if np.ndim(exits) == 0 else exits
    selection = np.asarray(selection)
    if selection.shape != (frames,) or not np.issubdtype(selection.dtype, np.integer):
        raise BitwaveError(
            f"exits must be an integer or {frames} integers (one per frame), "
            f"got {selection.dtype} of shape {selection.shape}"
        )
    if frames and (selection.min() < 0 or selection.max() >= net.n_exits):
        raise BitwaveError(
            f"exits must be in [0, {net.n_exits - 1}] for network {net.name!r} "
            f"({net.n_exits} exit(s)), got values in [{selection.min()}, {selection.max()}]"
        )
    return selection.astype(np.int64)


def _run_selected(net: Network, x: np.ndarray, exits: int | np.ndarray) -> np.ndarray:
    outputs = run_exits(net, x)
    selection = exit_selection(net, outputs[0].shape[0], exits)
    return np.stack(outputs)[selection, np.arange(len(selection))]


def run_sequences(net: Network, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """Run independent sequences (each (frames, input_width)), each from the initial state."""
    arrays = [check_input(net, seq) for seq in sequences]
    if not arrays:
        return []
    lengths = [len(a) for a in arrays]
    starts = np.zeros(sum(lengths), bool)
    starts[np.cumsum([0] + lengths[:-1])] = True
    out = run(net, np.concatenate(arrays), starts)
    return np.split(out, np.cumsum(lengths)[:-1])


def audio_front(
    net: Network, pcm: np.ndarray, spec: AudioSpec | None = None
) -> tuple[AudioSpec, audio.FrontEnd]:
    """The spec ``run_audio`` uses (``spec``, else the IR's ``audio`` section, else the
    defaults) and the front end's output for ``pcm`` through the IR's input coding."""
    spec = spec or net.audio or AudioSpec()
    if net.coding is None or net.coding.features != audio.N_BINS:
        raise BitwaveError(
            f"network {net.name!r} cannot take audio: it needs a bit-plane input coding of "
            f"{audio.N_BINS} magnitude bins"
        )
    thresholds = audio.coding_thresholds(net.coding.boundaries, spec)
    return spec, audio.front_end(pcm, spec, thresholds, net.coding.bits)


def run_audio(
    net: Network, pcm: np.ndarray, spec: AudioSpec | None = None, exit: int | None = None
) -> np.ndarray:
    """Audio in, audio out, bit for bit as the chip: int16 PCM (16 kHz mono) -> the fixed-point
    front end (``bitwave.core.audio``) -> ``run`` (a recurrent network sees the frames as one
    sequence) -> the back end with the IR's mask floor -> int16 PCM of the same length.
    ``spec``: the widths (default: the IR's ``audio`` section, else AudioSpec()); ``exit``:
    the exit of a multi-exit network for every frame (None: the final one). One call is one
    utterance: the chip restarts its framing (and a GRU its state) at each utterance."""
    spec, front = audio_front(net, pcm, spec)
    if net.output_type != ValueType("bipolar") or net.output_width != audio.N_BINS:
        raise BitwaveError(
            f"network {net.name!r} cannot make audio: it needs one mask bit per bin "
            f"({audio.N_BINS} x bipolar out), it outputs {net.output_width} x {net.output_type}"
        )
    mask = run(net, front.codes, exits=exit)
    return audio.back_end(front.re, front.im, mask, np.asarray(pcm).size, net.mask_floor_gain, spec)


def load_input_frames(path: str | os.PathLike, net: Network) -> np.ndarray:
    """Input frames from a .npy file: integer codes of the IR's input type (frames, width), or
    float features that the IR's bit-plane coding turns into codes. Every stage that takes
    ``--inputs`` reads them through here."""
    from bitwave.core.coding import encode

    path = Path(path)
    x = inputs.load_npy(path)  # the header is checked before a data byte is read
    if x.ndim == 1:
        x = x[None, :]
    if x.dtype.kind == "f":
        if net.coding is None:
            raise BitwaveError(
                f"{path} holds float features but IR {net.name} has no input coding; give integer "
                f"codes of type {net.input_type} with shape (frames, {net.input_width})"
            )
        if not np.all(np.isfinite(x)):
            raise BitwaveError(f"{path} contains NaN or infinite values")
        x = encode(net.coding, x)
    return check_input(net, x)
