"""`python -m bench mirror`: rbd-mirror replication lag and throughput, per mirroring mode.

Two rayceph clusters in one Ray (site A, site B), pool `rbd` paired with a bootstrap token,
and B's replicator running as its Ray actor (`<cluster>.rbd-mirror`, polling every 20 ms).
Per mode (journal, snapshot), on one fresh image:

- lag: a paced writer stamps 64 KiB blocks on A (`RATE` writes/s); a reader on B watches
  for each stamp. Lag = time from the write acknowledged on A to the same bytes readable on
  B (resolution: the reader's poll, ~10 ms). In snapshot mode a mirror snapshot is taken
  every `SNAP_INTERVAL_S` (what a schedule would do), so the lag includes that wait.
- throughput: a burst of back-to-back writes on A, then the time until B holds all of it;
  replication MB/s = burst bytes / (time from the first write to the last byte on B).

Returns a bench.report.Result: `<out>/mirror.csv` (lag of every paced write), `mirror.png`
(lag over time per mode) and summary lines with units. `-c A.conf,B.conf` uses two running clusters (e.g. configs/site-a.conf,configs/site-b.conf
after `rayceph up` of both); without it two embedded clusters are started in this process.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

import rados
import rbd

BLOCK = 64 << 10
RATE = 25.0                 # paced writes per second during the lag phase
SNAP_INTERVAL_S = 0.5
POLL_S = 0.01
TIMEOUT_S = 120.0
STAMP = 16
EMBEDDED = """[global]
osd pool default size = 2
osd pool default min size = 1
osd pool default pg num = 16
mon allow pool delete = true
[rayceph]
ray address = local
cluster name = %s
hosts = 2
osds per host = 1
pools = rbd
"""


def _confs(args) -> list[str]:
    if args.conf:
        confs = [c.strip() for c in args.conf.split(",") if c.strip()]
        if len(confs) != 2:
            raise SystemExit("mirror: -c takes two configs, SITE_A.conf,SITE_B.conf")
        return confs
    tmp = tempfile.mkdtemp(prefix="mirror-bench-")
    out = []
    for site in ("a", "b"):
        path = os.path.join(tmp, "site-%s.conf" % site)
        with open(path, "w") as f:
            f.write(EMBEDDED % ("mbench-%s-%d" % (site, os.getpid())))
        out.append(path)
    return out


def _pair(io_a, io_b) -> None:
    r = rbd.RBD()
    r.mirror_site_name_set(io_a.rados, "bench-site-a")
    r.mirror_site_name_set(io_b.rados, "bench-site-b")
    r.mirror_mode_set(io_a, rbd.RBD_MIRROR_MODE_IMAGE)
    if not list(r.mirror_peer_list(io_b)):
        token = r.mirror_peer_bootstrap_create(io_a)
        r.mirror_peer_bootstrap_import(io_b, rbd.RBD_MIRROR_PEER_DIRECTION_RX, token)


def _stamp(seq: int) -> bytes:
    return b"%016d" % seq


class _Watcher(threading.Thread):
    """Reads B's image until each stamped block shows up; records when it did."""

    def __init__(self, io_b, name: str):
        super().__init__(daemon=True, name="mirror-bench-watch")
        self.io_b, self.name = io_b, name
        self.expected: list[int] = []      # seq per slot, in write order
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()

    def expect(self, seq: int) -> None:
        with self.lock:
            self.expected.append(seq)

    def run(self) -> None:
        img = None
        first = 0
        while not self.done.is_set():
            try:
                if img is None:
                    img = rbd.Image(self.io_b, self.name, read_only=True)
                with self.lock:
                    pending = self.expected[first:]
                if not pending:
                    time.sleep(POLL_S)
                    continue
                lo, hi = first * BLOCK, (first + len(pending)) * BLOCK
                data = img.read(lo, hi - lo)
                now = time.perf_counter()
                for i, seq in enumerate(pending):
                    if data[i * BLOCK:i * BLOCK + STAMP] == _stamp(seq):
                        self.seen.setdefault(seq, now)
                while first < len(self.expected) and self.expected[first] in self.seen:
                    first += 1
            except rbd.ImageNotFound:
                pass
            time.sleep(POLL_S)
        if img is not None:
            img.close()


def _replaying(io_b, name: str) -> bool:
    """B's copy exists and its replicator is past the bootstrap."""
    try:
        with rbd.Image(io_b, name, read_only=True) as img:
            state = img.mirror_image_get_status().get("state")
    except rbd.ImageNotFound:
        return False
    return state == rbd.MIRROR_IMAGE_STATUS_STATE_REPLAYING


