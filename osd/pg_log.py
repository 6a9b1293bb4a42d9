"""The PG log: the ordered record of a PG's recent writes, and the request dedup index.

Invariants:
- Entry versions increase by one per entry within a PG (`head` is the newest, the PG's
  last_update); an entry names the request (`reqid`, None for OSD-internal work such as
  snap trimming), the head object it changed, and the reply the client got.
- The log keeps the newest `max_entries` entries (Ceph's osd_min_pg_log_entries plays this
  role); `dups` maps the reqid of every entry still in the log to that entry, so a resent
  request is answered from its entry and never applied twice. Replicas append the same
  entries, so a replica that becomes primary dedupes too.
- Failed writes are not logged: they applied nothing, so running a resend again is safe.
- An entry is identified by its eversion (epoch, version): one primary writes per epoch, so two
  logs that hold the same eversion hold the same entry (peering compares logs this way).
- `replace` installs another log wholesale (a peer adopting the authoritative log).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 2000


@dataclass(slots=True)
class LogEntry:
    epoch: int                      # map epoch the primary applied the entry in
    version: int                    # PG version (also the object's user_version)
    reqid: tuple | None             # (client gid, tid); None for internal entries
    oid: tuple | None               # head HObject the entry changed (None: several)
    op: str                         # 'modify' | 'delete' | 'trim'
    result: int = 0
    outs: list | None = None        # per-op (rval, out) returned to the client
    num_wr: int = 0                 # stats delta carried to replicas
    wr_bytes: int = 0
    snaps: tuple = ()               # 'trim': the removed snap ids this entry purged
    oids: tuple = ()                # 'trim': the head HObjects whose clones it changed

    @property
    def eversion(self) -> tuple:
        return (self.epoch, self.version)

    def families(self) -> tuple:
        """Family keys (nspace, oid, key) of the objects this entry changed."""
        if self.oid is not None:
            return ((self.oid[1], self.oid[3], self.oid[2]),)
        return tuple((h[1], h[3], h[2]) for h in self.oids)


class PGLog:
    """Bounded log plus the reqid -> entry index of the entries it holds."""

    __slots__ = ("entries", "dups", "head", "tail", "max_entries", "tail_epoch", "_head_epoch")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.entries: deque[LogEntry] = deque()
        self.dups: dict[tuple, LogEntry] = {}
        self.head = 0           # version of the newest entry (last_update)
        self.tail = 0           # version just before the oldest entry kept
        self.max_entries = max_entries
        self.tail_epoch = 0     # epoch of the entry at `tail` (trimmed)
        self._head_epoch = 0    # epoch of the head when the log holds no entries

    @property
    def head_eversion(self) -> tuple:
        """(epoch, version) of the newest entry: the PG's last_update."""
        if self.entries:
            last = self.entries[-1]
            return (last.epoch, last.version)
        return (self._head_epoch, self.head)

    def replace(self, entries, tail: int, tail_epoch: int = 0, head_eversion=None) -> None:
        """Install another log (oldest first) in place of this one, keeping at most
        max_entries of its newest entries; `head_eversion` is the head when `entries` is
        empty."""
        self.entries = deque(entries)
        self.tail, self.tail_epoch = tail, tail_epoch
        if self.entries:
            self.head = self.entries[-1].version
        elif head_eversion is not None:
            self._head_epoch, self.head = head_eversion
        else:
            self._head_epoch, self.head = tail_epoch, tail
        while len(self.entries) > self.max_entries:
            old = self.entries.popleft()
            self.tail, self.tail_epoch = old.version, old.epoch
        self.dups = {e.reqid: e for e in self.entries if e.reqid is not None}

    def __len__(self) -> int:
        return len(self.entries)

    def append(self, entry: LogEntry) -> None:
        """Add the next entry; entries must arrive in increasing version order."""
        if entry.version <= self.head:
            raise ValueError(f"log entry {entry.version} not after head {self.head}")
        self.entries.append(entry)
        if entry.reqid is not None:
            self.dups[entry.reqid] = entry
        self.head = entry.version
        while len(self.entries) > self.max_entries:
            old = self.entries.popleft()
            self.tail = old.version
            self.tail_epoch = old.epoch
            if old.reqid is not None and self.dups.get(old.reqid) is old:
                del self.dups[old.reqid]

    def lookup(self, reqid) -> LogEntry | None:
        return self.dups.get(reqid)

    def entries_after(self, version: int) -> list[LogEntry]:
        """Entries newer than `version` (for peering: what a lagging replica lacks)."""
        return [e for e in self.entries if e.version > version]
