"""One source for two executions: elementwise helpers that run on NumPy arrays and in numba.

The model's equations are written once as NumPy expressions. Called with arrays (one element
per path) they form the NumPy reference; compiled by numba they run on scalars inside the
engine's path loop. ``np.where`` is the one operation whose numba version is slow on scalars
(it returns a 0-d array), so :func:`where` gets a scalar overload for compiled code.
"""

from __future__ import annotations

import inspect

import numpy as np
from numba.extending import overload, register_jitable


def where(cond, a, b):
    """``a`` where ``cond`` holds, else ``b`` (elementwise)."""
    return np.where(cond, a, b)


@overload(where)
def _where_scalar(cond, a, b):
    def impl(cond, a, b):
        return a if cond else b

    return impl


def register_module(module) -> None:
    """Make every function defined in ``module`` callable from numba-compiled code.

    The functions stay plain Python for NumPy callers; numba compiles them for scalars when
    a jitted function calls them (``register_jitable``).
    """
    for _, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ == module.__name__ and fn is not where:
            register_jitable(error_model="numpy")(fn)
