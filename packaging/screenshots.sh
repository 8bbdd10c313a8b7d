#!/usr/bin/env bash
# Regenerates the README screenshots on the offscreen platform with a 1366x768 screen (no display
# needed): the main window during and after a "Try it" run (overview charts, per-endpoint charts, the
# end-of-run summary), and charts rendered from a history exported by sluice-cli.
# Usage: packaging/screenshots.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
out="$root/resources/screenshots"
mkdir -p "$out"
export QT_QPA_PLATFORM="offscreen:configfile=$root/tests/ui/screens/1366x768.json"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A throwaway settings/data location, so the pictures never show the developer's recent files.
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

timeout 120 "$build/bin/sluice" --try-it --screenshot "$out/running.png" --screenshot-after 7 --tab charts
timeout 120 "$build/bin/sluice" --try-it --screenshot "$out/finished.png" --tab summary
timeout 120 "$build/bin/sluice" --try-it --screenshot "$out/per-endpoint.png" --tab charts --chart-view per-endpoint
timeout 120 "$build/bin/sluice-cli" run --simulate --sim-rps 120 --quiet \
    --project "$root/resources/examples/demo-project.json" --requests "$root/resources/examples/demo.jsonl" \
    --out "$work/results.jsonl" --history "$work/history.csv" || true
timeout 60 "$build/bin/sluice" --render-chart "$work/history.csv" --out "$out/chart.png" --size 1400x900
echo "screenshots in $out"
