"""One source for two executions: elementwise helpers that run on NumPy arrays and in numba.

The model's equations are written once as elementwise NumPy expressions inside loops over
``lanes(n)``. In Python ``lanes`` yields one slice, so each loop body runs once on rows of all
the paths of a chunk: the NumPy reference. Compiled by numba it is ``range(n)``, so the body
runs on scalars, one path at a time, in loops that LLVM vectorizes across paths (four paths
per instruction with AVX2, eight with AVX-512: sim.kernel): the engine.

The elementary functions the equations need (``exp``, ``log``, ``power``, the
``cos_sin_turns`` of Box-Muller and the histograms' ``bin_log10``) are NumPy's in Python.
Compiled, they are polynomials in plain IEEE arithmetic: the PyPI llvmlite has no vector math
library, so a libm call in a lane loop stays scalar (10-40 ns) and stops the loop from
vectorizing. They are accurate to a few units in the last place (``bin_log10`` to 1e-10,
far inside a bin), so the engine agrees with the reference to rounding, not bitwise.
Every lane of a block runs the same instructions (blocks are padded to full width, so no
path runs in a scalar remainder loop), so a path's result never depends on which lane or
block it ran in.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

from sim.layout import T_PARAMS


def lanes(n):
    """The lane loop: one slice of all paths in Python, ``range(n)`` when compiled."""
    return (slice(None),)


def where(cond, a, b):
    """``a`` where ``cond`` holds, else ``b`` (elementwise)."""
    return np.where(cond, a, b)


def exp(x):
    """e**x (elementwise)."""
    return np.exp(x)


def log(x):
    """Natural logarithm (elementwise)."""
    return np.log(x)


def bin_log10(x):
    """Base-10 logarithm of a positive value, for placing it in a histogram bin
    (elementwise); compiled, to 1e-10 absolute: 6e-8 of the narrowest bin at the default
    2,048 bins, 2e-6 at the 65,536 allowed."""
    return np.log10(x)


def power(a, b):
    """a**b for a >= 0 (elementwise)."""
    return np.power(a, b)


def as_tuple(a, n):
    """The first ``n`` (a constant) elements of a 1-D array as a tuple.

    In compiled lane loops a tuple's elements are values, not memory that might alias the
    rows the loop writes, so reading parameters from it keeps the loop vectorizable.
    """
    return tuple(a[:n])


def par(q, k, i):
    """Parameter ``k`` of path ``i``: ``q[k]`` when ``q`` is the month's tuple of values
    (every path alike); with parameters drawn per path ``q`` is the block's scratch rows,
    whose rows from T_PARAMS hold one column per path: in Python the row over the paths,
    compiled that column's element ``q[T_PARAMS + k, i]`` (rows of an array the loops
    already use, at constant offsets from the others)."""
    return q[k] if isinstance(q, tuple) else q[T_PARAMS + k]


def cos_sin_turns(u):
    """(cos 2 pi u, sin 2 pi u) for u in [0, 1] (elementwise)."""
    angle = 2.0 * np.pi * u
    return np.cos(angle), np.sin(angle)


_ELEMENTARY = (lanes, where, as_tuple, par, exp, log, bin_log10, power, cos_sin_turns)


def register_module(module) -> None:
    """Make every function defined in ``module`` callable from numba-compiled code.

    The functions stay plain Python for NumPy callers; numba compiles them for the argument
    types a jitted caller passes (``register_jitable``), with LLVM's always-inline attribute:
    a call left inside a lane loop keeps the loop from vectorizing. A product and a sum may
    fuse into one multiply-add (fastmath "contract", nothing else: no reordering, no
    reciprocals, NaN and infinities as IEEE says): one rounding instead of two, and fewer
    instructions in loops that the vector units' throughput bounds (the engine ~5% faster:
    dotcom_crash, 200,000 paths on 2 threads, in turn: 2.09-2.22 against 2.20-2.30 s). Every
    lane still runs the same instructions, and LLVM fuses the same operations in 256- and
    512-bit loops: results stay identical across threads, chunks, shards and vector widths.
    """
    for _, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ == module.__name__ and fn not in _ELEMENTARY:
            register_jitable(error_model="numpy", forceinline=True, fastmath={"contract"})(fn)


# --- compiled versions -------------------------------------------------------------------
# Always inlined (LLVM's size threshold would leave the larger ones out of line), with fused
# multiply-adds allowed inside the polynomials only.
_INLINE = {"forceinline": True}


@intrinsic
def _bits(typingctx, value):
    """The IEEE bits of a float64 as an int64 (a free reinterpretation)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 with the given IEEE bits."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@register_jitable(forceinline=True, fastmath={"contract"})
