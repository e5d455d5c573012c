#!/usr/bin/env bash
# Failover and footprint benchmarks of resec against Redis Sentinel and the
# original Go resec, all on this machine: failover on the production-topology
# rig (docs/rig.md: hosts as network namespaces, so root), footprint on
# loopback. A thin wrapper: it builds what is missing and runs the harness
# (bench/resec_bench.cc).
#
#   scripts/bench.sh failover  --system resec|sentinel|resec-go --scenario S --runs N
#                              [--out FILE.json] [--tuned|--defaults]
#   scripts/bench.sh failover --all-scenarios [--system S]... [--runs N] [--quick]
#                              [--tuned|--defaults|--both] [--dir DIR]
#       every scenario for each system named (default: all three), N runs each
#       (default: the full run's 20 for redis-crash and switchover, 10 for the
#       others; --quick: 3), unattended, into DIR (default
#       bench/results/<UTC date>-rig[-quick]), then DIR's table.md and plot.
#   scripts/bench.sh footprint --system resec|sentinel|resec-go --seconds N
#                              [--out FILE.json] [--tuned|--defaults]
#   scripts/bench.sh scale --groups N [--write-load] [--system resec|resec-go]
#                          [--out FILE.json] [--window S] [--warmup S] [--baseline S]
#                          [--failover-runs N] [--tuned|--defaults]
#       N groups of 3 agents (ours by default) on one 3-server Consul cluster
#       on loopback: Consul requests and Raft applies per agent and group,
#       CPU and memory, and a redis-crash failover of one group while the
#       others run (bench/scale.h; docs/scale.md).
#   scripts/bench.sh scale-sweep [--groups "1 10 100"] [--system S]... [--no-load]
#                                [--dir DIR] [harness flags as for scale]
#       every N for each system named (default: resec and resec-go), idle and
#       under 50 SET/s per group (--no-load: idle only), into DIR (default
#       bench/results/<UTC date>-scale), then DIR's table.md and cost.png.
#   scripts/bench.sh all [--quick]          (BENCH_MODES="tuned": skip the defaults)
#   scripts/bench.sh report DIR        # rebuild DIR's tables and plot
#
# Scenarios: redis-crash agent-crash switchover host-crash host-freeze
# host-partition consul-leader-kill consul-rolling-restart consul-agent-restart.
# `all` runs every system x scenario (tuned and documented defaults; --quick:
# tuned only, 3 runs each, 20 s of footprint) and writes
# bench/results/<UTC date>[-quick]/ with one JSON per system x mode x scenario
# (plus .runs.json with each run), footprint JSON, table.md, unavailable.png and
# bench.log, then updates docs/benchmarks.md. The full run makes 20 runs of
# redis-crash and switchover and 10 of the others per system and mode.
#
# Environment: BUILD_DIR (default build-bench), RESULTS_DIR (overrides the
# results directory of `all`), CONSUL_BIN, RESEC_GO_BIN, RESEC_GO_SRC (see
# scripts/build-consul.sh and scripts/build-resec-go.sh: the Go resec is
# built from ../shared/resec-go; without it its rows say why it is missing).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo_root/build-bench}
harness=$build_dir/bench/resec_bench

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

build() {
  if [[ ! -f $build_dir/build.ninja ]]; then
    log "configuring $build_dir"
    cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESEC_WERROR=ON >&2
  fi
  log "building resec and the harness in $build_dir"
  ninja -C "$build_dir" -j2 resec resec_bench >&2
  # The rig's namespaces, veths and nftables need root; say so once, early.
  [[ $(id -u) -eq 0 ]] || log "warning: not root: failover runs (on the rig) will fail"
  export RESEC_BIN=$build_dir/resec
}

consul() {
  CONSUL_BIN=$("$repo_root/scripts/build-consul.sh") || die "no Consul (scripts/build-consul.sh failed)"
  export CONSUL_BIN
}

# Sets resec_go_args to what the harness needs for resec-go: the binary, or
# the reason it is unavailable.
resec_go_args=()
provenance_args=()
resec_go() {
  local out err bin
  err=$(mktemp)
  if bin=$("$repo_root/scripts/build-resec-go.sh" 2>"$err"); then
    # What was built from what (scripts/build-resec-go.sh writes it beside
    # its cached build; a $RESEC_GO_BIN elsewhere is recorded by its --version).
    local provenance=""
    [[ -f $(dirname "$bin")/provenance ]] && provenance=$(<"$(dirname "$bin")/provenance")
    [[ -n $provenance ]] || provenance="$bin: $("$bin" --version 2>&1 | head -1)"
    resec_go_args=(--resec-go-bin "$bin" --note "resec_go_build=$provenance")
  else
    out=$(grep '^build-resec-go: unavailable: ' "$err" | tail -1 | sed 's/^build-resec-go: unavailable: //')
    [[ -n $out ]] || out=$(tail -3 "$err" | tr '\n' ' ')
    log "resec-go is unavailable: $out"
    resec_go_args=(--unavailable "could not build the original Go resec: $out")
  fi
  rm -f "$err"
}

