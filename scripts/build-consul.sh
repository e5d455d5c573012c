#!/usr/bin/env bash
# Prints the absolute path of a working `consul` binary as its only stdout line;
# every progress message goes to stderr. Usage: CONSUL=$(scripts/build-consul.sh)
#
# Order:
#   1. $CONSUL_BIN, if set and `$CONSUL_BIN version` works;
#   2. a `consul` on PATH, if `consul version` works;
#   3. the cached build ${XDG_CACHE_HOME:-$HOME/.cache}/resec/consul-1.14.11/consul;
#   4. otherwise build Consul 1.14.11 from the wrapper module in tools/consul
#      (needs Go >= 1.24 and the Go module proxy) and install it at that path.
#
# Idempotent: once built, a run costs one `consul version`. The build writes to
# a temporary file in the cache directory and renames it into place, so an
# interrupted build never leaves a broken binary behind.
set -euo pipefail

CONSUL_VERSION=1.14.11
CONSUL_MODULE=github.com/hashicorp/consul

log() { printf 'build-consul: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# abs_path PATH: PATH made absolute (symlinks are kept as they are).
abs_path() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    */*) printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")" ;;
    *) abs_path "$(command -v "$1")" ;;
  esac
}

# consul_version BIN: the first line of `BIN version` (e.g. "Consul v1.14.11");
# fails if BIN does not run.
consul_version() {
  local out
  out=$("$1" version 2>/dev/null) || return 1
  out=${out%%$'\n'*}
  [[ -n $out ]] || return 1
  printf '%s\n' "$out"
}

# 1. An explicit binary.
if [[ -n ${CONSUL_BIN:-} ]]; then
  if v=$(consul_version "$CONSUL_BIN"); then
    log "using \$CONSUL_BIN ($v)"
    abs_path "$CONSUL_BIN"
    exit 0
  fi
  log "warning: \$CONSUL_BIN=$CONSUL_BIN does not run '$CONSUL_BIN version'; ignoring it"
fi

# 2. One on PATH.
if command -v consul >/dev/null 2>&1; then
  if v=$(consul_version consul); then
    log "using consul from PATH ($v)"
    abs_path consul
    exit 0
  fi
  log "warning: $(command -v consul) does not run 'consul version'; ignoring it"
fi

# 3. The cached build.
cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/resec/consul-$CONSUL_VERSION
cached=$cache_dir/consul

cached_ok() {
  [[ -e $cached ]] || return 1
  local v
  v=$(consul_version "$cached") || { log "warning: $cached does not run '$cached version'; rebuilding"; return 1; }
  [[ $v == "Consul v$CONSUL_VERSION" ]] || { log "warning: $cached reports '$v'; rebuilding"; return 1; }
}

if cached_ok; then
  abs_path "$cached"
  exit 0
fi

# 4. Build it.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module_dir=$repo_root/tools/consul
[[ -f $module_dir/go.mod ]] || die "$module_dir/go.mod not found"
grep -Eq "^[[:space:]]*(require[[:space:]]+)?$CONSUL_MODULE v$CONSUL_VERSION([[:space:]]|$)" "$module_dir/go.mod" \
  || die "$module_dir/go.mod does not require $CONSUL_MODULE v$CONSUL_VERSION"

if ! command -v go >/dev/null 2>&1; then
  PATH=/usr/local/go/bin:$PATH
  command -v go >/dev/null 2>&1 || die "no Go toolchain: install Go >= 1.24 (looked on PATH and in /usr/local/go/bin)"
fi

mkdir -p "$cache_dir"

# Serialise concurrent builds; whoever waited re-checks the cache first. Holding
# the lock, leftovers of a killed build (.build.*) can be removed safely.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_dir/.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
    if cached_ok; then
      abs_path "$cached"
      exit 0
    fi
  fi
  rm -rf "$cache_dir"/.build.*
fi

cd "$module_dir"

# Licence gate: only build an MPL-2.0 Consul (releases from 1.17.0 are BUSL).
log "downloading $CONSUL_MODULE@v$CONSUL_VERSION through the Go module proxy"
dl_json=$(go mod download -json "$CONSUL_MODULE@v$CONSUL_VERSION") \
  || die "go mod download $CONSUL_MODULE@v$CONSUL_VERSION failed: $dl_json"
src_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$dl_json")
[[ -n $src_dir && -f $src_dir/LICENSE ]] || die "no LICENSE in the downloaded module (go mod download said: $dl_json)"
license_line=$(grep -m1 -F 'Mozilla Public License, version 2.0' "$src_dir/LICENSE") \
  || die "$src_dir/LICENSE is not the Mozilla Public License, version 2.0: refusing to build"
log "licence check passed: '$license_line' ($src_dir/LICENSE)"

# Same filesystem as $cached, so the final mv is an atomic rename.
tmp_dir=$(mktemp -d "$cache_dir/.build.XXXXXX")
trap 'rm -rf "$tmp_dir"' EXIT
tmp=$tmp_dir/consul

log "building Consul $CONSUL_VERSION with $(go version | cut -d' ' -f3) (several minutes the first time)"
start=$SECONDS
# -mod=readonly: go.mod/go.sum are complete and committed, so the build is
# reproducible and never edits them. CGO off, like HashiCorp's release builds.
# Run in the background and wait, so that a signal to this script stops the
# build at once and the EXIT trap removes the partial output.
CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$tmp" "$CONSUL_MODULE" >&2 &
build_pid=$!
for sig in INT:130 TERM:143 HUP:129; do
  # shellcheck disable=SC2064 # expand now: the pid and code are fixed
  trap "kill -TERM $build_pid 2>/dev/null; wait $build_pid 2>/dev/null; exit ${sig#*:}" "${sig%%:*}"
done
wait "$build_pid" || die "go build failed"
trap - INT TERM HUP

v=$(consul_version "$tmp") || die "the freshly built binary does not run '$tmp version'"
[[ $v == "Consul v$CONSUL_VERSION" ]] || die "the freshly built binary reports '$v', expected Consul v$CONSUL_VERSION"
chmod 0755 "$tmp"
mv -f "$tmp" "$cached"
log "built $v in $((SECONDS - start))s: $cached"

abs_path "$cached"
