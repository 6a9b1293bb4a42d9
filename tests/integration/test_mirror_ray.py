"""rbd mirroring on Ray: two rayceph clusters in one Ray instance, rbd-mirror as a Ray actor.

Site A is the session cluster (`ceph`), site B a second cluster (`mirror-b`) started in the
same Ray. Each site runs its replicator actor (`<cluster>.rbd-mirror`, pulling from the peer),
so every replay here happens in another process, driven only by the actors' polling. Per
mode: write on A and read the same bytes and snapshots on B; orderly failover and failback;
the replicator killed mid-sync resumes from its commit position (journal) or its last
complete mirror snapshot (snapshot) - checked by how much the restarted one copies.
"""
from __future__ import annotations

import base64
import json
import time

import pytest

rados = pytest.importorskip("rados")
ray = pytest.importorskip("ray")
import rbd  # noqa: E402
from rbd import RBD, ImageBusy, InvalidArgument, ReadOnlyImage  # noqa: E402

POOL = "mirror"
MB = 1 << 20
KB = 1 << 10
INTERVAL_S = 0.1
WAIT_S = 30.0
JOURNAL_FEATURES = rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK

SITE_B_CONF = """[global]
osd pool default size = 2
osd pool default min size = 1
osd pool default pg num = 8
mon allow pool delete = true
osd heartbeat interval = 1
osd heartbeat grace = 3
[rayceph]
ray address = local
cluster name = mirror-b
hosts = 3
osds per host = 1
pools = rbd
"""


_REPLICATORS: list = []


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    """Poll `predicate` until true; fail with `what` (and what the replicators report)
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (rbd.ImageNotFound, ImageBusy, ReadOnlyImage) as exc:
            last = exc      # not there yet
        time.sleep(0.05)
    report = {}
    for reps in _REPLICATORS:
        for site in reps.actors:
            try:
                report[site] = reps.status(site)
            except Exception as exc:
                report[site] = repr(exc)
    pytest.fail("timed out after %.0f s waiting for %s (last error %r); replicators: %s"
                % (timeout, what, last, json.dumps(report, indent=1, default=str)))


class Replicators:
    """The two sites' rbd-mirror actors; start/stop/kill them by site."""

    def __init__(self, confs: dict):
        self.confs = confs
        self.actors: dict = {}

    def start(self, site: str, **tuning):
        from rbd.mirror.daemon import start_actor
        tuning.setdefault("commit_age_s", 0.1)
        deadline = time.monotonic() + WAIT_S
        while True:
            actor = start_actor(self.confs[site], INTERVAL_S, detached=False, **tuning)
            try:
                ray.get(actor.ping.remote(), timeout=WAIT_S)
                self.actors[site] = actor
                return actor
            except ray.exceptions.RayActorError:
                # the name of a just-killed actor can outlive it for a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def status(self, site: str) -> dict:
        return ray.get(self.actors[site].status.remote(), timeout=WAIT_S)

    def stop(self, site: str) -> None:
        actor = self.actors.pop(site)
        ray.get(actor.stop.remote(), timeout=WAIT_S)
        self._wait_dead(actor)

    def kill(self, site: str) -> None:
        self._wait_dead(self.actors.pop(site))

    @staticmethod
    def _wait_dead(actor) -> None:
        ray.kill(actor, no_restart=True)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                ray.get(actor.ping.remote(), timeout=5)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def sites(ray_conffile, ray_rados, tmp_path_factory):
    from cluster.bootstrap import stop_cluster
    conf_b = tmp_path_factory.mktemp("mirror") / "site-b.conf"
    conf_b.write_text(SITE_B_CONF)
    a = ray_rados
    b = rados.Rados(conffile=str(conf_b))
    b.connect(timeout=120)
    r = RBD()
    # pools, images and snapshots on A first, so that pool, image and snapshot ids differ
    if not a.pool_exists("mirror-filler"):
        a.create_pool("mirror-filler")
    with a.open_ioctx("mirror-filler") as io:
        r.pool_init(io, True)
        r.create(io, "filler", MB)
        with rbd.Image(io, "filler") as img:
            img.create_snap("s1")
    for h in (a, b):
        h.create_pool(POOL)
        with h.open_ioctx(POOL) as io:
            r.pool_init(io, True)
    ioa, iob = a.open_ioctx(POOL), b.open_ioctx(POOL)
    r.create(ioa, "unmirrored", MB)
    with rbd.Image(ioa, "unmirrored") as img:
        img.create_snap("s1")
        img.create_snap("s2")
    assert ioa.get_pool_id() != iob.get_pool_id()
    r.mirror_site_name_set(a, "site-a")
    r.mirror_site_name_set(b, "site-b")
    r.mirror_mode_set(ioa, rbd.RBD_MIRROR_MODE_IMAGE)
    token = r.mirror_peer_bootstrap_create(ioa)
    r.mirror_peer_bootstrap_import(iob, rbd.RBD_MIRROR_PEER_DIRECTION_RX_TX, token)
    reps = Replicators({"a": ray_conffile, "b": str(conf_b)})
    _REPLICATORS[:] = [reps]
    reps.start("b")
    reps.start("a")
    yield ioa, iob, reps
    for site in list(reps.actors):
        reps.stop(site)
    ioa.close()
    iob.close()
    b.shutdown()
    stop_cluster("mirror-b")
    a.delete_pool(POOL)
    a.delete_pool("mirror-filler")


