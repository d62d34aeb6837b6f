"""ADD's remote sources: http(s) URLs and git repositories, as BuildKit reads them.

    is_git("https://host/org/repo.git#main")  -> True   (BuildKit's dfgitutil rules)
    is_http("https://host/file.tar.gz")        -> True
    d = download(url, workdir, "sha256:...")   -> Download(dir, name, digest, mtime)

A URL is downloaded with the standard library (no decompression: a remote archive is copied
as it is, as BuildKit), to a private directory the caller removes.  Its file name is the
URL path's last element (`__unnamed__` when there is none), its mode 0600 (BuildKit's http
source), its mtime the `Last-Modified` header when the server sends one.  A `--checksum`
(`sha256:`, `sha384:` or `sha512:` and the hex digest) is checked against the content; the
content digest is what the cache keys the step on, so with a checksum a cached step needs no
download at all.  Loopback URLs never go through a proxy (a proxy cannot reach this host's
loopback).  A git source is cloned with the git binary (`#ref[:subdir]`, `--keep-git-dir`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import posixpath
import re
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pystack.runtime.build.errors import BuildError

if TYPE_CHECKING:                   # urllib.request (http.client, email, ssl) is loaded only
    import urllib.request          # when a step really downloads: every COPY plans here

TIMEOUT = 60.0                    # seconds without progress before a download fails
_ALGOS = {"sha256": 64, "sha384": 96, "sha512": 128}
_SCP = re.compile(r"^[A-Za-z0-9_.+-]+@[A-Za-z0-9_.-]+:")


@dataclass(frozen=True)
class Download:
    dir: Path                     # holds the one file `name`
    name: str
    digest: str                   # "sha256:<hex>" of the content
    mtime: float | None           # from Last-Modified


def is_git(src: str) -> bool:
    """A git source as BuildKit's ParseGitRef sees one for ADD: git://, ssh://,
    user@host:path, or an http(s) URL whose path ends with .git (`github.com/...` is
    "indistinguishable from local": ADD reads it as a context path, as BuildKit)."""
    if src.startswith(("git://", "ssh://")) or _SCP.match(src):
        return True
    if src.startswith(("http://", "https://")):
        path = urllib.parse.urlsplit(src.split("#", 1)[0]).path
        return path.endswith(".git")
    return False


def is_http(src: str) -> bool:
    return src.startswith(("http://", "https://")) and not is_git(src)


def url_filename(url: str) -> str:
    """The file name BuildKit gives a downloaded URL: the path's base name."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rstrip("/")
    base = posixpath.basename(path)
    return base if base not in ("", ".", "..") else "__unnamed__"


