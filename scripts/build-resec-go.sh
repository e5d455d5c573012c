#!/usr/bin/env bash
# Prints the absolute path of a working binary of the original Go resec as its
# only stdout line; progress goes to stderr. The benchmarks run it side by side
# with ours. Usage: RESEC_GO=$(scripts/build-resec-go.sh)
#
# Order:
#   1. $RESEC_GO_BIN, if set and executable;
#   2. a cached build ${XDG_CACHE_HOME:-$HOME/.cache}/resec/resec-go-<version>/resec;
#   3. otherwise build, through the wrapper module in tools/resec-go (copied to a
#      scratch directory, never edited in place), the first of
#        github.com/aireuropa/resec v1.5.2   (the version operators run today)
#        github.com/seatgeek/resec   v1.1.1   (the upstream it forked)
#      that the Go module proxy serves and that compiles. The original's code is
#      never changed; dependencies are bumped only where today's Go needs it
#      (golang.org/x/sys and x/net on a //go:linkname link error;
#      go4.org/unsafe/assume-no-moving-gc, which panics at start on a Go
#      release it does not know).
#
# On failure it exits 1 and the last stderr line starting "build-resec-go:
# unavailable:" carries every attempt's error, verbatim, for the benchmark
# results. Needs Go >= 1.24.
set -euo pipefail

CANDIDATES=("github.com/aireuropa/resec v1.5.2" "github.com/seatgeek/resec v1.1.1")

log() { printf 'build-resec-go: %s\n' "$*" >&2; }

abs_path() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")" ;;
  esac
}

# 1. An explicit binary.
if [[ -n ${RESEC_GO_BIN:-} ]]; then
  if [[ -x $RESEC_GO_BIN ]]; then
    log "using \$RESEC_GO_BIN"
    abs_path "$RESEC_GO_BIN"
    exit 0
  fi
  log "warning: \$RESEC_GO_BIN=$RESEC_GO_BIN is not executable; ignoring it"
fi

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/resec

# 2. A cached build (urfave/cli answers --version without touching Redis or Consul).
for c in "${CANDIDATES[@]}"; do
  ver=${c#* }
  cached=$cache_root/resec-go-$ver/resec
  if [[ -x $cached ]] && "$cached" --version >/dev/null 2>&1; then
    abs_path "$cached"
    exit 0
  fi
done

# 3. Build.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wrapper=$repo_root/tools/resec-go/go.mod
[[ -f $wrapper ]] || { log "unavailable: $wrapper not found"; exit 1; }
if ! command -v go >/dev/null 2>&1; then
  PATH=/usr/local/go/bin:$PATH
  command -v go >/dev/null 2>&1 || { log "unavailable: no Go toolchain (need Go >= 1.24)"; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/resec-go-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# build_one MODULE VERSION: builds into $work/<version>/resec; on failure prints
# the reason on stdout and returns 1.
build_one() {
  local mod=$1 ver=$2 dir=$work/$2 dl err out
  mkdir -p "$dir"
  cp "$wrapper" "$dir/go.mod"
  cd "$dir"
  go mod edit -droprequire=github.com/aireuropa/resec -droptool=github.com/aireuropa/resec
  # The proxy's own answer first: it says plainly when a version is not served.
  if ! dl=$(go mod download -json "$mod@$ver" 2>&1); then
    err=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$dl")
    printf '%s\n' "${err:-$dl}"
    return 1
  fi
  local gomod
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' <<<"$dl")
  local path
  path=$(awk '$1 == "module" { print $2; exit }' "$gomod")
  if [[ $path != "$mod" ]]; then
    printf '%s@%s declares module path %s\n' "$mod" "$ver" "$path"
    return 1
  fi
  go mod edit -require="$mod@$ver" -tool="$mod"
  if ! out=$(GOFLAGS=-mod=mod go mod tidy 2>&1); then
    printf 'go mod tidy: %s\n' "$out"
    return 1
  fi
  if go list -m go4.org/unsafe/assume-no-moving-gc >/dev/null 2>&1; then
    log "$mod@$ver: bumping go4.org/unsafe/assume-no-moving-gc (it panics on unknown Go releases)"
    go get go4.org/unsafe/assume-no-moving-gc@latest >&2 || true
  fi
  if ! out=$(CGO_ENABLED=0 go build -trimpath -o "$dir/resec" "$mod" 2>&1); then
    if grep -q 'linkname' <<<"$out"; then
      log "$mod@$ver: //go:linkname link error; bumping golang.org/x/sys and golang.org/x/net"
      go get golang.org/x/sys@latest golang.org/x/net@latest >&2
      out=$(CGO_ENABLED=0 go build -trimpath -o "$dir/resec" "$mod" 2>&1) || {
        printf 'go build: %s\n' "$out"
        return 1
      }
    else
      printf 'go build: %s\n' "$out"
      return 1
    fi
  fi
  if ! out=$("$dir/resec" --version 2>&1); then
    printf 'the built binary does not run --version: %s\n' "$out"
    return 1
  fi
  return 0
}

# One line, with the proxy's address replaced by $GOPROXY: results are
# committed, and they should say what failed, not where the proxy lives.
sanitize() {
  printf '%s' "$1" | tr '\n' ' ' | sed -e 's#\\n\\t# #g; s#\\n# #g; s#https\{0,1\}://[^/ ]*#$GOPROXY#g'
}

errors=()
for c in "${CANDIDATES[@]}"; do
  mod=${c% *}
  ver=${c#* }
  log "building $mod@$ver through the Go module proxy"
  if reason=$(build_one "$mod" "$ver"); then
    dest=$cache_root/resec-go-$ver
    mkdir -p "$dest"
    mv -f "$work/$ver/resec" "$dest/resec.tmp.$$"
    mv -f "$dest/resec.tmp.$$" "$dest/resec"
    printf '%s %s\n' "$mod" "$ver" >"$dest/module"
    log "built $mod@$ver: $dest/resec"
    abs_path "$dest/resec"
    exit 0
  fi
  reason=$(sanitize "$reason")
  log "$mod@$ver failed: $reason"
  [[ $reason == "$mod@$ver"* ]] || reason="$mod@$ver: $reason"
  errors+=("$reason")
done

joined=$(printf '%s; ' "${errors[@]}")
log "unavailable: ${joined%; }"
exit 1
