#!/usr/bin/env bash
# The main job on loopback: one Consul dev agent, three redis-servers and three
# resec agents, with a live `resec status` view of the group. Ctrl-C (or any
# error) stops and removes everything it started.
#
#   ./scripts/demo.sh              run until Ctrl-C
#   ./scripts/demo.sh --failover   also kill the master's Redis after 5 s and
#                                  print how long the group took to switch
set -euo pipefail
cd "$(dirname "$0")/.."

failover=0
[[ ${1:-} == --failover ]] && failover=1

./scripts/install-deps.sh
CONSUL_BIN=$(./scripts/build-consul.sh)
if [[ ! -x build/resec ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESEC_WERROR=ON >/dev/null
  ninja -C build -j2 resec
fi
RESEC=$PWD/build/resec

work=$(mktemp -d /tmp/resec-demo-XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping (logs were in $work)"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

consul_port=18500
redis_ports=(16379 16380 16381)
state_ports=(18081 18082 18083)

"$CONSUL_BIN" agent -dev -node=demo -bind=127.0.0.1 -client=127.0.0.1 -http-port=$consul_port \
  -server-port=18300 -serf-lan-port=18301 -serf-wan-port=-1 -dns-port=-1 -grpc-port=-1 \
  -log-level=warn >"$work/consul.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  leader=$(curl -fsS "http://127.0.0.1:$consul_port/v1/status/leader" 2>/dev/null || true)
  [[ -n $leader && $leader != '""' ]] && break
  sleep 0.1
done

for i in 0 1 2; do
  redis-server --port "${redis_ports[i]}" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --dbfilename "dump-$i.rdb" >"$work/redis-$i.log" 2>&1 &
  pids+=($!)
done
sleep 0.3

for i in 0 1 2; do
  REDIS_ADDR=127.0.0.1:${redis_ports[i]} CONSUL_HTTP_ADDR=127.0.0.1:$consul_port \
    STATE_SERVER=true STATE_LISTEN_ADDR=127.0.0.1:${state_ports[i]} \
    HEALTHCHECK_INTERVAL=1s HEALTHCHECK_TIMEOUT=1s REDIS_POLL_INTERVAL=100ms \
    "$RESEC" >"$work/resec-$i.log" 2>&1 &
  pids+=($!)
done

cat <<MSG
demo: running (logs in $work)
  Consul UI:      http://127.0.0.1:$consul_port/ui/dc1/services
  state servers:  http://127.0.0.1:${state_ports[0]}/  http://127.0.0.1:${state_ports[1]}/  http://127.0.0.1:${state_ports[2]}/
  redis:          127.0.0.1:${redis_ports[0]}  127.0.0.1:${redis_ports[1]}  127.0.0.1:${redis_ports[2]}
  Ctrl-C stops everything.
MSG

status() { CONSUL_HTTP_ADDR=127.0.0.1:$consul_port "$RESEC" status 2>&1 || true; }
master_port() {
  curl -fsS "http://127.0.0.1:$consul_port/v1/health/service/redis-master?passing" 2>/dev/null |
    grep -o '"Port":[0-9]*' | head -1 | cut -d: -f2
}

start=$SECONDS
killed=0
while true; do
  if ((failover == 1 && killed == 0 && SECONDS - start >= 5)); then
    old=$(master_port)
    if [[ -n $old ]]; then
      echo "demo: killing the master's redis-server on :$old"
      t0=$(date +%s%N)
      pkill -9 -f "redis-server 127.0.0.1:$old" || pkill -9 -f "port $old" || true
      while true; do
        new=$(master_port)
        if [[ -n $new && $new != "$old" ]]; then
          echo "demo: new master :$new registered in Consul after $((($(date +%s%N) - t0) / 1000000)) ms"
          break
        fi
        sleep 0.005
      done
      killed=1
    fi
  fi
  clear 2>/dev/null || true
  date +%T
  status
  sleep 1
done
