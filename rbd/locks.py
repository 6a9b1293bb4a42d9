"""Image locks: the managed exclusive lock (exclusive-lock feature) and advisory locks.

Both live in cls_lock's lock `rbd_lock` on `rbd_header.<id>`. The managed lock uses tag
`internal` and cookie `auto <watch cookie>`; advisory locks use the caller's cookie/tag.

Managed lock protocol (one writer at a time, ownership moves on request):
- Before a write or a maintenance op a client without the lock tries `lock.lock`. While
  another live client holds it, the requester sends `request_lock` to the header's
  watchers and retries; the owner releases (after its in-flight I/O drained) unless it
  took the lock explicitly with `lock_acquire`, in which case it answers -EROFS and the
  requester's operation fails with EROFS (ReadOnlyImage).
- A holder whose watch is gone is dead: its lock is broken (and, with
  `rbd_blocklist_on_break_lock`, the holder is blocklisted).
- `lock_break` removes a live owner's lock; with blocklisting on, the old owner learns it
  through a `lock_broken` notify and fails every later call with ESHUTDOWN
  (ConnectionShutdown), as a blocklisted librbd client does.
- Every wait is bounded by `rbd_request_timed_out_seconds` (-> ETIMEDOUT).
"""
from __future__ import annotations

import errno
import logging
import threading
import time

from rbd._rados_io import unpack
from rbd.constants import RBD_FEATURE_EXCLUSIVE_LOCK, RBD_LOCK_MODE_EXCLUSIVE, SNAP_HEAD
from rbd.errors import RbdError

log = logging.getLogger("rayceph.rbd")

LOCK_NAME = "rbd_lock"
LOCK_TAG = "internal"
COOKIE_PREFIX = "auto "
LOCK_EXCLUSIVE = 1
LOCK_SHARED = 2
REQUEST_NOTIFY_TIMEOUT_MS = 5000


def get_lock_info(io, oid: str) -> dict:
    """{'lockers': [{'name','cookie','expiration','addr','description'}], 'type', 'tag'}."""
    try:
        return io.call(oid, "get_info", {"name": LOCK_NAME}, cls="lock") or {
            "lockers": [], "type": 0, "tag": ""}
    except RbdError as exc:
        if exc.ret == -errno.ENOENT:
            return {"lockers": [], "type": 0, "tag": ""}
        raise


def parse_cookie(cookie: str) -> int | None:
    if not isinstance(cookie, str) or not cookie.startswith(COOKIE_PREFIX):
        return None
    try:
        return int(cookie[len(COOKIE_PREFIX):])
    except ValueError:
        return None


def locker_gid(entity: str) -> int | None:
    if not isinstance(entity, str) or not entity.startswith("client."):
        return None
    try:
        return int(entity[len("client."):])
    except ValueError:
        return None


def blocklist(io, addr: str) -> None:
    """Blocklist a client address through the Rados handle (if the cluster supports it)."""
    add = getattr(io.rados, "blocklist_add", None)
    if add is None or not addr:
        return
    try:
        expire = int(io.conf_get("rbd_blocklist_expire_seconds") or 0)
    except ValueError:
        expire = 0
    try:
        add(addr, expire)
    except Exception as exc:     # not supported / refused: the notify still fences the owner
        err = getattr(exc, "errno", None)
        if err in (errno.EACCES, errno.EPERM):
            # the caller's mon caps forbid it: an unfenced break risks split brain, so the
            # break fails as librbd's BreakRequest fails it
            raise RbdError(-err, "failed to blocklist lock owner") from None
        log.debug("blocklist_add(%s) failed: %s", addr, exc)


