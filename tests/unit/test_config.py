"""cluster.config against librados 16.2.15 behaviour (values observed with python3-rados)."""
import errno
import os
import pickle

import pytest

from cluster.config import (OPTIONS, CephConfig, ConfigFileNotFound, ConfigParseError,
                            InvalidOptionValue, UnknownOption, bundled_config_path,
                            normalize_key)

# conf_get of a fresh librados handle (conffile=None), cluster 'ceph', name client.admin
LIBRADOS_DEFAULTS = {
    "mon_host": "", "auth_client_required": "cephx, none", "auth_cluster_required": "cephx",
    "auth_service_required": "cephx", "osd_pool_default_size": "3",
    "osd_pool_default_min_size": "0", "osd_pool_default_pg_num": "32",
    "osd_pool_default_pgp_num": "0", "osd_pool_default_flag_hashpspool": "true",
    "osd_crush_chooseleaf_type": "1", "mon_allow_pool_delete": "false",
    "mon_osd_down_out_interval": "600", "osd_heartbeat_grace": "20",
    "osd_heartbeat_interval": "6", "osd_max_backfills": "1", "osd_recovery_max_active": "0",
    "rados_osd_op_timeout": "0", "rados_mon_op_timeout": "0", "client_mount_timeout": "300",
    "log_file": "", "rbd_default_features": "61", "rbd_default_order": "22",
    "rbd_default_format": "2", "rbd_default_clone_format": "auto",
    "rbd_default_stripe_unit": "0", "rbd_default_stripe_count": "0",
    "rbd_default_data_pool": "", "rbd_validate_names": "true", "rbd_cache": "true",
    "rbd_move_to_trash_on_remove": "false", "rbd_move_parent_to_trash_on_remove": "false",
    "rbd_mirroring_max_mirroring_snapshots": "5", "rbd_request_timed_out_seconds": "30",
    "rbd_blocklist_on_break_lock": "true", "rbd_skip_partial_discard": "true",
    "rbd_default_pool": "rbd",
    "keyring": "/etc/ceph/ceph.client.admin.keyring,/etc/ceph/ceph.keyring,/etc/ceph/keyring,"
               "/etc/ceph/keyring.bin,",
}

RAYCEPH_DEFAULTS = {
    "rayceph_ray_address": "local", "rayceph_cluster_name": "ceph", "rayceph_hosts": "3",
    "rayceph_osds_per_host": "1", "rayceph_objectstore": "memstore", "rayceph_pools": "rbd",
    "rayceph_crush_map": "", "rayceph_osds_per_actor": "1", "rayceph_op_batch_window_us": "0",
}

SAMPLE = r"""
; a comment
# another
[global]
fsid = 11111111-2222-3333-4444-555555555555
osd pool default size = 2   ; trailing comment
osd-pool-default-pg-num = 64  # dashes are accepted too
rbd_default_order = "23"
log file = /var/log/$cluster-$name-$id-$type.log
keyring = '/etc/$cluster.$name.keyring'
rbd default data pool = "a b ; c"
mon host = 1.2.3.4
rbd   default   stripe unit = 4K
osd max backfills = a\;b
[client]
rbd_default_format = 1
rbd cache = false
[client.admin]
rbd cache = true
[client.foo]
rbd_default_features = layering, exclusive-lock
[osd]
osd_max_backfills = 7
[rayceph]
hosts = 5
osds per host = 2
unknown_ceph_thing = 1
"""


def conf_with(text: str, name: str = "client.admin", cluster: str = "ceph") -> CephConfig:
    conf = CephConfig(name=name, cluster=cluster)
    conf.parse_text(text)
    return conf


def test_defaults_match_librados():
    conf = CephConfig()
    for key, value in {**LIBRADOS_DEFAULTS, **RAYCEPH_DEFAULTS}.items():
        assert conf.get(key) == value, key
    assert conf.get("fsid") == ""      # deliberately '' (librados: the zero uuid)
    for name, opt in OPTIONS.items():  # every default parses as its own type
        assert conf.get(name) is not None
        if opt.type != "str":
            conf.set(name, conf.get(name))


def test_key_spellings_are_one_key():
    conf = CephConfig()
    for spelling in ("osd pool default size", "osd_pool_default_size",
                     "osd-pool-default-size", "  osd  pool__default-size "):
        assert normalize_key(spelling) == "osd_pool_default_size"
        assert conf.get(spelling) == "3"
    conf.set("osd pool default size", 5)
    assert conf.get("osd-pool-default-size") == "5"
    assert conf.get("OSD_POOL_DEFAULT_SIZE") is None       # case matters, as in Ceph


