"""cephx-style authentication without the wire crypto: entities, keys, keyrings, sessions.

Pure (no Ray, no threads); randomness and time are injected where they matter.

* Keys look and decode as Ceph's: base64 of a CryptoKey (u16 type 1 = AES, u32 seconds,
  u32 nanoseconds of creation, u16 length 16, then 16 random bytes), so every key starts
  with "AQ" and is 40 characters long. `decode_key` rejects anything else (EINVAL).
* Keyrings are Ceph's plain text format (`[client.admin]`, `key = ...`,
  `caps mon = "allow *"`), parsed and written by `parse_keyring` / `format_keyring`.
* Authentication is challenge/response: the monitor hands out a random challenge, the
  client answers HMAC-SHA256(secret, entity | challenge); a proof never contains the
  secret, and no message or exception here ever includes a key.
* A session (what a cephx ticket grants) binds a client instance id (gid) to an entity
  until `expires`; the monitor publishes the live sessions and every entity's OSD caps in
  the OSDMap as an `AuthView`, which is what OSDs check ops against.
"""
from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass, field

__all__ = [
    "AuthError", "generate_key", "decode_key", "valid_entity_name", "entity_sort_key",
    "parse_keyring", "format_keyring", "read_keyring_file", "write_keyring_file",
    "compute_proof", "verify_proof", "AuthView", "cluster_auth_mode", "client_secret",
    "DEFAULT_TICKET_TTL_S", "ADMIN_CAPS",
]

CRYPTO_AES = 1
SECRET_BYTES = 16
DEFAULT_TICKET_TTL_S = 3600.0            # Ceph's auth_service_ticket_ttl
ADMIN_CAPS = {"mds": "allow *", "mgr": "allow *", "mon": "allow *", "osd": "allow *"}
# Ceph's EntityName ordering is by type number, then id
_TYPE_RANK = {"auth": 0x20, "mon": 0x01, "mds": 0x02, "osd": 0x04, "client": 0x08, "mgr": 0x10}


class AuthError(Exception):
    """An authentication failure or bad auth input; `errno` is the positive Ceph errno.
    Messages name entities and files, never keys."""

    def __init__(self, err: int, message: str):
        super().__init__(message)
        self.errno = err
        self.message = message

    def __reduce__(self):
        return (type(self), (self.errno, self.message))

    def __str__(self) -> str:
        return self.message


# --- keys --------------------------------------------------------------------------------

def generate_key(random_bytes=os.urandom, now: float | None = None) -> str:
    """A new secret in Ceph's base64 CryptoKey encoding ("AQ...", 40 characters)."""
    stamp = time.time() if now is None else now
    sec = int(stamp)
    nsec = int((stamp - sec) * 1e9)
    blob = struct.pack("<HIIH", CRYPTO_AES, sec & 0xFFFFFFFF, nsec, SECRET_BYTES)
    return base64.b64encode(blob + random_bytes(SECRET_BYTES)).decode("ascii")


def decode_key(text) -> bytes:
    """The 16 secret bytes of a base64 CryptoKey; AuthError(EINVAL) for anything else."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str):
        raise AuthError(errno.EINVAL, "key must be a base64 string")
    try:
        blob = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(errno.EINVAL, "error decoding key: bad base64") from None
    if len(blob) < 12:
        raise AuthError(errno.EINVAL, "error decoding key: too short")
    kind, _sec, _nsec, length = struct.unpack_from("<HIIH", blob)
    if kind != CRYPTO_AES or length != SECRET_BYTES or len(blob) != 12 + SECRET_BYTES:
        raise AuthError(errno.EINVAL, "error decoding key: not an AES key")
    return blob[12:]


# --- entity names ------------------------------------------------------------------------

def valid_entity_name(name) -> bool:
    """Ceph's EntityName::from_str: `type.id` with a known type and a non-empty id."""
    if not isinstance(name, str):
        return False
    typ, dot, ident = name.partition(".")
    return bool(dot) and typ in _TYPE_RANK and bool(ident)


def entity_sort_key(name: str) -> tuple:
    typ, _, ident = name.partition(".")
    return (_TYPE_RANK.get(typ, 0xFF), ident)


# --- keyrings ----------------------------------------------------------------------------

