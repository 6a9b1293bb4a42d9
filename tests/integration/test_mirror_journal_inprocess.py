"""The image journal of journal-based mirroring on two in-process clusters: the splayed layout,
trim, removal, and a bootstrap racing a write that is journaled but not yet applied."""
from __future__ import annotations

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402
from rbd import RBD  # noqa: E402
from rbd.mirror import journal  # noqa: E402

POOL = "jpool"
FEATURES = rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    handles = []
    for name in ("ja", "jb"):
        path = tmp_path_factory.mktemp(name) / "site.conf"
        path.write_text("[global]\nosd pool default size = 1\nmon allow pool size one = true\n"
                        "[rayceph]\nray address = inprocess\ncluster name = mj-%s\n" % name)
        h = rados.Rados(conffile=str(path))
        h.connect()
        h.create_pool(POOL)
        handles.append(h)
    a, b = handles
    ioa, iob = a.open_ioctx(POOL), b.open_ioctx(POOL)
    r = RBD()
    for io in (ioa, iob):
        r.pool_init(io, True)
    r.mirror_site_name_set(a, "ja")
    r.mirror_site_name_set(b, "jb")
    r.mirror_mode_set(ioa, rbd.RBD_MIRROR_MODE_IMAGE)
    r.mirror_peer_bootstrap_import(iob, rbd.RBD_MIRROR_PEER_DIRECTION_RX,
                                   r.mirror_peer_bootstrap_create(ioa))
    from rbd.mirror.runner import PoolReplayer
    to_b = PoolReplayer(iob, ioa)
    yield ioa, iob, to_b
    to_b.close()
    ioa.close()
    iob.close()
    for h in handles:
        h.shutdown()


def _data_objects(ioctx, image_id):
    prefix = "journal_data.%d.%s." % (ioctx.get_pool_id(), image_id)
    return sorted(o.key for o in ioctx.list_objects() if o.key.startswith(prefix))


def test_splayed_layout_trim_and_removal(sites):
    ioa, iob, to_b = sites
    RBD().create(ioa, "layout", 1 << 20, order=20, features=FEATURES)
    with rbd.Image(ioa, "layout") as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        image_id = img.id()
        to_b.replicate_once()
        for i in range(16):
            img.write(bytes([97 + i]) * 512, i * 512)
        tids = [t for t, _ in journal.entries(ioa, image_id)]
        assert len(tids) == 16 and tids == sorted(tids)
        assert len(_data_objects(ioa, image_id)) > 1            # splayed
        assert journal.sets(ioa, image_id)
        assert journal.entries(ioa, image_id, tids[9]) == journal.entries(ioa, image_id)[10:]
        assert [t for t, _ in journal.entries(ioa, image_id, 0, 5)] == tids[:5]
        assert journal.last_tid(ioa, image_id) == tids[-1]
        to_b.replicate_once()
        assert journal.entries(ioa, image_id) == []             # committed by B, trimmed
        with rbd.Image(iob, "layout", read_only=True) as copy:
            assert copy.read(0, 16 * 512) == img.read(0, 16 * 512)
        img.write(b"z", 0)
        assert _data_objects(ioa, image_id)
        img.mirror_image_disable(False)
    assert _data_objects(ioa, image_id) == []                   # the journal went with it
    assert journal.sets(ioa, image_id) == []


def test_bootstrap_replays_a_write_journaled_but_not_yet_applied(sites):
    ioa, iob, to_b = sites
    RBD().create(ioa, "inflight", 1 << 20, order=20, features=FEATURES)
    with rbd.Image(ioa, "inflight") as img:
        img.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL)
        img.write(b"early" * 100, 0)
        # the event is in the journal, its write has not reached the image yet
        journal.append(img._ctx, {"op": "write", "off": 4096, "data": b"late" * 256})
        to_b.replicate_once()                                    # B bootstraps now
        img._ctx.mirror_bypass = True                            # the write lands, unjournaled
        try:
            img.write(b"late" * 256, 4096)
        finally:
            img._ctx.mirror_bypass = False
        to_b.replicate_once()
        with rbd.Image(iob, "inflight", read_only=True) as copy:
            assert copy.read(0, 500) == b"early" * 100
            assert copy.read(4096, 1024) == b"late" * 256
