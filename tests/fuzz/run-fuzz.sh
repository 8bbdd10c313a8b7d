#!/usr/bin/env bash
# Builds the JSONL fuzz targets with clang + libFuzzer (ASan, UBSan) in a build directory of their own and
# fuzzes them for a bounded time: two thirds of SECONDS on the line parser, one third on the streaming
# reader.
#
#   tests/fuzz/run-fuzz.sh SECONDS [BUILD_DIR]      (BUILD_DIR defaults to build-fuzz at the top level)
#
# Exit status: 0 no finding; 1 a crash, sanitizer report, timeout or out-of-memory (the reproducer's path
# is printed); 2 usage or build error; 77 clang is not installed (ctest reports a skip).
# Environment: FUZZ_JOBS (build parallelism, default: all cores), FUZZ_TARGETS (default: both targets).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

usage() {
    echo "usage: $0 SECONDS [BUILD_DIR]" >&2
    exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
seconds="$1"
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 2 ] || usage
build="${2:-$root/build-fuzz}"
targets="${FUZZ_TARGETS:-fuzz_jsonlparser fuzz_jsonlreader}"
jobs="${FUZZ_JOBS:-$(nproc)}"

if ! command -v clang++ >/dev/null 2>&1; then
    echo "SKIP: clang++ not found; the fuzz targets need clang and libFuzzer" \
        "(packaging/install-deps.sh installs clang and libclang-rt-14-dev)"
    exit 77
fi
# clang without its libFuzzer runtime is a broken set-up, not a reason to skip.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }\n' \
    >"$probe/probe.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" 2>"$probe/err"; then
    cat "$probe/err" >&2
    echo "error: clang++ cannot link a libFuzzer target; install libclang-rt-14-dev" \
        "(packaging/install-deps.sh)" >&2
    exit 2
fi

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

start=$SECONDS
mkdir -p "$build"
if ! cmake -S "$here" -B "$build" "${generator[@]}" "${launcher[@]}" -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1; then
    cat "$build/configure.log" >&2
    echo "error: configuring the fuzz build failed" >&2
    exit 2
fi
# shellcheck disable=SC2086 # $targets is a list
if ! cmake --build "$build" --parallel "$jobs" --target $targets; then
    echo "error: building the fuzz targets failed" >&2
    exit 2
fi
echo "fuzz: built $targets in $((SECONDS - start)) s"

set -- $targets
count=$#
status=0
for target in "$@"; do
    # The parser gets the larger share: it sees every line; the reader adds buffer and file handling.
    if [ "$count" -gt 1 ] && [ "$target" = fuzz_jsonlparser ]; then
        budget=$((seconds * 2 / 3))
    elif [ "$count" -gt 1 ]; then
        budget=$((seconds - seconds * 2 / 3))
    else
        budget=$seconds
    fi
    [ "$budget" -ge 1 ] || budget=1
    corpus="$build/corpus/$target"   # grows here, never in the source tree
    artifacts="$build/artifacts"
    mkdir -p "$corpus" "$artifacts"
    log="$build/$target.log"
    echo "fuzz: $target for $budget s (corpus $corpus, log $log)"
    # libFuzzer exits 77 on a crash by default, which ctest would take for a skip: force 1.
    # The reader target rewrites a scratch file for every input: keep it off the disk when possible.
    scratch="${TMPDIR:-/tmp}"
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch=/dev/shm; fi
    if TMPDIR="$scratch" ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:allocator_may_return_null=0" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        "$build/$target" "$corpus" "$here/corpus" \
            -dict="$here/jsonl.dict" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 \
            -malloc_limit_mb=2048 -max_len=16384 -error_exitcode=1 -timeout_exitcode=1 \
            -artifact_prefix="$artifacts/$target-" -print_final_stats=1 >"$log" 2>&1; then
        # The last status line carries coverage and speed, e.g. "#123456 DONE cov: 812 ft: 3456 ...".
        summary="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
        execs="$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)"
        echo "fuzz: $target OK: $summary; ${execs:-?} execs/s"
    else
        status=1
        tail -n 60 "$log" >&2
        reproducer="$(grep -oE "(Test unit|artifact) written to [^ ]+" "$log" | tail -n 1 |
            sed -E 's/.* written to //' || true)"
        echo "FAIL: $target found a problem; reproducer: ${reproducer:-see $log}" >&2
        echo "      rerun it: $build/$target ${reproducer:-<reproducer>}" >&2
    fi
done
echo "fuzz: done in $((SECONDS - start)) s"
exit $status
