"""Formatting and argument helpers shared by the monitor's command modules.

Ceph's output conventions (utime_t stamps, byte_u_t/si_u_t units, TextTable, compact vs
pretty JSON) and the typed access to a command's arguments. No state: every function is
pure, so monitor.py and the mon_* command mixins import them freely.
"""
from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import re
from typing import Any, Iterable, Optional, Sequence

MON_NAME = "a"
MON_ADDR = "127.0.0.1:3300"
MGR_NAME = "a"
SEVERITY_RANK = {"HEALTH_OK": 0, "HEALTH_WARN": 1, "HEALTH_ERR": 2}

class _CmdError(Exception):
    """A command fails with (ret, outs); raised by argument parsing and handlers."""

    def __init__(self, ret: int, outs: str):
        super().__init__(outs)
        self.ret = ret
        self.outs = outs


def _einval(outs: str) -> _CmdError:
    return _CmdError(-errno.EINVAL, outs)


# --- formatting helpers (Ceph's byte/time/percent formats, TextTable, JSON flavours) ------

LEFT, RIGHT = "left", "right"


def stamp(t: float) -> str:
    """Ceph's utime_t: `2026-11-28T17:48:51.661817+0000` (UTC)."""
    d = _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"


def stamp_z(t: float) -> str:
    """The monmap's variant: `2026-11-28T17:48:51.599402Z`."""
    return stamp(t)[:-5] + "Z"


def byte_u(n: int) -> str:
    """Ceph's byte_u_t: `0 B`, `132 KiB`, `3.0 GiB`, `3 GiB`, `1024 MiB`."""
    units = (" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB")
    n = int(n)
    index, v = 0, n
    while v >= 1024 and index < len(units) - 1:
        v //= 1024
        index += 1
    if index == 0 or n % (1 << (10 * index)) == 0:
        return f"{v}{units[index]}"
    value = n / (1 << (10 * index))
    for precision in (2, 1, 0):
        text = f"{value:.{precision}f}{units[index]}"
        if len(text) < 8:
            return text
    return text


def si_u(n: int) -> str:
    """Ceph's si_u_t for counts: `100`, `1 k`, `1.5 M` (same precision rule as bytes)."""
    units = ("", " k", " M", " G", " T", " P", " E")
    n = int(n)
    index, v = 0, n
    while v >= 1000 and index < len(units) - 1:
        v //= 1000
        index += 1
    if index == 0 or n % (1000 ** index) == 0:
        return f"{v}{units[index]}"
    value = n / (1000 ** index)
    for precision in (2, 1, 0):
        text = f"{value:.{precision}f}{units[index]}"
        if len(text) < 7:
            return text
    return text


def span(seconds: float) -> str:
    """Ceph's short age: `52s`, `35m`, `5h`, `2d`."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def weightf(w: float) -> str:
    """Ceph's weightf_t: `0` for (almost) zero, else 5 decimals."""
    if w < -0.01:
        return "-"
    if w < 0.000001:
        return "0"
    return f"{w:.5f}"


def gnum(x: float) -> str:
    """A float as C++'s default ostream prints it (6 significant digits)."""
    return f"{x:g}"


def num(x: Any) -> Any:
    """JSON number as Ceph's formatter writes it: integral floats without `.0`."""
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def dumps(obj: Any, fmt: str) -> bytes:
    """`json` = compact, anything else (json-pretty, plain fallbacks) = 4-space indent + \\n."""
    if fmt == "json":
        return json.dumps(obj, separators=(",", ":")).encode()
    return (json.dumps(obj, indent=4) + "\n").encode()


