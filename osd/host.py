"""What every host of an OSDService does with a batch of client requests.

The Ray actor (osd/actor.py) and the in-process cluster (cluster/local_cluster.py) both run
a batch the same way: handle each request in arrival order (so per-PG order is the order the
client sent), collect the replicas' transactions per replica in that same order, and hold
every reply back until each replica has applied its batch. Keeping this here means the two
hosts cannot drift apart.
"""
from __future__ import annotations

from collections import defaultdict

from osd.messages import OSDOpReply, OSDOpRequest


def run_batch(service, requests: list[OSDOpRequest]):
    """Handle `requests` in order; return (replies, {replica osd id: [RepOp, ...]}).

    A request the service rejects with an exception (a bug, never bad input) becomes an
    -EIO reply for that request alone, so one poisoned op cannot fail its neighbours.
    """
    replies: list[OSDOpReply] = []
    repops: dict[int, list] = defaultdict(list)
    for request in requests:
        try:
            outcome = service.handle_op(request)
        except Exception:  # pragma: no cover - defensive: the core promises not to raise
            import errno
            import logging
            logging.getLogger("rayceph.osd").exception("handle_op failed for %r", request.oid)
            replies.append(OSDOpReply(result=-errno.EIO))
            continue
        for osd_id, repop in outcome.repops.items():
            repops[osd_id].append(repop)
        replies.append(outcome.reply)
    return replies, dict(repops)


def apply_repops(service, repops: list) -> int:
    """Apply a primary's replica transactions in the order they were generated."""
    for repop in repops:
        service.handle_repop(repop)
    return len(repops)


def is_notify(request: OSDOpRequest) -> bool:
    """Notify requests wait for watchers' acks, so they travel outside the ordered pipe."""
    return any(op and op[0] == "notify" for op in request.ops)
