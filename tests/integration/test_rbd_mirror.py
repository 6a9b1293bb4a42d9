"""rbd mirroring between two in-process clusters (site-a, site-b): pool/peer setup,
snapshot-mode image mirroring replayed synchronously with PoolReplayer.replicate_once(),
failover/failback, force promote + split-brain, resync, bad input."""
from __future__ import annotations

import base64
import json

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402
from rbd import RBD, FunctionNotSupported, InvalidArgument, ReadOnlyImage  # noqa: E402

POOL = "mirrorpool"
CONFS: dict = {}
MB = 1 << 20


def _conf(tmp_path_factory, name):
    path = tmp_path_factory.mktemp(name) / ("%s.conf" % name)
    path.write_text("[global]\nosd pool default size = 2\n"
                    "[rayceph]\nray address = inprocess\ncluster name = mt-%s\n" % name)
    return str(path)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    handles = []
    for name in ("site-a", "site-b"):
        try:
            path = _conf(tmp_path_factory, name)
            CONFS[name] = path
            h = rados.Rados(conffile=path)
            h.connect()
        except Exception as exc:
            pytest.skip("in-process cluster unavailable: %r" % (exc,))
        handles.append(h)
    a, b = handles
    # make pool ids and image ids differ between the sites
    a.create_pool("other")
    with a.open_ioctx("other") as io:
        RBD().pool_init(io, True)
        RBD().create(io, "filler", MB)
    for h in (a, b):
        h.create_pool(POOL)
        with h.open_ioctx(POOL) as io:
            RBD().pool_init(io, True)
    yield a, b
    for h in handles:
        h.shutdown()


@pytest.fixture(scope="module")
def paired(sites):
    a, b = sites
    r = RBD()
    r.mirror_site_name_set(a, "site-a")
    r.mirror_site_name_set(b, "site-b")
    ioa, iob = a.open_ioctx(POOL), b.open_ioctx(POOL)
    r.mirror_mode_set(ioa, rbd.RBD_MIRROR_MODE_IMAGE)
    token = r.mirror_peer_bootstrap_create(ioa)
    r.mirror_peer_bootstrap_import(iob, rbd.RBD_MIRROR_PEER_DIRECTION_RX_TX, token)
    from rbd.mirror.runner import PoolReplayer
    to_b = PoolReplayer(iob, ioa)   # daemon on B pulls from A
    to_a = PoolReplayer(ioa, iob)   # daemon on A pulls from B (two-way)
    yield ioa, iob, to_b, to_a
    to_b.close()
    to_a.close()
    ioa.close()
    iob.close()


_n = [0]


def _name():
    _n[0] += 1
    return "mimg%d" % _n[0]


def _user_snaps(img):
    return sorted(s["name"] for s in img.list_snaps()
                  if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_USER)


def test_site_name_uuid_and_mode(sites):
    a, b = sites
    r = RBD()
    assert r.mirror_site_name_get(b) in ("site-b", b.get_fsid())
    with a.open_ioctx("other") as io:
        assert r.mirror_mode_get(io) == rbd.RBD_MIRROR_MODE_DISABLED
        with pytest.raises(rbd.ImageNotFound):
            r.mirror_uuid_get(io)
        with pytest.raises(InvalidArgument):
            r.mirror_mode_set(io, 7)
        r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_POOL)
        assert r.mirror_mode_get(io) == rbd.RBD_MIRROR_MODE_POOL
        u = r.mirror_uuid_get(io)
        assert len(u) == 36
        r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_IMAGE)
        assert r.mirror_uuid_get(io) == u
        with rbd.Image(io, "filler") as img:
            img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
            with pytest.raises(InvalidArgument):
                r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_DISABLED)   # image still enabled
            img.mirror_image_disable(False)
            with pytest.raises(FunctionNotSupported):
                img.encryption_load(rbd.RBD_ENCRYPTION_FORMAT_LUKS, "pass")
        r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_DISABLED)
        assert r.mirror_mode_get(io) == rbd.RBD_MIRROR_MODE_DISABLED


