"""Per-frame costs of the building blocks: dense, GRU, LSTM, the 1-D convolutions of
Conv-TasNet, normalisation, PReLU, STFT/iSTFT and the Hamming kNN search.

Parameter counts follow torch's layer definitions (``nn.GRU`` has two bias vectors per gate,
``b_ih`` and ``b_hh``; ``nn.LSTM`` likewise), so a torch module and its YAML description agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitwave.cost.counts import LayerCost, Precision


def _learned(
    name: str, group: str, op: str, p: Precision, weights: int, biases: int = 0, **counts: int
) -> LayerCost:
    """A layer of learned weights and biases: one MAC per weight and per bias (a bias is a
    weight on a constant-1 input, see ``counts``); ``counts`` are the other LayerCost fields."""
    return LayerCost(
        name=name, op=op, group=group, precision=p, weights=weights, biases=biases,
        macs=weights + biases, **counts,
    )  # fmt: skip


def dense(
    name: str,
    group: str,
    n_in: int,
    n_out: int,
    p: Precision,
    bias: bool = True,
    activation: bool = True,
) -> LayerCost:
    """Fully connected layer (also a 1x1 convolution per frame)."""
    return _learned(
        name, group, "dense", p, n_in * n_out, n_out if bias else 0,
        elementwise=n_out if activation else 0, io_bits=(n_in + n_out) * p.abits,
        rows=n_out, cols=n_in,
    )  # fmt: skip


@dataclass(frozen=True)
class RecurrentCell:
    """A gated recurrent cell's shape: gates over [x, h] (torch keeps b_ih and b_hh, two bias
    vectors per gate), element-wise ops and state vectors per hidden unit."""

    op: str
    gates: int
    elementwise: int
    states: int


# GRU: r, z, n gates. Element-wise: 2h sigmoids, h tanh, h for r*(W_hn h + b_hn), 3h for
# (1-z)*n + z*h. LSTM: i, f, g, o gates. Element-wise: 3h sigmoids, 2h tanh, 3h products,
# h add. State: h and c.
GRU_CELL = RecurrentCell("gru", gates=3, elementwise=7, states=1)
LSTM_CELL = RecurrentCell("lstm", gates=4, elementwise=9, states=2)


def recurrent(
    cell: RecurrentCell, name: str, group: str, n_in: int, hidden: int, p: Precision
) -> LayerCost:
    """One recurrent layer of ``cell``'s shape."""
    return _learned(
        name, group, cell.op, p, cell.gates * hidden * (n_in + hidden), 2 * cell.gates * hidden,
        elementwise=cell.elementwise * hidden, state_bits=cell.states * hidden * p.abits,
        io_bits=(n_in + hidden) * p.abits, rows=cell.gates * hidden, cols=n_in + hidden,
    )  # fmt: skip


def gru(name: str, group: str, n_in: int, hidden: int, p: Precision) -> LayerCost:
    """One GRU layer (``GRU_CELL``)."""
    return recurrent(GRU_CELL, name, group, n_in, hidden, p)


def lstm(name: str, group: str, n_in: int, hidden: int, p: Precision) -> LayerCost:
    """One LSTM layer (``LSTM_CELL``)."""
    return recurrent(LSTM_CELL, name, group, n_in, hidden, p)


def _filterbank(
    name: str, group: str, op: str, filters: int, kernel: int, stride: int, p: Precision,
    transposed: bool,
) -> LayerCost:  # fmt: skip
    """A learned filterbank of ``filters`` x ``kernel`` weights, no bias, keeping the last
    kernel - stride samples between frames; ``transposed`` for the synthesis side, whose
    outputs are the kernel's samples (overlap-add) rather than the filters (ReLU)."""
    rows, cols = (kernel, filters) if transposed else (filters, kernel)
    return _learned(
        name, group, op, p, filters * kernel, elementwise=rows,
        state_bits=(kernel - stride) * p.abits, io_bits=(kernel + filters) * p.abits,
        rows=rows, cols=cols,
    )  # fmt: skip


def encoder(
    name: str, group: str, filters: int, kernel: int, stride: int, p: Precision
) -> LayerCost:
    """Learned analysis filterbank: Conv1d(1, N, L, stride), no bias (Conv-TasNet), a ReLU on
    its output."""
    return _filterbank(name, group, "conv1d", filters, kernel, stride, p, transposed=False)


