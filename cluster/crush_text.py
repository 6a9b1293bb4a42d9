"""crushtool's text map format: `parse_crush_text` and `format_crush_text` (spec §8).

Accepts what `crushtool -d` prints and the compact one-line layout of spec Appendix B
(`host host0 { id -2  alg straw2  hash 0  item osd.0 weight 1.000 }`): tunables, devices
with classes, types, buckets, rules and choose_args. It follows crushtool's compiler:

* tunables missing from the text are the legacy (argonaut) ones, as crushtool does;
* weights are `(u32)(strtof(W) * 65536.0f)` — the decimal is rounded once to float32,
  then truncated (§8); an omitted item weight is 0x10000 for a device and the child's
  stored total for a bucket;
* a bucket without `id` gets the lowest negative id not used by an earlier bucket;
* device-class shadow buckets (`NAME~CLASS`) are built just before the first rule, with
  the ids given by `id -N class C` lines, else the lowest free ones (children first);
* a rule needs `id` (or `ruleset`) like crushtool, but min_size / max_size default to
  1 / 10.

`format_crush_text` prints crushtool's layout with weights written so that parsing them
back gives the same 16.16 values (crushtool's three decimals would lose bits). The only
values that cannot survive float32 are item weights >= 256.0 that are not multiples of
float32's step there; a bucket item whose weight equals its child's total is then written
without a weight (which means exactly that), anything else is rounded like crushtool.

Errors raise `CrushTextError(line_no, message)`, a ValueError.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Optional

import numpy as np

from .crush import (
    BUCKET_ALGS, TUNABLE_NAMES, TUNABLE_PROFILES, Bucket, CrushMap, Device, Rule, Step,
)

__all__ = ["CrushTextError", "parse_crush_text", "format_crush_text", "parse_weight",
           "format_weight"]

_MAX_DEVICE_WEIGHT = 100 * 0x10000      # crushtool's compile-time limits (§4.1)
_MAX_BUCKET_WEIGHT = 65535 * 0x10000
_U64 = 1 << 64
_TOKEN = re.compile(r"[{}\[\]]|[^\s{}\[\]]+")
_SET_STEPS = ("set_choose_tries", "set_chooseleaf_tries", "set_choose_local_tries",
              "set_choose_local_fallback_tries", "set_chooseleaf_vary_r",
              "set_chooseleaf_stable")


class CrushTextError(ValueError):
    """A text map error at `line_no` (1-based; 0 when the text ended early)."""

    def __init__(self, line_no: int, message: str):
        super().__init__(line_no, message)
        self.line_no = line_no
        self.message = message

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"

    def __reduce__(self):
        return (type(self), (self.line_no, self.message))


# --- weights ---------------------------------------------------------------------------


def _strtof(text: str) -> np.float32:
    """The float32 nearest to the decimal `text` (ties to even), like C's strtof."""
    try:
        q = Fraction(Decimal(text))
    except (InvalidOperation, ValueError, OverflowError):
        raise ValueError(f"not a number: {text!r}") from None
    if abs(q) >= 2 ** 100:
        raise ValueError(f"weight out of range: {text!r}")   # float32 would overflow
    f = np.float32(float(q))        # float64 first: may be one float32 step off (double rounding)
    best = f
    for cand in (np.nextafter(f, np.float32(-np.inf)), np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(cand):
            continue
        d_best, d_cand = abs(Fraction(float(best)) - q), abs(Fraction(float(cand)) - q)
        if d_cand < d_best or (d_cand == d_best and
                               int(cand.view(np.uint32)) % 2 == 0):
            best = cand
    return best


def parse_weight(text: str) -> int:
    """A text weight as crushtool stores it: trunc(strtof(text) * 65536.0f). ValueError if bad."""
    f = _strtof(text)
    if not 0 <= f < 65536:
        raise ValueError(f"invalid weight {text!r}")
    return int(Fraction(float(f)) * 0x10000)    # *65536 is exact in float32; int() truncates


def format_weight(weight: int) -> str:
    """The shortest decimal (at least 3 places, like crushtool) that parses to `weight`.

    Falls back to the nearest 3-decimal value when float32 cannot hold the weight.
    """
    for places in range(3, 17):
        text = f"{weight / 0x10000:.{places}f}"
        if parse_weight(text) == weight:
            return text
    return f"{weight / 0x10000:.3f}"


def _weight_exact(weight: int) -> bool:
    return parse_weight(format_weight(weight)) == weight


# --- tokens ------------------------------------------------------------------------------


class _Tokens:
    def __init__(self, text: str):
        self.toks: list[tuple[str, int]] = []
        for no, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0]
            self.toks += [(t, no) for t in _TOKEN.findall(line)]
        self.i = 0

    def peek(self) -> Optional[str]:
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    @property
    def line(self) -> int:
        if self.i < len(self.toks):
            return self.toks[self.i][1]
        return self.toks[-1][1] if self.toks else 0

    def next(self, what: str = "a token") -> str:
        if self.i >= len(self.toks):
            raise CrushTextError(self.line, f"unexpected end of text, expected {what}")
        tok = self.toks[self.i][0]
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        line = self.line
        got = self.next(repr(tok))
        if got != tok:
            raise CrushTextError(line, f"expected {tok!r}, got {got!r}")

    def int(self, what: str) -> int:
        line = self.line
        tok = self.next(what)
        try:
            return int(tok, 0) if tok.lower().startswith(("0x", "-0x")) else int(tok)
        except ValueError:
            raise CrushTextError(line, f"expected an integer {what}, got {tok!r}") from None

    def weight(self) -> int:
        line = self.line
        tok = self.next("a weight")
        try:
            return parse_weight(tok)
        except ValueError as e:
            raise CrushTextError(line, str(e)) from None


