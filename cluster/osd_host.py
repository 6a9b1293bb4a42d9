"""Several OSDs in one Ray actor process (`osds per actor` > 1 in [rayceph]).

A Ray actor is a whole Python process (~100 MB and a share of the scheduler); packing N
OSDs into one is what lets one machine simulate hundreds of them. Each packed OSD is an
ordinary `osd.actor.OSDActor` object on this actor's event loop, with its own messenger
socket, store and timers (the monitor session is the process's, shared by its OSDs:
osd/mon_client.py): clients and peers reach it by address exactly as
they reach an OSD that has a process of its own. Ray calls to it (its address, faults, the
ray messenger) come through `osd_call(osd_id, method, *args)`; `cluster.bootstrap.osd_handle`
hides the difference from callers.

Killing one packed OSD must not look like a host failure, so it is stopped inside the
process instead: every asyncio task it started (timers, map subscription, pipes, server
connections, calls in progress) is cancelled, its server closed and its store dropped. The
tasks are found through a context variable naming the OSD in whose name code runs, which
every task inherits from its creator, and a task factory that files each new task under that
OSD.
"""
from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import os
import resource

import ray

log = logging.getLogger("rayceph.osd")

_running_osd: contextvars.ContextVar = contextvars.ContextVar("rayceph_running_osd",
                                                              default=None)


class OSDStopped(ConnectionError):
    """The OSD is not running in this host actor (never started here, or stopped)."""


class OSDHostActor:
    def __init__(self, cluster_name: str, namespace: str, layout: dict):
        from cluster import bootstrap

        # peers of our OSDs are found through the layout without asking the other hosts
        bootstrap.remember_layout(cluster_name, layout)
        self.cluster_name = cluster_name
        self.namespace = namespace
        self._layout = dict(layout)
        self.osds: dict = {}            # osd id -> OSDActor
        self._tasks: dict = {}          # osd id -> set of its live asyncio tasks
        self._factory = None
        self._mon_client = None         # one monitor session for all (osd/mon_client.py)

    def _track_tasks(self) -> None:
        """File every task created on this loop under the OSD it runs for (see module doc)."""
        loop = asyncio.get_running_loop()
        if self._factory is not None and loop.get_task_factory() is self._factory:
            return
        previous = loop.get_task_factory()
        tasks = self._tasks

        def factory(loop, coro, context=None):
            osd = context.get(_running_osd) if context is not None else _running_osd.get()
            kwargs = {} if context is None else {"context": context}
            task = previous(loop, coro, **kwargs) if previous is not None else \
                asyncio.Task(coro, loop=loop, **kwargs)
            if osd is not None:
                owned = tasks.setdefault(osd, set())
                owned.add(task)
                task.add_done_callback(owned.discard)
            return task

        self._factory = factory
        loop.set_task_factory(factory)

    async def add_osd(self, osd_id: int, options: dict) -> bool:
        """Create (not start) one OSD here; False if it is already running here."""
        from osd.actor import OSDActor

        if osd_id in self.osds:
            return False
        self._track_tasks()
        if self._mon_client is None:
            from osd.mon_client import MonClient

            self._mon_client = MonClient(ray.get_actor(f"{self.cluster_name}.mon",
                                                       namespace=self.namespace))
        osd = OSDActor(self.cluster_name, self.namespace, osd_id, options)
        osd._mon = self._mon_client
        self.osds[osd_id] = osd
        return True

    async def osd_call(self, osd_id: int, method: str, *args):
        """Run one of the OSD's actor methods as a task of that OSD (stop_osd cancels it)."""
        osd = self.osds.get(osd_id)
        if osd is None:
            raise OSDStopped(f"osd.{osd_id} is not running")
        if method.startswith("_"):
            raise AttributeError(f"{method} is not an OSD call")
        token = _running_osd.set(osd_id)
        try:
            task = asyncio.ensure_future(getattr(osd, method)(*args))
        finally:
            _running_osd.reset(token)
        try:
            result = await task
        except asyncio.CancelledError:
            if task.cancelled() and self.osds.get(osd_id) is not osd:
                raise OSDStopped(f"osd.{osd_id} stopped") from None
            raise
        if method == "start":
            # what a started OSD holds lives as long as it does: keep the cyclic collector,
            # which Ray also triggers, from walking it again and again (GIL time the other
            # OSDs of the process need); a stopped OSD's cycles may then stay behind
            gc.freeze()
        return result

    async def stop_osd(self, osd_id: int) -> bool:
        """Stop one OSD as if its process died; False if it was not running here."""
        osd = self.osds.pop(osd_id, None)
        if osd is None:
            return False
        if osd._server is not None:
            osd._server.close()
        for pipe in osd._pipes.values():
            pipe.drop()
        for channel in list(osd._peers.values()):
            close = getattr(channel, "close", None)     # a RayChannel has nothing to close
            if close is not None:
                close()
        current = asyncio.current_task()
        for task in list(self._tasks.pop(osd_id, ())):
            if task is not current:
                task.cancel()
        # an lmdb environment may be open only once per process: the restart reopens it
        osd.service.store.close()
        return True

    async def layout(self) -> dict:
        """{osd id: host actor index} of the whole cluster (bootstrap.osd_handle)."""
        return self._layout

    async def osd_ids(self) -> list:
        return sorted(self.osds)

    async def node_id(self) -> str:
        """The Ray node this actor runs on (CRUSH host placement)."""
        return ray.get_runtime_context().get_node_id()

    async def usage(self) -> dict:
        """Resident memory and CPU time so far of this process (bench output)."""
        rusage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            with open("/proc/self/statm", encoding="ascii") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            rss = rusage.ru_maxrss * 1024
        return {"rss_bytes": rss, "cpu_s": rusage.ru_utime + rusage.ru_stime}


RemoteOSDHost = ray.remote(num_cpus=0, max_concurrency=100000)(OSDHostActor)
