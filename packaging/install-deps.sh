#!/usr/bin/env bash
# Installs every Debian package Sluice's build, tests and benchmarks need.
# Idempotent: when everything is already present, apt is not touched.
set -euo pipefail

packages=(
    # build
    build-essential cmake ninja-build pkg-config git
    qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev qt6-charts-dev qt6-httpserver-dev
    # Qt6HttpServer's CMake config needs Qt6WebSockets, but Debian's qt6-httpserver-dev does not depend
    # on it (and libqt6websockets6-dev is only a virtual name, which dpkg-query never reports installed)
    qt6-websockets-dev
    nlohmann-json3-dev qtkeychain-qt6-dev libhiredis-dev
    # the executables' allocator (app/runtime): Qt's per-request objects cost 15-25 % less CPU than with glibc
    libmimalloc-dev
    # tests and GUI under offscreen / Xvfb
    qt6-qpa-plugins libqt6svg6 fonts-dejavu-core xvfb xauth redis-server
    # the Xvfb smoke test (tests/ui/xvfb-smoke.sh) asks the X server where the app put its window
    xdotool
    # the smoke benchmark (default ctest run) and the bench scripts read JSON with python3
    python3
    # the OS keychain test: a private D-Bus session with its own gnome-keyring
    dbus-bin gnome-keyring
    # benchmarks and profiling
    wrk nghttp2-client hyperfine nginx-light libnginx-mod-http-echo time linux-perf
    # formatting, fuzzing
    clang clang-format libclang-rt-14-dev
    # promtool (`promtool check metrics` on the gateway's /metrics, in tst_gateway and tst_callerqueue)
    prometheus
)
# The SDK test (tests/sdk) runs the official npm SDKs on Node: Debian's nodejs and npm, unless a node is
# already installed (another packaging of Node, e.g. one with npm built in, would conflict with Debian's npm).
if ! command -v node >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
