"""MemStore: transactions apply whole or not at all, memory stays near the data size, omap
ranges, clones, per-PG listing and counters."""
from __future__ import annotations

import pickle
import random
import time

import pytest

from osd.messages import SNAP_HEAD
from osd.object_store import MemStore, TransactionError
from osd.snaps import SnapSet
from osd.transaction import Transaction


def H(oid: str, snap: int = SNAP_HEAD, pool: int = 1, nspace: str = "", key: str = ""):
    return (pool, nspace, key, oid, snap)


def apply(store, *builders, pgid: int = 0):
    txn = Transaction(pgid)
    for build in builders:
        build(txn)
    store.apply_transaction(txn)
    return txn


def test_write_grows_in_place_and_reads_back():
    store = MemStore()
    apply(store, lambda t: t.write(H("a"), 0, b"hello"))
    apply(store, lambda t: t.write(H("a"), 10, b"world"))
    assert store.read(H("a")) == b"hello\0\0\0\0\0world"
    assert store.read(H("a"), 3, 4) == b"lo\0\0"
    assert store.read(H("a"), 100, 4) == b""
    assert store.read(H("missing")) is None
    assert store.get_meta(H("a")).size == 15


def test_data_memory_stays_within_1_2x_and_is_freed():
    store = MemStore()
    hobj = H("big")
    chunk = b"x" * 4096
    for i in range(1024):       # 4 MiB by sequential appends
        apply(store, lambda t, i=i: t.write(hobj, i * 4096, chunk))
    data = store._objects[hobj].data
    assert len(data) == 4 << 20
    assert data.__alloc__() <= 1.2 * len(data) + 64
    apply(store, lambda t: t.truncate(hobj, 3 << 20))      # shrink that leaves slack: re-fit
    data = store._objects[hobj].data
    assert data.__alloc__() <= 1.2 * len(data) + 64
    assert store.used_bytes() == 3 << 20
    apply(store, lambda t: t.remove(hobj))
    assert store.used_bytes() == 0 and not store.exists(hobj)
    assert store.pool_stats(1)["num_bytes"] == 0


def test_transaction_is_all_or_nothing():
    store = MemStore()
    apply(store, lambda t: t.write(H("a"), 0, b"keep"), lambda t: t.setattrs(H("a"), {"x": b"1"}))
    before = (store.read(H("a")), store.getattrs(H("a")), store.list_pgs())
    txn = Transaction(0)
    txn.write(H("a"), 0, b"CHANGED")
    txn.write(H("new"), 0, b"new object")
    txn.setattrs(H("a"), {"y": b"2"})
    txn.truncate(H("nope"), 0)          # invalid: no such object
    with pytest.raises(TransactionError) as info:
        store.apply_transaction(txn)
    assert info.value.errno == 2
    assert (store.read(H("a")), store.getattrs(H("a")), store.list_pgs()) == before
    assert not store.exists(H("new"))


def test_validation_tracks_creation_and_removal_inside_the_transaction():
    store = MemStore()
    # remove then truncate the same object: invalid even though it exists now
    apply(store, lambda t: t.touch(H("a")))
    txn = Transaction(0)
    txn.remove(H("a"))
    txn.truncate(H("a"), 0)
    with pytest.raises(TransactionError):
        store.apply_transaction(txn)
    assert store.exists(H("a"))
    # created earlier in the same transaction: valid
    apply(store, lambda t: t.touch(H("b")), lambda t: t.zero(H("b"), 0, 8))
    assert store.read(H("b")) == bytes(8)


@pytest.mark.parametrize("bad", [
    lambda t: t.write(H("a"), -1, b"x"),
    lambda t: t.write(H("a"), 0, "str"),
    lambda t: t.setattrs(H("a"), {1: b"x"}),
    lambda t: t.omap_setkeys(H("a"), {"k": "not bytes"}),
    lambda t: t.ops.append((99, H("a"))),
    lambda t: t.ops.append((1, ("short",))),
    lambda t: t.clone(H("missing"), H("dst")),
    lambda t: t.set_meta(H("missing"), 1, 0.0),
])
def test_malformed_or_impossible_primitives_are_rejected(bad):
    store = MemStore()
    with pytest.raises(TransactionError):
        apply(store, bad)
    assert store.list_pgs() == []


def test_zero_truncate_semantics():
    store = MemStore()
    apply(store, lambda t: t.write(H("a"), 0, b"abcdefgh"))
    apply(store, lambda t: t.zero(H("a"), 2, 3))
    assert store.read(H("a")) == b"ab\0\0\0fgh"
    apply(store, lambda t: t.truncate(H("a"), 12))
    assert store.read(H("a")) == b"ab\0\0\0fgh" + bytes(4)
    apply(store, lambda t: t.truncate(H("a"), 1))
    assert store.read(H("a")) == b"a"


def test_xattrs_and_header():
    store = MemStore()
    apply(store, lambda t: t.setattrs(H("a"), {"b": b"2", "a": bytearray(b"1")}))
    assert store.getattrs(H("a")) == {"a": b"1", "b": b"2"}
    assert type(store.getattr(H("a"), "a")) is bytes
    apply(store, lambda t: t.rmattr(H("a"), "a"), lambda t: t.omap_setheader(H("a"), b"hdr"))
    assert store.getattrs(H("a")) == {"b": b"2"}
    assert store.omap_get_header(H("a")) == b"hdr"


def _brute(model: dict, start_after: str, prefix: str):
    return [(k, model[k]) for k in sorted(model) if k > start_after and k.startswith(prefix)]


