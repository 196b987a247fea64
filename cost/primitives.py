"""Per-frame costs of the building blocks: dense, GRU, LSTM, the 1-D convolutions of
Conv-TasNet, normalisation, PReLU, STFT/iSTFT and the Hamming kNN search.

Parameter counts follow torch's layer definitions (``nn.GRU`` has two bias vectors per gate,
``b_ih`` and ``b_hh``; ``nn.LSTM`` likewise), so a torch module and its YAML description agree.
"""

from __future__ import annotations

import math

from bitwave.cost.counts import LayerCost, Precision


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
    weights, biases = n_in * n_out, n_out if bias else 0
    return LayerCost(
        name=name,
        op="dense",
        group=group,
        precision=p,
        weights=weights,
        biases=biases,
        macs=weights + biases,
        elementwise=n_out if activation else 0,
        io_bits=(n_in + n_out) * p.abits,
        rows=n_out,
        cols=n_in,
    )


def gru(name: str, group: str, n_in: int, hidden: int, p: Precision) -> LayerCost:
    """One GRU layer: r, z, n gates over [x, h]; torch keeps b_ih and b_hh (6h biases).
    Element-wise: 2h sigmoids, h tanh, h for r*(W_hn h + b_hn), 3h for (1-z)*n + z*h."""
    weights = 3 * hidden * (n_in + hidden)
    biases = 6 * hidden
    return LayerCost(
        name=name,
        op="gru",
        group=group,
        precision=p,
        weights=weights,
        biases=biases,
        macs=weights + biases,
        elementwise=7 * hidden,
        state_bits=hidden * p.abits,
        io_bits=(n_in + hidden) * p.abits,
        rows=3 * hidden,
        cols=n_in + hidden,
    )


def lstm(name: str, group: str, n_in: int, hidden: int, p: Precision) -> LayerCost:
    """One LSTM layer: i, f, g, o gates over [x, h]; torch keeps b_ih and b_hh (8h biases).
    Element-wise: 3h sigmoids, 2h tanh, 3h products, h add. State: h and c."""
    weights = 4 * hidden * (n_in + hidden)
    biases = 8 * hidden
    return LayerCost(
        name=name,
        op="lstm",
        group=group,
        precision=p,
        weights=weights,
        biases=biases,
        macs=weights + biases,
        elementwise=9 * hidden,
        state_bits=2 * hidden * p.abits,
        io_bits=(n_in + hidden) * p.abits,
        rows=4 * hidden,
        cols=n_in + hidden,
    )


def encoder(
    name: str, group: str, filters: int, kernel: int, stride: int, p: Precision
) -> LayerCost:
    """Learned analysis filterbank: Conv1d(1, N, L, stride), no bias (Conv-TasNet). Keeps the
    last L - stride samples between frames."""
    weights = filters * kernel
    return LayerCost(
        name=name,
        op="conv1d",
        group=group,
        precision=p,
        weights=weights,
        macs=weights,
        elementwise=filters,  # ReLU on the encoder output
        state_bits=(kernel - stride) * p.abits,
        io_bits=(kernel + filters) * p.abits,
        rows=filters,
        cols=kernel,
    )


def decoder(
    name: str, group: str, filters: int, kernel: int, stride: int, p: Precision
) -> LayerCost:
    """Learned synthesis filterbank: ConvTranspose1d(N, 1, L, stride), no bias, plus the
    overlap-add buffer of L - stride samples."""
    weights = filters * kernel
    return LayerCost(
        name=name,
        op="conv_transpose1d",
        group=group,
        precision=p,
        weights=weights,
        macs=weights,
        elementwise=kernel,  # overlap-add
        state_bits=(kernel - stride) * p.abits,
        io_bits=(filters + kernel) * p.abits,
        rows=kernel,
        cols=filters,
    )


def depthwise(
    name: str, group: str, channels: int, kernel: int, dilation: int, p: Precision
) -> LayerCost:
    """Dilated depthwise Conv1d with bias. Streaming keeps (kernel - 1) * dilation past frames."""
    weights = channels * kernel
    return LayerCost(
        name=name,
        op="depthwise_conv1d",
        group=group,
        precision=p,
        weights=weights,
        biases=channels,
        macs=weights + channels,
        state_bits=(kernel - 1) * dilation * channels * p.abits,
        io_bits=2 * channels * p.abits,
        rows=channels,
        cols=kernel,
    )


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


def stft_frontend(name: str, group: str, n_fft: int, hop: int, bits: int) -> LayerCost:
    """Window, real FFT and magnitude (re^2 + im^2, then a square root) of one frame."""
    bins = n_fft // 2 + 1
    p = Precision(bits, bits)
    return LayerCost(
        name=name,
        op="stft",
        group=group,
        precision=p,
        constants=n_fft + n_fft // 2 * 2,  # window + complex twiddles
        constant_bits=bits,
        macs=n_fft + real_fft_macs(n_fft) + 2 * bins,
        elementwise=bins,  # square roots
        state_bits=(n_fft - hop) * bits,
        io_bits=(n_fft + 2 * bins) * bits,
        rows=bins,
        cols=1,
        repeats=1,
    )


def istft_backend(name: str, group: str, n_fft: int, hop: int, bits: int) -> LayerCost:
    """Mask times noisy complex spectrum, inverse real FFT, synthesis window, overlap-add."""
    bins = n_fft // 2 + 1
    p = Precision(bits, bits)
    return LayerCost(
        name=name,
        op="istft",
        group=group,
        precision=p,
        constants=n_fft + n_fft // 2 * 2,
        constant_bits=bits,
        macs=2 * bins + real_fft_macs(n_fft) + n_fft,
        elementwise=n_fft,  # overlap-add
        state_bits=(n_fft - hop) * bits,
        io_bits=(2 * bins + n_fft) * bits,
        rows=bins,
        cols=1,
    )


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
