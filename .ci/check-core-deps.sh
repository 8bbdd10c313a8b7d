#!/usr/bin/env bash
# Fails when anything in core/ includes or links Qt Widgets, Gui or Charts: the engine is
# QtCore + QtNetwork only, so it runs headless and under the GUI alike.
# Usage: check-core-deps.sh [BUILD_DIR]   (with a build dir, also checks what sluice-cli links)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
status=0

pattern='#[[:space:]]*include[[:space:]]*[<"](Qt(Widgets|Gui|Charts|OpenGL|Quick)/|Q(Widget|Application|GuiApplication|MainWindow|Chart|ChartView|LineSeries|Painter|Pixmap|Image|Color|Font|Icon)\b)'
if hits=$(grep -rnE "$pattern" "$root/core"); then
    echo "core/ includes GUI headers:"
    echo "$hits"
    status=1
fi
if hits=$(grep -nE 'Qt6?::(Widgets|Gui|Charts)|Qt6(Widgets|Gui|Charts)' "$root/core/CMakeLists.txt"); then
    echo "core/CMakeLists.txt links GUI modules:"
    echo "$hits"
    status=1
fi
build="${1:-}"
if [ -n "$build" ]; then
    cli="$build/bin/sluice-cli"
    if [ ! -x "$cli" ]; then
        echo "no $cli to check"
        status=1
    elif ldd "$cli" | grep -E 'libQt6(Widgets|Gui|Charts)'; then
        echo "sluice-cli (core only) links GUI libraries"
        status=1
    fi
fi
[ $status -eq 0 ] && echo "core dependencies: QtCore + QtNetwork only"
exit $status
