"""rbd-mirror daemon: replays every mirrored pool of the local cluster from its peers.

`MirrorDaemonCore` is plain Python (a loop around PoolReplayer.replicate_once) and is what
tests and `--foreground` use; `start_actor()` runs it inside a detached Ray actor named
`<cluster>.rbd-mirror` in the `rayceph` namespace.

Per pass: for every pool of the local cluster whose mirroring is enabled, for every peer
with connection attributes (mon_host) whose direction lets us receive (RX or RX/TX), open
the same pool on the peer and replicate_once(). Peers and replayers are cached between
passes; a peer that cannot be reached is reported in `errors` and retried next pass.

One replicator per site: the daemon records its client addresses (local cluster and peers)
under the mon config-key `rbd/mirror/instance/<site>`; a new daemon that finds other
addresses there takes them as a predecessor that died without closing (the Ray actor name
`<cluster>.rbd-mirror` is unique) and blocklists them, as rbd-mirror's leader removes a dead
instance with a blocklisting lock break. Without that, the exclusive locks the dead daemon
held on images it was writing would only go after its watches time out (30 s).
"""
from __future__ import annotations

import json
import logging
import threading

from rbd.constants import RBD_MIRROR_MODE_DISABLED, RBD_MIRROR_PEER_DIRECTION_TX

log = logging.getLogger("rayceph.rbd_mirror")
DEFAULT_INTERVAL_S = 5.0


INSTANCE_KEY = "rbd/mirror/instance/%s"


