"""cls_hello: Ceph's example object class, with its semantics.

Methods (input/output are raw bytes, not msgpack, as in Ceph):
- say_hello (RD): b"Hello, " + (indata or b"world") + b"!"; -EINVAL if indata > 100 bytes.
- record_hello (WR): writes that greeting as the object's data; -EEXIST if the object
  exists, -EINVAL if indata > 100 bytes.
- replay (RD): returns the object's data (what record_hello wrote).
- writes_dont_return_data (WR): sets xattr "foo" = b"bar" and returns data, which the client
  sees only with the RETURNVEC flag; with input it fails -EINVAL.
- turn_it_to_11 (RD|WR): upper-cases the recorded greeting in place ("HELLO, WORLD!").
- bad_reader (WR, reads) and bad_writer (RD, writes): break the flag rules; the OSD
  answers -EIO.
"""
from __future__ import annotations

import errno

from osd.cls import RD, WR, ClsContext, ClsError, register


def _greeting(indata: bytes) -> bytes:
    if len(indata) > 100:
        raise ClsError(errno.EINVAL)
    return b"Hello, " + (indata or b"world") + b"!"


@register("hello", "say_hello", RD)
def say_hello(ctx: ClsContext, indata: bytes) -> bytes:
    return _greeting(indata)


@register("hello", "record_hello", WR)
def record_hello(ctx: ClsContext, indata: bytes) -> None:
    content = _greeting(indata)
    if ctx.exists():        # only say hello to objects that don't exist yet
        raise ClsError(errno.EEXIST)
    ctx.write_full(content)


@register("hello", "replay", RD)
def replay(ctx: ClsContext, indata: bytes) -> bytes:
    return ctx.read(0, 0)


@register("hello", "writes_dont_return_data", WR)
def writes_dont_return_data(ctx: ClsContext, indata: bytes) -> bytes:
    ctx.setxattr("foo", b"bar")
    if indata:
        raise ClsError(errno.EINVAL, out=b"too much input data!")
    return b"you will never see this"


@register("hello", "turn_it_to_11", RD | WR)
def turn_it_to_11(ctx: ClsContext, indata: bytes) -> None:
    if indata:
        raise ClsError(errno.EINVAL)
    ctx.write_full(ctx.read(0, 0).upper())


@register("hello", "bad_reader", WR)
def bad_reader(ctx: ClsContext, indata: bytes) -> bytes:
    return ctx.read(0, 0)


@register("hello", "bad_writer", RD)
def bad_writer(ctx: ClsContext, indata: bytes) -> None:
    ctx.write_full(indata)
