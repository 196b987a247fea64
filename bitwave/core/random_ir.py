"""Random but plausible IR networks, so hardware can be generated and tested without training.

Thresholds are placed at quantiles of each neuron's accumulator over random probe inputs, so
every neuron actually switches (a random network whose outputs are constant would make a
weak test vector). A GRU layer's thresholds are placed the same way on the gate accumulators
of random probe sequences, so its gates switch and its state moves from frame to frame."""

from __future__ import annotations

import numpy as np

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import (
    BIPOLAR,
    MAX_BITS,
    BinaryDense,
    BinaryGRU,
    Dense,
    Exit,
    IntDense,
    Network,
    ValueType,
    pack_bits,
    uint,
    validate,
    weight_range,
)
from bitwave.core.ops.binary_gru import input_popcounts
from bitwave.core.ops.binary_gru import run as run_gru
from bitwave.core.paths import sanitize_identifier

PROBE_FRAMES = 256


def random_codes(
    value_type: ValueType, frames: int, width: int, rng: np.random.Generator
) -> np.ndarray:
    """Uniformly random input codes of a value type."""
    return rng.integers(0, value_type.levels, size=(frames, width), dtype=np.int64)


def _per_layer(value: int | list[int], layers: int, what: str) -> list[int]:
    values = [value] * layers if isinstance(value, int) else list(value)
    if len(values) != layers:
        raise BitwaveError(f"{what}: give one value or one per layer ({layers}), got {len(values)}")
    return values


def random_layer(
    name: str,
    in_width: int,
    out_width: int,
    in_type: ValueType,
    wbits: int,
    abits: int,
    rng: np.random.Generator,
    flip_fraction: float = 0.1,
) -> Dense:
    out_type = BIPOLAR if abits == 1 else uint(abits)
    levels = out_type.levels - 1
    placeholder = np.zeros((out_width, levels), np.int64)
    direction = np.where(rng.random(out_width) < flip_fraction, -1, 1).astype(np.int8)
    common = dict(name=name, in_width=in_width, out_width=out_width, thresholds=placeholder,
                  direction=direction, in_type=in_type, out_type=out_type)  # fmt: skip
    if wbits == 1 and in_type == BIPOLAR:
        bits = rng.integers(0, 2, size=(out_width, in_width), dtype=np.uint8)
        layer: Dense = BinaryDense(**common, weights=pack_bits(bits))
    else:
        low, high = weight_range(wbits)
        if wbits == 1:
            weights = rng.choice(np.array([-1, 1], np.int8), size=(out_width, in_width))
        else:
            weights = rng.integers(low, high + 1, size=(out_width, in_width)).astype(
                np.int8 if wbits <= 8 else np.int16
            )
        layer = IntDense(**common, weights=weights, wbits=wbits)
    acc = ops.op_of(layer).accumulate(layer, random_codes(in_type, PROBE_FRAMES, in_width, rng))
    # quantiles of each neuron's accumulator, jittered so thresholds are not all identical
    q = np.sort(rng.uniform(0.15, 0.85, size=(out_width, levels)), axis=1)
    thresholds = np.stack(
        [np.quantile(acc[:, m], q[m], method="nearest") for m in range(out_width)]
    )
    layer.thresholds = thresholds.astype(np.int64).reshape(out_width, levels)
    return layer


# ---- GRU layers --------------------------------------------------------------------------
GRU_ITEM = "gru:"
EXIT_ITEM = "exit"
LAYER_FORMS = (
    "integers (widths), gru:H (a binary_gru layer of H >= 1 units) or exit (an early exit "
    "head after the hidden layer before it), e.g. 2052,gru:256,513 or 2052,64,exit,64,513"
)
GRU_SEQUENCES = 16  # probe sequences, each starting from the initial state
GRU_STEPS = 32  # frames per probe sequence
GRU_ROUNDS = 1  # re-placements on the traced recurrence (more did not change the firing rates)
GRU_MAX_COEFFICIENT = 4  # random per-gate popcount weights lie in [1, 4]


