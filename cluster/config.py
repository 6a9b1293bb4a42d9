"""ceph.conf handling: the option table, INI parsing, argv/env parsing and validation.

Used by `rados.Rados.conf_*` and by the cluster bootstrap. Behaviour follows Pacific's
librados (checked against 16.2.15's python3-rados), with the deviations listed below.

Invariants:

* three layers, highest first: overrides (`set`, `parse_argv`, `parse_env`), the config
  file (sections looked up as `[type.id]` > `[type]` > `[rayceph]` > `[global]`), the
  option's default. `get` returns the canonical string of the first layer holding a valid
  value, with `$cluster`, `$name`, `$id`, `$type`, `$host`, `$pid` expanded;
* option names are normalised: runs of spaces, dashes and underscores are one `_`
  (`osd pool default size` == `osd_pool_default_size` == `osd-pool-default-size`); keys
  of the `[rayceph]` section are the `rayceph_*` options without the prefix;
* a value is stored canonically once parsed (`4K` -> `4096`, `1` -> `true` for bools,
  feature names -> their bit mask); an invalid value in a file is ignored as Ceph ignores
  it (the default stays) and recorded in `parse_errors`, an invalid value given to `set`
  raises `InvalidOptionValue` (a ValueError with errno EINVAL) naming the key;
* nothing here touches the network or Ray.

Deviations from librados, chosen on purpose: dashes in file keys are accepted (Ceph only
accepts them on the command line); `;` and `#` inside a quoted value are kept (Ceph
rejects the file); `parse_argv` also consumes `-c/--conf`, `--id/-i`, `--name/-n` and
`--cluster` (librados leaves them to the caller's global_init); `fsid` defaults to ''
(librados: the all-zero uuid) so that "no fsid configured" is falsy.
"""
from __future__ import annotations

import errno
import os
import pathlib
import re
import shlex
import socket
from dataclasses import dataclass
from typing import Any, Iterable, Optional

__all__ = [
    "Option", "OPTIONS", "RBD_FEATURE_BITS", "CephConfig", "ConfigError", "ConfigFileNotFound",
    "ConfigParseError", "UnknownOption", "InvalidOptionValue", "bundled_config_path",
    "normalize_key",
]

# --- errors ------------------------------------------------------------------------------


class ConfigError(Exception):
    """Base of the config errors; `errno` is the positive errno librados would return."""
    errno = errno.EINVAL


class ConfigFileNotFound(ConfigError, FileNotFoundError):
    """A config file that was named explicitly does not exist (errno ENOENT)."""
    errno = errno.ENOENT

    def __init__(self, path: str):
        FileNotFoundError.__init__(self, errno.ENOENT, "config file not found", str(path))
        self.path = str(path)

    def __reduce__(self):
        return (type(self), (self.path,))

    def __str__(self) -> str:
        return f"config file {self.path!r} not found"


class ConfigParseError(ConfigError, ValueError):
    """The file is not valid ceph.conf syntax (errno EINVAL); the message names file:line."""
    errno = errno.EINVAL


class UnknownOption(ConfigError, KeyError):
    """`set` of an option that is not in the table (errno ENOENT, like librados)."""
    errno = errno.ENOENT

    def __init__(self, option: str):
        KeyError.__init__(self, option)
        self.option = option

    def __str__(self) -> str:
        return f"unrecognized config option '{self.option}'"


class InvalidOptionValue(ConfigError, ValueError):
    """A value that does not parse for the option's type (errno EINVAL); names the key."""
    errno = errno.EINVAL

    def __init__(self, key: str, message: str):
        ValueError.__init__(self, f"{key}: {message}")
        self.key = key
        self.message = message

    def __reduce__(self):
        return (type(self), (self.key, self.message))


# --- the option table --------------------------------------------------------------------