# --- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.t = _Tokens(text)
        self.m = CrushMap(types={}, tunables=dict(TUNABLE_PROFILES["legacy"]))
        self.classes: list[str] = []                          # in class-id order
        self.class_ids: dict[tuple[int, str], int] = {}       # (bucket, class) -> shadow id
        self.names: dict[str, int] = {}
        self.shadows_built = False

    def fail(self, line: int, msg: str):
        raise CrushTextError(line, msg)

    def _add_class(self, name: str) -> None:
        if name not in self.classes:
            self.classes.append(name)

    def parse(self) -> CrushMap:
        t = self.t
        while t.peek() is not None:
            line = t.line
            word = t.next()
            if word == "tunable":
                self.tunable(line)
            elif word == "device":
                self.device(line)
            elif word == "type":
                tid = t.int("type id")
                name = t.next("type name")
                if tid in self.m.types or name in self.m.types.values():
                    self.fail(line, f"type {tid} {name!r} defined twice")
                self.m.types[tid] = name
            elif word == "rule":
                self.build_shadows()
                self.rule(line)
            elif word == "choose_args":
                self.choose_args(line)
            elif word in self.m.types.values():
                self.bucket(line, word)
            else:
                self.fail(line, f"unknown keyword or bucket type {word!r}")
        self.m.devices = dict(sorted(self.m.devices.items()))
        return self.m

    def tunable(self, line: int) -> None:
        name = self.t.next("tunable name")
        value = self.t.int("tunable value")
        if name not in TUNABLE_NAMES:
            self.fail(line, f"unknown tunable {name!r}")
        self.m.tunables[name] = value

    def device(self, line: int) -> None:
        t = self.t
        did = t.int("device id")
        name = t.next("device name")
        cls = None
        if t.peek() == "class":
            t.next()
            cls = t.next("class name")
            self._add_class(cls)
        if did < 0:
            self.fail(line, f"device id {did} must be >= 0")
        if did in self.m.devices or name in self.names:
            self.fail(line, f"device {did} {name!r} defined twice")
        self.m.devices[did] = Device(did, name, cls)
        self.names[name] = did

    def bucket(self, line: int, type_name: str) -> None:
        t = self.t
        name = t.next("bucket name")
        if name in self.names:
            self.fail(line, f"item {name!r} defined twice")
        t.expect("{")
        bid: Optional[int] = None
        alg, hash_ = "straw2", 0
        items: list[tuple[int, int, Optional[int], int]] = []   # (id, weight, pos, line)
        class_lines: list[tuple[str, int]] = []
        while t.peek() != "}":
            kline = t.line
            key = t.next("a bucket field or '}'")
            if key == "id":
                v = t.int("bucket id")
                if t.peek() == "class":
                    t.next()
                    cls = t.next("class name")
                    self._add_class(cls)
                    class_lines.append((cls, v))            # bucket id may come later
                else:
                    if v >= 0:
                        self.fail(kline, f"bucket id {v} must be negative")
                    bid = v
            elif key == "alg":
                alg = t.next("algorithm")
                if alg not in BUCKET_ALGS:
                    self.fail(kline, f"unknown bucket algorithm {alg!r}")
            elif key == "hash":
                h = t.next("hash")
                if h == "rjenkins1":
                    hash_ = 0
                else:
                    try:
                        hash_ = int(h)
                    except ValueError:
                        self.fail(kline, f"unknown hash {h!r}")
            elif key == "item":
                iname = t.next("item name")
                if iname not in self.names:
                    self.fail(kline, f"item {iname!r} in bucket {name!r} is not defined")
                iid = self.names[iname]
                weight: Optional[int] = None
                pos: Optional[int] = None
                while t.peek() in ("weight", "pos"):
                    if t.next() == "weight":
                        weight = t.weight()
                    else:
                        pos = t.int("item position")
                if weight is None:
                    weight = 0x10000 if iid >= 0 else self.m.buckets[iid].weight
                if iid >= 0 and weight > _MAX_DEVICE_WEIGHT:
                    self.fail(kline, f"device {iname!r} weight is above 100")
                if iid < 0 and weight > _MAX_BUCKET_WEIGHT:
                    self.fail(kline, f"bucket {iname!r} weight is above 65535")
                items.append((iid, weight, pos, kline))
            else:
                self.fail(kline, f"unknown bucket field {key!r}")
        t.expect("}")
        if bid is None:
            bid = -1
            while bid in self.m.buckets:
                bid -= 1
        elif bid in self.m.buckets:
            self.fail(line, f"bucket id {bid} is used twice")
        for cls, v in class_lines:
            self.class_ids[(bid, cls)] = v
        ordered = self._order_items(name, items)
        if alg == "uniform" and len({w for _, w in ordered}) > 1:
            self.fail(line, f"uniform bucket {name!r} items must all have the same weight")
        b = Bucket(bid, name, self._type_id(type_name), alg, hash_,
                   [i for i, _ in ordered], [w for _, w in ordered])
        self.m.buckets[bid] = b
        self.names[name] = bid

    def _order_items(self, name: str, items) -> list[tuple[int, int]]:
        """Items in bucket order: an explicit `pos` places an item, others fill in order."""
        if all(p is None for _, _, p, _ in items):
            return [(i, w) for i, w, _, _ in items]
        slots: list[Optional[tuple[int, int]]] = [None] * len(items)
        for iid, w, pos, line in items:
            if pos is not None:
                if not 0 <= pos < len(items) or slots[pos] is not None:
                    self.fail(line, f"bad item position {pos} in bucket {name!r}")
                slots[pos] = (iid, w)
        free = iter(k for k, s in enumerate(slots) if s is None)
        for iid, w, pos, _ in items:
            if pos is None:
                slots[next(free)] = (iid, w)
        return [s for s in slots if s is not None]

    def _type_id(self, name: str) -> int:
        for tid, tname in self.m.types.items():
            if tname == name:
                return tid
        raise KeyError(name)

    # -- device-class shadow trees --------------------------------------------------------

    def build_shadows(self) -> None:
        """crushtool's populate_classes: one shadow tree per (non-shadow root, class)."""
        if self.shadows_built:
            return
        self.shadows_built = True
        referenced = {i for b in self.m.buckets.values() for i in b.items if i < 0}
        roots = sorted(b for b in self.m.buckets if b not in referenced)
        used = set(self.class_ids.values())
        for root in roots:
            for cls in self.classes:
                self._clone(root, cls, used, 0)

    def _clone(self, orig_id: int, cls: str, used: set[int], depth: int) -> int:
        if depth > len(self.m.buckets):
            raise CrushTextError(0, "bucket hierarchy has a cycle")
        orig = self.m.buckets[orig_id]
        name = f"{orig.name}~{cls}"
        if name in self.names:
            return self.names[name]
        items, weights = [], []
        for item, w in zip(orig.items, orig.weights):
            if item >= 0:
                if self.m.devices[item].device_class == cls:
                    items.append(item)
                    weights.append(w)
            else:
                child = self._clone(item, cls, used, depth + 1)
                items.append(child)
                weights.append(self.m.buckets[child].weight)
        bid = self.class_ids.get((orig_id, cls))
        if bid is None:
            bid = -1
            while bid in self.m.buckets or bid in used:
                bid -= 1
        elif bid in self.m.buckets:
            raise CrushTextError(0, f"shadow id {bid} of {name!r} is already a bucket")
        self.m.buckets[bid] = Bucket(bid, name, orig.type_id, orig.alg, orig.hash, items, weights)
        self.names[name] = bid
        return bid

    # -- rules ----------------------------------------------------------------------------

    def rule(self, line: int) -> None:
        t = self.t
        name = t.next("rule name")
        if any(r.name == name for r in self.m.rules.values()):
            self.fail(line, f"rule {name!r} defined twice")
        t.expect("{")
        rid: Optional[int] = None
        rtype, min_size, max_size = "replicated", 1, 10
        steps: list[Step] = []
        while t.peek() != "}":
            kline = t.line
            key = t.next("a rule field or '}'")
            if key in ("id", "ruleset"):
                rid = t.int("rule id")
            elif key == "type":
                rtype = t.next("rule type")
                if rtype not in ("replicated", "erasure"):
                    self.fail(kline, f"unknown rule type {rtype!r}")
            elif key == "min_size":
                min_size = t.int("min_size")
            elif key == "max_size":
                max_size = t.int("max_size")
            elif key == "step":
                steps.append(self.step(kline))
            else:
                self.fail(kline, f"unknown rule field {key!r}")
        t.expect("}")
        if rid is None:
            rid = 0
            while rid in self.m.rules:
                rid += 1
        if rid < 0 or rid in self.m.rules:
            self.fail(line, f"rule id {rid} is invalid or used twice")
        self.m.rules[rid] = Rule(rid, name, rtype, min_size, max_size, steps)

    def step(self, line: int) -> Step:
        t = self.t
        op = t.next("step op")
        if op == "take":
            iname = t.next("item name")
            if iname not in self.names:
                self.fail(line, f"take: item {iname!r} is not defined")
            if t.peek() == "class":
                t.next()
                cls = t.next("class name")
                shadow = f"{iname}~{cls}"
                if shadow not in self.names:
                    self.fail(line, f"take: item {iname!r} has no class {cls!r}")
                return Step("take", self.names[shadow])
            return Step("take", self.names[iname])
        if op in ("choose", "chooseleaf"):
            mode = t.next("firstn or indep")
            if mode not in ("firstn", "indep"):
                self.fail(line, f"expected firstn or indep, got {mode!r}")
            n = t.int("count")
            t.expect("type")
            tname = t.next("type name")
            try:
                tid = self._type_id(tname)
            except KeyError:
                self.fail(line, f"unknown type {tname!r}")
            return Step(f"{op}_{mode}", n, tid)
        if op in ("emit", "noop"):
            return Step(op)
        if op in _SET_STEPS:
            return Step(op, t.int(op))
        self.fail(line, f"unknown step {op!r}")

    # -- choose_args ----------------------------------------------------------------------

    def choose_args(self, line: int) -> None:
        t = self.t
        key = t.int("choose_args key")
        if key >= _U64 // 2:
            key -= _U64                     # 18446744073709551615 is the -1 "compat" set
        if key in self.m.choose_args:
            self.fail(line, f"choose_args {key} defined twice")
        t.expect("{")
        cargs: dict[int, dict] = {}
        while t.peek() != "}":
            t.expect("{")
            bid: Optional[int] = None
            arg: dict = {}
            while t.peek() != "}":
                kline = t.line
                field = t.next("choose_args field")
                if field == "bucket_id":
                    bid = t.int("bucket id")
                    if bid not in self.m.buckets:
                        self.fail(kline, f"choose_args: bucket {bid} does not exist")
                elif field == "weight_set":
                    t.expect("[")
                    sets = []
                    while t.peek() != "]":
                        t.expect("[")
                        ws = []
                        while t.peek() != "]":
                            ws.append(t.weight())
                        t.expect("]")
                        sets.append(ws)
                    t.expect("]")
                    arg["weight_set"] = sets
                elif field == "ids":
                    t.expect("[")
                    ids = []
                    while t.peek() != "]":
                        ids.append(t.int("id"))
                    t.expect("]")
                    arg["ids"] = ids
                else:
                    self.fail(kline, f"unknown choose_args field {field!r}")
            t.expect("}")
            if bid is None:
                self.fail(t.line, "choose_args entry without bucket_id")
            size = len(self.m.buckets[bid].items)
            if any(len(ws) != size for ws in arg.get("weight_set", [])) or \
                    ("ids" in arg and len(arg["ids"]) != size):
                self.fail(t.line, f"choose_args for bucket {bid}: need {size} values per vector")
            cargs[bid] = arg
        t.expect("}")
        self.m.choose_args[key] = cargs