def layer_item(item: int | str) -> tuple[str, int]:
    """("dense", width) for an integer item of a layer list, ("gru", H) for "gru:H"."""
    if isinstance(item, int | np.integer) and not isinstance(item, bool):
        return "dense", int(item)
    if isinstance(item, str):
        text = item.strip().lower()
        if text == EXIT_ITEM:
            return "exit", 0
        units = text[len(GRU_ITEM) :]
        if text.startswith(GRU_ITEM) and units.isdigit() and int(units) >= 1:
            return "gru", int(units)
    raise BitwaveError(f"layers: item {item!r} is not allowed; allowed: {LAYER_FORMS}")


def split_exits(widths: list[int | str]) -> tuple[list[int | str], list[int]]:
    """The chain's items without the exit words, and the indices of the chain layers (0 = the
    first layer) that an early exit reads, checked: an exit follows a hidden layer (not the
    input, not the output, not another exit) of a feed-forward chain."""
    chain: list[int | str] = []
    exits: list[int] = []
    for position, item in enumerate(widths):
        if layer_item(item)[0] != "exit":
            chain.append(item)
            continue
        if len(chain) < 2 or position == len(widths) - 1 or (exits and exits[-1] == len(chain) - 2):
            raise BitwaveError(
                f"layers: 'exit' at item {position} of {','.join(map(str, widths))} must follow "
                "a hidden layer (not the input, the output or another exit)"
            )
        exits.append(len(chain) - 2)
    if exits and any(layer_item(item)[0] == "gru" for item in chain):
        raise BitwaveError("layers: early exits need a feed-forward network (no gru:H items)")
    return chain, exits


def _layer_plan(widths: list[int | str]) -> list[tuple[str, int]]:
    """(kind, width) of the input and of every layer, checked: the input is a width, widths
    are positive, and the GRU layers come first (the hardware runs a GRU prefix, then dense
    layers)."""
    plan = [layer_item(item) for item in widths]
    if plan and plan[0][0] == "gru":
        raise BitwaveError(
            f"layers: the first item is the input width (a positive integer), got {widths[0]!r}"
        )
    if len(plan) < 2 or any(width < 1 for _, width in plan):
        raise BitwaveError(
            f"layers: need at least two positive widths (input, output), got {widths}"
        )
    kinds = [kind for kind, _ in plan[1:]]
    if "dense" in kinds and "gru" in kinds[kinds.index("dense") :]:
        late = kinds.index("gru", kinds.index("dense")) + 1
        raise BitwaveError(
            f"layers: GRU layers must come before every dense layer (the hardware runs the GRU "
            f"layers as a prefix of the network), but {widths[late]!r} follows a dense layer "
            f"in {','.join(map(str, widths))}; allowed e.g. 64,gru:32,gru:16,10"
        )
    return plan


def _check_gru_bits(
    plan: list[tuple[str, int]], widths: list, wbits: list[int], abits: list[int], in_bits: int
) -> None:
    """A binary_gru layer is bipolar in and out with 1-bit weights: no k-bit variant."""
    for i, (kind, _) in enumerate(plan[1:]):
        if kind == "gru" and (wbits[i] != 1 or abits[i] != 1):
            raise BitwaveError(
                f"layer gru{i} ({widths[i + 1]!r}): a GRU layer has 1-bit weights and a bipolar "
                f"output; allowed for it: wbits 1 and abits 1, got wbits {wbits[i]}, abits {abits[i]}"
            )
    if plan[1][0] == "gru" and in_bits != 1:
        raise BitwaveError(
            f"in-bits: a GRU first layer takes a bipolar input; allowed: 1, got {in_bits}"
        )