RBD_FEATURE_BITS = {
    "layering": 1, "striping": 2, "exclusive-lock": 4, "object-map": 8, "fast-diff": 16,
    "deep-flatten": 32, "journaling": 64, "data-pool": 128, "operations": 256,
    "migrating": 512, "non-primary": 1024, "dirty-cache": 2048,
}


@dataclass(frozen=True)
class Option:
    """One known option. `type` is int, uint, float, bool, str, size, secs or features;
    `default` is the string librados reports; `choices` restricts str values; `min`/`max`
    bound numbers (checked by `set` and by `CephConfig.validate` for rayceph keys)."""
    name: str
    type: str
    default: str
    description: str
    choices: tuple = ()
    min: Optional[float] = None
    max: Optional[float] = None


def _opts(*rows) -> dict[str, Option]:
    return {row[0]: Option(*row) for row in rows}


_KEYRING_DEFAULT = ("/etc/ceph/$cluster.$name.keyring,/etc/ceph/$cluster.keyring,"
                    "/etc/ceph/keyring,/etc/ceph/keyring.bin,")

OPTIONS: dict[str, Option] = _opts(
    # identity and auth
    ("fsid", "str", "", "cluster fsid (uuid); '' = generate one at bootstrap"),
    ("mon_host", "str", "", "list of monitor addresses (unused: actors are found by name)"),
    ("keyring", "str", _KEYRING_DEFAULT, "paths of keyring files"),
    ("auth_client_required", "str", "cephx, none", "auth methods a client accepts"),
    ("auth_cluster_required", "str", "cephx", "auth methods daemons require of each other"),
    ("auth_service_required", "str", "cephx", "auth methods daemons require of clients"),
    ("key", "str", "", "the entity's secret (base64); takes precedence over keyring"),
    ("keyfile", "str", "", "file holding the entity's secret; takes precedence over keyring"),
    ("auth_service_ticket_ttl", "float", "3600.0", "seconds a session ticket is valid",
     (), 1, None),
    ("log_file", "str", "", "path of the log file ('' = none)"),
    ("log_to_stderr", "bool", "false", "log to stderr"),
    ("admin_socket", "str", "", "admin socket path"),
    ("run_dir", "str", "/var/run/ceph", "runtime directory"),
    # pools and placement
    ("osd_pool_default_size", "uint", "3", "replicas of a new pool", (), 0, 10),
    ("osd_pool_default_min_size", "uint", "0", "min_size of a new pool; 0 = size - size/2",
     (), 0, 255),
    ("osd_pool_default_pg_num", "uint", "32", "pg_num of a new pool", (), 1, 65536),
    ("osd_pool_default_pgp_num", "uint", "0", "pgp_num of a new pool; 0 = pg_num", (), 0, 65536),
    ("osd_pool_default_flag_hashpspool", "bool", "true", "new pools hash the PG seed with the pool id"),
    ("osd_pool_default_crush_rule", "int", "-1", "crush rule of a new pool; -1 = first replicated rule"),
    ("osd_pool_default_type", "str", "replicated", "type of a new pool", ("replicated", "erasure")),
    ("osd_pool_default_pg_autoscale_mode", "str", "on", "autoscale mode of a new pool",
     ("off", "warn", "on")),
    ("osd_crush_chooseleaf_type", "int", "1", "failure domain type id of the default rule", (), 0, 11),
    ("mon_allow_pool_delete", "bool", "false", "allow 'osd pool delete'"),
    ("mon_allow_pool_size_one", "bool", "false", "allow pools of size 1"),
    ("mon_max_pool_pg_num", "uint", "65536", "largest pg_num of a pool", (), 1, None),
    ("mon_max_pg_per_osd", "uint", "250", "PGs per in OSD above which pool creation fails", (), 1, None),
    ("mon_warn_on_pool_no_redundancy", "bool", "true", "warn about pools of size 1"),
    ("mon_osd_down_out_interval", "secs", "600", "seconds before a down OSD is marked out"),
    ("mon_osd_min_down_reporters", "uint", "2", "OSDs (from other hosts) that must report a "
     "peer before it is marked down", (), 1, None),
    ("mon_osd_report_timeout", "secs", "900", "seconds without a beacon before an OSD is down"),
    ("osd_heartbeat_grace", "int", "20", "seconds without heartbeat before an OSD is down"),
    ("osd_heartbeat_interval", "int", "6", "seconds between OSD heartbeats", (), 1, 86400),
    ("osd_max_backfills", "uint", "1", "concurrent backfills per OSD"),
    ("osd_backfill_scan_max", "uint", "16", "objects per backfill pull (Ceph's scan default is "
     "512; ours bounds one message)", (), 1, None),
    ("osd_recovery_max_active", "uint", "0", "concurrent recovery ops per OSD; 0 = by device type"),
    ("osd_objectstore", "str", "bluestore", "OSD object store (ours: see rayceph objectstore)"),
    ("memstore_device_bytes", "size", "1073741824", "capacity reported per memstore OSD"),
    # client
    ("rados_osd_op_timeout", "secs", "0", "seconds before an OSD op fails; 0 = wait forever"),
    ("rados_mon_op_timeout", "secs", "0", "seconds before a monitor op fails; 0 = forever"),
    ("client_mount_timeout", "secs", "300", "seconds to wait for the cluster at connect"),
    # rbd
    ("rbd_default_features", "features", "61", "features of a new image (names or a number)"),
    ("rbd_default_order", "uint", "22", "object size bits of a new image"),
    ("rbd_default_format", "uint", "2", "image format of a new image"),
    ("rbd_default_clone_format", "str", "auto", "clone format", ("1", "2", "auto")),
    ("rbd_default_stripe_unit", "size", "0", "stripe unit of a new image; 0 = object size"),
    ("rbd_default_stripe_count", "uint", "0", "stripe count of a new image; 0 = 1"),
    ("rbd_default_data_pool", "str", "", "data pool of a new image"),
    ("rbd_default_pool", "str", "rbd", "pool used when none is given"),
    ("rbd_validate_names", "bool", "true", "reject image names with '/' or '@'"),
    ("rbd_validate_pool", "bool", "true", "validate empty pools for RBD compatibility"),
    ("rbd_cache", "bool", "true", "client-side cache"),
    ("rbd_move_to_trash_on_remove", "bool", "false", "remove moves the image to the trash"),
    ("rbd_move_parent_to_trash_on_remove", "bool", "false", "removing a parent moves it to the trash"),
    ("rbd_mirroring_max_mirroring_snapshots", "uint", "5", "mirror snapshots kept per image", (), 3, None),
    ("rbd_request_timed_out_seconds", "int", "30", "seconds before a lock request times out"),
    ("rbd_blocklist_on_break_lock", "bool", "true", "blocklist the owner when breaking a lock"),
    ("rbd_blocklist_expire_seconds", "uint", "0", "blocklist duration; 0 = the OSD default"),
    ("rbd_skip_partial_discard", "bool", "true", "skip discards that do not cover whole objects"),
    ("rbd_concurrent_management_ops", "uint", "10", "concurrent object ops of management calls", (), 1, None),
    # the simulation ([rayceph] section, written there without the prefix)
    ("rayceph_ray_address", "str", "local",
     "'local' (embedded Ray), 'inprocess' (no Ray), 'auto' or a Ray address"),
    ("rayceph_cluster_name", "str", "$cluster", "actors are <name>.mon, <name>.osd.<id>"),
    ("rayceph_hosts", "int", "3", "hosts of the generated CRUSH map", (), 1, None),
    ("rayceph_osds_per_host", "int", "1", "OSDs per generated host", (), 1, None),
    ("rayceph_objectstore", "str", "memstore", "object store of the OSDs", ("memstore", "lmdb")),
    ("rayceph_osd_data", "str", "", "root of the lmdb OSD stores (osd.<id> below it); "
     "empty = a temp dir per cluster"),
    ("rayceph_pools", "str", "rbd", "comma list of pools created at bootstrap"),
    ("rayceph_crush_map", "str", "", "crushtool text map replacing the generated hierarchy"),
    ("rayceph_osds_per_actor", "int", "1", "OSD cores hosted by one Ray actor", (), 1, None),
    ("rayceph_op_batch_window_us", "int", "0", "microseconds an OSD waits to batch ops", (), 0, None),
    ("rayceph_messenger", "str", "socket", "client/OSD transport", ("socket", "ray")),
    ("rayceph_auth", "str", "auto", "cephx, none, or auto (cephx when an auth_*_required "
     "key set explicitly lists cephx)", ("auto", "cephx", "none")),
)

