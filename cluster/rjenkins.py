"""Bob Jenkins' hashes as Ceph uses them (spec/crush.md §1 and §3).

* `str_hash_rjenkins` is `ceph_str_hash_rjenkins` (§1.2): object name -> 32-bit `ps`.
* `crush_hash32_2` … `crush_hash32_5` are CRUSH's rjenkins1 integer hashes (§3,
  bucket hash type 0), used for HASHPSPOOL, straw2 draws, is_out and primary affinity.
* `hash32_2_np` / `hash32_3_np` are the same two hashes over numpy uint32 arrays (with
  broadcasting); they give the same bits as the scalar versions for every input.

Invariants: every function is pure; inputs are reduced to their 32-bit two's-complement
pattern (so a negative bucket id or `r` hashes like Ceph's `(__u32)` cast); outputs are
Python ints in [0, 2^32) or uint32 arrays.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "str_hash_rjenkins",
    "crush_hash32_2",
    "crush_hash32_3",
    "crush_hash32_4",
    "crush_hash32_5",
    "hash32_2_np",
    "hash32_3_np",
    "hash32_3_rows",
]

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9          # §1.2 initial a and b
CRUSH_HASH_SEED = 1315423911  # §3 `S`
_X = 231232
_Y = 1232


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    """The nine-step 96-bit mix of §1.1 on u32 values.

    Inputs are in [0, 2^32); `(x ^ y) & M == (x & M) ^ y` for such y, so one mask per
    step suffices.
    """
    a = ((a - b - c) ^ (c >> 13)) & _M32
    b = ((b - c - a) ^ (a << 8)) & _M32
    c = ((c - a - b) ^ (b >> 13)) & _M32
    a = ((a - b - c) ^ (c >> 12)) & _M32
    b = ((b - c - a) ^ (a << 16)) & _M32
    c = ((c - a - b) ^ (b >> 5)) & _M32
    a = ((a - b - c) ^ (c >> 3)) & _M32
    b = ((b - c - a) ^ (a << 10)) & _M32
    c = ((c - a - b) ^ (b >> 15)) & _M32
    return a, b, c


def str_hash_rjenkins(data: bytes) -> int:
    """`ceph_str_hash_rjenkins` of `data` (§1.2). Raises TypeError for non-bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"str_hash_rjenkins needs bytes, got {type(data).__name__}")
    k = bytes(data)
    n = len(k)
    a = b = _GOLDEN
    c = 0
    pos = 0
    while n - pos >= 12:
        a = (a + int.from_bytes(k[pos:pos + 4], "little")) & _M32
        b = (b + int.from_bytes(k[pos + 4:pos + 8], "little")) & _M32
        c = (c + int.from_bytes(k[pos + 8:pos + 12], "little")) & _M32
        a, b, c = _mix(a, b, c)
        pos += 12
    c = (c + n) & _M32
    tail = k[pos:]
    # The low byte of c carries the length, so tail bytes 8..10 go in at bits 8, 16, 24.
    a = (a + int.from_bytes(tail[0:4], "little")) & _M32
    b = (b + int.from_bytes(tail[4:8], "little")) & _M32
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & _M32
    a, b, c = _mix(a, b, c)
    return c


def crush_hash32_2(a: int, b: int) -> int:
    """rjenkins1 `crush_hash32_2(a, b)` (§3)."""
    a &= _M32
    b &= _M32
    h = CRUSH_HASH_SEED ^ a ^ b
    x, y = _X, _Y
    a, b, h = _mix(a, b, h)
    x, a, h = _mix(x, a, h)
    b, y, h = _mix(b, y, h)
    return h


def crush_hash32_3(a: int, b: int, c: int) -> int:
    """rjenkins1 `crush_hash32_3(a, b, c)` (§3)."""
    a &= _M32
    b &= _M32
    c &= _M32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c
    x, y = _X, _Y
    a, b, h = _mix(a, b, h)
    c, x, h = _mix(c, x, h)
    y, a, h = _mix(y, a, h)
    b, x, h = _mix(b, x, h)
    y, c, h = _mix(y, c, h)
    return h