def _horner(z, coefficients):
    y = coefficients[-1]
    for j in range(len(coefficients) - 2, -1, -1):
        y = y * z + coefficients[j]
    return y


@register_jitable(forceinline=True, fastmath={"contract"})
def _polynomial(z, even, odd):
    """sum c_j z**j from its even and odd coefficients: two independent Horner chains in
    z**2 halve the chain of dependent multiply-adds, which bounds these loops' speed."""
    z2 = z * z
    return _horner(z2, even) + z * _horner(z2, odd)


# Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, then a degree-13 Taylor polynomial
# (truncation 4e-18 relative). 2**k is put together in the exponent bits, as two factors so
# that both stay normal from the smallest subnormal result to the largest double. Adding
# 1.5 * 2**52 turns a small integral double into integer bits without a double -> int64
# conversion, which AVX2 does not have.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52
_ROUND_BITS = 0x4338000000000000
_EXP_HI = 709.782712893384  # log of the largest double; above: inf
_EXP_LO = -745.1332191019412  # log of the smallest subnormal; below: 0
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(14))
_EXP_EVEN, _EXP_ODD = _EXP_TAYLOR[0::2], _EXP_TAYLOR[1::2]


@register_jitable(forceinline=True, fastmath={"contract"})
def _pow2(k):
    """2**k for an integral double k in [-1022, 1023]."""
    return _from_bits((_bits(k + (_ROUND + 1023.0)) - _ROUND_BITS) << 52)


@register_jitable(forceinline=True, fastmath={"contract"})
def _exp(x):
    v = min(max(x, _EXP_LO), _EXP_HI)
    k = np.floor(v * _LOG2E + 0.5)
    r = (v - k * _LN2_HI) - k * _LN2_LO
    half = np.floor(0.5 * k)
    y = _polynomial(r, _EXP_EVEN, _EXP_ODD) * _pow2(half) * _pow2(k - half)
    y = np.inf if x > _EXP_HI else y
    y = 0.0 if x < _EXP_LO else y
    return y if x == x else x


# x = m 2**e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), from
# the series in s**2 <= 0.0295 up to s**21 (truncation 1e-18 relative).
_SQRT2 = 1.4142135623730951
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_TWO52_BITS = 0x4330000000000000
_TWO52 = 4503599627370496.0
_TINY = 2.2250738585072014e-308  # smallest normal double
_ATANH_SERIES = tuple(1.0 / (2 * j + 1) for j in range(11))
_ATANH_EVEN, _ATANH_ODD = _ATANH_SERIES[0::2], _ATANH_SERIES[1::2]
_LOG10_2 = 0.30102999566398120
# log10(1 + z) / z on z = m - 1 in [sqrt(1/2) - 1, sqrt(2) - 1), degree 10: a least-squares
# fit at 80 Chebyshev nodes (numpy.polynomial.polynomial.polyfit), within 1e-10 of log10 over
# the interval (9.8e-11 at 400,001 points), far inside any bin. No division: log's
# s = (m - 1) / (m + 1) was a division per count, and the counts cost a sixth of the engine
_LOG10_SERIES = (0.43429448217787053, -0.21714723961749854, 0.14476468932614375,
                 -0.1085737231169579, 0.08687008726778941, -0.07238838751282115,
                 0.06172457036132235, -0.05384913210237767, 0.051784951780471905,
                 -0.050930708276979944, 0.029272458685235245)
_LOG10_EVEN, _LOG10_ODD = _LOG10_SERIES[0::2], _LOG10_SERIES[1::2]


@register_jitable(forceinline=True, fastmath={"contract"})
def _log(x):
    subnormal = x < _TINY
    bits = _bits(x * 18014398509481984.0 if subnormal else x)  # subnormals: times 2**54
    e = _from_bits((bits >> 52) | _TWO52_BITS) - (_TWO52 + 1023.0)
    e = e - 54.0 if subnormal else e
    m = _from_bits((bits & _MANTISSA) | _ONE_BITS)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    e = e + 1.0 if big else e
    s = (m - 1.0) / (m + 1.0)
    y = e * _LN2_HI + (2.0 * s * _polynomial(s * s, _ATANH_EVEN, _ATANH_ODD) + e * _LN2_LO)
    y = -np.inf if x == 0.0 else y
    y = np.inf if x == np.inf else y
    y = np.nan if x < 0.0 else y
    return y if x == x else x