def test_file_values_sections_and_metavariables():
    conf = conf_with(SAMPLE, cluster="mycl")
    assert conf.get("fsid") == "11111111-2222-3333-4444-555555555555"
    assert conf.get("osd_pool_default_size") == "2"
    assert conf.get("osd_pool_default_pg_num") == "64"
    assert conf.get("rbd_default_order") == "23"
    assert conf.get("log_file") == "/var/log/mycl-client.admin-admin-client.log"
    assert conf.get("keyring") == "/etc/mycl.client.admin.keyring"
    assert conf.get("rbd_default_data_pool") == "a b ; c"
    assert conf.get("mon_host") == "1.2.3.4"
    assert conf.get("rbd_default_stripe_unit") == "4096"
    assert conf.get("rbd_default_format") == "1"            # [client]
    assert conf.get("rbd_cache") == "true"                  # [client.admin] beats [client]
    assert conf.get("rbd_default_features") == "61"
    assert conf.get("osd_max_backfills") == "1"             # 'a;b' is invalid: default kept
    assert any("osd_max_backfills" in e for e in conf.parse_errors)
    assert conf.get("rayceph_hosts") == "5"
    assert conf.get("rayceph_osds_per_host") == "2"
    assert conf.get("unknown_ceph_thing") is None

    foo = conf_with(SAMPLE, name="client.foo")
    assert foo.get("rbd_cache") == "false"                  # [client]
    assert foo.get("rbd_default_features") == "5"           # layering | exclusive-lock
    assert foo.get("log_file") == "/var/log/ceph-client.foo-foo-client.log"
    osd = conf_with(SAMPLE, name="osd.3")
    assert osd.get("osd_max_backfills") == "7"              # [osd] only for OSDs
    assert osd.get("rbd_cache") == "true"                   # [client] is not the OSD's
    assert osd.get("log_file") == "/var/log/ceph-osd.3-3-osd.log"


def test_entity_changes_apply_to_lookups():
    conf = conf_with(SAMPLE)
    conf.set("name", "client.foo")
    assert conf.name == "client.foo" and conf.get("rbd_cache") == "false"
    conf.set_entity("bar")
    assert conf.name == "client.bar" and conf.get("rbd_default_features") == "61"
    conf.set("cluster", "other")
    assert conf.get("rayceph_cluster_name") == "other"      # follows $cluster by default
    assert conf.get("cluster") is None and conf.get("name") is None   # as librados
    with pytest.raises(InvalidOptionValue):
        conf.set_entity("bogus.x")


def test_syntax_errors():
    for text in ("rbd_cache = true\n[global]\n",              # key outside a section
                 "[global]\nrbd default data pool\n",         # no '='
                 "[global]\nrbd default data pool = \"ab\" x\n",
                 "[global]\nrbd default data pool = \"ab\n",
                 "[]\n"):
        with pytest.raises(ConfigParseError) as info:
            conf_with(text)
        assert info.value.errno == errno.EINVAL
        assert "<string>:" in str(info.value)


def test_quotes_escapes_and_continuations():
    conf = conf_with('[global]\nrbd default data pool = "a\\"b"\n'
                     "rbd default pool = a \\\n b\n"
                     "mon host = x = y\n"
                     "log file = a\\#b   # comment\n")
    assert conf.get("rbd_default_data_pool") == 'a"b'
    assert conf.get("rbd_default_pool") == "a  b"
    assert conf.get("mon_host") == "x = y"
    assert conf.get("log_file") == "a#b"


def test_duplicate_sections_merge_last_value_wins():
    conf = conf_with("[global]\nrbd default order = 20\n[global]\nrbd cache = false\n"
                     "rbd default order = 21\nrbd default order = 23\n")
    assert conf.get("rbd_default_order") == "23" and conf.get("rbd_cache") == "false"


def test_read_file_and_missing_file(tmp_path):
    path = tmp_path / "ceph.conf"
    path.write_text("[global]\nosd pool default size = 2\n")
    conf = CephConfig()
    conf.read_file(str(path))
    assert conf.get("osd_pool_default_size") == "2"
    assert conf.source_files == [str(path)]
    with pytest.raises(ConfigFileNotFound) as info:
        conf.read_file(str(tmp_path / "missing.conf"))
    exc = info.value
    assert exc.errno == errno.ENOENT and isinstance(exc, FileNotFoundError)
    assert str(tmp_path / "missing.conf") in str(exc)
    assert conf.get("osd_pool_default_size") == "2"          # untouched
    path2 = tmp_path / "b.conf"
    path2.write_text("[global]\nrbd cache = false\n")
    conf.read_file(path2)                                    # replaces the first file
    assert conf.get("osd_pool_default_size") == "3" and conf.get("rbd_cache") == "false"


