"""Argument coercion with the exceptions Ceph's Cython binding raises for C integers.

A negative value for an unsigned parameter raises OverflowError("can't convert negative
value to uint64_t"), a non-integer raises TypeError, as Cython's coercion does.
"""
from __future__ import annotations

import operator


def _int(val):
    if isinstance(val, float):
        raise TypeError("'float' object cannot be interpreted as an integer")
    try:
        return operator.index(val)
    except TypeError:
        raise TypeError("an integer is required") from None


def uint(val, ctype: str = "uint64_t", bits: int = 64) -> int:
    v = _int(val)
    if v < 0:
        raise OverflowError("can't convert negative value to %s" % ctype)
    if v >= 1 << bits:
        raise OverflowError("value too large to convert to %s" % ctype)
    return v


def sint(val, ctype: str = "int", bits: int = 32) -> int:
    v = _int(val)
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise OverflowError("value too large to convert to %s" % ctype)
    return v
