"""pystack.runtime.image: the content-addressed image store, local import, registry pull/push.

The API (see store.py):

    from pystack.runtime.image.store import ImageStore, overlay_lowerdirs
    store = ImageStore()                 # $PYSTACK_ROOT/images
    image = store.get("busybox")         # or store.pull(ref), store.load(path), ...
    image.config                         # ImageConfig: Entrypoint, Cmd, Env, ...
    image.layer_dirs                     # unpacked layers, bottom first (overlay lowerdirs)
    base, short = overlay_lowerdirs(image.layer_dirs)   # "l/<id>" paths relative to base

Modules: reference (names), sources (docker save / OCI layout / OCI archive), unpack (safe
extraction), content (on-disk layout, atomic writes), registry + distribution (pull/push),
imageconfig (config JSON and media types), fsutil (digests and file helpers).
"""