def test_set_get_and_canonical_values():
    conf = CephConfig()
    assert conf.get("no_such_option") is None
    with pytest.raises(UnknownOption) as info:
        conf.set("no_such_option", "1")
    assert info.value.errno == errno.ENOENT and isinstance(info.value, KeyError)
    cases = {("rbd_default_features", "layering"): "1",
             ("rbd_default_features", "layering,exclusive-lock"): "5",
             ("rbd_default_features", "3"): "3",
             ("rbd_cache", "1"): "true", ("rbd_cache", "TRUE"): "true",
             ("rbd_cache", False): "false",
             ("rbd_default_stripe_unit", "4K"): "4096",
             ("rbd_default_stripe_unit", "1M"): "1048576",
             ("rbd_default_stripe_unit", "1Mi"): "1048576",
             ("rbd_default_stripe_unit", "1MB"): "1048576",
             ("rbd_default_order", "99"): "99", ("rbd_default_order", 20): "20",
             ("osd pool default size", "4"): "4", ("mon_host", "x"): "x",
             ("rbd_default_clone_format", "2"): "2"}
    for (key, value), expected in cases.items():
        conf.set(key, value)
        assert conf.get(key) == expected, (key, value)
    bad = [("rbd_default_order", "abc"), ("rbd_cache", "maybe"), ("rbd_cache", "yes"),
           ("rbd_default_features", "bogus"), ("osd_pool_default_size", "-1"),
           ("client_mount_timeout", "1.5"), ("rados_osd_op_timeout", "2.5"),
           ("osd_heartbeat_grace", "3.5"), ("rbd_default_stripe_unit", "4 K"),
           ("rbd_default_stripe_unit", "1MiB"), ("rbd_default_clone_format", "7"),
           ("rbd_default_order", ""), ("osd_pool_default_size", " 5 ")]
    for key, value in bad:
        with pytest.raises(InvalidOptionValue) as info:
            conf.set(key, value)
        assert info.value.errno == errno.EINVAL and isinstance(info.value, ValueError)
        assert str(info.value).startswith(key + ":"), str(info.value)
    assert conf.get_typed("rbd_cache") is False
    assert conf.get_typed("rbd_default_stripe_unit") == 1048576
    with pytest.raises(UnknownOption):
        conf.get_typed("nope")


def test_overrides_beat_the_file():
    conf = conf_with("[global]\nrbd default order = 20\n")
    conf.set("rbd_default_order", 21)
    conf.parse_text("[global]\nrbd default order = 19\n")
    assert conf.get("rbd_default_order") == "21"
    assert conf.is_set("rbd_default_order") and not conf.is_set("rbd_cache")


def test_parse_argv(tmp_path):
    path = tmp_path / "x.conf"
    path.write_text("[global]\nfsid = 22222222-2222-3333-4444-555555555555\n"
                    "[client.bob]\nrbd cache = false\n")
    conf = CephConfig()
    rest = conf.parse_argv(["prog", "--osd-pool-default-size", "7", "--rbd_cache=false",
                            "extra", "-c", str(path), "--id", "bob", "--unknownopt", "1",
                            "--cluster", "x", "--rbd_default_order", "18"])
    assert rest == ["prog", "extra", "--unknownopt", "1"]
    assert conf.get("osd_pool_default_size") == "7"
    assert conf.get("rbd_default_order") == "18"
    assert conf.get("fsid") == "22222222-2222-3333-4444-555555555555"
    assert conf.name == "client.bob" and conf.cluster == "x"
    assert conf.get("rbd_cache") == "false"
    assert conf.parse_argv(["--rbd_cache"]) == [] and conf.get("rbd_cache") == "true"
    assert conf.parse_argv(["--no-rbd_cache"]) == [] and conf.get("rbd_cache") == "false"
    assert conf.parse_argv(["--rbd-cache", "true", "x"]) == ["x"]
    assert conf.get("rbd_cache") == "true"
    assert conf.parse_argv(["x", "--", "--rbd_default_order", "21"]) == \
        ["x", "--", "--rbd_default_order", "21"]
    assert conf.get("rbd_default_order") == "18"
    assert conf.parse_argv(["--name=client.admin", "-n", "client.foo"]) == []
    assert conf.name == "client.foo"
    with pytest.raises(InvalidOptionValue) as info:
        conf.parse_argv(["x", "--rbd_default_order"])
    assert info.value.errno == errno.EINVAL
    with pytest.raises(InvalidOptionValue):
        conf.parse_argv(["--rbd-default-order", "bad"])
    with pytest.raises(ConfigFileNotFound):
        conf.parse_argv(["--conf", str(tmp_path / "nope.conf")])


