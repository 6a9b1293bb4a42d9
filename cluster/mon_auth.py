"""The monitor's auth service (Ceph's AuthMonitor): the key database, sessions, the
`auth ...` commands and the cap checks of every command and internal call.

Pure: the monitor core owns one `AuthMonitor` (see `attach`) and calls it; the clock and
the random source are injected. Invariants:

* in auth `none` every caller may do everything and no session is needed (as before);
* in `cephx` a client is a session (gid, token) created by `authenticate` after a
  challenge/response proof (cluster/auth.py); its commands and internal calls come through
  `rpc` and fail -EACCES without a live session, a command the entity's mon caps do not allow fails -EACCES
  "access denied" (Ceph's Monitor::handle_command), a pool op they do not allow -EPERM
  (Ceph's enforce_pool_op_caps); the hosts' own commands (`handle_command` called
  directly, session OPERATOR: rayceph status, fault injection) are Ceph's admin socket
  and are not checked;
* every change of entities, caps or sessions is published in the OSDMap as an
  `AuthView` (no keys in it), so OSDs check ops against the same state; `auth del` and
  `auth caps` take effect at once (Ceph: at the next ticket renewal);
* no output, message or log line contains a key except the outputs of the commands that
  exist to show keys (`auth get`, `auth print-key`, `auth get-or-create`, `auth ls`).
"""
from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass

from osd.caps import CapsParseError, parse_osd_caps

from .auth import (ADMIN_CAPS, DEFAULT_TICKET_TTL_S, AuthError, AuthView, cluster_auth_mode,
                   configured_keyring_path, decode_key, entity_sort_key, format_keyring,
                   generate_key, parse_keyring, read_keyring_file, valid_entity_name,
                   verify_proof, write_keyring_file)
from .mon_caps import parse_mon_caps, valid_caps
from .mon_format import _Args, _einval, dumps

__all__ = ["AuthMonitor", "COMMAND_CAPS"]

CHALLENGE_TTL_S = 30.0

# (service, read, write, execute) per command, from Ceph's MonCommands.h
_R, _RW, _RX, _X, _RWX = (1, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 1), (1, 1, 1)
COMMAND_CAPS: dict[str, tuple[str, tuple]] = {}
for _names, _svc, _perm in (
    ("status|-s|s|health|df|fsid|version|mon dump|log last", "mon", _R),
    ("log", "mon", _RW),
    ("osd dump|osd tree|osd ls|osd stat|osd map|osd lspools|osd pool ls|osd pool get|"
     "osd pool get-quota|osd pool application get|osd pool stats|osd crush dump|"
     "osd crush tree|osd crush rule ls|osd crush rule list|osd crush rule dump|"
     "osd getcrushmap|osd blocklist ls|osd blacklist ls", "osd", _R),
    ("osd pool create|osd pool delete|osd pool rm|osd pool set|osd pool set-quota|"
     "osd pool application enable|osd pool application disable|osd pool application set|"
     "osd pool application rm|osd pool mksnap|osd pool rmsnap|osd pool rename|osd down|"
     "osd up|osd out|osd in|osd reweight|osd primary-affinity|osd set|osd unset|"
     "osd blocklist|osd blacklist", "osd", _RW),
    ("pg dump|pg stat|pg map|pg ls", "pg", _R),
    ("service dump", "mgr", _R),
    ("config-key get|config-key exists|config-key ls|config-key list|config-key dump",
     "config-key", _R),
    ("config-key set|config-key put|config-key del|config-key rm", "config-key", _RW),
    ("config get|config dump", "config", _R),
    ("config set|config rm", "config", _RW),
    ("auth get|auth get-key|auth print-key|auth print_key|auth export", "auth", _RX),
    ("auth ls|auth list", "auth", _X),
    ("auth add|auth get-or-create|auth get-or-create-key|auth caps|auth del|auth rm|"
     "auth import", "auth", _RWX),
):
    for _name in _names.split("|"):
        COMMAND_CAPS[_name] = (_svc, _perm)