def parse_checksum(text: str) -> str:
    """`ALGO:HEX` checked (sha256/sha384/sha512), returned lower-cased."""
    algo, sep, hexd = text.partition(":")
    if not sep or algo not in _ALGOS or not re.fullmatch(f"[0-9a-fA-F]{{{_ALGOS[algo]}}}",
                                                          hexd):
        raise BuildError(f"invalid --checksum={text!r}",
                         hint="use sha256:<64 hex digits> (or sha384:, sha512:)")
    return f"{algo}:{hexd.lower()}"


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opener(url: str) -> urllib.request.OpenerDirector:
    import urllib.request

    if _is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def download(url: str, workdir: Path, checksum: str | None) -> Download:
    """Fetch `url` into a new directory under `workdir` (BuildError on any failure, the
    checksum's mismatch included; the directory is then removed)."""
    name = url_filename(url)
    d = workdir / f"url-{hashlib.sha256(url.encode()).hexdigest()[:16]}-{os.getpid()}"
    d.mkdir(mode=0o700)
    algo = checksum.partition(":")[0] if checksum else "sha256"
    h = hashlib.new(algo)
    sha = hashlib.sha256() if algo != "sha256" else h
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    try:
        req = urllib.request.Request(url, headers={"User-Agent": "pystack-build"})
        with _opener(url).open(req, timeout=TIMEOUT) as resp:
            modified = resp.headers.get("Last-Modified")
            fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := resp.read(1 << 20):
                    h.update(chunk)
                    if sha is not h:
                        sha.update(chunk)
                    out.write(chunk)
    except urllib.error.HTTPError as e:
        shutil.rmtree(d, ignore_errors=True)
        raise BuildError(f"failed to download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        shutil.rmtree(d, ignore_errors=True)
        why = e.reason if isinstance(e, urllib.error.URLError) else e
        raise BuildError(f"failed to download {url}: {why}",
                         hint="pystack downloads ADD URLs itself: the URL must be reachable "
                              "from this host") from None
    got = f"{algo}:{h.hexdigest()}"
    if checksum is not None and got != checksum:
        shutil.rmtree(d, ignore_errors=True)
        raise BuildError(f"checksum mismatch for {url}: --checksum={checksum}, the content is "
                         f"{got}", hint="fix the --checksum value (or the URL)")
    mtime = None
    if modified:
        try:
            mtime = parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = None
    if mtime is not None:
        os.utime(d / name, (mtime, mtime))
    return Download(d, name, f"sha256:{sha.hexdigest()}", mtime)


def git_clone(src: str, workdir: Path, keep_git_dir: bool) -> tuple[Path, str]:
    """Clone the git source `src` (`URL#ref[:subdir]`) into a new directory under `workdir`
    with the git binary; returns the clone and the subdir to copy ("" for all of it: the
    caller resolves it inside the clone, never following a link out)."""
    remote, _, frag = src.partition("#")
    ref, _, subdir = frag.partition(":")
    exe = shutil.which("git")
    if exe is None:
        raise BuildError(f"ADD {src}: git sources need the git binary, which is not installed",
                         hint="install git, or clone the repository into the context first")
    d = workdir / f"git-{hashlib.sha256(src.encode()).hexdigest()[:16]}-{os.getpid()}"
    # submodules come from the repository (untrusted): never from this host's files
    argv = [exe, "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never", "clone",
            "--quiet", "--depth", "1", "--recurse-submodules"]
    commit = bool(re.fullmatch(r"[0-9a-f]{7,40}", ref))
    if commit:                          # a commit: a full clone, then check it out
        argv.remove("--depth")
        argv.remove("1")
    elif ref:
        argv += ["--branch", ref]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_TERMINAL_PROMPT": "0",
           "HOME": str(workdir), "GIT_CONFIG_NOSYSTEM": "1"}
    proxies = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
               "NO_PROXY")
    local = _is_loopback(urllib.parse.urlsplit(remote).hostname or "")
    for k in ("SSH_AUTH_SOCK", *proxies):
        if k in os.environ and not (local and k in proxies):
            env[k] = os.environ[k]
    try:
        r = subprocess.run([*argv, "--", remote, str(d)], capture_output=True, text=True,
                           env=env, timeout=600, stdin=subprocess.DEVNULL)
        if r.returncode != 0 and "shallow" in r.stderr and not commit:   # dumb http
            shutil.rmtree(d, ignore_errors=True)
            argv.remove("--depth")
            argv.remove("1")
            r = subprocess.run([*argv, "--", remote, str(d)], capture_output=True, text=True,
                               env=env, timeout=600, stdin=subprocess.DEVNULL)
        if r.returncode == 0 and commit:
            r = subprocess.run([exe, "-C", str(d), "-c", "advice.detachedHead=false",
                                "checkout", "--quiet", "--recurse-submodules", ref, "--"],
                               capture_output=True, text=True, env=env, timeout=600,
                               stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        shutil.rmtree(d, ignore_errors=True)
        raise BuildError(f"ADD {src}: git clone timed out") from None
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        last = (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise BuildError(f"ADD {src}: git clone failed: {last}",
                         hint="check the URL and ref, and that the repository is reachable "
                              "from this host") from None
    if not keep_git_dir:
        shutil.rmtree(d / ".git", ignore_errors=True)
    os.chmod(d, 0o755)
    return d, subdir


class Remotes:
    """The remote sources of one ADD, fetched into `workdir` (removed by close()).

    Without a checksum every source is fetched before the cache lookup (the step's key then
    has the digest of their content, as BuildKit keys an http source by what it downloaded);
    with `--checksum` (one http source) the key has the checksum and the file is downloaded
    only when the step runs."""

    def __init__(self, workdir: Path, checksum: str | None, keep_git_dir: bool) -> None:
        self.workdir = workdir
        self.checksum = checksum
        self.keep_git_dir = keep_git_dir
        self.sources: list[str] = []
        self.fetched: list[tuple[Path, str]] | None = None     # (root, path inside it)

    def __len__(self) -> int:
        return len(self.sources)

    def lazy(self) -> bool:
        return self.checksum is not None and all(is_http(s) for s in self.sources)

    def key(self) -> list[tuple[str, str, str]]:
        return [("url", url_filename(s), self.checksum or "") for s in self.sources] \
            if self.lazy() else []

    def fetch(self) -> list[tuple[Path, str]]:
        if self.fetched is None:
            if not self.workdir.exists():
                self.workdir.mkdir(mode=0o700)
            out = []
            for s in self.sources:
                if is_http(s):
                    d = download(s, self.workdir, self.checksum)
                    out.append((d.dir, d.name))
                else:
                    out.append(git_clone(s, self.workdir, self.keep_git_dir))
            self.fetched = out
        return self.fetched

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