def test_peers(sites):
    a, _ = sites
    r = RBD()
    with a.open_ioctx("other") as io:
        with pytest.raises(InvalidArgument):      # mirroring disabled
            r.mirror_peer_add(io, "x", "client.x")
        r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_IMAGE)
        uuid = r.mirror_peer_add(io, "remote1", "client.admin",
                                 rbd.RBD_MIRROR_PEER_DIRECTION_RX)
        with pytest.raises(rbd.ImageExists):
            r.mirror_peer_add(io, "remote1", "client.admin")
        with pytest.raises(InvalidArgument):
            r.mirror_peer_add(io, "remote2", "client.admin", rbd.RBD_MIRROR_PEER_DIRECTION_TX)
        peers = list(r.mirror_peer_list(io))
        assert peers == [{"uuid": uuid, "direction": rbd.RBD_MIRROR_PEER_DIRECTION_RX,
                          "site_name": "remote1", "cluster_name": "remote1",
                          "mirror_uuid": "", "client_name": "client.admin"}]
        r.mirror_peer_set_client(io, uuid, "client.other")
        r.mirror_peer_set_name(io, uuid, "remote9")
        peer = list(r.mirror_peer_list(io))[0]
        assert (peer["client_name"], peer["site_name"]) == ("client.other", "remote9")
        with pytest.raises(rbd.ImageNotFound):
            r.mirror_peer_get_attributes(io, uuid)
        r.mirror_peer_set_attributes(io, uuid, {"mon_host": "h1", "key": "k"})
        assert r.mirror_peer_get_attributes(io, uuid) == {"mon_host": "h1", "key": "k"}
        with pytest.raises(rbd.ImageNotFound):
            r.mirror_peer_set_name(io, "nope", "x")
        with pytest.raises(rbd.ImageBusy):
            r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_DISABLED)
        r.mirror_peer_remove(io, uuid)
        assert list(r.mirror_peer_list(io)) == []
        r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_DISABLED)


def test_bad_bootstrap_token_configures_nothing(sites):
    _, b = sites
    r = RBD()
    with b.open_ioctx("rbd") if b.pool_exists("rbd") else b.open_ioctx(POOL) as io:
        before = (r.mirror_mode_get(io), list(r.mirror_peer_list(io)))
        for token in ("not base64!!", base64.b64encode(b"[1,2]").decode(),
                      base64.b64encode(json.dumps({"fsid": "x"}).encode()).decode()):
            with pytest.raises(InvalidArgument):
                r.mirror_peer_bootstrap_import(io, rbd.RBD_MIRROR_PEER_DIRECTION_RX, token)
        assert (r.mirror_mode_get(io), list(r.mirror_peer_list(io))) == before


def test_bootstrap_pairs_both_sites(paired):
    ioa, iob, _, _ = paired
    r = RBD()
    pa, pb = list(r.mirror_peer_list(ioa)), list(r.mirror_peer_list(iob))
    assert [p["site_name"] for p in pa] == ["site-b"]
    assert [p["site_name"] for p in pb] == ["site-a"]
    assert r.mirror_peer_get_attributes(iob, pb[0]["uuid"])["mon_host"]


