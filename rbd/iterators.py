"""The iterator classes of the binding (spec 1A.7). Each snapshots its list at construction
(errors raise then), except MetadataIterator which pages 32 entries at a time."""
from __future__ import annotations

from rbd.constants import (
    RBD_SNAP_NAMESPACE_TYPE_GROUP, RBD_SNAP_NAMESPACE_TYPE_MIRROR, RBD_SNAP_NAMESPACE_TYPE_TRASH,
)


class _ListIterator:
    def __init__(self, items):
        self._items = list(items)

    def __iter__(self):
        return iter(list(self._items))


class ImageIterator(_ListIterator):
    """Iterator over RBD images in a pool: {'id', 'name'}."""

    def __init__(self, ioctx_or_items):
        if isinstance(ioctx_or_items, list):
            super().__init__(ioctx_or_items)
            return
        from rbd.rbd_api import RBD
        super().__init__(RBD()._list2(ioctx_or_items))


class SnapIterator:
    """Iterator over an image's snapshots: {'id','size','name','namespace'} (+ group/trash/
    mirror detail by namespace)."""

    def __init__(self, image):
        self.image = image
        self._snaps = image._snap_list()

    def __iter__(self):
        for snap in self._snaps:
            s = {"id": snap.id, "size": snap.size, "name": snap.name,
                 "namespace": snap.namespace_type}
            ns = snap.namespace_type
            if ns == RBD_SNAP_NAMESPACE_TYPE_GROUP:
                try:
                    s["group"] = self.image.snap_get_group_namespace(snap.id)
                except Exception:
                    s["group"] = None
            elif ns == RBD_SNAP_NAMESPACE_TYPE_TRASH:
                try:
                    s["trash"] = self.image.snap_get_trash_namespace(snap.id)
                except Exception:
                    s["trash"] = None
            elif ns == RBD_SNAP_NAMESPACE_TYPE_MIRROR:
                try:
                    s["mirror"] = self.image.snap_get_mirror_namespace(snap.id)
                except Exception:
                    s["mirror"] = None
            yield s


class ChildIterator(_ListIterator):
    """Iterator over clones: {'pool','pool_namespace','image','id','trash'}."""

    def __init__(self, image, descendants=False):
        super().__init__(image._children(descendants))


class WatcherIterator(_ListIterator):
    """Iterator over the watchers of an image header: {'addr','id','cookie'}."""

    def __init__(self, image):
        super().__init__(image._watchers())


class LockOwnerIterator(_ListIterator):
    """Iterator over managed lock owners: {'mode','owner'}."""

    def __init__(self, image):
        super().__init__(image._lock_owners())


class MetadataIterator:
    """Iterator over image metadata: (key, value), fetched 32 at a time."""

    MAX_READ = 32

    def __init__(self, image):
        self.image = image
        self._first = image._metadata_page("", self.MAX_READ)

    def __iter__(self):
        page = self._first
        while page:
            for key, value in page:
                yield key, value
            if len(page) < self.MAX_READ:
                return
            page = self.image._metadata_page(page[-1][0], self.MAX_READ)


class ConfigImageIterator(_ListIterator):
    """Iterator over per-image config options: {'name','value','source'}."""

    def __init__(self, image):
        super().__init__(image._config_list())


class TrashIterator(_ListIterator):
    """Iterator over trashed images: {'id','name','source','deletion_time',
    'deferment_end_time'}."""

    def __init__(self, ioctx):
        from rbd import pool_features
        super().__init__(pool_features.trash_entries(ioctx))