def _wait(pred, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("mirror bench: timed out waiting for %s" % what)
        time.sleep(POLL_S)


def _case(io_a, io_b, mode: int, seconds: float, burst: int) -> dict:
    r = rbd.RBD()
    name = "mirror_bench_%s_%d" % ("journal" if mode == rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL
                                   else "snapshot", os.getpid())
    writes = int(RATE * seconds)
    size = (writes + burst + 1) * BLOCK
    features = rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK
    r.create(io_a, name, size, order=22, features=features)
    img = rbd.Image(io_a, name)
    try:
        img.mirror_image_enable(mode)
        snapshot = mode == rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT
        _wait(lambda: _replaying(io_b, name), "the bootstrap on site B")
        # warm-up: one write through the whole path (the replicator's first replay opens
        # and locks B's image) before anything is measured
        spare = (writes + burst) * BLOCK
        img.write(b"warm-up", spare)
        if snapshot:
            img.mirror_image_create_snapshot()
        with rbd.Image(io_b, name, read_only=True) as copy:
            _wait(lambda: copy.read(spare, 7) == b"warm-up", "the warm-up write on B")
        watcher = _Watcher(io_b, name)
        watcher.start()
        acked: dict[int, float] = {}
        write_lat = []
        last_snap = time.perf_counter()
        start = time.perf_counter()
        for seq in range(writes):          # paced phase
            due = start + seq / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            img.write(_stamp(seq) + os.urandom(BLOCK - STAMP), seq * BLOCK)
            acked[seq] = time.perf_counter()
            write_lat.append(acked[seq] - t0)
            watcher.expect(seq)
            if snapshot and acked[seq] - last_snap >= SNAP_INTERVAL_S:
                img.mirror_image_create_snapshot()
                last_snap = time.perf_counter()
        if snapshot:
            img.mirror_image_create_snapshot()
        _wait(lambda: all(s in watcher.seen for s in range(writes)), "the paced writes on B")
        series = [(acked[s] - start, watcher.seen[s] - acked[s]) for s in range(writes)]
        lags = sorted(lag for _, lag in series)
        burst_start = time.perf_counter()       # throughput phase
        for k in range(burst):
            seq = writes + k
            img.write(_stamp(seq) + os.urandom(BLOCK - STAMP), seq * BLOCK)
            watcher.expect(seq)
        burst_written = time.perf_counter()
        if snapshot:
            img.mirror_image_create_snapshot()
        _wait(lambda: all(s in watcher.seen for s in range(writes, writes + burst)),
              "the burst on B")
        burst_end = max(watcher.seen[s] for s in range(writes, writes + burst))
        watcher.done.set()
        watcher.join()
    finally:
        img.close()
    return {"writes": writes, "series": series, "lag_p50": statistics.median(lags),
            "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))], "lag_max": lags[-1],
            "write_ms": statistics.median(write_lat) * 1e3,
            "a_mbs": burst * BLOCK / (burst_written - burst_start) / 1e6,
            "repl_mbs": burst * BLOCK / (burst_end - burst_start) / 1e6}


def run(args):
    """Both modes on two sites; returns a bench.report.Result (CSV: one row per paced write,
    PNG: lag over the run per mode)."""
    import ray

    from bench.report import Result, pyplot
    from rbd.mirror.daemon import start_actor
    result = Result("mirror", getattr(args, "out", "") or "bench-results")
    confs = _confs(args)
    seconds = min(args.seconds, 2.0) if args.quick else args.seconds
    burst = 32 if args.quick else 128
    site_a, site_b = (rados.Rados(conffile=c) for c in confs)
    site_a.connect(timeout=120)
    site_b.connect(timeout=120)
    rows, series = [], {}
    try:
        io_a, io_b = site_a.open_ioctx("rbd"), site_b.open_ioctx("rbd")
        _pair(io_a, io_b)
        actor = start_actor(confs[1], 0.02, detached=False, commit_age_s=0.5)
        ray.get(actor.ping.remote(), timeout=TIMEOUT_S)
        result.note("rbd-mirror A -> B as a Ray actor polling every 20 ms; %d KiB writes; "
                    "lag phase %.0f writes/s for %.1f s (snapshot mode: a mirror snapshot "
                    "every %.1f s); throughput phase: %d back-to-back writes"
                    % (BLOCK >> 10, RATE, seconds, SNAP_INTERVAL_S, burst))
        try:
            for label, mode in (("journal", rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL),
                                ("snapshot", rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT)):
                res = _case(io_a, io_b, mode, seconds, burst)
                ack = res["write_ms"] / 1e3
                result.measure("%s lag p50" % label, res["lag_p50"] * 1e3, "ms",
                               ack * 1e3, "A write latency")
                result.measure("%s lag p99" % label, res["lag_p99"] * 1e3, "ms")
                result.measure("%s lag max" % label, res["lag_max"] * 1e3, "ms")
                result.measure("%s replication throughput" % label, res["repl_mbs"], "MB/s",
                               res["a_mbs"], "A write throughput")
                series[label] = res["series"]
                rows += [{"mode": label, "write": i, "t_s": round(t, 4),
                          "lag_ms": round(lag * 1e3, 3)}
                         for i, (t, lag) in enumerate(res["series"])]
        finally:
            ray.get(actor.stop.remote(), timeout=TIMEOUT_S)
            ray.kill(actor)
    finally:
        site_a.shutdown()
        site_b.shutdown()
    result.write_csv(rows)
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, pts in series.items():
            ax.plot([t for t, _ in pts], [lag * 1e3 for _, lag in pts], ".-", label=label)
        ax.set_xlabel("time since the first write (s)")
        ax.set_ylabel("lag: acked on A -> readable on B (ms)")
        ax.set_title("rbd-mirror replication lag, %.0f x %d KiB writes/s" % (RATE, BLOCK >> 10))
        ax.legend()
        result.save_png(fig, plt)
    return result
