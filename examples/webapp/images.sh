#!/bin/sh
# Makes the webapp example's four images from Debian packages and imports them into pystack's
# store as pystack-example/{db,cache,web,proxy}:bookworm.  Each rootfs is made by mmdebstrap
# (variant apt) with the HOST's apt configuration (its sources and keyrings: no other mirror
# is named), and cached as a tarball under $PYSTACK_EXAMPLE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/pystack-examples): a tarball is rebuilt only when it is
# missing (delete it, or the directory, to rebuild).  An image already in the store is not
# imported again.  Needs root (mmdebstrap's root mode) and scripts/install.sh's packages.
set -eu
cd "$(dirname "$0")"
PYSTACK=${PYSTACK:-pystack}
SUITE=${SUITE:-bookworm}
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}     # CI may run without HOME
CACHE=${PYSTACK_EXAMPLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pystack-examples}
mkdir -p "$CACHE/debs"

# apt's own configuration: every sources file the host uses (deb822 or one-line form).
set --
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -q '^[[:space:]]*[^#[:space:]]' "$f" && set -- "$@" "$f"
done
[ "$#" -gt 0 ] || { echo "images.sh: no apt sources on this host" >&2; exit 1; }

# Smaller images, and the downloaded .debs kept in the cache for the next build.
SLIM="--dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/doc/*
  --dpkgopt=path-include=/usr/share/doc/*/copyright --dpkgopt=path-exclude=/usr/share/locale/*"

build() {   # build NAME "PACKAGES" CHANGE...
  name=$1; pkgs=$2; shift 2
  tar="$CACHE/$name-$SUITE.tar"
  if [ ! -s "$tar" ]; then
    echo "images.sh: building $name ($pkgs) with mmdebstrap" >&2
    # shellcheck disable=SC2086
    mmdebstrap --quiet --variant=apt --include="$pkgs" $SLIM \
      --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
      --setup-hook="sync-in $CACHE/debs /var/cache/apt/archives" \
      --customize-hook="sync-out /var/cache/apt/archives $CACHE/debs" \
      --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
      "$SUITE" "$CACHE/.$name.part.tar" "$SOURCES_1" ${SOURCES_REST:-} </dev/null
    mv "$CACHE/.$name.part.tar" "$tar"
  fi
  ref="pystack-example/$name:$SUITE"
  if ! "$PYSTACK" image inspect "$ref" >/dev/null 2>&1; then
    "$PYSTACK" image import "$tar" "$ref" "$@" >/dev/null
    echo "images.sh: imported $ref" >&2
  fi
}
SOURCES_1=$1; shift; SOURCES_REST="$*"

build db "postgresql" -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'USER postgres' -c 'CMD ["postgres"]'
build cache "redis-server" -c 'USER redis' -c 'CMD ["redis-server", "--protected-mode", "no"]'
build web "python3,python3-flask,python3-psycopg2,python3-redis" -c 'CMD ["python3"]'
build proxy "nginx-light" -c 'CMD ["nginx", "-g", "daemon off;"]'
