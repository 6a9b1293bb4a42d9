"""cephx without Ray: keys, keyrings, the monitor's auth service and commands, sessions and
tickets, and the checks the monitor and the OSDs make (cluster/auth.py, cluster/mon_auth.py,
osd/caps.check_request)."""
from __future__ import annotations

import base64
import errno
import json
import struct

import pytest

from cluster.auth import (AuthError, client_secret, cluster_auth_mode, compute_proof,
                          decode_key, format_keyring, generate_key, parse_keyring)
from cluster.config import CephConfig
from cluster.monitor import MonitorCore
from cluster.osdmap import build_initial_osdmap
from osd.caps import check_listing, check_request
from osd.messages import OSDOpRequest

FSID = "00000000-0000-0000-0000-0000000000aa"
KEY = "AQBSdFhcAAAAABAAt5IH3I5dlAJ0zUkjdrXDXQ=="


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def conf_of(text: str) -> CephConfig:
    conf = CephConfig()
    conf.parse_text(text)
    return conf


def cephx_mon(tmp_path, extra: str = "", clock=None) -> MonitorCore:
    clock = clock or Clock()
    conf = conf_of("[global]\nauth client required = cephx\n"
                   f"keyring = {tmp_path}/ceph.client.admin.keyring\n"
                   "osd pool default pg num = 8\n" + extra +
                   "[rayceph]\nhosts = 3\npools = rbd, other\n")
    return MonitorCore(build_initial_osdmap(conf, FSID, stamp=clock()), clock=clock, conf=conf)


def login(mon, entity: str, key: str):
    challenge = mon.auth_call("challenge", entity)
    result = mon.auth_call("authenticate", entity, challenge,
                           compute_proof(decode_key(key), entity, challenge))
    assert not isinstance(result, int), result
    gid, token, _expires = result
    return (gid, token)


def admin_key(mon) -> str:
    return mon.auth.entities["client.admin"]["key"]


def cmd(mon, session, **kw):
    return mon.handle_command(kw, b"", session=session)


# --- keys and keyrings -------------------------------------------------------------------

def test_generated_keys_are_ceph_cryptokeys():
    key = generate_key(lambda n: bytes(range(n)), now=1_700_000_000.5)
    assert key.startswith("AQ") and len(key) == 40
    blob = base64.b64decode(key)
    assert struct.unpack_from("<HIIH", blob) == (1, 1_700_000_000, 500_000_000, 16)
    assert decode_key(key) == bytes(range(16))
    assert decode_key(KEY) == base64.b64decode(KEY)[12:]
    assert generate_key() != generate_key()


@pytest.mark.parametrize("bad", ["notbase64!!", "AAAA", base64.b64encode(b"\2\0" + b"x" * 26),
                                 KEY[:-4], 12])
def test_bad_keys_are_einval_without_the_key(bad):
    with pytest.raises(AuthError) as info:
        decode_key(bad)
    assert info.value.errno == errno.EINVAL
    assert str(bad) not in str(info.value)


def test_keyring_round_trip_in_ceph_format():
    entries = {"client.admin": {"key": KEY, "caps": {"osd": "allow *", "mon": "allow *"}},
               "client.cinder": {"key": KEY, "caps": {}}}
    text = format_keyring(entries)
    assert text == (f"[client.admin]\n\tkey = {KEY}\n\tcaps mon = \"allow *\"\n"
                    f"\tcaps osd = \"allow *\"\n[client.cinder]\n\tkey = {KEY}\n")
    assert parse_keyring(text) == entries
    assert parse_keyring(f"# comment\n[client.x]\nkey={KEY}\ncaps  osd = allow r\n") == {
        "client.x": {"key": KEY, "caps": {"osd": "allow r"}}}


@pytest.mark.parametrize("text,fault", [
    ("key = x\n", "k:1: expected 'key = value' in a section"),
    ("[client.x\n", "k:1: bad section header"),
    ("[nobody]\n", "k:1: bad entity name 'nobody'"),
    ("[client.x]\nkey = AQsecretsecret\n", "k:2: bad key for this entity"),
])
def test_keyring_errors_name_the_line_not_the_key(text, fault):
    with pytest.raises(AuthError) as info:
        parse_keyring(text, "k")
    assert str(info.value) == fault and info.value.errno == errno.EINVAL


