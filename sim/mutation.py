"""Single-point mutations of an IR, for proving that verification can fail.

A mutation only proves something if it changes the network's outputs on the vectors the
testbench will drive (a flipped weight next to no threshold changes nothing), so
``effective_mutation`` tries candidates until the golden model shows a difference.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError

KINDS = ("weight", "threshold")


@dataclass(frozen=True)
class Mutation:
    kind: str  # "weight": one weight changed; "threshold": one threshold moved by +/-1
    layer: int
    neuron: int
    position: int  # input index (weight) or threshold level (threshold)
    delta: int = 0  # threshold change

    def describe(self, net: ir.Network) -> str:
        name = net.layers[self.layer].name
        if self.kind == "weight":
            return f"layer {name}: weight [{self.neuron}, {self.position}] flipped"
        return f"layer {name}: threshold [{self.neuron}, {self.position}] {self.delta:+d}"


def apply(net: ir.Network, mutation: Mutation) -> ir.Network:
    """A copy of ``net`` with one weight flipped or one threshold moved."""
    mutated = copy.deepcopy(net)
    layer = mutated.layers[mutation.layer]
    m, i = mutation.neuron, mutation.position
    if mutation.kind == "weight":
        if isinstance(layer, ir.BinaryDense):
            layer.weights[m, i // ir.WORD_BITS] ^= np.uint64(1) << np.uint64(i % ir.WORD_BITS)
        elif layer.wbits == 1:
            layer.weights[m, i] = -layer.weights[m, i]
        else:  # one step towards the other end of the symmetric range, staying inside it
            low, high = ir.weight_range(layer.wbits)
            w = int(layer.weights[m, i])
            layer.weights[m, i] = w + 1 if w < high else w - 1
    elif mutation.kind == "threshold":
        layer.thresholds[m, i] += mutation.delta
    else:
        raise BitwaveError(
            f"mutation kind must be one of {', '.join(KINDS)}, got {mutation.kind!r}"
        )
    ir.validate(mutated)
    return mutated


def _candidates(net: ir.Network, kind: str, rng: np.random.Generator) -> list[Mutation]:
    found = []
    for index in reversed(range(len(net.layers))):  # later layers change the output most directly
        layer = net.layers[index]
        neurons = rng.permutation(layer.out_width)[:64]
        for m in neurons:
            if kind == "weight":
                for i in rng.permutation(layer.in_width)[:16]:
                    found.append(Mutation("weight", index, int(m), int(i)))
            else:
                for j in range(layer.thresholds.shape[1]):
                    for delta in (1, -1):
                        found.append(Mutation("threshold", index, int(m), j, delta))
    return found


def effective_mutation(
    net: ir.Network, inputs: np.ndarray, kind: str, seed: int = 0, max_tries: int = 2000
) -> tuple[ir.Network, Mutation, int]:
    """The first mutation of ``kind`` that changes the golden output on ``inputs``:
    (mutated network, mutation, number of output elements that change)."""
    reference = golden.run(net, inputs)
    rng = np.random.default_rng(seed)
    for mutation in _candidates(net, kind, rng)[:max_tries]:
        mutated = apply(net, mutation)
        changed = int((golden.run(mutated, inputs) != reference).sum())
        if changed:
            return mutated, mutation, changed
    raise BitwaveError(
        f"no {kind} mutation among {max_tries} candidates changes the output on these inputs"
    )
