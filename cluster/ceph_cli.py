"""`ceph` command-line tool: turns words into the monitor's JSON command and prints the
reply the way Ceph's `ceph` does (outbuf → stdout, outs → stderr, exit status = -ret).
"""
from __future__ import annotations

import argparse
import errno
import json
import sys
import time

import rados

# prefix → names of the positional arguments after the prefix words (Ceph's signatures).
_SIGS = {
    "osd pool create": ["pool", "pg_num", "pgp_num", "pool_type"],
    "osd pool delete": ["pool", "pool2", "sure"], "osd pool rm": ["pool", "pool2", "sure"],
    "osd pool get": ["pool", "var"], "osd pool set": ["pool", "var", "val"],
    "osd pool application enable": ["pool", "app"],
    "osd pool application disable": ["pool", "app"],
    "osd pool application get": ["pool", "app", "key"],
    "osd pool rename": ["srcpool", "destpool"],
    "osd pool set-quota": ["pool", "field", "val"], "osd pool get-quota": ["pool"],
    "osd pool mksnap": ["pool", "snap"], "osd pool rmsnap": ["pool", "snap"],
    "osd down": ["ids*"], "osd up": ["ids*"], "osd out": ["ids*"], "osd in": ["ids*"],
    "osd set": ["key"], "osd unset": ["key"], "osd map": ["pool", "object", "nspace"],
    "osd reweight": ["id", "weight"], "osd primary-affinity": ["id", "weight"],
    "pg map": ["pgid"], "pg dump": ["dumpcontents*"], "pg ls": ["states*"],
    "health": ["detail"], "df": ["detail"], "osd pool ls": ["detail"],
    "config-key get": ["key"], "config-key set": ["key", "val"], "config-key put": ["key", "val"],
    "config-key del": ["key"], "config-key rm": ["key"], "config-key exists": ["key"],
    "config-key ls": [], "config-key dump": ["key"], "log last": ["num"],
    "log": ["logtext*"],
    "auth get-or-create": ["entity", "caps*"], "auth get-or-create-key": ["entity", "caps*"],
    "auth add": ["entity", "caps*"], "auth caps": ["entity", "caps*"],
    "auth get": ["entity"], "auth export": ["entity"], "auth print-key": ["entity"],
    "auth get-key": ["entity"], "auth del": ["entity"], "auth rm": ["entity"],
}
_USAGE = "usage: ceph [-c CONF] [-f FORMAT] [-w] <command> ...\n"
_ALIASES = {"-s": "status", "--status": "status", "-v": "version", "--version": "version"}


def _build(words):
    """Longest known prefix wins; the rest fill that prefix's positional slots."""
    for n in range(len(words), 0, -1):
        prefix = " ".join(words[:n])
        if prefix in _SIGS:
            cmd = {"prefix": prefix}
            rest = words[n:]
            for i, name in enumerate(_SIGS[prefix]):
                if name.endswith("*"):
                    cmd[name[:-1]] = rest[i:]
                    break
                if i < len(rest):
                    cmd[name] = rest[i]
            if prefix in ("osd pool delete", "osd pool rm"):
                if "--yes-i-really-really-mean-it" in words:
                    cmd["yes_i_really_really_mean_it"] = True
                    cmd["sure"] = "--yes-i-really-really-mean-it"
            return cmd
    return {"prefix": " ".join(words)}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(_USAGE + "commands (longest prefix first): "
                         + ", ".join(sorted(_SIGS)) + ", status, fsid, version, ...\n")
        return 0
    p = argparse.ArgumentParser(prog="ceph", add_help=False)
    p.add_argument("-c", "--conf")
    p.add_argument("--cluster")
    p.add_argument("--id", "-n", "--name", dest="id")
    p.add_argument("-k", "--keyring")
    p.add_argument("-f", "--format")
    p.add_argument("-w", "--watch", action="store_true")
    p.add_argument("--watch-seconds", type=float, default=5.0)
    p.add_argument("words", nargs="*")
    try:
        opts, extra = p.parse_known_args(argv)
    except SystemExit:
        return errno.EINVAL
    words = [_ALIASES.get(w, w) for w in opts.words]
    words += [_ALIASES[x] for x in extra if x in _ALIASES]
    words += [x for x in extra if x.startswith("--yes")]
    unused = [x for x in extra if x not in _ALIASES and not x.startswith("--yes")]
    if unused:
        # Ceph's ceph.in hands leftovers to command validation, which refuses them
        sys.stderr.write(f"Invalid command: unused arguments: {unused}\n"
                         "Error EINVAL: invalid command\n")
        return errno.EINVAL
    if not words and not opts.watch:
        sys.stderr.write(_USAGE)
        return errno.EINVAL
    entity = None if not opts.id else opts.id if "." in opts.id else f"client.{opts.id}"
    cluster = rados.Rados(name=entity, conffile=opts.conf or "",
                          conf={"keyring": opts.keyring} if opts.keyring else None)
    try:
        cluster.connect()
        if opts.watch:
            return _watch(cluster, opts)
        if words == ["fsid"] and opts.format in (None, "plain"):
            print(cluster.get_fsid())
            return 0
        cmd = _build(words)
        if opts.format:
            cmd["format"] = opts.format
        elif cmd["prefix"] == "version":
            cmd["format"] = "plain"
        ret, outbuf, outs = cluster.mon_command(json.dumps(cmd), b"")
        if outbuf:
            sys.stdout.write(outbuf.decode(errors="replace"))
            if not outbuf.endswith(b"\n"):
                sys.stdout.write("\n")
        if outs:
            sys.stderr.write(outs.rstrip("\n") + "\n")
        if ret == -errno.EINVAL and not outbuf and "command" in (outs or "").lower():
            sys.stderr.write("Error EINVAL: invalid command\n")
        return abs(ret)
    except rados.Error as e:
        n = abs(getattr(e, "errno", 0) or errno.EIO)
        sys.stderr.write(f"Error: {e}\n")
        return n
    finally:
        cluster.shutdown()


def _watch(cluster, opts) -> int:
    """`ceph -w`: status, then new cluster-log lines for --watch-seconds (bounded)."""
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "status"}), b"")
    sys.stdout.write(out.decode(errors="replace") + "\n")
    seen = set()
    deadline = time.monotonic() + opts.watch_seconds
    while time.monotonic() < deadline:
        ret, out, _ = cluster.mon_command(
            json.dumps({"prefix": "log last", "num": 50, "format": "json"}), b"")
        try:
            entries = json.loads(out) if ret == 0 and out else []
        except ValueError:
            entries = []
        for e in entries:
            key = json.dumps(e, sort_keys=True)
            if key not in seen:
                seen.add(key)
                if isinstance(e, dict):
                    # librados' monitor log line: stamp, entity, [PRIO], message
                    print(f"{e.get('stamp', '')} {e.get('name', 'mon')} "
                          f"{e.get('priority', '[INF]')} {e.get('message', e)}")
                else:
                    print(e)
        sys.stdout.flush()
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