_n = [0]


def _name(prefix):
    _n[0] += 1
    return "%s%d" % (prefix, _n[0])


def _user_snaps(img):
    return sorted(s["name"] for s in img.list_snaps()
                  if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_USER)


def _mirror_snaps(img):
    return [dict(s["mirror"], id=s["id"]) for s in img.list_snaps()
            if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_MIRROR]


def _contents(img, snap=None):
    img.set_snap(snap)
    try:
        return img.size(), img.read(0, img.size())
    finally:
        img.set_snap(None)


def _same_image(src_io, dst_io, name) -> bool:
    """dst's HEAD and user snapshots hold src's bytes."""
    with rbd.Image(src_io, name, read_only=True) as src, \
            rbd.Image(dst_io, name, read_only=True) as dst:
        snaps = _user_snaps(src)
        if _user_snaps(dst) != snaps:
            return False
        return all(_contents(src, s) == _contents(dst, s) for s in [None] + snaps)


def _snapshot_synced(src_io, dst_io, name) -> bool:
    """dst completed the non-primary snapshot of src's newest mirror snapshot."""
    with rbd.Image(src_io, name, read_only=True) as src, \
            rbd.Image(dst_io, name, read_only=True) as dst:
        newest = _mirror_snaps(src)[-1]["id"]
        done = [s for s in _mirror_snaps(dst) if s["complete"]]
        return bool(done) and done[-1]["primary_snap_id"] == newest


def _journal_objects(ioctx, image_id, journal) -> dict:
    """{data object: number of entries} of an image journal's non-empty data objects."""
    out = {}
    for set_no in journal.sets(ioctx, image_id):
        for oid in journal.set_objects(ioctx, image_id, set_no):
            n = len(journal._omap(ioctx, oid, "", "entry_", 1 << 16))
            if n:
                out[oid] = n
    return out


def _info(io, name):
    with rbd.Image(io, name, read_only=True) as img:
        return img.mirror_image_get_info()


def _promote_when_demotion_arrived(io, name):
    """Non-forced promote is refused (EBUSY) until the peer's demotion has been replayed."""
    def promoted():
        with rbd.Image(io, name) as img:
            img.mirror_image_promote(False)
        return True
    wait_for(promoted, "the demotion of %s to reach the peer" % name)


