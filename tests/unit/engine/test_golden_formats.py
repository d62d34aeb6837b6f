"""Golden outputs: the exact text of `ps`, `stats`, `top` and `events` (table, json,
template) next to the examples Compose and the docker CLI document.  The numbers are those of
the documented examples, so a row must come out character for character as documented; the
column widths are those of the docker formatter's tabwriter today (minwidth 10, padding 3;
the stats page's examples were printed by an older CLI with minwidth 20)."""

from __future__ import annotations

import json
import time

import pytest

from pystack.orchestrator.ui.formats import (
    PS_FIELDS,
    PS_HEADERS,
    PS_TABLE,
    bytes_size,
    command_text,
    human_size,
    render,
    tabwrite,
    template,
)
from pystack.orchestrator.ui.readouts import (
    STATS_HEADERS,
    STATS_TABLE,
    StatsEntry,
    cputime,
    event_json,
    event_text,
    live_frame,
    top_block,
)
from pystack.runtime.api import ContainerEvent, ProcessInfo, Stats

GIB_1_952 = 2_095_944_040                      # prints as 1.952GiB


def _stats_rows() -> list[dict[str, object]]:
    # docker/cli docs/reference/commandline/container_stats.md, "Examples":
    #   b95a83497c91  awesome_brattain  0.28%  5.629MiB / 1.952GiB  0.28%  916B / 0B
    #                 147kB / 0B  9
    #   67b2525d8ad1  foobar  0.00%  1.727MiB / 1.952GiB  0.09%  2.48kB / 0B  4.11MB / 0B  2
    prev = Stats(cpu_usage_ns=10_000_000_000, system_cpu_ns=500_000_000_000, online_cpus=2)
    cur = Stats(memory_usage=5_902_336, memory_limit=GIB_1_952, cpu_usage_ns=10_001_400_000,
                system_cpu_ns=501_000_000_000, online_cpus=2, net_rx_bytes=916,
                io_read_bytes=147_000, pids=9)
    idle = Stats(memory_usage=1_810_891, memory_limit=GIB_1_952, system_cpu_ns=1,
                 online_cpus=2, net_rx_bytes=2480, io_read_bytes=4_110_000, pids=2)
    return [StatsEntry.of("b95a83497c91" + "0" * 52, "awesome_brattain", prev, cur).fields(),
            StatsEntry.of("67b2525d8ad1" + "1" * 52, "foobar", None, idle).fields()]


def test_stats_table_as_docker_stats() -> None:
    """`docker stats` (docker/cli container_stats.md; Compose's stats.go hands its project's
    containers to the same RunStats): CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %,
    NET I/O, BLOCK I/O, PIDS; the CPU % of the first row is the documented formula
    (1.4 ms of CPU in 1 s of host time on 2 CPUs = 0.28%)."""
    assert render("table", _stats_rows(), STATS_TABLE, STATS_HEADERS) == [
        "CONTAINER ID   NAME               CPU %     MEM USAGE / LIMIT     MEM %     "
        "NET I/O       BLOCK I/O     PIDS",
        "b95a83497c91   awesome_brattain   0.28%     5.629MiB / 1.952GiB   0.28%     "
        "916B / 0B     147kB / 0B    9",
        "67b2525d8ad1   foobar             0.00%     1.727MiB / 1.952GiB   0.09%     "
        "2.48kB / 0B   4.11MB / 0B   2",
    ]


def test_stats_json_as_docker_stats() -> None:
    """container_stats.md: `docker stats nginx --no-stream --format "{{ json . }}"` ->
    {"BlockIO":"0B / 13.3kB","CPUPerc":"0.03%","Container":"nginx","ID":"ed37317fbf42",
    "MemPerc":"0.24%","MemUsage":"2.352MiB / 982.5MiB","Name":"nginx","NetIO":"539kB / 606kB",
    "PIDs":"2"}: keys sorted, compact, every value a string.  Under Compose `Container` is
    the full container ID (RunStats is given IDs), `ID` the short one."""
    rows = _stats_rows()
    out = render("json", rows, STATS_TABLE, STATS_HEADERS)
    assert out[0] == (
        '{"BlockIO":"147kB / 0B","CPUPerc":"0.28%","Container":"b95a83497c91' + "0" * 52 +
        '","ID":"b95a83497c91","MemPerc":"0.28%","MemUsage":"5.629MiB / 1.952GiB",'
        '"Name":"awesome_brattain","NetIO":"916B / 0B","PIDs":"9"}')
    assert out == render("{{ json . }}", rows, STATS_TABLE, STATS_HEADERS)
    nginx = StatsEntry("ed37317fbf42", "nginx", cpu=0.03, memory=2_466_250,
                       memory_limit=1_030_225_920, net_rx=539_000, net_tx=606_000,
                       block_write=13_300, pids=2).fields()
    doc = json.loads('{"BlockIO":"0B / 13.3kB","CPUPerc":"0.03%","ID":"ed37317fbf42",'
                     '"MemUsage":"2.352MiB / 982.5MiB","Name":"nginx",'
                     '"NetIO":"539kB / 606kB","PIDs":"2"}')
    assert {k: nginx[k] for k in doc} == doc


