"""Named users end to end, on an image imported into the real store (its layers are the
store's `layers/l/<id>` symlinks): `user:` as a name, name:group, uid and uid:gid on up,
`run -u` and `exec -u`, with the HOME and groups Docker gives (issue 11)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

# The busybox image's /etc/passwd: app:x:1000:1000:/home/app, nobody 65534, daemon 1;
# /etc/group: staff:x:50:app, nogroup 65534.
STACK = """
services:
  byname:
    image: local/busybox:latest
    user: app
    command: ["sh", "-c", "echo \\"$$(id -u):$$(id -g):$$(id -G):$$HOME\\"; exec sleep 1000"]
    network_mode: none
  withgroup:
    image: local/busybox:latest
    user: app:nogroup
    command: ["sh", "-c", "echo \\"$$(id -u):$$(id -g):$$(id -G):$$HOME\\"; exec sleep 1000"]
    network_mode: none
  byuid:
    image: local/busybox:latest
    user: "1000"
    group_add: [daemon]
    command: ["sh", "-c", "echo \\"$$(id -u):$$(id -g):$$(id -G):$$HOME\\"; exec sleep 1000"]
    network_mode: none
  numeric:
    image: local/busybox:latest
    user: "4242:77"
    command: ["sh", "-c", "echo \\"$$(id -u):$$(id -g):$$(id -G):$$HOME\\"; exec sleep 1000"]
    network_mode: none
"""


def _line(p: Project, svc: str) -> str:
    out = ""

    def ready() -> bool:
        nonlocal out
        out = p.run("logs", "--no-log-prefix", svc).stdout.strip()
        return bool(out)

    p.wait_for(ready)
    return out


def test_named_users_on_up_run_and_exec(make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK)
    p.run("up", "-d")
    assert _line(p, "byname") == "1000:1000:1000 50:/home/app"     # member of staff
    assert _line(p, "withgroup") == "1000:65534:65534:/home/app"   # explicit group: only it
    assert _line(p, "byuid") == "1000:1000:1000 1 50:/home/app"    # uid -> passwd entry
    assert _line(p, "numeric") == "4242:77:77:/"                   # unknown ids are fine
    r = p.run("run", "--rm", "-u", "nobody", "byname", "sh", "-c", 'echo "$(id -u):$HOME"')
    assert r.stdout.strip().splitlines()[-1] == "65534:/"
    r = p.run("run", "--rm", "-u", "app:staff", "numeric", "sh", "-c",
              'echo "$(id -u):$(id -g):$HOME"')
    assert r.stdout.strip().splitlines()[-1] == "1000:50:/home/app"
    r = p.run("exec", "-u", "daemon", "byname", "sh", "-c", 'echo "$(id -u):$(id -g):$HOME"')
    assert r.stdout.strip() == "1:1:/usr/sbin"
    # the service's user is what exec uses by default
    assert p.run("exec", "byname", "id", "-u").stdout.strip() == "1000"


def test_unknown_user_is_refused_clearly(make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK.replace("user: app\n", "user: ghost\n", 1))
    r = p.run("up", "-d", "byname", check=False)
    assert r.returncode != 0
    assert "unable to find user ghost: no matching entries in passwd file" in r.stderr
    assert "Traceback" not in r.stderr
    r = p.run("run", "--rm", "-u", "ghost2", "numeric", "true", check=False)
    assert r.returncode != 0 and "unable to find user ghost2" in r.stderr
