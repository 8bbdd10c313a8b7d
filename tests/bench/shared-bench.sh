#!/usr/bin/env bash
# shared-bench.sh: two `sluice-cli run` workers (--shard 1/2, 2/2) against one simulator limited to
# L req/s, with limits shared through a real redis-server, and the same without sharing (control).
# Then the cost of one lease: redis-benchmark running the lease script.
# Prints one `name value` line per figure. Needs redis-server, redis-benchmark, redis-cli, awk, python3.
# Usage: shared-bench.sh [--L N] [--seconds S] [--bin DIR]     (defaults: L 100, 20 s, build/bin)
set -euo pipefail
export LC_ALL=C
bench_name="shared-bench"
keep=0
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
L=100
seconds=20
bin_dir="$script_dir/../../build/bin"
while (($# > 0)); do
    case $1 in
        --L) L=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --bin) bin_dir=$2; shift ;;
        *) echo "usage: $0 [--L N] [--seconds S] [--bin DIR]" >&2; exit 2 ;;
    esac
    shift
done
find_cli 0
require_tools redis-server redis-benchmark redis-cli awk python3
init_work

rport=$(free_port)
timeout -k 5 600 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done

lines=$((L * seconds))
awk -v n="$lines" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"custom_id\":\"c%d\",\"input\":\"hello %d\"}\n", i, i }' \
    >"$work/requests.jsonl"

# scenario TAG SHARED(0|1): two workers on one fresh simulator; prints its figures.
scenario() {
    local tag=$1 shared=$2 port shared_json='' start end
    timeout -k 5 300 "$cli" simulate --port 0 --rps "$L" --latency-ms 50 --jitter-ms 50 --no-rate-headers \
        >"$work/$tag.sim.log" 2>&1 &
    local sim=$!
    pids+=("$sim")
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$tag.sim.log")
        [[ -n $port ]] && break
        sleep 0.05
    done
    if ((shared)); then
        shared_json=",\"shared\":{\"redis\":\"redis://127.0.0.1:$rport/0\",\"namespace\":\"bench-$tag\"}"
    fi
    printf '{"endpoints":[{"name":"sim","url":"http://127.0.0.1:%s/v1/chat/completions","rpm":%s,"max_in_flight":64}],"limits":{"max_attempts":20}%s}\n' \
        "$port" "$((L * 60))" "$shared_json" >"$work/$tag.project.json"
    start=$(date +%s.%N)
    local w1 w2
    timeout -k 5 300 "$cli" run --project "$work/$tag.project.json" --requests "$work/requests.jsonl" \
        --out "$work/$tag.1.jsonl" --errors "$work/$tag.1.errors.jsonl" --summary "$work/$tag.1.summary.json" --shard 1/2 --quiet >"$work/$tag.1.log" 2>&1 &
    w1=$!
    timeout -k 5 300 "$cli" run --project "$work/$tag.project.json" --requests "$work/requests.jsonl" \
        --out "$work/$tag.2.jsonl" --errors "$work/$tag.2.errors.jsonl" --summary "$work/$tag.2.summary.json" --shard 2/2 --quiet >"$work/$tag.2.log" 2>&1 &
    w2=$!
    wait "$w1" || true
    wait "$w2" || true
    end=$(date +%s.%N)
    kill -INT "$sim"
    wait "$sim" || true
    local tally ok total r429 wall
    tally=$(grep 'served' "$work/$tag.sim.log" | tail -1)
    total=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "served") print $(i + 1) }' <<<"$tally")
    ok=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "ok,") print $(i - 1) }' <<<"$tally")
    r429=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "429,") print $(i - 1) }' <<<"$tally")
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    local results
    results=$(cat "$work/$tag.1.jsonl" "$work/$tag.2.jsonl" | wc -l)
    echo "$tag.lines $lines"
    echo "$tag.results $results"
    echo "$tag.requests $total"
    echo "$tag.rate_limited $r429"
    awk -v t="$total" -v r="$r429" 'BEGIN { printf "%s.rate_limited_share %.2f%%\n", "'"$tag"'", 100 * r / (t > 0 ? t : 1) }'
    echo "$tag.wall_s $wall"
    awk -v ok="$ok" -v w="$wall" -v l="$L" 'BEGIN { printf "%s.goodput %.1f/s (%.0f%% of L=%d)\n", "'"$tag"'", ok / w, 100 * ok / w / l, l }'
    if ((shared)); then
        for w in 1 2; do
            printf '%s.worker%s %s\n' "$tag" "$w" "$(grep -A40 '"shared"' "$work/$tag.$w.summary.json" |
                grep -E '"(max_processes|leases|lease_denials|p50|p99|permits_[a-z]+|cooldowns_[a-z]+)"' |
                tr -d ' \n')"
        done
    fi
}

scenario shared 1
scenario control 0

# Lease cost: the lease script alone, never refused (a huge rate), 1 and 8 concurrent clients.
sha=$(redis-cli -p "$rport" SCRIPT LOAD "$(sed -n '/^const char LeaseLua\[\] = R"LUA(/,/^)LUA";/p' \
    "$script_dir/../../core/shared/sharedlimits.cpp" | sed '1d;$d')")
for c in 1 8; do
    redis-benchmark -p "$rport" -c "$c" -n 20000 -q EVALSHA "$sha" 4 b:req b:tok b:cooldown b:procs \
        1000000000 0 100 250 bench 2000 0 0 1 | tr '\r' '\n' | grep -v '^$' | tail -1 | sed "s/^/lease_script.c$c /"
done
