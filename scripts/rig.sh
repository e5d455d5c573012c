#!/usr/bin/env bash
# The production-topology rig (docs/rig.md): three Consul servers and 2-5
# hosts, each host a network namespace with a Consul client agent, redis-server
# on 6379 and resec configured as examples/systemd or examples/docker-compose
# configure it.
#
#   scripts/rig.sh up [--hosts N] [--style systemd|compose]
#                     [--redis-addr example|loopback|ip|hostname] [--announce]
#                     [--resec-bin PATH] [--no-agents] [--keys N --value-bytes B]
#       brings a rig up for poking at: prints every address and how to reach
#       it; Ctrl-C tears it down.
#   scripts/rig.sh test [GTEST_FILTER]
#       runs the rig tests (tests/rig/), all of them or those the filter names,
#       e.g. scripts/rig.sh test '*FullSync*'
#   scripts/rig.sh list
#       names the scenarios (the rig tests).
#   scripts/rig.sh cleanup ID
#       removes what a crashed rig with that id left (namespaces, links,
#       /etc/netns files, processes); a live rig's id is refused.
#
# Needs root (network namespaces). Environment: BUILD_DIR (default build-rig),
# CONSUL_BIN (else scripts/build-consul.sh provides one), RESEC_BIN (the agent
# under test; default the one built here), RESEC_RIG_ID (pin the rig id).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$repo_root/build-rig}

log() { printf 'rig.sh: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

cmd=${1:-}
[[ -n $cmd ]] || { usage; exit 2; }
shift
case "$cmd" in
  up|test|list|cleanup) ;;
  -h|--help) usage; exit 0 ;;
  *) usage; exit 2 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  log "the rig needs root (network namespaces, veths, /etc/netns); run it as root"
  exit 3
fi
"$repo_root/scripts/install-deps.sh"
if [[ ! -f $build_dir/build.ninja ]]; then
  log "configuring $build_dir"
  cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
log "building resec, resec_rig and rig_tests in $build_dir"
ninja -C "$build_dir" -j2 resec resec_rig rig_tests >&2
if [[ -z ${CONSUL_BIN:-} ]]; then
  CONSUL_BIN=$("$repo_root/scripts/build-consul.sh") || { log "no Consul (scripts/build-consul.sh failed)"; exit 3; }
fi
export CONSUL_BIN
export RESEC_BIN=${RESEC_BIN:-$build_dir/resec}

case "$cmd" in
  up) exec "$build_dir/tests/resec_rig" up --resec-bin "$RESEC_BIN" "$@" ;;
  cleanup) exec "$build_dir/tests/resec_rig" cleanup "$@" ;;
  list) exec "$build_dir/tests/rig_tests" --gtest_list_tests ;;
  test) exec "$build_dir/tests/rig_tests" --gtest_filter="${1:-*}" ;;
esac
