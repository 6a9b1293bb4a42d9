"""`rados` command-line tool over the public `rados` Python API (Ceph 16 output layouts)."""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time

import rados
from rados._ioctx_extras import _pack, _unpack

_ALL_NS = getattr(rados, "LIBRADOS_ALL_NSPACES", "\001")
_COMMANDS = {"lspools", "mkpool", "rmpool", "purge", "df", "ls", "bench", "cleanup", "put",
             "get", "append", "rm", "stat", "truncate", "listxattr", "getxattr", "setxattr",
             "rmxattr", "listomapkeys", "listomapvals", "getomapval", "setomapval",
             "rmomapkey", "getomapheader", "setomapheader", "lock"}


class _Fail(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def _bytes(text):
    t = text.upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(t[:-1]) * mult[t[-1]]) if t and t[-1] in mult else int(t)


def _n(e):
    n = getattr(e, "errno", None)
    return abs(n) if isinstance(n, int) and n else errno.EIO


def _read_all(io, oid):
    size = io.stat(oid)[0]
    out, off = [], 0
    while off < size:
        b = io.read(oid, min(4 << 20, size - off), off)
        if not b:
            break
        out.append(b)
        off += len(b)
    return b"".join(out)


def _omap(io, oid, keys=None):
    with rados.ReadOpCtx() as op:
        if keys is None:
            it, _ = io.get_omap_vals(op, "", "", 1 << 20)
        else:
            it, _ = io.get_omap_vals_by_keys(op, tuple(keys))
        io.operate_read_op(op, oid)
        return list(it)


def _hexdump(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        hx = " ".join(f"{b:02x}" for b in chunk[:8])
        hx2 = " ".join(f"{b:02x}" for b in chunk[8:])
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hx:<23}  {hx2:<23}  |{asc}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines) + "\n"


def _entity(ident):
    """`--id cinder` or `--name client.cinder` as the entity to connect as (None: admin)."""
    return None if not ident else ident if "." in ident else f"client.{ident}"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        sys.stdout.write("usage: rados [options] [commands]\ncommands: "
                         + " ".join(sorted(_COMMANDS)) + "\n")
        return 0
    p = argparse.ArgumentParser(prog="rados", add_help=False)
    p.add_argument("-c", "--conf")
    p.add_argument("--cluster")
    p.add_argument("--id", "-n", "--name", dest="id")
    p.add_argument("-k", "--keyring")
    p.add_argument("-p", "--pool")
    p.add_argument("-N", "--namespace")
    p.add_argument("--all", action="store_true")
    p.add_argument("-f", "--format", default="plain")
    p.add_argument("--pretty-format", action="store_true")
    p.add_argument("-b", "--block-size", default="4194304")
    p.add_argument("-t", "--concurrent-ios", type=int, default=16)
    p.add_argument("--no-cleanup", action="store_true")
    p.add_argument("--run-name", default="benchmark_last_metadata")
    p.add_argument("--prefix", default="benchmark_data")
    p.add_argument("--yes-i-really-really-mean-it", dest="sure", action="store_true")
    p.add_argument("--omap-key-file")
    p.add_argument("--lock-cookie", default="")
    p.add_argument("--lock-tag", default="")
    p.add_argument("--lock-description", default="")
    p.add_argument("--lock-duration", type=int, default=0)
    p.add_argument("--lock-type", choices=["exclusive", "shared"], default="exclusive")
    p.add_argument("words", nargs="*")

    def err(msg):
        raise _Fail(msg, errno.EINVAL)
    p.error = err
    try:
        o = p.parse_intermixed_args(argv)
    except _Fail as e:
        sys.stderr.write(f"rados: {e}\n")
        return errno.EINVAL
    if not o.words:
        sys.stderr.write("rados: you must give an action. Try --help\n")
        return errno.EINVAL
    if o.words[0] not in _COMMANDS:
        sys.stderr.write(f"unrecognized command {o.words[0]}; -h or --help for usage\n")
        return errno.EINVAL
    cluster = rados.Rados(name=_entity(o.id), conffile=o.conf or "",
                          conf={"keyring": o.keyring} if o.keyring else None)
    try:
        cluster.connect()
        return _run(cluster, o, o.words[0], o.words[1:]) or 0
    except _Fail as e:
        sys.stderr.write(f"{e}\n")
        return e.code
    except rados.Error as e:
        n = _n(e)
        sys.stderr.write(f"error: ({n}) {os.strerror(n)}\n")
        return n
    except BrokenPipeError:
        return 0
    finally:
        cluster.shutdown()


def _ioctx(cluster, o):
    if not o.pool:
        raise _Fail("rados: you must give a pool (-p)", errno.EINVAL)
    try:
        io = cluster.open_ioctx(o.pool)
    except rados.ObjectNotFound:
        raise _Fail(f"error opening pool {o.pool}: (2) No such file or directory", errno.ENOENT)
    if o.all:
        io.set_namespace(_ALL_NS)
    elif o.namespace:
        io.set_namespace(o.namespace)
    return io


