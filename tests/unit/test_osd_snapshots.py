"""Snapshots on the OSD: Ceph's clone-on-write rules, reads at snaps, rollback, trimming,
pool snaps, and a seeded model-based run (random writes/removes/snap creates/snap removes
/reads/rollbacks on a 3-OSD PG, checked against what each object looked like at each snap)."""
from __future__ import annotations

import errno
import random

import pytest

from osd.messages import SNAP_HEAD
from tests.unit.osd_fakes import Client, FakeOSDMap, FakePool, MiniCluster, dump_store, head


class Snaps:
    """A 3-OSD cluster, one pool, one client writing with a self-managed snap context."""

    def __init__(self, mode: str = "selfmanaged"):
        self.mode = mode
        self.cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, snap_mode=mode)]))
        self.client = Client()
        self.seq = 0
        self.live: list[int] = []

    @property
    def epoch(self) -> int:
        return self.cluster.osdmap.epoch

    def snapc(self):
        if self.mode == "pool":
            return None     # the OSD uses the pool's snap context
        return (self.seq, sorted(self.live, reverse=True))

    def op(self, oid, *ops, snapid=SNAP_HEAD):
        snapc = self.snapc() if snapid == SNAP_HEAD else None
        return self.cluster.op(self.client.req(oid, ops, epoch=self.epoch, snapc=snapc,
                                               snapid=snapid))

    def ok(self, oid, *ops, snapid=SNAP_HEAD):
        reply = self.op(oid, *ops, snapid=snapid)
        assert reply.result == 0, reply
        return [out for _, out in reply.outs]

    def read(self, oid, snapid=SNAP_HEAD):
        reply = self.op(oid, ("read", 0, 0), snapid=snapid)
        return None if reply.result == -errno.ENOENT else reply.outs[0][1]

    def snap_create(self, skip: int = 0) -> int:
        self.seq += 1 + skip        # ids skipped: snaps of other images in the pool
        self.live.append(self.seq)
        if self.mode == "pool":
            new = self.cluster.osdmap.next()
            pool = new.pools[1]
            pool.snap_seq = self.seq
            pool.snaps[self.seq] = (f"s{self.seq}", 0.0)
            self.cluster.push_map(new)
        return self.seq

    def snap_remove(self, snap: int) -> None:
        self.live.remove(snap)
        new = self.cluster.osdmap.next()
        pool = new.pools[1]
        pool.removed_snaps = set(pool.removed_snaps) | {snap}
        pool.snaps.pop(snap, None)
        self.cluster.push_map(new)

    def store(self, osd: int | None = None):
        oid_any = 0 if osd is None else osd
        return self.cluster.osds[oid_any].store

    def primary_store(self, oid):
        pgid = self.client.req(oid, []).pgid
        return self.cluster.osds[self.cluster.primary(1, pgid)].store

    def snapset(self, oid):
        return self.primary_store(oid).get_meta(head(oid)).snapset


@pytest.fixture(params=["selfmanaged", "pool"])
def snaps(request):
    return Snaps(request.param)


def test_first_write_after_snap_clones_the_head(snaps):
    snaps.ok("o", ("write", 0, b"v1"))
    s1 = snaps.snap_create()
    snaps.ok("o", ("write", 0, b"V2"))
    assert snaps.read("o", s1) == b"v1"
    assert snaps.read("o") == b"V2"
    listing = snaps.ok("o", ("list_snaps",))[0]
    assert listing["seq"] == s1
    assert [(c["cloneid"], c["snaps"], c["size"]) for c in listing["clones"]] == \
        [(s1, [s1], 2), (SNAP_HEAD, [], 2)]
    # a second write under the same snap context does not clone again
    snaps.ok("o", ("write", 0, b"v3"))
    assert len(snaps.snapset("o").clones) == 1
    assert snaps.read("o", s1) == b"v1"


def test_one_clone_stands_for_every_snap_since_the_last_write(snaps):
    snaps.ok("o", ("write", 0, b"old"))
    s1, s2, s3 = snaps.snap_create(), snaps.snap_create(skip=2), snaps.snap_create()
    snaps.ok("o", ("write", 0, b"new"))
    clones = snaps.snapset("o").clones
    assert [(c.cloneid, c.snaps) for c in clones] == [(s3, (s3, s2, s1))]
    for s in (s1, s2, s3):
        assert snaps.read("o", s) == b"old"
    # ids in between that are not snaps of this context are not listed -> ENOENT
    assert snaps.op("o", ("read", 0, 0), snapid=s2 - 1).result == -errno.ENOENT


def test_object_created_after_a_snap_is_absent_in_it(snaps):
    s1 = snaps.snap_create()
    snaps.ok("new", ("write", 0, b"x"))
    assert snaps.read("new", s1) is None
    assert snaps.snapset("new").clones == ()
    s2 = snaps.snap_create()
    snaps.ok("new", ("write", 0, b"y"))
    assert (snaps.read("new", s1), snaps.read("new", s2), snaps.read("new")) == (None, b"x", b"y")


