"""Ceph's OSD capability grammar and the OSD's cap checks (mon caps: cluster/mon_caps.py).

Pure: strings in, decisions out. OSD caps (`OsdCap`): grants of `r`, `w`, `x`,
`class-read`, `class-write`, `*` or `class NAME [METHOD]`, limited by `pool=`,
`namespace=` (a trailing `*` is a prefix), `object_prefix`, `tag APP KEY=VALUE` and
`network CIDR`; `profile rbd` and `profile rbd-read-only` (optionally `pool=` /
`namespace=`) expand to Ceph's grants.

Invariants (as Ceph's OSDCap):

* a malformed string raises `CapsParseError` (errno EINVAL) whose message names where
  parsing stopped: "osd capability parse failed, stopped at '<rest>' of '<text>'";
* an OSD request is allowed when one grant matches the object and allows every plain read
  and write the request makes, and every class method it calls is allowed by some
  matching grant; object-class calls never need plain `r`/`w` (Ceph's CALL is no read);
* unknown profiles parse and grant nothing.
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import re
from dataclasses import dataclass, field

__all__ = [
    "CapsParseError", "OsdCap", "parse_osd_caps", "request_needs", "check_request",
    "check_listing", "CAP_R", "CAP_W", "CAP_X", "CAP_CLS_R", "CAP_CLS_W", "CAP_ANY",
]

CAP_R, CAP_W, CAP_CLS_R, CAP_CLS_W = 1, 2, 4, 8
CAP_X = CAP_CLS_R | CAP_CLS_W
CAP_ANY = 0xFF


class CapsParseError(ValueError):
    """A cap string that does not follow Ceph's grammar (errno EINVAL)."""
    errno = errno.EINVAL


# --- a tiny scanner, shared with the mon caps grammar -------------------------------------------------

_WORD = re.compile(r"[a-zA-Z0-9_.\-/]+")
_SPACES = re.compile(r"\s+")


class _Fail(Exception):
    pass


class _Scan:
    def __init__(self, text: str, pos: int = 0):
        self.text, self.pos = text, pos

    def spaces(self, required: bool = True) -> None:
        m = _SPACES.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        elif required:
            raise _Fail()

    def lit(self, word: str) -> None:
        if not self.text.startswith(word, self.pos):
            raise _Fail()
        self.pos += len(word)

    def rwx(self, any_bits: int, r: int, w: int, x: int) -> int:
        """`*` (any_bits) or any run of the letters r, w, x; 0 when neither is here."""
        self.spaces()
        if self.text.startswith("*", self.pos):
            self.pos += 1
            return any_bits
        allow = 0
        for letter, bit in (("r", r), ("w", w), ("x", x)):
            if self.text.startswith(letter, self.pos):
                self.pos += 1
                allow |= bit
        return allow

    def try_(self, fn):
        """Run fn; on failure restore the position and return None (PEG backtracking)."""
        saved = self.pos
        try:
            return fn()
        except _Fail:
            self.pos = saved
            return None

    def string(self, allow_empty: bool = False) -> str:
        """A quoted string or an unquoted word (Ceph's `str`/`estr`)."""
        text, pos = self.text, self.pos
        if pos < len(text) and text[pos] in "\"'":
            end = text.find(text[pos], pos + 1)
            if end < 0:
                raise _Fail()
            self.pos = end + 1
            return text[pos + 1:end]
        m = _WORD.match(text, pos)
        if not m:
            if allow_empty:
                return ""
            raise _Fail()
        self.pos = m.end()
        return m.group(0)

    def eq_or_spaces(self) -> None:
        if self.text.startswith("=", self.pos):
            self.pos += 1
        else:
            self.spaces()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)


def _parse_list(kind: str, text: str, grant_fn, separators: str = r"\s*[;,]\s*"):
    """`grant (sep grant)*` covering the whole text, else CapsParseError naming the rest."""
    if not isinstance(text, str):
        raise CapsParseError(f"{kind} capability must be a string")
    scan = _Scan(text)
    grants = []
    sep = re.compile(separators)
    first = scan.try_(lambda: grant_fn(scan))
    if first is not None:
        grants.append(first)
        while True:
            saved = scan.pos
            m = sep.match(text, scan.pos)
            if not m:
                break
            scan.pos = m.end()
            nxt = scan.try_(lambda: grant_fn(scan))
            if nxt is None:
                scan.pos = saved
                break
            grants.append(nxt)
    if not scan.at_end() or not grants and text.strip():
        rest = text[scan.pos:]
        raise CapsParseError(
            f"{kind} capability parse failed, stopped at '{rest}' of '{text}'")
    return grants