def _run(cluster, o, cmd, w):
    js = o.format in ("json", "json-pretty")
    if cmd == "lspools":
        for name in cluster.list_pools():
            print(name)
        return 0
    if cmd == "mkpool":
        cluster.create_pool(w[0])
        print(f"successfully created pool {w[0]}")
        return 0
    if cmd in ("rmpool", "purge"):
        if cmd == "rmpool" and (len(w) < 2 or w[0] != w[1] or not o.sure):
            raise _Fail("WARNING:\n  This will PERMANENTLY DESTROY an entire pool of objects with "
                        "no way back.\n  To confirm, pass the pool to remove twice, followed by\n"
                        "  --yes-i-really-really-mean-it", errno.EPERM)
        try:
            cluster.delete_pool(w[0])
        except rados.Error as e:
            sys.stderr.write(f"pool {w[0]} could not be removed\n"
                             "Check your monitor configuration - `mon allow pool delete` is set "
                             "to false by default, change it to true to allow deletion of "
                             "pools\n")
            return _n(e)
        print(f"successfully deleted pool {w[0]}")
        return 0
    if cmd == "df":
        rows = []
        for name in cluster.list_pools():
            with cluster.open_ioctx(name) as io:
                s = io.get_stats()
            rows.append((name, s.get("num_bytes", 0), s.get("num_objects", 0)))
        if js:
            print(json.dumps({"pools": [{"name": n, "size_bytes": b, "num_objects": c}
                                        for n, b, c in rows]}))
            return 0
        print(f"{'POOL_NAME':<10} {'USED':>10} {'OBJECTS':>8}")
        for n, b, c in rows:
            print(f"{n:<10} {b:>10} {c:>8}")
        st = cluster.get_cluster_stats()
        print(f"\ntotal_objects    {st.get('num_objects', 0)}")
        print(f"total_used       {st.get('kb_used', 0)}")
        print(f"total_avail      {st.get('kb_avail', 0)}")
        print(f"total_space      {st.get('kb', 0)}")
        return 0
    io = _ioctx(cluster, o)
    try:
        return _pool_cmd(io, o, cmd, w, js)
    finally:
        io.close()


def _need(w, n, what):
    if len(w) < n:
        raise _Fail(f"rados: {what}", errno.EINVAL)


