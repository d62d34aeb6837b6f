"""Plan: what `up` must do to each container, from the desired model and what exists.

Per service the desired state is a replica count and a config hash (the service's canonical
config plus the image id, see `container_hash`); what exists are the project's containers as the
runtime lists them (their `com.docker.compose.*` labels).  Per container the plan says:
  create    no container with that number exists
  recreate  the hash differs (or --force-recreate): remove the old one, create anew
  start     same hash, not running: start it again
  keep      same hash, running: never touched
  remove    a replica beyond the wanted count (highest numbers first)
Containers of services the project no longer has are orphans, removed only when asked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pystack.runtime.api import ContainerState

Action = Literal["create", "recreate", "start", "keep", "remove"]

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_IMAGE = "com.docker.compose.image"


def container_hash(service_hash: str, image_id: str) -> str:
    """The hash recorded on a container: its service's config hash and the image id."""
    return hashlib.sha256(f"{service_hash}\0{image_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Existing:
    """One of the project's containers, as far as planning cares."""

    id: str
    name: str
    service: str
    number: int
    status: str
    config_hash: str
    oneoff: bool = False

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting", "paused")

    @classmethod
    def from_state(cls, st: ContainerState) -> Existing:
        lb = st.labels
        try:
            number = int(lb.get(LABEL_NUMBER, "0"))
        except ValueError:
            number = 0
        return cls(id=st.id, name=st.name, service=lb.get(LABEL_SERVICE, ""), number=number,
                   status=st.status, config_hash=lb.get(LABEL_HASH, ""),
                   oneoff=lb.get(LABEL_ONEOFF, "False") == "True")


def project_containers(states: Iterable[ContainerState], project: str) -> list[Existing]:
    """The containers labelled with `project`, one-offs included, ordered by service/number."""
    out = [Existing.from_state(s) for s in states if s.labels.get(LABEL_PROJECT) == project]
    return sorted(out, key=lambda e: (e.service, e.oneoff, e.number, e.name))


@dataclass(frozen=True)
class Desired:
    scale: int
    config_hash: str


@dataclass(frozen=True)
class Step:
    action: Action
    service: str
    number: int
    name: str
    container_id: str = ""              # the existing container, for all but create
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    orphans: tuple[Existing, ...]

    def for_service(self, service: str) -> list[Step]:
        return [s for s in self.steps if s.service == service]

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)


def container_name(project: str, service: str, number: int) -> str:
    return f"{project}-{service}-{number}"


def make_plan(project: str, desired: Mapping[str, Desired], existing: Iterable[Existing], *,
              services: Iterable[str] | None = None, force_recreate: bool = False,
              no_recreate: bool = False, names: Mapping[str, str] | None = None) -> Plan:
    """Decide per container.  `services` limits the plan to those (default: every desired
    service); `names` maps a service to its fixed `container_name:` (scale 1)."""
    chosen = set(desired) if services is None else set(services)
    names = names or {}
    ex = [e for e in existing if not e.oneoff]
    steps: list[Step] = []
    for svc in sorted(chosen):
        want = desired[svc]
        have = sorted((e for e in ex if e.service == svc), key=lambda e: e.number)
        # Keep the lowest numbers; running ones first when numbers collide.
        kept: dict[int, Existing] = {}
        extra: list[Existing] = []
        for e in sorted(have, key=lambda e: (e.number, not e.running)):
            if e.number in kept or len(kept) >= want.scale:
                extra.append(e)
            else:
                kept[e.number] = e
        for e in sorted(extra, key=lambda e: -e.number):
            steps.append(Step("remove", svc, e.number, e.name, e.id, "scaled down"))
        for e in kept.values():
            if e.status == "dead":
                # Its shim and process are gone: nothing to start again, make a new one.
                steps.append(Step("recreate", svc, e.number, e.name, e.id, "dead"))
            elif (force_recreate or e.config_hash != want.config_hash) and not no_recreate:
                reason = "forced" if force_recreate else "configuration changed"
                steps.append(Step("recreate", svc, e.number, e.name, e.id, reason))
            elif e.running:
                steps.append(Step("keep", svc, e.number, e.name, e.id))
            else:
                steps.append(Step("start", svc, e.number, e.name, e.id))
        n = 1
        while len(kept) < want.scale:
            while n in kept:
                n += 1
            name = names.get(svc) or container_name(project, svc, n)
            steps.append(Step("create", svc, n, name))
            kept[n] = Existing("", name, svc, n, "", want.config_hash)
    orphans = tuple(e for e in ex if e.service not in desired)
    return Plan(tuple(steps), orphans)
