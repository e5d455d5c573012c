#!/usr/bin/env bash
# The chaos runner: three nodes (each a network namespace holding a
# redis-server, a resec agent and a Consul server of a three-server cluster),
# a continuous writer and a dual-master prober, and seeded random faults:
# Redis / agent / both SIGKILLed and restarted (Redis with or without its
# data), either SIGSTOPped, the Consul leader killed, a Consul server
# restarted, a node cut off the network. Every invariant is checked as it
# runs; see docs/chaos.md for what they are and how to read the output.
#
#   scripts/chaos.sh [--faults N] [--seed S] [--overlap P] [...]   (default: 20 faults, seed from the clock)
#   scripts/chaos.sh --long [--seed S]                               (200 faults, 12-20 minutes)
#   scripts/chaos.sh --seed S --faults N ...                         replays a run (same fault sequence)
#
# Other arguments go to the runner (build-chaos/tests/chaos/resec_chaos --help):
#   --overlap P          chance that a fault overlaps the next one (0.2)
#   --fault-ms MIN:MAX   how long a fault lasts (1000:4000; partitions and agent pauses up to 2 x MAX)
#   --kinds K1,K2        only these fault kinds
#   --resec-bin PATH     the agent binary under test (an ASan build, say)
#   --out FILE.json      a JSON summary
#   --net-id ID          1..254: names and subnet 10.213.ID.0/24 (default from this script's pid),
#                        so runs with different ids can go side by side
#   --loopback           no namespaces (also the fallback when they cannot be made): no partitions
#   --keep               keep the run directory (logs, data) even when the run passes
#   --redis-unfenced-boot  start redis-server without min-replicas-to-write 1 (the default
#                        follows docs/failover.md's recommendation; see docs/chaos.md)
#
# Needs root for the namespaces (`ip netns`); otherwise it falls back to
# loopback-only faults and says so. The last line is always
#   chaos: faults=N violations=V lost_wait_acked=L worst_converge_ms=X worst_dual_master_ms=Y
# and the exit status is 0 only without violations.
#
# Environment: BUILD_DIR (default build-chaos), CONSUL_BIN (else
# scripts/build-consul.sh provides one).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo_root/build-chaos}
runner=$build_dir/tests/chaos/resec_chaos

log() { printf 'chaos.sh: %s\n' "$*" >&2; }

args=()
net_id=""
have_faults=0
while (($#)); do
  case "$1" in
    --long) args+=(--faults 200); have_faults=1 ;;
    --faults) args+=("$1" "$2"); have_faults=1; shift ;;
    --net-id) net_id=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
((have_faults)) || args+=(--faults 20)
# Derived from our pid unless given, and passed on, so a cleanup after a
# crashed runner knows which names to delete.
net_id=${net_id:-$(( $$ % 200 + 20 ))}

if [[ ! -f $build_dir/build.ninja ]]; then
  log "configuring $build_dir"
  cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESEC_WERROR=ON >&2
fi
log "building resec and resec_chaos in $build_dir"
ninja -C "$build_dir" -j2 resec resec_chaos >&2
if [[ -z ${CONSUL_BIN:-} ]]; then
  CONSUL_BIN=$("$repo_root/scripts/build-consul.sh") || { log "no Consul (scripts/build-consul.sh failed)"; exit 3; }
fi
export CONSUL_BIN
export RESEC_BIN=${RESEC_BIN:-$build_dir/resec}

# The runner cleans up after itself, on SIGINT/SIGTERM too; this catches the
# case where it is killed outright (its processes die with it, the namespaces
# would not).
cleanup() { "$runner" --cleanup --net-id "$net_id" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM

cd "$repo_root"
"$runner" --net-id "$net_id" "${args[@]}" &
child=$!
set +e
wait "$child"
status=$?
exit "$status"