def _pool_cmd(io, o, cmd, w, js):
    if cmd == "ls":
        objs = list(io.list_objects())
        if js:
            print(json.dumps([{"namespace": x.nspace, "name": x.key} for x in objs]))
        else:
            for x in objs:
                print(f"{x.nspace}\t{x.key}" if o.all and x.nspace else x.key)
        return 0
    if cmd == "bench":
        return _bench(io, o, w)
    if cmd == "cleanup":
        n = 0
        for x in list(io.list_objects()):
            if x.key.startswith(o.prefix) or x.key == o.run_name:
                io.remove_object(x.key)
                n += 1
        print(f"Removed {n} objects")
        return 0
    _need(w, 1, "you must give an object name")
    oid = w[0]
    try:
        if cmd == "put":
            _need(w, 2, "you must give an input file")
            data = sys.stdin.buffer.read() if w[1] == "-" else open(w[1], "rb").read()
            io.write_full(oid, data)
        elif cmd == "get":
            _need(w, 2, "you must give an output file")
            data = _read_all(io, oid)
            if w[1] == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            else:
                with open(w[1], "wb") as f:
                    f.write(data)
        elif cmd == "append":
            _need(w, 2, "you must give an input file")
            io.append(oid, sys.stdin.buffer.read() if w[1] == "-" else open(w[1], "rb").read())
        elif cmd == "rm":
            for x in w:
                io.remove_object(x)
        elif cmd == "stat":
            size, mtime = io.stat(oid)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", mtime) \
                if isinstance(mtime, time.struct_time) else str(mtime)
            print(f"{o.pool}/{oid} mtime {ts}, size {size}")
        elif cmd == "truncate":
            _need(w, 2, "you must give a size")
            io.trunc(oid, int(w[1]))
        elif cmd == "listxattr":
            for k, _ in io.get_xattrs(oid):
                print(k)
        elif cmd == "getxattr":
            sys.stdout.buffer.write(io.get_xattr(oid, w[1]))
            sys.stdout.flush()
        elif cmd == "setxattr":
            val = w[2].encode() if len(w) > 2 else sys.stdin.buffer.read()
            io.set_xattr(oid, w[1], val)
        elif cmd == "rmxattr":
            _need(w, 2, "you must give an xattr name")
            try:
                io.rm_xattr(oid, w[1])
            except rados.NoData:
                raise _Fail(f"error removing xattr {o.pool}/{oid}/{w[1]}: "
                            f"(61) No data available", errno.ENODATA)
        elif cmd == "listomapkeys":
            for k, _ in _omap(io, oid):
                print(k)
        elif cmd == "listomapvals":
            for k, v in _omap(io, oid):
                print(k)
                print(f"value ({len(v)} bytes) :")
                sys.stdout.write(_hexdump(v) + "\n")
        elif cmd == "getomapval":
            vals = _omap(io, oid, [w[1]])
            if not vals or vals[0][1] is None:
                raise _Fail(f"error getting omap value {o.pool}/{oid}/{w[1]}: "
                            f"(2) No such file or directory", errno.ENOENT)
            if len(w) > 2:
                with open(w[2], "wb") as f:
                    f.write(vals[0][1])
            else:
                print(f"value ({len(vals[0][1])} bytes) :")
                sys.stdout.write(_hexdump(vals[0][1]))
        elif cmd == "setomapval":
            val = w[2].encode() if len(w) > 2 else sys.stdin.buffer.read()
            with rados.WriteOpCtx() as op:
                io.set_omap(op, (w[1],), (val,))
                io.operate_write_op(op, oid)
        elif cmd == "rmomapkey":
            with rados.WriteOpCtx() as op:
                io.remove_omap_keys(op, (w[1],))
                io.operate_write_op(op, oid)
        elif cmd == "getomapheader":
            # Ceph's Python binding has no omap header calls; librados' C API does
            try:
                reply = io._operate(oid, [("omap_get_header",)], "getomapheader", write=False)
            except rados.ObjectNotFound:
                raise _Fail(f"error getting omap header {o.pool}/{oid}: "
                            f"(2) No such file or directory", errno.ENOENT)
            hdr = bytes(io._out(reply) or b"")
            if len(w) > 1:
                with open(w[1], "wb") as f:
                    f.write(hdr)
            else:
                print(f"header ({len(hdr)} bytes) :")
                sys.stdout.write(_hexdump(hdr) + "\n")
        elif cmd == "setomapheader":
            _need(w, 2, "you must give a header value")
            io._operate(oid, [("omap_set_header", w[1].encode())], "setomapheader", write=True)
        elif cmd == "lock":
            return _lock_cmd(io, o, w)
        else:
            raise _Fail(f"unrecognized command {cmd}; -h or --help for usage", errno.EINVAL)
    except rados.ObjectNotFound:
        what = {"stat": f" error stat-ing {o.pool}/{oid}",
                "rm": f"error removing {o.pool}>{oid}",
                "get": f"error getting {o.pool}/{oid}",
                "rmxattr": f"error removing xattr {o.pool}/{oid}/{w[-1]}",
                "getxattr": f"error getting xattr {o.pool}/{oid}/{w[-1]}",
                "rmomapkey": f"error removing omap key {o.pool}/{oid}/{w[-1]}",
                }.get(cmd, f"error {cmd} {o.pool}/{oid}")
        raise _Fail(f"{what}: (2) No such file or directory", errno.ENOENT)
    except rados.NoData:
        raise _Fail(f"error getting xattr {o.pool}/{oid}/{w[1]}: (61) No data available",
                    errno.ENODATA)
    return 0


def _lock_cmd(io, o, w):
    """`rados lock get|list|info|break`: cls_lock on an object; list/info print
    pretty JSON, as Ceph's rados does when no --format is given."""
    _need(w, 2, "lock needs <get|list|info|break> <obj> [<lock-name>]")
    sub, obj = w[0], w[1]
    js = json.dumps if o.format == "json" else (lambda x: json.dumps(x, indent=4))
    if sub == "list":
        try:
            _, out = io.execute(obj, "lock", "list_locks", _pack({}))
        except rados.Error as e:
            n = _n(e)
            raise _Fail(f"error listing locks {o.pool}/{obj}: ({n}) {os.strerror(n)}", n)
        names = _unpack(out).get("locks", []) if out else []
        print(js({"objname": obj, "locks": [{"name": n} for n in names]}))
        return 0
    _need(w, 3, f"lock {sub} needs <obj> <lock-name>")
    name = w[2]
    try:
        if sub == "get":
            if o.lock_type == "shared":
                io.lock_shared(obj, name, o.lock_cookie, o.lock_tag, o.lock_description,
                               o.lock_duration or None)
            else:
                io.lock_exclusive(obj, name, o.lock_cookie, o.lock_description,
                                  o.lock_duration or None)
        elif sub == "info":
            _, out = io.execute(obj, "lock", "get_info", _pack({"name": name}))
            info = _unpack(out) if out else {}
            kind = {1: "exclusive", 2: "shared", 3: "exclusive-ephemeral"}
            print(js({"name": name, "type": kind.get(info.get("type"), "none"),
                      "tag": info.get("tag", ""),
                      "lockers": [{"name": lk["name"], "cookie": lk["cookie"],
                                   "description": lk.get("description", ""),
                                   "expiration": f"{float(lk.get('expiration') or 0):.6f}",
                                   "addr": lk.get("addr", "")}
                                  for lk in info.get("lockers", [])]}))
        elif sub == "break":
            _need(w, 4, "lock break needs <obj> <lock-name> <locker-name>")
            io.break_lock(obj, name, w[3], o.lock_cookie)
        else:
            raise _Fail(f"unrecognized lock command {sub}; -h or --help for usage",
                        errno.EINVAL)
    except rados.Error as e:
        n = _n(e)
        doing = {"get": "locking", "info": "getting lock info of", "break": "breaking lock"}
        raise _Fail(f"error {doing.get(sub, sub)} {o.pool}/{obj}/{name}: ({n}) "
                    f"{os.strerror(n)}", n)
    return 0


