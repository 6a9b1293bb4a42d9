"""Messages that cross the client/OSD and OSD/OSD boundaries.

Plain dataclasses so they pickle cheaply across Ray and can be built in tests without Ray.
The op tuples inside an OSDOpRequest are listed in docs/interfaces.md (section 2).
The data-path messages pickle as (class, field values): every field survives, nothing else
set on an instance does.
"""
from __future__ import annotations

import operator
import pickle
from dataclasses import dataclass, field, fields
from typing import Any


def _pickled_as_field_tuple(cls):
    """Pickle `cls` as cls(*field values). The default dataclass pickle goes through
    copyreg and a state dict: 3.7 -> 2.1 µs to dump a 4 KiB write request, 4.7 -> 2.2 µs to
    load it, and replies alike; that is paid for every op on the client and the OSD."""
    values = operator.attrgetter(*(f.name for f in fields(cls)))

    def __reduce__(self):
        return cls, values(self)
    cls.__reduce__ = __reduce__
    cls._field_values = staticmethod(values)
    return cls

# -- out-of-band pickling for the socket messenger --------------------------------------------
# A payload this large travels beside the pickle (osd/messenger.py frames) instead of inside
# it: pickling a 4 MiB write copied it into a fresh buffer on every hop. Smaller payloads stay
# in-band, where one copy costs less than a buffer of their own.
OUT_OF_BAND_MIN_BYTES = 64 << 10


def _out_of_band(value, depth: int):
    """`value` with every large `bytes` inside it (down to `depth` tuple levels) wrapped in a
    PickleBuffer; the same object when there is none (the common, small case)."""
    if type(value) is bytes:
        return pickle.PickleBuffer(value) if len(value) >= OUT_OF_BAND_MIN_BYTES else value
    if type(value) is not tuple or depth == 0:
        return value
    for i, item in enumerate(value):
        wrapped = _out_of_band(item, depth - 1)
        if wrapped is not item:
            return value[:i] + (wrapped,) + tuple(_out_of_band(rest, depth - 1)
                                                   for rest in value[i + 1:])
    return value


def _list_out_of_band(items: list, depth: int) -> list:
    out = None
    for i, item in enumerate(items):
        wrapped = _out_of_band(item, depth)
        if wrapped is not item:
            if out is None:
                out = list(items)
            out[i] = wrapped
    return items if out is None else out


def _has_large_arg(items: list) -> bool:
    """Whether a tuple in `items` holds a large bytes argument: the cheap test that lets a
    small message keep its plain reduction (this runs for every op a client sends)."""
    for item in items:
        for arg in item:
            if type(arg) is bytes and len(arg) >= OUT_OF_BAND_MIN_BYTES:
                return True
    return False


def _reduce_request(request: "OSDOpRequest"):
    cls = OSDOpRequest
    values = cls._field_values(request)
    if not _has_large_arg(request.ops):             # (name, args...): data is an arg
        return cls, values
    return cls, values[:7] + (_list_out_of_band(request.ops, 1),) + values[8:]


def _reduce_reply(reply: "OSDOpReply"):
    cls = OSDOpReply
    values = cls._field_values(reply)
    for out in reply.outs:                          # (rval, data) or (rval, (extents, data))
        data = out[1] if type(out) is tuple and len(out) == 2 else None
        if type(data) is tuple and len(data) == 2:
            data = data[1]
        if type(data) is bytes and len(data) >= OUT_OF_BAND_MIN_BYTES:
            return cls, (values[0], _list_out_of_band(reply.outs, 2)) + values[2:]
    return cls, values


def _reduce_repop(repop: "RepOp"):
    cls = RepOp
    values = cls._field_values(repop)
    if not _has_large_arg(repop.transaction):       # (op code, hobj, args...)
        return cls, values
    return cls, values[:3] + (_list_out_of_band(repop.transaction, 1),) + values[4:]


SNAP_HEAD = 2**64 - 2
SNAP_DIR = 2**64 - 1
ALL_NSPACES = "\x01"

# op names that change an object; a request containing one is a write
WRITE_OPS = frozenset({
    "create", "write", "write_full", "writesame", "append", "truncate", "zero", "remove",
    "setxattr", "rmxattr", "omap_set", "omap_rm_keys", "omap_rm_range", "omap_clear",
    "omap_set_header", "rollback", "watch", "unwatch",
})


@_pickled_as_field_tuple
@dataclass
class OSDOpRequest:
    """One compound op on one object, sent by a client to the PG's primary."""
    reqid: tuple[int, int]
    pool: int
    pgid: int
    oid: str
    nspace: str = ""
    key: str = ""
    epoch: int = 0
    ops: list = field(default_factory=list)
    snapc: tuple[int, list[int]] | None = None
    snapid: int = SNAP_HEAD
    flags: int = 0
    mtime: float | None = None


@_pickled_as_field_tuple
@dataclass
class OSDOpReply:
    """The primary's answer: result 0 or -errno, one (rval, out) per op, object version."""
    result: int
    outs: list = field(default_factory=list)
    version: int = 0
    retry_epoch: int = 0


@_pickled_as_field_tuple
@dataclass
class RepOp:
    """What a primary sends each replica: the transaction to apply and the PG log entry."""
    pool: int
    pgid: int
    epoch: int
    transaction: list
    log_entry: Any
    # Peering mode: whole object families (osd.recovery.ObjectState) the replica installs
    # instead of `transaction` because it was missing the object (a degraded write).
    push: Any = None
    interval: int = 0                   # peering mode: the primary's interval (same_interval_since)