def test_parse_env(monkeypatch):
    conf = CephConfig()
    monkeypatch.setenv("CEPH_ARGS", "--rbd_default_order 19 --fsid 'abc' stray")
    conf.parse_env()
    assert conf.get("rbd_default_order") == "19" and conf.get("fsid") == "abc"
    monkeypatch.setenv("MY_ARGS", "--rbd_cache=false")
    conf.parse_env("MY_ARGS")
    assert conf.get("rbd_cache") == "false"
    monkeypatch.delenv("UNSET_ARGS", raising=False)
    conf.parse_env("UNSET_ARGS")


def test_search_default_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CEPH_CONF", raising=False)
    conf = CephConfig(cluster="rayceph-test-nonexistent")
    assert conf.search_default_files() is None
    (tmp_path / "rayceph-test-nonexistent.conf").write_text("[global]\n")
    assert conf.search_default_files() == "rayceph-test-nonexistent.conf"
    home = tmp_path / "home" / ".ceph"
    home.mkdir(parents=True)
    (home / "rayceph-test-nonexistent.conf").write_text("[global]\n")
    assert conf.search_default_files() == str(home / "rayceph-test-nonexistent.conf")
    explicit = tmp_path / "explicit.conf"
    monkeypatch.setenv("CEPH_CONF", str(explicit))
    assert conf.search_default_files() is None               # $CEPH_CONF is exclusive
    explicit.write_text("[global]\n")
    assert conf.search_default_files() == str(explicit)


def test_to_dict_round_trip():
    conf = conf_with(SAMPLE, cluster="mycl")
    conf.set("rbd_default_order", 25)
    copy = CephConfig()
    for key, value in conf.to_dict().items():
        copy.set(key, value)
    assert copy.to_dict() == conf.to_dict()
    assert set(conf.to_dict()) == set(OPTIONS)


@pytest.mark.parametrize("text, message", [
    ("[rayceph]\nhosts = 0\n", "hosts: must be >= 1"),
    ("[rayceph]\nosds per host = 0\n", "osds per host: must be >= 1"),
    ("[rayceph]\nhosts = many\n", "hosts: Expected option value to be integer"),
    ("[rayceph]\nosds per actor = 0\n", "osds per actor: must be >= 1"),
    ("[rayceph]\nop batch window us = -1\n", "op batch window us: must be >= 0"),
    ("[rayceph]\nobjectstore = bluestore\n", "objectstore: 'bluestore' is not one of memstore"),
    ("[rayceph]\nhostz = 3\n", "hostz: unknown [rayceph] option"),
    ("[rayceph]\npools = rbd, rbd\n", "pools: a pool is listed twice"),
    ("[global]\nosd pool default size = 11\n", "osd_pool_default_size: must be <= 10"),
    ("[global]\nosd pool default size = 2\nosd pool default min size = 3\n",
     "osd_pool_default_min_size: must be <= osd_pool_default_size (2)"),
    ("[global]\nosd pool default pg num = 8\nosd pool default pgp num = 16\n",
     "osd_pool_default_pgp_num: must be <= osd_pool_default_pg_num (8)"),
])
def test_validate_names_the_key(text, message):
    conf = conf_with(text)
    with pytest.raises(ValueError) as info:
        conf.validate()
    assert str(info.value).startswith(message), str(info.value)


def test_validate_overrides_too():
    conf = CephConfig()
    with pytest.raises(InvalidOptionValue, match="rayceph_hosts: must be >= 1"):
        conf.set("rayceph_hosts", 0)
    conf.validate()


@pytest.mark.parametrize("name, hosts, per_host", [("default", 3, 1), ("laptop", 4, 3)])
def test_bundled_configs(name, hosts, per_host):
    path = bundled_config_path(name)
    assert os.path.isfile(path) and path.endswith(f"configs/{name}.conf")
    conf = CephConfig()
    conf.read_file(path)
    conf.validate()
    assert conf.parse_errors == []
    assert conf.get_typed("rayceph_hosts") == hosts
    assert conf.get_typed("rayceph_osds_per_host") == per_host
    assert conf.get("mon_allow_pool_delete") == "true"
    assert (conf.get("osd_pool_default_size"), conf.get("osd_pool_default_min_size"),
            conf.get("osd_pool_default_pg_num")) == ("3", "2", "32")
    assert conf.pool_names() == ["rbd"]
    assert OPTIONS["mon_allow_pool_delete"].default == "false"    # Ceph's default kept
    with pytest.raises(ConfigFileNotFound):
        bundled_config_path("no-such-config")


def test_errors_pickle():
    for exc in (ConfigFileNotFound("/x"), UnknownOption("foo"),
                InvalidOptionValue("hosts", "must be >= 1"), ConfigParseError("f:1: bad")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.errno == exc.errno
