"""cephx end to end through the public `rados`/`rbd` API, against the in-process cluster
(`ray address = inprocess`, `auth client required = cephx`): connect with good and bad
keys, allowed and denied ops and commands, the auth commands, tickets that expire and
renew, and the exclusive-lock fencing scenario."""
from __future__ import annotations

import errno
import json
import time

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402

from cluster.auth import parse_keyring  # noqa: E402

IMG_SIZE = 8 << 20


def _conf(tmp_path, name: str, extra: str = "") -> str:
    path = tmp_path / f"{name}.conf"
    path.write_text(
        "[global]\n"
        "auth cluster required = cephx\n"
        "auth service required = cephx\n"
        "auth client required = cephx\n"
        f"keyring = {tmp_path}/{name}.client.admin.keyring\n"
        "osd pool default size = 2\n"
        "osd pool default pg num = 8\n" + extra +
        "[rayceph]\n"
        "ray address = inprocess\n"
        f"cluster name = {name}\n"
        "hosts = 2\n"
        "pools = rbd, other\n")
    return str(path)


@pytest.fixture(scope="module")
def conffile(tmp_path_factory):
    return _conf(tmp_path_factory.mktemp("cephx"), "cephx-inproc")


@pytest.fixture(scope="module")
def admin(conffile):
    cluster = rados.Rados(conffile=conffile)       # client.admin from the keyring written
    cluster.connect()
    yield cluster
    cluster.shutdown()


def command(cluster, **cmd):
    return cluster.mon_command(json.dumps(cmd), b"")


def make_user(admin, entity: str, *caps) -> str:
    ret, out, outs = command(admin, prefix="auth get-or-create", entity=entity, caps=list(caps))
    assert ret == 0, outs
    return parse_keyring(out.decode())[entity]["key"]


def connect_as(conffile, entity: str, key: str):
    cluster = rados.Rados(name=entity, conffile=conffile, conf={"key": key})
    cluster.connect()
    return cluster


def test_admin_keyring_is_written_and_used(admin, conffile):
    ring = parse_keyring(open(conffile.replace(".conf", ".client.admin.keyring")).read())
    assert ring["client.admin"]["caps"]["mon"] == "allow *"
    with admin.open_ioctx("rbd") as io:
        io.write_full("admin-obj", b"x")
        assert io.read("admin-obj") == b"x"
    ret, out, _ = command(admin, prefix="auth print-key", entity="client.admin")
    assert (ret, out.decode()) == (0, ring["client.admin"]["key"])


def test_connect_with_bad_or_missing_keys(admin, conffile, tmp_path):
    key = make_user(admin, "client.conn", "mon", "allow r")
    connect_as(conffile, "client.conn", key).shutdown()
    good = rados.Rados(rados_id="conn", conffile=conffile, conf={"key": key})
    good.connect()
    good.shutdown()
    wrong = "AQBSdFhcAAAAABAAt5IH3I5dlAJ0zUkjdrXDXQ=="
    for entity, secret in (("client.conn", wrong), ("client.nobody", key)):
        handle = rados.Rados(name=entity, conffile=conffile, conf={"key": secret})
        with pytest.raises(rados.PermissionDeniedError) as info:     # Ceph's -EACCES
            handle.connect()
        assert info.value.errno == errno.EACCES
        assert secret not in str(info.value) and key not in str(info.value)
        assert handle.state == "configuring"
    with pytest.raises(rados.InvalidArgumentError):
        rados.Rados(name="client.conn", conffile=conffile, conf={"key": "bad!!"}).connect()
    # no key anywhere: librados fails the connect with -ENOENT
    nokey = rados.Rados(name="client.conn", conffile=conffile,
                        conf={"keyring": str(tmp_path / "missing.keyring")})
    with pytest.raises(rados.ObjectNotFound):
        nokey.connect()
    keyfile = tmp_path / "conn.key"
    keyfile.write_text(key + "\n")
    by_file = rados.Rados(name="client.conn", conffile=conffile,
                          conf={"keyring": "/nonexistent", "keyfile": str(keyfile)})
    by_file.connect()
    by_file.shutdown()


