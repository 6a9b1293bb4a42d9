"""rbd's exception tree, errno tables, str formats, pickling, exported names and constants."""
from __future__ import annotations

import errno
import os
import pickle

import pytest

import rbd
from rbd.errors import make_ex

IMAGE_TABLE = {
    errno.EPERM: rbd.PermissionError, errno.ENOENT: rbd.ImageNotFound, errno.EIO: rbd.IOError,
    errno.ENOSPC: rbd.NoSpace, errno.EEXIST: rbd.ImageExists, errno.EINVAL: rbd.InvalidArgument,
    errno.EROFS: rbd.ReadOnlyImage, errno.EBUSY: rbd.ImageBusy,
    errno.ENOTEMPTY: rbd.ImageHasSnapshots, errno.ENOSYS: rbd.FunctionNotSupported,
    errno.EDOM: rbd.ArgumentOutOfRange, errno.ESHUTDOWN: rbd.ConnectionShutdown,
    errno.ETIMEDOUT: rbd.Timeout, errno.EDQUOT: rbd.DiskQuotaExceeded,
    errno.EOPNOTSUPP: rbd.OperationNotSupported, errno.ECANCELED: rbd.OperationCanceled,
}

PREFIXES = {
    rbd.PermissionError: "RBD permission error", rbd.ImageNotFound: "RBD image not found",
    rbd.ObjectNotFound: "RBD object not found", rbd.ImageExists: "RBD image already exists",
    rbd.ObjectExists: "RBD object already exists", rbd.IOError: "RBD I/O error",
    rbd.NoSpace: "RBD insufficient space available", rbd.InvalidArgument: "RBD invalid argument",
    rbd.ReadOnlyImage: "RBD read-only image", rbd.ImageBusy: "RBD image is busy",
    rbd.ImageHasSnapshots: "RBD image has snapshots",
    rbd.FunctionNotSupported: "RBD function not supported",
    rbd.ArgumentOutOfRange: "RBD arguments out of range",
    rbd.ConnectionShutdown: "RBD connection was shutdown", rbd.Timeout: "RBD operation timeout",
    rbd.DiskQuotaExceeded: "RBD disk quota exceeded",
    rbd.OperationNotSupported: "RBD operation not supported",
    rbd.OperationCanceled: "RBD operation canceled",
}


def test_image_errno_table():
    assert rbd.errno_to_exception == IMAGE_TABLE


def test_group_errno_table_differs_only_for_enoent_eexist():
    expected = dict(IMAGE_TABLE)
    expected[errno.ENOENT] = rbd.ObjectNotFound
    expected[errno.EEXIST] = rbd.ObjectExists
    assert rbd.group_errno_to_exception == expected


def test_hierarchy():
    assert issubclass(rbd.OSError, rbd.Error)
    for cls in list(PREFIXES) + [rbd.IncompleteWriteError, rbd.LogicError,
                                 rbd.ImageMemberOfGroup]:
        assert issubclass(cls, rbd.OSError), cls
    assert not issubclass(rbd.Error, rbd.OSError)
    assert rbd.ECANCELED == errno.ECANCELED


@pytest.mark.parametrize("cls,prefix", sorted(PREFIXES.items(), key=lambda kv: kv[1]))
def test_str_format(cls, prefix):
    assert str(cls("x", errno=7)) == "[errno 7] %s (x)" % prefix
    assert str(cls("x")) == "%s (x)" % prefix
    assert cls("x", errno=7).errno == 7


def test_plain_oserror_and_make_ex():
    assert str(rbd.OSError("boom", errno=13)) == "[errno 13] boom"
    e = make_ex(-errno.EACCES, "denied")
    assert type(e) is rbd.OSError and e.errno == errno.EACCES
    e = make_ex(errno.ENOENT, "gone")
    assert type(e) is rbd.ImageNotFound and e.errno == errno.ENOENT
    e = make_ex(-errno.ENOENT, "gone", rbd.group_errno_to_exception)
    assert type(e) is rbd.ObjectNotFound


@pytest.mark.parametrize("cls", sorted(set(PREFIXES) | {
    rbd.OSError, rbd.IncompleteWriteError, rbd.LogicError, rbd.ImageMemberOfGroup,
    rbd.Error}, key=lambda c: c.__name__))
