"""IEEE-754 binary32 multiply and add as Amaranth combinational logic, round to nearest even.

Subnormals are flushed to zero, on input and on output (keeping the sign): results are
bit-exact with numpy float32 whenever the exact result is zero or in the normal range, and a
result numpy would give as a subnormal is zero here. Infinities and NaN follow IEEE-754
(any NaN result is the quiet NaN 0x7FC00000). ``reference_mul`` / ``reference_add`` give the
same semantics in numpy for the tests and the node comparison.
"""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal

QNAN = 0x7FC00000
MIN_NORMAL = np.float32(1.1754944e-38)


def _fields(
    m: Module, x: Signal, name: str
) -> tuple[Signal, Signal, Signal, Signal, Signal, Signal]:
    sign = Signal(name=f"{name}_s")
    exp = Signal(8, name=f"{name}_e")
    man = Signal(24, name=f"{name}_m")  # with the hidden bit
    zero, inf, nan = (
        Signal(name=f"{name}_zero"),
        Signal(name=f"{name}_inf"),
        Signal(name=f"{name}_nan"),
    )
    m.d.comb += [
        sign.eq(x[31]), exp.eq(x[23:31]), man.eq(Cat(x[0:23], 1)),
        zero.eq(exp == 0),  # zero or subnormal: flushed
        inf.eq((exp == 0xFF) & (x[0:23] == 0)),
        nan.eq((exp == 0xFF) & (x[0:23] != 0)),
    ]  # fmt: skip
    return sign, exp, man, zero, inf, nan


def _pack_rounded(
    m: Module, name: str, sign: object, exp: Signal, mant: Signal, guard: object, sticky: object
) -> tuple[Signal, Signal]:
    """Round the 24-bit normalized mantissa ``mant`` (hidden bit at 23) with guard/sticky bits,
    nearest even; returns (biased exponent after rounding as a signed signal, 23-bit fraction)."""
    up = Signal(name=f"{name}_up")
    m.d.comb += up.eq(guard & (sticky | mant[0]))
    rounded = Signal(25, name=f"{name}_rnd")
    m.d.comb += rounded.eq(mant + up)
    exp_out = Signal(exp.shape(), name=f"{name}_eo")
    frac = Signal(23, name=f"{name}_f")
    with m.If(rounded[24]):
        m.d.comb += [exp_out.eq(exp + 1), frac.eq(rounded[1:24])]
    with m.Else():
        m.d.comb += [exp_out.eq(exp), frac.eq(rounded[0:23])]
    return exp_out, frac


def _finish(
    m: Module,
    name: str,
    sign: object,
    exp: Signal,
    frac: Signal,
    is_zero: object,
    is_inf: object,
    is_nan: object,
) -> Signal:
    result = Signal(32, name=f"{name}_r")
    with m.If(is_nan):
        m.d.comb += result.eq(QNAN)
    with m.Elif(is_inf | (exp >= 255)):
        m.d.comb += result.eq(Cat(Const(0, 23), Const(0xFF, 8), sign))
    with m.Elif(is_zero | (exp <= 0)):
        m.d.comb += result.eq(Cat(Const(0, 31), sign))  # flush to zero, keep the sign
    with m.Else():
        m.d.comb += result.eq(Cat(frac, exp[0:8], sign))
    return result


def fp_mul(m: Module, a: Signal, b: Signal, name: str = "mul") -> Signal:
    """a * b (binary32 bit patterns) -> binary32 bit pattern."""
    sa, ea, ma, za, ia, na = _fields(m, a, f"{name}_a")
    sb, eb, mb, zb, ib, nb = _fields(m, b, f"{name}_b")
    sign = Signal(name=f"{name}_s")
    m.d.comb += sign.eq(sa ^ sb)
    product = Signal(48, name=f"{name}_p")
    m.d.comb += product.eq(ma * mb)
    exp = Signal(range(-256, 512), name=f"{name}_e")
    mant = Signal(24, name=f"{name}_mn")
    guard = Signal(name=f"{name}_g")
    sticky = Signal(name=f"{name}_st")
    with m.If(product[47]):
        m.d.comb += [
            exp.eq(ea + eb - 126),
            mant.eq(product[24:48]),
            guard.eq(product[23]),
            sticky.eq(product[0:23] != 0),
        ]
    with m.Else():
        m.d.comb += [
            exp.eq(ea + eb - 127),
            mant.eq(product[23:47]),
            guard.eq(product[22]),
            sticky.eq(product[0:22] != 0),
        ]
    exp_out, frac = _pack_rounded(m, name, sign, exp, mant, guard, sticky)
    is_nan = na | nb | (ia & zb) | (ib & za)
    is_inf = ia | ib
    is_zero = za | zb
    return _finish(m, name, sign, exp_out, frac, is_zero, is_inf, is_nan)