_RAYCEPH_PREFIX = "rayceph_"
# The entity the metavariables and the section lookup describe; not options: librados'
# conf_get returns None for them, but `set` accepts them as identity changes.
_IDENTITY_KEYS = ("cluster", "name", "id", "type")
_ENTITY_TYPES = ("client", "mon", "osd", "mgr", "mds")
_SECTION_RE = re.compile(r"^\[\s*([^\]]*?)\s*\]\s*(?:[;#].*)?$")
_METAVAR_RE = re.compile(r"\$(\{(\w+)\}|(\w+))")
_SI = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_TRUE = ("true",)
_FALSE = ("false",)


def normalize_key(key: str) -> str:
    """Ceph's key normalisation (plus dashes): runs of ' ', '-', '_' become one '_'."""
    return re.sub(r"[\s_\-]+", "_", key.strip())


def bundled_config_path(name: str = "default") -> str:
    """Path of `configs/<name>.conf` shipped in the repository (the package is installed
    from it). Raises ConfigFileNotFound if there is no such bundled config."""
    path = pathlib.Path(__file__).resolve().parent.parent / "configs" / f"{name}.conf"
    if not path.is_file():
        raise ConfigFileNotFound(str(path))
    return str(path)


# --- value parsing -----------------------------------------------------------------------