def test_stats_templates_as_docker_stats() -> None:
    """container_stats.md: `--format "table {{.Container}}\\t{{.CPUPerc}}\\t{{.MemUsage}}"`
    prints the CONTAINER, CPU %, MEM USAGE / LIMIT headers; `"{{.Container}}: {{.CPUPerc}}"`
    prints no header; a stopped container (--all) reads 0.00% and 0B / 0B."""
    rows = _stats_rows()
    stopped = StatsEntry.of("5acfcb1b4fd1", "big_heisenberg", None, Stats()).fields()
    assert render("table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}", [*rows, stopped],
                  STATS_TABLE, STATS_HEADERS) == [
        "NAME               CPU %     MEM USAGE / LIMIT",
        "awesome_brattain   0.28%     5.629MiB / 1.952GiB",
        "foobar             0.00%     1.727MiB / 1.952GiB",
        "big_heisenberg     0.00%     0B / 0B",
    ]
    assert render("{{.Name}}: {{.CPUPerc}}", rows, STATS_TABLE, STATS_HEADERS) == [
        "awesome_brattain: 0.28%", "foobar: 0.00%"]
    assert render("table {{.Container}}", [stopped], STATS_TABLE, STATS_HEADERS)[0] == \
        "CONTAINER"


def test_go_units() -> None:
    """go-units: BytesSize ("%.4g", binary) and HumanSizeWithPrecision(3) (decimal), the
    units of MEM USAGE and of NET/BLOCK I/O (container_stats.md: 196KiB, 71.2kB, 4.11MB)."""
    assert [bytes_size(x) for x in (0, 196 * 1024, 5_902_336, 1 << 30)] == [
        "0B", "196KiB", "5.629MiB", "1GiB"]
    assert [human_size(x) for x in (0, 916, 71_200, 4_110_000, 999_999)] == [
        "0B", "916B", "71.2kB", "4.11MB", "1e+03kB"]


def test_live_frame_redraws_in_place() -> None:
    """docker/cli stats.go: each redraw is cursor-home, every line followed by erase-line,
    then erase-below (fewer containers than before leave no stale rows)."""
    assert live_frame(["A   B", "1   2"]) == "\033[HA   B\033[K\n1   2\033[K\n\033[J"


def test_top_as_compose_top() -> None:
    """Compose's docs/reference/compose_top.md (the per-container form):
        example_foo_1
        UID    PID      PPID     C    STIME   TTY   TIME       CMD
        root   142353   142331   2    15:33   ?     00:00:00   ping localhost -c 5
    (tabwriter minwidth 5, padding 3; every process cell is tab-terminated, so CMD is
    padded too; a blank line ends each container)."""
    started = time.mktime((2026, 12, 3, 15, 33, 0, 0, 0, -1))
    p = ProcessInfo(pid=142353, ppid=142331, uid=0, user="root", cmd="ping localhost -c 5",
                    started=started, cpu_seconds=8.4, tty="?")
    assert top_block("example_foo_1", [p], started + 420) == (
        "example_foo_1\n"
        "UID    PID      PPID     C    STIME   TTY   TIME       CMD\n"
        "root   142353   142331   2    15:33   ?     00:00:08   ping localhost -c 5   \n"
        "\n")


def test_top_user_column() -> None:
    """ps -f's UID column: the name from the container's passwd, cut as procps cuts it
    ("systemd+"), the number when the container has no such user."""
    now = time.time()
    procs = [ProcessInfo(pid=7, ppid=1, uid=1000, cmd="sleep 1", started=now),
             ProcessInfo(pid=1, ppid=0, uid=999, user="systemd-network", cmd="init",
                         started=now, tty="pts/0")]
    lines = top_block("p-a-1", procs, now).splitlines()
    assert lines[2].split()[:3] == ["systemd+", "1", "0"]
    assert lines[2].split()[5] == "pts/0"
    assert lines[3].split()[:3] == ["1000", "7", "1"]
    assert cputime(90061) == "1-01:01:01"


def _ps_rows() -> list[dict[str, object]]:
    return [
        {"ID": "f02a4efaabb6", "Name": "example-foo-1", "Image": "alpine",
         "Command": command_text('"/entrypoint.sh nginx -g \'daemon off;\'"', trunc=True,
                                 quote=True),
         "Project": "example", "Service": "foo", "Created": "", "CreatedAt": "",
         "RunningFor": "4 seconds ago", "State": "running", "Status": "Up 2 seconds",
         "Health": "", "ExitCode": 0, "Publishers": [], "Ports": "0.0.0.0:8080->80/tcp"},
        {"ID": "1553b0236cf4", "Name": "example-bar-1", "Image": "alpine",
         "Command": command_text('"sh -c \'while true; do sleep 1; done\'"', trunc=True,
                                 quote=True),
         "Project": "example", "Service": "bar", "Created": "", "CreatedAt": "",
         "RunningFor": "4 seconds ago", "State": "exited", "Status": "Exited (0)",
         "Health": "", "ExitCode": 0, "Publishers": [], "Ports": ""},
    ]