# Facts every result records: what was measured, built from which tree.
provenance() {
  local commit
  commit=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$repo_root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit="$commit+local-changes"
  fi
  provenance_args=(--note "resec_commit=$commit" --note "redis=$(redis-server --version | cut -d' ' -f1-3)")
}

system_of() {
  local prev=""
  for a in "$@"; do
    [[ $prev == --system ]] && { printf '%s\n' "$a"; return; }
    prev=$a
  done
}

scenarios=(redis-crash agent-crash switchover host-crash host-freeze host-partition
  consul-leader-kill consul-rolling-restart consul-agent-restart)

# full_runs SCENARIO: the full run's number of runs (as bench/settings.cc).
full_runs() {
  case $1 in redis-crash | switchover) echo 20 ;; *) echo 10 ;; esac
}

# failover --all-scenarios: every scenario of every system named, then the
# report of the directory.
all_scenarios() {
  local systems=() runs="" quick=false dir="" modes=(tuned) a
  while (($#)); do
    case $1 in
      --all-scenarios) ;;
      --system) systems+=("$2"); shift ;;
      --runs) runs=$2; shift ;;
      --quick) quick=true ;;
      --tuned) modes=(tuned) ;;
      --defaults) modes=(defaults) ;;
      --both) modes=(tuned defaults) ;;
      --dir) dir=$2; shift ;;
      *) die "unknown option for failover --all-scenarios: $1" ;;
    esac
    shift
  done
  ((${#systems[@]})) || systems=(resec resec-go sentinel)
  if $quick && [[ -z $runs ]]; then runs=3; fi
  local suffix=-rig
  if $quick; then suffix=-rig-quick; fi
  dir=${dir:-$repo_root/bench/results/$(date -u +%Y-%m-%d)$suffix}
  build
  consul
  resec_go_args=()
  for a in "${systems[@]}"; do [[ $a == resec-go ]] && resec_go; done
  provenance
  mkdir -p "$dir"
  exec 3>>"$dir/bench.log"
  log "results in $dir (log: $dir/bench.log)"
  local started=$SECONDS mode scenario system n
  local extra=()
  # Interleaved by scenario, so every system of a scenario is measured close
  # in time, under the same background load.
  for mode in "${modes[@]}"; do
    for scenario in "${scenarios[@]}"; do
      for system in "${systems[@]}"; do
        n=${runs:-$(full_runs "$scenario")}
        extra=("${provenance_args[@]}")
        [[ $system == resec-go ]] && extra+=("${resec_go_args[@]}")
        log "failover $system $mode $scenario ($n runs; $((SECONDS - started)) s so far)"
        "$harness" failover --system "$system" --scenario "$scenario" --runs "$n" "--$mode" \
          --out "$dir/failover-$system-$mode-$scenario.json" "${extra[@]}" \
          2> >(tee -a /dev/fd/3 >&2) >/dev/null ||
          log "warning: failover $system $mode $scenario exited with $?"
      done
    done
  done
  local elapsed=$((SECONDS - started))
  log "measurements took ${elapsed} s; writing the report"
  "$harness" report --dir "$dir" \
    --title "failover on the rig: ${modes[*]}, ${runs:-full} runs per scenario; measured in $((elapsed / 60)) min $((elapsed % 60)) s" \
    >/dev/null
  log "done: $dir/table.md"
}

# scale-sweep: each N for each system, idle and under load, then the report.
scale_sweep() {
  local sizes="1 10 100" systems=() dir="" load=true pass=()
  while (($#)); do
    case $1 in
      --groups) sizes=$2; shift ;;
      --system) systems+=("$2"); shift ;;
      --dir) dir=$2; shift ;;
      --no-load) load=false ;;
      *) pass+=("$1") ;;
    esac
    shift
  done
  ((${#systems[@]})) || systems=(resec resec-go)
  dir=${dir:-$repo_root/bench/results/$(date -u +%Y-%m-%d)-scale}
  build
  consul
  resec_go_args=()
  for a in "${systems[@]}"; do [[ $a == resec-go ]] && resec_go; done
  provenance
  mkdir -p "$dir"
  exec 3>>"$dir/bench.log"
  log "results in $dir (log: $dir/bench.log)"
  local started=$SECONDS n system variant extra
  local variants=(idle)
  $load && variants+=(load)
  for n in $sizes; do
    for variant in "${variants[@]}"; do
      for system in "${systems[@]}"; do
        extra=("${provenance_args[@]}")
        [[ $system == resec-go ]] && extra+=("${resec_go_args[@]}")
        [[ $variant == load ]] && extra+=(--write-load)
        log "scale $system N=$n $variant ($((SECONDS - started)) s so far)"
        "$harness" scale --system "$system" --groups "$n" "${pass[@]}" "${extra[@]}" \
          --out "$dir/scale-$system-$n-$variant.json" 2> >(tee -a /dev/fd/3 >&2) >/dev/null ||
          log "warning: scale $system N=$n $variant exited with $?"
      done
    done
  done
  log "measurements took $((SECONDS - started)) s; writing the report"
  "$harness" scale-report --dir "$dir" >/dev/null
  log "done: $dir/table.md"
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift

case $cmd in
  failover | footprint)
    if [[ $cmd == failover && " $* " == *" --all-scenarios "* ]]; then
      all_scenarios "$@"
      exit 0
    fi
    build
    consul
    resec_go_args=()
    [[ $(system_of "$@") == resec-go ]] && resec_go
    provenance
    exec "$harness" "$cmd" "$@" "${resec_go_args[@]}" "${provenance_args[@]}"
    ;;
  scale)
    build
    consul
    resec_go_args=()
    system=$(system_of "$@")
    [[ $system == resec-go ]] && resec_go
    [[ -n $system ]] || set -- --system resec "$@"
    provenance
    exec "$harness" scale "$@" "${resec_go_args[@]}" "${provenance_args[@]}"
    ;;
  scale-sweep)
    scale_sweep "$@"
    exit 0
    ;;
  report)
    [[ $# -ge 1 ]] || usage
    build
    exec "$harness" report --dir "$1" --docs "$repo_root/docs/benchmarks.md"
    ;;
  all) ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac

quick=false
for a in "$@"; do
  case $a in
    --quick) quick=true ;;
    *) die "unknown option for all: $a" ;;
  esac
