"""Service keys pystack accepts but does not act on (or rarely used shapes), reshaped as
compose-go v2.9.1 prints them in `config --format json`: devices and gpus long forms,
label_file folded into labels, lifecycle hook commands split, blkio device entries, provider
options, models references.  Called by normalize.service().
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pystack.orchestrator.config import shortsyntax as short
from pystack.orchestrator.config import units


def _size(value: Any) -> Any:
    try:
        return str(units.parse_bytes(value))
    except ValueError:
        return value


def reshape(out: dict[str, Any], resolve: Callable[[str], str]) -> None:
    """Keys pystack does not act on, shaped as compose-go prints them."""
    if "devices" in out:
        out["devices"] = [short.device(d) for d in out["devices"] or []]
    if out.get("gpus") == "all":
        out["gpus"] = [{"count": -1}]
    if "group_add" in out:
        out["group_add"] = [str(g) for g in out["group_add"] or []]
    if "mem_swappiness" in out:
        out["mem_swappiness"] = str(out["mem_swappiness"])
    if "label_file" in out:
        from pystack.orchestrator.config.envfiles import read_env_files

        files = out.pop("label_file")
        paths = [files] if isinstance(files, str) else list(files or [])
        labels = {k: v for k, v in read_env_files(paths, resolve, {}).items()
                  if v is not None}
        out["labels"] = {**labels, **(out.get("labels") or {})}
    for hook in ("post_start", "pre_stop"):
        if isinstance(out.get(hook), list):
            out[hook] = [{**h, "command": short.split_command(h["command"])}
                         if isinstance(h, dict) and isinstance(h.get("command"), str) else h
                         for h in out[hook]]
    if isinstance(out.get("ulimits"), dict):
        # compose-go omits zero limits: `core: 0` and `{soft: 0, hard: 0}` print as {}.
        out["ulimits"] = {k: ({x: n for x, n in v.items() if n != 0} if isinstance(v, dict)
                              else v if v != 0 else {})
                          for k, v in out["ulimits"].items()}
    if isinstance(out.get("provider"), dict) and isinstance(out["provider"].get("options"),
                                                            dict):
        opts = out["provider"]["options"]
        out["provider"] = {**out["provider"], "options": {
            k: [str(x) for x in v] if isinstance(v, list) else [str(v)]
            for k, v in opts.items()}}
    if isinstance(out.get("models"), list):
        out["models"] = dict.fromkeys(str(x) for x in out["models"])
    if isinstance(out.get("blkio_config"), dict):
        out["blkio_config"] = _blkio(out["blkio_config"])


def _blkio(blkio: Mapping[str, Any]) -> dict[str, Any]:
    # compose-go v2.9.1 prints device entries with Go field names (no json tags).
    out = dict(blkio)
    for key, value in blkio.items():
        if key == "weight" or not isinstance(value, list):
            continue
        entries = []
        for item in value:
            if not isinstance(item, dict):
                entries.append(item)
                continue
            entry: dict[str, Any] = {"Path": item.get("path")}
            if "rate" in item:
                rate = item["rate"]
                entry["Rate"] = _size(rate) if key.endswith("bps") else str(rate)
            if "weight" in item:
                entry["Weight"] = item["weight"]
            entries.append(entry)
        out[key] = entries
    return out


# Fields compose-go declares as pointers: printed even when false/0.
_POINTER_KEYS = frozenset({"init", "scale", "replicas", "retries", "enable_ipv4", "enable_ipv6",
                           "attach", "mode", "command", "entrypoint", "count", "required"})
# Mappings of user data (values such as "" or "0" are meaningful): never pruned.
_DATA_KEYS = frozenset({"environment", "labels", "annotations", "sysctls", "extra_hosts",
                        "driver_opts", "options", "args", "storage_opt", "aux_addresses",
                        "ulimits", "test", "tmpfs", "dns", "dns_search", "dns_opt",
                        "security_opt", "cap_add", "cap_drop", "group_add", "profiles",
                        "aliases", "links", "volumes_from", "expose", "external_links",
                        "networks"})


def omit_zero(node: dict[str, Any]) -> dict[str, Any]:
    """Drop false/0/"" fields, as compose-go's `omitempty` JSON tags do (pointer fields and
    user-data mappings are kept).  Sizes are byte strings here, so "0" counts as zero."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if value == [] and key not in ("command", "entrypoint"):
            continue                    # empty lists are omitted too (but `command: []`)
        if key.startswith("x-") or key in _DATA_KEYS:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = omit_zero(value)
        elif isinstance(value, list):
            out[key] = [omit_zero(v) if isinstance(v, dict) else v for v in value]
        elif key in _POINTER_KEYS or not _is_zero(key, value):
            out[key] = value
    return out


_SIZE_FIELDS = frozenset({"mem_limit", "mem_reservation", "memswap_limit", "shm_size",
                          "mem_swappiness", "memory", "size"})


def _is_zero(key: str, value: Any) -> bool:
    if value is False or value == "" or (value == 0 and not isinstance(value, str)):
        return True
    return key in _SIZE_FIELDS and value == "0"
