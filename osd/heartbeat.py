"""OSD-to-OSD heartbeats: whom to ping, and which peers to report to the monitor as failed.

Pure: the host sends the pings `due(now)` returns, calls `pong(peer, now)` for each answer,
and sends the monitor what `failures(now)` (MOSDFailure) and `recovered()` (cancel) return.

Invariants: a peer is reported once per failure (again only after it answered in between);
a peer that stops being a heartbeat peer (map change) is forgotten.
"""
from __future__ import annotations

DEFAULT_INTERVAL_S = 6.0            # osd_heartbeat_interval
DEFAULT_GRACE_S = 20.0              # osd_heartbeat_grace


class Heartbeat:
    def __init__(self, osd_id: int, interval_s: float = DEFAULT_INTERVAL_S,
                 grace_s: float = DEFAULT_GRACE_S):
        self.osd_id = osd_id
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.last_rx: dict[int, float] = {}     # peer -> last pong (or when we began)
        self.next_ping = 0.0
        self.reported: set[int] = set()
        self._recovered: list[int] = []

    def set_peers(self, peers, now: float) -> None:
        """The OSDs to watch (Ceph: those sharing a PG, plus neighbours; here the caller's
        choice, typically every other up OSD)."""
        peers = {p for p in peers if p != self.osd_id}
        for p in list(self.last_rx):
            if p not in peers:
                del self.last_rx[p]
                self.reported.discard(p)
        for p in peers:
            self.last_rx.setdefault(p, now)

    def due(self, now: float) -> list[int]:
        """Peers to ping now (every interval_s)."""
        if now < self.next_ping:
            return []
        self.next_ping = now + self.interval_s
        return sorted(self.last_rx)

    def pong(self, peer: int, now: float) -> None:
        if peer in self.last_rx:
            self.last_rx[peer] = now
            if peer in self.reported:
                self.reported.discard(peer)
                self._recovered.append(peer)

    def failures(self, now: float) -> list[tuple[int, float]]:
        """(peer, failed_since) newly past the grace period: report them to the monitor."""
        out = []
        for peer, last in sorted(self.last_rx.items()):
            if peer not in self.reported and now - last >= self.grace_s:
                self.reported.add(peer)
                out.append((peer, last))
        return out

    def recovered(self) -> list[int]:
        """Peers reported earlier that answer again (cancel the report)."""
        out, self._recovered = self._recovered, []
        return out


MIN_PEERS = 10      # Ceph's osd_heartbeat_min_peers


def choose_peers(osd_id: int, up_osds, pg_peers, min_peers: int = MIN_PEERS) -> set[int]:
    """Who an OSD watches, as Ceph chooses: every OSD it shares a PG with, its next and
    previous up OSD by id, then further ring neighbours until `min_peers`. All-to-all
    pinging grows with the square of the cluster (a million pings for 1,000 OSDs)."""
    members = set(up_osds) | {osd_id}
    ring = sorted(members)
    peers = {p for p in pg_peers if p != osd_id and p in members}
    if len(ring) <= 1:
        return peers
    at = ring.index(osd_id)
    step = 1
    while step < len(ring):
        for neighbour in (ring[(at + step) % len(ring)], ring[(at - step) % len(ring)]):
            if neighbour != osd_id:
                peers.add(neighbour)
        if len(peers) >= min_peers:
            break
        step += 1
    return peers
