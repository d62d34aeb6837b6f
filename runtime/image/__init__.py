"""pystack.runtime.image: the content-addressed image store, local import, registry pull/push."""
