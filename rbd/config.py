"""librbd configuration: the `rbd_*` options, their defaults, and where a value comes from.

A value is looked up, most specific first: the image's `conf_<option>` metadata, then the
pool's overrides (`pool_overrides`, the single hook for pool-level `rbd_info` `conf_*` keys,
which a later issue fills in), then the client's Rados configuration
(`rados.conf_get`), then the default below.
"""
from __future__ import annotations

from rbd.constants import RBD_CONFIG_SOURCE_CONFIG, RBD_CONFIG_SOURCE_IMAGE, RBD_CONFIG_SOURCE_POOL

# option -> (default as the string Ceph's config would show, type)
OPTIONS: dict[str, tuple[str, type]] = {
    "rbd_atime_update_interval": ("60", int),
    "rbd_balance_parent_reads": ("false", bool),
    "rbd_balance_snap_reads": ("false", bool),
    "rbd_blkin_trace_all": ("false", bool),
    "rbd_blocklist_expire_seconds": ("0", int),
    "rbd_blocklist_on_break_lock": ("true", bool),
    "rbd_cache": ("true", bool),
    "rbd_cache_block_writes_upfront": ("false", bool),
    "rbd_cache_max_dirty": ("25165824", int),
    "rbd_cache_max_dirty_age": ("1.000000", float),
    "rbd_cache_max_dirty_object": ("0", int),
    "rbd_cache_policy": ("writearound", str),
    "rbd_cache_size": ("33554432", int),
    "rbd_cache_target_dirty": ("16777216", int),
    "rbd_cache_writethrough_until_flush": ("true", bool),
    "rbd_clone_copy_on_read": ("false", bool),
    "rbd_concurrent_management_ops": ("10", int),
    "rbd_default_clone_format": ("auto", str),
    "rbd_default_data_pool": ("", str),
    "rbd_default_features": ("layering,exclusive-lock,object-map,fast-diff,deep-flatten", str),
    "rbd_default_format": ("2", int),
    "rbd_default_order": ("22", int),
    "rbd_default_stripe_count": ("0", int),
    "rbd_default_stripe_unit": ("0", int),
    "rbd_disable_zero_copy_writes": ("true", bool),
    "rbd_discard_granularity_bytes": ("65536", int),
    "rbd_enable_alloc_hint": ("true", bool),
    "rbd_invalidate_object_map_on_timeout": ("true", bool),
    "rbd_io_scheduler": ("simple", str),
    "rbd_io_scheduler_simple_max_delay": ("0", int),
    "rbd_journal_order": ("24", int),
    "rbd_journal_pool": ("", str),
    "rbd_journal_splay_width": ("4", int),
    "rbd_localize_parent_reads": ("false", bool),
    "rbd_localize_snap_reads": ("false", bool),
    "rbd_move_parent_to_trash_on_remove": ("false", bool),
    "rbd_move_to_trash_on_remove": ("false", bool),
    "rbd_move_to_trash_on_remove_expire_seconds": ("0", int),
    "rbd_mtime_update_interval": ("60", int),
    "rbd_non_blocking_aio": ("true", bool),
    "rbd_op_thread_timeout": ("60", int),
    "rbd_op_threads": ("1", int),
    "rbd_parent_cache_enabled": ("false", bool),
    "rbd_qos_bps_limit": ("0", int),
    "rbd_qos_iops_limit": ("0", int),
    "rbd_qos_read_bps_limit": ("0", int),
    "rbd_qos_read_iops_limit": ("0", int),
    "rbd_qos_write_bps_limit": ("0", int),
    "rbd_qos_write_iops_limit": ("0", int),
    "rbd_quiesce_notification_attempts": ("10", int),
    "rbd_read_from_replica_policy": ("default", str),
    "rbd_readahead_disable_after_bytes": ("52428800", int),
    "rbd_readahead_max_bytes": ("524288", int),
    "rbd_readahead_trigger_requests": ("10", int),
    "rbd_request_timed_out_seconds": ("30", int),
    "rbd_skip_partial_discard": ("true", bool),
    "rbd_sparse_read_threshold_bytes": ("65536", int),
    "rbd_validate_names": ("true", bool),
    "rbd_validate_pool": ("true", bool),
}

TRUE_STRINGS = ("true", "1", "yes", "on")


def pool_overrides(io) -> dict[str, str]:
    """Pool-level `conf_*` overrides (rbd_info omap of the pool's default namespace)."""
    if io is None:
        return {}
    from rbd.pool_features import pool_config
    return pool_config(io)


def _typed(name: str, value: str):
    kind = OPTIONS.get(name, ("", str))[1]
    if kind is bool:
        return str(value).strip().lower() in TRUE_STRINGS
    if kind is int:
        return _parse_int(str(value), int(OPTIONS[name][0]))
    if kind is float:
        return float(value)
    return value


_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _parse_int(text: str, default: int) -> int:
    """'65536', '64K', '4M', '1.5G', '4MiB', '512B' -> int; default when unparsable."""
    text = text.strip().lower()
    for tail in ("ib", "b"):
        if text.endswith(tail) and len(text) > len(tail):
            text = text[:-len(tail)]
            break
    scale = 1
    if text and text[-1] in _SUFFIXES:
        scale = _SUFFIXES[text[-1]]
        text = text[:-1]
    try:
        return int(float(text) * scale)
    except ValueError:
        return default


def client_value(io, name: str) -> str:
    """The client's setting (rados conf) as a string, or the default."""
    value = io.conf_get(name) if io is not None else None
    if value is None:
        value = OPTIONS.get(name, ("", str))[0]
    return str(value)


def lookup(io, name: str, image_overrides: dict | None = None,
           pool: dict | None = None) -> tuple[str, int]:
    """(value string, source) for option `name`. `pool`: the pool's overrides when the
    caller already read them (each read is a round trip to rbd_info)."""
    if image_overrides and name in image_overrides:
        return image_overrides[name], RBD_CONFIG_SOURCE_IMAGE
    if pool is None:
        pool = pool_overrides(io)
    if name in pool:
        return pool[name], RBD_CONFIG_SOURCE_POOL
    return client_value(io, name), RBD_CONFIG_SOURCE_CONFIG


def get(io, name: str, image_overrides: dict | None = None, pool: dict | None = None):
    """The typed value of option `name`."""
    return _typed(name, lookup(io, name, image_overrides, pool)[0])


def is_option(name: str) -> bool:
    return name in OPTIONS