# -- bad input -------------------------------------------------------------------------------
def test_bad_input(sites):
    ioa, iob, _ = sites
    r = RBD()
    with ioa.rados.open_ioctx("mirror-filler") as io:       # mirroring disabled there
        with rbd.Image(io, "filler") as img:
            with pytest.raises(InvalidArgument):
                img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
            with pytest.raises(InvalidArgument):
                img.mirror_image_promote(False)
            with pytest.raises(InvalidArgument):
                img.mirror_image_demote()
        with pytest.raises(InvalidArgument):
            r.mirror_peer_add(io, "site-x", "client.admin")
        with pytest.raises(rbd.ImageNotFound):
            r.mirror_uuid_get(io)
    name = _name("bad")
    r.create(ioa, name, MB, features=rbd.RBD_FEATURE_LAYERING)
    with rbd.Image(ioa, name) as img:
        with pytest.raises(InvalidArgument):   # journaling needs exclusive-lock
            img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        assert not img.features() & rbd.RBD_FEATURE_JOURNALING
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        with pytest.raises(InvalidArgument):   # promoting a primary
            img.mirror_image_promote(False)
        with pytest.raises(InvalidArgument):   # already enabled in the other mode
            img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "bootstrap of %s" % name)
    with rbd.Image(iob, name) as img:
        with pytest.raises(ReadOnlyImage):     # writing to a non-primary
            img.write(b"x", 0)
        with pytest.raises(ReadOnlyImage):
            img.resize(2 * MB)
    # bad tokens: nothing configured, on either site
    before = [list(r.mirror_peer_list(io)) for io in (ioa, iob)]
    bad = [base64.b64encode(json.dumps(doc).encode()).decode() for doc in (
        {"fsid": "f", "client_id": "c", "key": "k", "mon_host": "/nonexistent/site.conf"},
        {"fsid": iob.rados.get_fsid(), "client_id": "c", "key": "k", "mon_host": "x"},
        {"fsid": "f", "client_id": "c"})] + ["%%%", ""]
    for token in bad:
        with pytest.raises((InvalidArgument, rbd.Error)):
            r.mirror_peer_bootstrap_import(iob, rbd.RBD_MIRROR_PEER_DIRECTION_RX_TX, token)
    assert [list(r.mirror_peer_list(io)) for io in (ioa, iob)] == before


def test_second_replicator_of_a_site_is_refused(sites):
    import errno
    from rbd.mirror.cli import main
    _, _, reps = sites
    # running one in the foreground beside the actor would fence the actor as a dead one
    assert main(["start", "-c", reps.confs["b"], "--once"]) == errno.EBUSY
    assert reps.status("b")["passes"] > 0


# -- snapshot mode ---------------------------------------------------------------------------
def test_snapshot_mode_replay_failover_failback(sites):
    ioa, iob, _ = sites
    r = RBD()
    name = _name("snap")
    r.create(ioa, name, 4 * MB, order=20)
    with rbd.Image(ioa, name) as img:
        img.write(b"a" * 8 * KB, 0)
        img.create_snap("before-mirroring")
        img.write(b"b" * 4 * KB, 3 * MB)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        img.write(b"c" * 4 * KB, 4 * KB)
        img.create_snap("u1")
        img.resize(5 * MB)
        img.write(b"d" * 100, 5 * MB - 100)
        img.mirror_image_create_snapshot()
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "replay of %s to B" % name)
    assert _same_image(ioa, iob, name)
    assert _info(iob, name)["global_id"] == _info(ioa, name)["global_id"]
    assert not _info(iob, name)["primary"]
    with rbd.Image(iob, name) as img:
        st = img.mirror_image_get_status()
        assert st["up"] and st["state"] == rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING
        with pytest.raises(ImageBusy):         # A is still primary
            img.mirror_image_promote(False)
    # orderly failover: demote A, promote B once the demotion arrived, write on B
    with rbd.Image(ioa, name) as img:
        img.mirror_image_demote()
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
    _promote_when_demotion_arrived(iob, name)
    with rbd.Image(iob, name) as img:
        img.write(b"B" * 4 * KB, MB)
        img.create_snap("on-b")
        img.mirror_image_create_snapshot()
    wait_for(lambda: _snapshot_synced(iob, ioa, name), "replay of %s back to A" % name)
    assert _same_image(iob, ioa, name) and not _info(ioa, name)["primary"]
    # failback
    with rbd.Image(iob, name) as img:
        img.mirror_image_demote()
    _promote_when_demotion_arrived(ioa, name)
    with rbd.Image(ioa, name) as img:
        img.write(b"A" * 4 * KB, 2 * MB)
        img.mirror_image_create_snapshot()
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "replay of %s after failback" % name)
    assert _same_image(ioa, iob, name)
    assert _info(ioa, name)["primary"] and not _info(iob, name)["primary"]


