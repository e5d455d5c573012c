#!/usr/bin/env bash
# Prints the absolute path of a working binary of the original Go resec
# (seatgeek/resec v1.1.2, MIT) as its only stdout line; progress goes to
# stderr. The benchmarks run it side by side with ours; nothing else needs it,
# and `scripts/test.sh` never does. Usage: RESEC_GO=$(scripts/build-resec-go.sh)
#
# Order:
#   1. $RESEC_GO_BIN, if set and `$RESEC_GO_BIN --version` runs;
#   2. the cached build ${XDG_CACHE_HOME:-$HOME/.cache}/resec/resec-go-v1.1.2/resec,
#      if it was built from the same source (a SHA-256 over every file of the
#      source folder, and the build flags, kept in `source.sha256` beside it);
#   3. otherwise build it from its source folder, the first that exists of
#        $RESEC_GO_SRC
#        <repository top level>/../shared/resec-go
#        <main checkout>/../shared/resec-go   (from a `git worktree`, whose own
#                                              top level has no ../shared)
#      copied to a scratch directory first (the folder is never written to),
#      exactly as its README says: CGO off, -mod=readonly (go.sum is complete;
#      the Go module proxy serves every dependency), -trimpath,
#      -buildvcs=false, the version stamped in with -ldflags.
#
# Idempotent: once built, a run costs a hash of a few small files and one
# `resec --version`. Concurrent runs build once (flock). On failure it exits 1
# and its last stderr line, "build-resec-go: unavailable: <reason>", says why
# in one line (the benchmarks record it). Needs Go >= 1.21 to build.
set -euo pipefail

RESEC_GO_VERSION=v1.1.2
RESEC_GO_COMMIT=db0044d
RESEC_GO_MODULE=github.com/seatgeek/resec
# The README's build; part of the cache key, so changing it rebuilds.
LDFLAGS="-s -w -X main.Version=$RESEC_GO_VERSION-$RESEC_GO_COMMIT"
BUILD_FLAGS=(-mod=readonly -trimpath -buildvcs=false -ldflags "$LDFLAGS")

log() { printf 'build-resec-go: %s\n' "$*" >&2; }
# unavailable REASON: the one line the benchmarks quote, then exit 1.
unavailable() {
  log "unavailable: $*"
  exit 1
}

abs_path() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")" ;;
  esac
}

# runs BIN: BIN answers --version (urfave/cli answers it before touching Redis
# or Consul).
runs() { "$1" --version >/dev/null 2>&1; }

# 1. An explicit binary.
if [[ -n ${RESEC_GO_BIN:-} ]]; then
  if [[ -x $RESEC_GO_BIN ]] && runs "$RESEC_GO_BIN"; then
    log "using \$RESEC_GO_BIN"
    abs_path "$RESEC_GO_BIN"
    exit 0
  fi
  log "warning: \$RESEC_GO_BIN=$RESEC_GO_BIN does not run '--version'; ignoring it"
fi

# The source folder.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
candidates=()
if [[ -n ${RESEC_GO_SRC:-} ]]; then
  candidates+=("$RESEC_GO_SRC")
