"""resolv.conf with the embedded DNS server (names.render_resolv, DnsConfig.embedded): Docker's
internal-resolver form, and records that carry the flag and the links."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystack.net import names
from pystack.net.api import DnsConfig
from pystack.net.errors import NetConfigError
from pystack.net.records import dns_of, dns_to_json


def test_embedded_resolv_like_docker(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n")
    text = names.render_resolv(DnsConfig(embedded=True), host)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines == ["nameserver 127.0.0.11", "search corp.example",
                     "options ndots:0 edns0 trust-ad"]
    assert "# ExtServers: [127.0.0.53]" in text       # the server forwards there (host ns)
    text = names.render_resolv(DnsConfig(embedded=True, servers=("192.0.2.1",),
                                         search=("a.test",), options=("ndots:2",)), host)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines == ["nameserver 127.0.0.11", "search a.test", "options edns0 trust-ad ndots:2"]
    assert "ExtServers: [192.0.2.1]" in text
    # without the server: the upstreams themselves, 127.x dropped (as before)
    assert "127.0.0.11" not in names.render_resolv(DnsConfig(), host)


def test_records_keep_embedded_and_links() -> None:
    dns = DnsConfig(embedded=True, links=(("database", "db"),), hostname="h")
    assert dns_of({"dns": dns_to_json(dns)}) == dns
    assert dns_of({"dns": {}}).embedded is False           # records from before


def test_links_are_checked() -> None:
    with pytest.raises(NetConfigError, match="link alias"):
        names.check_dns(DnsConfig(links=(("bad name", "db"),)))
