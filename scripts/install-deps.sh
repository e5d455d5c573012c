#!/usr/bin/env bash
# Installs the Debian packages resec builds and tests with. Idempotent: when every
# package is already installed it does nothing (no apt-get update), so a warm
# machine pays a single dpkg-query.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  # clang: the thread-safety build of scripts/test.sh (clang 14 with
  # libstdc++ 12, C++20).
  clang
  libhiredis-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libssl-dev libsystemd-dev prometheus-cpp-dev
  redis-server redis-sentinel redis-tools
  # The Prometheus tests: a real server scraping a group, promtool on the
  # example rules and on our /metrics.
  prometheus
  openssl curl iproute2 procps gnuplot-nox
  # Packaging and the operability tests: the .deb (dpkg-shlibdeps, the man
  # page), `systemd-analyze verify` of the unit (man-db for its man check),
  # `docker-compose config` of the compose example, YAML for its environment.
  dpkg-dev help2man systemd man-db docker-compose python3-yaml
  # The production-topology rig (docs/rig.md): one-way drops inside a host's
  # namespace, and clock steps for an agent.
  nftables faketime
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian redis-server package starts a system instance on :6379; tests never
# use it, and leaving it running would make the demo's default port collide.
# The same for Debian's prometheus package (a server on :9090 scraping
# itself, with its data in /var/lib/prometheus): the tests start their own.
for service in redis-server prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