else
  top=$(git -C "$repo_root" rev-parse --show-toplevel 2>/dev/null || printf '%s' "$repo_root")
  candidates+=("$(realpath -m "$top/../shared/resec-go")")
  # In a linked worktree the common .git directory belongs to the main checkout.
  if common=$(git -C "$repo_root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
    [[ $(basename "$common") == .git ]]; then
    main_top=$(dirname "$common")
    [[ $main_top == "$top" ]] || candidates+=("$(realpath -m "$main_top/../shared/resec-go")")
  fi
fi
src=""
for c in "${candidates[@]}"; do
  if [[ -f $c/go.mod && -f $c/main.go ]]; then
    src=$(cd "$c" && pwd)
    break
  fi
done

cache_dir=${XDG_CACHE_HOME:-$HOME/.cache}/resec/resec-go-$RESEC_GO_VERSION
cached=$cache_dir/resec

if [[ -z $src ]]; then
  if [[ -n ${RESEC_GO_SRC:-} ]]; then
    unavailable "\$RESEC_GO_SRC=$RESEC_GO_SRC holds no go.mod and main.go (the original Go resec's source)"
  fi
  # Nothing to compare the cached build with (a fresh clone without ../shared
  # that has been given a cache): it is still the best yardstick there is.
  if [[ -x $cached ]] && runs "$cached"; then
    log "warning: no source folder found (${candidates[*]}); using the cached build as it is"
    abs_path "$cached"
    exit 0
  fi
  unavailable "no source of the original Go resec: looked for go.mod and main.go in ${candidates[*]}; set \$RESEC_GO_SRC to its folder"
fi
module=$(awk '$1 == "module" { print $2; exit }' "$src/go.mod")
[[ $module == "$RESEC_GO_MODULE" ]] || unavailable "$src/go.mod declares module '$module', not $RESEC_GO_MODULE"

# The cache key: every file of the source (path and content) and the flags.
# The Go toolchain is not part of it: a new Go release is not a new yardstick.
key=$(
  cd "$src"
  {
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    printf '%s\n' "${BUILD_FLAGS[@]}"
  } | sha256sum | cut -d' ' -f1
)

cached_ok() {
  [[ -x $cached && -f $cache_dir/source.sha256 ]] || return 1
  [[ $(<"$cache_dir/source.sha256") == "$key" ]] || return 1
  runs "$cached"
}

# 2. The cached build.
if cached_ok; then
  abs_path "$cached"
  exit 0
fi

# 3. Build it.
if ! command -v go >/dev/null 2>&1; then
  PATH=/usr/local/go/bin:$PATH
  command -v go >/dev/null 2>&1 || unavailable "no Go toolchain (looked on PATH and in /usr/local/go/bin)"
fi

mkdir -p "$cache_dir"
# Serialise concurrent builds; whoever waited re-checks the cache first.
# Holding the lock, leftovers of a killed build (.build.*) can go.
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

# The scratch directory sits in the cache directory, so the final mv is an
# atomic rename on one filesystem.
work=$(mktemp -d "$cache_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/src"
chmod -R u+w "$work/src"  # the shared folder is read-only; its copy must be removable

log "building $RESEC_GO_MODULE $RESEC_GO_VERSION ($RESEC_GO_COMMIT) from $src with $(go version | cut -d' ' -f3)"
start=$SECONDS
# Backgrounded and waited for, so a signal to this script stops the build at
# once and the EXIT trap removes the partial output.
(cd "$work/src" && CGO_ENABLED=0 exec go build "${BUILD_FLAGS[@]}" -o "$work/resec" .) >"$work/build.log" 2>&1 &
build_pid=$!
for sig in INT:130 TERM:143 HUP:129; do
  # shellcheck disable=SC2064 # expand now: the pid and code are fixed
  trap "kill -TERM $build_pid 2>/dev/null; wait $build_pid 2>/dev/null; exit ${sig#*:}" "${sig%%:*}"
done
if ! wait "$build_pid"; then
  cat "$work/build.log" >&2
  # One line, with the proxy's address replaced by $GOPROXY: results are
  # committed, and they should say what failed, not where the proxy lives.
  reason=$(tail -5 "$work/build.log" | tr '\n' ' ' | sed -e 's#https\{0,1\}://[^/ ]*#$GOPROXY#g; s/[[:space:]]*$//')
  unavailable "go build failed: ${reason:-no output}"
fi
trap - INT TERM HUP
cat "$work/build.log" >&2

version=$("$work/resec" --version 2>&1) || unavailable "the freshly built binary does not run --version: $version"
chmod 0755 "$work/resec"
mv -f "$work/resec" "$cached"
# Written after the binary: an interrupted update leaves a stale key, which
# only costs a rebuild.
printf '%s\n' "$key" >"$cache_dir/source.sha256"
printf '%s %s (%s), %s, source sha256 %s\n' "$RESEC_GO_MODULE" "$RESEC_GO_VERSION" "$RESEC_GO_COMMIT" \
  "$(go version | cut -d' ' -f3)" "$key" >"$cache_dir/provenance"
log "built '$version' in $((SECONDS - start)) s: $cached"

abs_path "$cached"
