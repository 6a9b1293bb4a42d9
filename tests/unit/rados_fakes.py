"""A fake ClusterClient (docs/interfaces.md §8) for unit tests of the public `rados` module.

It records every request and answers from a tiny in-memory object model (data, xattrs, omap
of head objects) good enough to check what `rados` builds and how it reads replies. Set
`hold = True` to keep submitted futures pending until `release()` (aio tests), or put a
callable in `responder` to answer requests yourself.
"""
from __future__ import annotations

import errno
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from osd.messages import SNAP_HEAD, OSDOpReply


@dataclass
class FakePool:
    id: int
    name: str
    size: int = 3
    pg_num: int = 8
    snap_mode: str = ""
    snap_seq: int = 0
    snaps: dict = field(default_factory=dict)
    application_metadata: dict = field(default_factory=dict)
    tier_of: int = -1
    quota_max_bytes: int = 0


class FakeOSDMap:
    def __init__(self):
        self.epoch = 1
        self.fsid = "00000000-1111-2222-3333-444444444444"
        self.pools: dict[int, FakePool] = {}
        self.pool_names: dict[str, int] = {}

    def add_pool(self, name: str) -> FakePool:
        pool_id = max(self.pools, default=0) + 1
        pool = FakePool(pool_id, name)
        self.pools[pool_id] = pool
        self.pool_names[name] = pool_id
        self.epoch += 1
        return pool

    def get_pool(self, name_or_id):
        if isinstance(name_or_id, str):
            name_or_id = self.pool_names.get(name_or_id)
        return self.pools.get(name_or_id)

    def pg_to_acting(self, pool, seed):
        return [0, 1, 2], 0


@dataclass
class Request:
    pool: int
    oid: str
    ops: list
    nspace: str
    key: str
    snapc: object
    snapid: int
    flags: int
    mtime: object


