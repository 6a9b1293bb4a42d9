"""How the client reaches the monitor and the OSDs: Ray actors, or cores in this process.

Both transports return `concurrent.futures.Future`s and offer the same methods, so the
Objecter and MonClient never know which one they use.

Monitor methods: command(cmd, inbuf) -> (ret, outbuf, outs, epoch); call(method, *args) ->
(result, epoch); get_osdmap(); wait_for_epoch(have, timeout_s) -> newer map or None.
OSD methods: osd_ops(requests) -> replies; osd_notify(request) -> reply; wait_events(gid,
timeout_s) -> events; and plain calls (pgls, pool_stats, notify_ack, watch_ping, command).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor


class RayTransport:
    """Calls named actors `<cluster>.mon` and the OSDs (`<cluster>.osd.<id>`, or packed in
    `<cluster>.osdhost.<k>`: cluster.bootstrap.osd_handle) in the rayceph namespace."""

    def __init__(self, cluster_name: str, namespace: str, messenger: str = "socket"):
        import ray

        self._ray = ray
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.messenger = messenger
        self._mon = ray.get_actor(f"{cluster_name}.mon", namespace=namespace)
        self._osds: dict[int, object] = {}
        self._channels: dict[int, object] = {}

    def _osd(self, osd_id: int):
        handle = self._osds.get(osd_id)
        if handle is None:
            from cluster.bootstrap import osd_handle

            handle = osd_handle(self.cluster_name, osd_id)
            if handle is None:
                raise ValueError(f"osd.{osd_id}: no actor runs it")
            self._osds[osd_id] = handle
        return handle

    def _channel(self, osd_id: int):
        """The socket channel to an OSD's messenger, or None to use Ray calls."""
        if self.messenger != "socket":
            return None
        channel = self._channels.get(osd_id)
        if channel is None or channel.closed:
            from osd.messenger import SyncPeer

            addr = self._ray.get(self._osd(osd_id).msgr_addr.remote(), timeout=30)
            channel = SyncPeer(tuple(addr)) if addr else None
            self._channels[osd_id] = channel
        return channel

    def connected(self, osd_id: int) -> bool:
        """True when a call to the OSD can leave at once (no lookup that blocks on Ray)."""
        if self.messenger == "socket":
            channel = self._channels.get(osd_id)
            return channel is not None and not channel.closed
        return osd_id in self._osds

    def forget_osd(self, osd_id: int) -> None:
        """Drop cached handles (the actor died; a restarted one has new ones)."""
        self._osds.pop(osd_id, None)
        channel = self._channels.pop(osd_id, None)
        if channel is not None:
            channel.close()

    def mon_call(self, method: str, *args) -> Future:
        return getattr(self._mon, method).remote(*args).future()

    def osd_call(self, osd_id: int, method: str, *args) -> Future:
        try:
            channel = self._channel(osd_id)
            if channel is not None:
                future = channel.call(method, *args)
            else:
                future = getattr(self._osd(osd_id), method).remote(*args).future()
        except Exception as exc:  # no such actor (killed and not restarted), refused socket
            self.forget_osd(osd_id)
            future = Future()
            future.set_exception(exc)
            return future
        future.add_done_callback(lambda f: f.exception() and self.forget_osd(osd_id))
        return future

    def close(self) -> None:
        for channel in self._channels.values():
            if channel is not None:
                channel.close()
        self._channels.clear()
        self._osds.clear()


class InProcessTransport:
    """Runs calls against a `cluster.local_cluster.LocalCluster` on worker threads.

    Ordinary calls go through one worker so the cores see one caller at a time, as an actor
    would; blocking calls (long polls, notifies) get their own pool so they never hold up I/O.
    """

    def __init__(self, cluster):
        self.cluster = cluster
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inproc-io")
        self._blocking = ThreadPoolExecutor(max_workers=16, thread_name_prefix="inproc-wait")

    def mon_call(self, method: str, *args) -> Future:
        cluster = self.cluster
        if method == "command":
            return self._io.submit(cluster.mon_command, *args)
        if method == "call":
            return self._io.submit(cluster.mon_internal, *args)
        if method == "get_osdmap":
            return self._io.submit(cluster.get_osdmap)
        if method == "wait_for_epoch":
            return self._blocking.submit(cluster.wait_for_epoch, *args)
        raise ValueError(f"unknown monitor method {method!r}")

    def connected(self, osd_id: int) -> bool:
        return True

    def osd_call(self, osd_id: int, method: str, *args) -> Future:
        cluster = self.cluster
        if osd_id not in cluster.osds:
            future: Future = Future()
            future.set_exception(ValueError(f"osd.{osd_id} does not exist"))
            return future
        if method == "osd_ops":
            return self._io.submit(cluster.osd_ops, osd_id, *args)
        if method == "osd_notify":
            return self._blocking.submit(cluster.osd_notify, osd_id, *args)
        if method == "wait_events":
            return self._blocking.submit(cluster.wait_events, osd_id, *args)
        if method == "call":  # the actor's generic entry: call(service_method, *args)
            method, args = args[0], args[1:]
        return self._io.submit(cluster.osd_call, osd_id, method, *args)

    def close(self) -> None:
        self._io.shutdown(wait=False)
        self._blocking.shutdown(wait=False)
