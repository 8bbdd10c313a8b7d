#!/usr/bin/env bash
# smoke.sh: a few seconds of end-to-end throughput (read JSONL -> HTTP -> parse -> write JSONL)
# against `sluice-cli simulate` on 127.0.0.1 with no latency, in ctest's default run (label
# smoke-bench). The floor is loose on purpose: it catches a 10x regression, not noise from other
# work on a shared machine. Prints `name value unit ratio` lines and PASS/FAIL; exit 1 on FAIL
# (too slow, or a line without exactly one record), 2 when it could not run.
set -euo pipefail
export LC_ALL=C
bench_name=smoke-bench
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

bin_dir="$script_dir/../../build/bin"
lines=4000
floor=300 # req/s; the 2-core machine of the README does 3,000-5,000 here
keep=0
while (($# > 0)); do
    case $1 in
        --bin) bin_dir=$2; shift ;;
        --lines) lines=$2; shift ;;
        --floor) floor=$2; shift ;;
        --keep) keep=1 ;;
        *) die "unknown argument: $1 (--bin DIR, --lines N, --floor REQ_PER_S, --keep)" ;;
    esac
    shift
done
find_cli 0
require_tools awk sed timeout mktemp python3
init_work

launch_sim "$work/sim.log" 120 0 || die "the simulator did not start: $(cat "$work/sim.log")"
awk -v n="$lines" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"custom_id\":\"r%d\",\"input\":\"smoke request %d\"}\n", i, i }' >"$work/in.jsonl"
cat >"$work/project.json" <<JSON
{"endpoints": [{"name": "sim", "url": "http://127.0.0.1:$SIM_PORT/v1/chat/completions", "max_in_flight": 48}],
 "limits": {"rps": 0}}
JSON
rc=0
timeout -k 5 60 "$cli" run --project "$work/project.json" --requests "$work/in.jsonl" --out "$work/out.jsonl" \
    --errors "$work/errors.jsonl" --summary "$work/summary.json" --quiet >/dev/null 2>"$work/run.log" || rc=$?
read -r elapsed ok failed < <(python3 -c 'import json, sys
try:
    s = json.load(open(sys.argv[1]))
    print(s.get("elapsed_s", 0), s.get("succeeded", 0), s.get("failed", 0))
except Exception:
    print("0 0 0")' "$work/summary.json")
records=$(python3 -c 'import json, sys
ids = set(); n = 0
for path in sys.argv[1:]:
    try:
        for raw in open(path, "rb"):
            ids.add(json.loads(raw)["custom_id"]); n += 1
    except FileNotFoundError:
        pass
print(len(ids) if len(ids) == n else -1)' "$work/out.jsonl" "$work/errors.jsonl")
rate=$(awk -v n="$records" -v t="$elapsed" 'BEGIN { if (t > 0 && n > 0) printf "%.0f", n / t; else print 0 }')
printf 'smoke_rate %s req/s %s\n' "$rate" "$(awk -v r="$rate" -v f="$floor" 'BEGIN { printf "%.2f", r / f }')"
printf '# sluice-cli exited %s: %s ok, %s failed, %s s, load %s\n' "$rc" "$ok" "$failed" "$elapsed" "$(cut -d' ' -f1-3 /proc/loadavg)"
if ((records != lines || ok != lines)); then
    printf 'FAIL smoke_records %s of %s lines have one record (%s ok); run log:\n' "$records" "$lines" "$ok"
    sed 's/^/#   /' "$work/run.log" | tail -n 20
    exit 1
fi
if ! awk -v r="$rate" -v f="$floor" 'BEGIN { exit !(r >= f) }'; then
    printf 'FAIL smoke_rate %s req/s is below the floor of %s req/s\n' "$rate" "$floor"
    exit 1
fi
printf 'PASS smoke_rate %s req/s >= %s req/s\n' "$rate" "$floor"