def test_osd_caps_allow_and_deny_ops(admin, conffile):
    key = make_user(admin, "client.tenant", "mon", "allow r",
                    "osd", "allow rwx pool=rbd namespace=ns1")
    tenant = connect_as(conffile, "client.tenant", key)
    try:
        with tenant.open_ioctx("rbd") as io:
            io.set_namespace("ns1")
            io.write_full("mine", b"tenant data")
            assert io.read("mine") == b"tenant data"
            assert [o.key for o in io.list_objects()] == ["mine"]
            io.set_namespace(rados.LIBRADOS_ALL_NSPACES)
            assert list(io.list_objects()) == []      # refused: the binding stops iterating
            io.set_namespace("")
            assert list(io.list_objects()) == []
            with pytest.raises(rados.PermissionError) as info:        # Ceph's OSD: -EPERM
                io.write_full("theirs", b"x")
            assert info.value.errno == errno.EPERM
            with pytest.raises(rados.PermissionError):
                io.read("admin-obj")
            with pytest.raises(rados.PermissionError):
                io.remove_object("admin-obj")
        with tenant.open_ioctx("other") as io:
            io.set_namespace("ns1")
            with pytest.raises(rados.PermissionError):
                io.write_full("mine", b"x")
        # pool ops and commands need mon caps it does not have
        with pytest.raises(rados.PermissionError):
            tenant.create_pool("tenantpool")
        ret, _, outs = command(tenant, prefix="osd pool create", pool="tenantpool")
        assert (ret, outs) == (-errno.EACCES, "access denied")
        assert command(tenant, prefix="osd dump", format="json")[0] == 0
        assert command(tenant, prefix="auth ls")[0] == -errno.EACCES
        assert not admin.pool_exists("tenantpool")
    finally:
        tenant.shutdown()
    # nothing of the denied ops happened
    with admin.open_ioctx("rbd") as io:
        with pytest.raises(rados.ObjectNotFound):
            io.read("theirs")
        assert io.read("admin-obj") == b"x"
        io.set_namespace("ns1")
        assert io.read("mine") == b"tenant data"


def test_auth_commands_through_mon_command(admin):
    make_user(admin, "client.cmds", "mon", "allow r")
    ret, out, outs = command(admin, prefix="auth get", entity="client.cmds", format="json")
    assert ret == 0 and outs == "exported keyring for client.cmds"
    assert json.loads(out)[0]["caps"] == {"mon": "allow r"}
    assert command(admin, prefix="auth caps", entity="client.cmds",
                   caps=["mon", "allow rw", "osd", "allow r"]) == (
        0, b"", "updated caps for client.cmds")
    ret, _, outs = command(admin, prefix="auth caps", entity="client.cmds",
                           caps=["osd", "allow rwz"])
    assert (ret, outs) == (-errno.EINVAL,
                           "osd capability parse failed, stopped at 'z' of 'allow rwz'")
    listed = json.loads(command(admin, prefix="auth ls", format="json")[1])["auth_dump"]
    assert {"entity": "client.cmds", "caps": {"mon": "allow rw", "osd": "allow r"}}.items() <= \
        [e for e in listed if e["entity"] == "client.cmds"][0].items()
    assert command(admin, prefix="auth del", entity="client.cmds") == (0, b"", "updated")
    assert command(admin, prefix="auth get", entity="client.cmds")[0] == -errno.ENOENT


def test_deleting_an_entity_revokes_its_session(admin, conffile):
    key = make_user(admin, "client.gone", "mon", "allow r", "osd", "allow rw pool=rbd")
    gone = connect_as(conffile, "client.gone", key)
    try:
        with gone.open_ioctx("rbd") as io:
            io.write_full("gone-obj", b"1")
            assert command(admin, prefix="auth del", entity="client.gone")[0] == 0
            gone.wait_for_latest_osdmap()
            with pytest.raises(rados.PermissionDeniedError):
                io.write_full("gone-obj", b"2")
        assert command(gone, prefix="status")[0] == -errno.EACCES
    finally:
        gone.shutdown()