def _network(scan: _Scan):
    def parse():
        scan.spaces()
        scan.lit("network")
        scan.spaces()
        word = scan.string()
        try:
            return ipaddress.ip_network(word, strict=False)
        except ValueError:
            raise _Fail() from None
    return scan.try_(parse)


def _addr_in(addr: str, network) -> bool:
    if network is None:
        return True
    host = (addr or "").rsplit("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False


# --- OSD caps -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OsdMatch:
    """Which objects a grant covers. None = any; `nspace_prefix` when the cap ended in '*'."""
    pool: str | None = None
    nspace: str | None = None
    nspace_prefix: bool = False
    object_prefix: str = ""
    tag: tuple | None = None           # (application, key, value); '*' matches anything

    def matches(self, pool: str, nspace: str, app_metadata: dict, oid: str) -> bool:
        if self.tag is not None:
            app, key, value = self.tag
            apps = app_metadata or {}
            if app == "*":
                metas = list(apps.values())
            else:
                metas = [apps[app]] if app in apps else []
            if not any((key == "*" and (value == "*" or value in meta.values()))
                       or (key in meta and value in ("*", meta[key])) for meta in metas):
                return False
        if self.pool is not None and self.pool != pool:
            return False
        if self.nspace is not None:
            if self.nspace_prefix:
                if not nspace.startswith(self.nspace):
                    return False
            elif self.nspace != nspace:
                return False
        return oid.startswith(self.object_prefix)


@dataclass(frozen=True)
class OsdGrant:
    """`allow SPEC MATCH`, or a profile (then `profile_grants` holds its expansion)."""
    match: OsdMatch = OsdMatch()
    allow: int = 0
    class_name: str = ""
    method_name: str = ""
    profile: str = ""
    profile_grants: tuple = ()
    network: object = None

    def is_capable(self, pool, nspace, app_metadata, oid, may_read, may_write, classes,
                   class_allowed, addr) -> bool:
        if not _addr_in(addr, self.network):
            return False
        if self.profile:
            return any(g.is_capable(pool, nspace, app_metadata, oid, may_read, may_write,
                                    classes, class_allowed, addr) for g in self.profile_grants)
        if not self.match.matches(pool, nspace, app_metadata, oid):
            return False
        allow = self.allow
        if (may_read and not allow & CAP_R) or (may_write and not allow & CAP_W):
            return False
        if classes:
            if allow == CAP_ANY:
                return True
            for i, (cls, method, reads, writes) in enumerate(classes):
                if self.class_name and cls == self.class_name and \
                        (not self.method_name or method == self.method_name):
                    class_allowed[i] = True
                    continue
                if (reads and not allow & CAP_CLS_R) or (writes and not allow & CAP_CLS_W):
                    continue
                class_allowed[i] = True
            if not all(class_allowed):
                return False
        return True


def _rbd_profile(name: str, match: OsdMatch) -> tuple:
    """Ceph's expansion of `profile rbd` / `profile rbd-read-only` (OSDCapGrant)."""
    pool_only = OsdMatch(pool=match.pool)
    if name == "rbd":
        return (
            OsdGrant(OsdMatch(object_prefix="rbd_info"), CAP_R),
            OsdGrant(OsdMatch(object_prefix="rbd_children"), CAP_CLS_R),
            OsdGrant(OsdMatch(object_prefix="rbd_mirroring"), CAP_CLS_R),
            OsdGrant(pool_only, 0, "rbd", "metadata_list"),
            OsdGrant(match, CAP_R | CAP_W | CAP_X),
        )
    if name == "rbd-read-only":
        return (
            OsdGrant(match, CAP_R | CAP_CLS_R),
            OsdGrant(OsdMatch(match.pool, match.nspace, match.nspace_prefix, "rbd_header."),
                     0, "rbd", "child_attach"),
            OsdGrant(OsdMatch(match.pool, match.nspace, match.nspace_prefix, "rbd_header."),
                     0, "rbd", "child_detach"),
        )
    return ()


def _osd_rwxa(scan: _Scan) -> int:
    allow = scan.rwx(CAP_ANY, CAP_R, CAP_W, CAP_X)
    if allow == CAP_ANY:
        return allow
    if allow:
        # letters then optional class words: "rwx", "r class-read"
        for word, bit in (("class-read", CAP_CLS_R), ("class-write", CAP_CLS_W)):
            got = scan.try_(lambda w=word: (scan.spaces(), scan.lit(w)))
            if got is not None:
                allow |= bit
        return allow
    for word, bit in (("class-read", CAP_CLS_R), ("class-write", CAP_CLS_W)):
        if scan.text.startswith(word, scan.pos):
            scan.pos += len(word)
            allow |= bit
            if word == "class-read":
                got = scan.try_(lambda: (scan.spaces(), scan.lit("class-write")))
                if got is not None:
                    allow |= CAP_CLS_W
            return allow
    raise _Fail()


def _osd_capspec(scan: _Scan) -> tuple[int, str, str]:
    allow = scan.try_(lambda: _osd_rwxa(scan))
    if allow is not None:
        return allow, "", ""

    def class_spec():
        scan.spaces()
        scan.lit("class")
        scan.spaces()
        cls = scan.string()
        method = scan.try_(lambda: (scan.spaces(), scan.string())[1]) or ""
        return 0, cls, method
    got = scan.try_(class_spec)
    if got is None:
        raise _Fail()
    return got


def _osd_pool(scan: _Scan):
    def parse():
        scan.spaces()
        scan.lit("pool")
        scan.eq_or_spaces()
        return scan.string()
    return scan.try_(parse)


def _osd_nspace(scan: _Scan):
    def parse():
        scan.spaces()
        scan.lit("namespace")
        scan.eq_or_spaces()
        ns = scan.string(allow_empty=True)
        star = scan.text.startswith("*", scan.pos)
        if star:
            scan.pos += 1
        return ns, star
    return scan.try_(parse)


def _osd_match(scan: _Scan) -> OsdMatch:
    def tag():
        scan.spaces()
        scan.lit("tag")
        scan.spaces()
        app = scan.string()
        scan.spaces()
        key = scan.string()
        scan.lit("=")
        value = scan.string()
        return OsdMatch(tag=(app, key, value))
    got = scan.try_(tag)
    if got is not None:
        return got
    pool = nspace = None
    first_ns = _osd_nspace(scan)
    if first_ns is not None:
        nspace = first_ns
        pool = _osd_pool(scan)
    else:
        pool = _osd_pool(scan)
        nspace = _osd_nspace(scan)
    prefix = ""
    if first_ns is None:
        def object_prefix():
            scan.spaces()
            scan.lit("object_prefix")
            scan.spaces()
            return scan.string()
        prefix = scan.try_(object_prefix) or ""
    ns, star = nspace if nspace is not None else (None, False)
    return OsdMatch(pool=pool, nspace=ns, nspace_prefix=star, object_prefix=prefix)


def _osd_grant(scan: _Scan) -> OsdGrant:
    scan.spaces(required=False)

    def allow_spec_match():
        scan.lit("allow")
        allow, cls, method = _osd_capspec(scan)
        return allow, cls, method, _osd_match(scan)

    def allow_match_spec():
        scan.lit("allow")
        match = _osd_match(scan)
        allow, cls, method = _osd_capspec(scan)
        return allow, cls, method, match

    def profile():
        scan.try_(lambda: (scan.lit("allow"), scan.spaces()))
        scan.lit("profile")
        scan.eq_or_spaces()
        name = scan.string()
        pool = _osd_pool(scan)
        nspace = _osd_nspace(scan)
        ns, star = nspace if nspace is not None else (None, False)
        match = OsdMatch(pool=pool, nspace=ns, nspace_prefix=star)
        return OsdGrant(match, profile=name, profile_grants=_rbd_profile(name, match))

    for alternative in (allow_spec_match, allow_match_spec):
        got = scan.try_(alternative)
        if got is not None:
            allow, cls, method, match = got
            network = _network(scan)
            scan.spaces(required=False)
            return OsdGrant(match, allow, cls, method, network=network)
    got = scan.try_(profile)
    if got is None:
        raise _Fail()
    network = _network(scan)
    scan.spaces(required=False)
    if network is not None:
        got = OsdGrant(got.match, profile=got.profile, profile_grants=got.profile_grants,
                       network=network)
    return got


@dataclass(frozen=True)
class OsdCap:
    """Parsed OSD caps; `text` is what was parsed."""
    text: str
    grants: tuple = field(default_factory=tuple)

    def is_capable(self, pool: str, nspace: str, oid: str, may_read: bool, may_write: bool,
                   classes=(), app_metadata: dict | None = None,
                   addr: str = "127.0.0.1:0/0") -> bool:
        """Whether a request on `pool`/`nspace`/`oid` that reads (`may_read`), writes
        (`may_write`) and calls `classes` [(class, method, reads, writes)] is allowed."""
        class_allowed = [False] * len(classes)
        return any(g.is_capable(pool, nspace, app_metadata or {}, oid, may_read, may_write,
                                list(classes), class_allowed, addr) for g in self.grants)

    def allows_pool_write(self, pool: str) -> bool:
        """Whether some grant allows reading and writing objects of `pool` in some
        namespace (Ceph's test for self-managed snapshot ops sent to the monitor)."""
        def walk(grants):
            for g in grants:
                if g.profile:
                    if walk(g.profile_grants):
                        return True
                    continue
                if g.match.pool not in (None, pool) or g.match.tag is not None:
                    continue
                if g.match.object_prefix:
                    continue
                if g.allow & CAP_R and g.allow & CAP_W:
                    return True
            return False
        return walk(self.grants)


@functools.lru_cache(maxsize=1024)
def parse_osd_caps(text: str) -> OsdCap:
    """Parse OSD caps (CapsParseError, errno EINVAL, on bad grammar). '' grants nothing."""
    if isinstance(text, str) and not text.strip():
        return OsdCap(text, ())
    return OsdCap(text, tuple(_parse_list("osd", text, _osd_grant)))


# --- what an OSD request needs --------------------------------------------------------------

_READ_OPS = frozenset({
    "read", "sparse_read", "stat", "getxattr", "getxattrs", "omap_get_vals", "omap_get_keys",
    "omap_get_vals_by_keys", "omap_get_header", "list_snaps", "list_watchers", "cmpext",
    "cmpxattr", "omap_cmp", "assert_exists", "assert_version", "notify",
})


def request_needs(ops, method_flags) -> tuple[bool, bool, list]:
    """(may_read, may_write, classes) of an op list, as Ceph's OpInfo derives them.

    `method_flags(cls, method) -> (reads, writes) | None`: an unknown method adds no class
    (the op then fails EOPNOTSUPP when it runs, as Ceph fails it before the cap check)."""
    from osd.messages import WRITE_OPS

    may_read = may_write = False
    classes = []
    for op in ops:
        if not isinstance(op, (tuple, list)) or not op:
            continue
        name = op[0]
        if name in WRITE_OPS:
            may_write = True
        elif name == "call":
            if len(op) >= 3 and isinstance(op[1], str) and isinstance(op[2], str):
                flags = method_flags(op[1], op[2])
                if flags is not None:
                    classes.append((op[1], op[2], flags[0], flags[1]))
        elif name in _READ_OPS:
            may_read = True
        else:
            may_read = True            # unknown ops fail EOPNOTSUPP later; never a free pass
    return may_read, may_write, classes


def _method_flags(cls: str, method: str):
    from osd.cls import RD, WR, lookup

    found = lookup(cls, method)
    if found is None:
        return None
    return bool(found.flags & RD), bool(found.flags & WR)


def check_request(osdmap, req, now: float) -> int:
    """0 when the client of `req` may run it, else -EACCES (no live cephx session: never
    authenticated, ticket expired, entity deleted) or -EPERM (its OSD caps do not allow
    it, as Ceph's OSD answers). Auth none (no `auth` view in the map) allows everything."""
    view = getattr(osdmap, "auth", None)
    if view is None or view.mode != "cephx":
        return 0
    gid = req.reqid[0]
    found = view.session(gid, now)
    if found is None:
        return -errno.EACCES
    pool = osdmap.pools.get(req.pool)
    if pool is None:
        return 0                       # the op fails ENOENT anyway
    try:
        cap = parse_osd_caps(found[1])
    except CapsParseError:
        return -errno.EPERM
    may_read, may_write, classes = request_needs(req.ops, _method_flags)
    from osd.cls import client_addr

    if cap.is_capable(pool.name, req.nspace, req.oid, may_read, may_write, classes,
                      getattr(pool, "application_metadata", None), client_addr(gid)):
        return 0
    return -errno.EPERM


def check_listing(osdmap, gid, pool_id: int, nspace: str, now: float) -> int:
    """0 when client `gid` may list objects of `pool_id` in `nspace` (ALL_NSPACES: every
    namespace, which namespace-limited caps do not cover), else -EACCES / -EPERM as for
    ops: Ceph's PGLS needs `r` on the pool and namespace."""
    view = getattr(osdmap, "auth", None)
    if view is None or view.mode != "cephx":
        return 0
    found = view.session(gid, now) if type(gid) is int else None
    if found is None:
        return -errno.EACCES
    pool = osdmap.pools.get(pool_id)
    if pool is None:
        return 0
    try:
        cap = parse_osd_caps(found[1])
    except CapsParseError:
        return -errno.EPERM
    from osd.cls import client_addr

    if cap.is_capable(pool.name, nspace, "", True, False, (),
                      getattr(pool, "application_metadata", None), client_addr(gid)):
        return 0
    return -errno.EPERM