class MirrorDaemonCore:
    def __init__(self, conffile: str, interval_s: float = DEFAULT_INTERVAL_S,
                 copy_bytes_per_second: float = 0, commit_age_s: float = 5.0,
                 snapshot_interval_s: float = 0):
        import rados
        self.conffile = conffile
        self.interval_s = float(interval_s)
        self.tuning = {"copy_bytes_per_second": float(copy_bytes_per_second),
                       "commit_age_s": float(commit_age_s)}
        self.snapshot_interval_s = float(snapshot_interval_s)   # 0: no schedule
        self.scheduled_snapshots = 0
        self.local = rados.Rados(conffile=conffile)
        self.local.connect()
        self._remotes: dict[str, object] = {}       # mon_host -> rados.Rados
        self.fenced = self._fence_predecessor()
        self._replayers: dict[tuple, object] = {}   # (pool, peer uuid) -> PoolReplayer
        self._ioctxs: list = []
        self.errors: dict[str, str] = {}
        self.passes = 0
        self._stop = threading.Event()

    def configure(self, snapshot_interval_s: float | None = None,
                  copy_bytes_per_second: float | None = None,
                  commit_age_s: float | None = None) -> None:
        """Change the tuning of a running daemon (None: keep); replayers pick it up at once."""
        from rbd.mirror.runner import _Throttle
        if snapshot_interval_s is not None:
            self.snapshot_interval_s = float(snapshot_interval_s)
        if copy_bytes_per_second is not None:
            self.tuning["copy_bytes_per_second"] = float(copy_bytes_per_second)
        if commit_age_s is not None:
            self.tuning["commit_age_s"] = float(commit_age_s)
        for replayer in list(self._replayers.values()):
            replayer.throttle = _Throttle(self.tuning["copy_bytes_per_second"])
            replayer.commit_age_s = self.tuning["commit_age_s"]

    def _instance_key(self) -> str:
        from rbd.mirror_api import _site_name
        return INSTANCE_KEY % _site_name(self.local)

    def _record_instance(self) -> None:
        """Record our client addresses: on the local cluster and on each peer cluster."""
        from rbd.mirror import store
        doc = {"addr": self.local.get_addrs(),
               "remotes": {host: h.get_addrs() for host, h in self._remotes.items()}}
        store.config_key_set(self.local, self._instance_key(), json.dumps(doc, sort_keys=True))

    def _fence_predecessor(self) -> list:
        """Blocklist the clients of the previous daemon of this site if it did not close (on
        this cluster and on the peers it reached, where its dead watches would otherwise
        hold up notifies for 30 s); returns the addresses fenced."""
        from rbd.mirror import store
        from rbd.mirror.runner import connect_peer
        raw = store.config_key_get(self.local, self._instance_key())
        self._record_instance()
        try:
            previous = json.loads(raw) if raw else {}
        except ValueError:
            previous = {}
        if not isinstance(previous, dict) or previous.get("addr") in (None, self.local.get_addrs()):
            return []
        targets = [(self.local, previous["addr"])]
        for host, addr in sorted((previous.get("remotes") or {}).items()):
            try:
                if host not in self._remotes:
                    self._remotes[host] = connect_peer(host)
                targets.append((self._remotes[host], addr))
            except Exception as exc:
                log.warning("cannot reach %s to fence %s: %s", host, addr, exc)
        fenced = []
        for cluster, addr in targets:
            try:
                cluster.blocklist_add(addr)
                fenced.append(addr)
                log.warning("blocklisted the previous rbd-mirror client %s", addr)
            except Exception as exc:
                log.warning("cannot blocklist previous client %s: %s", addr, exc)
        self._record_instance()
        return fenced

    def _replayer(self, pool: str, peer: dict):
        from rbd import RBD
        from rbd.mirror.runner import PoolReplayer, connect_peer
        key = (pool, peer["uuid"])
        if key in self._replayers:
            return self._replayers[key]
        lio = self.local.open_ioctx(pool)
        attrs = RBD().mirror_peer_get_attributes(lio, peer["uuid"])
        host = attrs["mon_host"]
        remote = self._remotes.get(host)
        if remote is None:
            remote = self._remotes[host] = connect_peer(host)
            self._record_instance()
        rio = remote.open_ioctx(pool)
        self._ioctxs += [lio, rio]
        self._replayers[key] = PoolReplayer(lio, rio, **self.tuning)
        return self._replayers[key]

    def run_once(self) -> dict:
        """One pass over all pools and peers; {pool: {global_id: (state, description)}}."""
        from rbd import RBD
        from rbd.mirror_api import peers, pool_mode
        out = {}
        for pool in self.local.list_pools():
            try:
                with self.local.open_ioctx(pool) as io:
                    if pool_mode(io) == RBD_MIRROR_MODE_DISABLED:
                        continue
                    pool_peers = [p for p in peers(io)
                                  if p["direction"] != RBD_MIRROR_PEER_DIRECTION_TX]
                    if self.snapshot_interval_s > 0:
                        from rbd.mirror.schedule import take_due_snapshots
                        self.scheduled_snapshots += len(
                            take_due_snapshots(io, self.snapshot_interval_s))
                for peer in pool_peers:
                    out.setdefault(pool, {}).update(
                        self._replayer(pool, peer).replicate_once())
                self.errors.pop(pool, None)
            except Exception as exc:     # keep serving the other pools
                log.exception("mirroring pool %s failed", pool)
                self.errors[pool] = repr(exc)
        del RBD
        self.passes += 1
        return out

    def run_forever(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict:
        totals: dict[str, int] = {}
        images = {}
        for replayer in list(self._replayers.values()):
            for k, v in replayer.stats.items():
                totals[k] = totals.get(k, 0) + v
            images.update({gid: list(st) for gid, st in replayer.last_status.items()})
        return {"passes": self.passes, "errors": dict(self.errors),
                "replayers": ["%s/%s" % k for k in self._replayers],
                "stats": dict(totals, scheduled_snapshots=self.scheduled_snapshots),
                "images": images, "fenced": self.fenced}

    def close(self) -> None:
        self.stop()
        try:    # a clean exit: the next daemon has nobody to fence
            from rbd.mirror import store
            key = self._instance_key()
            raw = store.config_key_get(self.local, key)
            if raw and json.loads(raw).get("addr") == self.local.get_addrs():
                store.config_key_set(self.local, key, None)
        except Exception:
            pass
        for r in self._replayers.values():
            r.close()
        for io in self._ioctxs:
            try:
                io.close()
            except Exception:
                pass
        for h in list(self._remotes.values()) + [self.local]:
            try:
                h.shutdown()
            except Exception:
                pass


def _actor_class():
    import ray

    @ray.remote(num_cpus=0, max_concurrency=4)
    class MirrorDaemon:
        def __init__(self, conffile: str, interval_s: float, tuning: dict):
            self.core = MirrorDaemonCore(conffile, interval_s, **tuning)
            self.thread = threading.Thread(target=self.core.run_forever, daemon=True,
                                           name="rbd-mirror")
            self.thread.start()

        def status(self) -> dict:
            return self.core.status()

        def stop(self) -> None:
            self.core.stop()
            self.thread.join(timeout=60)     # let the pass in progress finish
            self.core.close()

        def ping(self) -> bool:
            return True

        def configure(self, tuning: dict) -> None:
            self.core.configure(**tuning)

    return MirrorDaemon


def start_actor(conffile: str, interval_s: float = DEFAULT_INTERVAL_S, detached: bool = True,
                **tuning):
    """Start (or find, and retune) the `<cluster>.rbd-mirror` actor for the cluster of
    `conffile`; returns its handle. Detached by default (it outlives `rayceph mirror start`); tests and
    benchmarks pass detached=False so it dies with them. `tuning`: copy_bytes_per_second,
    commit_age_s (see MirrorDaemonCore)."""
    import ray
    from cluster.bootstrap import NAMESPACE, ensure_ray
    from cluster.config import CephConfig
    conf = CephConfig()
    conf.read_file(conffile)
    name = conf.get("rayceph_cluster_name") or "ceph"
    address = (conf.get("rayceph_ray_address") or "local").strip()
    ensure_ray("auto" if address == "local" else address)
    del ray
    lifetime = {"lifetime": "detached"} if detached else {}
    actor = _actor_class().options(name="%s.rbd-mirror" % name, namespace=NAMESPACE,
                                   get_if_exists=True, **lifetime).remote(
        conffile, interval_s, tuning)
    if tuning:      # an already running daemon takes the new tuning
        actor.configure.remote(tuning)
    return actor


def describe(status: dict) -> str:
    return json.dumps(status, indent=2, sort_keys=True)