# internal calls of the client library: (mon service, perms) or a pool rule
_CALL_CAPS = {
    "pool_create": ("osd", _RW), "pool_delete": ("osd", _RW),
    "pool_snap_create": ("osd", _RW), "pool_snap_remove": ("osd", _RW),
    "set_osd_state": ("osd", _RW), "health": ("mon", _R), "events": ("mon", _R),
    "namespace_list": ("osd", _R), "alloc_gid": None, "service_daemon_register": None,
    "service_daemon_update": None,
}
_POOL_WRITE_CALLS = ("selfmanaged_snap_create", "selfmanaged_snap_remove", "namespace_add",
                     "namespace_remove")


# What the monitor's hosts pass for their own commands (rayceph status, fault injection):
# Ceph's admin socket, outside cephx. Clients always come through `rpc` with a session.
OPERATOR = "operator"


def _client_session(session):
    """A client's session as given; anything but a (gid, token) pair is no session."""
    return tuple(session) if isinstance(session, (list, tuple)) and len(session) == 2 else None


@dataclass
class _Session:
    entity: str
    token: str
    expires: float


class AuthMonitor:
    """Entities {name: {'key', 'caps'}}, live sessions and pending challenges."""

    def __init__(self, mode: str = "none", clock=time.time, ticket_ttl_s: float =
                 DEFAULT_TICKET_TTL_S, random_bytes=os.urandom, publish=None):
        self.mode = mode
        self.clock = clock
        self.ticket_ttl_s = ticket_ttl_s
        self.random_bytes = random_bytes
        self.entities: dict[str, dict] = {}
        self.sessions: dict[int, _Session] = {}
        self._challenges: dict[str, tuple[str, float]] = {}
        self._publish = publish or (lambda view: None)

    # -- wiring into the monitor core -----------------------------------------------------
    @classmethod
    def attach(cls, mon, conf) -> "AuthMonitor":
        """The auth service of MonitorCore `mon` for cluster config `conf` (None: auth
        none). In cephx, client.admin exists with `allow *` everywhere; a keyring file
        the config names is read first (its entities are imported) and written back with
        client.admin if it lacked it, as a cephadm bootstrap leaves one."""
        mode = cluster_auth_mode(conf)
        ttl = DEFAULT_TICKET_TTL_S
        if conf is not None and conf.get("auth_service_ticket_ttl"):
            ttl = float(conf.get("auth_service_ticket_ttl"))

        def publish(view: AuthView) -> None:
            m = mon._pending()
            m.auth = view
            mon._publish(m)

        auth = cls(mode, mon.clock, ttl, publish=publish)
        if mode == "cephx":
            auth._bootstrap(configured_keyring_path(conf))
            mon._osdmap.auth = auth.view()     # the first map already carries it
        return auth

    def _bootstrap(self, keyring_path: str | None) -> None:
        if keyring_path and os.path.isfile(keyring_path):
            for name, entry in read_keyring_file(keyring_path).items():
                if entry["key"]:
                    self.entities[name] = {"key": entry["key"], "caps": dict(entry["caps"])}
        admin = self.entities.get("client.admin")
        if admin is None:
            self.entities["client.admin"] = {"key": generate_key(self.random_bytes,
                                                                 self.clock()),
                                             "caps": dict(ADMIN_CAPS)}
            if keyring_path:
                wanted = {}
                if os.path.isfile(keyring_path):
                    wanted = read_keyring_file(keyring_path)
                wanted["client.admin"] = self.entities["client.admin"]
                write_keyring_file(keyring_path, wanted)
        elif not admin["caps"]:
            admin["caps"] = dict(ADMIN_CAPS)

    def view(self) -> AuthView:
        now = self.clock()
        return AuthView(self.mode,
                        {gid: (s.entity, s.expires) for gid, s in self.sessions.items()
                         if s.expires > now},
                        {name: e["caps"].get("osd", "") for name, e in self.entities.items()})

    def _changed(self) -> None:
        if self.mode == "cephx":
            self._publish(self.view())

    # -- authentication ---------------------------------------------------------------------
    def rpc(self, mon, op: str, *args):
        """The one internal entry clients use: mode | challenge | authenticate | renew |
        logout | command | call. Returns what the operation returns (ints are -errno)."""
        if op == "mode":
            return self.mode
        if op == "challenge":
            return self.challenge(*args)
        if op == "authenticate":
            return self.authenticate(mon, *args)
        if op == "renew":
            return self.renew(*args)
        if op == "logout":
            return self.logout(*args)
        if op == "command":
            session, cmd, inbuf = (list(args) + [b""])[:3]
            return mon.handle_command(cmd, inbuf, session=_client_session(session))
        if op == "call":
            session, method, rest = _client_session(args[0]), args[1], args[2:]
            if not isinstance(method, str) or method.startswith("_") or \
                    method == "auth_call" or not callable(getattr(mon, method, None)):
                return -errno.EINVAL
            ret = self.check_call(mon, session, method, rest)
            if ret:
                return ret
            return getattr(mon, method)(*rest)
        return -errno.EINVAL

    def challenge(self, entity) -> str:
        """A one-time challenge for `entity` (always given: an unknown entity learns
        nothing here, its proof fails later)."""
        now = self.clock()
        self._challenges = {c: v for c, v in self._challenges.items() if v[1] > now}
        nonce = self.random_bytes(16).hex()
        self._challenges[nonce] = (str(entity), now + CHALLENGE_TTL_S)
        return nonce

    def authenticate(self, mon, entity, challenge, proof):
        """(gid, token, expires) for a correct proof; -EACCES otherwise (unknown entity,
        wrong key, stale or reused challenge), as Ceph's cephx service answers."""
        pending = self._challenges.pop(challenge, None) if isinstance(challenge, str) else None
        if pending is None or pending[0] != entity or pending[1] <= self.clock():
            return -errno.EACCES
        known = self.entities.get(entity)
        if known is None or not verify_proof(decode_key(known["key"]), entity, challenge, proof):
            return -errno.EACCES
        gid = mon.alloc_gid()
        token = self.random_bytes(16).hex()
        now = self.clock()
        expires = now + self.ticket_ttl_s
        self.sessions = {g: s for g, s in self.sessions.items() if s.expires > now}
        self.sessions[gid] = _Session(entity, token, expires)
        self._changed()
        return gid, token, expires

    def renew(self, gid, token):
        """A renewed ticket: the new expiry, or -EACCES (session gone, entity deleted)."""
        session = self._live(gid, token)
        if session is None or session.entity not in self.entities:
            return -errno.EACCES
        session.expires = self.clock() + self.ticket_ttl_s
        self._changed()
        return session.expires

    def logout(self, gid, token) -> int:
        """End a session (the client shut down): 0, or -EACCES if it was not live."""
        if self._live(gid, token) is None:
            return -errno.EACCES
        del self.sessions[gid]
        self._changed()
        return 0

    def _live(self, gid, token) -> _Session | None:
        session = self.sessions.get(gid) if type(gid) is int else None
        if session is None or session.token != token or session.expires <= self.clock():
            return None
        return session

    def caller(self, session) -> tuple[str, dict] | None:
        """(entity, caps) of a live session (gid, token), else None."""
        if not isinstance(session, (list, tuple)) or len(session) != 2:
            return None
        live = self._live(session[0], session[1])
        if live is None or live.entity not in self.entities:
            return None
        return live.entity, self.entities[live.entity]["caps"]

    # -- cap checks -------------------------------------------------------------------------
    def check_command(self, session, prefix: str, args: dict):
        """None when allowed, else the (ret, outbuf, outs) reply to send."""
        if self.mode != "cephx" or session == OPERATOR:
            return None
        caller = self.caller(session)
        if caller is None:
            return -errno.EACCES, b"", "access denied"
        service, (r, w, x) = COMMAND_CAPS.get(prefix, ("mon", _RWX))
        moncap = _mon_cap(caller[1].get("mon", ""))
        if moncap.is_capable(service, prefix, args, bool(r), bool(w), bool(x)):
            return None
        return -errno.EACCES, b"", "access denied"

    def check_call(self, mon, session, method: str, args) -> int:
        """0 when `session` may make internal call `method`, else -EACCES (no session)
        or -EPERM (caps)."""
        if self.mode != "cephx":
            return 0
        caller = self.caller(session)
        if caller is None:
            return -errno.EACCES
        entity, caps = caller
        moncap = _mon_cap(caps.get("mon", ""))
        if method in _POOL_WRITE_CALLS:
            # Ceph's is_unmanaged_snap_op_permitted: mon osd w, or osd rw on the pool
            if moncap.is_capable("osd", "", {}, True, True, False):
                return 0
            pool = mon.get_osdmap().pools.get(args[0]) if args else None
            osdcap = _osd_cap(caps.get("osd", ""))
            if pool is not None and osdcap.allows_pool_write(pool.name):
                return 0
            return -errno.EPERM
        if method not in _CALL_CAPS:
            return 0 if moncap.is_allow_all() else -errno.EPERM
        rule = _CALL_CAPS[method]
        if rule is None:
            return 0
        service, (r, w, x) = rule
        return 0 if moncap.is_capable(service, "", {}, bool(r), bool(w), bool(x)) \
            else -errno.EPERM

    # -- the `auth` commands ----------------------------------------------------------------
    def command_table(self) -> dict:
        t = {"auth get-or-create": self._get_or_create,
             "auth get-or-create-key": self._get_or_create,
             "auth get": self._get, "auth export": self._get,
             "auth caps": self._caps, "auth del": self._del, "auth rm": self._del,
             "auth ls": self._ls, "auth list": self._ls, "auth add": self._add,
             "auth print-key": self._print_key, "auth print_key": self._print_key,
             "auth get-key": self._print_key}
        return {prefix: (lambda fn, p: lambda a, inbuf: fn(p, a, inbuf))(fn, prefix)
                for prefix, fn in t.items()}

    def _entity(self, a: _Args) -> str:
        name = a.str("entity", required=True)
        if not valid_entity_name(name):
            raise _einval("bad entity name")
        return name

    @staticmethod
    def _wanted_caps(a: _Args) -> dict:
        caps = a.cmd.get("caps", [])
        if isinstance(caps, str):
            caps = caps.split()
        if not isinstance(caps, list) or len(caps) % 2:
            raise _einval("bad capabilities request; odd number of arguments")
        wanted = {}
        for service, text in zip(caps[::2], caps[1::2]):
            try:
                valid_caps(str(service), text)
            except CapsParseError as exc:
                raise _einval(str(exc)) from None
            wanted[str(service)] = text
        return wanted

    @staticmethod
    def _keyring_out(a: _Args, entries: dict, with_caps_plain: bool = True):
        if a.fmt() == "plain":
            shown = entries if with_caps_plain else {
                n: {"key": e["key"], "caps": {}} for n, e in entries.items()}
            return format_keyring(shown).encode()
        return dumps([{"entity": n, "key": e["key"], "caps": dict(sorted(e["caps"].items()))}
                      for n, e in sorted(entries.items(), key=lambda i: entity_sort_key(i[0]))],
                     a.fmt())

    def _get_or_create(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        wanted = self._wanted_caps(a)
        entry = self.entities.get(entity)
        if entry is not None:
            for service, text in wanted.items():
                if entry["caps"].get(service) != text:
                    return (-errno.EINVAL, b"",
                            f"key for {entity} exists but cap {service} does not match")
        else:
            entry = self.entities[entity] = {"key": generate_key(self.random_bytes,
                                                                 self.clock()),
                                             "caps": wanted}
            self._changed()
        if prefix == "auth get-or-create-key":
            if a.fmt() == "plain":
                return 0, entry["key"].encode(), ""
            return 0, dumps({"key": entry["key"]}, a.fmt()), ""
        return 0, self._keyring_out(a, {entity: entry}, with_caps_plain=False), ""

    def _get(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        entry = self.entities.get(entity)
        if entry is None:
            return -errno.ENOENT, b"", f"failed to find {entity} in keyring"
        return 0, self._keyring_out(a, {entity: entry}), f"exported keyring for {entity}"

    def _print_key(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        entry = self.entities.get(entity)
        if entry is None:
            return -errno.ENOENT, b"", f"don't have {entity}"
        if a.fmt() == "plain":
            return 0, entry["key"].encode(), ""
        return 0, dumps({"key": entry["key"]}, a.fmt()), ""

    def _caps(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        if entity not in self.entities:
            return -errno.ENOENT, b"", f"couldn't find entry {entity}"
        wanted = self._wanted_caps(a)
        self.entities[entity]["caps"] = wanted
        self._changed()
        return 0, b"", f"updated caps for {entity}"

    def _del(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        if entity not in self.entities:
            return 0, b"", f"entity {entity} does not exist"
        del self.entities[entity]
        for gid in [g for g, s in self.sessions.items() if s.entity == entity]:
            del self.sessions[gid]
        self._changed()
        return 0, b"", "updated"

    def _ls(self, prefix: str, a: _Args, inbuf: bytes):
        names = sorted(self.entities, key=entity_sort_key)
        if a.fmt() != "plain":
            doc = {"auth_dump": [{"entity": n, "key": self.entities[n]["key"],
                                  "caps": dict(sorted(self.entities[n]["caps"].items()))}
                                 for n in names]}
            return 0, dumps(doc, a.fmt()), ""
        out = []
        for n in names:
            out.append(f"{n}\n\tkey: {self.entities[n]['key']}\n")
            for service, text in sorted(self.entities[n]["caps"].items()):
                out.append(f"\tcaps: [{service}] {text}\n")
        text = "".join(out)
        return 0, text.encode(), ("installed auth entries:\n" if text
                                  else "no installed auth entries!\n")

    def _add(self, prefix: str, a: _Args, inbuf: bytes):
        entity = self._entity(a)
        wanted = self._wanted_caps(a)
        key = None
        if inbuf:
            try:
                given = parse_keyring(inbuf.decode("utf-8", "replace"), "<input>")
            except AuthError:
                return -errno.EINVAL, b"", "error decoding keyring"
            if entity not in given or not given[entity]["key"]:
                return -errno.EINVAL, b"", f"key for {entity} not found in provided keyring"
            if wanted and given[entity]["caps"]:
                return -errno.EINVAL, b"", "caps cannot be specified both in keyring and in command"
            for service, text in given[entity]["caps"].items():
                try:
                    valid_caps(service, text)
                except CapsParseError as exc:
                    return -errno.EINVAL, b"", str(exc)
            wanted = wanted or dict(given[entity]["caps"])
            key = given[entity]["key"]
        existing = self.entities.get(entity)
        if existing is not None:
            if key is not None and existing["key"] != key:
                return -errno.EEXIST, b"", f"entity {entity} exists but key does not match"
            for service in set(wanted) | set(existing["caps"]):
                if existing["caps"].get(service) != wanted.get(service):
                    return (-errno.EEXIST, b"",
                            f"entity {entity} exists but cap {service} does not match")
            return 0, b"", ""
        self.entities[entity] = {"key": key or generate_key(self.random_bytes, self.clock()),
                                 "caps": wanted}
        self._changed()
        return 0, b"", f"added key for {entity}"


def _mon_cap(text: str):
    try:
        return parse_mon_caps(text)
    except CapsParseError:
        return parse_mon_caps("")          # a cap that no longer parses grants nothing


def _osd_cap(text: str):
    try:
        return parse_osd_caps(text)
    except CapsParseError:
        return parse_osd_caps("")
