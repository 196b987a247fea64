"""The bitwise GRU: trained real-valued, binarized in increments, folded to integer semantics.

Training follows the incremental-binarization recipe (Kim & Smaragdis, 2019): a GRU is first
trained with real weights and smooth gates; then 10% of each weight matrix at a time (chosen
at random, once, per matrix) is replaced by its sign times the matrix's mean magnitude, with
training continuing after every increment, until all weights are binary. Then the gates and
the candidate are hardened the same way, 25% of the outputs at a time (z, r in {0, 1}, n in
{-1, +1}, straight-through gradients), and the fully binary network is fine-tuned
(``incremental_schedule``, ``train_incremental``). Switching all gates at once cost far more
loss on our toy tasks than the gradual steps.

Every gate's pre-activation is BatchNorm(alpha_x * Wx.x + alpha_h * Uh.h) (for n the reset
gate masks the recurrent term), normalized per time step. When the network is fully binary
the ratio alpha_h / alpha_x of each gate is rounded to a small rational b / a, so the gate is
a threshold on the integer a * popcount_x + b * popcount_h: ``BinaryGRULayer.fold``
(``folding.fold_gates``) computes those thresholds in float64 exactly as ``DenseBlock.fold``
does for dense layers, and in eval mode the model runs the integer semantics of the IR op ``binary_gru`` (docs/ir.md). torch
eval == golden therefore holds by construction; ``float_forward`` keeps the float path.

Modules: ``weights`` (matrices that binarize in increments), ``folding`` (float64 maths of
the integer thresholds), ``layer`` (one GRU layer, float and integer paths), ``model`` (the
mask estimator; it folds itself into the IR for ``bitwave.models.export``), ``training`` (the
schedule and its loop).
"""

from bitwave.models.export import export_gru
from bitwave.models.gru.folding import (
    DEFAULT_COEFFICIENT_LIMIT,
    GRUFold,
    coefficient_pair,
    fold_threshold,
)
from bitwave.models.gru.layer import GATES, BinaryGRULayer
from bitwave.models.gru.model import BitwiseGRU
from bitwave.models.gru.training import (
    Stage,
    TrainLog,
    incremental_schedule,
    sequence_loss,
    train_incremental,
)
from bitwave.models.gru.weights import IncrementalBinaryLinear

__all__ = [
    "DEFAULT_COEFFICIENT_LIMIT",
    "GATES",
    "BinaryGRULayer",
    "BitwiseGRU",
    "GRUFold",
    "IncrementalBinaryLinear",
    "Stage",
    "TrainLog",
    "coefficient_pair",
    "export_gru",
    "fold_threshold",
    "incremental_schedule",
    "sequence_loss",
    "train_incremental",
]
