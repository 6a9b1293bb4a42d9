"""fsx for rbd: seeded random operations on images checked against a byte model.

Like Ceph's ceph_test_librbd_fsx: every image (and every snapshot of it) has a model
bytearray; each operation is applied to both and every read is compared. Operations:
write (also past the end: IncompleteWriteError and a clipped write), read, discard,
write_zeroes, resize, snapshot create/remove/rollback, read at a snapshot, clone of a
snapshot (the child gets its own model), flatten, and diff_iterate (every changed byte
must be reported). Layouts (object size, striping) and
features are drawn from the seed.

Runs against the in-process cluster (`ray address = inprocess`, no Ray). Short by
default; `RAYCEPH_FSX_OPS=N` runs N operations per seed and `RAYCEPH_FSX_SEEDS=a,b,c`
picks the seeds. Every failure message starts with the seed that reproduces it.
"""
from __future__ import annotations

import os
import random
import time

import pytest

DEFAULT_SEEDS = (1, 2, 3, 4)
DEFAULT_OPS = 120
TIME_BUDGET_S = 15.0


class Model:
    def __init__(self, name: str, size: int, parent: "Model | None" = None):
        self.name = name
        self.data = bytearray(size)
        self.snaps: dict[str, bytes] = {}
        self.parent = parent


