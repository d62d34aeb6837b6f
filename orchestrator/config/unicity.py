"""Unique keys of merged sequences, as compose-go's `override/uncity.go`: after every merge,
ports, volumes, secrets, configs, environment, labels, ... keep one entry per key, a later
entry replacing an earlier one in place.  Short and long forms index alike (compose v2 turns
short forms into long ones before merging: "8080:80" and {target: 80, published: "8080"} are
the same port).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystack.orchestrator.config.marks import TreePath
from pystack.orchestrator.config.yamlread import MDict, MList


def _kv(item: Any) -> str:
    return item.split("=", 1)[0] if isinstance(item, str) else repr(item)


def _volume(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target", ""))
    if isinstance(item, str):
        parts = item.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return repr(item)


def _mount(default: str) -> Callable[[Any], str]:
    # compose-go's mountIndexer: "name" and {source: name} both index as "<default>/name".
    def index(item: Any) -> str:
        if isinstance(item, str):
            return f"{default}/{item}"
        if isinstance(item, dict):
            if "target" in item:
                return str(item["target"])
            return f"{default}/{item.get('source')}"
        return repr(item)
    return index


def _go_fmt(v: Any, verb: str) -> str:
    """Go's fmt of a YAML value with %s or %d, including its "%!s(int=80)" for a wrong type."""
    if v is None:
        return f"%!{verb}(<nil>)"
    if verb == "s":
        return v if isinstance(v, str) else f"%!s({type(v).__name__}={v})"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return f"%!d({'string' if isinstance(v, str) else type(v).__name__}={v})"


def _port(item: Any) -> str:
    """compose-go's portIndexer, applied to the canonical (long) form of short ports too:
    compose v2 turns "8080:80" into {target: 80, published: "8080"} before it merges."""
    if isinstance(item, str):
        item = _short_port(item)
    elif isinstance(item, int) and not isinstance(item, bool):
        item = {"target": item}
    if isinstance(item, dict):
        return (f"{item.get('host_ip', '0.0.0.0')}:{_go_fmt(item.get('published'), 's')}:"
                f"{_go_fmt(item.get('target'), 'd')}/{item.get('protocol', 'tcp')}")
    return str(item)


def _short_port(text: str) -> dict[str, Any] | str:
    spec, _, proto = text.partition("/")
    host: str | None = None
    if spec.startswith("["):
        host, _, spec = spec[1:].partition("]")
        spec = spec.lstrip(":")
    parts = spec.rsplit(":", 2) if host is None else spec.rsplit(":", 1)
    if host is None and len(parts) == 3:
        host = parts.pop(0)
    target = parts[-1]
    published = parts[0] if len(parts) == 2 else None
    if not target.isdigit() or (published is not None and not published.isdigit()):
        return text  # ranges and odd forms: keyed by their text
    out: dict[str, Any] = {"target": int(target), "protocol": proto or "tcp"}
    if published:
        out["published"] = published
    if host:
        out["host_ip"] = host
    return out


def _env_file(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("path", ""))
    return str(item)


_UNIQUE: list[tuple[tuple[str, ...], Callable[[Any], str]]] = [
    (("networks", "*", "labels"), _kv), (("networks", "*", "ipam", "options"), _kv),
    (("services", "*", "annotations"), _kv), (("services", "*", "build", "args"), _kv),
    (("services", "*", "build", "additional_contexts"), _kv),
    (("services", "*", "build", "platforms"), _kv), (("services", "*", "build", "tags"), _kv),
    (("services", "*", "build", "labels"), _kv), (("services", "*", "cap_add"), _kv),
    (("services", "*", "cap_drop"), _kv), (("services", "*", "devices"), _volume),
    (("services", "*", "configs"), _mount("")), (("services", "*", "deploy", "labels"), _kv),
    (("services", "*", "dns"), _kv), (("services", "*", "dns_opt"), _kv),
    (("services", "*", "dns_search"), _kv), (("services", "*", "environment"), _kv),
    (("services", "*", "env_file"), _env_file), (("services", "*", "expose"), str),
    (("services", "*", "labels"), _kv), (("services", "*", "links"), _kv),
    (("services", "*", "networks", "*", "aliases"), _kv),
    (("services", "*", "networks", "*", "link_local_ips"), _kv),
    (("services", "*", "ports"), _port), (("services", "*", "profiles"), _kv),
    (("services", "*", "secrets"), _mount("/run/secrets")),
    (("services", "*", "sysctls"), _kv), (("services", "*", "tmpfs"), _kv),
    (("services", "*", "volumes"), _volume),
]




def _unique_list(node: MList, indexer: Callable[[Any], str]) -> MList:
    out = MList()
    seen: dict[str, int] = {}
    for i, item in enumerate(node):
        mark = node.vmarks[i] if i < len(node.vmarks) else None
        k = indexer(item)
        if k in seen:
            out[seen[k]] = item
            out.vmarks[seen[k]] = mark
            continue
        seen[k] = len(out)
        out.add(item, mark)
    return out


_SERVICE_UNIQUE = {p[2]: f for p, f in _UNIQUE if p[0] == "services" and len(p) == 3}
_SERVICE_NESTED: dict[str, dict[str, Callable[[Any], str]]] = {}
for _p, _f in _UNIQUE:
    if _p[0] == "services" and len(_p) == 4:
        _SERVICE_NESTED.setdefault(_p[2], {})[_p[3]] = _f


def _unique_keys(node: MDict, indexers: dict[str, Callable[[Any], str]]) -> None:
    for key in indexers.keys() & node.keys():
        value = node[key]
        if isinstance(value, MList):
            node[key] = _unique_list(value, indexers[key])


def _unique_service(svc: MDict) -> None:
    _unique_keys(svc, _SERVICE_UNIQUE)
    for sub, indexers in _SERVICE_NESTED.items():
        inner = svc.get(sub)
        if isinstance(inner, MDict):
            _unique_keys(inner, indexers)
    nets = svc.get("networks")
    if isinstance(nets, MDict):
        for net in nets.values():
            if isinstance(net, MDict):
                _unique_keys(net, {"aliases": _kv, "link_local_ips": _kv})


def _unique_project(tree: MDict) -> None:
    services = tree.get("services")
    if isinstance(services, MDict):
        for svc in services.values():
            if isinstance(svc, MDict):
                _unique_service(svc)
    networks = tree.get("networks")
    if isinstance(networks, MDict):
        for net in networks.values():
            if isinstance(net, MDict):
                _unique_keys(net, {"labels": _kv})
                ipam = net.get("ipam")
                if isinstance(ipam, MDict):
                    _unique_keys(ipam, {"options": _kv})


def enforce_unicity(node: Any, path: TreePath = ()) -> Any:
    """Make keyed sequences unique (ports, volumes, environment, ...); a later entry replaces
    an earlier one in place.  `path` is where `node` sits: the project root or a service."""
    if isinstance(node, MDict):
        if not path:
            _unique_project(node)
        elif len(path) == 2 and path[0] == "services":
            _unique_service(node)
    return node
