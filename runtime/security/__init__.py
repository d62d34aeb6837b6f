"""pystack.runtime.security: capabilities, seccomp filters, masked paths and sysctl rules.

Pure data and ctypes primitives that the container start sequence (runtime/launch*) calls;
nothing here starts processes or mounts anything itself.
"""
