#!/usr/bin/env bash
# load-1m.sh: a 1,000,000-line run with about 5 % injected faults. Is every line accounted for,
# and does memory stay flat?
#
# Generates a deterministic JSONL batch (four line formats plus about one invalid line in
# 10,000), starts two `sluice-cli simulate` servers on free 127.0.0.1 ports (no latency, about
# 5 % of the attempts answered 500 or reset), runs `sluice-cli run` at limits that do not bind,
# and samples the run's RSS, threads and open fds every second. Then it checks that every input
# line ends as exactly one record, with the right custom_id, across results and errors.
# It prints one figure per line, `name value unit`, then one PASS/FAIL line per check and a final
# verdict. Needs bash, awk, coreutils and python3 (standard library only). See tests/bench/README.md.
#
# Exit status: 0 when it ran and every line was accounted for exactly once (a missed memory
# target fails only with --strict), 1 when a line was lost, duplicated or misattributed or the
# run's exit status was wrong, 2 when the benchmark itself could not run.
set -euo pipefail
export LC_ALL=C

usage() {
    cat <<'EOF'
Usage: load-1m.sh [--lines N] [--bin DIR] [--timeout S] [--strict] [--keep]

  --lines N    input lines (default 1000000; e.g. 20000 for a smoke run)
  --bin DIR    directory holding sluice-cli (default: build/bin of this repository)
  --timeout S  hard bound on the run in seconds (default 1800)
  --strict     also exit 1 when a memory target is missed
  --keep       keep the working directory (input, outputs, logs) and print its path
EOF
}

die() {
    printf 'load-1m: %s\n' "$*" >&2
    exit 2
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir="$script_dir/../../build/bin"
lines=1000000
bound_s=1800
strict=0
keep=0
while (($# > 0)); do
    case $1 in
        --strict) strict=1 ;;
        --keep) keep=1 ;;
        --lines | --bin | --timeout)
            (($# >= 2)) || die "$1 needs a value"
            case $1 in
                --lines) lines=$2 ;;
                --bin) bin_dir=$2 ;;
                --timeout) bound_s=$2 ;;
            esac
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
    shift
