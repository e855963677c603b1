#!/usr/bin/env bash
# Makes a small certificate authority for trying out (and testing) TLS and mTLS on the agent
# endpoint, with openssl only. In OUTDIR:
#   ca.crt, ca.key                  the CA (ECDSA P-256, self-signed)
#   server.crt, server.key          serving certificate signed by the CA; SANs: the --server-name
#                                   entries (DNS names or IP addresses) + localhost + 127.0.0.1 + ::1
#                                   (the loopback names left out with --no-loopback-names, to test
#                                   that clients check the name)
#   client-NODE.crt, client-NODE.key  one client certificate per --node: subject CN=NODE, a DNS SAN
#                                   NODE, extendedKeyUsage clientAuth (what the server binds to the node)
#   with --wrong-ca: wrong-ca.crt, wrong-ca.key, and wrong-client-NODE.crt/.key for the first
#                                   --node (or "node"): a client certificate from an unrelated CA
# Keys are mode 0600. Existing files are never overwritten unless --force is given.
# Usage: bash hack/make-test-ca.sh OUTDIR [--server-name NAME,..] [--node NAME,..] [--wrong-ca]
#                                  [--no-loopback-names] [--days N] [--force]
# (Not a production CA: see the README's TLS set-up guide for how the files map to a real one.)
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [--server-name NAME,..] [--node NAME,..] [--wrong-ca] [--no-loopback-names] [--days N] [--force]" >&2
  exit 2
}
die() {
  echo "make-test-ca: $*" >&2
  exit 1
}

outdir=''
server_names=()
nodes=()
wrong_ca=false
loopback_names=(localhost 127.0.0.1 ::1)
force=false
days=365

while [ "$#" -gt 0 ]; do
  case "$1" in
    --server-name)
      [ "$#" -ge 2 ] || usage
      IFS=',' read -r -a more <<<"$2"
      server_names+=("${more[@]}")
      shift 2
      ;;
    --node)
      [ "$#" -ge 2 ] || usage
      IFS=',' read -r -a more <<<"$2"
      nodes+=("${more[@]}")
      shift 2
      ;;
    --days)
      [ "$#" -ge 2 ] || usage
      days="$2"
      shift 2
      ;;
    --wrong-ca) wrong_ca=true; shift ;;
    --no-loopback-names) loopback_names=(); shift ;;
    --force) force=true; shift ;;
    -h | --help) usage ;;
    -*) echo "make-test-ca: unknown option $1" >&2; usage ;;
    *)
      [ -z "$outdir" ] || usage
      outdir="$1"
      shift
      ;;
  esac
done
[ -n "$outdir" ] || usage
command -v openssl >/dev/null || die "openssl is not installed"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || die "--days: must be a whole number of days from 1 to 99999 (got \"$days\")"

readonly dns_label='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
readonly dns_name='^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$'
readonly ipv4='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
readonly ipv6='^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$'

for node in ${nodes[@]+"${nodes[@]}"}; do
  [[ "$node" =~ $dns_label ]] || die "--node: \"$node\" is not a node name (a DNS-1123 label: lower case letters, digits and '-')"
done

# The server's subjectAltName: the names given, then the loopback names (duplicates dropped).
san_entries=()
add_san() {
  local entry="$1" existing
  for existing in ${san_entries[@]+"${san_entries[@]}"}; do
    [ "$existing" != "$entry" ] || return 0
  done
  san_entries+=("$entry")
}
for name in ${server_names[@]+"${server_names[@]}"} ${loopback_names[@]+"${loopback_names[@]}"}; do
  if [[ "$name" =~ $ipv4 || "$name" =~ $ipv6 ]]; then
    add_san "IP:$name"
  elif [[ "$name" =~ $dns_name ]]; then
    add_san "DNS:$name"
  else
    die "--server-name: \"$name\" is neither a DNS name nor an IP address"
  fi
done
[ "${#san_entries[@]}" -gt 0 ] || die "--no-loopback-names needs at least one --server-name"
server_san=$(IFS=','; echo "${san_entries[*]}")

# Every file this run writes, so that nothing is overwritten without --force.
wrong_node="${nodes[0]:-node}"
outputs=(ca.crt ca.key server.crt server.key)
for node in ${nodes[@]+"${nodes[@]}"}; do outputs+=("client-$node.crt" "client-$node.key"); done
if [ "$wrong_ca" = true ]; then outputs+=(wrong-ca.crt wrong-ca.key "wrong-client-$wrong_node.crt" "wrong-client-$wrong_node.key"); fi
if [ "$force" != true ]; then
  for file in "${outputs[@]}"; do
    [ ! -e "$outdir/$file" ] || die "$outdir/$file exists; refusing to overwrite it (pass --force to make everything anew)"
  done
fi

mkdir -p "$outdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# new_key FILE: an ECDSA P-256 key, mode 0600 from the start.
new_key() {
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
  chmod 0600 "$1"
}

# new_ca NAME CN: a self-signed CA certificate NAME.crt and its key NAME.key.
new_ca() {
  new_key "$outdir/$1.key"
  openssl req -x509 -new -key "$outdir/$1.key" -sha256 -days "$days" -subj "/CN=$2" \
    -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -addext 'subjectKeyIdentifier=hash' \
    -out "$outdir/$1.crt"
  chmod 0644 "$outdir/$1.crt"
}

# new_leaf CA NAME CN EXTENSIONS: NAME.crt/NAME.key signed by CA.crt/CA.key.
new_leaf() {
  local ca="$1" name="$2" cn="$3" extensions="$4"
  new_key "$outdir/$name.key"
  openssl req -new -key "$outdir/$name.key" -subj "/CN=$cn" -out "$work/$name.csr"
  printf '%s\n' "$extensions" >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$outdir/$ca.crt" -CAkey "$outdir/$ca.key" -CAcreateserial \
    -CAserial "$work/$ca.srl" -sha256 -days "$days" -extfile "$work/$name.ext" -out "$outdir/$name.crt" 2>/dev/null
  chmod 0644 "$outdir/$name.crt"
}

leaf_extensions() {
  printf '%s\n' \
    'basicConstraints=critical,CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' \
    "extendedKeyUsage=$1" \
    "subjectAltName=$2" \
    'authorityKeyIdentifier=keyid' \
    'subjectKeyIdentifier=hash'
}

new_ca ca 'Open Scheduler test CA'
new_leaf ca server "${server_names[0]:-localhost}" "$(leaf_extensions serverAuth "$server_san")"
for node in ${nodes[@]+"${nodes[@]}"}; do
  new_leaf ca "client-$node" "$node" "$(leaf_extensions clientAuth "DNS:$node")"
done
if [ "$wrong_ca" = true ]; then
  new_ca wrong-ca 'Unrelated test CA'
  new_leaf wrong-ca "wrong-client-$wrong_node" "$wrong_node" "$(leaf_extensions clientAuth "DNS:$wrong_node")"
fi

echo "make-test-ca: wrote ${outputs[*]} in $outdir"
