"""What the monitor keeps beside the pools and OSDs, and its commands: the client address
blocklist (`osd blocklist add|rm|ls`, also spelt `blacklist`), the cluster log (`log`,
`log last`), `service dump`, the mon config database (`config set|get|rm|dump`) and the
config-key store (`config-key get|set|put|del|rm|exists|ls|list|dump`).

`ConfigCommands` is a mixin of `MonitorCore`, kept apart from monitor.py so that each module
stays small. Only the blocklist is part of the OSDMap (adding, removing or expiring an entry
publishes an epoch); the log, the service map, the config database and the config-key store
change no epoch. `config set` for `global` or `mon` also changes the monitor's own options.
"""
from __future__ import annotations

import errno

from .config import OPTIONS, parse_value, typed_value
from .mon_format import LEFT, _Args, _CmdError, _einval, _parse_addr, dumps, gnum, stamp, table

CONFIG_KEY_MAX_ENTRY_BYTES = 65536
DEFAULT_BLOCKLIST_S = 3600.0
_PRIORITIES = {"debug": "[DBG]", "info": "[INF]", "sec": "[SEC]", "warn": "[WRN]",
               "error": "[ERR]"}
_PRIO_RANK = {"[DBG]": 0, "[INF]": 1, "[SEC]": 2, "[WRN]": 3, "[ERR]": 4}


