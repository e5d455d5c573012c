#!/usr/bin/env bash
# Builds the Debian package of resec into build-pkg/ (or the directory given):
# the tested build type (RelWithDebInfo: -O2, the configuration every test run
# uses; CPack strips the debug info from the packaged binary) without tests,
# then `cpack -G DEB`. Prints the .deb's path.
#
#   ./scripts/package.sh              -> build-pkg/resec_<version>_<arch>.deb
#   ./scripts/package.sh /tmp/pkg     -> /tmp/pkg/resec_<version>_<arch>.deb
#
# Needs the build dependencies plus help2man (man page) and dpkg-dev
# (dpkg-shlibdeps computes the runtime dependencies): scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-pkg}
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESEC_BUILD_TESTS=OFF -DRESEC_WERROR=ON >/dev/null
ninja -C "$dir" -j"${JOBS:-2}" >&2
(cd "$dir" && rm -f ./*.deb && cpack -G DEB >&2)
deb=$(ls "$dir"/*.deb)
dpkg-deb --info "$deb" >&2
dpkg-deb --contents "$deb" >&2
echo "$deb"
