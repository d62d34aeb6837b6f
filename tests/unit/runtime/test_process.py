"""The Docker merge of spec and image config, and users read from /etc/passwd as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.errors import ContainerRuntimeError
from pystack.runtime.image.model import ImageConfig
from pystack.runtime.process import build, merge_argv, parse_passwd, resolve_user
from pystack.runtime.spec import ContainerSpec

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n"
          "app:x:1000:1000:app:/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n")
GROUP = "root:x:0:\nstaff:x:50:app,web\napp:x:1000:\nwww:x:33:\nbad:x:notanumber:\n"


def _spec(**kw: object) -> ContainerSpec:
    image = kw.pop("image", ImageConfig(entrypoint=("/entry",), cmd=("run", "x"),
                                        env=("PATH=/bin", "A=image"), working_dir="/srv",
                                        user="app"))
    return ContainerSpec(id="0" * 64, name="c", image=image,  # type: ignore[arg-type]
                         image_id="sha256:x", lower_dirs=(), **kw)  # type: ignore[arg-type]


def test_argv_merge_like_docker() -> None:
    assert merge_argv(_spec()) == ("/entry", "run", "x")
    assert merge_argv(_spec(command=("other",))) == ("/entry", "other")
    assert merge_argv(_spec(entrypoint=("/e2",))) == ("/e2",)           # image cmd dropped
    assert merge_argv(_spec(entrypoint=(), command=("ls",))) == ("ls",)
    with pytest.raises(ContainerRuntimeError, match="no command specified for container c"):
        merge_argv(_spec(entrypoint=()))


def test_build_env_cwd_user_init(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    p = build(_spec(env={"A": "spec", "B": "2"}, hostname="h", init=True), [tmp_path])
    assert p.argv == ("/sbin/docker-init", "--", "/entry", "run", "x")
    assert p.env == ("PATH=/bin", "A=spec", "B=2", "HOSTNAME=h", "HOME=/home/app")
    assert p.cwd == "/srv"
    assert (p.user.uid, p.user.gid, p.user.groups) == (1000, 1000, (50,))
    with pytest.raises(ContainerRuntimeError, match="needs to be an absolute path"):
        build(_spec(working_dir="x"), [tmp_path])


def test_resolve_user_forms() -> None:
    assert resolve_user("", PASSWD, GROUP).uid == 0
    u = resolve_user("web", PASSWD, GROUP, group_add=("root", "7"))
    assert (u.uid, u.gid, u.groups, u.home) == (33, 33, (50, 0, 7), "/var/www")
    u = resolve_user("1000:www", PASSWD, GROUP)
    assert (u.uid, u.gid, u.groups) == (1000, 33, ())       # explicit group: no member groups
    u = resolve_user("4242", PASSWD, GROUP)
    assert (u.uid, u.gid, u.home) == (4242, 0, "/")          # unknown uid is fine, as runc
    with pytest.raises(ContainerRuntimeError,
                       match=r"^unable to find user ghost: no matching entries in passwd file$"):
        resolve_user("ghost", PASSWD, GROUP)
    with pytest.raises(ContainerRuntimeError, match="unable to find group nogroup"):
        resolve_user("app:nogroup", PASSWD, GROUP)


@settings(max_examples=60)
@given(st.text(max_size=300))
def test_passwd_parser_never_crashes(text: str) -> None:
    for name, uid, gid, _ in parse_passwd(text):
        assert isinstance(name, str) and isinstance(uid, int) and isinstance(gid, int)
    try:
        resolve_user("root", text, text)
    except ContainerRuntimeError:
        pass
