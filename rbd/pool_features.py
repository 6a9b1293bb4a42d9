"""Pool-level features of later issues: trash, groups, namespaces, pool metadata and
config, pool stats, migration.

Every entry point exists with the binding's signature and raises FunctionNotSupported
(ENOSYS) naming the feature until its issue fills it in. The hooks the image code calls
(`trash_image_name`, `trash_entries`) answer "nothing in the trash" meanwhile.
"""
from __future__ import annotations

import errno

from rbd.errors import FunctionNotSupported


def _unsupported(feature: str):
    raise FunctionNotSupported("%s is not supported yet" % feature, errno=errno.ENOSYS)


# -- hooks used by the image code ----------------------------------------------------------------
def trash_image_name(io, image_id: str):
    """Original name of a trashed image, or None (no trash yet)."""
    return None


def trash_entries(ioctx) -> list:
    _unsupported("trash")


class PoolFeaturesMixin:
    """RBD methods of later issues."""

    # trash
    def trash_move(self, ioctx, name, delay=0):
        _unsupported("trash")

    def trash_purge(self, ioctx, expire_ts=None, threshold=-1):
        _unsupported("trash")

    def trash_remove(self, ioctx, image_id, force=False, on_progress=None):
        _unsupported("trash")

    def trash_get(self, ioctx, image_id):
        _unsupported("trash")

    def trash_list(self, ioctx):
        _unsupported("trash")

    def trash_restore(self, ioctx, image_id, name):
        _unsupported("trash")

    # migration
    def migration_prepare(self, ioctx, image_name, dest_ioctx, dest_image_name, features=None,
                          order=None, stripe_unit=None, stripe_count=None, data_pool=None,
                          clone_format=None, flatten=False):
        _unsupported("migration")

    def migration_prepare_import(self, source_spec, dest_ioctx, dest_image_name, features=None,
                                 order=None, stripe_unit=None, stripe_count=None,
                                 data_pool=None):
        _unsupported("migration")

    def migration_execute(self, ioctx, image_name, on_progress=None):
        _unsupported("migration")

    def migration_commit(self, ioctx, image_name, on_progress=None):
        _unsupported("migration")

    def migration_abort(self, ioctx, image_name, on_progress=None):
        _unsupported("migration")

    def migration_status(self, ioctx, image_name):
        _unsupported("migration")

    # pool stats, metadata and config
    def pool_stats_get(self, ioctx):
        _unsupported("pool stats")

    def pool_metadata_get(self, ioctx, key):
        _unsupported("pool metadata")

    def pool_metadata_set(self, ioctx, key, value):
        _unsupported("pool metadata")

    def pool_metadata_remove(self, ioctx, key):
        _unsupported("pool metadata")

    def pool_metadata_list(self, ioctx):
        _unsupported("pool metadata")

    def config_list(self, ioctx):
        _unsupported("pool config")

    def config_get(self, ioctx, key):
        _unsupported("pool config")

    def config_set(self, ioctx, key, value):
        _unsupported("pool config")

    def config_remove(self, ioctx, key):
        _unsupported("pool config")

    # namespaces
    def namespace_create(self, ioctx, name):
        _unsupported("namespaces")

    def namespace_remove(self, ioctx, name):
        _unsupported("namespaces")

    def namespace_exists(self, ioctx, name):
        _unsupported("namespaces")

    def namespace_list(self, ioctx):
        _unsupported("namespaces")

    # groups
    def group_create(self, ioctx, name):
        _unsupported("groups")

    def group_remove(self, ioctx, name):
        _unsupported("groups")

    def group_list(self, ioctx):
        _unsupported("groups")

    def group_rename(self, ioctx, src, dest):
        _unsupported("groups")


class ImageMigrationMixin:
    def migration_source_spec(self):
        self.require_not_closed()
        _unsupported("migration")


class Group:
    """A group of images (groups come with a later issue: every call raises
    FunctionNotSupported)."""

    def __init__(self, ioctx, name):
        from rbd.errors import cstr, decode_cstr
        self.name = decode_cstr(cstr(name, "name"))
        self.ioctx = ioctx

    def __enter__(self):
        return self

    def __exit__(self, type_, value, traceback):
        return False

    def id(self):
        _unsupported("groups")

    def add_image(self, image_ioctx, image_name):
        _unsupported("groups")

    def remove_image(self, image_ioctx, image_name):
        _unsupported("groups")

    def list_images(self):
        _unsupported("groups")

    def create_snap(self, snap_name, flags=0):
        _unsupported("groups")

    def remove_snap(self, snap_name):
        _unsupported("groups")

    def rename_snap(self, old_snap_name, new_snap_name):
        _unsupported("groups")

    def list_snaps(self):
        _unsupported("groups")

    def get_snap_info(self, snap_name):
        _unsupported("groups")

    def rollback_to_snap(self, name):
        _unsupported("groups")