class Fsx:
    def __init__(self, rbd, ioctx, seed: int, nops: int):
        self.rbd = rbd
        self.ioctx = ioctx
        self.seed = seed
        self.rng = random.Random(seed)
        self.nops = nops
        self.log: list[str] = []
        self.images: dict[str, object] = {}
        self.models: dict[str, Model] = {}
        self.counter = 0
        rng = self.rng
        self.order = rng.choice([16, 17, 18, 20])
        object_size = 1 << self.order
        if rng.random() < 0.4:
            self.stripe_unit = object_size >> rng.choice([1, 2, 3])
            self.stripe_count = rng.choice([2, 3, 4])
        else:
            self.stripe_unit = self.stripe_count = None
        self.features = rng.choice([61, 61, 1, 1 | 32, 61 & ~32, 1 | 4])
        self.max_size = object_size * rng.choice([4, 8, 12])

    # -- helpers -------------------------------------------------------------------------------
    def fail(self, what: str):
        tail = "\n".join(self.log[-25:])
        raise AssertionError("fsx seed=%d order=%d su=%s sc=%s features=%d: %s\nlast ops:\n%s"
                             % (self.seed, self.order, self.stripe_unit, self.stripe_count,
                                self.features, what, tail))

    def note(self, text: str):
        self.log.append(text)

    def new_name(self, prefix: str) -> str:
        self.counter += 1
        return "fsx%d_%s%d" % (self.seed, prefix, self.counter)

    def check(self, name: str, got: bytes, want: bytes, where: str):
        if got != want:
            diff = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                        min(len(got), len(want)))
            self.fail("%s: %s mismatch at +%d (got %d bytes, want %d)"
                      % (name, where, diff, len(got), len(want)))

    def open(self, name: str):
        image = self.rbd.Image(self.ioctx, name)
        # discard exactly (no partial-discard skipping) so the model stays simple
        image.config_set("rbd_skip_partial_discard", "false")
        self.images[name] = image
        return image

    # -- setup ---------------------------------------------------------------------------------
    def start(self):
        name = self.new_name("img")
        size = self.rng.randint(1, self.max_size)
        self.rbd.RBD().create(self.ioctx, name, size, self.order, features=self.features,
                              stripe_unit=self.stripe_unit, stripe_count=self.stripe_count)
        self.models[name] = Model(name, size)
        self.open(name)
        self.note("create %s size=%d" % (name, size))

    def cleanup(self):
        # children first (clones of a snapshot keep it alive)
        for name in sorted(self.models, key=lambda n: -len(self._ancestry(n))):
            image = self.images.pop(name, None)
            if image is None:
                continue
            for snap in list(image.list_snaps()):
                if snap["namespace"] != 0:
                    continue
                if image.is_protected_snap(snap["name"]):
                    try:
                        image.unprotect_snap(snap["name"])
                    except self.rbd.ImageBusy:
                        pass
                try:
                    image.remove_snap(snap["name"])
                except (self.rbd.ImageBusy, self.rbd.ImageNotFound):
                    pass
            image.close()
        for name in sorted(self.models, key=lambda n: -len(self._ancestry(n))):
            try:
                self.rbd.RBD().remove(self.ioctx, name)
            except self.rbd.Error:
                pass

    def _ancestry(self, name):
        out = []
        model = self.models[name]
        while model.parent is not None:
            out.append(model.parent.name)
            model = model.parent
        return out

    # -- operations ----------------------------------------------------------------------------
    def pick(self):
        name = self.rng.choice(sorted(self.images))
        return name, self.images[name], self.models[name]

    def op_write(self):
        name, image, model = self.pick()
        size = len(model.data)
        if size == 0:
            return
        off = self.rng.randrange(size)
        length = self.rng.randint(1, min(1 << self.order, 96 * 1024) + 64)
        data = self.rng.randbytes(length)
        self.note("write %s %d~%d (size %d)" % (name, off, length, size))
        if off + length > size:
            try:
                image.write(data, off)
                self.fail("write past the end did not raise")
            except self.rbd.IncompleteWriteError:
                pass
            length = size - off
            data = data[:length]
        else:
            if image.write(data, off) != length:
                self.fail("short write")
        model.data[off:off + length] = data

    def op_read(self):
        name, image, model = self.pick()
        size = len(model.data)
        if size == 0:
            return
        off = self.rng.randrange(size)
        length = self.rng.randint(0, 2 * (1 << self.order))
        self.note("read %s %d~%d" % (name, off, length))
        self.check(name, image.read(off, length), bytes(model.data[off:off + length]),
                   "read %d~%d" % (off, length))

    def op_read_all(self):
        name, image, model = self.pick()
        self.note("readall %s" % name)
        if image.size() != len(model.data):
            self.fail("%s size %d, model %d" % (name, image.size(), len(model.data)))
        if model.data:
            self.check(name, image.read(0, len(model.data)), bytes(model.data), "full read")

    def op_discard(self, zeroes=False):
        name, image, model = self.pick()
        size = len(model.data)
        if size == 0:
            return
        off = self.rng.randrange(size)
        length = self.rng.randint(1, 3 * (1 << self.order))
        self.note("%s %s %d~%d" % ("write_zeroes" if zeroes else "discard", name, off, length))
        if zeroes:
            image.write_zeroes(off, length)
        else:
            image.discard(off, length)
        end = min(size, off + length)
        model.data[off:end] = bytes(end - off)

    def op_resize(self):
        name, image, model = self.pick()
        new = self.rng.randint(0, self.max_size)
        self.note("resize %s %d -> %d" % (name, len(model.data), new))
        image.resize(new)
        if new < len(model.data):
            del model.data[new:]
        else:
            model.data.extend(bytes(new - len(model.data)))

    def op_snap_create(self):
        name, image, model = self.pick()
        if len(model.snaps) >= 4:
            return
        snap = self.new_name("s")
        self.note("snap_create %s@%s" % (name, snap))
        image.create_snap(snap)
        model.snaps[snap] = bytes(model.data)

    def op_snap_remove(self):
        name, image, model = self.pick()
        candidates = [s for s in model.snaps if not image.is_protected_snap(s)]
        if not candidates:
            return
        snap = self.rng.choice(sorted(candidates))
        self.note("snap_remove %s@%s" % (name, snap))
        image.remove_snap(snap)
        del model.snaps[snap]

    def op_snap_read(self):
        name, image, model = self.pick()
        if not model.snaps:
            return
        snap = self.rng.choice(sorted(model.snaps))
        want = model.snaps[snap]
        self.note("snap_read %s@%s" % (name, snap))
        image.set_snap(snap)
        try:
            if image.size() != len(want):
                self.fail("%s@%s size %d, model %d" % (name, snap, image.size(), len(want)))
            if want:
                off = self.rng.randrange(len(want))
                length = self.rng.randint(1, len(want) - off)
                self.check("%s@%s" % (name, snap), image.read(off, length),
                           want[off:off + length], "snapshot read %d~%d" % (off, length))
        finally:
            image.set_snap(None)

    def op_rollback(self):
        name, image, model = self.pick()
        if not model.snaps:
            return
        snap = self.rng.choice(sorted(model.snaps))
        self.note("rollback %s@%s" % (name, snap))
        image.rollback_to_snap(snap)
        model.data = bytearray(model.snaps[snap])

    def op_clone(self):
        if not self.features & 1 or len(self.images) >= 4:
            return
        name, image, model = self.pick()
        snap = self.new_name("cs")
        image.create_snap(snap)
        model.snaps[snap] = bytes(model.data)
        image.protect_snap(snap)
        child = self.new_name("clone")
        self.note("clone %s@%s -> %s" % (name, snap, child))
        self.rbd.RBD().clone(self.ioctx, name, snap, self.ioctx, child, self.features)
        child_model = Model(child, 0, parent=model)
        child_model.data = bytearray(model.snaps[snap])
        self.models[child] = child_model
        self.open(child)

    def op_flatten(self):
        clones = [n for n in self.images if self.models[n].parent is not None]
        if not clones:
            return
        name = self.rng.choice(sorted(clones))
        self.note("flatten %s" % name)
        self.images[name].flatten()
        self.models[name].parent = None

    def op_diff(self):
        """Every byte that differs between a snapshot (or nothing) and HEAD must lie in a
        reported extent (fast-diff / list_snaps / object map upkeep)."""
        name, image, model = self.pick()
        snap = self.rng.choice([None] + sorted(model.snaps))
        whole = self.rng.random() < 0.5
        self.note("diff %s from %s whole=%s" % (name, snap, whole))
        head = bytes(model.data)
        old = model.snaps[snap] if snap is not None else b""
        span = max(len(head), len(old))
        head_p = head + bytes(span - len(head))
        old_p = old + bytes(span - len(old))
        extents = []
        image.diff_iterate(0, span, snap, lambda o, n, e: extents.append((o, n, e)),
                           include_parent=True, whole_object=whole)
        block = 4096
        for start in range(0, span, block):
            a, b = head_p[start:start + block], old_p[start:start + block]
            if a == b:
                continue
            first = next(i for i in range(len(a)) if a[i] != b[i]) + start
            last = max(i for i in range(len(a)) if a[i] != b[i]) + start
            for pos in (first, last):
                if not any(o <= pos < o + n for o, n, _ in extents):
                    self.fail("%s: diff from %s misses changed byte %d (extents %s)"
                              % (name, snap, pos, extents[:8]))

    def run(self):
        ops = [(self.op_write, 30), (self.op_read, 20), (self.op_read_all, 4),
               (self.op_discard, 8), (lambda: self.op_discard(True), 6), (self.op_resize, 6),
               (self.op_snap_create, 5), (self.op_snap_remove, 3), (self.op_snap_read, 6),
               (self.op_rollback, 3), (self.op_clone, 2), (self.op_flatten, 2),
               (self.op_diff, 4)]
        funcs = [f for f, w in ops for _ in range(w)]
        self.start()
        # the default run shares TIME_BUDGET_S between the seeds; RAYCEPH_FSX_OPS runs all ops
        budget = float(os.environ.get("RAYCEPH_FSX_TIME_S", TIME_BUDGET_S)) / len(_seeds())
        deadline = time.monotonic() + budget
        done = 0
        try:
            for _ in range(self.nops):
                if "RAYCEPH_FSX_OPS" not in os.environ and time.monotonic() > deadline:
                    break
                try:
                    self.rng.choice(funcs)()
                except AssertionError:
                    raise
                except Exception as exc:
                    self.fail("%s: %r" % (type(exc).__name__, exc))
                done += 1
            for name in sorted(self.images):
                self.images[name].close()
                image = self.open(name)
                model = self.models[name]
                if model.data:
                    self.check(name, image.read(0, len(model.data)), bytes(model.data),
                               "final read after reopen")
        finally:
            try:
                self.cleanup()
            except Exception:
                pass
        return done