def table(columns: Sequence[tuple[str, str, str]], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Ceph's TextTable: columns (heading, heading align, cell align), two spaces between
    columns, every cell padded to the column width (trailing spaces kept)."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h, _, _ in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str], aligns: Sequence[str]) -> str:
        out = []
        for cell, width, align in zip(cells, widths, aligns):
            out.append(cell.ljust(width) if align == LEFT else cell.rjust(width))
        return "  ".join(out)

    lines = [fmt([h for h, _, _ in columns], [a for _, a, _ in columns])]
    lines += [fmt(row, [a for _, _, a in columns]) for row in rows]
    return lines


def osd_list(osds: Iterable[int]) -> str:
    """`[0,2,1]` as Ceph prints an OSD vector."""
    return "[" + ",".join(str(o) for o in osds) + "]"


# --- command arguments ------------------------------------------------------------------


class _Args:
    """Typed access to a command's arguments; a wrong type or a missing required field is
    Ceph's "bad or missing field 'x'" (-EINVAL)."""

    def __init__(self, cmd: dict):
        self.cmd = cmd

    def has(self, name: str) -> bool:
        return self.cmd.get(name) is not None

    def str(self, name: str, default: Optional[str] = None, required: bool = False) -> Optional[str]:
        v = self.cmd.get(name)
        if v is None:
            if required:
                raise _einval(f"bad or missing field '{name}'")
            return default
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise _einval(f"bad or missing field '{name}'")
        return v if isinstance(v, str) else str(v)

    def int(self, name: str, default: Optional[int] = None, required: bool = False) -> Optional[int]:
        v = self.cmd.get(name)
        if v is None:
            if required:
                raise _einval(f"bad or missing field '{name}'")
            return default
        if isinstance(v, bool):
            raise _einval(f"bad or missing field '{name}'")
        if isinstance(v, int):
            return v
        if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()):
            return int(v)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise _einval(f"bad or missing field '{name}'")

    def float(self, name: str, required: bool = True) -> Optional[float]:
        v = self.cmd.get(name)
        if v is None and not required:
            return None
        if isinstance(v, bool) or v is None:
            raise _einval(f"bad or missing field '{name}'")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise _einval(f"bad or missing field '{name}'") from None
        if math.isnan(f) or math.isinf(f):
            raise _einval(f"bad or missing field '{name}'")
        return f

    def flag(self, name: str) -> bool:
        """A boolean flag (true, 'true', or the legacy '--yes-i-really-mean-it' string)."""
        v = self.cmd.get(name)
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            return v.lower() in ("true", "1", "--" + name.replace("_", "-"))
        return False

    def sure(self) -> bool:
        return (self.flag("yes_i_really_mean_it") or self.flag("yes_i_really_really_mean_it")
                or self.cmd.get("sure") in ("--yes-i-really-mean-it",
                                            "--yes-i-really-really-mean-it"))

    def strlist(self, name: str, required: bool = True) -> list[str]:
        v = self.cmd.get(name)
        if v is None and not required:
            return []
        if not isinstance(v, list) or not all(isinstance(x, (str, int)) and
                                              not isinstance(x, bool) for x in v):
            raise _einval(f"bad or missing field '{name}'")
        return [str(x) for x in v]

    def fmt(self) -> str:
        f = self.cmd.get("format")
        if f in ("json", "json-pretty"):
            return f
        if f in ("xml", "xml-pretty"):
            return "json-pretty"        # no XML formatter here: pretty JSON instead
        return "plain"


def _osd_id(text: str) -> int:
    """'osd.3' or '3' -> 3; anything else raises Ceph's message."""
    t = text[4:] if text.startswith("osd.") else text
    if re.fullmatch(r"\d+", t):
        return int(t)
    raise _einval(f"Expected option value to be integer, got '{text}'invalid osd id-1")


def _parse_pgid(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.([0-9a-fA-F]+)", text or "")
    if not m:
        raise _einval(f"invalid pgid '{text}'")
    return int(m.group(1)), int(m.group(2), 16)


def _parse_iec(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMGTPE]?)(i|B)?\s*", text)
    if not m or (m.group(3) and not m.group(2)):
        raise ValueError("strict_iecstrtoll: illegal prefix (length > 2)")
    return int(m.group(1)) * 1024 ** "_KMGTPE".index(m.group(2) or "_")


def _parse_addr(text: str) -> Optional[str]:
    """Entity address 'ip[:port][/nonce]' in canonical 'ip:port/nonce' form, or None."""
    m = re.fullmatch(r"(?:v[12]:|any:)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])"
                     r"(?::(\d{1,5}))?(?:/(\d+))?", text or "")
    if not m:
        return None
    host, port, nonce = m.group(1), m.group(2) or "0", m.group(3) or "0"
    if "." in host and any(int(p) > 255 for p in host.split(".")):
        return None
    return f"{host}:{int(port)}/{int(nonce)}"


def _pgid(pool: int, seed: int) -> str:
    return f"{pool}.{seed:x}"
