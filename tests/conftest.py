"""Shared fixtures: seeds for model tests, and one embedded Ray cluster per session.

Ray integration tests use `ray_conffile` / `ray_rados`; everything else runs without Ray
(unit tests drive the cores directly, `inprocess_conffile` runs the whole client stack
against in-process cores).
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

DEFAULT_SEEDS = [1, 2, 3]


def pytest_addoption(parser):
    parser.addoption("--seed", type=int, default=None,
                     help="replay the seeded model/fault tests with this seed only")


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--seed")
        metafunc.parametrize("seed", [chosen] if chosen is not None else DEFAULT_SEEDS)


def _write_conf(path, address: str, cluster_name: str) -> str:
    path.write_text(
        "[global]\n"
        "osd pool default size = 3\n"
        "osd pool default min size = 2\n"
        "osd pool default pg num = 16\n"
        "mon allow pool delete = true\n"
        "[rayceph]\n"
        f"ray address = {address}\n"
        f"cluster name = {cluster_name}\n"
        "hosts = 3\n"
        "osds per host = 1\n"
        "pools = rbd\n"
    )
    return str(path)


@pytest.fixture(scope="session")
def inprocess_conffile(tmp_path_factory) -> str:
    return _write_conf(tmp_path_factory.mktemp("conf") / "inprocess.conf", "inprocess", "inproc")


@pytest.fixture(scope="session")
def ray_conffile(tmp_path_factory) -> str:
    return _write_conf(tmp_path_factory.mktemp("conf") / "ray.conf", "local", "ceph")


@pytest.fixture(scope="session")
def ray_rados(ray_conffile):
    """A connected Rados handle on the session's embedded Ray cluster."""
    import rados

    cluster = rados.Rados(conffile=ray_conffile)
    cluster.connect(timeout=120)
    yield cluster
    cluster.shutdown()
