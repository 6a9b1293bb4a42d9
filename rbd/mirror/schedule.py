"""Mirror snapshot schedule: periodic mirror snapshots of a site's primary images.

Ceph takes them from the mgr `rbd_support` module (`rbd mirror snapshot schedule add`); here
the replicator of the primary's site does it when started with a snapshot interval
(`rayceph mirror start -c CONF --snapshot-interval S`): every snapshot-mode image of the site
that is primary and whose newest mirror snapshot is at least S old gets a new one.
"""
from __future__ import annotations

import logging
import time

from rbd.constants import RBD_MIRROR_IMAGE_MODE_SNAPSHOT
from rbd.mirror import store
from rbd.mirror.image_state import is_primary, mirror_snaps

log = logging.getLogger("rayceph.rbd_mirror")


def due(newest_snapshot_ts: float | None, interval_s: float, now: float) -> bool:
    """Whether an image whose newest mirror snapshot was taken at `newest_snapshot_ts`
    (None: it has none) needs one now."""
    return interval_s > 0 and (newest_snapshot_ts is None or
                               now - newest_snapshot_ts >= interval_s)


def take_due_snapshots(ioctx, interval_s: float, now: float | None = None) -> list[str]:
    """Create a mirror snapshot on each primary snapshot-mode image of the pool that is due;
    returns their image ids. An image that cannot be snapshotted is logged and skipped."""
    import rbd
    now = time.time() if now is None else now
    taken = []
    for key, rec in sorted(store.get_all(ioctx, "image_").items()):
        if rec.get("mode") != RBD_MIRROR_IMAGE_MODE_SNAPSHOT:
            continue
        image_id = key[len("image_"):]
        try:
            with rbd.Image(ioctx, image_id=image_id) as img:
                info = img._ctx.info
                snaps = mirror_snaps(info)
                if not is_primary(info) or not due(snaps[-1].timestamp if snaps else None,
                                                   interval_s, now):
                    continue
                img.mirror_image_create_snapshot()
                taken.append(image_id)
        except rbd.ImageNotFound:
            continue
        except Exception as exc:     # one image must not stop the others
            log.warning("scheduled mirror snapshot of %s failed: %s", image_id, exc)
    return taken
