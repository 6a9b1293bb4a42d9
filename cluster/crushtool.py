"""`crushtool --test` on text maps, printing what Ceph's crushtool prints (spec §9).

    python -m cluster.crushtool -i MAP.txt --test --show-mappings --rule R --num-rep N \
        --min-x A --max-x B [--weight OSD W]... [--pool-id P] [--show-statistics]

Invariants: the input x is used directly as the CRUSH input, or `hash2(x, P)` with
`--pool-id P` (the printed x stays the original); device reweights are 0x10000 for every
device that some bucket holds and 0 for the others, unless `--weight DEV W` (W in 0..1,
converted like crushtool: float32 W * 65536, truncated, clamped to [0, 0x10000]); the -1
choose_args set applies when present. indep holes print as 2147483647.

Only text maps exist in rayceph (there is no binary map format): `-i` takes the text that
`crushtool -d` prints or spec Appendix B's compact layout. `-d MAP.txt` prints the map
back in crushtool's layout. Bad arguments or an unreadable map: a message on stderr and
exit status 22 (EINVAL).
"""
from __future__ import annotations

import sys
from typing import Optional, TextIO

import numpy as np

from .crush import CrushMap, weight_to_fixed
from .crush_text import CrushTextError, format_crush_text, parse_crush_text
from .rjenkins import hash32_2_np

__all__ = ["main", "USAGE", "EINVAL"]

EINVAL = 22

USAGE = """usage: crushtool -i MAP.txt --test [options]
       crushtool -d MAP.txt

  -i MAP.txt            a text CRUSH map (rayceph has no binary map format; give the
                        text that `crushtool -d` prints)
  -d MAP.txt            print the map in crushtool's text layout
  --test                map inputs with the map's rules
  --show-mappings       print `CRUSH rule R x X [osds]` for every input
  --show-statistics     print how many inputs got each result size
  --rule R              only rule R (default: every rule)
  --num-rep N           result size (default: the rule's min_size .. max_size)
  --min-x A, --max-x B  inputs A..B (default 0..1023)
  --x X                 the single input X
  --weight OSD W        reweight OSD to W in [0, 1] (repeatable)
  --pool-id P           use hash2(x, P) as the CRUSH input, like a PG seed
  -h, --help            this text
"""


class _UsageError(Exception):
    pass


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _UsageError(f"The option value '{text}' is invalid for {what}") from None


def _parse_args(argv: list[str]) -> dict:
    opts: dict = {"weights": {}, "min_x": 0, "max_x": 1023, "rule": None, "num_rep": None,
                  "pool_id": None, "input": None, "decompile": None, "test": False,
                  "mappings": False, "statistics": False, "help": False}
    it = iter(argv)

    def value(flag: str) -> str:
        try:
            return next(it)
        except StopIteration:
            raise _UsageError(f"option {flag} needs a value") from None

    for arg in it:
        if arg in ("-h", "--help"):
            opts["help"] = True
        elif arg in ("-i", "--infn"):
            opts["input"] = value(arg)
        elif arg in ("-d", "--decompile"):
            opts["decompile"] = value(arg)
        elif arg == "--test":
            opts["test"] = True
        elif arg == "--show-mappings":
            opts["mappings"] = True
        elif arg == "--show-statistics":
            opts["statistics"] = True
        elif arg in ("--rule", "--ruleset"):
            opts["rule"] = _int(value(arg), arg)
        elif arg == "--num-rep":
            opts["num_rep"] = _int(value(arg), arg)
        elif arg == "--min-x":
            opts["min_x"] = _int(value(arg), arg)
        elif arg == "--max-x":
            opts["max_x"] = _int(value(arg), arg)
        elif arg == "--x":
            opts["min_x"] = opts["max_x"] = _int(value(arg), arg)
        elif arg == "--pool-id":
            opts["pool_id"] = _int(value(arg), arg)
        elif arg == "--weight":
            dev = _int(value(arg), "--weight OSD")
            text = value(arg)
            try:
                w = float(text)
            except ValueError:
                raise _UsageError(f"The option value '{text}' is invalid for --weight") from None
            opts["weights"][dev] = w
        else:
            raise _UsageError(f"unrecognized arguments: [{arg}]")
    return opts