@register_jitable(forceinline=True, fastmath={"contract"})
def _bin_log10(x):
    """log10 of a positive normal double (what histogram.bin_index passes): none of _log's
    cases for zero, subnormals, infinities or NaN."""
    bits = _bits(x)
    e = _from_bits((bits >> 52) | _TWO52_BITS) - (_TWO52 + 1023.0)
    m = _from_bits((bits & _MANTISSA) | _ONE_BITS)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    e = e + 1.0 if big else e
    z = m - 1.0
    return e * _LOG10_2 + z * _polynomial(z, _LOG10_EVEN, _LOG10_ODD)


# The quadrant comes from 4u exactly (not from a rounded angle), then Taylor polynomials on
# |theta| <= pi/4 up to theta**17 (truncation 1e-19).
_HALF_PI = 1.5707963267948966
_SIN_TAYLOR = tuple((-1.0) ** n / math.factorial(2 * n + 1) for n in range(9))
_COS_TAYLOR = tuple((-1.0) ** n / math.factorial(2 * n) for n in range(9))
_SIN_EVEN, _SIN_ODD = _SIN_TAYLOR[0::2], _SIN_TAYLOR[1::2]
_COS_EVEN, _COS_ODD = _COS_TAYLOR[0::2], _COS_TAYLOR[1::2]


@register_jitable(forceinline=True, fastmath={"contract"})
def _cos_sin_turns(u):
    w = 4.0 * u
    q = np.floor(w + 0.5)
    theta = (w - q) * _HALF_PI
    t2 = theta * theta
    s = theta * _polynomial(t2, _SIN_EVEN, _SIN_ODD)
    c = _polynomial(t2, _COS_EVEN, _COS_ODD)
    quadrant = q - 4.0 * np.floor(0.25 * q)
    cos_v = -c if quadrant == 2.0 else c
    sin_v = -s if quadrant == 2.0 else s
    cos_v = -s if quadrant == 1.0 else (s if quadrant == 3.0 else cos_v)
    sin_v = c if quadrant == 1.0 else (-c if quadrant == 3.0 else sin_v)
    return cos_v, sin_v


@overload(lanes, inline="always")
def _lanes_compiled(n):
    return lambda n: range(n)


@intrinsic(prefer_literal=True)
def _array_head(typingctx, array, length):
    """``tuple(array[:length])`` of a contiguous 1-D array holding at least ``length``
    elements (not checked), one load per element; numba's own to_fixed_tuple sets the
    elements one by one at run time (2 us for 85 values)."""
    if not (isinstance(length, types.IntegerLiteral) and isinstance(array, types.Array)
            and array.ndim == 1 and array.layout == "C"):
        return None
    count = length.literal_value
    tuple_type = types.UniTuple(array.dtype, count)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        values = [builder.load(builder.gep(data, [context.get_constant(types.intp, k)]))
                  for k in range(count)]
        return context.make_tuple(builder, tuple_type, values)

    return tuple_type(array, length), codegen


@overload(par, jit_options=_INLINE)
def _par_compiled(q, k, i):
    if isinstance(q, types.BaseTuple):
        return lambda q, k, i: q[k]
    if isinstance(q, types.Array) and q.ndim == 2:
        return lambda q, k, i: q[T_PARAMS + k, i]
    return None


@overload(as_tuple, jit_options=_INLINE, prefer_literal=True)
def _as_tuple_compiled(a, n):
    return lambda a, n: _array_head(a, n)


@overload(where, jit_options=_INLINE)
def _where_compiled(cond, a, b):
    return lambda cond, a, b: a if cond else b


@overload(exp, jit_options=_INLINE)
def _exp_compiled(x):
    return lambda x: _exp(x)


@overload(log, jit_options=_INLINE)
def _log_compiled(x):
    return lambda x: _log(x)


@overload(bin_log10, jit_options=_INLINE)
def _bin_log10_compiled(x):
    return lambda x: _bin_log10(x)


@overload(power, jit_options=_INLINE)
def _power_compiled(a, b):
    return lambda a, b: _exp(b * _log(a))


@overload(cos_sin_turns, jit_options=_INLINE)
def _cos_sin_turns_compiled(u):
    return lambda u: _cos_sin_turns(u)