def test_remove_keeps_clones_as_a_whiteout(snaps):
    snaps.ok("o", ("write", 0, b"data"), ("setxattr", "a", b"1"))
    s1 = snaps.snap_create()
    snaps.ok("o", ("remove",))
    assert snaps.read("o") is None
    assert snaps.op("o", ("stat",)).result == -errno.ENOENT
    assert snaps.op("o", ("remove",)).result == -errno.ENOENT
    assert snaps.read("o", s1) == b"data"
    assert snaps.ok("o", ("getxattrs",), snapid=s1) == [{"a": b"1"}]
    listing = snaps.ok("o", ("list_snaps",))[0]
    assert [c["cloneid"] for c in listing["clones"]] == [s1]     # no head entry
    pgid = snaps.client.req("o", []).pgid
    primary = snaps.cluster.osds[snaps.cluster.primary(1, pgid)]
    assert primary.pgls(1, pgid, "", None, 10) == ([], None)
    assert primary.pool_stats(1)["num_objects"] == 2        # whiteout + clone, as Ceph counts
    # recreated: the old snap still reads the clone, the new head is fresh
    snaps.ok("o", ("write", 0, b"again"))
    assert (snaps.read("o", s1), snaps.read("o")) == (b"data", b"again")
    assert snaps.ok("o", ("getxattrs",)) == [{}]


def test_remove_without_snaps_deletes_entirely(snaps):
    snaps.ok("o", ("write", 0, b"data"))
    snaps.ok("o", ("remove",))
    assert not snaps.primary_store("o").exists(head("o"))


def test_rollback(snaps):
    snaps.ok("o", ("write", 0, b"one"), ("omap_set", {"k": b"1"}))
    s1 = snaps.snap_create()
    snaps.ok("o", ("write_full", b"two!"), ("omap_set", {"k": b"2"}))
    s2 = snaps.snap_create()
    snaps.ok("o", ("write_full", b"three"))
    snaps.ok("o", ("rollback", s1))
    assert snaps.read("o") == b"one"
    assert snaps.ok("o", ("omap_get_vals", "", "", 10)) == [({"k": b"1"}, False)]
    # the rollback was a write under the snap context: later snaps are intact
    assert (snaps.read("o", s1), snaps.read("o", s2)) == (b"one", b"two!")
    # rolling back to a snap where the object did not exist removes the head
    snaps.ok("late", ("write", 0, b"x"))
    snaps.ok("late", ("rollback", s1))
    assert snaps.read("late") is None
    # rolling back to a snap newer than every write is a no-op
    s3 = snaps.snap_create()
    snaps.ok("o", ("rollback", s3))
    assert snaps.read("o") == b"one"


def test_overlap_tracks_unchanged_extents(snaps):
    snaps.ok("o", ("write", 0, bytes(100)))
    s1 = snaps.snap_create()
    snaps.ok("o", ("write", 10, b"x" * 10))
    snaps.ok("o", ("zero", 50, 5), ("truncate", 90))
    assert snaps.snapset("o").clones[0].overlap == ((0, 10), (20, 30), (55, 35))
    listing = snaps.ok("o", ("list_snaps",))[0]
    assert listing["clones"][0]["overlap"] == [(0, 10), (20, 30), (55, 35)]
    s2 = snaps.snap_create()
    snaps.ok("o", ("write", 0, b"y"))
    clones = snaps.snapset("o").clones
    assert [c.cloneid for c in clones] == [s1, s2]
    assert clones[1].overlap == ((1, 89),)
    # trimming s2 merges: s1's overlap now relative to the head
    snaps.snap_remove(s2)
    clones = snaps.snapset("o").clones
    assert [c.cloneid for c in clones] == [s1]
    assert clones[0].overlap == ((1, 9), (20, 30), (55, 35))


def test_trim_frees_clones_on_every_replica(snaps):
    for i in range(5):
        snaps.ok(f"o{i}", ("write", 0, b"a" * 1000))
    s1 = snaps.snap_create()
    for i in range(5):
        snaps.ok(f"o{i}", ("write", 0, b"b" * 1000))
    snaps.ok("o0", ("remove",))
    for osd in snaps.cluster.osds.values():
        assert osd.store.pool_stats(1)["num_object_clones"] == 5
    snaps.snap_remove(s1)
    for osd in snaps.cluster.osds.values():
        stats = osd.store.pool_stats(1)
        assert stats["num_object_clones"] == 0 and stats["num_whiteouts"] == 0
        assert stats["num_objects"] == 4 and stats["num_bytes"] == 4000
    dumps = [dump_store(osd.store) for osd in snaps.cluster.osds.values()]
    assert dumps[0] == dumps[1] == dumps[2]
    assert snaps.op("o1", ("read", 0, 0), snapid=s1).result == -errno.ENOENT


def test_removed_snaps_in_a_stale_snapc_make_no_clone():
    snaps = Snaps()
    snaps.ok("o", ("write", 0, b"v1"))
    s1 = snaps.snap_create()
    stale = (snaps.seq, [s1])
    snaps.snap_remove(s1)
    reply = snaps.cluster.op(snaps.client.req("o", [("write", 0, b"v2")], epoch=snaps.epoch,
                                              snapc=stale))
    assert reply.result == 0
    assert snaps.snapset("o").clones == ()