def test_rbd_with_profile_rbd_and_read_only(admin, conffile):
    key = make_user(admin, "client.rbduser", "mon", "profile rbd", "osd", "profile rbd pool=rbd")
    ro_key = make_user(admin, "client.rbdro", "mon", "profile rbd",
                       "osd", "profile rbd-read-only pool=rbd")
    user = connect_as(conffile, "client.rbduser", key)
    reader = connect_as(conffile, "client.rbdro", ro_key)
    try:
        with user.open_ioctx("rbd") as io:
            rbd.RBD().create(io, "prof", IMG_SIZE)
            with rbd.Image(io, "prof") as image:
                image.write(b"p" * 4096, 0)
                image.create_snap("s1")                  # self-managed snap via the monitor
                image.write(b"q" * 4096, 0)
        with reader.open_ioctx("rbd") as io:
            assert "prof" in rbd.RBD().list(io)
            with rbd.Image(io, "prof", read_only=True) as image:
                assert image.read(0, 4096) == b"q" * 4096
                assert [s["name"] for s in image.list_snaps()] == ["s1"]
            with pytest.raises(rbd.PermissionError):
                rbd.RBD().create(io, "nope", IMG_SIZE)
        with user.open_ioctx("other") as io:
            with pytest.raises((rbd.PermissionError, rados.PermissionError)):
                rbd.RBD().create(io, "elsewhere", IMG_SIZE)
    finally:
        user.shutdown()
        reader.shutdown()


def test_tickets_expire_and_renew(tmp_path):
    conffile = _conf(tmp_path, "cephx-ttl", "auth service ticket ttl = 1.5\n")
    cluster = rados.Rados(conffile=conffile)
    cluster.connect()
    try:
        session = cluster._client_obj.session
        with cluster.open_ioctx("rbd") as io:
            io.write_full("t", b"1")
            time.sleep(2.5)                          # longer than one ticket lifetime
            assert session.renewals >= 1
            io.write_full("t", b"2")
            assert command(cluster, prefix="status")[0] == 0
            session.stop()                           # a client that stops renewing...
            time.sleep(max(session.expires - time.time(), 0) + 0.3)
            cluster.wait_for_latest_osdmap()
            with pytest.raises(rados.PermissionDeniedError):   # ...is refused everywhere
                io.write_full("t", b"3")
            assert command(cluster, prefix="status")[0] == -errno.EACCES
    finally:
        cluster.shutdown()
    check = rados.Rados(conffile=conffile)
    check.connect()
    with check.open_ioctx("rbd") as io:
        assert io.read("t") == b"2"
    check.shutdown()


def test_fencing_a_stalled_lock_owner(admin, conffile):
    """A holds the exclusive lock and stalls; B breaks the lock (blocklisting A with only
    `mon 'profile rbd'`); A's late writes are refused by the OSDs; only B's data remains."""
    caps = ("mon", "profile rbd", "osd", "profile rbd pool=rbd")
    key_a, key_b = make_user(admin, "client.fence-a", *caps), make_user(admin, "client.fence-b",
                                                                        *caps)
    with admin.open_ioctx("rbd") as io:
        rbd.RBD().create(io, "fenced", IMG_SIZE, features=rbd.RBD_FEATURE_EXCLUSIVE_LOCK |
                         rbd.RBD_FEATURE_LAYERING)
    a = connect_as(conffile, "client.fence-a", key_a)
    b = connect_as(conffile, "client.fence-b", key_b)
    try:
        io_a, io_b = a.open_ioctx("rbd"), b.open_ioctx("rbd")
        image_a = rbd.Image(io_a, "fenced")
        image_a.write(b"A" * 4096, 0)
        assert image_a.is_exclusive_lock_owner()
        data_oid = "rbd_data.%s.%016x" % (image_a.id(), 0)
        # A stalls here: B takes over by breaking the lock
        image_b = rbd.Image(io_b, "fenced")
        owner = list(image_b.lock_get_owners())[0]["owner"]
        image_b.lock_break(rbd.RBD_LOCK_MODE_EXCLUSIVE, owner)
        image_b.write(b"B" * 4096, 4096)
        b.wait_for_latest_osdmap()
        listed = command(b, prefix="osd blocklist ls", format="json")[1]
        assert "127.0.0.1:0/%d" % a.get_instance_id() in listed.decode()
        # A wakes up: a write it had in flight reaches the OSD late, then librbd tries again
        with pytest.raises(rados.ConnectionShutdown):
            io_a.write(data_oid, b"a" * 4096, 0)
        with pytest.raises(rbd.ConnectionShutdown):
            image_a.write(b"a" * 4096, 8192)
        image_b.write(b"B" * 4096, 0)
        assert image_b.read(0, 3 * 4096) == b"B" * 8192 + b"\0" * 4096
        with admin.open_ioctx("rbd") as io, rbd.Image(io, "fenced", read_only=True) as view:
            assert view.read(0, 3 * 4096) == b"B" * 8192 + b"\0" * 4096
        image_b.close()
        try:
            image_a.close()
        except rbd.Error:
            pass
        # without mon caps for blocklisting, a break would be unfenced: it fails instead
        key_c = make_user(admin, "client.fence-c", "mon", "allow r", "osd", "profile rbd pool=rbd")
        c = connect_as(conffile, "client.fence-c", key_c)
        try:
            with c.open_ioctx("rbd") as io_c, rbd.Image(io_c, "fenced") as image_c:
                image_b2 = rbd.Image(io_b, "fenced")
                image_b2.write(b"b", 0)
                owner = list(image_c.lock_get_owners())[0]["owner"]
                with pytest.raises(rbd.OSError) as info:   # the monitor's -EACCES
                    image_c.lock_break(rbd.RBD_LOCK_MODE_EXCLUSIVE, owner)
                assert info.value.errno == errno.EACCES
                assert image_b2.is_exclusive_lock_owner()
                image_b2.close()
        finally:
            c.shutdown()
    finally:
        a.shutdown()
        b.shutdown()


