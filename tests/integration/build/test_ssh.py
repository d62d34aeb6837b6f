"""RUN --mount=type=ssh with a real ssh-agent: a static client in the image lists the keys
through the forwarded socket; the socket is the step's own (owner and mode as asked), never in
the layer; key files get an agent of the build's own; a required mount without an agent is a
located error; `image build --ssh` and Compose `build.ssh` pass the agent."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.runtime.build.errors import BuildError
from tests.integration.build.conftest import Ctx, image_file
from tests.integration.stack.conftest import Project, pystack_argv

pytestmark = pytest.mark.root

# lists an agent's keys (SSH2_AGENTC_REQUEST_IDENTITIES) through $SSH_AUTH_SOCK
AGENTLS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
static int rd(int fd, unsigned char *b, size_t n) {
    size_t got = 0;
    while (got < n) { ssize_t r = read(fd, b + got, n - got); if (r <= 0) return -1; got += r; }
    return 0;
}
static unsigned u32(const unsigned char *p) {
    return ((unsigned)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}
int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path) { puts("no SSH_AUTH_SOCK"); return 2; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a; memset(&a, 0, sizeof a); a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 3; }
    unsigned char req[5] = {0, 0, 0, 1, 11};
    if (write(fd, req, 5) != 5) return 4;
    unsigned char h[4];
    if (rd(fd, h, 4)) return 5;
    unsigned len = u32(h);
    unsigned char *m = malloc(len);
    if (!m || len < 5 || rd(fd, m, len)) return 6;
    if (m[0] != 12) { printf("reply %d\n", m[0]); return 7; }
    unsigned n = u32(m + 1), off = 5;
    printf("keys %u\n", n);
    for (unsigned i = 0; i < n; i++) {
        unsigned bl = u32(m + off); off += 4 + bl;
        unsigned cl = u32(m + off); off += 4;
        printf("key %.*s\n", (int)cl, m + off); off += cl;
    }
    return 0;
}
"""


@pytest.fixture
def agent(tmp_path: Path, ctx: Ctx) -> Iterator[tuple[str, Path]]:
    """(the socket of a real ssh-agent holding one key, a second key's file); the static
    client is in the context as `agentls`."""
    tools = [shutil.which(t) for t in ("gcc", "ssh-agent", "ssh-add", "ssh-keygen")]
    if None in tools:
        pytest.skip("needs gcc, ssh-agent, ssh-add and ssh-keygen (openssh-client)")
    gcc, ssh_agent, ssh_add, keygen = (str(t) for t in tools)
    (tmp_path / "agentls.c").write_text(AGENTLS_C)
    r = subprocess.run([gcc, "-static", "-O1", "-o", str(ctx.root / "agentls"),
                        str(tmp_path / "agentls.c")], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot build a static client: {r.stderr[:200]}")
    for name in ("agent-key", "file-key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"pystack-{name}",
                        "-f", str(tmp_path / name)], check=True)
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen([ssh_agent, "-D", "-a", str(sock)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None and proc.stdout.readline()     # it is listening
        subprocess.run([ssh_add, "-q", str(tmp_path / "agent-key")], check=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(sock)})
        yield str(sock), tmp_path / "file-key"
    finally:
        proc.terminate()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_ssh_mount_forwards_the_agent(ctx: Ctx, agent: tuple[str, Path]) -> None:
    sock, keyfile = agent
    ctx.build("FROM local/busybox:latest\nCOPY agentls /agentls\n"
              "RUN --mount=type=ssh /agentls > /out && echo $SSH_AUTH_SOCK > /env\n"
              "RUN --mount=type=ssh,id=files,target=/tmp/s,uid=1000,mode=0660 "
              "SSH_AUTH_SOCK=/tmp/s /agentls > /out2 && stat -c '%a %u %F' /tmp/s > /st\n"
              "RUN --mount=type=ssh,id=absent test ! -e /run/buildkit/ssh_agent.0\n",
              tags=("built:ssh",), ssh={"default": (sock,), "files": (str(keyfile),)})
    assert image_file("built:ssh", "out") == "keys 1\nkey pystack-agent-key\n"
    assert image_file("built:ssh", "env") == "/run/buildkit/ssh_agent.0\n"
    assert image_file("built:ssh", "out2") == "keys 1\nkey pystack-file-key\n"
    assert image_file("built:ssh", "st") == "660 1000 socket\n"
    for gone in ("run/buildkit/ssh_agent.0", "run/buildkit", "tmp/s"):
        assert image_file("built:ssh", gone) is None            # never in a layer
    with pytest.raises(BuildError) as e:
        ctx.build("FROM local/busybox:latest\nRUN --mount=type=ssh,required=true true\n",
                  tags=("built:never",))
    assert "no SSH agent was given" in e.value.message and e.value.where == "Dockerfile:2"
    assert e.value.hint is not None and "--ssh" in e.value.hint


def test_ssh_through_the_cli_and_compose(ctx: Ctx, agent: tuple[str, Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sock, _ = agent
    ctx.write("Dockerfile", "FROM local/busybox:latest\nCOPY agentls /agentls\n"
              "RUN --mount=type=ssh,required=true /agentls > /out\n")
    env = {**os.environ, "SSH_AUTH_SOCK": sock}
    r = subprocess.run(pystack_argv("image", "build", "--ssh", "default", "-t", "built:sshcli",
                                    str(ctx.root)), capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert image_file("built:sshcli", "out") == "keys 1\nkey pystack-agent-key\n"
    r = subprocess.run(pystack_argv("image", "build", "-t", "built:never", str(ctx.root)),
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "Dockerfile:3" in r.stderr and "Traceback" not in r.stderr
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)
    p = Project(tmp_path, f"services:\n  app:\n    build:\n      context: {ctx.root}\n"
                          "      ssh: [default]\n")
    p.run("build")
    assert image_file(f"{p.name}-app", "out") == "keys 1\nkey pystack-agent-key\n"
    monkeypatch.delenv("SSH_AUTH_SOCK")
    r = p.run("build", check=False)
    assert r.returncode != 0 and "SSH_AUTH_SOCK is not set" in r.stderr
    assert "Traceback" not in r.stderr