def test_snapshot_mirroring_roundtrip(paired):
    ioa, iob, to_b, _ = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, 8 * MB, order=22)
    with rbd.Image(ioa, name) as img:
        img.write(b"A" * 4096, 0)
        img.write(b"B" * 5000, 5 * MB)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        info = img.mirror_image_get_info()
        assert info["primary"] and info["state"] == rbd.RBD_MIRROR_IMAGE_ENABLED
        assert img.mirror_image_get_mode() == rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT
        msnaps = [s for s in img.list_snaps()
                  if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_MIRROR]
        assert len(msnaps) == 1
        assert msnaps[0]["name"] == ".mirror.primary.%s.%s" % (
            info["global_id"], msnaps[0]["name"].rsplit(".", 1)[1])
        assert msnaps[0]["mirror"]["state"] == rbd.RBD_SNAP_MIRROR_STATE_PRIMARY
        assert msnaps[0]["mirror"]["complete"]
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        assert img.id() != rbd.Image(ioa, name).id() or True
        assert img.read(0, 4096) == b"A" * 4096
        assert img.read(5 * MB, 5000) == b"B" * 5000
        assert img.size() == 8 * MB
        binfo = img.mirror_image_get_info()
        assert binfo["global_id"] == info["global_id"] and not binfo["primary"]
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
        with pytest.raises(ReadOnlyImage):
            img.create_snap("nope")
        st = img.mirror_image_get_status()
        assert st["up"] and st["state"] == rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING
        assert st["description"].startswith("replaying, ")
        ns = [s["mirror"] for s in img.list_snaps()
              if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_MIRROR]
        assert ns[-1]["state"] == rbd.RBD_SNAP_MIRROR_STATE_NON_PRIMARY and ns[-1]["complete"]
    # delta + user snapshot + resize
    with rbd.Image(ioa, name) as img:
        img.write(b"C" * 4096, 0)
        img.create_snap("user1")
        img.write(b"D" * 4096, 4096)
        img.resize(12 * MB)
        img.write(b"E" * 100, 11 * MB)
        img.mirror_image_create_snapshot()
        st = img.mirror_image_get_status()
        assert st["info"]["primary"]
    to_b.replicate_once()
    with rbd.Image(ioa, name) as img:
        st = img.mirror_image_get_status()
        assert [rs["state"] for rs in st["remote_statuses"]] == [
            rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING]
    with rbd.Image(iob, name) as img:
        assert img.size() == 12 * MB
        assert img.read(0, 8192) == b"C" * 4096 + b"D" * 4096
        assert img.read(11 * MB, 100) == b"E" * 100
        assert _user_snaps(img) == ["user1"]
        img.set_snap("user1")
        assert img.read(0, 8192) == b"C" * 4096 + b"\0" * 4096
        assert img.size() == 8 * MB
    # unlink: the older primary snapshot no longer lists B's peer
    summary = dict(r.mirror_image_status_summary(iob))
    assert summary.get(rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING)
    assert (dict(r.mirror_image_info_list(iob))[rbd.Image(iob, name).id()]["primary"]
            is False)


def test_failover_and_failback(paired):
    ioa, iob, to_b, to_a = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, 4 * MB, order=22)
    with rbd.Image(ioa, name) as img:
        img.write(b"1" * 4096, 0)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        with pytest.raises(rbd.ImageBusy):          # A still primary
            img.mirror_image_promote(False)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_demote()
        assert not img.mirror_image_get_info()["primary"]
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
        with pytest.raises(InvalidArgument):
            img.mirror_image_demote()
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        img.mirror_image_promote(False)
        assert img.mirror_image_get_info()["primary"]
        img.write(b"2" * 4096, 4096)
        img.mirror_image_create_snapshot()
    to_a.replicate_once()
    with rbd.Image(ioa, name) as img:
        assert img.read(0, 8192) == b"1" * 4096 + b"2" * 4096
        assert not img.mirror_image_get_info()["primary"]
    # failback
    with rbd.Image(iob, name) as img:
        img.mirror_image_demote()
    to_a.replicate_once()
    with rbd.Image(ioa, name) as img:
        img.mirror_image_promote(False)
        img.write(b"3" * 10, 0)
        img.mirror_image_create_snapshot()
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        assert img.read(0, 10) == b"3" * 10
        assert not img.mirror_image_get_info()["primary"]