def _bench(io, o, w):
    """`rados bench SECONDS write|seq|rand`: keeps -t ops in flight, Ceph's table layout."""
    if len(w) < 2 or w[1] not in ("write", "seq", "rand"):
        raise _Fail("rados: bench needs <seconds> write|seq|rand", errno.EINVAL)
    secs, mode = float(w[0]), w[1]
    bs, t = _bytes(o.block_size), o.concurrent_ios
    import threading
    cv = threading.Condition()
    st = {"inflight": 0, "done": 0, "err": 0}
    names = []
    if mode != "write":
        try:
            meta = io.read(o.run_name).decode().split()
            count = int(meta[0])
            bs = int(meta[1])
        except (rados.Error, ValueError, IndexError):
            raise _Fail("Must write data before running a read benchmark!", errno.ENOENT)
        names = [f"{o.prefix}_{i}" for i in range(count)]
    print("hints = 1")
    if mode == "write":
        print(f"Maintaining {t} concurrent writes of {bs} bytes to objects of size {bs} "
              f"for up to {int(secs)} seconds or 0 objects")
    print(f"Object prefix: {o.prefix}")
    print("  sec Cur ops   started  finished  avg MB/s  cur MB/s last lat(s)  avg lat(s)")

    def done(comp, *rest):
        with cv:
            st["inflight"] -= 1
            st["done"] += 1
            if comp.get_return_value() < 0:
                st["err"] = comp.get_return_value()
            cv.notify_all()

    import random
    rng = random.Random(0)
    data = b"\x5a" * bs
    start = time.monotonic()
    last, last_done, sec, i = start, 0, 0, 0
    while time.monotonic() - start < secs:
        with cv:
            while st["inflight"] >= t:
                cv.wait(0.2)
            st["inflight"] += 1
        if mode == "write":
            name = f"{o.prefix}_{i}"
            io.aio_write_full(name, data, oncomplete=done)
            names.append(name)
        else:
            if mode == "seq" and i >= len(names):
                with cv:
                    st["inflight"] -= 1
                break
            name = names[i] if mode == "seq" else names[rng.randrange(len(names))]
            io.aio_read(name, bs, 0, done)
        i += 1
        now = time.monotonic()
        if now - last >= 1.0:
            with cv:
                d = st["done"]
            el = now - start
            print(f"{sec:>5} {st['inflight']:>7} {i:>9} {d:>9} {d * bs / el / (1 << 20):>9.4f} "
                  f"{(d - last_done) * bs / (now - last) / (1 << 20):>9.4f} {0:>11.6f} {0:>11.6f}")
            sec += 1
            last, last_done = now, d
    with cv:
        deadline = time.monotonic() + 60
        while st["inflight"] and time.monotonic() < deadline:
            cv.wait(0.2)
    el = max(time.monotonic() - start, 1e-9)
    d = st["done"]
    print(f"Total time run:         {el:.4f}")
    if mode == "write":
        print(f"Total writes made:      {d}")
        print(f"Write size:             {bs}")
        print(f"Object size:            {bs}")
        print(f"Bandwidth (MB/sec):     {d * bs / el / (1 << 20):.4f}")
        print(f"Average IOPS:           {int(d / el)}")
        if o.no_cleanup:
            io.write_full(o.run_name, f"{len(names)} {bs}".encode())
        else:
            for n in names:
                io.remove_object(n)
            print("Cleaning up (deleting benchmark objects)")
            print(f"Removed {len(names)} objects")
    else:
        print(f"Total reads made:       {d}")
        print(f"Read size:              {bs}")
        print(f"Object size:            {bs}")
        print(f"Bandwidth (MB/sec):     {d * bs / el / (1 << 20):.4f}")
        print(f"Average IOPS:           {int(d / el)}")
    return abs(st["err"]) if st["err"] else 0


if __name__ == "__main__":
    sys.exit(main())
