"""Which host actor runs which OSD (cluster/bootstrap.py pack_osds), without Ray."""
from __future__ import annotations

from types import SimpleNamespace

from cluster import bootstrap


def _osdmap(hosts: dict):
    host_of = {osd: host for host, osds in hosts.items() for osd in osds}
    return SimpleNamespace(osds={osd: None for osd in host_of},
                           crush=SimpleNamespace(host_of=host_of.get))


def test_one_node_packs_in_crush_host_order():
    m = _osdmap({"a": [0, 3], "b": [1, 4], "c": [2, 5]})
    assert bootstrap.pack_osds(m, 4, {}) == [[0, 3, 1, 4], [2, 5]]


def test_an_actor_never_spans_two_ray_nodes():
    m = _osdmap({"a": [0, 1], "b": [2, 3], "c": [4, 5]})
    nodes = {"a": "n1", "b": "n2", "c": "n1"}
    groups = bootstrap.pack_osds(m, 10, nodes)
    assert groups == [[0, 1, 4, 5], [2, 3]]


def test_ray_nodes_for_hosts_only_beyond_the_embedded_ray():
    m = _osdmap({"a": [0], "b": [1]})
    assert bootstrap.ray_nodes_for_hosts(m, "local") == {}
    assert bootstrap.ray_nodes_for_hosts(m, "inprocess") == {}


def test_crush_hosts_go_round_robin_over_alive_nodes(monkeypatch):
    import ray

    nodes = [{"NodeID": "n2", "Alive": True}, {"NodeID": "n1", "Alive": True},
             {"NodeID": "dead", "Alive": False}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    m = _osdmap({"a": [0], "b": [1], "c": [2]})
    assert bootstrap.ray_nodes_for_hosts(m, "auto") == {"a": "n1", "b": "n2", "c": "n1"}
    nodes.pop(0)    # one node left: Ray places the actors
    assert bootstrap.ray_nodes_for_hosts(m, "auto") == {}