done
if ! [[ $lines =~ ^[0-9]{1,9}$ ]] || ((10#$lines < 100)); then
    die "--lines must be an integer in [100, 999999999], got '$lines'"
fi
if ! [[ $bound_s =~ ^[0-9]{1,7}$ ]] || ((10#$bound_s < 10)); then
    die "--timeout must be an integer >= 10, got '$bound_s'"
fi
lines=$((10#$lines))
bound_s=$((10#$bound_s))
[[ -d $bin_dir ]] || die "no such directory: $bin_dir"
bin_dir=$(cd "$bin_dir" && pwd)
build_dir=$(dirname "$bin_dir")
cli="$bin_dir/sluice-cli"
[[ -x $cli ]] || die "$cli is missing or not executable (build it, or pass --bin DIR)"
for tool in awk sed timeout mktemp python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

# ---- parameters -------------------------------------------------------------------------
bad_every=9973 # every 9973rd line is invalid JSON (an invalid_input error record)
# Faults: endpoint a answers 3 % of attempts with 500 and resets 2 %; endpoint b answers 5 % with
# 500. Weights 1:1, so about 5 % of all attempts fail and are retried.
sim_a_flags=(--error-rate 0.03 --reset-rate 0.02)
sim_b_flags=(--error-rate 0.05)
rss_target_b_per_line=24 # RSS growth over the second half, bytes per line finished: the duplicate-id set
                        # (IdSet) keeps 12 bytes per id in a table at most 80 % full, grown by half: 15-22.5

# ---- process and file housekeeping -------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/load-1m.XXXXXX")
pids=()
sim_pids=()
sim_tags=()

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local p i
    trap - EXIT INT TERM
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if ((keep)); then
        printf '# kept %s\n' "$work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# child_of PID: the first child process of PID (the command `timeout` runs), waiting up to 5 s.
child_of() {
    local i c
    for ((i = 0; i < 50; i++)); do
        c=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
        c=${c%% *}
        if [[ -n $c ]]; then
            printf '%s' "$c"
            return 0
        fi
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

forget_pid() {
    local keep_pids=() p
    for p in "${pids[@]}"; do
        if [[ $p != "$1" ]]; then
            keep_pids+=("$p")
        fi
    done
    pids=("${keep_pids[@]}")
}

# start_sim TAG [SIMULATE ARGS...]: sets SIM_PORT; the server is bounded by the run's timeout.
start_sim() {
    local tag=$1 log pid i
    shift
    log="$work/$tag.sim.log"
    : >"$log"
    timeout -k 5 $((bound_s + 120)) "$cli" simulate --port 0 --latency-ms 0 --jitter-ms 0 "$@" \
        >/dev/null 2>"$log" &
    pid=$!
    pids+=("$pid")
    sim_pids+=("$pid")
    sim_tags+=("$tag")
    SIM_PORT=
    for ((i = 0; i < 100; i++)); do
        SIM_PORT=$(sed -n 's|^Simulator listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
        [[ -z $SIM_PORT ]] || return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    die "simulator $tag did not start: $(cat "$log")"
}

# stop_sims: SIGTERM to every simulator (timeout passes it on) and their closing tallies.
stop_sims() {
    local i
    for i in "${!sim_pids[@]}"; do
        kill -TERM "${sim_pids[$i]}" 2>/dev/null || true
        wait "${sim_pids[$i]}" 2>/dev/null || true
        forget_pid "${sim_pids[$i]}"
        printf '# simulator %s: %s\n' "${sim_tags[$i]}" \
            "$(grep -h '^Simulator served' "$work/${sim_tags[$i]}.sim.log" || echo 'printed no tally')"
    done
    sim_pids=()
}

# status_field PID NAME: a number from /proc/PID/status (kB for Vm* fields), or empty.
status_field() {
    awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status" 2>/dev/null || true
}

# ---- input -------------------------------------------------------------------------------
# Line i (1-based): invalid JSON when i % bad_every == 0; otherwise by i % 4: OpenAI Batch and
# Anthropic batch lines carry custom_id "r<i>", chat-body and prompt lines have none (so Sluice
# names them "line-<i>"). The checker below derives each line's expected id from the same rule.
input="$work/requests.jsonl"
t0=$(date +%s.%N)
awk -v n="$lines" -v bad="$bad_every" 'BEGIN {
    for (i = 1; i <= n; i++) {
        if (i % bad == 0) { printf "{\"input\": \"broken line %d\"\n", i; continue }
        text = sprintf("Request %d: summarise item %d of batch %d in %d words.", i, (i * 7919) % 100003, int(i / 1000), 5 + i % 40)
        k = i % 4
        if (k == 0)
            printf "{\"custom_id\":\"r%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":32}}\n", i, text
        else if (k == 1)
            printf "{\"custom_id\":\"r%d\",\"params\":{\"model\":\"claude-3-5-haiku-latest\",\"max_tokens\":32,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}}\n", i, text
        else if (k == 2)
            printf "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"temperature\":0.2,\"metadata\":{\"batch\":%d}}\n", text, int(i / 1000)
        else
            printf "{\"input\":\"%s\"}\n", text
    }
}' >"$input"
gen_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
input_mb=$(awk -v b="$(stat -c %s "$input")" 'BEGIN { printf "%.0f", b / 1048576 }')

# ---- servers, project, run ---------------------------------------------------------------
start_sim a "${sim_a_flags[@]}"
port_a=$SIM_PORT
start_sim b "${sim_b_flags[@]}"
port_b=$SIM_PORT
cat >"$work/project.json" <<EOF
{"endpoints":[
 {"name":"a","url":"http://127.0.0.1:$port_a/v1/chat/completions","weight":1,"rpm":600000,"max_in_flight":64,"timeout_s":30},
 {"name":"b","url":"http://127.0.0.1:$port_b/v1/messages","weight":1,"rpm":600000,"max_in_flight":64,"timeout_s":30}],
 "limits":{"max_attempts":5}}
EOF

printf '# load-1m: %s lines (%s MB, generated in %s s), 2 endpoints (a: 3 %% 500s + 2 %% resets, b: 5 %% 500s), no latency, bin=%s\n' \
    "$lines" "$input_mb" "$gen_s" "$bin_dir"
samples="$build_dir/load-1m-samples-$(date +%Y%m%d-%H%M%S).csv" # one per run, never overwritten
printf 'elapsed_s,rss_kb,hwm_kb,threads,fds,done\n' >"$samples"
run_log="$work/run.log"
t_start=$(date +%s.%N)
timeout -k 10 "$bound_s" "$cli" run --project "$work/project.json" --requests "$input" \
    --out "$work/results.jsonl" --errors "$work/errors.jsonl" --summary "$work/summary.json" \
    --history "$work/history.csv" --progress-interval 1 >"$work/run.out" 2>"$run_log" &
run_tpid=$!
pids+=("$run_tpid")
run_pid=$(child_of "$run_tpid") || die "sluice-cli run did not start: $(cat "$run_log")"

# Sample once a second until the run ends: RSS, high-water mark, threads, fds, lines done.
while kill -0 "$run_pid" 2>/dev/null; do
    rss=$(status_field "$run_pid" VmRSS)
    hwm=$(status_field "$run_pid" VmHWM)
    thr=$(status_field "$run_pid" Threads)
    fds=$(find "/proc/$run_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    done_n=$(sed -n 's|^\[[^]]*\] [0-9.]*% \([0-9,]*\)/.*|\1|p' "$run_log" | tail -n 1 | tr -d ,)
    if [[ -n $rss && -n $hwm ]]; then
        printf '%s,%s,%s,%s,%s,%s\n' "$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" \
            "$rss" "$hwm" "${thr:-0}" "$fds" "${done_n:-0}" >>"$samples"
    fi
    sleep 1
done
run_rc=0
wait "$run_tpid" || run_rc=$?
forget_pid "$run_tpid"
wall_s=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if ((run_rc == 124 || run_rc == 137)); then
    printf '# sluice-cli run timed out after %s s\n' "$bound_s"
fi
printf '# sluice-cli run exited %s after %s s; its summary:\n' "$run_rc" "$wall_s"
sed -n '/^Sluice run/,$p' "$run_log" | sed 's/^/#   /'
stop_sims

# ---- checks ------------------------------------------------------------------------------
# One pass over results and errors: every record is JSON, names a line in 1..N and that line's
# expected custom_id; every line has exactly one record.
check=$(python3 - "$lines" "$bad_every" "$work/results.jsonl" "$work/errors.jsonl" <<'PY'
import json, sys
n, bad = int(sys.argv[1]), int(sys.argv[2])
seen = bytearray(n + 1)
dups = wrong_id = unparsable = out_of_range = results = errors = invalid = 0
for path, is_error in ((sys.argv[3], False), (sys.argv[4], True)):
    try:
        f = open(path, 'rb')
    except FileNotFoundError:
        continue
    with f:
        for raw in f:
            try:
                rec = json.loads(raw)
                line = rec['line']
                cid = rec['custom_id']
            except Exception:
                unparsable += 1
                continue
            if not isinstance(line, int) or not 1 <= line <= n:
                out_of_range += 1
                continue
            want = 'r%d' % line if line % bad != 0 and line % 4 in (0, 1) else 'line-%d' % line
            if cid != want:
                wrong_id += 1
            if seen[line]:
                dups += 1
            else:
                seen[line] = 1
            if is_error:
                errors += 1
                if rec.get('error_class') == 'invalid_input':
                    invalid += 1
            else:
                results += 1
accounted = sum(seen)
print(accounted, n - accounted, dups, wrong_id, unparsable + out_of_range, results, errors, invalid)
PY
) || die "the record check failed to run"
read -r accounted missing dups wrong_id bad_records results errors invalid <<<"$check"
expected_invalid=$((lines / bad_every))

# Memory: peak, and growth over the second half of the lines (from the first sample with at
# least half the lines done to the last sample), in MB and bytes per line finished meanwhile.
read -r peak_rss_mb rss_half_mb rss_last_mb growth_mb growth_b_line thr_max fds_max <<<"$(awk -F, -v n="$lines" '
    NR == 1 { next }
    { rows++; hwm = $3; if ($4 > thr) thr = $4; if ($5 > fds) fds = $5
      if (!half && $6 >= n / 2) { half = 1; r0 = $2; d0 = $6 }
      r1 = $2; d1 = $6 }
    END {
        if (!rows) { print "NA NA NA NA NA NA NA"; exit }
        if (!half || d1 <= d0) { printf "%.1f NA %.1f NA NA %d %d\n", hwm / 1024, r1 / 1024, thr, fds; exit }
        printf "%.1f %.1f %.1f %.1f %.1f %d %d\n", hwm / 1024, r0 / 1024, r1 / 1024, (r1 - r0) / 1024,
            (r1 - r0) * 1024 / (d1 - d0), thr, fds
    }' "$samples")"

# summary KEY: a top-level value of the run's --summary JSON, or NA.
summary() {
    python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], "NA"))
except Exception:
    print("NA")' "$work/summary.json" "$1"
}
elapsed=$(summary elapsed_s)
rate=$(awk -v n="$accounted" -v e="$elapsed" 'BEGIN { if (e == "NA" || e + 0 == 0) print "NA"; else printf "%.0f", n / e }')

printf 'load1m_lines %s lines\n' "$lines"
printf 'load1m_elapsed %s s\n' "$elapsed"
printf 'load1m_rate %s req/s\n' "$rate"
printf 'load1m_attempts %s req\n' "$(summary attempts)"
printf 'load1m_retries %s req\n' "$(summary retries)"
printf 'load1m_succeeded %s lines\n' "$results"
printf 'load1m_failed %s lines\n' "$errors"
printf 'load1m_invalid_input %s lines\n' "$invalid"
printf 'load1m_lines_accounted %s lines\n' "$accounted"
printf 'load1m_missing %s lines\n' "$missing"
printf 'load1m_duplicates %s\n' "$dups"
printf 'load1m_wrong_id %s\n' "$wrong_id"
printf 'load1m_bad_records %s\n' "$bad_records"
printf 'load1m_exit_status %s\n' "$run_rc"
printf 'load1m_peak_rss %s MB\n' "$peak_rss_mb"
printf 'load1m_rss_at_half %s MB\n' "$rss_half_mb"
printf 'load1m_rss_at_end %s MB\n' "$rss_last_mb"
printf 'load1m_rss_growth_last_half %s MB\n' "$growth_mb"
printf 'load1m_rss_growth_per_line %s B/line\n' "$growth_b_line"
printf 'load1m_threads_max %s\n' "$thr_max"
printf 'load1m_fds_max %s\n' "$fds_max"
printf '# samples: %s\n' "$samples"

correctness_fail=0
memory_fail=0
verdict() { # verdict KIND NAME OK DETAIL
    if (($3)); then
        printf 'PASS %s %s\n' "$2" "$4"
    else
        printf 'FAIL %s %s\n' "$2" "$4"
        if [[ $1 == memory ]]; then memory_fail=1; else correctness_fail=1; fi
    fi
}
verdict lines accounted $((accounted == lines && missing == 0)) "$accounted of $lines lines have a record"
verdict lines duplicates $((dups == 0)) "$dups lines with more than one record"
verdict lines custom_id $((wrong_id == 0 && bad_records == 0)) "$wrong_id records with a wrong custom_id, $bad_records unreadable or out of range"
verdict lines invalid_input $((invalid == expected_invalid)) "$invalid invalid_input records (expected $expected_invalid)"
# Exit status 1 when some lines ended in the errors file (the invalid ones at least), else 0.
expected_rc=$((errors > 0 ? 1 : 0))
verdict lines exit_status $((run_rc == expected_rc)) "sluice-cli run exited $run_rc (expected $expected_rc)"
memory_ok=0
if [[ $growth_b_line != NA ]] && awk -v g="$growth_b_line" -v t="$rss_target_b_per_line" 'BEGIN { exit !(g <= t) }'; then
    memory_ok=1
fi
if [[ $growth_b_line == NA ]]; then
    printf 'SKIP rss_flat the run was too short to sample its second half\n'
else
    verdict memory rss_flat "$memory_ok" "RSS grew $growth_mb MB over the second half, $growth_b_line B per line (target <= $rss_target_b_per_line)"
fi

if ((correctness_fail)); then
    printf 'FAIL load-1m: lines lost, duplicated or misattributed, or a wrong exit status\n'
    exit 1
fi
if ((memory_fail)); then
    printf 'FAIL load-1m: every line accounted for, memory not flat\n'
    if ((strict)); then
        exit 1
    fi
    exit 0
fi
if [[ $growth_b_line == NA ]]; then
    printf 'PASS load-1m: every line accounted for (memory not measured: too short a run)\n'
else
    printf 'PASS load-1m: every line accounted for, memory flat\n'
fi
exit 0