def fp_add(m: Module, a: Signal, b: Signal, name: str = "add") -> Signal:
    """a + b (binary32 bit patterns) -> binary32 bit pattern."""
    sa, ea, ma, za, ia, na = _fields(m, a, f"{name}_a")
    sb, eb, mb, zb, ib, nb = _fields(m, b, f"{name}_b")
    # Flushed inputs contribute a zero mantissa.
    ma_eff = Mux(za, 0, ma)
    mb_eff = Mux(zb, 0, mb)
    a_bigger = Signal(name=f"{name}_ab")
    m.d.comb += a_bigger.eq(Cat(ma_eff, ea) >= Cat(mb_eff, eb))
    s_big, e_big, m_big = (
        Signal(name=f"{name}_sb"),
        Signal(8, name=f"{name}_eb"),
        Signal(24, name=f"{name}_mb"),
    )
    s_small, e_small, m_small = (
        Signal(name=f"{name}_ss"),
        Signal(8, name=f"{name}_es"),
        Signal(24, name=f"{name}_ms"),
    )
    with m.If(a_bigger):
        m.d.comb += [
            s_big.eq(sa),
            e_big.eq(ea),
            m_big.eq(ma_eff),
            s_small.eq(sb),
            e_small.eq(eb),
            m_small.eq(mb_eff),
        ]
    with m.Else():
        m.d.comb += [
            s_big.eq(sb),
            e_big.eq(eb),
            m_big.eq(mb_eff),
            s_small.eq(sa),
            e_small.eq(ea),
            m_small.eq(ma_eff),
        ]
    shift = Signal(8, name=f"{name}_d")
    m.d.comb += shift.eq(e_big - e_small)
    # 24 mantissa bits + guard + round + sticky = 27 bits.
    big_ext = Signal(27, name=f"{name}_bx")
    m.d.comb += big_ext.eq(m_big << 3)
    # The small operand's 27-bit frame sits above 32 extra bits that catch what shifts out.
    small_wide = Signal(27 + 32, name=f"{name}_sw")
    m.d.comb += small_wide.eq(Cat(Const(0, 32), Const(0, 3), m_small))
    small_shifted = Signal(27 + 32, name=f"{name}_sh")
    m.d.comb += small_shifted.eq(Mux(shift >= 32, 0, small_wide >> shift))
    lost = Signal(name=f"{name}_lost")
    m.d.comb += lost.eq(Mux(shift >= 32, m_small != 0, small_shifted[0:32] != 0))
    small_ext = Signal(27, name=f"{name}_sx")
    m.d.comb += small_ext.eq(Cat(small_shifted[32] | lost, small_shifted[33:59]))
    subtract = Signal(name=f"{name}_sub")
    m.d.comb += subtract.eq(s_big ^ s_small)
    total = Signal(28, name=f"{name}_t")
    m.d.comb += total.eq(Mux(subtract, big_ext - small_ext, big_ext + small_ext))
    # Normalize: a carry out shifts right by one; cancellation shifts left by the leading zeros.
    lz = Signal(range(29), name=f"{name}_lz")
    for i in range(28):  # priority: the highest set bit wins (last assignment)
        with m.If(total[i]):
            m.d.comb += lz.eq(27 - i)
    norm = Signal(28, name=f"{name}_n")
    exp = Signal(range(-64, 512), name=f"{name}_e")
    with m.If(total[27]):
        m.d.comb += [norm.eq(Cat(total[1] | total[0], total[2:28])), exp.eq(e_big + 1)]
    with m.Else():
        m.d.comb += [norm.eq((total << lz)[1:29]), exp.eq(e_big - lz + 1)]
    # norm[26] is the hidden bit, norm[3:27] the mantissa, norm[2] guard, norm[0:2] round+sticky.
    exp_out, frac = _pack_rounded(m, name, s_big, exp, norm[3:27], norm[2], norm[0:2] != 0)
    exact_zero = Signal(name=f"{name}_z0")
    m.d.comb += exact_zero.eq(total == 0)
    # x + (-x) = +0 in round-to-nearest; (-0) + (-0) = -0.
    sign = Mux(exact_zero, sa & sb, s_big)
    is_nan = na | nb | (ia & ib & (sa != sb))
    is_inf = ia | ib
    inf_sign = Mux(ia, sa, sb)
    return _finish(m, name, Mux(is_inf, inf_sign, sign), exp_out, frac, exact_zero, is_inf, is_nan)


# ---- numpy reference with the same flush-to-zero semantics ------------------------------


def _flush(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(np.abs(x) < MIN_NORMAL, np.copysign(np.float32(0), x), x).astype(np.float32)


def _canonical(x: np.ndarray) -> np.ndarray:
    bits = _flush(x).view(np.uint32)
    return np.where(np.isnan(x), np.uint32(QNAN), bits).astype(np.uint32)


def reference_mul(a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    a = _flush(np.asarray(a_bits, dtype=np.uint32).view(np.float32))
    b = _flush(np.asarray(b_bits, dtype=np.uint32).view(np.float32))
    with np.errstate(all="ignore"):
        return _canonical(a * b)


def reference_add(a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    a = _flush(np.asarray(a_bits, dtype=np.uint32).view(np.float32))
    b = _flush(np.asarray(b_bits, dtype=np.uint32).view(np.float32))
    with np.errstate(all="ignore"):
        return _canonical(a + b)