def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_keyring(text: str, source: str = "<keyring>") -> dict[str, dict]:
    """{entity: {'key': str, 'caps': {service: caps}}} from Ceph's keyring text.

    AuthError(EINVAL) naming `source` and the line for a syntax error, an invalid entity
    name or a key that does not decode."""
    entries: dict[str, dict] = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"{source}:{lineno}"
        if line.startswith("["):
            if not line.endswith("]"):
                raise AuthError(errno.EINVAL, f"{where}: bad section header")
            name = line[1:-1].strip()
            if not valid_entity_name(name):
                raise AuthError(errno.EINVAL, f"{where}: bad entity name '{name}'")
            current = entries.setdefault(name, {"key": "", "caps": {}})
            continue
        if current is None or "=" not in line:
            raise AuthError(errno.EINVAL, f"{where}: expected 'key = value' in a section")
        key, _, value = line.partition("=")
        key = " ".join(key.split())
        value = _unquote(value)
        if key == "key":
            try:
                decode_key(value)
            except AuthError:
                raise AuthError(errno.EINVAL, f"{where}: bad key for this entity") from None
            current["key"] = value
        elif key.startswith("caps "):
            current["caps"][key[5:].strip()] = value
        # other keys (auid, ...) are ignored as Ceph ignores them
    return entries


def format_keyring(entries: dict[str, dict]) -> str:
    """Ceph's KeyRing::encode_plaintext: entities in order, caps sorted by service."""
    out = []
    for name in sorted(entries, key=entity_sort_key):
        entry = entries[name]
        out.append(f"[{name}]\n\tkey = {entry['key']}\n")
        for service in sorted(entry.get("caps") or {}):
            out.append(f'\tcaps {service} = "{entry["caps"][service]}"\n')
    return "".join(out)


def read_keyring_file(path: str) -> dict[str, dict]:
    with open(os.path.expanduser(path), encoding="utf-8") as f:
        return parse_keyring(f.read(), path)