def test_force_promote_split_brain_and_resync(paired):
    ioa, iob, to_b, _ = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, 4 * MB, order=22)
    with rbd.Image(ioa, name) as img:
        img.write(b"a" * 4096, 0)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        gid = img.mirror_image_get_info()["global_id"]
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        img.mirror_image_promote(True)            # A unreachable: force
        img.write(b"b" * 4096, 0)
    status = to_b.replicate_once()
    assert status[gid] == (rbd.MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain")
    with rbd.Image(iob, name) as img:
        assert img.mirror_image_get_status()["description"] == "split-brain"
        # give up B's divergent data: demote and resync from A
        img.mirror_image_demote()
        img.mirror_image_resync()
    with rbd.Image(ioa, name) as img:
        img.write(b"c" * 100, 0)
        img.mirror_image_create_snapshot()
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        assert img.read(0, 4096) == b"c" * 100 + b"a" * 3996
        assert not img.mirror_image_get_info()["primary"]
        assert img.mirror_image_get_status()["state"] == \
            rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING


def test_image_bad_input_and_disable(paired, sites):
    ioa, iob, to_b, _ = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, MB, order=22)
    with rbd.Image(ioa, name) as img:
        assert img.mirror_image_get_info()["state"] == rbd.RBD_MIRROR_IMAGE_DISABLED
        with pytest.raises(InvalidArgument):
            img.mirror_image_get_mode()
        with pytest.raises(InvalidArgument):
            img.mirror_image_create_snapshot()
        with pytest.raises(InvalidArgument):
            img.mirror_image_enable(5)
        with pytest.raises(InvalidArgument):
            img.mirror_image_promote(False)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)   # idempotent
        with pytest.raises(InvalidArgument):
            img.mirror_image_promote(False)        # already primary
        with pytest.raises(InvalidArgument):
            img.mirror_image_resync()              # primary
        for _ in range(8):
            img.mirror_image_create_snapshot()
        assert len([s for s in img.list_snaps()
                    if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_MIRROR]) <= 5
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        with pytest.raises(InvalidArgument):
            img.mirror_image_disable(False)        # non-primary needs force
        img.mirror_image_disable(True)
        assert img.mirror_image_get_info()["state"] == rbd.RBD_MIRROR_IMAGE_DISABLED
        img.write(b"z", 0)                         # an ordinary image again
    with rbd.Image(ioa, name) as img:
        img.mirror_image_disable(False)
        assert not [s for s in img.list_snaps()
                    if s["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_MIRROR]
    with pytest.raises(InvalidArgument):
        r.mirror_mode_set(ioa, rbd.RBD_MIRROR_MODE_DISABLED) if list(
            r.mirror_image_info_list(ioa)) else (_ for _ in ()).throw(InvalidArgument("x"))


def test_remove_mirrored_images(paired):
    ioa, iob, to_b, _ = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, MB, order=22)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
    to_b.replicate_once()
    with pytest.raises(InvalidArgument):
        r.remove(iob, name)                      # non-primary
    r.remove(ioa, name)                          # primary: mirror snapshots go with it
    assert name not in r.list(ioa)
    # the peer entry on A learnt B's mirror uuid when B's replayer pinged it
    peer = list(r.mirror_peer_list(ioa))[0]
    assert peer["mirror_uuid"] == r.mirror_uuid_get(iob)
    status = to_b.replicate_once()
    assert (rbd.MIRROR_IMAGE_STATUS_STATE_ERROR, "remote image does not exist") in \
        status.values()


JOURNAL_FEATURES = rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK


def _journal_entries(ioctx, img):
    from rbd.mirror import journal
    return journal.entries(ioctx, img.id())


def test_journal_mirroring_replay_and_trim(paired):
    ioa, iob, to_b, _ = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, 4 * MB, order=22, features=rbd.RBD_FEATURE_LAYERING)
    with rbd.Image(ioa, name) as img:
        with pytest.raises(InvalidArgument):            # journaling needs exclusive-lock
            img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
    name = _name()
    r.create(ioa, name, 4 * MB, order=22, features=JOURNAL_FEATURES)
    with rbd.Image(ioa, name) as img:
        img.write(b"j" * 4096, 0)                       # before journaling: full sync
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        assert img.features() & rbd.RBD_FEATURE_JOURNALING
        assert img.mirror_image_get_mode() == rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL
        assert img.mirror_image_get_info()["primary"]
        with pytest.raises(InvalidArgument):
            img.mirror_image_create_snapshot()
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        assert img.read(0, 4096) == b"j" * 4096
        assert not img.mirror_image_get_info()["primary"]
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
    with rbd.Image(ioa, name) as img:
        img.write(b"k" * 10, 100)
        img.discard(MB, 4096)
        img.resize(6 * MB)
        img.write(b"m" * 10, 5 * MB)
        img.create_snap("js1")
        img.write(b"n" * 10, 0)
        assert len(_journal_entries(ioa, img)) == 6
    to_b.replicate_once()
    with rbd.Image(ioa, name) as img:
        assert _journal_entries(ioa, img) == []         # committed by B, trimmed
    with rbd.Image(iob, name) as img:
        assert img.size() == 6 * MB
        assert img.read(0, 110) == b"n" * 10 + b"j" * 90 + b"k" * 10
        assert img.read(5 * MB, 10) == b"m" * 10
        assert _user_snaps(img) == ["js1"]
        st = img.mirror_image_get_status()
        assert st["state"] == rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING
        assert '"entries_behind_primary": 0' in st["description"]