def test_client_secret_precedence(tmp_path):
    ring = tmp_path / "ring"
    other = generate_key()
    ring.write_text(format_keyring({"client.c": {"key": other, "caps": {}}}))
    keyfile = tmp_path / "keyfile"
    keyfile.write_text(KEY + "\n")
    conf = conf_of(f"[global]\nkeyring = /nonexistent,{ring}\n")
    conf.set_entity("client.c")
    assert client_secret(conf, "client.c") == decode_key(other)
    conf.set("keyfile", str(keyfile))
    assert client_secret(conf, "client.c") == decode_key(KEY)
    conf.set("key", other)
    assert client_secret(conf, "client.c") == decode_key(other)
    with pytest.raises(AuthError) as info:
        client_secret(conf_of(f"[global]\nkeyring = {ring}\n"), "client.d")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(AuthError) as info:
        client_secret(conf_of("[global]\nkeyring = /nonexistent\n"), "client.c")
    assert info.value.errno == errno.ENOENT


def test_auth_mode_from_config():
    assert cluster_auth_mode(CephConfig()) == "none"      # Ceph's defaults: rayceph runs none
    assert cluster_auth_mode(conf_of("[global]\nauth client required = cephx\n")) == "cephx"
    assert cluster_auth_mode(conf_of("[global]\nauth_service_required = cephx\n")) == "cephx"
    assert cluster_auth_mode(conf_of("[global]\nauth cluster required = none\n"
                                     "auth service required = none\n"
                                     "auth client required = none\n")) == "none"
    assert cluster_auth_mode(conf_of("[rayceph]\nauth = cephx\n")) == "cephx"
    # the copy handed to the Ray monitor actor keeps the decision
    for text, mode in (("", "none"), ("[global]\nauth client required = cephx\n", "cephx")):
        copy = CephConfig()
        for option, value in conf_of(text).to_dict().items():
            copy.set(option, value)
        assert cluster_auth_mode(copy) == mode


# --- the monitor's auth service ----------------------------------------------------------

def test_bootstrap_writes_the_admin_keyring(tmp_path):
    mon = cephx_mon(tmp_path)
    written = parse_keyring((tmp_path / "ceph.client.admin.keyring").read_text())
    assert written["client.admin"]["key"] == admin_key(mon)
    assert written["client.admin"]["caps"]["osd"] == "allow *"
    assert (tmp_path / "ceph.client.admin.keyring").stat().st_mode & 0o777 == 0o600
    assert mon.get_osdmap().auth.osd_caps["client.admin"] == "allow *"
    assert admin_key(mon) not in repr(mon.get_osdmap().__dict__)     # maps carry no keys


def test_bootstrap_imports_an_existing_keyring(tmp_path):
    (tmp_path / "ceph.client.admin.keyring").write_text(format_keyring({
        "client.admin": {"key": KEY, "caps": {}},
        "client.app": {"key": KEY, "caps": {"osd": "allow r"}}}))
    mon = cephx_mon(tmp_path)
    assert admin_key(mon) == KEY
    assert mon.auth.entities["client.admin"]["caps"]["mon"] == "allow *"
    assert mon.auth.entities["client.app"]["caps"] == {"osd": "allow r"}


def test_auth_none_needs_no_session(tmp_path):
    conf = conf_of("[rayceph]\nhosts = 3\n")
    mon = MonitorCore(build_initial_osdmap(conf, FSID), conf=conf)
    assert mon.auth_call("mode") == "none"
    assert mon.handle_command({"prefix": "osd pool create", "pool": "p"})[0] == 0
    assert getattr(mon.get_osdmap(), "auth", None) is None