def test_pickle_round_trip(cls):
    exc = cls("message", errno=5) if cls is not rbd.Error else cls("message")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is cls
    assert again.errno == exc.errno
    assert str(again) == str(exc)
    assert again.args == exc.args


def test_cstr_rejects_non_strings_with_invalid_argument():
    assert rbd.cstr("a", "name") == b"a"
    assert rbd.cstr(b"a", "name") == b"a"
    assert rbd.cstr(None, "name", opt=True) is None
    with pytest.raises(rbd.InvalidArgument):
        rbd.cstr(1, "name")
    assert rbd.decode_cstr(b"x") == "x"


def test_constants_have_spec_values():
    assert (rbd.RBD_FEATURE_LAYERING, rbd.RBD_FEATURE_STRIPINGV2, rbd.RBD_FEATURE_EXCLUSIVE_LOCK,
            rbd.RBD_FEATURE_OBJECT_MAP, rbd.RBD_FEATURE_FAST_DIFF, rbd.RBD_FEATURE_DEEP_FLATTEN,
            rbd.RBD_FEATURE_JOURNALING, rbd.RBD_FEATURE_DATA_POOL, rbd.RBD_FEATURE_OPERATIONS,
            rbd.RBD_FEATURE_MIGRATING, rbd.RBD_FEATURE_NON_PRIMARY) == tuple(1 << i for i in range(11))
    assert (rbd.RBD_FEATURES_INCOMPATIBLE, rbd.RBD_FEATURES_RW_INCOMPATIBLE,
            rbd.RBD_FEATURES_MUTABLE, rbd.RBD_FEATURES_SINGLE_CLIENT,
            rbd.RBD_FEATURES_ALL) == (2179, 4095, 3164, 2140, 4095)
    assert not hasattr(rbd, "RBD_FEATURE_DIRTY_CACHE")
    assert not hasattr(rbd, "RBD_FEATURES_DEFAULT")
    assert rbd.RBD_SNAP_REMOVE_FORCE == 3 and rbd.RBD_LOCK_MODE_SHARED == 1
    assert rbd.RBD_IMAGE_MIGRATION_STATE_UNKNOWN == -1
    assert rbd.RBD_MIRROR_PEER_ATTRIBUTE_NAME_MON_HOST == "mon_host"
    assert rbd.RBD_WRITE_ZEROES_FLAG_THICK_PROVISION == 1
    assert rbd.RBD_IMAGE_OPTION_CLONE_FORMAT == 12


def test_every_api_name_is_exported():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.path.join(here, "..", "..", "..", "shared", "spec", "api_names.txt"),
                  "/work/shared/spec/api_names.txt"]
    path = next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        pytest.skip("shared/spec/api_names.txt not available")
    names = [line.strip() for line in open(path)
             if line.strip().startswith("rbd.")]
    missing = [n for n in names if not hasattr(rbd, n.split(".", 1)[1])]
    assert missing == []


def test_features_to_and_from_string():
    r = rbd.RBD()
    assert r.features_to_string(61) == "deep-flatten,exclusive-lock,fast-diff,layering,object-map"
    assert r.features_to_string(rbd.RBD_FEATURE_LAYERING) == "layering"
    assert r.features_to_string(0) == ""
    with pytest.raises(rbd.InvalidArgument):
        r.features_to_string(16777216)
    assert r.features_from_string("deep-flatten,exclusive-lock,fast-diff,layering,object-map") == 61
    assert r.features_from_string("layering") == 1
    assert r.features_from_string("") == 61
    assert r.features_from_string("layering striping") == 3
    assert r.features_from_string("5") == 5
    with pytest.raises(rbd.InvalidArgument):
        r.features_from_string("bogus")
    with pytest.raises(rbd.InvalidArgument):
        r.features_from_string(3)


def test_later_features_raise_function_not_supported():
    r = rbd.RBD()
    # (trash, namespaces, groups are implemented now: tests/integration/test_rbd_pool_features.py)
    # (migration is implemented now: tests/integration/test_rbd_migration.py)
    # (pool mirroring is implemented now: rbd/mirror_api.py, tests/integration/test_rbd_mirror.py)
    assert r.version()[0] == 1


def test_image_methods_show_their_real_signatures():
    import inspect

    import rbd

    assert list(inspect.signature(rbd.Image.write).parameters) == [
        "self", "data", "offset", "fadvise_flags"]
    assert list(inspect.signature(rbd.Image.create_snap).parameters) == ["self", "name", "flags"]