def decoder(
    name: str, group: str, filters: int, kernel: int, stride: int, p: Precision
) -> LayerCost:
    """Learned synthesis filterbank: ConvTranspose1d(N, 1, L, stride), no bias, plus the
    overlap-add buffer of L - stride samples."""
    return _filterbank(name, group, "conv_transpose1d", filters, kernel, stride, p, transposed=True)


def depthwise(
    name: str, group: str, channels: int, kernel: int, dilation: int, p: Precision
) -> LayerCost:
    """Dilated depthwise Conv1d with bias. Streaming keeps (kernel - 1) * dilation past frames."""
    return _learned(
        name, group, "depthwise_conv1d", p, channels * kernel, channels,
        state_bits=(kernel - 1) * dilation * channels * p.abits, io_bits=2 * channels * p.abits,
        rows=channels, cols=kernel,
    )  # fmt: skip


def norm(name: str, group: str, channels: int, p: Precision) -> LayerCost:
    """Layer normalisation (gLN/cLN) with a gain and an offset per channel: the affine part is
    one MAC per channel; the statistics (mean, variance, normalise) are element-wise."""
    return LayerCost(
        name=name,
        op="norm",
        group=group,
        precision=p,
        other_params=2 * channels,
        macs=channels,
        elementwise=3 * channels,
        io_bits=2 * channels * p.abits,
        rows=channels,
        cols=1,
    )


def prelu(name: str, group: str, channels: int, p: Precision) -> LayerCost:
    """PReLU with one shared slope (torch's default ``nn.PReLU()``)."""
    return LayerCost(
        name=name,
        op="prelu",
        group=group,
        precision=p,
        other_params=1,
        elementwise=channels,
        io_bits=2 * channels * p.abits,
    )


def real_fft_macs(n_fft: int) -> int:
    """Real MACs of a radix-2 real FFT of ``n_fft`` points, computed as an n/2-point complex FFT
    ((n/4) log2(n/2) butterflies, one complex multiply = 4 real MACs each) plus the n/2 complex
    twiddles that split it into the real spectrum."""
    half = n_fft // 2
    return 4 * (half // 2) * int(math.log2(half)) + 4 * half


def _spectral(
    name: str, group: str, op: str, n_fft: int, hop: int, bits: int, elementwise: int
) -> LayerCost:
    """One frame's window and real FFT (forward or inverse) with the complex product or
    magnitude on its bins, at ``bits`` per value; keeps n_fft - hop samples between frames."""
    bins = n_fft // 2 + 1
    return LayerCost(
        name=name,
        op=op,
        group=group,
        precision=Precision(bits, bits),
        constants=n_fft + n_fft // 2 * 2,  # window + complex twiddles
        constant_bits=bits,
        macs=n_fft + real_fft_macs(n_fft) + 2 * bins,
        elementwise=elementwise,
        state_bits=(n_fft - hop) * bits,
        io_bits=(n_fft + 2 * bins) * bits,
        rows=bins,
        cols=1,
    )


def stft_frontend(name: str, group: str, n_fft: int, hop: int, bits: int) -> LayerCost:
    """Window, real FFT and magnitude (re^2 + im^2, then a square root per bin) of one frame."""
    return _spectral(name, group, "stft", n_fft, hop, bits, elementwise=n_fft // 2 + 1)


def istft_backend(name: str, group: str, n_fft: int, hop: int, bits: int) -> LayerCost:
    """Mask times noisy complex spectrum, inverse real FFT, synthesis window, overlap-add (one
    add per sample)."""
    return _spectral(name, group, "istft", n_fft, hop, bits, elementwise=n_fft)


def hamming_search(
    name: str, group: str, code_bits: int, dictionary: int, k: int, bins: int
) -> LayerCost:
    """Boosted-LSH separation: XNOR-popcount similarity of the frame's code against every
    dictionary code (binary MACs), a running top-K, and the average of the K neighbours'
    binary masks. The dictionary (codes + masks) is stored, not learned."""
    p = Precision(1, 1)
    return LayerCost(
        name=name,
        op="hamming_knn",
        group=group,
        precision=p,
        constants=dictionary * (code_bits + bins),  # codes and their IBMs, one bit each
        constant_bits=1,
        macs=dictionary * code_bits,
        # each similarity is compared against the current K best (log2 K compares in a heap),
        # then K masks are summed and thresholded per bin.
        elementwise=dictionary * max(1, math.ceil(math.log2(k + 1))) + k * bins + bins,
        state_bits=k * (math.ceil(math.log2(code_bits + 1)) + math.ceil(math.log2(dictionary))),
        io_bits=code_bits + bins,
        rows=dictionary,
        cols=code_bits,
    )