def crush_hash32_4(a: int, b: int, c: int, d: int) -> int:
    """rjenkins1 `crush_hash32_4(a, b, c, d)` (§3)."""
    a &= _M32
    b &= _M32
    c &= _M32
    d &= _M32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d
    x, y = _X, _Y
    a, b, h = _mix(a, b, h)
    c, d, h = _mix(c, d, h)
    a, x, h = _mix(a, x, h)
    y, b, h = _mix(y, b, h)
    c, x, h = _mix(c, x, h)
    y, d, h = _mix(y, d, h)
    return h


def crush_hash32_5(a: int, b: int, c: int, d: int, e: int) -> int:
    """rjenkins1 `crush_hash32_5(a, b, c, d, e)` (§3)."""
    a &= _M32
    b &= _M32
    c &= _M32
    d &= _M32
    e &= _M32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d ^ e
    x, y = _X, _Y
    a, b, h = _mix(a, b, h)
    c, d, h = _mix(c, d, h)
    e, x, h = _mix(e, x, h)
    y, a, h = _mix(y, a, h)
    b, x, h = _mix(b, x, h)
    y, c, h = _mix(y, c, h)
    d, x, h = _mix(d, x, h)
    y, e, h = _mix(y, e, h)
    return h


# --- numpy versions -------------------------------------------------------------------
#
# uint32 array arithmetic wraps modulo 2^32 and `<<` drops the high bits, which is exactly
# the C semantics; each step works in place (`out=`) with one scratch buffer so a hash over
# N lanes allocates O(N) once instead of once per operation.


def _u32(v) -> np.ndarray:
    """`v` as a uint32 array holding its two's-complement bit pattern."""
    arr = np.asarray(v)
    if arr.dtype == np.uint32:
        return arr
    if arr.dtype.kind in "iu":
        return (arr.astype(np.int64) & _M32).astype(np.uint32)
    raise TypeError(f"hash input must be integers, got dtype {arr.dtype}")


# (target, first subtrahend, second subtrahend and shifted word, shift, left?) of §1.1,
# as indexes into (a, b, c)
_MIX_STEPS = (
    (0, 1, 2, 13, False), (1, 2, 0, 8, True), (2, 0, 1, 13, False),
    (0, 1, 2, 12, False), (1, 2, 0, 16, True), (2, 0, 1, 5, False),
    (0, 1, 2, 3, False), (1, 2, 0, 10, True), (2, 0, 1, 15, False),
)


def _mix_np_from(a: np.ndarray, b: np.ndarray, c: np.ndarray, t: np.ndarray, first: int) -> None:
    """Steps `first`..8 of the §1.1 mix on same-shape uint32 arrays, in place; `t` is
    scratch space."""
    sub, xor, rsh, lsh = np.subtract, np.bitwise_xor, np.right_shift, np.left_shift
    w = (a, b, c)
    for tgt, o1, o2, shift, left in _MIX_STEPS[first:]:
        tw = w[tgt]
        sub(tw, w[o1], out=tw)
        sub(tw, w[o2], out=tw)
        (lsh if left else rsh)(w[o2], np.uint32(shift), out=t)
        xor(tw, t, out=tw)


def _mix_np(a: np.ndarray, b: np.ndarray, c: np.ndarray, t: np.ndarray) -> None:
    """§1.1 mix on three same-shape uint32 arrays, in place; `t` is scratch space."""
    _mix_np_from(a, b, c, t, 0)