def _load(path: str) -> CrushMap:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise _UsageError(f"error reading '{path}': {e.strerror}") from None
    try:
        return parse_crush_text(text)
    except CrushTextError as e:
        raise _UsageError(f"{path}:{e.line_no} error: {e.message}") from None


def _reweights(crush: CrushMap, overrides: dict[int, float]) -> list[int]:
    held = {i for b in crush.buckets.values() for i in b.items if i >= 0}
    rw = [0x10000 if d in held else 0 for d in range(crush.max_devices)]
    for dev, w in overrides.items():
        if 0 <= dev < len(rw):
            rw[dev] = weight_to_fixed(min(max(w, 0.0), 1.0))   # clamped like crushtool
    return rw


def _test(crush: CrushMap, o: dict, out: TextIO) -> None:
    rw = _reweights(crush, o["weights"])
    xs = np.arange(o["min_x"], o["max_x"] + 1, dtype=np.int64)
    inputs = xs & 0xFFFFFFFF
    if o["pool_id"] is not None:
        inputs = hash32_2_np(inputs.astype(np.uint32), np.uint32(o["pool_id"] & 0xFFFFFFFF))
    rules = [o["rule"]] if o["rule"] is not None else sorted(crush.rules)
    for rid in rules:
        rule = crush.rules.get(rid)
        if rule is None:
            continue                                  # crushtool prints nothing either
        if o["num_rep"] is not None:
            reps = [o["num_rep"]]
        else:
            reps = list(range(rule.min_size, rule.max_size + 1))
        if o["statistics"]:
            lo, hi = (reps[0], reps[-1]) if reps else (0, 0)
            out.write(f"rule {rid} ({rule.name}), x = {o['min_x']}..{o['max_x']}, "
                      f"numrep = {lo}..{hi}\n")
        for nr in reps:
            table, lens = crush.map_many(rid, inputs, nr, rw, choose_args_key=0,
                                         return_lengths=True)
            if o["mappings"]:
                lines = [f"CRUSH rule {rid} x {x} [{','.join(map(str, row[:n]))}]\n"
                         for x, row, n in zip(xs.tolist(), table.tolist(), lens.tolist())]
                out.write("".join(lines))
            if o["statistics"]:
                sizes, counts = np.unique(lens, return_counts=True)
                for size, count in zip(sizes.tolist(), counts.tolist()):
                    out.write(f"rule {rid} ({rule.name}) num_rep {nr} result size == {size}:"
                              f"\t{count}/{len(xs)}\n")


def main(argv: Optional[list[str]] = None, out: TextIO = None, err: TextIO = None) -> int:
    """Run crushtool with `argv` (without the program name); returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        o = _parse_args(argv)
        if o["help"] or not argv:
            out.write(USAGE)
            return 0
        if o["decompile"]:
            out.write(format_crush_text(_load(o["decompile"])))
            return 0
        if o["input"] is None:
            raise _UsageError("no input map: use -i MAP.txt")
        crush = _load(o["input"])
        if not o["test"]:
            raise _UsageError("nothing to do: use --test (or -d)")
        if o["max_x"] < o["min_x"]:
            raise _UsageError(f"--max-x {o['max_x']} is below --min-x {o['min_x']}")
        if not (o["mappings"] or o["statistics"]):
            err.write("WARNING: no output selected; use --output-csv or --show-X\n")
        _test(crush, o, out)
        return 0
    except _UsageError as e:
        err.write(f"crushtool: {e}\n")
        return EINVAL
    except NotImplementedError as e:
        err.write(f"crushtool: {e}\n")
        return EINVAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
