"""Argument conversion with the errors Ceph's Cython binding raises.

The real binding converts names with `cstr` (str or bytes, else `TypeError('<name> must be a
string')`), data with Cython's `char *` coercion (bytes or bytearray, else
`TypeError('expected bytes, str found')`) and integers with Cython's C-integer coercion
(`OverflowError("can't convert negative value to uint64_t")` for a negative value given to an
unsigned parameter, `TypeError` for a non-integer). These helpers reproduce that so callers
see the same exception classes and messages.
"""
from __future__ import annotations

import operator
from itertools import chain

__all__ = ["cstr", "cstr_list", "decode_cstr", "flatten_dict", "requires", "opt"]


def cstr(val, name, encoding="utf-8", opt=False):
    """bytes for a str/bytes argument; None passes when `opt`; else TypeError."""
    if opt and val is None:
        return None
    if isinstance(val, bytes):
        return val
    if isinstance(val, str):
        return val.encode(encoding)
    raise TypeError("%s must be a string" % name)


def cstr_list(list_str, name, encoding="utf-8"):
    return [cstr(s, name, encoding) for s in list_str]


def decode_cstr(val, encoding="utf-8"):
    if val is None:
        return None
    if isinstance(val, str):
        return val
    return val.decode(encoding)


def to_str(val, name, opt=False):
    """A name argument as str (validated like cstr; bytes are decoded)."""
    raw = cstr(val, name, opt=opt)
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape")


def flatten_dict(d, name):
    items = chain.from_iterable(d.items())
    return cstr("".join(i + "\0" for i in items), name)


def data(val) -> bytes:
    """A `char *` data argument: bytes or bytearray; else Cython's TypeError."""
    if isinstance(val, bytes):
        return val
    if isinstance(val, bytearray):
        return bytes(val)
    raise TypeError("expected bytes, %s found" % type(val).__name__)


def _int(val):
    if isinstance(val, float):
        raise TypeError("'float' object cannot be interpreted as an integer")
    try:
        return operator.index(val)
    except TypeError:
        raise TypeError("an integer is required") from None


def uint(val, ctype="uint64_t", bits=64) -> int:
    """An unsigned C integer argument (uint64_t, size_t, uint32_t, uint8_t ...)."""
    v = _int(val)
    if v < 0:
        raise OverflowError("can't convert negative value to %s" % ctype)
    if v >= 1 << bits:
        raise OverflowError("value too large to convert to %s" % ctype)
    return v


def sint(val, ctype="int", bits=32) -> int:
    """A signed C integer argument (int, int64_t, time_t)."""
    v = _int(val)
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise OverflowError("value too large to convert to %s" % ctype)
    return v


# -- legacy decorators the older binding exported (test_rados.py of older releases uses them) --

def opt(*types):
    """`requires` spec for an optional argument: any of `types` or None."""
    return tuple(types) + (None,)


def requires(*types):
    """Check positional/keyword argument types: `@requires(('name', str), ('n', opt(int)))`."""

    def is_type_of(v, t):
        return v is None if t is None else isinstance(v, t)

    def check_type(val, arg_name, arg_type):
        if isinstance(arg_type, tuple):
            if any(is_type_of(val, t) for t in arg_type):
                return
            names = " or ".join("None" if t is None else t.__name__ for t in arg_type)
            raise TypeError("%s must be %s" % (arg_name, names))
        if not is_type_of(val, arg_type):
            raise TypeError("%s must be %s" % (arg_name, arg_type.__name__))

    def wrapper(f):
        def validate_func(*args, **kwargs):
            pos_args = zip(args[1:], types)
            named_args = ((kwargs[name], (name, spec)) for name, spec in types if name in kwargs)
            for arg_val, (arg_name, arg_type) in chain(pos_args, named_args):
                check_type(arg_val, arg_name, arg_type)
            return f(*args, **kwargs)

        validate_func.__name__ = getattr(f, "__name__", "validate_func")
        validate_func.__doc__ = getattr(f, "__doc__", None)
        return validate_func

    return wrapper