def test_snapshot_mode_replicator_killed_mid_sync_resumes(sites):
    ioa, iob, reps = sites
    r = RBD()
    name = _name("snapkill")
    size, delta = 4 * MB, 2 * MB
    r.create(ioa, name, size, order=20)
    with rbd.Image(ioa, name) as img:
        img.write(b"1" * size, 0)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "bootstrap of %s" % name)
    # a slow link: the next delta takes about a second to copy
    reps.stop("b")
    with rbd.Image(ioa, name) as img:
        img.write(b"2" * delta, MB)
        img.mirror_image_create_snapshot()
    slow = reps.start("b", copy_bytes_per_second=2 * MB)

    def progress():
        with rbd.Image(iob, name, read_only=True) as img:
            desc = img.mirror_image_get_status()["description"]
        doc = json.loads(desc.split(", ", 1)[1]) if desc.startswith("replaying, {") else {}
        return doc.get("syncing_percent")
    wait_for(lambda: progress() is not None, "the sync to report its progress")
    assert 0 < progress() < 100
    reps.kill("b")
    assert not _snapshot_synced(ioa, iob, name)      # really killed mid-sync
    del slow
    reps.start("b")
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "resumed replay of %s" % name)
    assert _same_image(ioa, iob, name)
    status = reps.status("b")
    # from the last complete mirror snapshot: only the delta again, not the whole image
    assert 0 < status["stats"]["bytes_copied"] <= delta < size
    assert status["fenced"]           # the dead instance was blocklisted, its lock broken


# -- journal mode ----------------------------------------------------------------------------
def test_journal_mode_replay_failover_failback(sites):
    ioa, iob, _ = sites
    r = RBD()
    name = _name("jrnl")
    r.create(ioa, name, 2 * MB, order=20, features=JOURNAL_FEATURES)
    with rbd.Image(ioa, name) as img:
        img.write(b"j" * 8 * KB, 0)                 # before journaling: full sync
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        img.write(b"k" * 4 * KB, 4 * KB)
        img.create_snap("js1")
        img.resize(3 * MB)
        img.write(b"m" * 100, 3 * MB - 100)
        img.discard(0, 4 * KB)
    wait_for(lambda: _same_image(ioa, iob, name), "journal replay of %s to B" % name)
    assert not _info(iob, name)["primary"]
    from rbd.mirror import journal
    with rbd.Image(ioa, name, read_only=True) as img:
        wait_for(lambda: journal.entries(ioa, img.id()) == [], "the journal to be trimmed")
    with rbd.Image(iob, name) as img:
        with pytest.raises(ImageBusy):
            img.mirror_image_promote(False)
    # failover
    with rbd.Image(ioa, name) as img:
        img.mirror_image_demote()
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
    _promote_when_demotion_arrived(iob, name)
    with rbd.Image(iob, name) as img:
        img.write(b"B" * 4 * KB, MB)
    wait_for(lambda: _same_image(iob, ioa, name), "journal replay of %s back to A" % name)
    assert not _info(ioa, name)["primary"]
    # failback
    with rbd.Image(iob, name) as img:
        img.mirror_image_demote()
    _promote_when_demotion_arrived(ioa, name)
    with rbd.Image(ioa, name) as img:
        img.write(b"A" * 4 * KB, 2 * MB)
    wait_for(lambda: _same_image(ioa, iob, name), "journal replay of %s after failback" % name)
    assert _info(ioa, name)["primary"] and not _info(iob, name)["primary"]


