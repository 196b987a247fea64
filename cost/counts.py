"""What one layer costs per frame, and how layer costs add up to a network's totals.

Accounting rules (the same for every architecture, so rows are comparable):
- A MAC is one multiply-accumulate with a learned weight. A bias counts as one MAC as well:
  it is a weight on a constant-1 input, which is literally how the bitwise networks implement
  it (an extra always-on input bit). Hence a dense layer's MACs per frame equal its parameters.
- Element-wise work (sigmoid, tanh, gate products, normalisation statistics, top-K
  comparisons) is counted separately as ``elementwise`` and never as MACs.
- MAC *kind* follows the operand widths: both 1 bit -> ``binary`` (XNOR + popcount), any 32-bit
  (float) operand -> ``float32``, otherwise the wider operand rounded up to ``int8``/``int16``.
- Parameters are learned values; ``constants`` are stored values that are not learned (STFT
  window and twiddles, a kNN dictionary). Both occupy weight memory.
- Activation buffer bits = persistent state carried between frames (recurrent state, dilated
  convolution history, STFT overlap) + the largest per-layer transient (input + output).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitwave.core.errors import BitwaveError

FLOAT_BITS = 32
MAC_KINDS = ("binary", "int8", "int16", "float32")


def mac_kind(wbits: int, abits: int) -> str:
    """The arithmetic unit a MAC with these operand widths needs."""
    if wbits >= FLOAT_BITS or abits >= FLOAT_BITS:
        return "float32"
    if wbits == 1 and abits == 1:
        return "binary"
    widest = max(wbits, abits)
    if widest <= 8:
        return "int8"
    if widest <= 16:
        return "int16"
    raise BitwaveError(f"operand width {widest} bits: allowed 1..16 bits or 32 (float)")


@dataclass(frozen=True)
class Precision:
    """Operand widths: ``wbits`` for weights, ``abits`` for activations (32 = float32)."""

    wbits: int
    abits: int

    @property
    def label(self) -> str:
        if self.wbits == self.abits == FLOAT_BITS:
            return "float32"
        if self.wbits == self.abits == 1:
            return "binary"
        if self.wbits == self.abits:
            return f"int{self.wbits}"
        return f"w{self.wbits}a{self.abits}"

    @property
    def bias_bits(self) -> int:
        """Storage of one bias: a +/-1 input weight in a bitwise net, else an accumulator-wide
        32-bit value (float32, or the int32 bias of integer inference)."""
        return 1 if self.wbits == 1 and self.abits == 1 else FLOAT_BITS


FLOAT32 = Precision(FLOAT_BITS, FLOAT_BITS)
BINARY = Precision(1, 1)


@dataclass(frozen=True)
class LayerCost:
    """Per-frame cost of one layer. ``rows`` x ``cols`` is the matrix the hardware folds
    (``repeats`` such products per frame); cycles = repeats * ceil(rows/PE) * ceil(cols/SIMD)."""

    name: str
    op: str
    group: str
    precision: Precision
    weights: int = 0
    biases: int = 0
    other_params: int = 0  # normalisation gains/offsets, PReLU slopes
    constants: int = 0  # stored, not learned
    constant_bits: int = 0  # width of one constant
    macs: int = 0
    elementwise: int = 0
    state_bits: int = 0
    io_bits: int = 0
    rows: int = 0
    cols: int = 0
    repeats: int = 1
    # the IR layer it was counted from (``adapters.from_ir``), for models that need its shape
    source: object = field(default=None, compare=False, repr=False)

    @property
    def params(self) -> int:
        return self.weights + self.biases + self.other_params

    @property
    def kind(self) -> str:
        return mac_kind(self.precision.wbits, self.precision.abits)

    @property
    def weight_memory_bits(self) -> int:
        p = self.precision
        return (
            self.weights * p.wbits
            + (self.biases + self.other_params) * p.bias_bits
            + self.constants * self.constant_bits
        )

    @property
    def binary_ops(self) -> int:
        """XNOR-popcount operations per frame (the MACs of a binary layer)."""
        return self.macs if self.kind == "binary" else 0


@dataclass(frozen=True)
class Stage:
    """One way of running the network: the groups that execute for one exit or one
    specialist. A network without stages runs every layer."""

    name: str
    groups: tuple[str, ...]
    stored: tuple[str, ...] = ()  # groups whose parameters this stage needs (default: groups)


@dataclass
class Totals:
    params: int
    constants: int
    macs_per_frame: int
    elementwise_per_frame: int
    binary_ops_per_frame: int
    macs_by_kind: dict[str, int]
    weight_memory_bits: int
    activation_bits: int
    frames_per_second: float

    @property
    def macs_per_second(self) -> float:
        return self.macs_per_frame * self.frames_per_second

    @property
    def gmacs(self) -> float:
        return self.macs_per_second / 1e9

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    def to_json(self) -> dict:
        return {
            "params": self.params,
            "params_m": self.params_m,
            "constants": self.constants,
            "macs_per_frame": self.macs_per_frame,
            "macs_per_second": self.macs_per_second,
            "gmacs": self.gmacs,
            "binary_ops_per_second": self.binary_ops_per_frame * self.frames_per_second,
            "elementwise_per_second": self.elementwise_per_frame * self.frames_per_second,
            "macs_per_second_by_kind": {
                k: v * self.frames_per_second for k, v in self.macs_by_kind.items() if v
            },
            "weight_memory_bits": self.weight_memory_bits,
            "activation_bits": self.activation_bits,
            "frames_per_second": self.frames_per_second,
        }


def _activation_bits(layers: list[LayerCost]) -> int:
    if not layers:
        return 0
    return sum(layer.state_bits for layer in layers) + max(layer.io_bits for layer in layers)


def total(
    layers: list[LayerCost], frames_per_second: float, stored: list[LayerCost] | None = None
) -> Totals:
    """Totals for the layers that run (``layers``); parameters and weight memory count every
    stored layer (``stored``, default: the same layers)."""
    stored = layers if stored is None else stored
    by_kind = dict.fromkeys(MAC_KINDS, 0)
    for layer in layers:
        by_kind[layer.kind] += layer.macs
    return Totals(
        params=sum(layer.params for layer in stored),
        constants=sum(layer.constants for layer in stored),
        macs_per_frame=sum(layer.macs for layer in layers),
        elementwise_per_frame=sum(layer.elementwise for layer in layers),
        binary_ops_per_frame=sum(layer.binary_ops for layer in layers),
        macs_by_kind=by_kind,
        weight_memory_bits=sum(layer.weight_memory_bits for layer in stored),
        activation_bits=_activation_bits(layers),
        frames_per_second=frames_per_second,
    )


@dataclass
class ArchCost:
    """The cost description of one architecture: its layers, frame rate and run paths."""

    name: str
    kind: str
    layers: list[LayerCost]
    frames_per_second: float
    config: dict = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    cumulative_stages: bool = False  # stages are exits of a chain (BLOOM-Net) vs alternatives
    notes: list[str] = field(default_factory=list)

    def stage_layers(self, stage: Stage) -> list[LayerCost]:
        return [layer for layer in self.layers if layer.group in stage.groups]

    def stage_totals(self, stage: Stage) -> Totals:
        """Cost of running one stage; parameters are those the stage needs stored."""
        stored_groups = stage.stored or stage.groups
        stored = [layer for layer in self.layers if layer.group in stored_groups]
        return total(self.stage_layers(stage), self.frames_per_second, stored=stored)

    def totals(self) -> Totals:
        """Whole network: every layer stored; MACs of the most expensive run path."""
        if not self.stages:
            return total(self.layers, self.frames_per_second)
        worst = max(self.stages, key=lambda s: sum(layer.macs for layer in self.stage_layers(s)))
        return total(self.stage_layers(worst), self.frames_per_second, stored=self.layers)

    def group_totals(self, groups: tuple[str, ...]) -> Totals:
        return total(
            [layer for layer in self.layers if layer.group in groups], self.frames_per_second
        )

    def groups(self) -> list[str]:
        seen: list[str] = []
        for layer in self.layers:
            if layer.group not in seen:
                seen.append(layer.group)
        return seen
