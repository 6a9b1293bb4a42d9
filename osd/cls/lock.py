"""cls_lock: advisory object locks (what rados lock_* and librbd's exclusive lock use).

A lock named N lives in the object's xattr `lock.N`, msgpack-encoded:
    {'type': 1 | 2 | 3, 'tag': str,
     'lockers': [[entity, cookie, expiration, addr, description], ...]}
`entity` is the locker's name ('client.<gid>'); `expiration` is seconds since the epoch by
the OSD clock, 0 = never. Expired lockers are dropped whenever the lock is read, before any
check. When the last locker goes, the xattr is removed.

Lock types: LOCK_EXCLUSIVE = 1, LOCK_SHARED = 2, LOCK_EXCLUSIVE_EPHEMERAL = 3 (the object is
removed when its last locker unlocks); the strings 'exclusive' / 'shared' are accepted too.
Flags: LOCK_FLAG_MAY_RENEW = 1, LOCK_FLAG_MUST_RENEW = 2 (at most one of them).

Methods and their msgpack-encoded argument dicts (output is msgpack too where noted):
- lock (RD|WR) {'name', 'type', 'cookie', 'tag'='', 'description'='', 'duration'=0
  (seconds, 0 = forever), 'flags'=0}. Locking a missing object creates it.
  -EINVAL: empty name, bad type, both renew flags. -EBUSY: held with another tag; held
  exclusively by someone else / held in the other mode / any holder for an exclusive
  request. -EEXIST: this entity+cookie already holds it and MAY_RENEW is not set.
  -ENOENT: MUST_RENEW and this entity+cookie does not hold it.
- unlock (RD|WR) {'name', 'cookie'}: -ENOENT if this entity+cookie does not hold it.
- break_lock (RD|WR) {'name', 'locker': entity, 'cookie'}: -ENOENT if not held so.
- get_info (RD) {'name'} -> {'lockers': [{'name', 'cookie', 'expiration', 'addr',
  'description'}], 'type': int (0 when unlocked), 'tag': str}.
- list_locks (RD) {} -> {'locks': [name, ...]}.
- assert_locked (RD) {'name', 'type', 'cookie', 'tag'=''}: -EBUSY unless this
  entity+cookie holds it with that type and tag. -EINVAL: empty name or bad type.
- set_cookie (RD|WR) {'name', 'type', 'cookie', 'tag'='', 'new_cookie'}: move this
  entity's lock to a new cookie; -EBUSY as for assert_locked, or if new_cookie is held.
All methods answer -ENOENT for a missing object (lock excepted) and -EINVAL for bad input.
"""
from __future__ import annotations

import errno

from osd.cls import RD, WR, ClsContext, ClsError, pack, register, unpack

LOCK_NONE = 0
LOCK_EXCLUSIVE = 1
LOCK_SHARED = 2
LOCK_EXCLUSIVE_EPHEMERAL = 3
LOCK_FLAG_MAY_RENEW = 1
LOCK_FLAG_MUST_RENEW = 2

XATTR_PREFIX = "lock."
_TYPE_NAMES = {"exclusive": LOCK_EXCLUSIVE, "shared": LOCK_SHARED,
               "exclusive_ephemeral": LOCK_EXCLUSIVE_EPHEMERAL}


def _args(indata: bytes) -> dict:
    return unpack(indata, dict) if indata else {}


def _str_arg(args: dict, name: str, default: str | None = None) -> str:
    value = args.get(name, default)
    if type(value) is not str:
        raise ClsError(errno.EINVAL, f"{name} must be a string")
    return value


def _lock_type(value) -> int:
    if isinstance(value, str):
        value = _TYPE_NAMES.get(value.lower(), LOCK_NONE)
    if value not in (LOCK_EXCLUSIVE, LOCK_SHARED, LOCK_EXCLUSIVE_EPHEMERAL) or type(value) is not int:
        raise ClsError(errno.EINVAL, "bad lock type")
    return value


def _is_exclusive(lock_type: int) -> bool:
    return lock_type in (LOCK_EXCLUSIVE, LOCK_EXCLUSIVE_EPHEMERAL)


class _LockInfo:
    __slots__ = ("type", "tag", "lockers")

    def __init__(self, lock_type=LOCK_NONE, tag="", lockers=None):
        self.type = lock_type
        self.tag = tag
        # (entity, cookie) -> (expiration, addr, description), in insertion order
        self.lockers: dict[tuple[str, str], tuple[float, str, str]] = lockers or {}


def _read_lock(ctx: ClsContext, name: str) -> _LockInfo:
    """The lock with expired lockers dropped; an empty one if never taken. ENOENT if the
    object does not exist."""
    try:
        raw = ctx.getxattr(XATTR_PREFIX + name)
    except ClsError as exc:
        if exc.errno == errno.ENODATA:
            return _LockInfo()
        raise
    try:
        doc = unpack(raw, dict)
        lockers = {(e, c): (float(exp), addr, desc)
                   for e, c, exp, addr, desc in doc.get("lockers", [])}
        info = _LockInfo(int(doc.get("type", LOCK_NONE)), doc.get("tag", ""), lockers)
    except (ClsError, TypeError, ValueError):
        raise ClsError(errno.EIO, f"corrupt lock {name!r}") from None
    now = ctx.now()
    for key, (expiration, _, _) in list(info.lockers.items()):
        if expiration and expiration < now:
            del info.lockers[key]
    return info