class ConfigCommands:
    # == blocklist ============================================================================
    def _expire_blocklist(self) -> None:
        now = self.clock()
        expired = [addr for addr, t in self._osdmap.blocklist.items() if t <= now]
        if expired:
            m = self._pending()
            for addr in expired:
                del m.blocklist[addr]
            self._publish(m)

    def _cmd_blocklist(self, a: _Args, inbuf: bytes):
        op = a.str("blocklistop") or a.str("blacklistop") or ""
        if op == "ls":
            return self._cmd_blocklist_ls(a, inbuf)
        text = a.str("addr", "")
        addr = _parse_addr(text)
        if addr is None:
            raise _einval(f"unable to parse address {text}")
        if op == "add":
            expire = a.float("expire", required=False) or DEFAULT_BLOCKLIST_S
            until = self.clock() + expire
            m = self._pending()
            m.blocklist[addr] = until
            self._publish(m)
            return 0, b"", f"blocklisting {addr} until {stamp(until)} ({gnum(expire)} sec)"
        if op == "rm":
            if addr not in self._osdmap.blocklist:
                return 0, b"", f"{addr} isn't blocklisted"
            m = self._pending()
            del m.blocklist[addr]
            self._publish(m)
            return 0, b"", f"un-blocklisting {addr}"
        raise _einval("bad or missing field 'blocklistop'")

    def _cmd_blocklist_ls(self, a: _Args, inbuf: bytes):
        self._expire_blocklist()
        entries = sorted(self._osdmap.blocklist.items())
        doc = [{"addr": addr, "until": stamp(t)} for addr, t in entries]
        return self._out(a, doc, lambda: "".join(f"{addr} {stamp(t)}\n" for addr, t in entries),
                         outs=f"listed {len(entries)} entries")

    # == cluster log, service map, mon config =================================================
    def _cmd_log_last(self, a: _Args, inbuf: bytes):
        n = a.int("num", 20)
        level = a.str("level", "info")
        channel = a.str("channel", "cluster")
        if level not in _PRIORITIES:
            raise _einval(f"invalid level '{level}'")
        floor = _PRIO_RANK[_PRIORITIES[level]]
        entries = [e for e in self.log if (channel in ("*", "all") or e["channel"] == channel)
                   and _PRIO_RANK[e["priority"]] >= floor]
        entries = entries[-n:] if n > 0 else []
        return self._out(a, entries, lambda: "".join(
            f"{e['stamp']} {e['name']} ({e['rank']}) {e['seq']} : {e['channel']} "
            f"{e['priority']} {e['message']}\n" for e in entries))

    def _cmd_log(self, a: _Args, inbuf: bytes):
        text = a.cmd.get("logtext")
        if isinstance(text, str):
            text = [text]
        if not isinstance(text, list):
            raise _einval("bad or missing field 'logtext'")
        self._log("[INF]", " ".join(str(t) for t in text), name="client.admin")
        return 0, b"", ""

    def _cmd_service_dump(self, a: _Args, inbuf: bytes):
        return self._out(a, self._servicemap_json(), None)

    def _cmd_config_set(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        name = a.str("name", required=True)
        value = a.str("value", required=True)
        from .config import normalize_key

        key = normalize_key(name)
        opt = OPTIONS.get(key)
        if opt is None:
            raise _einval(f"unrecognized config option '{name}'")
        try:
            canonical = parse_value(opt, value)
        except ValueError as exc:
            raise _einval(f"error parsing value: {exc}") from None
        self.config_db[(who, key)] = canonical
        if who in ("global", "mon") and key in self.options:
            self.options[key] = typed_value(opt, canonical)
        return 0, b"", ""

    def _cmd_config_get(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        from .config import normalize_key

        key = normalize_key(a.str("key", "") or "")
        if not key:
            values = {k: v for (w, k), v in self.config_db.items() if w in (who, "global")}
            return self._out(a, values, lambda: "".join(f"{k} {v}\n" for k, v in
                                                       sorted(values.items())))
        opt = OPTIONS.get(key)
        if opt is None:
            raise _CmdError(-errno.ENOENT, f"unrecognized key '{key}'")
        value = self.config_db.get((who, key), self.config_db.get(("global", key)))
        if value is None:
            value = str(self.options[key]).lower() if isinstance(self.options.get(key), bool) \
                else str(self.options.get(key, opt.default))
        return self._out(a, value, value + "\n")

    def _cmd_config_rm(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        from .config import normalize_key

        key = normalize_key(a.str("name", required=True))
        self.config_db.pop((who, key), None)
        return 0, b"", ""

    def _cmd_config_dump(self, a: _Args, inbuf: bytes):
        rows = [{"section": w, "name": k, "value": v, "level": "basic", "can_update_at_runtime":
                 True, "mask": ""} for (w, k), v in sorted(self.config_db.items())]
        cols = [("WHO", LEFT, LEFT), ("MASK", LEFT, LEFT), ("LEVEL", LEFT, LEFT),
                ("OPTION", LEFT, LEFT), ("VALUE", LEFT, LEFT), ("RO", LEFT, LEFT)]
        return self._out(a, rows, lambda: "\n".join(table(cols, [
            [r["section"], "", "basic", r["name"], r["value"], ""] for r in rows])) + "\n")

    # == config-key ===========================================================================
    def _cmd_ck_get(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        if key not in self.config_key:
            raise _CmdError(-errno.ENOENT, "")
        return 0, self.config_key[key], ""

    def _cmd_ck_set(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        val = a.cmd.get("val")
        if val is None:
            data = bytes(inbuf)
        elif isinstance(val, str):
            data = val.encode()
        else:
            raise _einval("bad or missing field 'val'")
        if len(data) > CONFIG_KEY_MAX_ENTRY_BYTES:
            raise _CmdError(-errno.EFBIG, f"error: entry size limited to "
                                          f"{CONFIG_KEY_MAX_ENTRY_BYTES} bytes. Use 'mon config "
                                          f"key max entry size' to manually adjust")
        self.config_key[key] = data
        return 0, b"", f"set {key}"

    _cmd_ck_put = _cmd_ck_set

    def _cmd_ck_del(self, a: _Args, inbuf: bytes):
        self.config_key.pop(a.str("key", required=True), None)
        return 0, b"", "key deleted"

    _cmd_ck_rm = _cmd_ck_del

    def _cmd_ck_exists(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        if key in self.config_key:
            return 0, b"", f"key '{key}' exists"
        raise _CmdError(-errno.ENOENT, f"key '{key}' doesn't exist")

    def _cmd_ck_ls(self, a: _Args, inbuf: bytes):
        keys = sorted(self.config_key)
        return 0, dumps(keys, "json" if a.fmt() == "json" else "json-pretty"), ""

    _cmd_ck_list = _cmd_ck_ls

    def _cmd_ck_dump(self, a: _Args, inbuf: bytes):
        prefix = a.str("key", "") or ""
        doc = {}
        for k in sorted(self.config_key):
            if not k.startswith(prefix):
                continue
            v = self.config_key[k]
            try:
                text = v.decode("utf-8")
                if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
                    raise UnicodeDecodeError("utf-8", v, 0, 1, "binary")
                doc[k] = text
            except UnicodeDecodeError:
                doc[k] = f"<<< binary blob of length {len(v)} >>>"
        return 0, dumps(doc, "json" if a.fmt() == "json" else "json-pretty"), ""
