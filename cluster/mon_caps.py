"""Ceph's monitor capability grammar and check (MonCap), and cap validation for `auth`.

Pure. Mon caps: `allow *`, `allow [r][w][x]`, `allow service NAME RWX`,
`allow command "PREFIX" [with K=V ...]`, `[allow] profile NAME`, each optionally
`network CIDR`. Invariants (as Ceph's MonCap):

* a malformed string raises osd.caps.CapsParseError (EINVAL) naming where parsing stopped:
  "mon capability parse failed, stopped at '<rest>' of '<text>'";
* permissions add up across grants; blanket grants (`allow r`, ...) never open the
  `config-key` service, only `allow *` or a grant naming it does;
* unknown profiles parse and grant nothing; a command grant allows everything its command
  needs when its arguments match.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from osd.caps import CapsParseError, _Fail, _Scan, _addr_in, _network, _parse_list, \
    parse_osd_caps

__all__ = ["MonCap", "parse_mon_caps", "valid_caps", "MON_R", "MON_W", "MON_X", "MON_ANY"]

MON_R, MON_W, MON_X = 1, 2, 4
MON_ANY = 0xFF


@dataclass(frozen=True)
class MonGrant:
    allow: int = 0
    service: str = ""
    command: str = ""
    command_args: tuple = ()           # ((key, kind, value)), kind: 'eq' | 'prefix' | 'regex'
    profile: str = ""
    network: object = None

    def allowed(self, service: str, command: str, args: dict) -> int:
        if self.profile:
            bits = 0
            for g in _mon_profile(self.profile):
                bits |= g.allowed(service, command, args)
            return bits
        if self.service:
            return self.allow if self.service == service else 0
        if self.command:
            if self.command != command:
                return 0
            for key, kind, value in self.command_args:
                have = args.get(key)
                if have is None:
                    return 0
                have = str(have)
                if kind == "eq" and have != value:
                    return 0
                if kind == "prefix" and not have.startswith(value):
                    return 0
                if kind == "regex" and not re.search(value, have):
                    return 0
            return MON_ANY
        if service == "config-key":
            return 0
        return self.allow


_BLOCKLIST_ADD = (("blocklistop", "eq", "add"), ("addr", "regex", r"^[^/]+/[0-9]+$"))
_BLACKLIST_ADD = (("blacklistop", "eq", "add"), ("addr", "regex", r"^[^/]+/[0-9]+$"))


def _mon_profile(name: str) -> tuple:
    """Ceph's mon profiles that matter to clients; unknown ones grant nothing."""
    readers = (MonGrant(MON_R, "mon"), MonGrant(MON_R, "osd"), MonGrant(MON_R, "pg"))
    blocklist = (MonGrant(command="osd blocklist", command_args=_BLOCKLIST_ADD),
                 MonGrant(command="osd blacklist", command_args=_BLACKLIST_ADD))
    if name in ("rbd", "simple-rados-client-with-blocklist"):
        return readers + blocklist
    if name == "simple-rados-client":
        return readers
    if name in ("rbd-mirror", "rbd-mirror-peer"):
        return readers + blocklist + (
            MonGrant(command="config-key get", command_args=(("key", "prefix", "rbd/mirror/"),)),
        )
    return ()


def _mon_rwxa(scan: _Scan) -> int:
    allow = scan.rwx(MON_ANY, MON_R, MON_W, MON_X)
    if not allow:
        raise _Fail()
    return allow


def _mon_grant(scan: _Scan) -> MonGrant:
    scan.spaces(required=False)

    def rwxa():
        scan.lit("allow")
        return MonGrant(allow=_mon_rwxa(scan))

    def profile():
        scan.try_(lambda: (scan.lit("allow"), scan.spaces()))
        scan.lit("profile")
        scan.eq_or_spaces()
        return MonGrant(profile=scan.string())

    def service():
        scan.lit("allow")
        scan.spaces()
        scan.lit("service")
        scan.eq_or_spaces()
        name = scan.string()
        return MonGrant(allow=_mon_rwxa(scan), service=name)

    def command():
        scan.lit("allow")
        scan.spaces()
        scan.lit("command")
        scan.eq_or_spaces()
        prefix = scan.string()
        args = scan.try_(lambda: _mon_with(scan)) or ()
        return MonGrant(command=prefix, command_args=args)

    for alternative in (rwxa, profile, service, command):
        got = scan.try_(alternative)
        if got is not None:
            network = _network(scan)
            if network is not None:
                got = MonGrant(got.allow, got.service, got.command, got.command_args,
                               got.profile, network)
            return got
    raise _Fail()


def _mon_with(scan: _Scan) -> tuple:
    scan.spaces()
    scan.lit("with")
    args = []
    while True:
        def pair():
            scan.spaces()
            key = scan.string()
            for op, kind in (("==", "eq"), ("=", "eq"), (" prefix ", "prefix"),
                             (" regex ", "regex")):
                if scan.text.startswith(op, scan.pos):
                    scan.pos += len(op)
                    return key, kind, scan.string()
            raise _Fail()
        got = scan.try_(pair)
        if got is None:
            break
        args.append(got)
    if not args:
        raise _Fail()
    return tuple(args)


@dataclass(frozen=True)
class MonCap:
    text: str
    grants: tuple = field(default_factory=tuple)

    def is_allow_all(self) -> bool:
        return any(g.allow == MON_ANY and not (g.service or g.command or g.profile)
                   for g in self.grants)

    def is_capable(self, service: str, command: str = "", args: dict | None = None,
                   read: bool = False, write: bool = False, execute: bool = False,
                   addr: str = "127.0.0.1:0/0") -> bool:
        """Ceph's MonCap::is_capable: permissions add up over the grants in order."""
        args = args or {}
        bits = 0
        for g in self.grants:
            if not _addr_in(addr, g.network):
                continue
            if g.allow == MON_ANY and not (g.service or g.command or g.profile):
                return True
            bits |= g.allowed(service, command, args)
            if (not read or bits & MON_R) and (not write or bits & MON_W) and \
                    (not execute or bits & MON_X):
                return True
        return False


@functools.lru_cache(maxsize=1024)
def parse_mon_caps(text: str) -> MonCap:
    """Parse mon caps (CapsParseError, errno EINVAL, on bad grammar). '' grants nothing."""
    if isinstance(text, str) and not text.strip():
        return MonCap(text, ())
    return MonCap(text, tuple(_parse_list("mon", text, _mon_grant,
                                          separators=r"[ \t]*[;,][ \t]*")))


def valid_caps(service: str, text: str) -> None:
    """Check one `caps SERVICE = TEXT` pair as Ceph's AuthMonitor::valid_caps does:
    mon and osd caps are parsed; mgr and mds caps are accepted as Ceph accepts them without
    `mon_auth_validate_all_caps`; another service -> CapsParseError."""
    if service == "mon":
        parse_mon_caps(text)
    elif service == "osd":
        parse_osd_caps(text)
    elif service not in ("mgr", "mds"):
        raise CapsParseError(f"unknown cap type '{service}'")
    elif not isinstance(text, str):
        raise CapsParseError(f"{service} capability must be a string")
