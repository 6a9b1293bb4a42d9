"""pytest plugin (entry point `rayceph`): a Ceph cluster for application test suites.

A project whose code does `import rados, rbd` gets, with no code change:
- `ceph_conffile`: path of a ceph.conf for one embedded cluster per test session
  (`--rayceph-conf PATH` to use your own, e.g. `ray address = inprocess` for speed);
- `ceph_cluster` / `rados_client`: a connected `rados.Rados` on it (session scope);
- `ceph_pool`: a factory `ceph_pool(name=None, rbd=True)` that creates a pool (initialised for
  rbd by default) and deletes it at the end of the test.
Nothing is imported or started unless a test asks for one of these fixtures.
"""
from __future__ import annotations

import itertools
import os

import pytest

_pool_numbers = itertools.count(1)


def pytest_addoption(parser):
    group = parser.getgroup("rayceph")
    group.addoption("--rayceph-conf", default=None,
                    help="ceph.conf for the rayceph test cluster (default: embedded Ray cluster)")


@pytest.fixture(scope="session")
def ceph_conffile(request, tmp_path_factory) -> str:
    chosen = request.config.getoption("--rayceph-conf")
    if chosen:
        return chosen
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    path = tmp_path_factory.mktemp("rayceph") / "ceph.conf"
    path.write_text(
        "[global]\nmon allow pool delete = true\nosd pool default pg num = 16\n"
        "[rayceph]\nray address = local\ncluster name = pytest\npools = rbd\n")
    return str(path)


@pytest.fixture(scope="session")
def ceph_cluster(ceph_conffile):
    import rados

    cluster = rados.Rados(conffile=ceph_conffile)
    cluster.connect(timeout=120)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="session")
def rados_client(ceph_cluster):
    return ceph_cluster


@pytest.fixture
def ceph_pool(ceph_cluster):
    created: list[str] = []

    def make(name: str | None = None, rbd: bool = True) -> str:
        name = name or f"test-pool-{os.getpid()}-{next(_pool_numbers)}"
        ceph_cluster.create_pool(name)
        created.append(name)
        if rbd:
            import rbd as rbd_module

            with ceph_cluster.open_ioctx(name) as ioctx:
                rbd_module.RBD().pool_init(ioctx, True)
        return name

    yield make
    for name in created:
        try:
            ceph_cluster.delete_pool(name)
        except Exception:
            pass