def test_journal_mode_replicator_killed_mid_replay_resumes(sites):
    ioa, iob, reps = sites
    from rbd.mirror import journal
    r = RBD()
    name = _name("jkill")
    r.create(ioa, name, 4 * MB, order=20, features=JOURNAL_FEATURES)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        image_id = img.id()
    wait_for(lambda: _same_image(ioa, iob, name), "bootstrap of %s" % name)
    me = RBD().mirror_uuid_get(iob)
    reps.stop("b")
    writes, block = 32, 64 * KB
    with rbd.Image(ioa, name) as img:
        for i in range(writes):
            img.write(bytes([65 + i % 26]) * block, i * block)
    assert len(journal.entries(ioa, image_id)) == writes
    # splayed as Ceph's journaler does: entries in journal_data.<pool>.<id>.<n>, not the header
    prefix = "journal_data.%d.%s." % (ioa.get_pool_id(), image_id)
    assert _journal_objects(ioa, image_id, journal) and all(
        oid.startswith(prefix) for oid in _journal_objects(ioa, image_id, journal))
    assert sum(_journal_objects(ioa, image_id, journal).values()) == writes
    assert len(_journal_objects(ioa, image_id, journal)) > 1
    assert journal._omap(ioa, journal.journal_oid(image_id), "", "entry_", 10) == []
    reps.start("b", copy_bytes_per_second=1 * MB, commit_age_s=0.05)
    wait_for(lambda: reps.status("b")["stats"].get("entries_replayed", 0) >= writes // 4,
             "replay to start")
    reps.kill("b")
    left = len(journal.entries(ioa, image_id, journal.committed(ioa, image_id, me)))
    assert 0 < left < writes                # killed mid-replay, some of it committed
    reps.start("b")
    wait_for(lambda: _same_image(ioa, iob, name), "resumed replay of %s" % name)
    status = reps.status("b")
    # from the commit position: the uncommitted entries, no full sync (fewer when a commit
    # the dead replicator had sent was applied after `left` was read)
    replayed = status["stats"]["entries_replayed"]
    assert 0 < replayed <= left < writes
    assert status["stats"]["bytes_copied"] == replayed * block
    assert status["fenced"]
    wait_for(lambda: not _journal_objects(ioa, image_id, journal), "the journal to be trimmed")


# -- faults ----------------------------------------------------------------------------------
def test_replay_survives_an_osd_failure_on_site_b(sites):
    from cluster import bootstrap
    ioa, iob, _ = sites
    r = RBD()
    name = _name("osdfail")
    r.create(ioa, name, MB, order=20, features=JOURNAL_FEATURES)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
    wait_for(lambda: _same_image(ioa, iob, name), "bootstrap of %s" % name)
    # the primary of the copy's first data object on B
    with rbd.Image(iob, name, read_only=True) as copy:
        data_object = copy.block_name_prefix() + ".0000000000000000"
    ret, out, err = iob.rados.mon_command(json.dumps({
        "prefix": "osd map", "pool": POOL, "object": data_object, "format": "json"}), b"")
    assert ret == 0, err
    victim = json.loads(out)["acting_primary"]
    # B stays one OSD short for the rest of the module (size 2, min_size 1): restarting it
    # would cost seconds for nothing the later tests need
    assert bootstrap.kill_osd("mirror-b", victim)
    with rbd.Image(ioa, name) as img:              # journaled while B loses an OSD
        for i in range(8):
            img.write(bytes([48 + i]) * 64 * KB, i * 64 * KB)
    # B's PGs on the dead OSD block until its peers report it down, then go on with one
    # copy; the replicator's writes wait and complete
    wait_for(lambda: _same_image(ioa, iob, name), "replay with an OSD of B down")


# -- mirror snapshot schedule ----------------------------------------------------------------
def test_snapshot_schedule_due():
    from rbd.mirror.schedule import due
    assert due(None, 60, 1000.0) and due(900.0, 60, 1000.0)
    assert not due(990.0, 60, 1000.0)
    assert not due(None, 0, 1000.0)           # no schedule


def test_scheduled_mirror_snapshots_ship_writes(sites):
    ioa, iob, reps = sites
    r = RBD()
    name = _name("sched")
    r.create(ioa, name, MB, order=20)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
    wait_for(lambda: _snapshot_synced(ioa, iob, name), "bootstrap of %s" % name)
    with rbd.Image(ioa, name) as img:
        img.write(b"scheduled" * 100, 4 * KB)       # no mirror_image_create_snapshot()
    # site A's replicator takes A's snapshots (`rayceph mirror start ... --snapshot-interval`
    # retunes a running replicator the same way)
    ray.get(reps.actors["a"].configure.remote({"snapshot_interval_s": 1.0}), timeout=WAIT_S)
    try:
        wait_for(lambda: _same_image(ioa, iob, name), "a scheduled snapshot to ship the write")
        # the sweep that shipped it may still be snapshotting the site's other images
        wait_for(lambda: reps.status("a")["stats"]["scheduled_snapshots"] >= 1,
                 "the replicator to count its scheduled snapshots")
    finally:
        ray.get(reps.actors["a"].configure.remote({"snapshot_interval_s": 0}), timeout=WAIT_S)
