"""The rados exception tree, errno table, str() formats and pickling (no cluster needed)."""
from __future__ import annotations

import builtins
import copy
import errno
import pickle

import pytest

import rados
from rados import errors

TABLE = [
    (errno.EPERM, rados.PermissionError, "RADOS permission error"),
    (errno.ENOENT, rados.ObjectNotFound, "RADOS object not found"),
    (errno.EINTR, rados.InterruptedOrTimeoutError, "RADOS interrupted or timeout"),
    (errno.EIO, rados.IOError, "RADOS I/O error"),
    (errno.EACCES, rados.PermissionDeniedError, "RADOS permission denied"),
    (errno.EBUSY, rados.ObjectBusy, "RADOS object busy"),
    (errno.EEXIST, rados.ObjectExists, "RADOS object exists"),
    (errno.EINVAL, rados.InvalidArgumentError, "RADOS invalid argument"),
    (errno.ENOSPC, rados.NoSpace, "RADOS no space"),
    (errno.ENODATA, rados.NoData, "RADOS no data"),
    (errno.EISCONN, rados.IsConnected, "RADOS is connected error"),
    (errno.ENOTCONN, rados.NotConnected, "RADOS not connected"),
    (errno.ESHUTDOWN, rados.ConnectionShutdown, "RADOS connection was shutdown"),
    (errno.ETIMEDOUT, rados.TimedOut, "RADOS timed out"),
    (errno.EINPROGRESS, rados.InProgress, "RADOS in progress error"),
]

ALL_CLASSES = [
    rados.Error, rados.InvalidArgumentError, rados.OSError, rados.InterruptedOrTimeoutError,
    rados.PermissionError, rados.PermissionDeniedError, rados.ObjectNotFound, rados.NoData,
    rados.ObjectExists, rados.ObjectBusy, rados.IOError, rados.NoSpace, rados.NotConnected,
    rados.RadosStateError, rados.IoctxStateError, rados.ObjectStateError, rados.LogicError,
    rados.TimedOut, rados.InProgress, rados.IsConnected, rados.ConnectionShutdown,
]


@pytest.mark.parametrize("code,cls,prefix", TABLE)
def test_make_ex_maps_errno_to_class_and_message(code, cls, prefix):
    for ret in (code, -code):
        exc = rados.make_ex(ret, "error opening pool 'x'")
        assert type(exc) is cls
        assert exc.errno == code
        assert str(exc) == "[errno %d] %s (error opening pool 'x')" % (code, prefix)


def test_the_example_from_ceph():
    exc = rados.make_ex(-2, "error opening pool 'x'")
    assert str(exc) == "[errno 2] RADOS object not found (error opening pool 'x')"


def test_unknown_errno_is_plain_oserror():
    exc = rados.make_ex(-errno.ENAMETOOLONG, "Ioctx.write(p): failed to write x")
    assert type(exc) is rados.OSError
    assert exc.errno == 36
    assert str(exc) == "[errno 36] Ioctx.write(p): failed to write x"
    exc = rados.make_ex(-errno.EROFS, "m")
    assert type(exc) is rados.OSError and exc.errno == errno.EROFS


def test_cmpext_mismatch_is_extend_mismatch_past_max_errno():
    exc = rados.make_ex(-rados.MAX_ERRNO - 3, "op")
    assert type(exc) is rados.ExtendMismatch
    assert exc.errno == rados.MAX_ERRNO + 3
    assert exc.offset == 3
    assert str(exc) == "[errno 4098] object content does not match (op)"
    # offset 0 is exactly MAX_ERRNO: the binding's table gives a plain OSError
    assert type(rados.make_ex(-rados.MAX_ERRNO, "op")) is rados.OSError


def test_hierarchy():
    for cls in (rados.InterruptedOrTimeoutError, rados.PermissionError,
                rados.PermissionDeniedError, rados.ObjectNotFound, rados.NoData,
                rados.ObjectExists, rados.ObjectBusy, rados.IOError, rados.NoSpace,
                rados.NotConnected, rados.TimedOut, rados.ConnectionShutdown):
        assert issubclass(cls, rados.OSError)
    for cls in (rados.InvalidArgumentError, rados.ExtendMismatch, rados.RadosStateError,
                rados.IoctxStateError, rados.ObjectStateError, rados.LogicError,
                rados.InProgress, rados.IsConnected):
        assert issubclass(cls, rados.Error) and not issubclass(cls, rados.OSError)
    assert issubclass(rados.Error, Exception)
    # rados.OSError and rados.IOError are the binding's own, not the builtins
    assert rados.OSError is not builtins.OSError
    assert not issubclass(rados.OSError, builtins.OSError)


def test_without_errno_str_has_no_prefix():
    assert str(rados.Error("plain")) == "plain"
    assert rados.Error("plain").errno is None
    exc = rados.RadosStateError("You cannot perform that operation on a Rados object in "
                                "state configuring.")
    assert str(exc) == ("RADOS rados state (You cannot perform that operation on a Rados "
                        "object in state configuring.)")
    assert str(rados.IoctxStateError("The pool is closed")) == \
        "RADOS Ioctx state error (The pool is closed)"
    assert str(rados.ObjectStateError("The object is removed")) == \
        "RADOS object state error (The object is removed)"
    assert str(rados.LogicError("x")) == "RADOS logic error (x)"


def test_args_hold_the_formatted_message():
    exc = rados.ObjectNotFound("m", errno=2)
    assert exc.args == ("RADOS object not found (m)",)


@pytest.mark.parametrize("cls", ALL_CLASSES)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_class_pickles_with_class_errno_and_message(cls, protocol):
    exc = cls("something failed", errno=7)
    back = pickle.loads(pickle.dumps(exc, protocol))
    assert type(back) is cls
    assert back.errno == 7
    assert str(back) == str(exc)
    assert back.args == exc.args
    no_errno = pickle.loads(pickle.dumps(cls("x"), protocol))
    assert no_errno.errno is None and str(no_errno) == str(cls("x"))


def test_extend_mismatch_pickles_with_offset():
    exc = rados.ExtendMismatch("cmp", rados.MAX_ERRNO + 9, 9)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is rados.ExtendMismatch
    assert (back.errno, back.offset, str(back)) == (exc.errno, 9, str(exc))
    assert copy.deepcopy(exc).offset == 9


def test_extra_attributes_survive_pickling():
    exc = rados.ObjectNotFound("m", errno=2)
    exc.note = "kept"
    assert pickle.loads(pickle.dumps(exc)).note == "kept"


def test_cloudpickle_round_trip():
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    for code, cls, _ in TABLE:
        exc = rados.make_ex(-code, "across ray")
        back = cloudpickle.loads(cloudpickle.dumps(exc))
        assert type(back) is cls and back.errno == code and str(back) == str(exc)


def test_raised_and_caught_by_errno_class():
    with pytest.raises(rados.ObjectNotFound) as info:
        raise rados.make_ex(-2, "gone")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(rados.Error):
        raise rados.make_ex(-errno.EBUSY, "busy")


def test_errno_table_is_the_bindings():
    assert {code: cls for code, cls, _ in TABLE if code != errno.EINPROGRESS
            and code != errno.EISCONN} == {
        k: v for k, v in errors.errno_to_exception.items()
        if k not in (errno.EINPROGRESS, errno.EISCONN)}
    assert errors.errno_to_exception[errno.EINPROGRESS] is rados.InProgress
    assert errors.errno_to_exception[errno.EISCONN] is rados.IsConnected
    assert len(errors.errno_to_exception) == 15