def test_authenticate_challenge_response(tmp_path):
    clock = Clock()
    mon = cephx_mon(tmp_path, clock=clock)
    good = compute_proof(decode_key(admin_key(mon)), "client.admin", "x")
    challenge = mon.auth_call("challenge", "client.admin")
    assert mon.auth_call("authenticate", "client.admin", challenge, good) == -errno.EACCES
    wrong = compute_proof(decode_key(KEY), "client.admin", challenge)
    assert mon.auth_call("authenticate", "client.admin", challenge, wrong) == -errno.EACCES
    # a challenge is used once
    right = compute_proof(decode_key(admin_key(mon)), "client.admin", challenge)
    assert mon.auth_call("authenticate", "client.admin", challenge, right) == -errno.EACCES
    challenge = mon.auth_call("challenge", "client.nobody")
    proof = compute_proof(decode_key(KEY), "client.nobody", challenge)
    assert mon.auth_call("authenticate", "client.nobody", challenge, proof) == -errno.EACCES
    epoch = mon.get_osdmap().epoch
    gid, token = login(mon, "client.admin", admin_key(mon))
    assert mon.get_osdmap().epoch == epoch + 1
    assert mon.get_osdmap().auth.session(gid, clock()) == ("client.admin", "allow *")


def test_ticket_expiry_and_renewal(tmp_path):
    clock = Clock()
    mon = cephx_mon(tmp_path, "auth service ticket ttl = 60\n", clock)
    session = login(mon, "client.admin", admin_key(mon))
    req = OSDOpRequest(reqid=(session[0], 1), pool=1, pgid=0, oid="o", ops=[("read", 0, 0)])
    assert check_request(mon.get_osdmap(), req, clock()) == 0
    clock.t += 50
    assert mon.auth_call("renew", *session) == clock.t + 60
    clock.t += 50
    assert check_request(mon.get_osdmap(), req, clock()) == 0
    assert cmd(mon, session, prefix="status")[0] == 0
    clock.t += 11
    assert check_request(mon.get_osdmap(), req, clock()) == -errno.EACCES
    assert cmd(mon, session, prefix="status") == (-errno.EACCES, b"", "access denied")
    assert mon.auth_call("renew", *session) == -errno.EACCES
    assert mon.auth_call("renew", session[0], "forged") == -errno.EACCES
    # expired sessions are dropped at the next login; a logout ends one at once
    other = login(mon, "client.admin", admin_key(mon))
    assert set(mon.auth.sessions) == {other[0]}
    assert mon.auth_call("logout", other[0], "forged") == -errno.EACCES
    epoch = mon.get_osdmap().epoch
    assert mon.auth_call("logout", *other) == 0
    assert mon.get_osdmap().epoch == epoch + 1 and mon.get_osdmap().auth.sessions == {}
    assert cmd(mon, other, prefix="status")[0] == -errno.EACCES


def test_commands_and_calls_follow_mon_caps(tmp_path):
    mon = cephx_mon(tmp_path)
    admin = login(mon, "client.admin", admin_key(mon))
    assert cmd(mon, None, prefix="status") == (-errno.EACCES, b"", "access denied")
    assert mon.auth_call("command", "operator", {"prefix": "status"})[0] == -errno.EACCES
    assert mon.auth_call("call", "operator", "pool_create", "x") == -errno.EACCES
    # the hosts' own channel (rayceph status, fault injection) is Ceph's admin socket
    assert mon.handle_command({"prefix": "status"})[0] == 0
    assert cmd(mon, (admin[0], "forged"), prefix="status")[0] == -errno.EACCES
    ret, out, _ = cmd(mon, admin, prefix="auth get-or-create", entity="client.ro",
                      caps=["mon", "allow r", "osd", "allow rw pool=rbd"])
    assert ret == 0
    key = parse_keyring(out.decode())["client.ro"]["key"]
    ro = login(mon, "client.ro", key)
    assert cmd(mon, ro, prefix="osd dump")[0] == 0
    assert cmd(mon, ro, prefix="osd pool create", pool="x") == (-errno.EACCES, b"",
                                                                "access denied")
    assert cmd(mon, ro, prefix="auth ls")[0] == -errno.EACCES
    assert cmd(mon, ro, prefix="config-key get", key="k")[0] == -errno.EACCES
    assert cmd(mon, ro, prefix="no such command")[0] == -errno.EINVAL
    assert "x" not in mon.get_osdmap().pool_names
    rbd_id, other_id = mon.get_osdmap().pool_names["rbd"], mon.get_osdmap().pool_names["other"]
    assert mon.auth_call("call", ro, "pool_create", "x") == -errno.EPERM
    assert mon.auth_call("call", ro, "selfmanaged_snap_create", rbd_id) == 2
    assert mon.auth_call("call", ro, "selfmanaged_snap_create", other_id) == -errno.EPERM
    assert mon.auth_call("call", ro, "_publish", None) == -errno.EINVAL
    assert mon.auth_call("call", None, "pool_create", "x") == -errno.EACCES
    assert mon.auth_call("call", admin, "pool_create", "x") > 0


