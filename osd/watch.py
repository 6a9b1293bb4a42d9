"""Watch/notify state of one OSD: watches on the objects it is primary for, pending notifies,
and the per-client event queues its host drains on the clients' behalf.

Invariants:
- A watch is (object, client gid, cookie) with a timeout; it lives while its client pings
  (`ping`) within the timeout. `tick(now)` drops expired watches and queues
  ('error', cookie, -ENOTCONN) for their clients, as Ceph's watch timeout does.
- A notify snapshots the object's watchers when it starts; it completes when each of them
  acked, was removed (unwatch, expiry, object deleted), or its deadline passed. Watchers
  still waiting at the deadline are its timeouts.
- Times come only from arguments (the service's injected clock): no threads, no sleeping.
- Events per client: ('notify', notify_id, oid, nspace, pool, cookie, notifier_gid, payload)
  and ('error', cookie, -errno).
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field


@dataclass(slots=True)
class Watch:
    gid: int
    cookie: int
    timeout_s: float
    last_ping: float


@dataclass
class PendingNotify:
    notify_id: int
    objkey: tuple                   # (pool, nspace, key, oid)
    notifier_gid: int
    timeout_s: float
    deadline: float
    reply: object                   # the OSDOpReply to complete (outs of the other ops)
    op_index: int                   # the notify op's slot in reply.outs
    waiting: set = field(default_factory=set)       # {(gid, cookie)} not yet acked
    acks: dict = field(default_factory=dict)        # (gid, cookie) -> reply bytes


class WatchNotify:
    def __init__(self):
        self.watches: dict[tuple, dict[tuple, Watch]] = {}     # objkey -> (gid, cookie) -> Watch
        self.pg_of: dict[tuple, tuple] = {}                    # objkey -> (pool, seed)
        self.by_client: dict[tuple, set] = {}                  # (gid, cookie) -> {objkey}
        self.events: dict[int, list] = {}                      # gid -> queued events
        self.notifies: dict[int, PendingNotify] = {}
        self._next_notify_id = 1

    # -- watches -------------------------------------------------------------------------------
    def watchers_of(self, objkey) -> dict:
        """(gid, cookie) -> Watch for one object (read-only; empty dict if none)."""
        return self.watches.get(objkey) or {}

    def watch(self, objkey, pgkey, gid: int, cookie: int, timeout_s: float, now: float) -> None:
        """Register or refresh (a reconnect) a watch."""
        watchers = self.watches.setdefault(objkey, {})
        watchers[(gid, cookie)] = Watch(gid, cookie, timeout_s, now)
        self.pg_of[objkey] = pgkey
        self.by_client.setdefault((gid, cookie), set()).add(objkey)

    def unwatch(self, objkey, gid: int, cookie: int) -> bool:
        return self._drop(objkey, (gid, cookie), err=None)

    def ping(self, gid: int, cookie: int, now: float) -> bool:
        """Refresh a watch; False if the OSD has no such watch (the client must re-watch)."""
        objkeys = self.by_client.get((gid, cookie))
        if not objkeys:
            return False
        for objkey in objkeys:
            self.watches[objkey][(gid, cookie)].last_ping = now
        return True

    def ping_client(self, gid: int, now: float) -> int:
        n = 0
        for (g, cookie) in list(self.by_client):
            if g == gid:
                n += self.ping(g, cookie, now)
        return n

    def disconnect_object(self, objkey, err: int = -errno.ENOTCONN) -> None:
        """Drop every watch on an object (deleted, or no longer ours), telling the clients."""
        for wkey in list(self.watchers_of(objkey)):
            self._drop(objkey, wkey, err)

    def disconnect_client(self, gid: int, err: int = -errno.ENOTCONN) -> None:
        """Drop every watch of one client (it was blocklisted: it may never be notified)."""
        for (g, cookie), objkeys in list(self.by_client.items()):
            if g == gid:
                for objkey in list(objkeys):
                    self._drop(objkey, (g, cookie), err)

    def disconnect_pg(self, pgkey, err: int = -errno.ENOTCONN) -> None:
        for objkey in [o for o, pg in self.pg_of.items() if pg == pgkey]:
            self.disconnect_object(objkey, err)

    def disconnect_pool(self, pool: int, err: int = -errno.ENOTCONN) -> None:
        for objkey in [o for o in self.pg_of if o[0] == pool]:
            self.disconnect_object(objkey, err)

    def _drop(self, objkey, wkey, err: int | None) -> bool:
        watchers = self.watches.get(objkey)
        if not watchers or wkey not in watchers:
            return False
        del watchers[wkey]
        if not watchers:
            del self.watches[objkey]
            self.pg_of.pop(objkey, None)
        objkeys = self.by_client.get(wkey)
        if objkeys is not None:
            objkeys.discard(objkey)
            if not objkeys:
                del self.by_client[wkey]
        if err is not None:
            self.events.setdefault(wkey[0], []).append(("error", wkey[1], err))
        # A watcher that is gone is no longer awaited (neither an ack nor a timeout).
        for pending in self.notifies.values():
            if pending.objkey == objkey:
                pending.waiting.discard(wkey)
        return True

    # -- notifies ------------------------------------------------------------------------------
    def start_notify(self, objkey, notifier_gid: int, payload: bytes, timeout_s: float,
                     now: float, reply, op_index: int) -> PendingNotify | None:
        """Queue a notify event to each watcher of the object; None if there are none."""
        watchers = self.watchers_of(objkey)
        if not watchers:
            return None
        notify_id = self._next_notify_id
        self._next_notify_id += 1
        pending = PendingNotify(notify_id, objkey, notifier_gid, timeout_s, now + timeout_s,
                                reply, op_index, waiting=set(watchers))
        self.notifies[notify_id] = pending
        pool, nspace, key, oid = objkey
        for gid, cookie in watchers:
            self.events.setdefault(gid, []).append(
                ("notify", notify_id, oid, nspace, pool, cookie, notifier_gid, payload))
        return pending

    def ack(self, notify_id: int, gid: int, cookie: int, reply_bytes: bytes) -> bool:
        """Record an ack; True once the notify is complete. Unknown or late acks are ignored."""
        pending = self.notifies.get(notify_id)
        if pending is None:
            return False
        if (gid, cookie) in pending.waiting:
            pending.waiting.discard((gid, cookie))
            pending.acks[(gid, cookie)] = bytes(reply_bytes or b"")
        return not pending.waiting

    def is_done(self, notify_id: int, now: float) -> bool:
        pending = self.notifies.get(notify_id)
        return pending is None or not pending.waiting or now >= pending.deadline

    def finish(self, notify_id: int) -> PendingNotify | None:
        return self.notifies.pop(notify_id, None)

    # -- time ----------------------------------------------------------------------------------
    def tick(self, now: float) -> list[int]:
        """Expire watches whose client stopped pinging; return the ids of notifies that are
        now complete (all answered, or past their deadline)."""
        for objkey, watchers in list(self.watches.items()):
            for wkey, w in list(watchers.items()):
                if now - w.last_ping > w.timeout_s:
                    self._drop(objkey, wkey, -errno.ENOTCONN)
        return [nid for nid, p in self.notifies.items() if not p.waiting or now >= p.deadline]

    # -- events --------------------------------------------------------------------------------
    def pop_events(self, gid: int) -> list:
        return self.events.pop(gid, [])

    def has_events(self) -> bool:
        return any(self.events.values())
