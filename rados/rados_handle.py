"""Rados: a cluster handle (librados' rados_t) with its configuration and connection state.

State machine, as in Ceph's binding: "configuring" (conf_* calls; `connect()`) →
"connected" (everything; `shutdown()`) → "shutdown" (nothing). A call made in a state that
does not allow it raises RadosStateError; `with Rados(...) as r:` connects on enter and
shuts down on exit.

Configuration order: `conf_defaults`, then `conffile`, then `conf`. `conffile=None` or
NO_CONF_FILE reads nothing; `''` or DEFAULT_CONF_FILES searches $CEPH_CONF and the default
paths; a named file that does not exist raises ObjectNotFound ("error calling
conf_read_file"), as librados' -ENOENT does. When no file was read, `connect()` reaches the
embedded default cluster (rados/client.py decides that from the configuration).

Pool calls read the client's OSDMap, refreshing it when a name is not found (librados'
lookup_pool does the same), and change pools with the monitor's JSON commands.
"""
from __future__ import annotations

import errno
import json
import threading

from rados import _args
from rados._rados_extras import RadosExtrasMixin
from rados.completion import Finisher
from rados.constants import (
    ANONYMOUS_AUID, LIBRADOS_VER_EXTRA, LIBRADOS_VER_MAJOR, LIBRADOS_VER_MINOR,
)
from rados.errors import Error, RadosStateError, errno_of, make_ex
from rados.objects import Version

__all__ = ["Rados"]

ENTITY_TYPES = ("auth", "mon", "osd", "mds", "mgr", "client")


def _client_connect(conf, entity: str, timeout: float):
    """The ClusterClient for `conf` (tests replace this with a fake)."""
    from rados.client import connect
    return connect(conf, entity, timeout)


def _new_conf(name: str, cluster: str):
    from cluster.config import CephConfig
    return CephConfig(name=name, cluster=cluster or "ceph")