def _parse_int(text: str, si: bool = True) -> int:
    """Integer with an optional SI/IEC suffix (K, M, G, T, P, E, each optionally followed
    by 'i' or 'B'), as Ceph's strict_si_cast / strict_iecstrtoll accept."""
    m = re.fullmatch(r"([+-]?\d+)([KMGTPE]?)(i|B)?", text)
    if not m or (not si and m.group(2)) or (m.group(3) and not m.group(2)):
        raise ValueError(f"Expected option value to be integer, got '{text}'")
    return int(m.group(1)) * (1024 ** _SI[m.group(2)])


def _parse_features(text: str) -> int:
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
    else:
        value = 0
        for name in text.split(","):
            name = name.strip()
            if name not in RBD_FEATURE_BITS:
                raise ValueError(f"ignoring unknown feature {name}")
            value |= RBD_FEATURE_BITS[name]
    if value & ~sum(RBD_FEATURE_BITS.values()):
        raise ValueError(f"unknown feature bits in {value}")
    return value


def parse_value(opt: Option, value: Any) -> str:
    """The canonical string of `value` for `opt`; ValueError (plain) if it does not parse."""
    text = value if isinstance(value, str) else _to_text(value)
    kind = opt.type
    if kind == "str":
        if opt.choices and text not in opt.choices:
            raise ValueError(f"'{text}' is not one of {', '.join(opt.choices)}")
        return text
    if kind == "bool":
        low = text.strip().lower()
        if low in _TRUE:
            return "true"
        if low in _FALSE:
            return "false"
        if re.fullmatch(r"[+-]?\d+", low):
            return "true" if int(low) else "false"
        raise ValueError(f"Expected option value to be boolean, got '{text}'")
    if kind == "features":
        return str(_parse_features(text))
    if kind == "float":
        try:
            number: float = float(text)
        except ValueError:
            raise ValueError(f"Expected option value to be a float, got '{text}'") from None
    elif kind in ("int", "uint", "size", "secs"):
        number = _parse_int(text, si=kind in ("int", "uint", "size"))
        if kind != "int" and number < 0:
            raise ValueError(f"Expected option value to be non-negative, got '{text}'")
    else:                                               # pragma: no cover - table typo
        raise ValueError(f"unknown option type {kind}")
    if opt.min is not None and number < opt.min:
        raise ValueError(f"must be >= {_fmt_num(opt.min)}")
    if opt.max is not None and number > opt.max:
        raise ValueError(f"must be <= {_fmt_num(opt.max)}")
    return repr(number) if kind == "float" else str(number)


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def typed_value(opt: Option, canonical: str) -> Any:
    """The canonical string as a Python value of the option's type."""
    if opt.type == "bool":
        return canonical == "true"
    if opt.type in ("int", "uint", "size", "secs", "features"):
        return int(canonical)
    if opt.type == "float":
        return float(canonical)
    return canonical