def test_invalid_snapc_is_einval():
    snaps = Snaps()
    for bad in [(1, [2]), (3, [1, 2]), ("x", []), (1, [0]), (1,)]:
        reply = snaps.cluster.op(snaps.client.req("o", [("write", 0, b"x")], epoch=1, snapc=bad))
        assert reply.result == -errno.EINVAL, bad


# -- the model-based run --------------------------------------------------------------------------
def _check_store(snaps: Snaps, seed: int, step: int) -> None:
    """Replicas identical; clones' snaps are live; overlaps really are unchanged bytes."""
    dumps = [dump_store(osd.store) for osd in snaps.cluster.osds.values()]
    assert dumps[0] == dumps[1] == dumps[2], f"seed={seed} step={step}: replicas differ"
    store = snaps.store(0)
    live = set(snaps.live)
    for pool, pgid in store.list_pgs():
        for hobj in store.list_pg(pool, pgid):
            if hobj[4] != SNAP_HEAD:
                continue
            meta = store.get_meta(hobj)
            clones = meta.snapset.clones if meta.snapset else ()
            for i, clone in enumerate(clones):
                data = store.read(hobj[:4] + (clone.cloneid,))
                assert data is not None and len(data) == clone.size, f"seed={seed}"
                assert clone.snaps and set(clone.snaps) <= live, \
                    f"seed={seed} step={step}: clone {clone} lists dead snaps"
                if i + 1 < len(clones):
                    newer = store.read(hobj[:4] + (clones[i + 1].cloneid,))
                else:
                    newer = store.read(hobj)     # a whiteout reads as empty
                for off, length in clone.overlap:
                    assert data[off:off + length] == newer[off:off + length], \
                        f"seed={seed} step={step}: overlap {clone.overlap} of {hobj[3]}@{clone.cloneid} is wrong"


@pytest.mark.parametrize("mode", ["selfmanaged", "pool"])
def test_model_based_snapshots(seed, mode, caplog):
    rng = random.Random(seed)
    snaps = Snaps(mode)
    oids = [f"obj{i}" for i in range(6)]
    heads: dict[str, bytes | None] = {o: None for o in oids}
    at_snap: dict[int, dict[str, bytes | None]] = {}

    for step in range(400):
        oid = rng.choice(oids)
        cur = heads[oid]
        roll = rng.random()
        where = f"seed={seed} mode={mode} step={step} oid={oid}"
        if roll < 0.30:
            off, data = rng.randrange(0, 48), rng.randbytes(rng.randint(1, 24))
            snaps.ok(oid, ("write", off, data))
            base = bytearray(cur or b"")
            if off > len(base):
                base.extend(bytes(off - len(base)))
            base[off:off + len(data)] = data
            heads[oid] = bytes(base)
        elif roll < 0.38:
            size = rng.randrange(0, 60)
            snaps.ok(oid, ("truncate", size))
            if cur is not None:
                heads[oid] = cur[:size] + bytes(max(0, size - len(cur)))
        elif roll < 0.43:
            off, length = rng.randrange(0, 50), rng.randrange(0, 20)
            snaps.ok(oid, ("zero", off, length))
            if cur is not None and off < len(cur):
                end = min(len(cur), off + length)
                heads[oid] = cur[:off] + bytes(end - off) + cur[end:]
        elif roll < 0.52:
            reply = snaps.op(oid, ("remove",))
            assert reply.result == (0 if cur is not None else -errno.ENOENT), where
            heads[oid] = None
        elif roll < 0.62:
            s = snaps.snap_create(skip=rng.choice([0, 0, 0, 1]))
            at_snap[s] = dict(heads)
        elif roll < 0.68 and snaps.live:
            s = rng.choice(snaps.live)
            snaps.snap_remove(s)
            del at_snap[s]
        elif roll < 0.73 and snaps.live:
            s = rng.choice(snaps.live)
            snaps.ok(oid, ("rollback", s))
            heads[oid] = at_snap[s][oid]
        elif snaps.live and roll < 0.92:
            s = rng.choice(snaps.live)
            assert snaps.read(oid, s) == at_snap[s][oid], f"{where} snap={s}"
        else:
            assert snaps.read(oid) == heads[oid], where
        if step % 50 == 49:
            _check_store(snaps, seed, step)

    for oid in oids:
        assert snaps.read(oid) == heads[oid], f"seed={seed} {oid}"
        for s in snaps.live:
            assert snaps.read(oid, s) == at_snap[s][oid], f"seed={seed} {oid}@{s}"
    _check_store(snaps, seed, -1)
    for s in list(snaps.live):
        snaps.snap_remove(s)
    for osd in snaps.cluster.osds.values():
        stats = osd.store.pool_stats(1)
        assert stats["num_object_clones"] == 0 and stats["num_whiteouts"] == 0, f"seed={seed}"
        assert stats["num_bytes"] == sum(len(v) for v in heads.values() if v), f"seed={seed}"
    _check_store(snaps, seed, -2)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], f"seed={seed}: internal errors"
