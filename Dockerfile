# resec container image: a Debian bookworm build, a bookworm-slim runtime.
#
#   docker build -t resec .
#   docker run --rm -e REDIS_ADDR=redis:6379 -e CONSUL_HTTP_ADDR=consul:8500 resec
#
# Every setting is an environment variable (`docker run --rm resec --help`).
# The image runs as an unprivileged user, starts the state server on :8080
# and reports container health from its /health (`resec health`).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libhiredis-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev \
      libssl-dev libsystemd-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include/ include/
COPY src/ src/
COPY packaging/ packaging/
COPY examples/systemd/ examples/systemd/
# RelWithDebInfo is the configuration the test suite runs; the binary is
# stripped below, so the image does not carry the debug info.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESEC_BUILD_TESTS=OFF \
 && ninja -C /build resec \
 && strip /build/resec \
 && /build/resec --version

FROM debian:bookworm-slim
# Only the shared libraries the binary links (what dpkg-shlibdeps lists for
# the .deb), plus CA certificates for CONSUL_HTTP_ADDR=https://...
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libcpp-httplib0.11 libspdlog1.10 libfmt9 libssl3 libsystemd0 \
      libprometheus-cpp-core1.0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 resec \
 && useradd --system --uid 10001 --gid resec --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin resec
COPY --from=build /build/resec /usr/bin/resec
USER 10001:10001
ENV STATE_SERVER=true \
    STATE_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
# /health is 200 once Redis can serve (master, or replica in sync): a replica
# still syncing is reported unhealthy, which deployment tools wait on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/bin/resec", "health"]
# The agent releases the lock and deregisters on SIGTERM within a few
# seconds; `docker stop` waits 10s by default.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/resec"]
