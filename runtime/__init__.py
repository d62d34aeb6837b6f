"""pystack.runtime: one container at a time — images, rootfs, namespaces, cgroups, shim.

Knows nothing of YAML, services or bridges; never imports pystack.orchestrator or pystack.net.
"""