def test_osd_checks_follow_osd_caps(tmp_path):
    clock = Clock()
    mon = cephx_mon(tmp_path, clock=clock)
    admin = login(mon, "client.admin", admin_key(mon))
    _, out, _ = cmd(mon, admin, prefix="auth get-or-create", entity="client.t",
                    caps=["osd", "allow rwx pool=rbd namespace=ns1"])
    gid, _ = login(mon, "client.t", parse_keyring(out.decode())["client.t"]["key"])
    rbd_id = mon.get_osdmap().pool_names["rbd"]

    def check(gid, ops, nspace="", pool=rbd_id):
        req = OSDOpRequest(reqid=(gid, 1), pool=pool, pgid=0, oid="o", nspace=nspace, ops=ops)
        return check_request(mon.get_osdmap(), req, clock())

    write = [("write_full", b"x")]
    assert check(gid, write, "ns1") == 0
    assert check(gid, write) == -errno.EPERM
    assert check(gid, write, pool=mon.get_osdmap().pool_names["other"]) == -errno.EPERM
    assert check(9999, [("read", 0, 0)]) == -errno.EACCES           # never authenticated
    osdmap = mon.get_osdmap()
    assert check_listing(osdmap, gid, rbd_id, "ns1", clock()) == 0
    assert check_listing(osdmap, gid, rbd_id, "", clock()) == -errno.EPERM
    assert check_listing(osdmap, gid, rbd_id, "\x01", clock()) == -errno.EPERM
    assert check_listing(osdmap, None, rbd_id, "ns1", clock()) == -errno.EACCES
    assert check_listing(osdmap, admin[0], rbd_id, "\x01", clock()) == 0
    assert cmd(mon, admin, prefix="auth caps", entity="client.t",
               caps=["osd", "allow r"]) == (0, b"", "updated caps for client.t")
    assert check(gid, write, "ns1") == -errno.EPERM
    assert check(gid, [("read", 0, 0)]) == 0
    assert cmd(mon, admin, prefix="auth del", entity="client.t") == (0, b"", "updated")
    assert check(gid, [("read", 0, 0)]) == -errno.EACCES