def test_ceph_cli_auth_commands_and_identity(admin, conffile, tmp_path, capsys):
    from cluster.ceph_cli import main

    assert main(["-c", conffile, "auth", "get-or-create", "client.cli", "mon", "allow r"]) == 0
    keyring = capsys.readouterr().out
    assert keyring.startswith("[client.cli]\n\tkey = AQ")
    path = tmp_path / "cli.keyring"
    path.write_text(keyring)
    assert main(["-c", conffile, "--id", "cli", "-k", str(path), "osd", "pool", "create",
                 "clipool"]) == errno.EACCES
    assert "access denied" in capsys.readouterr().err
    assert main(["-c", conffile, "-n", "client.cli", "-k", str(path), "osd", "ls"]) == 0
    assert main(["-c", conffile, "auth", "caps", "client.cli", "mon", "allow rw"]) == 0
    assert capsys.readouterr().err.strip() == "updated caps for client.cli"
    assert main(["-c", conffile, "--id", "cli", "-k", str(path), "osd", "pool", "create",
                 "clipool"]) == 0
    assert main(["-c", conffile, "auth", "del", "client.cli"]) == 0


def test_rados_and_rbd_cli_connect_as_an_entity(admin, conffile, tmp_path, capsys):
    from rados.cli import main as rados_main
    from rbd.cli import main as rbd_main

    # `allow r` alone would not do for `rbd ls`: it calls a class method (as in Ceph)
    key = make_user(admin, "client.tools", "mon", "profile rbd",
                    "osd", "allow r class-read pool=rbd")
    ring = tmp_path / "tools.keyring"
    ring.write_text(f"[client.tools]\n\tkey = {key}\n")
    src = tmp_path / "payload"
    src.write_bytes(b"payload")
    assert rados_main(["-c", conffile, "-p", "rbd", "put", "cli-obj", str(src)]) == 0
    capsys.readouterr()
    assert rados_main(["-c", conffile, "--id", "tools", "-k", str(ring), "-p", "rbd",
                       "ls"]) == 0
    assert "cli-obj" in capsys.readouterr().out.split()
    assert rados_main(["-c", conffile, "--id", "tools", "-k", str(ring), "-p", "rbd",
                       "put", "cli-obj2", str(src)]) == errno.EPERM
    capsys.readouterr()
    assert rbd_main(["-c", conffile, "-n", "client.tools", "-k", str(ring), "ls", "rbd"]) == 0
    assert rbd_main(["-c", conffile, "--id", "tools", "-k", str(ring), "create", "--size",
                     "1M", "rbd/cli-img"]) == errno.EPERM
    wrong = tmp_path / "wrong.keyring"
    wrong.write_text("[client.tools]\n\tkey = AQBSdFhcAAAAABAAt5IH3I5dlAJ0zUkjdrXDXQ==\n")
    assert rados_main(["-c", conffile, "--id", "tools", "-k", str(wrong), "-p", "rbd",
                       "ls"]) == errno.EACCES