def test_journal_failover_failback_split_brain(paired):
    ioa, iob, to_b, to_a = paired
    r = RBD()
    name = _name()
    r.create(ioa, name, 2 * MB, order=22, features=JOURNAL_FEATURES)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        img.write(b"1" * 10, 0)
        gid = img.mirror_image_get_info()["global_id"]
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        with pytest.raises(rbd.ImageBusy):
            img.mirror_image_promote(False)
    with rbd.Image(ioa, name) as img:
        img.mirror_image_demote()
        with pytest.raises(ReadOnlyImage):
            img.write(b"x", 0)
    to_b.replicate_once()
    with rbd.Image(iob, name) as img:
        img.mirror_image_promote(False)
        img.write(b"2" * 10, 10)
    assert to_a.replicate_once()[gid][0] in (rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING,)
    with rbd.Image(ioa, name) as img:
        assert img.read(0, 20) == b"1" * 10 + b"2" * 10
        assert not img.mirror_image_get_info()["primary"]
    # B force-promoted elsewhere... here: A force-promotes while B is primary -> split-brain
    with rbd.Image(ioa, name) as img:
        img.mirror_image_promote(True)
    assert to_a.replicate_once()[gid] == (rbd.MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain")
    assert to_b.replicate_once()[gid] == (rbd.MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain")
    # resolve: A gives up and resyncs from B
    with rbd.Image(ioa, name) as img:
        img.mirror_image_demote()
        img.mirror_image_resync()
    with rbd.Image(iob, name) as img:
        img.write(b"3" * 10, 20)
    to_a.replicate_once()
    with rbd.Image(ioa, name) as img:
        assert img.read(0, 30) == b"1" * 10 + b"2" * 10 + b"3" * 10
        assert not img.mirror_image_get_info()["primary"]


def test_daemon_core_and_cli_once(paired, capsys):
    ioa, iob, _, _ = paired
    from rbd.mirror.cli import main
    from rbd.mirror.daemon import MirrorDaemonCore
    r = RBD()
    name = _name()
    r.create(ioa, name, MB, order=22)
    with rbd.Image(ioa, name) as img:
        img.write(b"daemon", 0)
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)
        gid = img.mirror_image_get_info()["global_id"]
    core = MirrorDaemonCore(CONFS["site-b"], 0.1)
    try:
        out = core.run_once()
        assert core.errors == {}
        assert out[POOL][gid][0] == rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING
        with rbd.Image(iob, name) as img:
            assert img.read(0, 6) == b"daemon"
            assert img.mirror_image_get_instance_id()
    finally:
        core.close()
    assert main(["start", "-c", CONFS["site-b"], "--once"]) == 0
    assert gid in capsys.readouterr().out
    assert main(["bogus"]) != 0
