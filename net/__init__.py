"""pystack.net: host networking — IPAM, bridges, veths, netns, published ports, DNS.

Knows nothing of services; never imports pystack.orchestrator or pystack.runtime.
"""
