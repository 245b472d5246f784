"""σ, tanh and e^x for lstmkit's compiled kernels: one approximation, shared by every engine.

libm's exp is a call, which stops a loop from vectorizing. Here e^x is computed without calls
or branches, in the precision of its argument (float32 lanes are twice as many as float64's):

    e^x = 2^k e^r,  k = round(x / ln 2),  r = x - k ln 2 (Cody & Waite's two-part ln 2, |r| <= ln2/2)
    e^r from its Taylor series: to degree 7 in float32, degree 12 in float64; 2^k from its bits.

    σ(z)    = 1 / (1 + e^-z)
    tanh(z) = 1 - 2 / (e^2z + 1)

with the argument of e^x clamped to ±BOUNDS[precision] (written so that a NaN passes through):
beyond it σ and tanh are 0, 1 or ±1 to within the precision's smallest normal numbers.

Error bounds, tested over a dense grid including |z| up to 10⁴ against float64 numpy
(tests/test_gatemath.py):

    precision   e^x (relative, |x| <= bound)   σ (absolute)   tanh (absolute)
    float32     3 ulp (3.6e-7)                 1.2e-7         2.4e-7
    float64     3 ulp (6.7e-16)                2.3e-16        4.5e-16

tanh is accurate to a few ulp *of 1*, not of tanh(z): for |z| < 1e-3 its relative error grows
(an absolute error of 1e-16 in float64 is harmless in a gate). The engines (lstmkit.ops.fused,
lstmkit.ops.batched, lstmkit.ops.blocked) evaluate these in the data's own dtype.

Interpreted Python (not compiled) gets libm's exp, so the functions can be called for checks.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from lstmkit.ops.jit import kernel

BOUNDS = {np.float32: 80.0, np.float64: 700.0}  # |argument| of e^x: e^±80 and e^±700 are normal numbers


@intrinsic
def _bits_as_float(typingctx, bits):  # type: ignore[no-untyped-def]
    """The float32 (float64) whose bits are those of an int32 (int64)."""
    target = types.float32 if bits.bitwidth == 32 else types.float64

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType() if bits.bitwidth == 32 else ir.DoubleType())

    return target(bits), codegen


def exp(x: float) -> float:
    """e^x (libm's when interpreted; see the module docstring for compiled code)."""
    return math.exp(x)


def sigmoid(z: float) -> float:
    """σ(z) = 1 / (1 + e^-z), in z's precision."""
    return 1.0 / (1.0 + math.exp(-min(max(z, -700.0), 700.0)))


def tanh(z: float) -> float:
    """tanh(z) = 1 - 2 / (e^2z + 1), in z's precision."""
    return 1.0 - 2.0 / (math.exp(min(max(z + z, -700.0), 700.0)) + 1.0)


@kernel()
def _clamp(x: float, bound: float) -> float:
    """x limited to [-bound, bound], written so that a NaN passes through (min/max would not)."""
    x = bound if x > bound else x
    return -bound if x < -bound else x


def _precision(x):  # type: ignore[no-untyped-def]
    """np.float32 or np.float64 for a numba float type (None for anything else)."""
    return {types.float32: np.float32, types.float64: np.float64}.get(x)


@overload(exp)
def _exp_overload(x):  # type: ignore[no-untyped-def]
    """e^x, |x| <= BOUNDS[precision]: Cody & Waite's reduction and a Taylor series (module docstring)."""
    as_x = _precision(x)
    if as_x is None:
        return None
    single = as_x is np.float32
    log2e, magic = as_x(1 / math.log(2)), as_x(1.5 * 2.0 ** (23 if single else 52))  # + magic rounds
    ln2_high = as_x(0.693359375 if single else 0.6931471803691238)  # ln 2 = high + low (Cody & Waite)
    ln2_low = as_x(-2.12194440e-4 if single else 1.9082149292705877e-10)
    coefficients = tuple(as_x(1 / math.factorial(n)) for n in range(7 if single else 12, -1, -1))
    bits, exponent_bias, mantissa_bits = (np.int32, 127, 23) if single else (np.int64, 1023, 52)

    def impl(x):  # type: ignore[no-untyped-def]
        k = (x * log2e + magic) - magic
        r = (x - k * ln2_high) - k * ln2_low
        series = coefficients[0]
        for coefficient in coefficients[1:]:
            series = series * r + coefficient
        return series * _bits_as_float(bits((np.int64(k) + exponent_bias) << mantissa_bits))

    return impl


@overload(sigmoid)
def _sigmoid_overload(z):  # type: ignore[no-untyped-def]
    as_z = _precision(z)
    if as_z is None:
        return None
    one, bound = as_z(1.0), as_z(BOUNDS[as_z])

    def impl(z):  # type: ignore[no-untyped-def]
        return one / (one + exp(-_clamp(z, bound)))

    return impl


@overload(tanh)
def _tanh_overload(z):  # type: ignore[no-untyped-def]
    as_z = _precision(z)
    if as_z is None:
        return None
    one, two, bound = as_z(1.0), as_z(2.0), as_z(BOUNDS[as_z])

    def impl(z):  # type: ignore[no-untyped-def]
        return one - two / (exp(_clamp(z + z, bound)) + one)

    return impl
