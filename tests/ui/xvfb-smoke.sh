#!/usr/bin/env bash
# xvfb-smoke.sh SLUICE TST_WINDOWFIT ARTIFACTS: the desktop app on a real X server (Xvfb, the xcb
# platform) with a 1366x768 screen. (1) tst_windowfit's checks on xcb: the window fits, stays on the
# screen when relaunched, every pane can be reached, the splitter never loses a pane; it saves a
# picture of the screen to ARTIFACTS/xvfb-screen.png. (2) The app as shipped runs Try it to the end;
# the X server (xdotool) says where its window is, and the whole window must be on the screen.
set -euo pipefail
app=$1
fit=$2
artifacts=$3
for tool in Xvfb xdotool; do
    command -v "$tool" >/dev/null || { echo "xvfb-smoke: $tool is missing (packaging/install-deps.sh)" >&2; exit 1; }
done
mkdir -p "$artifacts"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A free display, chosen by Xvfb itself.
mkfifo "$work/display"
Xvfb -displayfd 3 -screen 0 1366x768x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
read -r -t 15 display <"$work/display" || { cat "$work/xvfb.log" >&2; echo "xvfb-smoke: Xvfb did not start" >&2; exit 1; }
export DISPLAY=":$display" QT_QPA_PLATFORM=xcb
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/config" XDG_DATA_HOME="$work/home/data"
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
echo "xvfb-smoke: Xvfb on $DISPLAY, 1366x768"

# (1) The window-fit checks on the real platform.
SLUICE_SCREEN_PNG="$artifacts/xvfb-screen.png" timeout -k 5 120 "$fit"

# (2) The shipped app: Try it to the end, its window placed and sized by the app on this screen.
timeout -k 5 100 "$app" --try-it --quit-when-done 2>"$work/app.log" &
app_pid=$!
pids+=("$app_pid")
window=$(timeout 30 xdotool search --sync --onlyvisible --name '^Sluice' | head -n 1) ||
    { cat "$work/app.log" >&2; echo "xvfb-smoke: no Sluice window appeared" >&2; exit 1; }
sleep 1 # let the window settle (it is fitted again once shown)
eval "$(xdotool getwindowgeometry --shell "$window")"
echo "xvfb-smoke: the app's window is ${WIDTH}x${HEIGHT} at ${X},${Y}"
if ((X < 0 || Y < 0 || X + WIDTH > 1366 || Y + HEIGHT > 768)); then
    echo "xvfb-smoke: the window does not fit the 1366x768 screen" >&2
    exit 1
fi
if ((WIDTH < 1000 || HEIGHT < 550)); then
    echo "xvfb-smoke: the window is smaller than the screen allows (${WIDTH}x${HEIGHT})" >&2
    exit 1
fi
rc=0
wait "$app_pid" || rc=$?
cat "$work/app.log" >&2
[[ $rc -eq 0 ]] || { echo "xvfb-smoke: sluice --try-it exited with $rc" >&2; exit 1; }
results=$(find "$HOME" -name 'demo-results.jsonl' | head -n 1)
lines=$(wc -l <"$results")
[[ $lines -eq 2000 ]] || { echo "xvfb-smoke: $lines results, expected 2000" >&2; exit 1; }
echo "xvfb-smoke: ok (window fits, every pane reachable, Try it 2,000 of 2,000 lines)"