def test_ps_table_as_compose_ps() -> None:
    """Compose's docs/reference/compose_ps.md:
        NAME            IMAGE     COMMAND           SERVICE    CREATED         STATUS ...
        example-foo-1   alpine    "/entrypoint.…"   foo        4 seconds ago   Up 2 seconds
    the command cut to 20 characters with "…" last and quoted (the docker CLI docs show
    `"sh -c 'while true; …"`), columns by the formatter's tabwriter."""
    assert template(PS_TABLE, _ps_rows(), PS_HEADERS, PS_FIELDS) == [
        'NAME            IMAGE     COMMAND                  SERVICE   CREATED         '
        'STATUS         PORTS',
        'example-foo-1   alpine    "/entrypoint.sh ngin…"   foo       4 seconds ago   '
        'Up 2 seconds   0.0.0.0:8080->80/tcp',
        'example-bar-1   alpine    "sh -c \'while true; …"   bar       4 seconds ago   '
        'Exited (0)     ',
    ]


def test_ps_templates_as_compose_ps() -> None:
    """compose_ps.md and docker's formatting guide: a template prints no header, `table`
    adds Compose's headers (RunningFor is CREATED, ID is CONTAINER ID)."""
    rows = _ps_rows()
    assert template("{{.Name}} {{.Service}}", rows, PS_HEADERS, PS_FIELDS) == [
        "example-foo-1 foo", "example-bar-1 bar"]
    assert template("table {{.ID}}\\t{{.RunningFor}}", rows, PS_HEADERS, PS_FIELDS) == [
        "CONTAINER ID   CREATED", "f02a4efaabb6   4 seconds ago",
        "1553b0236cf4   4 seconds ago"]
    assert template("{{json .Publishers}}", rows[:1], PS_HEADERS, PS_FIELDS) == ["[]"]


def test_tabwriter_column_blocks() -> None:
    """Go's text/tabwriter: a column block ends at a line without that cell; the last cell
    of a line is never padded."""
    assert tabwrite("a\tbb\tc\nlonger\tx\n\nz\ty\n", minwidth=0, padding=1) == (
        "a      bb c\nlonger x\n\nz y\n")


def test_ps_json_lines_as_compose_ps() -> None:
    """compose_ps.md: `docker compose ps --format json` prints one object per line,
    `Publishers` a list of {URL, TargetPort, PublishedPort, Protocol}; as the formatter's
    MarshalJSON of Compose's ContainerContext writes it, compact with its keys sorted (the
    Publishers keep their struct's field order, as in the documented line)."""
    row = dict(_ps_rows()[0], Publishers=[{"URL": "0.0.0.0", "TargetPort": 80,
                                           "PublishedPort": 8080, "Protocol": "tcp"}])
    (line,) = render("json", [row], PS_TABLE, PS_HEADERS)
    assert line.startswith('{"Command":"\\"/entrypoint.sh ngin…\\"","Created":"",')
    assert '"Publishers":[{"URL":"0.0.0.0","TargetPort":80,"PublishedPort":8080,' \
           '"Protocol":"tcp"}]' in line
    assert list(json.loads(line)) == sorted(row)


def _event(action: str, **attrs: str) -> ContainerEvent:
    return ContainerEvent(
        time_ns=1_448_042_463_615_550_123, id="213cf7" + "0" * 52 + "5fc39a", action=action,
        name="application_web_1",
        labels={"com.docker.compose.image": "alpine:edge", "com.docker.compose.service": "web",
                "com.docker.compose.project": "application", "tier": "front"},
        attributes=attrs)


def test_events_json_as_compose_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose's docs/reference/compose_events.md, `--json`:
        {"time": "2015-11-20T18:01:03.615550", "type": "container", "action": "create",
         "id": "213cf7...5fc39a", "service": "web",
         "attributes": {"name": "application_web_1", "image": "alpine:edge"}}
    (cmd/compose/events.go marshals a map: keys sorted, compact; the time is Go's RFC 3339
    with nanoseconds; Compose's own labels are dropped from the attributes, others kept)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert event_json(_event("create")) == (
            '{"action":"create","attributes":{"image":"alpine:edge",'
            '"name":"application_web_1","tier":"front"},"id":"213cf7' + "0" * 52 +
            '5fc39a","service":"web","time":"2015-11-20T18:01:03.615550123Z",'
            '"type":"container"}')
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_events_text_as_compose_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkg/api Event.String(): `2006-01-02 15:04:05.000000 container ACTION ID (k=v, ...)`
    (microseconds cut, not rounded); the action's own attributes (exitCode, execID) join."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert event_text(_event("die", exitCode="3")) == (
            "2015-11-20 18:01:03.615550 container die 213cf7" + "0" * 52 + "5fc39a "
            "(exitCode=3, image=alpine:edge, name=application_web_1, tier=front)")
        assert event_text(_event("health_status: healthy")).split(" container ")[1].startswith(
            "health_status: healthy 213cf7")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