# --- the INI reader ----------------------------------------------------------------------


def _unquote(raw: str, where: str) -> str:
    """The value part of `key = value`: quoted ('...' or "..." with backslash escapes, only
    a comment may follow) or unquoted (ends at an unescaped ; or #, trailing spaces
    dropped, `\\;` `\\#` unescaped)."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote, out, i = raw[0], [], 1
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            if c == quote:
                rest = raw[i + 1:].strip()
                if rest and rest[0] not in ";#":
                    raise ConfigParseError(f"{where}: text after the closing quote")
                return "".join(out)
            out.append(c)
            i += 1
        raise ConfigParseError(f"{where}: unterminated quote")
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw) and raw[i + 1] in ";#\\":
            out.append(raw[i + 1])
            i += 2
            continue
        if c in ";#":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def parse_ini(text: str, source: str = "<string>") -> dict[str, dict[str, str]]:
    """{section: {normalised key: raw value}}; sections of the same name merge, the last
    value of a key wins. ConfigParseError (naming source:line) for a key outside any
    section, a line without '=', or a broken quote."""
    sections: dict[str, dict[str, str]] = {}
    current: Optional[dict[str, str]] = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i]
        # a trailing backslash continues the line (Ceph joins with the next one)
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        where = f"{source}:{lineno}"
        m = _SECTION_RE.match(stripped)
        if m:
            name = m.group(1).strip()
            if not name:
                raise ConfigParseError(f"{where}: empty section name")
            current = sections.setdefault(name, {})
            continue
        if "=" not in stripped:
            raise ConfigParseError(f"{where}: expected 'key = value'")
        if current is None:
            raise ConfigParseError(f"{where}: key outside of any section")
        key, _, raw = stripped.partition("=")
        key = normalize_key(key)
        if not key:
            raise ConfigParseError(f"{where}: empty key")
        current[key] = _unquote(raw, where)
    return sections


# --- CephConfig --------------------------------------------------------------------------


class CephConfig:
    """A client's (or daemon's) configuration: defaults, one config file, overrides.

    `name` is the entity (`client.admin`, `osd.3`, ...) whose sections are looked up;
    `cluster` the cluster name used by `$cluster` and the default file search.
    """

    def __init__(self, name: str = "client.admin", cluster: str = "ceph"):
        self._overrides: dict[str, str] = {}
        self._file: dict[str, dict[str, str]] = {}
        self.source_files: list[str] = []
        self.parse_errors: list[str] = []
        self.cluster = cluster
        self.type, self.id = "client", "admin"
        self.set_entity(name)

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"{self.type}.{self.id}"

    def set_entity(self, name: str) -> None:
        """Set the entity as `type.id` (a bare id means `client.<id>`). ValueError for an
        unknown entity type."""
        name = str(name)
        typ, dot, ident = name.partition(".")
        if not dot:
            typ, ident = "client", name
        if typ not in _ENTITY_TYPES or not ident:
            raise InvalidOptionValue("name", f"invalid entity name '{name}'")
        self.type, self.id = typ, ident

    def _sections(self) -> list[str]:
        return [self.name, self.type, "rayceph", "global"]

    # -- reading --------------------------------------------------------------------------
    def read_file(self, path) -> None:
        """Read a ceph.conf file, replacing the values of any file read before.

        Raises ConfigFileNotFound (errno ENOENT) if it does not exist, ConfigParseError
        (errno EINVAL) on a syntax error (nothing is changed then)."""
        path = os.fspath(path)
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ConfigFileNotFound(path) from None
        except IsADirectoryError:
            raise ConfigFileNotFound(path) from None
        self.parse_text(text, source=path)
        self.source_files.append(os.path.abspath(os.path.expanduser(path)))

    def parse_text(self, text: str, source: str = "<string>") -> None:
        """Parse ceph.conf text as `read_file` does (same replacement and errors)."""
        sections = parse_ini(text, source)
        errors: list[str] = []
        stored: dict[str, dict[str, str]] = {}
        for section, values in sections.items():
            target = stored.setdefault(section, {})
            for key, raw in values.items():
                key = self._section_key(section, key)
                target[key] = raw
                opt = OPTIONS.get(key)
                if opt is not None:
                    try:
                        parse_value(opt, self._expand(raw) if opt.type != "str" else raw)
                    except ValueError as exc:
                        # Ceph warns and keeps the default; `validate` reports rayceph keys
                        errors.append(f"[{section}] {key}: {exc}")
        self._file = stored
        self.parse_errors = errors

    @staticmethod
    def _section_key(section: str, key: str) -> str:
        if section == "rayceph" and not key.startswith(_RAYCEPH_PREFIX):
            prefixed = _RAYCEPH_PREFIX + key
            if prefixed in OPTIONS or key not in OPTIONS:
                return prefixed
        return key

    # -- lookups --------------------------------------------------------------------------
    def get(self, option: str) -> Optional[str]:
        """The option's value as librados' conf_get gives it (canonical string,
        metavariables expanded), or None if the option is unknown."""
        key = normalize_key(str(option))
        opt = OPTIONS.get(key)
        if opt is None:
            return None
        return self._expand(self._raw_value(opt))

    def get_typed(self, option: str) -> Any:
        """`get` converted to int / float / bool / str by the option's type. UnknownOption
        if the option is not in the table."""
        key = normalize_key(str(option))
        opt = OPTIONS.get(key)
        if opt is None:
            raise UnknownOption(str(option))
        return typed_value(opt, self.get(key))

    def is_set(self, option: str) -> bool:
        """True if the value comes from a file or an override rather than the default."""
        key = normalize_key(str(option))
        if key in self._overrides:
            return True
        return any(key in self._file.get(s, {}) for s in self._sections())

    def _raw_value(self, opt: Option) -> str:
        if opt.name in self._overrides:
            return self._overrides[opt.name]
        for section in self._sections():
            raw = self._file.get(section, {}).get(opt.name)
            if raw is None:
                continue
            try:
                return parse_value(opt, raw if opt.type == "str" else self._expand(raw))
            except ValueError:
                continue                         # invalid in the file: Ceph keeps looking
        return opt.default

    def _expand(self, value: str) -> str:
        if "$" not in value:
            return value
        variables = {"cluster": self.cluster, "name": self.name, "id": self.id,
                     "type": self.type, "host": socket.gethostname().split(".")[0],
                     "pid": str(os.getpid())}

        def repl(m: re.Match) -> str:
            var = m.group(2) or m.group(3)
            if var in variables:
                return variables[var]
            opt = OPTIONS.get(var)
            if opt is not None and opt.type == "str" and "$" + var not in opt.default:
                return self._raw_value(opt)      # $run_dir and friends, one level deep
            return m.group(0)

        return _METAVAR_RE.sub(repl, value)

    # -- changing -------------------------------------------------------------------------
    def set(self, option: str, value) -> None:
        """Override an option. UnknownOption (errno ENOENT) for a name not in the table;
        InvalidOptionValue (ValueError, errno EINVAL, message starts with the key) for a
        value that does not parse. `cluster`, `name`, `id` and `type` change the entity."""
        key = normalize_key(str(option))
        if key in _IDENTITY_KEYS:
            self._set_identity(key, _to_text(value))
            return
        opt = OPTIONS.get(key)
        if opt is None:
            raise UnknownOption(str(option))
        try:
            self._overrides[key] = parse_value(opt, value)
        except ValueError as exc:
            raise InvalidOptionValue(key, str(exc)) from None

    def _set_identity(self, key: str, value: str) -> None:
        if key == "cluster":
            if not value:
                raise InvalidOptionValue("cluster", "must not be empty")
            self.cluster = value
        elif key == "name":
            self.set_entity(value)
        elif key == "id":
            if not value:
                raise InvalidOptionValue("id", "must not be empty")
            self.id = value
        else:
            self.set_entity(f"{value}.{self.id}")

    def parse_argv(self, args: Iterable[str]) -> list[str]:
        """Apply the options in `args` and return the others in order.

        `--opt value`, `--opt=value` (dashes or underscores), `--opt` alone for a bool
        (true) and `--no-opt` (false); `-c/--conf FILE`, `--name/-n`, `--id/-i`,
        `--cluster`. Parsing stops at `--` (it and what follows are returned). Unknown
        options are returned with whatever follows them. Raises InvalidOptionValue for a
        missing or bad value, ConfigFileNotFound for a missing -c file."""
        args = [a if isinstance(a, str) else _to_text(a) for a in args]
        rest: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                rest.extend(args[i:])
                break
            flag, eq, inline = arg.partition("=")
            identity = {"-c": "conf", "--conf": "conf", "-n": "name", "--name": "name",
                        "-i": "id", "--id": "id", "--cluster": "cluster"}.get(flag)
            if identity is not None:
                if eq:
                    value = inline
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    raise InvalidOptionValue(identity, f"Option {flag} requires an argument.")
                if identity == "conf":
                    self.read_file(value)
                else:
                    self._set_identity(identity, value)
                i += 1
                continue
            if not flag.startswith("--") or len(flag) <= 2:
                rest.append(arg)
                i += 1
                continue
            key = normalize_key(flag[2:])
            negated = False
            if key not in OPTIONS and key.startswith("no_") and key[3:] in OPTIONS:
                key, negated = key[3:], True
            opt = OPTIONS.get(key)
            if opt is None:
                rest.append(arg)
                i += 1
                continue
            if negated:
                if opt.type != "bool" or eq:
                    rest.append(arg)
                    i += 1
                    continue
                self._overrides[key] = "false"
                i += 1
                continue
            if eq:
                value = inline
            elif opt.type == "bool":
                nxt = args[i + 1].lower() if i + 1 < len(args) else ""
                if nxt in ("true", "false") or re.fullmatch(r"\d+", nxt):
                    i += 1
                    value = args[i]
                else:
                    value = "true"
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                raise InvalidOptionValue(key, f"Option --{key} requires an argument.")
            self.set(key, value)
            i += 1
        return rest

    def parse_env(self, var: str = "CEPH_ARGS") -> None:
        """`parse_argv` of the shell-split environment variable `var` (unset/empty: no-op);
        arguments it does not know are ignored."""
        text = os.environ.get(var, "")
        if text.strip():
            self.parse_argv(shlex.split(text))

    def search_default_files(self) -> Optional[str]:
        """The config file librados would read when none is named, or None.

        Ceph's order (common/config.cc, get_conffile_list): if $CEPH_CONF is set, only
        that file; otherwise the first existing of $data_dir/config (daemons only),
        /etc/ceph/$cluster.conf, ~/.ceph/$cluster.conf, ./$cluster.conf."""
        env = os.environ.get("CEPH_CONF")
        if env:
            return env if os.path.isfile(os.path.expanduser(env)) else None
        for candidate in (f"/etc/ceph/{self.cluster}.conf",
                          os.path.expanduser(f"~/.ceph/{self.cluster}.conf"),
                          f"{self.cluster}.conf"):
            if os.path.isfile(candidate):
                return candidate
        return None

    # -- export and validation ------------------------------------------------------------
    def to_dict(self) -> dict[str, str]:
        """{option: value} of every known option, as `get` returns them (so that
        `CephConfig().set(k, v)` for each item reproduces this configuration)."""
        values = {name: self.get(name) for name in OPTIONS}
        if values.get("rayceph_auth") == "auto":
            # `auto` depends on which keys were set explicitly, which a copy of every
            # value loses: hand over the decision instead
            from cluster.auth import cluster_auth_mode
            values["rayceph_auth"] = cluster_auth_mode(self)
        return values

    def validate(self) -> None:
        """Check the values the cluster bootstrap depends on; raises ValueError naming the
        key (`hosts: must be >= 1`). Checks every `[rayceph]` key (unknown keys and invalid
        values in the file included) and the pool defaults."""
        for section in ("rayceph",):
            for key in self._file.get(section, {}):
                if key not in OPTIONS:
                    shown = key[len(_RAYCEPH_PREFIX):] if key.startswith(_RAYCEPH_PREFIX) else key
                    raise InvalidOptionValue(shown, "unknown [rayceph] option")
        for name, opt in OPTIONS.items():
            if not name.startswith(_RAYCEPH_PREFIX) and not name.startswith("osd_pool_default"):
                continue
            shown = name[len(_RAYCEPH_PREFIX):].replace("_", " ") \
                if name.startswith(_RAYCEPH_PREFIX) else name
            raw = self._overrides.get(name)
            if raw is None:
                for section in self._sections():
                    raw = self._file.get(section, {}).get(name)
                    if raw is not None:
                        break
            if raw is None:
                continue
            try:
                parse_value(opt, raw if opt.type == "str" else self._expand(raw))
            except ValueError as exc:
                raise InvalidOptionValue(shown, str(exc)) from None
        size = self.get_typed("osd_pool_default_size")
        min_size = self.get_typed("osd_pool_default_min_size")
        pg_num = self.get_typed("osd_pool_default_pg_num")
        pgp_num = self.get_typed("osd_pool_default_pgp_num")
        if not 1 <= size <= 10:
            raise InvalidOptionValue("osd_pool_default_size", "must be between 1 and 10")
        if min_size > size:
            raise InvalidOptionValue("osd_pool_default_min_size",
                                     f"must be <= osd_pool_default_size ({size})")
        if pgp_num > pg_num:
            raise InvalidOptionValue("osd_pool_default_pgp_num",
                                     f"must be <= osd_pool_default_pg_num ({pg_num})")
        pools = self.pool_names()
        if len(set(pools)) != len(pools):
            raise InvalidOptionValue("pools", "a pool is listed twice")
        if not self.get("rayceph_cluster_name"):
            raise InvalidOptionValue("cluster name", "must not be empty")

    def pool_names(self) -> list[str]:
        """The `[rayceph] pools` list (comma or space separated, empties dropped)."""
        return [p for p in re.split(r"[,\s]+", self.get("rayceph_pools") or "") if p]

    def __repr__(self) -> str:
        return (f"CephConfig(name={self.name!r}, cluster={self.cluster!r}, "
                f"files={self.source_files!r}, overrides={len(self._overrides)})")
