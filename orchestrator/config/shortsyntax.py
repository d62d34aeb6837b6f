"""Compose's short syntaxes, expanded to their long forms exactly as compose-go does: ports
(`[ip:][host:]container[/proto]`, ranges), volumes (`src:dst:opts`), KEY=VALUE lists,
extra_hosts, secret/config references, and shell-style command strings.

Parsers raise ValueError with a human reason; semantic.py turns that into a problem line.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from pystack.orchestrator.config.units import parse_port_range

WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
_CONSISTENCY = {"consistent", "cached", "delegated"}


def split_command(text: str) -> list[str]:
    """Split a command string into words exactly as compose-go does (mattn/go-shellwords with
    no environment or backtick expansion): quotes and backslashes group words, an unquoted
    `;`, `&`, `|`, `<` or `>` ends the command (the rest is dropped, as Compose drops it),
    `$(...)` is kept as text, and a bare `(` or an unclosed quote is an error (ValueError)."""
    return split_command_tail(text)[0]


def split_command_tail(text: str) -> tuple[list[str], str]:
    """split_command, plus the text Compose drops (from an unquoted ; & | < > on)."""
    args: list[str] = []
    tail = ""
    buf = ""
    got = False
    escaped = single = double = back = dollar = False
    for index, ch in enumerate(text):
        if escaped:
            buf += ch
            escaped = False
            got = True
            continue
        if ch == "\\":
            if single:
                buf += ch
            else:
                escaped = True
            continue
        if ch in " \t\r\n":
            if single or double or back or dollar:
                buf += ch
            elif got:
                args.append(buf)
                buf = ""
                got = False
            continue
        quoted = single or double
        if ch == "`" and not quoted and not dollar:
            back = not back
        elif ch == ")" and not quoted and not back:
            dollar = not dollar
        elif ch == "(" and not quoted and not back:
            if dollar or not buf.endswith("$"):
                raise ValueError(f"invalid command line string '{text}' (quote the '(')")
            dollar = True
            buf += ch
            continue
        elif ch == '"' and not single and not dollar:
            if double:
                got = True
            double = not double
            continue
        elif ch == "'" and not double and not dollar:
            if single:
                got = True
            single = not single
            continue
        elif ch in ";&|<>" and not (quoted or back or dollar):
            if ch == ">" and buf[:1].isdigit():
                got = False         # `2>` is a redirection, not a word
            tail = text[index:]
            break
        got = True
        buf += ch
    if escaped or single or double or back or dollar:
        raise ValueError(f"invalid command line string '{text}' (unbalanced quotes or "
                         "brackets)")
    if got:
        args.append(buf)
    return args, tail


def to_mapping(value: Any, empty: str | None) -> dict[str, Any]:
    """A `KEY=VALUE` list or a mapping -> a mapping of strings; a bare `KEY` maps to `empty`."""
    if isinstance(value, Mapping):
        return {str(k): _scalar(v) for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else empty
    return out


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def ports(item: Any) -> list[dict[str, Any]]:
    """One `ports:` entry -> its long-form entries (a container range gives one per port)."""
    if isinstance(item, Mapping):
        out: dict[str, Any] = {"mode": "ingress"}
        out.update({k: v for k, v in item.items() if not str(k).startswith("x-")})
        if "published" in out and out["published"] is not None:
            out["published"] = str(out["published"])
        out.setdefault("protocol", "tcp")
        if isinstance(out.get("target"), str) and out["target"].isdigit():
            out["target"] = int(out["target"])
        return [out]
    return parse_port_spec(str(item))


def parse_port_spec(text: str) -> list[dict[str, Any]]:
    """Parse `[ip:][host:]container[/proto]` like docker/go-connections nat.ParsePortSpec."""
    raw, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid protocol '{proto}' (use tcp, udp or sctp)")
    ip, host, container = _split_port_parts(raw)
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if not container:
        raise ValueError(f"no container port in '{text}'")
    first, last = parse_port_range(container)
    if last == 0:
        raise ValueError(f"no container port in '{text}' (0 is not a port a service listens on)")
    host_first = host_last = 0
    if host:
        host_first, host_last = parse_port_range(host)
        if (last - first) != (host_last - host_first) and last != first:
            raise ValueError(
                f"invalid port mapping '{text}' (the host and container ranges differ in size)")
    out = []
    for i in range(last - first + 1):
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = first + i
        if host:
            published = str(host_first + i)
            if first == last and host_first != host_last:
                published = f"{host_first}-{host_last}"
            entry["published"] = published
        entry["protocol"] = proto
        out.append(entry)
    return out


def _split_port_parts(raw: str) -> tuple[str, str, str]:
    if raw.startswith("["):
        end = raw.find("]")
        if end > 0 and raw[end + 1:end + 2] == ":":
            rest = raw[end + 2:].split(":")
            if len(rest) == 2:
                return raw[:end + 1], rest[0], rest[1]
            if len(rest) == 1:
                return raw[:end + 1], "", rest[0]
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def is_remote(path: str) -> bool:
    return "://" in path or path.startswith(("git@", "github.com/"))


def _is_bind_source(source: str) -> bool:
    return source.startswith((".", "/", "~")) or (len(source) > 1 and source[1] == ":")


def volume(item: Any, resolve: Callable[[str], str]) -> dict[str, Any]:
    """One `volumes:` entry -> its long form; bind sources resolved with `resolve`."""
    if isinstance(item, Mapping):
        out = {k: v for k, v in item.items() if not str(k).startswith("x-")}
        if out.get("type") == "bind" and isinstance(out.get("source"), str):
            out["source"] = resolve(out["source"])
        if isinstance(out.get("target"), str) and out["target"]:
            out["target"] = posixpath.normpath(out["target"])
        if out.get("type") == "tmpfs" and isinstance(out.get("tmpfs"), Mapping):
            tmpfs = dict(out["tmpfs"])
            if "size" in tmpfs:
                from pystack.orchestrator.config.units import parse_bytes

                try:
                    tmpfs["size"] = str(parse_bytes(tmpfs["size"]))
                except ValueError:
                    pass
            out["tmpfs"] = tmpfs
        return out
    return parse_volume_spec(str(item), resolve)


def parse_volume_spec(text: str, resolve: Callable[[str], str]) -> dict[str, Any]:
    """Parse `[source:]target[:options]` like compose-go format.ParseVolume."""
    parts = text.split(":")
    if WINDOWS_PATH.match(text):
        # compose-go reads a leading `x:/` or `x:\` as a Windows drive, part of the first
        # section (so `v:/data` alone is an anonymous volume's target).
        parts = [text[:2] + parts[1], *parts[2:]]
        if len(parts) == 1:
            return {"type": "volume", "target": posixpath.normpath(text), "volume": {}}
    if not text or len(parts) > 3 or any(not p for p in parts):
        raise ValueError(f"invalid volume '{text}' (use SOURCE:TARGET[:ro] or TARGET)")
    if len(parts) == 1:
        return {"type": "volume", "target": posixpath.normpath(parts[0]), "volume": {}}
    source, target = parts[0], posixpath.normpath(parts[1])
    opts = parts[2].split(",") if len(parts) == 3 else []
    bind = _is_bind_source(source)
    if bind and not WINDOWS_PATH.match(source):
        source = resolve(source)
    out: dict[str, Any] = {"type": "bind" if bind else "volume", "source": source,
                           "target": target}
    bind_opts: dict[str, Any] = {}
    vol_opts: dict[str, Any] = {}
    for opt in opts:
        if opt == "ro":
            out["read_only"] = True
        elif opt == "rw":
            pass
        elif opt in ("z", "Z"):
            bind_opts["selinux"] = opt
        elif opt in _PROPAGATION:
            bind_opts["propagation"] = opt
        elif opt in _CONSISTENCY:
            out["consistency"] = opt
        elif opt == "nocopy":
            vol_opts["nocopy"] = True
        else:
            raise ValueError(f"invalid volume option '{opt}' in '{text}' (use ro, rw, z, Z, "
                             "nocopy or a propagation mode)")
    if bind:
        bind_opts["create_host_path"] = True
        out["bind"] = bind_opts
    else:
        out["volume"] = vol_opts
    return out


def extra_hosts(value: Any) -> list[str]:
    """extra_hosts (list of host:ip / host=ip, or a mapping) -> sorted ["host=ip", ...]."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                pairs.append((str(host), str(ip)))
    else:
        for item in value or []:
            text = str(item)
            if "=" in text:
                host, _, ip = text.partition("=")
            else:
                host, _, ip = text.partition(":")
            pairs.append((host, ip))
    return [f"{h}={ip}" for h, ip in sorted(pairs)]


def file_ref(item: Any, default_dir: str | None) -> dict[str, Any]:
    """A service's secrets/configs entry -> long form; secrets get their /run/secrets target."""
    if isinstance(item, Mapping):
        out = {k: v for k, v in item.items() if not str(k).startswith("x-")}
        if isinstance(out.get("mode"), int):
            out["mode"] = "0" + format(out["mode"], "o")
        if default_dir is not None and not out.get("target") and "source" in out:
            out["target"] = default_dir + str(out["source"])
        return out
    out = {"source": str(item)}
    if default_dir is not None:
        out["target"] = default_dir + str(item)
    return out


def device(item: Any) -> Any:
    """`/dev/a[:/dev/b[:perms]]` -> {source, target, permissions} (compose-go's long form)."""
    if not isinstance(item, str):
        return item
    parts = item.split(":")
    out = {"source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0],
           "permissions": parts[2] if len(parts) > 2 else "rwm"}
    return out
