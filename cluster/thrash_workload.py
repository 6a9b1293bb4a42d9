"""The client workload of the Ray thrash (cluster/thrash_ray.py): the model of one object,
the client threads that run seeded ops through the public `rados` module and check every
result against the model when it arrives, and `read_mismatch`, which the check after the heal
uses again.

A client thread owns its objects and runs one op at a time, so each object's model is exact;
an op that fails with an error leaves its object's state unknown and takes the object out of
the workload.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .thrash_ray import ThrashRun


@dataclass
class Model:
    data: bytes = b""
    xattrs: dict = field(default_factory=dict)
    omap: dict = field(default_factory=dict)
    exists: bool = False


# -- the workload --------------------------------------------------------------------------------
class Client(threading.Thread):
    """One client thread: its own objects, one op at a time, each result checked against the
    model the moment it arrives."""

    def __init__(self, run: "ThrashRun", n: int, nops: int):
        super().__init__(name=f"thrash-client-{n}", daemon=True)
        self.run_ = run
        self.n = n
        self.nops = nops
        self.rng = random.Random(run.seed * 1_000_003 + n)
        self.objects = [f"c{n}.obj{i}" for i in range(run.cfg.objects_per_client)]
        self.models = {oid: Model() for oid in self.objects}
        self.poisoned: set = set()          # objects whose state an error made unknown
        self.done = 0
        self.think_s = run.cfg.fault_time_s / max(1, nops)     # spread over the fault phase

    def run(self) -> None:
        for _ in range(self.nops):
            if self.run_.stop.is_set():
                break
            live = [o for o in self.objects if o not in self.poisoned]
            if not live:
                break
            oid = self.rng.choice(live)
            began = time.monotonic()
            self.one_op(oid)
            self.run_.latency(time.monotonic() - began, oid)
            self.done += 1
            if self.think_s:
                time.sleep(self.rng.uniform(0, 2 * self.think_s))

    def one_op(self, oid: str) -> None:
        import rados

        rng, obj, io = self.rng, self.models[oid], self.run_.cluster.ioctx
        r = rng.random()
        kind = "read"
        try:
            if r < 0.30:
                self.check_read(oid, obj)
                return
            if r < 0.45:
                kind, data = "write_full", rng.randbytes(rng.randint(1, 6000))
                io.write_full(oid, data)
                obj.data, obj.exists = data, True
            elif r < 0.58:
                kind, off = "write", rng.randrange(0, 8192)
                data = rng.randbytes(rng.randint(1, 3000))
                io.write(oid, data, off)
                buf = bytearray(obj.data)
                buf.extend(bytes(max(0, off - len(buf))))
                buf[off:off + len(data)] = data
                obj.data, obj.exists = bytes(buf), True
            elif r < 0.66:
                kind, data = "append", rng.randbytes(rng.randint(1, 500))
                io.append(oid, data)
                obj.data, obj.exists = obj.data + data, True
            elif r < 0.74:
                kind, name, value = "setxattr", rng.choice("abc"), rng.randbytes(8)
                io.set_xattr(oid, name, value)
                obj.xattrs[name], obj.exists = value, True
            elif r < 0.82:
                kind = "omap_set"
                kv = {f"k{rng.randrange(30):02d}": rng.randbytes(6)
                      for _ in range(rng.randint(1, 4))}
                with rados.WriteOpCtx() as op:
                    io.set_omap(op, tuple(kv), tuple(kv.values()))
                    io.operate_write_op(op, oid)
                obj.omap.update(kv)
                obj.exists = True
            elif r < 0.88:
                kind = "omap_rm"
                keys = [f"k{rng.randrange(30):02d}" for _ in range(3)]
                with rados.WriteOpCtx() as op:
                    io.remove_omap_keys(op, tuple(keys))
                    self.expect_enoent(oid, obj, kind,
                                       lambda: io.operate_write_op(op, oid))
                for k in keys:
                    obj.omap.pop(k, None)
            elif r < 0.93:
                # Ceph: truncating an absent object is a no-op that succeeds (it stays
                # absent), unlike omap_rm_keys and remove
                kind, size = "truncate", rng.randrange(0, len(obj.data) + 100)
                io.trunc(oid, size)
                if obj.exists:
                    obj.data = obj.data[:size] + bytes(max(0, size - len(obj.data)))
            else:
                kind = "remove"
                self.expect_enoent(oid, obj, kind, lambda: io.remove_object(oid))
                self.models[oid] = Model()
            self.run_.count(kind)
        except _Absent:
            self.run_.count(kind + "_enoent")
        except Exception as exc:      # unknown outcome: a finding, and the object leaves
            self.poisoned.add(oid)
            self.run_.finding(f"{kind} on {oid} failed: {exc!r}", data=False)

    def expect_enoent(self, oid: str, obj: Model, kind: str, call) -> None:
        """Run a write op that needs the object: ENOENT iff the model says it is absent."""
        import rados

        try:
            call()
        except rados.ObjectNotFound:
            if obj.exists:
                self.run_.finding(f"{kind} on {oid}: ENOENT but the model has it "
                                  f"({len(obj.data)} bytes): lost write")
            raise _Absent()
        if not obj.exists:
            self.run_.finding(f"{kind} on absent {oid} succeeded: phantom object")
            obj.exists = True

    def check_read(self, oid: str, obj: Model) -> None:
        problem = read_mismatch(self.run_.cluster.ioctx, oid, obj)
        self.run_.count("read")
        if problem:
            self.run_.finding(problem)


class _Absent(Exception):
    """The object was absent, as the model expected: the op did nothing."""


def read_mismatch(io, oid: str, obj: Model) -> str | None:
    """None if the object reads back as the model; else what differs."""
    import rados

    try:
        data = io.read(oid, 1 << 20)
    except rados.ObjectNotFound:
        return f"read of {oid}: ENOENT, the model has {len(obj.data)} bytes " \
               f"(lost write)" if obj.exists else None
    if not obj.exists:
        return f"read of absent {oid} returned {len(data)} bytes (phantom write)"
    if data != obj.data:
        return f"read of {oid}: {len(data)} bytes differ from the model's {len(obj.data)}"
    xattrs = dict(io.get_xattrs(oid))
    with rados.ReadOpCtx() as op:
        it, _ = io.get_omap_vals(op, "", "", 1000)
        io.operate_read_op(op, oid)
        omap = dict(it)
    if xattrs != obj.xattrs:
        return f"read of {oid}: xattrs {sorted(xattrs)} differ from the model's " \
               f"{sorted(obj.xattrs)}"
    if omap != obj.omap:
        return f"read of {oid}: omap keys {sorted(omap)} differ from the model's " \
               f"{sorted(obj.omap)}"
    return None
