"""What a build is asked to do, what it reports while it runs, and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

# container id -> a context giving (netns path, hosts file, resolv.conf file) for a RUN on the
# default build network; the orchestrator provides it (a pystack network with NAT: the
# runtime cannot import net).  Without one, the default network is a namespace with only lo.
NetProvider = Callable[[str], AbstractContextManager[tuple[str, str, str]]]


@dataclass(frozen=True)
class BuildRequest:
    context: Path                               # a directory
    dockerfile: Path | None = None              # None: <context>/Dockerfile
    dockerfile_inline: str | None = None
    dockerfile_name: str = "Dockerfile"         # how errors name the file
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False                          # pull FROM images even when present
    network: str = "default"                    # default | none | host
    label: str = ""                             # progress prefix ("app" for a service)
    net: NetProvider | None = field(default=None, compare=False)
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)  # id -> content
    # named contexts (additional_contexts): name -> an absolute directory or
    # "docker-image://REF"; COPY --from=NAME, RUN --mount from=NAME and FROM NAME use them
    contexts: Mapping[str, str] = field(default_factory=dict)
    # RUN --mount=type=ssh agents: id -> an agent socket, or private key files (sshagent.py)
    ssh: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # cache_from type=local src dirs; cache_to type=local (dest dir, "min" | "max")
    cache_from: tuple[Path, ...] = ()
    cache_to: tuple[tuple[Path, str], ...] = ()


@dataclass(frozen=True)
class Event:
    """A progress event, as BuildKit's plain output shows them: `#5 [app 2/6] RUN ...`."""

    kind: str                                   # start | cached | done | output | error | info
    number: int
    name: str
    text: str = ""
    seconds: float = 0.0


Progress = Callable[[Event], None]


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    steps: int                                  # filesystem steps run or taken from cache
    cached: int                                 # of which from the cache
    warnings: tuple[str, ...] = ()
