#!/usr/bin/env bash
# Everything from a fresh clone: install dependencies, get a Consul, build,
# run the tests against real Consul and redis-server processes, a short
# chaos run (docs/chaos.md) and the production-topology rig's scenarios
# (docs/rig.md), check that a Release build (what a packager
# runs) and a clang build with thread-safety analysis compile, then run the
# tests again under ASan+UBSan. Every build here treats warnings as errors
# (RESEC_WERROR, off by default for users and packagers). Exits non-zero on
# any failure.
#
#   ./scripts/test.sh              the default run (CI runs exactly this)
#   ./scripts/test.sh --quick      skip the sanitizer build
#   ./scripts/test.sh --sanitize-all   the sanitizer pass runs every e2e test too
#                                  (about 6 more minutes; 154 e2e tests passed on 2026-11-28,
#                                  the .deb and Dockerfile checks among them skip)
#   ./scripts/test.sh -R REGEX     only the tests whose names match (passed to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
sanitize_labels='integration|sanitize'
ctest_args=()
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --sanitize-all) sanitize_labels='integration|e2e' ;;
    -R) ctest_args+=(-R "$2"); shift ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "dependencies"
./scripts/install-deps.sh
CONSUL_BIN="$(./scripts/build-consul.sh)"
export CONSUL_BIN
echo "consul: $CONSUL_BIN ($("$CONSUL_BIN" version | head -1))"

build_and_test() {
  local dir=$1 label_regex=$2
  shift 2
  step "configure $dir"
  cmake -S . -B "$dir" -G Ninja -DRESEC_WERROR=ON "$@" >/dev/null
  step "build $dir"
  ninja -C "$dir" -j2
  step "test $dir"
  # Unit tests are pure and run in parallel; integration and e2e tests start
  # real processes and measure failover, so they run one at a time.
  ctest --test-dir "$dir" --output-on-failure -L unit -j2 "${ctest_args[@]}"
  ctest --test-dir "$dir" --output-on-failure -L "$label_regex" "${ctest_args[@]}"
}

# `prometheus`: the example rules under promtool and a real Prometheus
# scraping a group (examples/prometheus/, tests/prometheus/); seconds.
build_and_test build 'integration|e2e|prometheus' -DCMAKE_BUILD_TYPE=RelWithDebInfo
# The short chaos run (tests/chaos, docs/chaos.md): 20 seeded faults of 16
# kinds on the production-topology rig (compose example), about a minute and
# a half. A failure prints the seed and the command that replays it.
step "chaos build"
ctest --test-dir build --output-on-failure -L chaos "${ctest_args[@]}"
# The production-topology rig (tests/rig, docs/rig.md): hosts as network
# namespaces, each with a Consul client joined to three servers, Redis on
# 6379 and resec as examples/systemd and examples/docker-compose configure
# it. One test per defect of issue #13 (each fails if that defect returns),
# the failure-detection scenarios of the peer protocol and the rig's own
# fault check: about 6 minutes.
step "rig build"
ctest --test-dir build --output-on-failure -L rig "${ctest_args[@]}"

# Compile-only builds of the agent and the unit tests, no test run: they
# differ from the tested build only in compiler or flags, so what they can
# find is a diagnostic. Measured on this 2-core machine (2026-12-07, shared,
# load 5): with ccache holding the objects, both together take about 9 s in
# fresh build directories; with an empty ccache (or after touching a header
# everything includes) Release took 6.6 min wall / 4.6 min CPU and clang
# 2.9 min wall / 2.4 min CPU, about 3.5 min together on an idle machine.
compile_only() {
  local dir=$1 targets=$2
  shift 2
  step "compile-only $dir"
  cmake -S . -B "$dir" -G Ninja -DRESEC_WERROR=ON "$@" >/dev/null
  # shellcheck disable=SC2086  # targets is a list
  ninja -C "$dir" -j2 $targets
}
# Release (-O3) is what `cmake -DCMAKE_BUILD_TYPE=Release` gives a packager;
# -O3 inlines more, and GCC warns at -O3 about things it does not see at -O2.
compile_only build-release "resec unit_tests" -DCMAKE_BUILD_TYPE=Release
# clang checks every GUARDED_BY / REQUIRES (include/resec/thread_annotations.h)
# and warns where g++ does not. No optimisation and no debug info: only the
# diagnostics matter.
compile_only build-clang "resec unit_tests thread_safety_verify" -DCMAKE_CXX_COMPILER=clang++ \
  -DRESEC_THREAD_SAFETY=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0
if ((quick == 0)); then
  # The sanitizer build runs the unit and integration suites and, of the e2e
  # suite, the bad-input and security tests (label e2e-sanitize: hostile
  # input is where a memory bug would show); the rest of e2e (failover
  # timing, whole groups of agents) runs in the plain build only.
  build_and_test build-asan "$sanitize_labels" -DCMAKE_BUILD_TYPE=Debug -DRESEC_SANITIZE=address
fi
step "all tests passed"
