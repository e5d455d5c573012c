#!/usr/bin/env bash
# The chaos runner on the production-topology rig (docs/rig.md): hosts as
# network namespaces, each with a Consul client, Redis on 6379 and resec as
# examples/systemd or examples/docker-compose configure it, three Consul
# servers, a data set, a continuous writer and a dual-master prober, and
# seeded random faults: Redis, agent, Consul client, a whole host or a Consul
# server killed, frozen, restarted or cut off, clock steps, slow loads and
# full syncs, rolling restarts and switchovers. Every invariant is checked as
# it runs; see docs/chaos.md for what they are and how to read the output.
#
#   scripts/chaos.sh [--faults N] [--seed S] [...]   (default: 20 faults, seed from the clock)
#   scripts/chaos.sh --long [--seed S]               (200 faults, about two hours)
#   scripts/chaos.sh --seed S --faults N ...         replays a run (same fault sequence)
#
# Other arguments go to the runner (build-chaos/tests/chaos/resec_chaos --help):
#   --hosts 2..5         hosts in the group (3)
#   --style systemd|compose            which example the hosts follow (systemd)
#   --redis-addr example|loopback|ip|hostname   how REDIS_ADDR names the local Redis (example)
#   --announce           set ANNOUNCE_ADDR to the host's address
#   --kinds K1,K2        only these fault kinds
#   --overlap P          chance that a fault overlaps the next one (0.2)
#   --fault-ms MIN:MAX   how long a fault lasts (1000:4000; cuts and freezes up to 2 x MAX)
#   --keys N --value-bytes B   the data set (20000 keys of 100 bytes)
#   --slow-us US         per-key delay of a slow RDB load or full sync (200)
#   --agent-env KEY=VALUE      a setting for every agent on top of the example's (repeatable)
#   --resec-bin PATH     the agent binary under test (an ASan build, say)
#   --out FILE.json      a JSON summary
#   --keep               keep the run directory (logs, data) even when the run passes
#
# Needs root for the rig's namespaces (`ip netns`); without them it says what
# is missing and exits 3. The last line is always
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
have_faults=0
while (($#)); do
  case "$1" in
    --long) args+=(--faults 200); have_faults=1 ;;
    --faults) args+=("$1" "$2"); have_faults=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
((have_faults)) || args+=(--faults 20)

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

# The runner cleans up after itself, on SIGINT/SIGTERM too (its processes die
# with it even when it is killed outright; a rig's namespaces are removed by
# the next rig that takes its id, or by scripts/rig.sh cleanup ID).
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
cd "$repo_root"
"$runner" "${args[@]}" &
child=$!
set +e
wait "$child"
status=$?
exit "$status"
