"""pystack.orchestrator: compose file -> plan -> run it, and the CLI.

The only package allowed to import both pystack.runtime and pystack.net.
"""