class ExclusiveLock:
    def __init__(self, ctx):
        self.ctx = ctx
        self.owner = False
        self.explicit = False
        self.mutex = threading.RLock()

    # -- state ---------------------------------------------------------------------------------
    def enabled(self) -> bool:
        ctx = self.ctx
        return (not ctx.old_format and ctx.info is not None
                and bool(ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK))

    @property
    def cookie(self) -> str:
        return "%s%d" % (COOKIE_PREFIX, self.ctx.watch_cookie or 0)

    def is_owner(self) -> bool:
        return self.owner

    # -- acquire / release ---------------------------------------------------------------------
    def ensure_owner(self, explicit: bool = False) -> None:
        """Own the lock (if the feature is on). RbdError: -EROFS when the owner refuses or
        this handle cannot write, -ETIMEDOUT when the owner does not let go in time."""
        ctx = self.ctx
        if ctx.blocklisted:
            raise RbdError(-errno.ESHUTDOWN, "client was blocklisted")
        if not self.enabled():
            return
        if ctx.snap_id != SNAP_HEAD and not explicit:
            return      # a snapshot view has no exclusive lock (librbd shuts it down)
        if self.owner:
            if explicit:
                self.explicit = True
            return
        if ctx.watch_cookie is None:
            raise RbdError(-errno.EROFS, "image is open read-only")
        timeout_s = float(ctx.config("rbd_request_timed_out_seconds") or 30)
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        with self.mutex:
            while not self.owner:
                if ctx.blocklisted:
                    raise RbdError(-errno.ESHUTDOWN, "client was blocklisted")
                ret = self._try_lock()
                if ret == 0 or ret == -errno.EEXIST:
                    self._acquired(explicit)
                    return
                if ret != -errno.EBUSY:
                    raise RbdError(ret, "cannot take the exclusive lock")
                self._contend(deadline)
                if time.monotonic() >= deadline:
                    raise RbdError(-errno.ETIMEDOUT, "exclusive lock request timed out")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _try_lock(self) -> int:
        ctx = self.ctx
        try:
            ctx.io.call(ctx.header_oid, "lock", {
                "name": LOCK_NAME, "type": LOCK_EXCLUSIVE, "cookie": self.cookie,
                "tag": LOCK_TAG, "description": "", "duration": 0, "flags": 0}, cls="lock")
            return 0
        except RbdError as exc:
            return exc.ret

    def _acquired(self, explicit: bool) -> None:
        self.owner = True
        self.explicit = explicit
        ctx = self.ctx
        try:
            ctx.refresh()
            ctx.object_map.on_lock_acquired()
        except RbdError:
            self._unlock()
            self.owner = False
            raise
        ctx.send_notify({"op": "acquired_lock"}, timeout_ms=1000)

    def _contend(self, deadline: float) -> None:
        """The lock is busy: break it if its holder is dead, else ask the holder to let go."""
        ctx = self.ctx
        info = get_lock_info(ctx.io, ctx.header_oid)
        lockers = info.get("lockers") or []
        if not lockers:
            return
        locker = lockers[0]
        if info.get("tag") != LOCK_TAG or parse_cookie(locker["cookie"]) is None:
            # an advisory lock is in the way: librbd cannot take over a foreign lock
            raise RbdError(-errno.EROFS, "image is locked by another client")
        gid = locker_gid(locker["name"])
        watch_cookie = parse_cookie(locker["cookie"])
        alive = any(w.get("name") == locker["name"] and w.get("cookie") == watch_cookie
                    for w in ctx.io.list_watchers(ctx.header_oid))
        if not alive:
            if ctx.config("rbd_blocklist_on_break_lock") and gid != ctx.io.gid:
                blocklist(ctx.io, locker.get("addr", ""))
            try:
                ctx.io.call(ctx.header_oid, "break_lock", {
                    "name": LOCK_NAME, "locker": locker["name"], "cookie": locker["cookie"]},
                    cls="lock")
            except RbdError as exc:
                if exc.ret != -errno.ENOENT:
                    raise
            return
        remaining_ms = max(100, int((deadline - time.monotonic()) * 1000))
        acks, _ = ctx.io.notify(ctx.header_oid, _pack({
            "op": "request_lock", "gid": ctx.io.gid, "cookie": ctx.watch_cookie or 0,
            "owner_gid": gid, "owner_cookie": watch_cookie}),
            min(REQUEST_NOTIFY_TIMEOUT_MS, remaining_ms))
        for ack_gid, _, payload in acks:
            try:
                reply = unpack(payload) if payload else None
            except Exception:
                reply = None
            if isinstance(reply, dict) and reply.get("owner") and reply.get("result", 0) < 0:
                raise RbdError(reply["result"], "lock owner refused to release the lock")

    def release(self) -> None:
        """Give up the lock (after in-flight I/O drained). No-op when not owner."""
        ctx = self.ctx
        with self.mutex:
            if not self.owner:
                return
            ctx.block_io()
            try:
                self._unlock()
                self.owner = False
                self.explicit = False
                ctx.object_map.on_lock_released()
            finally:
                ctx.unblock_io()
        ctx.send_notify({"op": "released_lock"}, timeout_ms=1000)

    def _unlock(self) -> None:
        ctx = self.ctx
        try:
            ctx.io.call(ctx.header_oid, "unlock", {"name": LOCK_NAME, "cookie": self.cookie},
                        cls="lock")
        except RbdError as exc:
            if exc.ret not in (-errno.ENOENT, -errno.ESHUTDOWN):
                raise

    def shut_down(self) -> None:
        if self.owner and not self.ctx.blocklisted:
            self.release()
        self.owner = False

    def features_changed(self) -> None:
        if self.owner and not self.enabled():
            threading.Thread(target=self._quiet_release, daemon=True).start()

    def _quiet_release(self) -> None:
        try:
            self.release()
        except Exception:
            log.exception("releasing the exclusive lock failed")

    # -- notifications -------------------------------------------------------------------------
    def handle_notify(self, op, message: dict) -> dict:
        ctx = self.ctx
        if op == "request_lock":
            if not self.owner:
                return {"result": 0, "owner": False}
            if self.explicit:
                return {"result": -errno.EROFS, "owner": True}
            threading.Thread(target=self._quiet_release, daemon=True,
                             name="rbd-release-lock").start()
            return {"result": 0, "owner": True}
        if op == "lock_broken":
            if message.get("victim_gid") == ctx.io.gid and \
                    message.get("victim_cookie") == ctx.watch_cookie:
                self.owner = False
                self.explicit = False
                ctx.object_map.on_lock_released()
                if message.get("blocklist"):
                    ctx.blocklisted = True
            return {"result": 0}
        if op in ("acquired_lock", "released_lock"):
            return {"result": 0}
        return {"result": -errno.EOPNOTSUPP}

    # -- the public managed-lock calls ---------------------------------------------------------
    def owners(self) -> list[dict]:
        ctx = self.ctx
        info = get_lock_info(ctx.io, ctx.header_oid)
        if info.get("tag") != LOCK_TAG:
            return []
        out = []
        for locker in info.get("lockers") or []:
            if parse_cookie(locker["cookie"]) is None:
                continue
            out.append({"mode": RBD_LOCK_MODE_EXCLUSIVE, "owner": locker["name"]})
        return out

    def break_owner(self, owner: str) -> None:
        """lock_break: remove `owner`'s managed lock (blocklisting it if configured)."""
        ctx = self.ctx
        info = get_lock_info(ctx.io, ctx.header_oid)
        lockers = [l for l in info.get("lockers") or []
                   if info.get("tag") == LOCK_TAG and parse_cookie(l["cookie"]) is not None]
        if not lockers:
            raise RbdError(-errno.ENOENT, "no lock owner")
        locker = lockers[0]
        if locker["name"] != owner:
            raise RbdError(-errno.EBUSY, "lock owner changed")
        do_blocklist = bool(ctx.config("rbd_blocklist_on_break_lock"))
        gid = locker_gid(locker["name"])
        if do_blocklist and gid != ctx.io.gid:
            blocklist(ctx.io, locker.get("addr", ""))
        try:
            ctx.io.call(ctx.header_oid, "break_lock", {
                "name": LOCK_NAME, "locker": locker["name"], "cookie": locker["cookie"]},
                cls="lock")
        except RbdError as exc:
            if exc.ret != -errno.ENOENT:
                raise
        ctx.send_notify({"op": "lock_broken", "victim_gid": gid,
                         "victim_cookie": parse_cookie(locker["cookie"]),
                         "blocklist": do_blocklist})
        if gid == ctx.io.gid and parse_cookie(locker["cookie"]) == ctx.watch_cookie:
            self.owner = False