def test_omap_ranges_match_a_sorted_model():
    rng = random.Random(7)
    store = MemStore()
    hobj = H("o")
    model: dict[str, bytes] = {}
    alphabet = "abc"
    for _ in range(300):
        choice = rng.random()
        txn = Transaction(0)
        if choice < 0.5:
            kv = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))): bytes([rng.randrange(256)])
                  for _ in range(rng.randint(1, 20))}
            txn.omap_setkeys(hobj, kv)
            model.update(kv)
        elif not store.exists(hobj):
            continue
        elif choice < 0.75:
            keys = rng.sample(sorted(model), min(len(model), rng.randint(0, 12))) + ["zz"]
            keys += keys[:2]        # duplicates are allowed
            txn.omap_rmkeys(hobj, keys)
            for k in keys:
                model.pop(k, None)
        elif choice < 0.95:
            a, b = sorted("".join(rng.choice(alphabet) for _ in range(2)) for _ in range(2))
            txn.omap_rmrange(hobj, a, b)
            for k in [k for k in model if a <= k < b]:
                del model[k]
        else:
            txn.omap_clear(hobj)
            model.clear()
        store.apply_transaction(txn)
        start = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 2)))
        prefix = rng.choice(["", "a", "b", "ab", "c"])
        assert list(store.omap_iter(hobj, start, prefix)) == _brute(model, start, prefix)
    assert store.omap_get_values(hobj, list(model)[:5] + ["nope"]) == \
        {k: model[k] for k in sorted(list(model)[:5])}


def test_omap_range_query_does_not_scan_the_whole_map():
    store = MemStore()
    hobj = H("dir")
    apply(store, lambda t: t.omap_setkeys(hobj, {f"key_{i:07d}": b"v" for i in range(200_000)}))
    started = time.perf_counter()
    for i in range(0, 200_000, 100):
        got = []
        for k, _ in store.omap_iter(hobj, f"key_{i:07d}", "key_"):
            got.append(k)
            if len(got) == 5:
                break
        assert got[0] == f"key_{i + 1:07d}"
    # 2000 bounded queries on a 200k-key omap: a scan would take seconds
    assert time.perf_counter() - started < 0.5


def test_clone_copies_everything_and_is_independent():
    store = MemStore()
    src, dst = H("a"), H("a", snap=4)
    apply(store, lambda t: t.write(src, 0, b"data"), lambda t: t.setattrs(src, {"x": b"1"}),
          lambda t: t.omap_setkeys(src, {"k": b"v"}), lambda t: t.omap_setheader(src, b"h"),
          lambda t: t.set_meta(src, 7, 123.0, SnapSet(3, ())))
    apply(store, lambda t: t.clone(src, dst))
    apply(store, lambda t: t.write(src, 0, b"DATA"), lambda t: t.omap_setkeys(src, {"k": b"w"}),
          lambda t: t.setattrs(src, {"x": b"2"}))
    assert store.read(dst) == b"data"
    assert store.getattrs(dst) == {"x": b"1"}
    assert list(store.omap_iter(dst)) == [("k", b"v")]
    assert store.omap_get_header(dst) == b"h"
    meta = store.get_meta(dst)
    assert (meta.version, meta.mtime, meta.snapset) == (7, 123.0, None)
    stats = store.pg_stats(1, 0)
    assert stats["num_objects"] == 2 and stats["num_object_clones"] == 1
    assert stats["num_bytes"] == 8


def test_listing_per_pg_in_order_with_cursor():
    store = MemStore()
    names = [f"obj{i:03d}" for i in range(50)]
    random.Random(3).shuffle(names)
    for i, name in enumerate(names):
        apply(store, lambda t, n=name: t.touch(H(n, nspace="ns" if i % 3 == 0 else "")), pgid=i % 2)
    listed = list(store.list_pg(1, 0))
    assert listed == sorted(listed, key=lambda h: (h[1], h[3], h[2], h[4]))
    assert len(listed) + len(list(store.list_pg(1, 1))) == 50
    # resume after any element
    cut = listed[10]
    rest = list(store.list_pg(1, 0, (cut[1], cut[3], cut[2], cut[4])))
    assert rest == listed[11:]
    assert store.list_pgs() == [(1, 0), (1, 1)]
    assert store.remove_pg(1, 0) == len(listed)
    assert list(store.list_pg(1, 0)) == [] and store.list_pgs() == [(1, 1)]


def test_whiteout_and_stats_counters():
    store = MemStore()
    hobj = H("a")
    apply(store, lambda t: t.write(hobj, 0, b"12345"), lambda t: t.clone(hobj, H("a", 3)))
    apply(store, lambda t: t.remove(hobj), lambda t: t.touch(hobj),
          lambda t: t.set_meta(hobj, 2, 0.0, SnapSet(3, ()), True))
    stats = store.pool_stats(1)
    assert stats == {"num_objects": 2, "num_object_clones": 1, "num_whiteouts": 1, "num_bytes": 5}
    apply(store, lambda t: t.remove(H("a", 3)), lambda t: t.remove(hobj))
    assert store.pool_stats(1) == {"num_objects": 0, "num_object_clones": 0,
                                   "num_whiteouts": 0, "num_bytes": 0}


def test_transaction_pickles_compactly():
    txn = Transaction(5)
    data = b"x" * 4096
    txn.write(H("a"), 0, data)
    txn.set_meta(H("a"), 9, 1.5, SnapSet(2, ()))
    again = pickle.loads(pickle.dumps(txn))
    assert again.pgid == 5 and again.ops == txn.ops
    assert len(pickle.dumps(txn.ops)) < 4096 + 200
