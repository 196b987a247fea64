"""Turn a validated architecture description into an ``ArchCost``: its layers, frame rate and
run paths (BLOOM-Net exits, mixture specialists)."""

from __future__ import annotations

from collections.abc import Callable

from bitwave.core.errors import BitwaveError
from bitwave.cost import primitives as prim
from bitwave.cost.counts import FLOAT32, ArchCost, LayerCost, Precision, Stage
from bitwave.cost.spec import parse_precision, validate

AUDIO_DEFAULTS = {"sample_rate": 16000, "n_fft": 1024, "hop": 256}


def _audio(spec: dict) -> dict:
    return {**AUDIO_DEFAULTS, **spec.get("audio", {})}


def _precision(spec: dict) -> Precision:
    return parse_precision(spec.get("precision"), "precision", FLOAT32)


def _stft_layers(spec: dict, audio: dict) -> tuple[list[LayerCost], list[LayerCost]]:
    """Optional STFT front end and iSTFT back end (``stft: {frontend, backend, bits}``)."""
    stft = spec.get("stft", {})
    bits = stft.get("bits", 32)
    front = (
        [prim.stft_frontend("stft", "stft", audio["n_fft"], audio["hop"], bits)]
        if stft.get("frontend")
        else []
    )
    back = (
        [prim.istft_backend("istft", "istft", audio["n_fft"], audio["hop"], bits)]
        if stft.get("backend")
        else []
    )
    return front, back


def _stft_domain(
    spec: dict, body: Callable[[int, Precision], list[LayerCost]], notes: list[str]
) -> ArchCost:
    audio = _audio(spec)
    bins = audio["n_fft"] // 2 + 1
    front, back = _stft_layers(spec, audio)
    layers = front + body(bins, _precision(spec)) + back
    fps = audio["sample_rate"] / audio["hop"]
    notes = [
        *notes,
        f"{fps:g} frames/s = sample_rate {audio['sample_rate']} / hop {audio['hop']} (n_fft {audio['n_fft']}, {bins} bins)",
    ]
    return ArchCost(
        spec.get("name", spec["kind"]),
        spec["kind"],
        layers,
        fps,
        config={**spec, "audio": audio},
        notes=notes,
    )


def build_mlp(spec: dict) -> ArchCost:
    def body(bins: int, p: Precision) -> list[LayerCost]:
        widths = [spec.get("inputs", bins), *spec["hidden"], spec.get("outputs", bins)]
        return [
            prim.dense(f"fc{i + 1}", "mlp", a, b, p)
            for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False))
        ]

    return _stft_domain(
        spec, body, ["MLP: every layer dense with bias; the last one produces the mask"]
    )


def build_rnn(spec: dict) -> ArchCost:
    cell = prim.gru if spec["kind"] == "gru" else prim.lstm

    def body(bins: int, p: Precision) -> list[LayerCost]:
        hidden, width = spec["hidden"], spec.get("inputs", bins)
        layers = []
        for index in range(spec["layers"]):
            layers.append(cell(f"{spec['kind']}{index + 1}", "rnn", width, hidden, p))
            width = hidden
        layers.append(prim.dense("mask", "rnn", hidden, spec.get("outputs", bins), p))
        return layers

    note = f"{spec['kind'].upper()} stack: torch parameterisation (b_ih and b_hh), then a linear mask layer with sigmoid"
    return _stft_domain(spec, body, [note])


def _tcn_block(
    tag: str, group: str, norm_group: str, c: dict, dilation: int, skip: bool, p: Precision
) -> list[LayerCost]:
    """One Conv-TasNet 1-D conv block: 1x1 B->H, PReLU, norm, dilated depthwise H (kernel P),
    PReLU, norm, residual 1x1 H->B and (optionally) skip 1x1 H->Sc."""
    B, H = c["B"], c["H"]
    layers = [prim.dense(f"{tag}.in", group, B, H, p, activation=False)]
    if c["norm"]:
        layers += [
            prim.prelu(f"{tag}.prelu1", norm_group, H, p),
            prim.norm(f"{tag}.norm1", norm_group, H, p),
        ]
    layers.append(prim.depthwise(f"{tag}.dw", group, H, c["P"], dilation, p))
    if c["norm"]:
        layers += [
            prim.prelu(f"{tag}.prelu2", norm_group, H, p),
            prim.norm(f"{tag}.norm2", norm_group, H, p),
        ]
    layers.append(prim.dense(f"{tag}.res", group, H, B, p, activation=False))
    if skip:
        layers.append(prim.dense(f"{tag}.skip", group, H, c["Sc"], p, activation=False))
    return layers