@dataclass
class OpOutcome:
    """Result of OSDService.handle_op, in the order the host acts on it:
    apply is already done locally; send `repops` to every replica and wait for all acks;
    then send `reply` to the client.

    A notify that has watchers comes back with `notify` set (osd.watch.PendingNotify:
    `.notify_id`, `.timeout_s`) and `reply` None: the host waits until
    `service.notify_done(notify_id)` (acks via `notify_ack`, time via `tick`) and sends
    `service.finish_notify(notify_id)` instead.

    `waiting` True (peering mode only; `reply` None, nothing applied): the PG is peering, or
    a write found fewer than min_size complete replicas. The service keeps the request and
    returns its outcome later in a Ready's `outcomes` (or a retry reply once the bounded wait,
    osd_op_queue_wait_s, expires)."""
    reply: OSDOpReply
    repops: dict = field(default_factory=dict)
    notify: Any = None
    waiting: bool = False


# -- peering and recovery (osd/peering.py, osd/recovery.py) ------------------------------------
# Every message below names its PG (pool, pgid), the sender, and `epoch`: the sender's map epoch
# when it built the message. `interval` is the epoch the PG's current interval began in the
# sender's view (same_interval_since); a receiver drops a message whose interval is older than
# its own, and holds one stamped with an epoch newer than its map until the map arrives.
# They travel between OSDs over the same ordered, lossless pipe as RepOps.

@dataclass
class PGQuery:
    """Primary -> peer: send your PGInfo, log and missing set for this PG (Ceph's
    MOSDPGQuery with a full-log request). A peer that has nothing answers with an empty info."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int


@dataclass
class PGNotify:
    """Peer -> primary: the answer to a PGQuery (Ceph's MOSDPGNotify + MOSDPGLog).
    `info` is an osd.peering.PGInfo, `log` the peer's log entries (oldest first), `intervals`
    the past intervals the peer knows (osd.peering.Interval) since the primary's query."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int
    info: Any
    log: list
    intervals: list = field(default_factory=list)


@dataclass
class PGActivate:
    """Primary -> acting peer: adopt the authoritative log and these facts, then ack.
    `log` replaces the peer's log; `missing` {head hobj: version} is what the peer must get
    pushed; `backfill` True wipes the peer's copy of the PG (a full copy follows in object
    order); `info` carries last_epoch_started = interval."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int
    info: Any
    log: list
    missing: dict
    backfill: bool = False


@dataclass
class PGActivateAck:
    """Peer -> primary: activation persisted."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int


@dataclass
class PGPush:
    """Whole object families (head + clones: data, xattrs, omap, header, object info) to
    install on the receiver, replacing what it has under those names (osd.recovery.ObjectState;
    a family with no objects means "remove it"). `backfill_to` (a family sort key, or None)
    advances the receiver's last_backfill once applied; `backfill_done` ends its backfill."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int
    objects: list
    backfill_to: Any = None
    backfill_done: bool = False
    pull: bool = False                  # answers a PGPull (the receiver is the primary)
    next_cursor: Any = None             # range pulls: where to continue (None: the end)


@dataclass
class PGPushAck:
    """Receiver -> primary: the push was applied (counts as a recovery op completed)."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int
    families: list                      # family keys applied
    num_bytes: int = 0


@dataclass
class PGPull:
    """Primary -> peer: push me these families (`families`), or, for a primary that must be
    backfilled itself, up to `max_families` families after `cursor` (cursor None = start)."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int
    families: list = field(default_factory=list)
    cursor: Any = None
    max_families: int = 0
    whole_pg: bool = False


@dataclass
class PGRemove:
    """Primary -> stray: the PG is clean without you; delete your copy."""
    pool: int
    pgid: int
    epoch: int
    interval: int
    from_osd: int


@dataclass
class Ready:
    """What a host does after a call into OSDService, in this order:
    1. persist: already done, the core applied every change to its store before returning;
    2. send `messages`, a list of (destination osd id, message), in list order per
       destination, over the ordered lossless OSD-to-OSD pipe: a RepOp goes to the
       destination's `handle_repop`, anything else to its `handle_peering_message` (whose
       Ready is handled the same way);
    3. `outcomes`: (OSDOpRequest, OpOutcome) of client requests that waited (see
       OpOutcome.waiting) and have now run: handle each exactly like handle_op's outcome
       (send its repops, wait for every ack, then send its reply)."""
    messages: list = field(default_factory=list)
    outcomes: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.messages or self.outcomes)

    def extend(self, other: "Ready") -> "Ready":
        self.messages.extend(other.messages)
        self.outcomes.extend(other.outcomes)
        return self


PEERING_MESSAGES = (PGQuery, PGNotify, PGActivate, PGActivateAck, PGPush, PGPushAck, PGPull,
                    PGRemove)

# the messenger's pickler uses these for the data-path messages (pickle's dispatch_table), so
# only its frames carry payloads out of band; Ray and copy.deepcopy see the plain reduction
OUT_OF_BAND_REDUCERS = {OSDOpRequest: _reduce_request, OSDOpReply: _reduce_reply,
                        RepOp: _reduce_repop}