def write_keyring_file(path: str, entries: dict[str, dict]) -> None:
    """Write a keyring readable by its owner only (as ceph-authtool does with 0600)."""
    path = os.path.expanduser(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(format_keyring(entries))


# --- challenge / response ----------------------------------------------------------------

def compute_proof(secret: bytes, entity: str, challenge: str) -> str:
    """The client's answer to a monitor challenge (hex HMAC-SHA256; reveals no secret)."""
    return hmac.new(secret, f"{entity}|{challenge}".encode(), hashlib.sha256).hexdigest()


def verify_proof(secret: bytes, entity: str, challenge: str, proof) -> bool:
    if not isinstance(proof, str):
        return False
    return hmac.compare_digest(compute_proof(secret, entity, challenge), proof)


# --- what OSDs see -----------------------------------------------------------------------

@dataclass
class AuthView:
    """The auth state carried in the OSDMap: no keys, only who is who and may do what.

    `sessions` {gid: (entity, expires)}; `osd_caps` {entity: caps text}."""
    mode: str = "cephx"
    sessions: dict = field(default_factory=dict)
    osd_caps: dict = field(default_factory=dict)

    def session(self, gid: int, now: float):
        """(entity, osd caps text) of a live session, or None (unknown or expired)."""
        entry = self.sessions.get(gid)
        if entry is None or entry[1] <= now:
            return None
        return entry[0], self.osd_caps.get(entry[0], "")


# --- configuration -----------------------------------------------------------------------

_KEYRING_DEFAULT_TAIL = ",/etc/ceph/keyring,/etc/ceph/keyring.bin,"
_AUTH_KEYS = ("auth_cluster_required", "auth_service_required", "auth_client_required")


def _methods(value) -> list[str]:
    return [m for m in (value or "").replace(",", " ").split() if m]


def cluster_auth_mode(conf) -> str:
    """'cephx' or 'none' for the cluster `conf` describes.

    `[rayceph] auth` decides when set to cephx or none. Otherwise rayceph departs from
    Ceph's defaults (which require cephx) so that clusters without keyrings keep working:
    cephx is on only when one of auth_cluster_required, auth_service_required or
    auth_client_required is set explicitly and lists cephx."""
    if conf is None:
        return "none"
    explicit = (conf.get("rayceph_auth") or "auto").strip()
    if explicit in ("cephx", "none"):
        return explicit
    for key in _AUTH_KEYS:
        if conf.is_set(key) and "cephx" in _methods(conf.get(key)):
            return "cephx"
    return "none"


def configured_keyring_path(conf) -> str | None:
    """The first path of `keyring` when the config names one (not Ceph's default list)."""
    value = conf.get("keyring") or ""
    if value.startswith("/etc/ceph/") and value.endswith(_KEYRING_DEFAULT_TAIL):
        return None                  # Ceph's default search list, whatever $name was
    paths = [p.strip() for p in value.split(",") if p.strip()]
    return os.path.expanduser(paths[0]) if paths else None


def client_secret(conf, entity: str) -> bytes:
    """The secret of `entity` as librados finds it: `key`, then `keyfile`, then the
    first existing file of `keyring` (Ceph's order of precedence).

    AuthError(ENOENT) when no keyring/key is found (librados' connect fails with -ENOENT
    then); AuthError(EINVAL) for a key that does not decode. Never includes the key."""
    key = (conf.get("key") or "").strip()
    if key:
        return decode_key(key)
    keyfile = (conf.get("keyfile") or "").strip()
    if keyfile:
        try:
            with open(os.path.expanduser(keyfile), encoding="utf-8") as f:
                return decode_key(f.read().strip())
        except OSError:
            raise AuthError(errno.ENOENT, f"unable to read keyfile {keyfile}") from None
    paths = [p.strip() for p in (conf.get("keyring") or "").split(",") if p.strip()]
    for path in paths:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            continue
        entries = read_keyring_file(path)
        if entity in entries and entries[entity]["key"]:
            return decode_key(entries[entity]["key"])
        raise AuthError(errno.ENOENT, f"no key for {entity} in keyring {path}")
    raise AuthError(errno.ENOENT, f"unable to find a keyring on {conf.get('keyring')}")


# --- the client side ---------------------------------------------------------------------

class ClientSession:
    """A connected client's cephx ticket: `ident` (gid, token) goes with every monitor
    command and call; OSDs know the gid from the map. `start_renewal` renews the ticket
    at half its lifetime on a daemon thread, as librados' MonClient renews tickets."""

    def __init__(self, call, entity: str, gid: int, token: str, expires: float,
                 clock=time.time):
        self._call = call
        self.entity = entity
        self.gid = gid
        self.ident = (gid, token)
        self.expires = expires
        self.clock = clock
        self._lifetime_s = max(expires - clock(), 0.0)
        self._stop = None
        self.renewals = 0
        self.last_error = 0

    def renew(self) -> int:
        """Renew now: 0, or -errno (the session is gone: deleted entity, expired)."""
        result = self._call("auth_call", "renew", *self.ident)
        if isinstance(result, int) and not isinstance(result, bool) and result < 0:
            self.last_error = result
            return result
        self.expires = float(result)
        self.renewals += 1
        return 0

    def start_renewal(self) -> None:
        import threading

        stop = self._stop = threading.Event()

        def loop():
            while not stop.is_set():
                wait_s = max(self.expires - self._lifetime_s / 2 - self.clock(), 0.05)
                if stop.wait(wait_s):
                    return
                try:
                    if self.renew() < 0:
                        return          # ops now fail EACCES, as with a revoked ticket
                except Exception:
                    stop.wait(0.5)      # monitor unreachable: try again shortly

        threading.Thread(target=loop, name=f"cephx-renew-{self.gid}", daemon=True).start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def logout(self) -> None:
        """Stop renewing and end the session at the monitor (best effort: it expires
        anyway), so maps do not carry sessions of clients that are gone."""
        self.stop()
        try:
            self._call("auth_call", "logout", *self.ident)
        except Exception:
            pass


def client_authenticate(conf, call, entity: str) -> ClientSession | None:
    """Authenticate `entity` with the monitor through `call(method, *args)` (MonClient's
    internal call). None when the cluster runs auth none; else a ClientSession.

    AuthError: ENOENT when no key is found locally (librados' connect fails -ENOENT),
    EINVAL for a key that does not decode, EACCES when the monitor refuses the proof
    (wrong key or unknown entity)."""
    if call("auth_call", "mode") != "cephx":
        return None
    secret = client_secret(conf, entity)
    challenge = call("auth_call", "challenge", entity)
    result = call("auth_call", "authenticate", entity, challenge,
                  compute_proof(secret, entity, challenge))
    if isinstance(result, int):
        raise AuthError(-result if result < 0 else errno.EACCES,
                        f"{entity}: authentication failed")
    gid, token, expires = result
    return ClientSession(call, entity, gid, token, expires)