def _time_domain_config(spec: dict) -> dict:
    c = {"norm": True, **spec}
    c.setdefault("stride", c["L"] // 2 or 1)
    c.setdefault("Sc", c["B"])
    c.setdefault("sources", 1)
    c["audio"] = {
        "sample_rate": spec.get("audio", {}).get("sample_rate", AUDIO_DEFAULTS["sample_rate"])
    }
    return c


def _time_domain_front(
    c: dict, p: Precision, norm_group: str, bottleneck_group: str
) -> list[LayerCost]:
    """The encoder filterbank, the optional input norm and the N -> B bottleneck 1x1 conv."""
    N, B = c["N"], c["B"]
    layers = [prim.encoder("encoder", "encoder", N, c["L"], c["stride"], p)]
    if c["norm"]:
        layers.append(prim.norm("in_norm", norm_group, N, p))
    layers.append(prim.dense("bottleneck", bottleneck_group, N, B, p, activation=False))
    return layers


def _encoder_rate(c: dict) -> tuple[float, str]:
    """Frames per second of a time-domain network (one per encoder stride) and its note."""
    fps = c["audio"]["sample_rate"] / c["stride"]
    return (
        fps,
        f"{fps:g} encoder frames/s = sample_rate {c['audio']['sample_rate']} / stride {c['stride']}",
    )


def build_convtasnet(spec: dict) -> ArchCost:
    c = _time_domain_config(spec)
    p = _precision(spec)
    N, L, B = c["N"], c["L"], c["B"]
    layers = _time_domain_front(c, p, "norm_act", "separator")
    for r in range(c["R"]):
        for x in range(c["X"]):
            layers += _tcn_block(f"r{r + 1}x{x + 1}", "separator", "norm_act", c, 2**x, True, p)
    if c["norm"]:
        layers.append(prim.prelu("out_prelu", "norm_act", c["Sc"], p))
    mask = prim.dense("mask", "separator", c["Sc"], N * c["sources"], p)
    # sigmoid and the mask product with the encoder output: two element-wise ops per value
    layers.append(LayerCost(**{**mask.__dict__, "elementwise": 2 * N * c["sources"]}))
    layers.append(prim.decoder("decoder", "decoder", N, L, c["stride"], p))
    fps, rate_note = _encoder_rate(c)
    notes = [
        rate_note,
        f"config N={N} L={L} B={B} H={c['H']} P={c['P']} X={c['X']} R={c['R']} Sc={c['Sc']} sources={c['sources']};"
        " every block has residual and skip 1x1 convs (Luo's reference code)",
    ]
    return ArchCost(c.get("name", "convtasnet"), "convtasnet", layers, fps, config=c, notes=notes)


def _bloom_head(c: dict, tag: str, group: str, p: Precision) -> list[LayerCost]:
    """A mask head: PReLU (with norm layers on) and the B -> N mask 1x1 conv."""
    out = [prim.prelu(f"{tag}.prelu", group, c["B"], p)] if c["norm"] else []
    return [*out, prim.dense(f"{tag}.mask", group, c["B"], c["N"], p)]


def _bloom_block(c: dict, k: int, p: Precision) -> list[LayerCost]:
    """Block ``k``'s residual conv blocks, without skip paths; dilations cycle 1, 2, ..., 128
    along the whole chain, as in a Conv-TasNet repeat."""
    layers = []
    for j in range(c["convs_per_block"]):
        conv_index = (k - 1) * c["convs_per_block"] + j
        group = f"block{k}"
        layers += _tcn_block(
            f"{group}.conv{j + 1}", group, group, c, 2 ** (conv_index % 8), False, p
        )
    return layers


def _bloom_exit(c: dict, k: int) -> Stage:
    """Exit ``k``: encoder, blocks 1..k, its head and the decoder run; a k-block model stores
    every head up to k (each block was trained with its own exit)."""
    per_exit = c["head"] == "per_exit"
    blocks = tuple(f"block{i}" for i in range(1, k + 1))
    heads = tuple(f"exit{i}" for i in range(1, k + 1)) if per_exit else ("head",)
    head_group = f"exit{k}" if per_exit else "head"
    return Stage(
        f"exit{k}",
        ("encoder", "front", *blocks, head_group, "decoder"),
        ("encoder", "front", *blocks, *heads, "decoder"),
    )


def build_bloomnet(spec: dict) -> ArchCost:
    c = _time_domain_config(spec)
    c.setdefault("convs_per_block", 1)
    c.setdefault("head", "per_exit")
    p = _precision(spec)
    layers = _time_domain_front(c, p, "front", "front")
    for k in range(1, c["blocks"] + 1):
        layers += _bloom_block(c, k, p)
        if c["head"] == "per_exit":
            layers += _bloom_head(c, f"exit{k}", f"exit{k}", p)
    if c["head"] == "shared":
        layers += _bloom_head(c, "head", "head", p)
    layers.append(prim.decoder("decoder", "decoder", c["N"], c["L"], c["stride"], p))
    fps, rate_note = _encoder_rate(c)
    notes = [
        rate_note,
        f"{c['blocks']} blocks of {c['convs_per_block']} residual conv block(s) without skip paths; "
        f"mask head: {c['head']}; exit k runs encoder, blocks 1..k, its head and the decoder",
    ]
    stages = [_bloom_exit(c, k) for k in range(1, c["blocks"] + 1)]
    return ArchCost(
        c.get("name", "bloomnet"), "bloomnet", layers, fps, config=c, stages=stages,
        cumulative_stages=True, notes=notes,
    )  # fmt: skip


def _prefixed(arch: ArchCost, prefix: str) -> list[LayerCost]:
    return [
        LayerCost(
            **{
                **layer.__dict__,
                "name": f"{prefix}/{layer.name}",
                "group": f"{prefix}/{layer.group}",
            }
        )
        for layer in arch.layers
    ]


def build_mixture(spec: dict) -> ArchCost:
    subs = spec["specialists"] if "specialists" in spec else [spec["specialist"]] * spec["count"]
    gating = build(spec["gating"])
    specialists = [build(sub) for sub in subs]
    gating_out = spec["gating"].get("outputs")
    if spec["gating"]["kind"] in ("mlp", "gru", "lstm") and gating_out != len(subs):
        raise BitwaveError(
            f"gating.outputs: {gating_out!r} must equal the number of specialists ({len(subs)}): the gate scores each one"
        )
    for index, arch in enumerate(specialists):
        if abs(arch.frames_per_second - gating.frames_per_second) > 1e-9:
            raise BitwaveError(
                f"specialists[{index}]: {arch.frames_per_second:g} frames/s differs from the gating network's "
                f"{gating.frames_per_second:g}; allowed: the same audio settings everywhere"
            )
    layers = _prefixed(gating, "gating")
    stages = []
    for index, arch in enumerate(specialists):
        tag = f"specialist{index + 1}"
        layers += _prefixed(arch, tag)
        groups = [f"gating/{g}" for g in gating.groups()] + [f"{tag}/{g}" for g in arch.groups()]
        stages.append(Stage(tag, tuple(groups)))
    notes = [
        f"{len(subs)} specialists stored, the gating network and ONE specialist run per input;"
        " MACs are those of the most expensive specialist (worst case)",
    ]
    return ArchCost(
        spec.get("name", "mixture"),
        "mixture",
        layers,
        gating.frames_per_second,
        config=spec,
        stages=stages,
        notes=notes,
    )


def build_lsh_knn(spec: dict) -> ArchCost:
    def body(bins: int, p: Precision) -> list[LayerCost]:
        proj_p = parse_precision(spec.get("projection_precision"), "projection_precision", FLOAT32)
        inputs = spec.get("inputs", bins)
        # h = sign([x, 1] P): a dense layer whose bias row is the "1" column
        projection = prim.dense("hash", "lsh", inputs, spec["code_bits"], proj_p)
        search = prim.hamming_search(
            "search", "lsh", spec["code_bits"], spec["dictionary"], spec["k"], bins
        )
        return [projection, search]

    notes = [
        f"boosted LSH: {spec['code_bits']}-bit codes, {spec['dictionary']} dictionary frames, K={spec['k']};"
        " dictionary codes and masks are stored constants (weight memory), not parameters",
    ]
    return _stft_domain(spec, body, notes)


_BUILDERS: dict[str, Callable[[dict], ArchCost]] = {
    "mlp": build_mlp,
    "gru": build_rnn,
    "lstm": build_rnn,
    "convtasnet": build_convtasnet,
    "bloomnet": build_bloomnet,
    "mixture": build_mixture,
    "lsh_knn": build_lsh_knn,
}


def build(spec: dict) -> ArchCost:
    """Validate a description and build its cost model."""
    validate(spec)
    return _BUILDERS[spec["kind"]](spec)
