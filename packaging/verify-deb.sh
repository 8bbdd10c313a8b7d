#!/usr/bin/env bash
# Installs the Sluice .deb into a fresh Debian 12 (bookworm) root and checks that apt resolves its
# runtime dependencies and that both binaries run there: sluice-cli --version, a simulated run of
# the demo batch (exit 0), sluice --version and sluice --render-chart under QT_QPA_PLATFORM=offscreen,
# the shared libraries of the Qt plugins loaded at run time, the CA bundle HTTPS endpoints need, and
# the desktop entry, icon and AppStream metainfo landing under /usr/share.
#
# Usage: sudo packaging/verify-deb.sh build/sluice_0.1.0_amd64.deb [ROOT]   (ROOT: /tmp/deb12-root)
#
# Needs root (debootstrap, chroot, mount) and network access to http://deb.debian.org (or $MIRROR).
# The root is created with `debootstrap --variant=minbase` on first use and kept for the next run;
# a sluice installed by an earlier run is purged first (with --autoremove). The package count is exact
# on a fresh root only: autoremove keeps what minbase's own packages recommend (apt: ca-certificates).
# Only /proc is mounted inside the root, and it is unmounted on exit, also on failure or Ctrl-C.
# Every step is bounded by `timeout`. Exit status 0 when every check passed, 1 otherwise.
set -euo pipefail

deb="${1:?usage: $0 PACKAGE.deb [ROOT]}"
root="${2:-/tmp/deb12-root}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
here="$(cd "$(dirname "$0")/.." && pwd)"
demo="$here/resources/examples/demo.jsonl"

[ "$(id -u)" -eq 0 ] || { echo "verify-deb: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
[ -f "$deb" ] || { echo "verify-deb: no such file: $deb" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "verify-deb: install debootstrap first" >&2; exit 2; }
case "$(realpath -m "$root")" in /|/usr|/usr/*|/etc|/etc/*) echo "verify-deb: refusing ROOT=$root" >&2; exit 2 ;; esac

cleanup() {
    if mountpoint -q "$root/proc" 2>/dev/null; then umount "$root/proc" || umount -l "$root/proc"; fi
}
trap cleanup EXIT INT TERM

if [ ! -x "$root/usr/bin/apt-get" ]; then
    echo "== debootstrap bookworm into $root"
    timeout 1200 debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

if in_root dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q 'install ok installed'; then
    echo "== purging the sluice left by an earlier run"
    in_root timeout 600 apt-get purge -y -q --autoremove sluice >/dev/null 2>&1
fi

name="$(basename "$deb")"
cp "$deb" "$root/tmp/$name"
cp "$demo" "$root/tmp/demo.jsonl"
rm -rf "$root/tmp/sluice-check" "$root/tmp/apt-install.log" && mkdir -p "$root/tmp/sluice-check/run"
chmod 700 "$root/tmp/sluice-check/run" # XDG_RUNTIME_DIR for the GUI

echo "== apt-get update"
in_root timeout 600 apt-get update -q >/dev/null
before="$(in_root dpkg-query -W -f='${Package}\n' | wc -l)"
echo "== apt-get install /tmp/$name"
# --no-install-recommends: the Depends line alone has to be enough.
in_root timeout 1200 apt-get install -y -q --no-install-recommends "/tmp/$name" > "$root/tmp/apt-install.log" 2>&1 \
    || { tail -n 20 "$root/tmp/apt-install.log"; echo "FAIL  apt-get install"; exit 1; }
grep -E 'newly installed|need to get|disk space' "$root/tmp/apt-install.log" | sed 's/^/    /' 
after="$(in_root dpkg-query -W -f='${Package}\n' | wc -l)"
echo "packages: $before before, $after after: $((after - before)) installed (sluice and its dependencies)"
echo "sluice Installed-Size: $(in_root dpkg-query -W -f='${Installed-Size}' sluice) KiB; root now $(du -sm --exclude=proc "$root" | cut -f1) MiB"

failed=0
check() { # check NAME EXPECTED_EXIT COMMAND...
    local what="$1" want="$2" rc=0 out
    shift 2
    out="$(in_root timeout 120 "$@" 2>&1)" || rc=$?
    printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 4 | sed 's/^/    /'
    if [ "$rc" -eq "$want" ]; then echo "ok    $what (exit $rc)"; else echo "FAIL  $what (exit $rc, want $want)"; failed=1; fi
}
w=/tmp/sluice-check
check "sluice-cli --version" 0 sluice-cli --version
check "sluice-cli run --simulate demo.jsonl" 0 sluice-cli run --simulate --quiet --requests /tmp/demo.jsonl \
    --out $w/results.jsonl --history $w/history.csv --summary $w/summary.json
check "sluice --version (offscreen)" 0 env QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=$w/run sluice --version
check "sluice --render-chart (offscreen)" 0 env QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=$w/run \
    sluice --render-chart $w/history.csv --out $w/chart.png --size 800x600
if [ -s "$root$w/chart.png" ]; then echo "ok    chart.png written ($(stat -c %s "$root$w/chart.png") bytes)"
else echo "FAIL  chart.png missing"; failed=1; fi
results="$(wc -l < "$root$w/results.jsonl" 2>/dev/null || echo 0)"
echo "      results.jsonl: $results lines (demo.jsonl: $(wc -l < "$demo"))"
# Qt loads the platform and image plugins at run time: none of them may lack a shared library.
qt=/usr/lib/x86_64-linux-gnu/qt6/plugins
for f in /usr/bin/sluice /usr/bin/sluice-cli $qt/platforms/libqxcb.so $qt/platforms/libqoffscreen.so \
         $qt/imageformats/libqsvg.so $qt/tls/libqopensslbackend.so; do
    [ -e "$root$f" ] || { echo "FAIL  $f missing"; failed=1; continue; }
    if in_root ldd "$f" | grep 'not found'; then echo "FAIL  $f: unresolved libraries"; failed=1
    else echo "ok    ldd $f"; fi
done
for f in /etc/ssl/certs/ca-certificates.crt /usr/share/applications/sluice.desktop /usr/share/icons/hicolor/scalable/apps/sluice.svg \
         /usr/share/metainfo/io.github.sluice.Sluice.metainfo.xml; do
    if [ -s "$root$f" ]; then echo "ok    $f"; else echo "FAIL  $f missing"; failed=1; fi
done

[ "$failed" -eq 0 ] && echo "verify-deb: all checks passed in $root" || echo "verify-deb: some checks FAILED"
exit "$failed"