class Rados(RadosExtrasMixin):
    """A handle on one cluster: `Rados(rados_id=None, name=None, clustername=None,
    conf_defaults=None, conffile=NO_CONF_FILE, conf=None, flags=0, context=None)`."""

    NO_CONF_FILE = -1
    DEFAULT_CONF_FILES = -2

    def __init__(self, rados_id=None, name=None, clustername=None, conf_defaults=None,
                 conffile=NO_CONF_FILE, conf=None, flags=0, context=None):
        self.monitor_callback = None
        self.monitor_callback2 = None
        self.parsed_args = []
        self.conf_defaults = conf_defaults
        self.conffile = conffile
        self.rados_id = rados_id
        self._client_obj = None
        self._finisher = Finisher()
        self._lock = threading.RLock()
        self._conf_files_read: list = []
        self._service = None
        self._monlog = None

        if rados_id and name:
            raise Error("Rados(): can't supply both rados_id and name")
        elif rados_id:
            name = "client." + rados_id
        elif name is None:
            name = "client.admin"
        if clustername is None:
            clustername = ""
        name = _args.to_str(name, "name")
        clustername = _args.to_str(clustername, "clustername")
        _args.sint(flags, "int")
        entity_type, dot, _ = name.partition(".")
        if not dot or entity_type not in ENTITY_TYPES:
            raise Error("rados_initialize failed with error code: %d" % -errno.EINVAL)
        self._entity = name
        self._clustername = clustername
        try:
            self._conf = _new_conf(name, clustername)
        except ValueError:
            raise Error("rados_initialize failed with error code: %d" % -errno.EINVAL) from None
        self.state = "configuring"
        # order is important: conf_defaults, then conffile, then conf
        if conf_defaults:
            for key, value in conf_defaults.items():
                self.conf_set(key, value)
        if conffile in (self.NO_CONF_FILE, None):
            pass
        elif conffile in (self.DEFAULT_CONF_FILES, ""):
            self.conf_read_file(None)
        else:
            self.conf_read_file(conffile)
        if conf:
            for key, value in conf.items():
                self.conf_set(key, value)

    # -- state --------------------------------------------------------------------------------
    def require_state(self, *args):
        """Raise RadosStateError unless the handle is in one of the states `args`."""
        if self.state in args:
            return
        raise RadosStateError("You cannot perform that operation on a Rados object in state %s."
                              % self.state)

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, type_, value, traceback):
        self.shutdown()
        return False

    def __del__(self):
        try:
            if getattr(self, "state", None) == "connected":
                self.shutdown()
        except Exception:
            pass

    def version(self) -> Version:
        """The librados version this module stands in for (3.0.0, Squid's)."""
        return Version(LIBRADOS_VER_MAJOR, LIBRADOS_VER_MINOR, LIBRADOS_VER_EXTRA)

    # -- configuration ------------------------------------------------------------------------
    def conf_read_file(self, path=None):
        """Read `path` (a file or comma-separated list of files); with None search $CEPH_CONF
        and the default locations. A named file that does not exist → ObjectNotFound."""
        self.require_state("configuring", "connected")
        path = _args.to_str(path, "path", opt=True)
        conf = self._conf
        if path is None:
            found = conf.search_default_files()
            if isinstance(found, (list, tuple)):
                found = found[0] if found else None
            if not found:
                return      # nothing found: the embedded default cluster (see module doc)
            paths = [found]
        else:
            paths = [p for p in path.replace(";", ",").split(",") if p.strip()]
        last_err = -errno.ENOENT
        for p in paths:
            try:
                conf.read_file(p.strip())
            except Exception as exc:
                code = errno_of(exc)
                if code != errno.ENOENT:
                    raise make_ex(-code, "error calling conf_read_file") from None
                last_err = -code
                continue
            self._conf_files_read.append(p.strip())
            return
        raise make_ex(last_err, "error calling conf_read_file")

    def conf_parse_argv(self, args):
        """Apply Ceph options found in `args` (`--opt value`, `--opt=value`, -c/--conf,
        --id/-i, --name/-n, --cluster); returns the arguments that are not ours."""
        self.require_state("configuring", "connected")
        if not args:
            return
        cargs = [a.decode("utf-8", "surrogateescape") for a in _args.cstr_list(args, "args")]
        try:
            rest = self._conf.parse_argv(list(cargs))
        except Exception as exc:
            raise make_ex(-errno_of(exc), "error calling conf_parse_argv_remainder") from None
        if isinstance(rest, tuple):
            rest = rest[-1]
        self.parsed_args = args
        return list(rest) if rest is not None else []

    def conf_parse_env(self, var="CEPH_ARGS"):
        """Apply the options in environment variable `var` (unset or empty: nothing)."""
        self.require_state("configuring", "connected")
        if not var:
            return
        var = _args.to_str(var, "var")
        try:
            self._conf.parse_env(var)
        except Exception as exc:
            raise make_ex(-errno_of(exc), "error calling conf_parse_env") from None

    def conf_get(self, option):
        """The option's value as a str, or None for an unknown option."""
        self.require_state("configuring", "connected")
        option = _args.to_str(option, "option")
        try:
            value = self._conf.get(option)
        except Exception as exc:
            if isinstance(exc, KeyError) or errno_of(exc) == errno.ENOENT:
                return None
            raise make_ex(-errno_of(exc), "error calling conf_get") from None
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def conf_set(self, option, val):
        """Set an option (ObjectNotFound if unknown, InvalidArgumentError if `val` is not a
        valid value for it)."""
        self.require_state("configuring", "connected")
        option = _args.to_str(option, "option")
        val = _args.to_str(val, "val")
        try:
            self._conf.set(option, val)
        except Exception as exc:
            code = errno_of(exc)
            if isinstance(exc, KeyError):
                code = errno.ENOENT
            elif isinstance(exc, ValueError) and code == errno.EIO:
                code = errno.EINVAL
            raise make_ex(-code, "error calling conf_set") from None

    # -- connection ---------------------------------------------------------------------------
    def connect(self, timeout=0):
        """Connect to the cluster (within `timeout` seconds when > 0); TimedOut otherwise."""
        self.require_state("configuring")
        timeout = float(timeout or 0)
        try:
            client = self._connect_bounded(timeout)
        except Error:
            raise
        except Exception as exc:
            raise make_ex(-errno_of(exc), "error connecting to the cluster") from None
        with self._lock:
            self._client_obj = client
            self.state = "connected"
        self._after_connect()

    def _connect_bounded(self, timeout: float):
        if timeout <= 0:
            return _client_connect(self._conf, self._entity, 0)
        box: dict = {}
        done = threading.Event()

        def run():
            try:
                box["client"] = _client_connect(self._conf, self._entity, timeout)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            finally:
                done.set()
                if box.get("abandoned") and "client" in box:
                    box["client"].shutdown()

        threading.Thread(target=run, name="rados-connect", daemon=True).start()
        if not done.wait(timeout):
            box["abandoned"] = True
            raise make_ex(-errno.ETIMEDOUT, "error connecting to the cluster")
        if "error" in box:
            raise box["error"]
        return box["client"]

    def shutdown(self):
        """Disconnect; the handle cannot be used again."""
        if self.state != "shutdown":
            client = self._client_obj
            self.state = "shutdown"
            self._stop_monitor_log()
            if client is not None:
                try:
                    client.shutdown()
                except Exception:
                    pass

    # -- plumbing for Ioctx and the extras ----------------------------------------------------
    def _require_client(self):
        client = self._client_obj
        if client is None:
            self.require_state("connected")
        return client

    def _osdmap(self):
        return self._require_client().osdmap

    def _osdmap_pool(self, pool_id):
        return self._osdmap().pools.get(pool_id)

    def _refresh_map(self) -> None:
        try:
            self._require_client().wait_for_latest_osdmap()
        except Error:
            raise
        except Exception:
            pass

    def _mon_call(self, method: str, *args):
        """(0, result) or (-errno, None) for a monitor internal call."""
        try:
            result = self._require_client().mon_call(method, *args)
        except Error:
            raise
        except Exception as exc:
            return -errno_of(exc), None
        if isinstance(result, int) and not isinstance(result, bool) and result < 0:
            return result, None
        return 0, result

    def _mon_command_dict(self, cmd: dict, inbuf: bytes = b"", timeout: float = 0):
        """(ret, outbuf, outs) of a monitor command; never raises for a failing command."""
        try:
            ret, outbuf, outs = self._require_client().mon_command(cmd, inbuf, timeout)
        except Error:
            raise
        except Exception as exc:
            return -errno_of(exc), b"", str(exc)
        return int(ret), bytes(outbuf or b""), outs if isinstance(outs, str) else str(outs or "")

    # -- pools --------------------------------------------------------------------------------
    def _lookup_pool(self, name: str) -> int:
        """Pool id or -ENOENT, refreshing the map once on a miss (as librados does)."""
        osdmap = self._osdmap()
        pool_id = osdmap.pool_names.get(name)
        if pool_id is None:
            self._refresh_map()
            pool_id = self._osdmap().pool_names.get(name)
        return -errno.ENOENT if pool_id is None else int(pool_id)

    def pool_exists(self, pool_name) -> bool:
        self.require_state("connected")
        return self._lookup_pool(_args.to_str(pool_name, "pool_name")) >= 0

    def pool_lookup(self, pool_name):
        """The pool's id, or None if there is no such pool."""
        self.require_state("connected")
        ret = self._lookup_pool(_args.to_str(pool_name, "pool_name"))
        return ret if ret >= 0 else None

    def pool_reverse_lookup(self, pool_id):
        """The name of pool `pool_id`, or None."""
        self.require_state("connected")
        pool_id = _args.sint(pool_id, "int64_t", 64)
        pool = self._osdmap().pools.get(pool_id)
        return None if pool is None else pool.name

    def list_pools(self) -> list:
        """Names of every pool, in pool id order."""
        self.require_state("connected")
        pools = self._osdmap().pools
        return [pools[pid].name for pid in sorted(pools)]

    def create_pool(self, pool_name, crush_rule=None, auid=None):
        """Create a replicated pool with the default settings (ObjectExists if it exists)."""
        self.require_state("connected")
        name = _args.to_str(pool_name, "pool_name")
        msg = "error creating pool '%s'" % pool_name
        rule = None if crush_rule is None else _args.uint(crush_rule, "uint8_t", 8)
        if auid is not None and _args.uint(auid, "uint64_t") != ANONYMOUS_AUID:
            raise make_ex(-errno.EINVAL, msg)      # auids are gone from librados
        ret, _ = self._mon_call("pool_create", name, None, None, None, rule)
        if ret < 0:
            raise make_ex(ret, msg)
        self._refresh_map()

    def delete_pool(self, pool_name):
        """Delete a pool and its objects (ObjectNotFound if missing, PermissionError when the
        monitor does not allow pool deletion)."""
        self.require_state("connected")
        name = _args.to_str(pool_name, "pool_name")
        ret, _ = self._mon_call("pool_delete", name)
        if ret < 0:
            raise make_ex(ret, "error deleting pool '%s'" % pool_name)
        self._refresh_map()

    def get_pool_base_tier(self, pool_id) -> int:
        """The base pool of a cache tier (the pool itself when it is not a tier)."""
        self.require_state("connected")
        pool_id = _args.sint(pool_id, "int64_t", 64)
        pool = self._osdmap().pools.get(pool_id)
        if pool is None:
            raise make_ex(-errno.ENOENT, "get_pool_base_tier(%d)" % pool_id)
        tier_of = getattr(pool, "tier_of", -1)
        return int(tier_of) if tier_of is not None and tier_of >= 0 else pool_id

    def open_ioctx(self, ioctx_name):
        """An Ioctx on pool `ioctx_name` (ObjectNotFound if there is no such pool)."""
        from rados.ioctx import Ioctx
        self.require_state("connected")
        name = _args.to_str(ioctx_name, "ioctx_name")
        pool_id = self._lookup_pool(name)
        if pool_id < 0:
            raise make_ex(pool_id, "error opening pool '%s'" % ioctx_name)
        ioctx = Ioctx(self, ioctx_name, pool_id)
        ioctx._pool_name = name
        return ioctx

    def open_ioctx2(self, pool_id):
        """An Ioctx on pool id `pool_id` (its `name` is str(pool_id), as in Ceph)."""
        from rados.ioctx import Ioctx
        self.require_state("connected")
        pool_id = _args.sint(pool_id, "int64_t", 64)
        pool = self._osdmap().pools.get(pool_id)
        if pool is None:
            self._refresh_map()
            pool = self._osdmap().pools.get(pool_id)
        if pool is None:
            raise make_ex(-errno.ENOENT, "error opening pool id '%s'" % pool_id)
        ioctx = Ioctx(self, str(pool_id), pool_id)
        ioctx._pool_name = pool.name
        return ioctx

    # -- cluster ------------------------------------------------------------------------------
    def get_fsid(self) -> str:
        self.require_state("connected")
        return str(self._require_client().fsid)

    def get_instance_id(self) -> int:
        """This client's global id (the `client.<id>` other clients see)."""
        self.require_state("connected")
        return int(self._require_client().gid)

    def get_addrs(self) -> str:
        """This client's address vector; the nonce is the instance id (see blocklist_add)."""
        self.require_state("connected")
        gid = self.get_instance_id()
        return "[v2:127.0.0.1:0/%d,v1:127.0.0.1:0/%d]" % (gid, gid)

    def wait_for_latest_osdmap(self) -> int:
        """Fetch the newest OSDMap; returns 0 (librados' return code)."""
        self.require_state("connected")
        try:
            self._require_client().wait_for_latest_osdmap()
        except Exception as exc:
            return -errno_of(exc)
        return 0

    def mon_command(self, cmd, inbuf, timeout=0, target=None):
        """Send a JSON command to the monitor: (ret, outbuf bytes, outs str). Never raises
        for a failing command."""
        self.require_state("connected")
        cmd = _args.cstr(cmd, "cmd")
        if isinstance(target, int):
            target = str(target)
        target = _args.to_str(target, "target", opt=True)
        inbuf = _args.cstr(inbuf, "inbuf")
        try:
            cmd_dict = json.loads(cmd.decode("utf-8"))
            if not isinstance(cmd_dict, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            return -errno.EINVAL, b"", "unparseable JSON %s: %s" % (cmd.decode("utf-8", "replace"), exc)
        if target:
            ret = self._check_mon_target(target)
            if ret < 0:
                return ret, b"", "mon %s does not exist" % target
        return self._mon_command_dict(cmd_dict, inbuf, float(timeout or 0))

    def osd_command(self, osdid, cmd, inbuf, timeout=0):
        """Send a command to osd.`osdid`: (ret, outbuf, outs)."""
        self.require_state("connected")
        osdid = _args.sint(osdid, "int")
        cmd = _args.cstr(cmd, "cmd").decode("utf-8", "replace")
        inbuf = _args.cstr(inbuf, "inbuf")
        try:
            ret, outbuf, outs = self._require_client().osd_command(osdid, cmd, inbuf)
        except Exception as exc:
            return -errno_of(exc), b"", str(exc)
        return int(ret), bytes(outbuf or b""), str(outs or "")
