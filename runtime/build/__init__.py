"""pystack's image builder: Dockerfile frontend, build context, layer cache and the stage
executor, on pystack's own runtime (containers from runtime/, layers into runtime/image's
store).  No BuildKit, buildah or Docker underneath.  Entry point: builder.build()."""