def probe_sequences(width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random bipolar probe frames (GRU_SEQUENCES x GRU_STEPS, width) and their start flags."""
    frames = GRU_SEQUENCES * GRU_STEPS
    starts = np.arange(frames) % GRU_STEPS == 0
    return random_codes(BIPOLAR, frames, width, rng), starts


def _column_quantiles(
    values: np.ndarray,
    q: np.ndarray,
    valid: np.ndarray | None = None,
    fallback: np.ndarray | None = None,
) -> np.ndarray:
    """Per column m the ``q[m]`` quantile (numpy's "nearest") of ``values[:, m]`` over the
    rows where ``valid``; ``fallback[m]`` for a column without any valid row."""
    valid = np.ones(values.shape, bool) if valid is None else valid
    count = valid.sum(axis=0)
    ordered = np.sort(np.where(valid, values, np.iinfo(np.int64).max), axis=0)
    index = np.rint(q * np.maximum(count - 1, 0)).astype(np.int64)
    picked = np.take_along_axis(ordered, index[None, :], axis=0)[0]
    return picked if fallback is None else np.where(count > 0, picked, fallback)


def _calibrate_gru(
    layer: BinaryGRU, x_bits: np.ndarray, starts: np.ndarray, rng: np.random.Generator
) -> None:
    """Thresholds at jittered quantiles of each gate's accumulator on the probe sequences.

    The state a unit sees depends on the thresholds, so a first placement assumes a random
    state (half of its bits agree with a weight row), then the recurrence is run with the
    golden model and every threshold re-placed on the traced accumulators, GRU_ROUNDS times;
    T_n0 and T_n1 are placed on the frames whose reset gate is 0 and 1 respectively."""
    q = rng.uniform(0.15, 0.85, size=(layer.out_width, 4))
    px = input_popcounts(layer, x_bits)
    a, b = layer.coefficients[:, 0], layer.coefficients[:, 1]
    half = layer.out_width // 2
    first = (a[0] * px[:, 0] + b[0] * half, a[1] * px[:, 1] + b[1] * half,
             a[2] * px[:, 2], a[2] * px[:, 2] + b[2] * half)  # fmt: skip
    layer.thresholds = np.stack([_column_quantiles(acc, q[:, j]) for j, acc in enumerate(first)], 1)
    for _ in range(GRU_ROUNDS):
        trace = run_gru(layer, x_bits, starts, trace=True)
        reset = trace["r"] == 1
        measured = ((trace["acc_z"], None), (trace["acc_r"], None),
                    (trace["acc_n"], ~reset), (trace["acc_n"], reset))  # fmt: skip
        layer.thresholds = np.stack(
            [_column_quantiles(acc, q[:, j], valid, layer.thresholds[:, j])
             for j, (acc, valid) in enumerate(measured)], 1
        ).astype(np.int64)  # fmt: skip


def random_gru_layer(
    name: str,
    in_width: int,
    units: int,
    rng: np.random.Generator,
    probe: tuple[np.ndarray, np.ndarray] | None = None,
    flip_fraction: float = 0.1,
) -> BinaryGRU:
    """A binary_gru layer of ``units`` units on ``in_width`` bipolar inputs: random weight
    bits, per-gate coefficients in [1, GRU_MAX_COEFFICIENT] (not all 1), directions flipped
    with ``flip_fraction``, a random initial state, and thresholds calibrated on ``probe``
    (frames of input bits, start flags; random sequences when None)."""
    weights_x = pack_bits(rng.integers(0, 2, size=(3, units, in_width), dtype=np.uint8))
    weights_h = pack_bits(rng.integers(0, 2, size=(3, units, units), dtype=np.uint8))
    coefficients = np.ones((3, 2), np.int64)
    while np.all(coefficients == 1):  # all-ones would leave the coefficient path untested
        coefficients = rng.integers(1, GRU_MAX_COEFFICIENT + 1, size=(3, 2), dtype=np.int64)
    direction = np.where(rng.random((units, 3)) < flip_fraction, -1, 1).astype(np.int8)
    initial_state = rng.integers(0, 2, size=units, dtype=np.uint8)
    layer = BinaryGRU(name, in_width, units, weights_x, weights_h, coefficients,
                      np.zeros((units, 4), np.int64), direction, initial_state)  # fmt: skip
    x_bits, starts = probe_sequences(in_width, rng) if probe is None else probe
    _calibrate_gru(layer, x_bits, starts, rng)
    return layer


# ---- networks ------------------------------------------------------------------------------
def random_network(
    widths: list[int | str],
    wbits: int | list[int] = 1,
    abits: int | list[int] = 1,
    in_bits: int = 1,
    seed: int = 0,
    name: str = "random",
) -> Network:
    """A random network with ``widths`` = [input, ..., output]; ``in_bits`` = 1 means bipolar
    input. An item "gru:H" is a binary_gru layer of H units; GRU layers come first. An item
    "exit" after a hidden width adds an early exit head there (``random_exits``)."""
    chain, exit_after = split_exits(list(widths))
    plan = _layer_plan(chain)
    layers = len(plan) - 1
    wbits = _per_layer(wbits, layers, "wbits")
    abits = _per_layer(abits, layers, "abits")
    for what, values, top in (("wbits", wbits, 8), ("abits", abits, 8)):
        if any(not 1 <= v <= top for v in values):
            raise BitwaveError(f"{what}: each value must be 1..{top}, got {values}")
    if not 1 <= in_bits <= MAX_BITS:
        raise BitwaveError(f"in-bits must be 1..{MAX_BITS}, got {in_bits}")
    _check_gru_bits(plan, list(widths), wbits, abits, in_bits)
    rng = np.random.default_rng(seed)
    value_type = BIPOLAR if in_bits == 1 else uint(in_bits)
    net_layers: list = []
    probe = probe_sequences(plan[0][1], rng) if plan[1][0] == "gru" else None
    for i in range(layers):
        (_, in_width), (kind, width) = plan[i], plan[i + 1]
        if kind == "gru":  # calibrated on what it sees: the previous GRU's states
            layer = random_gru_layer(f"gru{i}", in_width, width, rng, probe)
            probe = (run_gru(layer, *probe), probe[1])
        else:
            layer = random_layer(f"fc{i}", in_width, width, value_type, wbits[i], abits[i], rng)
        net_layers.append(layer)
        value_type = layer.out_type
    # the items as given, a GRU item normalized to gru:H (an MLP's list is unchanged)
    items = [item if kind == "dense" else f"{GRU_ITEM}{width}" if kind == "gru" else EXIT_ITEM
             for item, (kind, width) in zip(widths, map(layer_item, widths), strict=True)]  # fmt: skip
    net = Network(
        name=sanitize_identifier(name),
        input_width=plan[0][1],
        input_type=BIPOLAR if in_bits == 1 else uint(in_bits),
        layers=net_layers,
        provenance={
            "source": "random-ir",
            "seed": seed,
            "widths": items,
            "wbits": wbits,
            "abits": abits,
            "in_bits": in_bits,
        },  # fmt: skip
        exits=random_exits(net_layers, exit_after, wbits[-1], abits[-1], seed),
    )
    validate(net)
    return net


def random_exits(
    layers: list[Dense], after: list[int], wbits: int, abits: int, seed: int
) -> list[Exit]:
    """Early exit heads (``exit<k>``) reading ``layers[i]`` for i in ``after``, with the output
    layer's bits; from their own random stream, so the chain is the same with or without them."""
    rng = np.random.default_rng([seed, 1])
    final = layers[-1]
    return [
        Exit(source.name, random_layer(f"exit{k}", source.out_width, final.out_width,
                                       source.out_type, wbits, abits, rng))
        for k, source in enumerate(layers[i] for i in after)
    ]  # fmt: skip