def parse_crush_text(text: str) -> CrushMap:
    """Parse crushtool text into a CrushMap. Raises CrushTextError(line_no, message)."""
    return _Parser(text).parse()


# --- formatter ---------------------------------------------------------------------------


def format_crush_text(crush: CrushMap) -> str:
    """crushtool -d style text for `crush`; `parse_crush_text` reads it back to an equal map.

    Shadow buckets are not printed (their ids are, as `id -N class C`), like crushtool.
    """
    out = ["# begin crush map"]
    legacy = TUNABLE_PROFILES["legacy"]
    for name in TUNABLE_NAMES:
        value = crush.tunables.get(name, legacy[name])
        if value != legacy[name]:
            out.append(f"tunable {name} {value}")
    out += ["", "# devices"]
    for d in sorted(crush.devices.values(), key=lambda d: d.id):
        cls = f" class {d.device_class}" if d.device_class else ""
        out.append(f"device {d.id} {d.name}{cls}")
    out += ["", "# types"]
    for tid in sorted(crush.types):
        out.append(f"type {tid} {crush.types[tid]}")
    out += ["", "# buckets"]
    shadows = {b.name: b for b in crush.buckets.values() if b.is_shadow}
    done: set[int] = set()

    def emit_bucket(bid: int, depth: int) -> None:
        if bid in done:
            return
        if depth > len(crush.buckets):
            raise ValueError("CRUSH hierarchy has a cycle")
        done.add(bid)
        b = crush.buckets[bid]
        for item in b.items:
            if item < 0:
                emit_bucket(item, depth + 1)
        out.append(f"{crush.types[b.type_id]} {b.name} {{")
        out.append(f"\tid {b.id}\t\t# do not change unnecessarily")
        for sname, sb in shadows.items():
            if sname.split("~", 1)[0] == b.name:
                out.append(f"\tid {sb.id} class {sname.split('~', 1)[1]}"
                           "\t\t# do not change unnecessarily")
        out.append(f"\t# weight {b.weight / 0x10000:.3f}")
        out.append(f"\talg {b.alg}")
        out.append(f"\thash {b.hash}" + ("\t# rjenkins1" if b.hash == 0 else ""))
        for item, w in zip(b.items, b.weights):
            name = crush.item_name(item)
            if item < 0 and not _weight_exact(w) and crush.buckets[item].weight == w:
                out.append(f"\titem {name}")       # "its stored total", exactly
            else:
                out.append(f"\titem {name} weight {format_weight(w)}")
        out.append("}")

    for bid in sorted(crush.buckets, reverse=True):
        if not crush.buckets[bid].is_shadow:
            emit_bucket(bid, 0)
    out += ["", "# rules"]
    for rule in sorted(crush.rules.values(), key=lambda r: r.id):
        out += [f"rule {rule.name} {{", f"\tid {rule.id}", f"\ttype {rule.type}",
                f"\tmin_size {rule.min_size}", f"\tmax_size {rule.max_size}"]
        out += [f"\tstep {_format_step(crush, st)}" for st in rule.steps]
        out.append("}")
    if crush.choose_args:
        out += ["", "# choose_args"]
        for key in sorted(crush.choose_args):
            shown = key + _U64 if key < 0 else key
            out.append(f"choose_args {shown} {{")
            for bid in sorted(crush.choose_args[key], reverse=True):
                arg = crush.choose_args[key][bid]
                out += ["  {", f"    bucket_id {bid}"]
                if arg.get("weight_set"):
                    out.append("    weight_set [")
                    for ws in arg["weight_set"]:
                        out.append("      [ " + " ".join(format_weight(w) for w in ws) + " ]")
                    out.append("    ]")
                if arg.get("ids"):
                    out.append("    ids [ " + " ".join(str(i) for i in arg["ids"]) + " ]")
                out.append("  }")
            out.append("}")
    out += ["", "# end crush map", ""]
    return "\n".join(out)


def _format_step(crush: CrushMap, st: Step) -> str:
    if st.op == "take":
        name = crush.item_name(st.arg1)
        if "~" in name:
            base, cls = name.split("~", 1)
            return f"take {base} class {cls}"
        return f"take {name}"
    if st.op.startswith("choose"):
        verb, mode = st.op.split("_")
        return f"{verb} {mode} {st.arg1} type {crush.types[st.arg2]}"
    if st.op in ("emit", "noop"):
        return st.op
    return f"{st.op} {st.arg1}"
