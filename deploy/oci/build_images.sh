#!/bin/sh
# Builds an OCI image per hwcast daemon from a CMake build directory, with
# umoci (no daemon, no registry, no base image):
#
#   deploy/oci/build_images.sh BUILD_DIR LAYOUT_DIR [relay collector actuator]
#
# writes the OCI image layout LAYOUT_DIR with tags relay, collector and
# actuator. Each image holds one stripped binary, the shared libraries it
# needs (from ldd) and its dynamic loader, /etc/passwd and /etc/group with
# user and group hwcast (uid/gid 999), and the directories /etc/hwcast,
# /var/lib/hwcast and /run/hwcast owned by it; no shell, no package manager.
# It runs as hwcast with the daemon as entrypoint and
# --config /etc/hwcast/<daemon>.yaml as arguments. Load and run it with
# podman (README.md, "Containers"):
#
#   podman pull oci:LAYOUT_DIR:relay
#   podman run --network host -v /etc/hwcast:/etc/hwcast:ro ...
set -eu

usage() { echo "usage: $0 BUILD_DIR LAYOUT_DIR [relay|collector|actuator]..." >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$(cd "$1" && pwd)
layout=$2
shift 2
[ $# -gt 0 ] || set -- relay collector actuator
command -v umoci >/dev/null || { echo "$0: umoci not installed (apt-get install umoci)" >&2; exit 1; }

uid=999
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$layout" ] || umoci init --layout "$layout"

for daemon in "$@"; do
  case $daemon in
    relay|collector|actuator) ;;
    *) usage ;;
  esac
  binary="$build/services/$daemon/hwcast-$daemon"
  [ -x "$binary" ] || { echo "$0: no $binary (build it first)" >&2; exit 1; }
  tag=$daemon
  umoci rm --image "$layout:$tag" 2>/dev/null || true
  umoci new --image "$layout:$tag"
  bundle="$work/$daemon"
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
  rootfs="$bundle/rootfs"
  mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp"
  strip --strip-debug -o "$rootfs/usr/bin/hwcast-$daemon" "$binary"
  # The shared libraries, at the paths the loader looks them up at, and
  # the loader itself (the binary's PT_INTERP).
  ldd "$binary" | awk '/=> \// { print $3 } /^\t\// { print $1 }' |
    while read -r lib; do
      real=$(readlink -f "$lib")
      mkdir -p "$rootfs$(dirname "$lib")"
      cp "$real" "$rootfs$lib"
    done
  for link in lib lib64; do
    # Debian's merged /usr: /lib -> usr/lib, /lib64 -> usr/lib64.
    if [ -L "/$link" ] && [ -d "$rootfs/$link" ] && [ ! -L "$rootfs/$link" ]; then
      mkdir -p "$rootfs/usr/$link"
      cp -a "$rootfs/$link/." "$rootfs/usr/$link/"
      rm -rf "${rootfs:?}/$link"
      ln -s "usr/$link" "$rootfs/$link"
    fi
  done
  printf 'root:x:0:0:root:/:/nonexistent\nhwcast:x:%s:%s:hwcast daemons:/var/lib/hwcast:/nonexistent\n' \
    "$uid" "$uid" >"$rootfs/etc/passwd"
  printf 'root:x:0:\nhwcast:x:%s:\n' "$uid" >"$rootfs/etc/group"
  for dir in etc/hwcast var/lib/hwcast run/hwcast; do
    mkdir -p "$rootfs/$dir"
    chown "$uid:$uid" "$rootfs/$dir"
    chmod 0750 "$rootfs/$dir"
  done
  chmod 1777 "$rootfs/tmp"
  umoci repack --image "$layout:$tag" "$bundle"
  case $daemon in
    relay) ports="7430/tcp 9430/tcp" ;;
    actuator) ports="7431/tcp 9431/tcp" ;;
    collector) ports="7432/tcp 9432/tcp" ;;
  esac
  expose=""
  for p in $ports; do expose="$expose --config.exposedports=$p"; done
  # shellcheck disable=SC2086
  umoci config --image "$layout:$tag" \
    --config.user "$uid:$uid" \
    --config.entrypoint "/usr/bin/hwcast-$daemon" \
    --config.cmd=--config --config.cmd="/etc/hwcast/$daemon.yaml" \
    --config.workingdir /var/lib/hwcast \
    --config.volume /var/lib/hwcast \
    --config.label "org.opencontainers.image.title=hwcast-$daemon" \
    --config.label "org.opencontainers.image.description=hwcast $daemon (README.md, Containers)" \
    $expose
  umoci gc --layout "$layout"
  echo "$layout:$tag: hwcast-$daemon"
done
