#!/usr/bin/env bash
# Prepares a Debian (bookworm) machine to run the podman and incus drivers and their tests
# (see shared/DESIGN.md section 4). Idempotent: on a machine already set up it only checks.
#   1. installs podman, runc, catatonit, busybox-static, uidmap and, from bookworm-backports,
#      incus-base + incus-client (one `apt-get update`, only when something is missing);
#   2. starts incusd when its socket does not answer and waits until it is ready;
#   3. creates a `dir` storage pool `default` and a root-disk-only default profile (no
#      network) when incus has no storage pool yet;
#   4. builds the test images (hack/build-test-images.sh; --force rebuilds them).
# Usage: sudo bash hack/setup-runtimes.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

readonly incusd=/usr/libexec/incus/incusd
readonly incusd_log=/var/log/openscheduler-incusd.log
readonly incusd_ready_timeout=120
readonly backports_source=/etc/apt/sources.list.d/openscheduler-backports.sources

say() { echo "setup-runtimes: $*"; }
die() { echo "setup-runtimes: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (sudo bash $0)"
for arg in "$@"; do
  [ "$arg" = --force ] || { echo "usage: $0 [--force]" >&2; exit 2; }
done
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

# Prints a deb822 source for SUITE with the URIs and Signed-By of the entry (deb822 in
# *.sources, or one-line in sources.list) whose suites include CODENAME itself.
derived_source() {
  local codename=$1 suite=$2 entry
  entry=$(awk -v codename="$codename" '
    BEGIN { RS = ""; FS = "\n" }
    {
      delete field; key = ""
      for (i = 1; i <= NF; i++) {
        line = $i
        if (line ~ /^#/) continue
        if (line ~ /^[ \t]/) { if (key != "") field[key] = field[key] "\n" line; continue }
        key = tolower(substr(line, 1, index(line, ":") - 1))
        value = substr(line, index(line, ":") + 1); sub(/^[ \t]+/, "", value)
        field[key] = value
      }
      if (tolower(field["enabled"]) == "no" || field["types"] !~ /(^|[ \t])deb([ \t]|$)/) next
      n = split(field["suites"], suites, /[ \t]+/)
      for (i = 1; i <= n; i++) if (suites[i] == codename) {
        print "URIs: " field["uris"]
        if ("signed-by" in field) print "Signed-By: " field["signed-by"]
        exit
      }
    }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$entry" ] && [ -f /etc/apt/sources.list ]; then
    entry=$(awk -v codename="$codename" '
      $1 != "deb" { next }
      {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ }; opts = opts " " $i; i++ }
        if ($(i + 1) != codename) next
        print "URIs: " $i
        if (match(opts, /signed-by=[^] ]+/)) print "Signed-By: " substr(opts, RSTART + 10, RLENGTH - 10)
        exit
      }' /etc/apt/sources.list)
  fi
  [ -n "$entry" ] || return 1
  printf 'Types: deb\n%s\nSuites: %s\nComponents: main\n' "$(grep '^URIs:' <<<"$entry")" "$suite"
  grep -v '^URIs:' <<<"$entry" || true
}

# Writes the backports source for CODENAME unless apt already has one.
ensure_backports_source() {
  local codename=$1 suite="$1-backports" wanted
  if grep -qsw -- "$suite" /etc/apt/sources.list $(ls /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -vxF "$backports_source"); then
    return 0
  fi
  wanted=$(derived_source "$codename" "$suite") \
    || die "no apt entry for suite $codename found in /etc/apt/sources.list{,.d/*.sources} to derive $suite from"
  if [ "$(cat "$backports_source" 2>/dev/null)" != "$wanted" ]; then
    printf '%s\n' "$wanted" >"$backports_source"
    say "wrote $backports_source"
  fi
}

# 1. Packages.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
base_missing=()
for p in podman runc catatonit busybox-static uidmap; do installed "$p" || base_missing+=("$p"); done
incus_missing=()
for p in incus-base incus-client; do installed "$p" || incus_missing+=("$p"); done
if [ ${#base_missing[@]} -gt 0 ] || [ ${#incus_missing[@]} -gt 0 ]; then
  incus_target=()
  if [ ${#incus_missing[@]} -gt 0 ] && [ "$codename" = bookworm ]; then
    ensure_backports_source "$codename"
    incus_target=(-t bookworm-backports)   # Incus 6.0 is not in bookworm itself
  fi
  say "installing ${base_missing[*]} ${incus_missing[*]}"
  apt-get update -qq
  if [ ${#base_missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${base_missing[@]}"
  fi
  if [ ${#incus_missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${incus_target[@]}" "${incus_missing[@]}"
  fi
fi

# 2. incusd.
incus_answers() { incus query /1.0 >/dev/null 2>&1; }
if ! incus_answers; then
  if [ -d /run/systemd/system ] && systemctl cat incus.service >/dev/null 2>&1; then
    say "starting incus.service"
    systemctl start incus.service
  else
    say "starting incusd, log: $incusd_log"
    setsid "$incusd" --group root >>"$incusd_log" 2>&1 </dev/null &
  fi
  if ! incus admin waitready --timeout="$incusd_ready_timeout"; then
    [ -f "$incusd_log" ] && tail -n 20 "$incusd_log" >&2
    die "incusd is not ready after ${incusd_ready_timeout}s"
  fi
fi

# 3. Storage pool and default profile, once.
if [ -z "$(incus storage list --format csv)" ]; then
  say "initialising incus: dir storage pool 'default', no network"
  incus admin init --preseed <<'EOF'
config: {}
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
EOF
fi

# 4. Test images.
bash hack/build-test-images.sh "$@"

export CONTAINERS_CONF="$PWD/config/podman/containers.conf"
say "podman $(podman version --format '{{.Client.Version}}') (runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')), $(runc --version | sed -n 1p), incus $(incus version | sed -n 's/^Server version: //p'), $(busybox | sed -n 1p | cut -d' ' -f1-2)"
