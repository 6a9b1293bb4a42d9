"""crushtool text format: parsing (spec §8, Appendix B) and formatting round trips."""
import pickle
import random
from pathlib import Path

import pytest

from cluster.crush import (
    DEFAULT_CHOOSE_ARGS, TUNABLE_PROFILES, Bucket, CrushMap, Device, Rule, Step,
)
from cluster.crush_text import (
    CrushTextError, format_crush_text, format_weight, parse_crush_text, parse_weight,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "crush_appendix_b.txt"

# Compiled and decompiled with crushtool 16.2.15: h1 got id -1 (lowest free), default -2;
# shadow trees were built for hdd, ssd, nvme (class order of first appearance) with the
# ids below, children before parents, -9 taken from the `id -9 class nvme` line.
CLASS_MAP = """
device 0 osd.0 class hdd
device 1 osd.1 class ssd
device 2 osd.2
type 0 osd
type 1 host
type 11 root
host h0 { id -5 id -9 class nvme alg straw2 hash 0 item osd.0 weight 1.5 item osd.1 item osd.2 }
host h1 { alg straw2 hash 0 }
root default { alg straw2 item h1 item h0 weight 7 }
rule r { id 3 type replicated min_size 1 max_size 10 step take default class hdd step chooseleaf firstn 0 type host step emit }
rule r2 { id 4 type erasure min_size 1 max_size 10 step take default step choose indep 3 type osd step emit }
"""
CLASS_MAP_BUCKETS = {
    -1: ("h1", [], []), -2: ("default", [-1, -5], [0, 458752]), -3: ("h1~hdd", [], []),
    -4: ("h0~hdd", [0], [98304]), -5: ("h0", [0, 1, 2], [98304, 65536, 65536]),
    -6: ("default~hdd", [-3, -4], [0, 98304]), -7: ("h1~ssd", [], []),
    -8: ("h0~ssd", [1], [65536]), -9: ("h0~nvme", [], []),
    -10: ("default~ssd", [-7, -8], [0, 65536]), -11: ("h1~nvme", [], []),
    -12: ("default~nvme", [-11, -9], [0, 0]),
}

CHOOSE_ARGS_MAP = """
device 0 osd.0
device 1 osd.1
type 0 osd
type 11 root
root default { id -1 alg straw2 hash 0 item osd.0 weight 1.0 item osd.1 weight 1.0 }
rule r { id 0 type replicated min_size 1 max_size 10 step take default step choose firstn 0 type osd step emit }
# choose_args
choose_args 18446744073709551615 {
  {
    bucket_id -1
    weight_set [
      [ 0.1 3.63869 ]
      [ 1.1 0.3 ]
    ]
    ids [ -10 -11 ]
  }
}
choose_args 3 { { bucket_id -1 ids [ 5 6 ] } }
"""


def test_parse_appendix_b():
    crush = parse_crush_text(FIXTURE.read_text())
    assert crush.tunables == TUNABLE_PROFILES["jewel"]
    assert sorted(crush.devices) == list(range(10)) and crush.devices[3].name == "osd.3"
    assert crush.types == {0: "osd", 1: "host", 2: "rack", 11: "root"}
    assert crush.buckets[-4].items == [5, 6, 7]
    assert crush.buckets[-4].weights == [3 * 0x10000, 0x4000, 0x18000]
    assert crush.buckets[-1].items == [-2, -3, -4, -5]
    assert crush.buckets[-1].weights == [0x38000, 0x20000, 0x4c000, 0x20000]
    ec = crush.rules[1]
    assert (ec.name, ec.type, ec.min_size, ec.max_size) == ("ec_rule", "erasure", 3, 10)
    assert ec.steps == [Step("set_chooseleaf_tries", 5), Step("set_choose_tries", 100),
                        Step("take", -1), Step("chooseleaf_indep", 0, 1), Step("emit")]
    assert crush.rules[3].steps[1:3] == [Step("choose_firstn", 2, 1), Step("choose_firstn", 2, 0)]


@pytest.mark.parametrize("text,fixed", [("0.1", 6553), ("0.3", 19660), ("1.1", 72089),
                                        ("3.63869", 238465), ("1.0", 65536), ("1", 65536),
                                        ("0", 0), ("0.000", 0), ("100", 100 * 65536)])
def test_weight_conversion(text, fixed):
    assert parse_weight(text) == fixed


def test_format_weight_round_trips():
    rnd = random.Random(3)
    for w in [0, 1, 6553, 238465, 0x10000, 0xFFFFFF] + [rnd.randrange(1 << 24) for _ in range(300)]:
        assert parse_weight(format_weight(w)) == w
    assert format_weight(0x10000) == "1.000" and format_weight(238465) == "3.6387"


def test_omitted_weights_and_id_allocation():
    crush = parse_crush_text(CLASS_MAP)
    got = {bid: (b.name, b.items, b.weights) for bid, b in crush.buckets.items()}
    assert got == CLASS_MAP_BUCKETS
    assert crush.devices[2].device_class is None and crush.devices[1].device_class == "ssd"
    assert crush.tunables == TUNABLE_PROFILES["legacy"]     # crushtool's default for text
    assert crush.rules[3].steps[0] == Step("take", -6)       # default~hdd
    assert crush.host_of(0) == "h0"                          # not the shadow h0~hdd


def test_no_shadow_trees_without_rules():
    text = CLASS_MAP.split("rule r ")[0]
    assert sorted(parse_crush_text(text).buckets) == [-5, -2, -1]


def test_choose_args():
    crush = parse_crush_text(CHOOSE_ARGS_MAP)
    assert crush.choose_args[DEFAULT_CHOOSE_ARGS] == {
        -1: {"weight_set": [[6553, 238465], [72089, 19660]], "ids": [-10, -11]}}
    assert crush.choose_args[3] == {-1: {"ids": [5, 6]}}
    assert crush.choose_args_for(3) is crush.choose_args[3]
    assert crush.choose_args_for(9) is crush.choose_args[-1]


@pytest.mark.parametrize("text", [FIXTURE.read_text(), CLASS_MAP, CHOOSE_ARGS_MAP])
def test_round_trip(text):
    crush = parse_crush_text(text)
    again = parse_crush_text(format_crush_text(crush))
    assert again == crush


def test_format_matches_crushtool_layout():
    text = format_crush_text(parse_crush_text(CLASS_MAP))
    assert "host h0 {\n\tid -5\t\t# do not change unnecessarily\n" \
           "\tid -4 class hdd\t\t# do not change unnecessarily\n" \
           "\tid -8 class ssd\t\t# do not change unnecessarily\n" \
           "\tid -9 class nvme\t\t# do not change unnecessarily\n" \
           "\t# weight 3.500\n\talg straw2\n\thash 0\t# rjenkins1\n" \
           "\titem osd.0 weight 1.500\n" in text
    assert "\tstep take default class hdd\n" in text
    assert "~" not in text.split("# rules")[0].replace("class", "")
    assert text.index("host h1 {") < text.index("root default {")   # children first
    ca = format_crush_text(parse_crush_text(CHOOSE_ARGS_MAP))
    assert "choose_args 18446744073709551615 {" in ca and "      [ 0.100 3.6387 ]" in ca


def test_round_trip_random_maps_and_large_weights():
    rnd = random.Random(8)
    for _ in range(5):
        crush = CrushMap()
        root = Bucket(-1, "default", 11)
        crush.buckets[-1] = root
        dev = 0
        for h in range(rnd.randint(1, 5)):
            host = Bucket(-2 - h, f"host{h}", 1, alg=rnd.choice(["straw2", "list"]))
            for _ in range(rnd.randint(0, 4)):
                crush.devices[dev] = Device(dev, f"osd.{dev}")
                host.items.append(dev)
                host.weights.append(rnd.randrange(100 * 0x10000))
                dev += 1
            crush.buckets[host.id] = host
            root.items.append(host.id)
            # a stored weight float32 cannot hold: written as "item hostN" (its total)
            root.weights.append(host.weight if rnd.random() < 0.5 else rnd.randrange(1 << 24))
        crush.rules[0] = Rule(0, "r", "replicated", 1, 10, [Step("take", -1),
                                                            Step("chooseleaf_firstn", 0, 1),
                                                            Step("emit")])
        assert parse_crush_text(format_crush_text(crush)) == crush


@pytest.mark.parametrize("text,line,fragment", [
    ("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h { item osd.9 }", 4, "not defined"),
    ("type 0 osd\nrack r { }", 2, "unknown keyword"),
    ("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h {\n item osd.0 weight abc }", 5, "not a number"),
    ("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h { id -1 }\nhost g { id -1 }", 5, "used twice"),
    ("type 0 osd\ntype 1 host\nhost h { alg straw3 }", 3, "unknown bucket algorithm"),
    ("type 0 osd\nrule r { id 0 type weird }", 2, "unknown rule type"),
    ("type 0 osd\ntype 1 host\nhost h { }\nrule r { id 0\n step take h class ssd }", 5, "no class"),
    ("type 0 osd\nrule r { id 0 step choose firstn 0 type rack }", 2, "unknown type"),
    ("tunable choose_nothing 1", 1, "unknown tunable"),
    ("type 0 osd\ntype 1 host\nhost h {\n", 3, "unexpected end"),
    ("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h { item osd.0 weight 101 }", 4, "above 100"),
    ("device 0 osd.0\ndevice 1 osd.1\ntype 0 osd\ntype 1 host\n"
     "host h { alg uniform item osd.0 weight 1 item osd.1 weight 2 }", 5, "same weight"),
])
def test_errors_carry_line_numbers(text, line, fragment):
    with pytest.raises(CrushTextError) as info:
        parse_crush_text(text)
    assert info.value.line_no == line
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_pickles():
    err = CrushTextError(7, "bad thing")
    back = pickle.loads(pickle.dumps(err))
    assert (back.line_no, back.message, str(back)) == (7, "bad thing", "line 7: bad thing")


def test_unrepresentable_bucket_weight_written_as_total():
    crush = CrushMap(devices={i: Device(i, f"osd.{i}") for i in range(3)})
    crush.buckets[-2] = Bucket(-2, "big", 1, items=[0, 1, 2], weights=[0x5A0001] * 3)
    crush.buckets[-1] = Bucket(-1, "default", 11, items=[-2], weights=[0x10E0003])
    text = format_crush_text(crush)
    assert "\titem big\n" in text                   # 0x10E0003 > 2^24 is odd: no float32
    assert parse_crush_text(text) == crush
