"""pystack.net: host networking — IPAM, bridges, veths, netns, published ports, DNS.

Knows nothing of services; never imports pystack.orchestrator or pystack.runtime.

Map: manager.NetworkManager (the real `api.Network`) -> endpoints (attach/detach/publish/
remove) -> links (rtnetlink via rtnl.py), netns (pinned namespaces via libc), nft (one inet
table), names (hosts/resolv.conf), ports (bind tests), ipam (pure), state (records, lock).
fake.FakeNetwork is the in-memory twin for unit tests.

Design choices (measured with bench/net_bench.py, loopback only):
- Service discovery by maintained /etc/hosts files, rewritten in place on every membership
  change: a lookup is a file read (~10-16 us via getaddrinfo) against ~1 ms per query for an
  embedded dnslib server, no long-lived process per network to supervise or leak, and a
  rewrite of 20 sandboxes' files costs ~1-2 ms.  Cost: no DNS round-robin or TTLs (glibc
  returns every replica's line), names of containers outside pystack are not served.
- Published ports by nftables DNAT (prerouting + output, `fib daddr type local`, masquerade
  for 127.0.0.1 sources with route_localnet on the bridge and for hairpin): kernel speed; a
  userland proxy measured ~0.5x the throughput and fewer connections/s.  Each published port
  is still bound by a holder process (net/holder.py) so no host program can take it later,
  and a raw-priority guard drops 127.0.0.0/8 arriving on a bridge (route_localnet's risk).
"""