def _write_lock(ctx: ClsContext, name: str, info: _LockInfo) -> None:
    if not info.lockers:
        try:
            ctx.rmxattr(XATTR_PREFIX + name)
        except ClsError as exc:
            if exc.errno != errno.ENODATA:
                raise
        return
    doc = {"type": info.type, "tag": info.tag,
           "lockers": [[e, c, exp, addr, desc]
                       for (e, c), (exp, addr, desc) in info.lockers.items()]}
    ctx.setxattr(XATTR_PREFIX + name, pack(doc))


@register("lock", "lock", RD | WR)
def lock(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    name = _str_arg(args, "name", "")
    lock_type = _lock_type(args.get("type", LOCK_NONE))
    cookie = _str_arg(args, "cookie", "")
    tag = _str_arg(args, "tag", "")
    description = _str_arg(args, "description", "")
    duration = args.get("duration", 0) or 0
    flags = args.get("flags", 0) or 0
    if not name or not isinstance(duration, (int, float)) or duration < 0 or type(flags) is not int:
        raise ClsError(errno.EINVAL)
    may_renew = bool(flags & LOCK_FLAG_MAY_RENEW)
    must_renew = bool(flags & LOCK_FLAG_MUST_RENEW)
    if may_renew and must_renew:
        raise ClsError(errno.EINVAL, "at most one of MAY_RENEW and MUST_RENEW")

    info = _read_lock(ctx, name) if ctx.exists() else _LockInfo()
    me = (ctx.client_name(), cookie)
    # The tag is checked before the renew logic so a renewing locker cannot change it.
    if info.lockers and tag != info.tag:
        raise ClsError(errno.EBUSY, "conflicting tag")
    if me in info.lockers:
        if not may_renew and not must_renew:
            raise ClsError(errno.EEXIST)
        del info.lockers[me]
    elif must_renew:
        raise ClsError(errno.ENOENT)
    if info.lockers:
        if _is_exclusive(lock_type):
            raise ClsError(errno.EBUSY, "already locked")
        if info.type != lock_type:
            raise ClsError(errno.EBUSY, "conflicting lock type")
    info.type = lock_type
    info.tag = tag
    expiration = ctx.now() + duration if duration else 0.0
    info.lockers[me] = (expiration, ctx.client_addr(), description)
    _write_lock(ctx, name, info)


def _remove_locker(ctx: ClsContext, name: str, entity: str, cookie: str) -> None:
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    info = _read_lock(ctx, name)
    if (entity, cookie) not in info.lockers:
        raise ClsError(errno.ENOENT)
    del info.lockers[(entity, cookie)]
    if not info.lockers and info.type == LOCK_EXCLUSIVE_EPHEMERAL:
        ctx.remove()
        return
    _write_lock(ctx, name, info)


@register("lock", "unlock", RD | WR)
def unlock(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    _remove_locker(ctx, _str_arg(args, "name", ""), ctx.client_name(),
                   _str_arg(args, "cookie", ""))


@register("lock", "break_lock", RD | WR)
def break_lock(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    _remove_locker(ctx, _str_arg(args, "name", ""), _str_arg(args, "locker", ""),
                   _str_arg(args, "cookie", ""))


@register("lock", "get_info", RD)
def get_info(ctx: ClsContext, indata: bytes) -> bytes:
    args = _args(indata)
    info = _read_lock(ctx, _str_arg(args, "name", ""))
    return pack({
        "lockers": [{"name": e, "cookie": c, "expiration": exp, "addr": addr,
                     "description": desc}
                    for (e, c), (exp, addr, desc) in info.lockers.items()],
        "type": info.type if info.lockers else LOCK_NONE,
        "tag": info.tag if info.lockers else "",
    })


@register("lock", "list_locks", RD)
def list_locks(ctx: ClsContext, indata: bytes) -> bytes:
    names = [name[len(XATTR_PREFIX):] for name in ctx.getxattrs()
             if name.startswith(XATTR_PREFIX)]
    return pack({"locks": sorted(names)})


def _held_by_me(ctx: ClsContext, args: dict, cookie: str) -> _LockInfo:
    name = _str_arg(args, "name", "")
    lock_type = _lock_type(args.get("type", LOCK_NONE))
    tag = _str_arg(args, "tag", "")
    if not name:
        raise ClsError(errno.EINVAL)
    info = _read_lock(ctx, name)
    if not info.lockers or info.type != lock_type or info.tag != tag:
        raise ClsError(errno.EBUSY)
    if (ctx.client_name(), cookie) not in info.lockers:
        raise ClsError(errno.EBUSY)
    return info


@register("lock", "assert_locked", RD)
def assert_locked(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    _held_by_me(ctx, args, _str_arg(args, "cookie", ""))


@register("lock", "set_cookie", RD | WR)
def set_cookie(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    cookie = _str_arg(args, "cookie", "")
    new_cookie = _str_arg(args, "new_cookie", "")
    info = _held_by_me(ctx, args, cookie)
    entity = ctx.client_name()
    if (entity, new_cookie) in info.lockers:
        raise ClsError(errno.EBUSY)
    # Keep the locker's position; only the cookie changes.
    info.lockers = {((entity, new_cookie) if key == (entity, cookie) else key): value
                    for key, value in info.lockers.items()}
    _write_lock(ctx, _str_arg(args, "name"), info)
