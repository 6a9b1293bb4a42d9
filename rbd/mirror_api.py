"""Mirroring and encryption entry points (later issues).

Every method exists with the binding's signature and raises FunctionNotSupported (ENOSYS)
naming the feature until its issue fills it in.
"""
from __future__ import annotations

import errno

from rbd.errors import FunctionNotSupported


def _unsupported(feature: str):
    raise FunctionNotSupported("%s is not supported yet" % feature, errno=errno.ENOSYS)


class PoolMirrorMixin:
    def mirror_site_name_get(self, rados):
        _unsupported("mirroring")

    def mirror_site_name_set(self, rados, site_name):
        _unsupported("mirroring")

    def mirror_mode_get(self, ioctx):
        _unsupported("mirroring")

    def mirror_mode_set(self, ioctx, mirror_mode):
        _unsupported("mirroring")

    def mirror_uuid_get(self, ioctx):
        _unsupported("mirroring")

    def mirror_peer_bootstrap_create(self, ioctx):
        _unsupported("mirroring")

    def mirror_peer_bootstrap_import(self, ioctx, direction, token):
        _unsupported("mirroring")

    def mirror_peer_add(self, ioctx, site_name, client_name, direction=2):
        _unsupported("mirroring")

    def mirror_peer_remove(self, ioctx, uuid):
        _unsupported("mirroring")

    def mirror_peer_list(self, ioctx):
        _unsupported("mirroring")

    def mirror_peer_set_client(self, ioctx, uuid, client_name):
        _unsupported("mirroring")

    def mirror_peer_set_name(self, ioctx, uuid, site_name):
        _unsupported("mirroring")

    def mirror_peer_set_cluster(self, ioctx, uuid, cluster_name):
        _unsupported("mirroring")

    def mirror_peer_get_attributes(self, ioctx, uuid):
        _unsupported("mirroring")

    def mirror_peer_set_attributes(self, ioctx, uuid, attributes):
        _unsupported("mirroring")

    def mirror_image_status_list(self, ioctx):
        _unsupported("mirroring")

    def mirror_image_status_summary(self, ioctx):
        _unsupported("mirroring")

    def mirror_image_instance_id_list(self, ioctx):
        _unsupported("mirroring")

    def mirror_image_info_list(self, ioctx, mode_filter=None):
        _unsupported("mirroring")


class ImageMirrorMixin:
    def mirror_image_enable(self, mode=0):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_disable(self, force):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_promote(self, force):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_demote(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_resync(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_create_snapshot(self, flags=0):
        self.require_not_closed()
        _unsupported("mirroring")

    def aio_mirror_image_create_snapshot(self, flags, oncomplete):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_get_info(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def aio_mirror_image_get_info(self, oncomplete):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_get_mode(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def aio_mirror_image_get_mode(self, oncomplete):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_get_status(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def mirror_image_get_instance_id(self):
        self.require_not_closed()
        _unsupported("mirroring")

    def encryption_format(self, format, passphrase, cipher_alg=1):
        self.require_not_closed()
        _unsupported("encryption")

    def encryption_load(self, format, passphrase):
        self.require_not_closed()
        _unsupported("encryption")

    def encryption_load2(self, specs):
        self.require_not_closed()
        _unsupported("encryption")