def test_auth_command_outputs(tmp_path):
    mon = cephx_mon(tmp_path)
    admin = login(mon, "client.admin", admin_key(mon))
    caps = ["mon", "profile rbd", "osd", "profile rbd pool=rbd"]
    ret, out, outs = cmd(mon, admin, prefix="auth get-or-create", entity="client.c", caps=caps)
    key = mon.auth.entities["client.c"]["key"]
    assert (ret, out, outs) == (0, f"[client.c]\n\tkey = {key}\n".encode(), "")
    # again with the same caps: the same key; other caps: EINVAL
    assert cmd(mon, admin, prefix="auth get-or-create", entity="client.c", caps=caps)[1] == out
    assert cmd(mon, admin, prefix="auth get-or-create", entity="client.c",
               caps=["mon", "allow r"]) == (
        -errno.EINVAL, b"", "key for client.c exists but cap mon does not match")
    assert json.loads(cmd(mon, admin, prefix="auth get-or-create", entity="client.c",
                          caps=caps, format="json")[1]) == [
        {"entity": "client.c", "key": key,
         "caps": {"mon": "profile rbd", "osd": "profile rbd pool=rbd"}}]
    assert cmd(mon, admin, prefix="auth get", entity="client.c") == (
        0, (f"[client.c]\n\tkey = {key}\n\tcaps mon = \"profile rbd\"\n"
            f"\tcaps osd = \"profile rbd pool=rbd\"\n").encode(), "exported keyring for client.c")
    assert cmd(mon, admin, prefix="auth print-key", entity="client.c") == (0, key.encode(), "")
    assert cmd(mon, admin, prefix="auth get-key", entity="client.c",
               format="json")[1] == json.dumps({"key": key}, separators=(",", ":")).encode()
    ret, out, outs = cmd(mon, admin, prefix="auth ls")
    assert outs == "installed auth entries:\n"
    assert out.decode().startswith(f"client.admin\n\tkey: {admin_key(mon)}\n"
                                   "\tcaps: [mds] allow *\n")
    assert f"client.c\n\tkey: {key}\n\tcaps: [mon] profile rbd\n" in out.decode()
    doc = json.loads(cmd(mon, admin, prefix="auth ls", format="json")[1])
    assert [e["entity"] for e in doc["auth_dump"]] == ["client.admin", "client.c"]
    # errors
    assert cmd(mon, admin, prefix="auth get", entity="client.zz") == (
        -errno.ENOENT, b"", "failed to find client.zz in keyring")
    assert cmd(mon, admin, prefix="auth print-key", entity="client.zz") == (
        -errno.ENOENT, b"", "don't have client.zz")
    assert cmd(mon, admin, prefix="auth caps", entity="client.zz", caps=["osd", "allow r"]) == (
        -errno.ENOENT, b"", "couldn't find entry client.zz")
    assert cmd(mon, admin, prefix="auth get", entity="nobody") == (
        -errno.EINVAL, b"", "bad entity name")
    assert cmd(mon, admin, prefix="auth get-or-create", entity="client.d", caps=["osd"]) == (
        -errno.EINVAL, b"", "bad capabilities request; odd number of arguments")
    assert cmd(mon, admin, prefix="auth get-or-create", entity="client.d",
               caps=["osd", "allow rwx pool"]) == (
        -errno.EINVAL, b"", "osd capability parse failed, stopped at 'pool' of 'allow rwx pool'")
    assert cmd(mon, admin, prefix="auth caps", entity="client.c",
               caps=["mon", "allow rwx pool=a"])[0] == -errno.EINVAL
    assert "client.d" not in mon.auth.entities
    # caps naming a pool that does not exist are accepted, as Ceph accepts them
    assert cmd(mon, admin, prefix="auth get-or-create", entity="client.later",
               caps=["osd", "allow rwx pool=notyet"])[0] == 0
    assert mon.auth.entities["client.c"]["caps"]["mon"] == "profile rbd"
    assert cmd(mon, admin, prefix="auth del", entity="client.zz") == (
        0, b"", "entity client.zz does not exist")
    assert cmd(mon, admin, prefix="auth rm", entity="client.c") == (0, b"", "updated")
    assert "client.c" not in mon.get_osdmap().auth.osd_caps


def test_auth_add(tmp_path):
    mon = cephx_mon(tmp_path)
    admin = login(mon, "client.admin", admin_key(mon))

    def add(entity, caps=(), inbuf=b""):
        return mon.handle_command({"prefix": "auth add", "entity": entity, "caps": list(caps)},
                                  inbuf, session=admin)

    assert add("client.n", ["osd", "allow r"]) == (0, b"", "added key for client.n")
    assert add("client.n", ["osd", "allow r"]) == (0, b"", "")
    assert add("client.n", ["osd", "allow rw"]) == (
        -errno.EEXIST, b"", "entity client.n exists but cap osd does not match")
    ring = format_keyring({"client.k": {"key": KEY, "caps": {"mon": "allow r"}}}).encode()
    assert add("client.k", inbuf=ring) == (0, b"", "added key for client.k")
    assert mon.auth.entities["client.k"] == {"key": KEY, "caps": {"mon": "allow r"}}
    assert add("client.k", ["osd", "allow r"], ring)[2] == \
        "caps cannot be specified both in keyring and in command"
    assert add("client.q", inbuf=ring) == (
        -errno.EINVAL, b"", "key for client.q not found in provided keyring")
    assert add("client.q", inbuf=b"garbage") == (-errno.EINVAL, b"", "error decoding keyring")
    other = format_keyring({"client.k": {"key": generate_key(), "caps": {}}}).encode()
    assert add("client.k", inbuf=other) == (
        -errno.EEXIST, b"", "entity client.k exists but key does not match")