done

build
consul
resec_go
provenance

date=$(date -u +%Y-%m-%d)
if $quick; then
  dir=${RESULTS_DIR:-$repo_root/bench/results/$date-quick}
  modes=(tuned)
  footprint_seconds=20
  title="quick run: tuned settings, 3 runs per scenario"
else
  dir=${RESULTS_DIR:-$repo_root/bench/results/$date}
  # BENCH_MODES="tuned" measures the tuned settings only (about half the time).
  read -r -a modes <<<"${BENCH_MODES:-tuned defaults}"
  footprint_seconds=60
  title="full run: ${modes[*]} settings, 20 runs of redis-crash and switchover, 10 of the others"
fi
mkdir -p "$dir"
rm -f "$dir"/failover-*.json "$dir"/footprint-*.json
rm -rf "$dir"/*.logs
exec 3>"$dir/bench.log"
log "results in $dir (log: $dir/bench.log)"
started=$SECONDS

runs_for() {
  if $quick; then echo 3; else full_runs "$1"; fi
}

# Interleaved by scenario, so every system of a scenario is measured close in
# time, under the same background load.
for mode in "${modes[@]}"; do
  for scenario in "${scenarios[@]}"; do
    for system in resec resec-go sentinel; do
      extra=("${provenance_args[@]}")
      [[ $system == resec-go ]] && extra+=("${resec_go_args[@]}")
      log "failover $system $mode $scenario ($(runs_for "$scenario") runs; $((SECONDS - started)) s so far)"
      "$harness" failover --system "$system" --scenario "$scenario" --runs "$(runs_for "$scenario")" \
        "--$mode" --out "$dir/failover-$system-$mode-$scenario.json" "${extra[@]}" \
        2> >(tee -a /dev/fd/3 >&2) >/dev/null ||
        log "warning: failover $system $mode $scenario exited with $?"
    done
  done
  for system in resec resec-go sentinel; do
    extra=("${provenance_args[@]}")
    [[ $system == resec-go ]] && extra+=("${resec_go_args[@]}")
    log "footprint $system $mode (${footprint_seconds} s)"
    "$harness" footprint --system "$system" --seconds "$footprint_seconds" "--$mode" \
      --out "$dir/footprint-$system-$mode.json" "${extra[@]}" \
      2> >(tee -a /dev/fd/3 >&2) >/dev/null ||
      log "warning: footprint $system $mode exited with $?"
  done
done

elapsed=$((SECONDS - started))
log "measurements took ${elapsed} s; writing the report"
"$harness" report --dir "$dir" --docs "$repo_root/docs/benchmarks.md" \
  --title "$title; measured in $((elapsed / 60)) min $((elapsed % 60)) s"
log "done in $((SECONDS - started)) s: $dir"