def _lanes(*vals) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the inputs to one shape; return it and writable flat uint32 copies."""
    arrs = np.broadcast_arrays(*[_u32(v) for v in vals])
    return arrs[0].shape, [np.array(x, dtype=np.uint32).reshape(-1) for x in arrs]


def hash32_2_np(a, b) -> np.ndarray:
    """`crush_hash32_2` over broadcast uint32 arrays; returns a new uint32 array."""
    shape, (a, b) = _lanes(a, b)
    h = np.bitwise_xor(a, b)
    np.bitwise_xor(h, np.uint32(CRUSH_HASH_SEED), out=h)
    x = np.full_like(h, _X)
    y = np.full_like(h, _Y)
    t = np.empty_like(h)
    _mix_np(a, b, h, t)
    _mix_np(x, a, h, t)
    _mix_np(b, y, h, t)
    return h.reshape(shape)


def hash32_3_np(a, b, c) -> np.ndarray:
    """`crush_hash32_3` over broadcast uint32 arrays; returns a new uint32 array."""
    shape, (a, b, c) = _lanes(a, b, c)
    h = np.bitwise_xor(a, b)
    np.bitwise_xor(h, c, out=h)
    np.bitwise_xor(h, np.uint32(CRUSH_HASH_SEED), out=h)
    x = np.full_like(h, _X)
    y = np.full_like(h, _Y)
    t = np.empty_like(h)
    _mix_np(a, b, h, t)
    _mix_np(c, x, h, t)
    _mix_np(y, a, h, t)
    _mix_np(b, x, h, t)
    _mix_np(y, c, h, t)
    return h.reshape(shape)


_ROW_BLOCK_LANES = 32768   # lanes per block: measured sweet spot between call overhead and L2


def hash32_3_rows(x: np.ndarray, ids: np.ndarray, r: np.ndarray) -> np.ndarray:
    """`crush_hash32_3(x[i], ids[i, k], r[i])` as an (n, K) uint32 array.

    `x`, `r`: uint32 arrays of shape (n,); `ids`: uint32 of shape (K,) (the same ids for
    every row) or (n, K). This is the straw2 inner loop of the bulk mapper: it works in
    blocks of rows with scratch buffers reused across blocks, and the first step of each
    mix that reads a still-broadcast input (x, ids, r or the constants) writes its result
    straight into the block, so the cost is the ~180 element-wise passes of the mixes.
    """
    n = x.shape[0]
    k = ids.shape[-1]
    out = np.empty((n, k), dtype=np.uint32)
    if n == 0 or k == 0:
        return out
    rows = max(1, _ROW_BLOCK_LANES // k)
    m = min(rows, n)
    a, b, c, x_, y_, t = (np.empty((m, k), dtype=np.uint32) for _ in range(6))
    seed, cx, cy = np.uint32(CRUSH_HASH_SEED), np.uint32(_X), np.uint32(_Y)
    sub, xor, rsh, lsh = np.subtract, np.bitwise_xor, np.right_shift, np.left_shift
    for s in range(0, n, rows):
        e = min(n, s + rows)
        if e - s != m:
            m = e - s
            a, b, c, x_, y_, t = (v[:m] for v in (a, b, c, x_, y_, t))
        h = out[s:e]
        xb, rb = x[s:e, None], r[s:e, None]
        ib = ids if ids.ndim == 1 else ids[s:e]
        xor(xb ^ rb ^ seed, ib, out=h)                 # h = S ^ a ^ b ^ c
        # mix(a, b, h) with a = x, b = ids: steps 1 and 2 read the broadcast inputs
        sub(xb, ib, out=a)
        sub(a, h, out=a)
        xor(a, rsh(h, np.uint32(13), out=t), out=a)
        sub(ib, h, out=b)
        sub(b, a, out=b)
        xor(b, lsh(a, np.uint32(8), out=t), out=b)
        _mix_np_from(a, b, h, t, 2)
        # mix(c, x, h) with c = r and x = X
        sub(rb - cx, h, out=c)
        xor(c, rsh(h, np.uint32(13), out=t), out=c)
        sub(cx, h, out=x_)
        sub(x_, c, out=x_)
        xor(x_, lsh(c, np.uint32(8), out=t), out=x_)
        _mix_np_from(c, x_, h, t, 2)
        # mix(y, a, h) with y = Y
        sub(cy, a, out=y_)
        sub(y_, h, out=y_)
        xor(y_, rsh(h, np.uint32(13), out=t), out=y_)
        _mix_np_from(y_, a, h, t, 1)
        _mix_np(b, x_, h, t)
        _mix_np(y_, c, h, t)
    return out
