#!/usr/bin/env bash
# Builds the local test images from Debian's busybox-static (images cannot be pulled here):
#   podman: localhost/busybox:test  (rootfs /bin/busybox + applet symlinks, ENV PATH=/bin)
#   incus:  alias busybox-test      (same rootfs + /sbin/init, a no-op inittab, metadata.yaml)
# An image that already exists is kept unless --force is given. Needs root (the tests use the
# root podman storage and the incus socket), podman, incus and busybox-static installed and
# incusd running: hack/setup-runtimes.sh does all that and then runs this script.
# Usage: sudo bash hack/build-test-images.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

readonly podman_image=localhost/busybox:test
readonly incus_alias=busybox-test
readonly busybox=/bin/busybox

force=false
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
done

die() { echo "build-test-images: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (sudo bash $0)"
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
  || die "busybox-static is not installed (run hack/setup-runtimes.sh)"
export CONTAINERS_CONF="$PWD/config/podman/containers.conf"

build_podman=true
if ! $force && podman image exists "$podman_image"; then
  echo "build-test-images: podman image $podman_image exists (--force rebuilds it)"
  build_podman=false
fi
build_incus=true
if ! $force && incus image info "$incus_alias" >/dev/null 2>&1; then
  echo "build-test-images: incus image $incus_alias exists (--force rebuilds it)"
  build_incus=false
fi
if ! $build_podman && ! $build_incus; then exit 0; fi

work=$(mktemp -d /tmp/openscheduler-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The common rootfs: /bin/busybox and a symlink per applet.
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done

if $build_podman; then
  old_id=$(podman image inspect --format '{{.Id}}' "$podman_image" 2>/dev/null || true)
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$work/rootfs.tar" .
  podman import --quiet --change 'ENV PATH=/bin' "$work/rootfs.tar" "$podman_image" >/dev/null
  # The replaced image is now untagged; drop it unless a container still uses it.
  if [ -n "$old_id" ]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi
  echo "build-test-images: built podman image $podman_image"
fi

if $build_incus; then
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch=$(uname -m) ;;
  esac
  image="$work/incus"
  mkdir -p "$image"
  cp -a "$rootfs" "$image/rootfs"
  mkdir -p "$image/rootfs"/{etc,dev,proc,sys,run,root,sbin,tmp}
  chmod 1777 "$image/rootfs/tmp"
  ln -s /bin/busybox "$image/rootfs/sbin/init"
  echo '::sysinit:/bin/true' >"$image/rootfs/etc/inittab"
  cat >"$image/metadata.yaml" <<EOF
architecture: $arch
creation_date: $(date +%s)
properties:
  description: busybox (openscheduler tests)
  os: busybox
  release: test
EOF
  tar --numeric-owner --owner=0 --group=0 -C "$image" -czf "$work/incus-busybox.tar.gz" metadata.yaml rootfs
  old_fingerprint=$(incus image info "$incus_alias" 2>/dev/null | sed -n 's/^Fingerprint: //p' || true)
  # Import first, then point the alias at it in one request: the alias is never missing.
  imported=$(incus image import "$work/incus-busybox.tar.gz")
  fingerprint=$(sed -n 's/.*fingerprint: *\([0-9a-f]*\).*/\1/p' <<<"$imported")
  [ -n "$fingerprint" ] || die "could not read the fingerprint from: $imported"
  if [ -n "$old_fingerprint" ]; then
    incus query -X PUT "/1.0/images/aliases/$incus_alias" \
      --data "{\"target\": \"$fingerprint\", \"description\": \"\"}" >/dev/null
    [ "$old_fingerprint" = "$fingerprint" ] || incus image delete "$old_fingerprint"
  else
    incus image alias create "$incus_alias" "$fingerprint"
  fi
  echo "build-test-images: built incus image $incus_alias ($fingerprint)"
fi