class FakeClusterClient:
    def __init__(self, conf=None, entity="client.admin"):
        self.conf = conf
        self.name = entity
        self.gid = 4242
        self.fsid = "00000000-1111-2222-3333-444444444444"
        self.osdmap = FakeOSDMap()
        self.osdmap.add_pool("rbd")
        self.op_timeout_s = 5.0
        self.requests: list[Request] = []
        self.mon_commands: list = []
        self.mon_calls: list = []
        self.objects: dict = {}     # (pool, nspace, key, oid) -> {'data', 'xattrs', 'omap'}
        self.responder = None
        self.hold = False
        self._held: list = []
        self.watches: dict = {}
        self.shut_down = False
        self._cookies = iter(range(100, 10**6))
        self.version = 0

    # -- monitor ------------------------------------------------------------------------------
    def mon_command(self, cmd, inbuf=b"", timeout=0):
        self.mon_commands.append(cmd)
        prefix = cmd.get("prefix")
        if prefix == "osd pool create":
            if cmd["pool"] not in self.osdmap.pool_names:
                self.osdmap.add_pool(cmd["pool"])
            return 0, b"", "pool '%s' created" % cmd["pool"]
        if prefix == "osd pool delete":
            pool_id = self.osdmap.pool_names.pop(cmd["pool"], None)
            if pool_id is not None:
                del self.osdmap.pools[pool_id]
            return 0, b"", ""
        if prefix == "osd pool application enable":
            pool = self.osdmap.get_pool(cmd["pool"])
            if pool.application_metadata and not cmd.get("yes_i_really_mean_it"):
                return -errno.EPERM, b"", "Are you SURE?"
            pool.application_metadata.setdefault(cmd["app"], {})
            return 0, b"", ""
        if prefix == "mon dump":
            return 0, b'{"epoch": 1, "mons": [{"name": "a", "rank": 0}]}', ""
        if prefix in ("osd blocklist",):
            return 0, b"", "blocklisting %s" % cmd["addr"]
        return -errno.EINVAL, b"", "command not known"

    def mon_call(self, method, *args):
        self.mon_calls.append((method,) + args)
        if method == "pool_create":
            if args[0] in self.osdmap.pool_names:
                return -errno.EEXIST
            return self.osdmap.add_pool(args[0]).id
        if method == "pool_delete":
            pool_id = self.osdmap.pool_names.pop(args[0], None)
            if pool_id is None:
                return -errno.ENOENT
            del self.osdmap.pools[pool_id]
            return 0
        if method.startswith("service_daemon"):
            return 0
        pool = self.osdmap.pools.get(args[0]) if args else None
        if method == "selfmanaged_snap_create":
            if pool.snap_mode == "pool":
                return -errno.EINVAL
            pool.snap_mode = "selfmanaged"
            pool.snap_seq += 1
            return pool.snap_seq
        if method == "pool_snap_create":
            if pool.snap_mode == "selfmanaged":
                return -errno.EINVAL
            if any(info[0] == args[1] for info in pool.snaps.values()):
                return -errno.EEXIST
            pool.snap_mode = "pool"
            pool.snap_seq += 1
            pool.snaps[pool.snap_seq] = (args[1], time.time())
            return 0
        if method == "pool_snap_remove":
            for sid, info in list(pool.snaps.items()):
                if info[0] == args[1]:
                    del pool.snaps[sid]
                    return 0
            return -errno.ENOENT
        if method == "selfmanaged_snap_remove":
            return 0
        raise AttributeError(method)

    def wait_for_latest_osdmap(self):
        return self.osdmap.epoch

    # -- objects ------------------------------------------------------------------------------
    def submit(self, pool, oid, ops, nspace="", key="", snapc=None, snapid=SNAP_HEAD, flags=0,
               mtime=None):
        req = Request(pool, oid, list(ops), nspace, key, snapc, snapid, flags, mtime)
        self.requests.append(req)
        future: Future = Future()
        if self.hold:
            self._held.append((future, req))
        else:
            future.set_result(self._answer(req))
        return future

    def release(self, delay_s: float = 0.0) -> None:
        """Complete every held future (from another thread, after `delay_s`)."""
        held, self._held = self._held, []

        def run():
            time.sleep(delay_s)
            for future, req in held:
                future.set_result(self._answer(req))
        threading.Thread(target=run, daemon=True).start()

    def operate(self, *args, **kwargs):
        return self.submit(*args, **kwargs).result(timeout=10)

    def _answer(self, req: Request) -> OSDOpReply:
        if self.responder is not None:
            return self.responder(req)
        return self._model(req)

    def _model(self, req: Request) -> OSDOpReply:
        ident = (req.pool, req.nspace, req.key, req.oid)
        obj = self.objects.get(ident)
        outs = []
        new = None if obj is None else {"data": bytearray(obj["data"]),
                                        "xattrs": dict(obj["xattrs"]), "omap": dict(obj["omap"])}
        wrote = False
        for op in req.ops:
            name, args = op[0], op[1:]
            fresh = {"data": bytearray(), "xattrs": {}, "omap": {}}
            if name in ("write", "write_full", "append", "setxattr", "omap_set", "create",
                        "truncate", "writesame"):
                wrote = True
                if new is None:
                    new = fresh
                if name == "write":
                    off, data = args
                    buf = new["data"]
                    if len(buf) < off:
                        buf.extend(b"\0" * (off - len(buf)))
                    buf[off:off + len(data)] = data
                elif name == "write_full":
                    new["data"] = bytearray(args[0])
                elif name == "append":
                    new["data"].extend(args[0])
                elif name == "setxattr":
                    new["xattrs"][args[0]] = args[1]
                elif name == "omap_set":
                    new["omap"].update(args[0])
                elif name == "truncate":
                    del new["data"][args[0]:]
                outs.append((0, None))
                continue
            if name == "remove":
                if new is None:
                    return OSDOpReply(-errno.ENOENT, outs)
                new, wrote = None, True
                outs.append((0, None))
                continue
            if new is None:
                return OSDOpReply(-errno.ENOENT, outs)
            if name == "read":
                off, length = args
                data = bytes(new["data"][off:off + length] if length else new["data"][off:])
                outs.append((len(data), data))
            elif name == "stat":
                outs.append((0, (len(new["data"]), 1700000000.5)))
            elif name == "getxattr":
                if args[0] not in new["xattrs"]:
                    return OSDOpReply(-errno.ENODATA, outs)
                outs.append((0, new["xattrs"][args[0]]))
            elif name == "getxattrs":
                outs.append((0, dict(new["xattrs"])))
            elif name == "omap_get_vals":
                start, prefix, max_return = args
                keys = sorted(k for k in new["omap"] if k > start and k.startswith(prefix))
                outs.append((0, ({k: new["omap"][k] for k in keys[:max_return]},
                                 len(keys) > max_return)))
            elif name == "call" and args[:2] == ("hello", "say_hello"):
                outs.append((0, b"Hello, " + (args[2] or b"world") + b"!"))
            else:
                outs.append((0, None))
        if wrote:
            self.version += 1
            if new is None:
                self.objects.pop(ident, None)
            else:
                self.objects[ident] = new
        return OSDOpReply(0, outs, version=self.version)

    def list_objects(self, pool, nspace):
        for (p, ns, key, oid) in sorted(self.objects):
            if p == pool and (nspace == "\x01" or ns == nspace):
                yield (ns, oid, key)

    def pool_stats(self, pool):
        return {"num_objects": sum(1 for k in self.objects if k[0] == pool)}

    def osd_command(self, osd_id, cmd, inbuf=b""):
        return 0, b"{}", ""

    # -- watch --------------------------------------------------------------------------------
    def watch(self, pool, oid, nspace, key, callback, error_callback, timeout_s):
        if (pool, nspace, key, oid) not in self.objects:
            return -errno.ENOENT
        cookie = next(self._cookies)
        self.watches[cookie] = (callback, error_callback)
        return cookie

    def unwatch(self, cookie):
        return 0 if self.watches.pop(cookie, None) else -errno.ENOENT

    def watch_check(self, cookie):
        return 0.5 if cookie in self.watches else -errno.ENOTCONN

    def shutdown(self):
        self.shut_down = True


class FakeConf:
    """Minimal stand-in for cluster.config.CephConfig (used only if it is not importable)."""

    KNOWN = {"mon_host": "", "keyring": "", "rados_osd_op_timeout": "0",
             "rayceph_ray_address": "", "cluster": "ceph", "log_to_stderr": "false"}

    def __init__(self, name="client.admin", cluster="ceph"):
        self.values = dict(self.KNOWN)
        self.files: list = []

    def get(self, option):
        if option not in self.values:
            raise KeyError(option)
        return self.values[option]

    def set(self, option, value):
        option = option.replace(" ", "_").replace("-", "_")
        if option not in self.values:
            raise KeyError(option)
        self.values[option] = value

    def read_file(self, path):
        import os
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        self.files.append(path)

    def search_default_files(self):
        return None

    def parse_argv(self, args):
        return list(args)

    def parse_env(self, var="CEPH_ARGS"):
        return None