def _pack(obj) -> bytes:
    from rbd._rados_io import pack
    return pack(obj)


# -- advisory locks ----------------------------------------------------------------------------
def advisory_lock(ctx, exclusive: bool, cookie: str, tag: str) -> None:
    ctx.io.call(ctx.header_oid, "lock", {
        "name": LOCK_NAME, "type": LOCK_EXCLUSIVE if exclusive else LOCK_SHARED,
        "cookie": cookie, "tag": tag, "description": "", "duration": 0, "flags": 0},
        cls="lock")
    ctx.send_notify({"op": "header_update"})


def advisory_unlock(ctx, cookie: str) -> None:
    ctx.io.call(ctx.header_oid, "unlock", {"name": LOCK_NAME, "cookie": cookie}, cls="lock")
    ctx.send_notify({"op": "header_update"})


def advisory_break(ctx, client: str, cookie: str) -> None:
    if locker_gid(client) is None:
        raise RbdError(-errno.EINVAL, "bad client name")
    if ctx.config("rbd_blocklist_on_break_lock"):
        info = get_lock_info(ctx.io, ctx.header_oid)
        addr = ""
        for locker in info.get("lockers") or []:
            if locker["name"] == client:
                addr = locker.get("addr", "")
                break
        if not addr:
            raise RbdError(-errno.ENOENT, "locker not found")
        if locker_gid(client) != ctx.io.gid:
            blocklist(ctx.io, addr)
    ctx.io.call(ctx.header_oid, "break_lock", {"name": LOCK_NAME, "locker": client,
                                               "cookie": cookie}, cls="lock")
    ctx.send_notify({"op": "header_update"})


def list_lockers(ctx):
    info = get_lock_info(ctx.io, ctx.header_oid)
    lockers = info.get("lockers") or []
    if not lockers:
        return []
    return {"tag": info.get("tag", ""),
            "exclusive": info.get("type") == LOCK_EXCLUSIVE,
            "lockers": [(l["name"], l["cookie"], l["addr"]) for l in lockers]}