def _seeds():
    raw = os.environ.get("RAYCEPH_FSX_SEEDS")
    if raw:
        return [int(s) for s in raw.split(",") if s.strip()]
    return list(DEFAULT_SEEDS)


@pytest.fixture(scope="module")
def fsx_ioctx(tmp_path_factory):
    rados = pytest.importorskip("rados")
    import rbd
    conf = tmp_path_factory.mktemp("fsx") / "ceph.conf"
    conf.write_text("[global]\nosd pool default size = 2\n"
                    "[rayceph]\nray address = inprocess\ncluster name = fsx\n")
    try:
        cluster = rados.Rados(conffile=str(conf))
        cluster.connect()
    except Exception as exc:     # the in-process cluster is not available in this tree
        pytest.skip("in-process cluster unavailable: %r" % (exc,))
    pool = "fsx"
    if not cluster.pool_exists(pool):
        cluster.create_pool(pool)
    ioctx = cluster.open_ioctx(pool)
    rbd.RBD().pool_init(ioctx, True)
    yield ioctx
    ioctx.close()
    cluster.shutdown()


@pytest.mark.parametrize("fsx_seed", _seeds())
def test_fsx(fsx_ioctx, fsx_seed):
    import rbd
    nops = int(os.environ.get("RAYCEPH_FSX_OPS", DEFAULT_OPS))
    fsx = Fsx(rbd, fsx_ioctx, fsx_seed, nops)
    done = fsx.run()
    assert done > 0, "fsx seed=%d ran no operation" % fsx_seed
