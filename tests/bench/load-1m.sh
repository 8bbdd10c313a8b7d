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
bench_name=load-1m # prefix of messages, the work directory and the samples CSV
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

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
find_cli 0
require_tools awk sed timeout mktemp python3

# ---- parameters -------------------------------------------------------------------------
bad_every=9973 # every 9973rd line is invalid JSON (an invalid_input error record)
# Faults: endpoint a answers 3 % of attempts with 500 and resets 2 %; endpoint b answers 5 % with
# 500. Weights 1:1, so about 5 % of all attempts fail and are retried.
sim_a_flags=(--error-rate 0.03 --reset-rate 0.02)
sim_b_flags=(--error-rate 0.05)
rss_target_b_per_line=24 # RSS growth over the second half, bytes per line finished: the duplicate-id set
                        # (IdSet) keeps 12 bytes per id in a table at most 80 % full, grown by half: 15-22.5

# ---- process and file housekeeping -------------------------------------------------------
init_work # $work, and traps that stop everything started here on exit (lib.sh)
sim_pids=()
sim_tags=()

# start_sim TAG [SIMULATE ARGS...]: sets SIM_PORT; the server is bounded by the run's timeout.
start_sim() {
    local tag=$1 log="$work/$1.sim.log"
    shift
    launch_sim "$log" $((bound_s + 120)) 0 --latency-ms 0 --jitter-ms 0 "$@" ||
        die "simulator $tag did not start: $(cat "$log")"
    sim_pids+=("$SIM_TPID")
    sim_tags+=("$tag")
}

# stop_sims: SIGTERM to every simulator (timeout passes it on) and their closing tallies.
stop_sims() {
    local i
    for i in "${!sim_pids[@]}"; do
        stop_pid "${sim_pids[$i]}"
        printf '# simulator %s: %s\n' "${sim_tags[$i]}" "$(sim_tally "$work/${sim_tags[$i]}.sim.log")"
    done
    sim_pids=()
}

# ---- input -------------------------------------------------------------------------------
# Four line formats and the invalid lines: see make_input in lib.sh.
input="$work/requests.jsonl"
t0=$(date +%s.%N)
make_input "$input" "$lines" "$bad_every"
gen_s=$(seconds_since "$t0")
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
new_samples_csv elapsed_s,rss_kb,hwm_kb,threads,fds,done
start_run "$bound_s" 1

# Sample once a second until the run ends: RSS, high-water mark, threads, fds, lines done.
while kill -0 "$run_pid" 2>/dev/null; do
    rss=$(status_field "$run_pid" VmRSS)
    hwm=$(status_field "$run_pid" VmHWM)
    thr=$(status_field "$run_pid" Threads)
    fds=$(fd_count "$run_pid")
    if [[ -n $rss && -n $hwm ]]; then
        printf '%s,%s,%s,%s,%s,%s\n' "$(seconds_since "$t_start")" "$rss" "$hwm" "${thr:-0}" "$fds" \
            "$(lines_done)" >>"$samples"
    fi
    sleep 1
done
wait_run
if ((run_rc == 124 || run_rc == 137)); then
    printf '# sluice-cli run timed out after %s s\n' "$bound_s"
fi
print_run_summary
stop_sims

# ---- checks ------------------------------------------------------------------------------
# One pass over results and errors: every record is JSON, names a line in 1..N and that line's
# expected custom_id; every line has exactly one record.
check_records "$lines" "$bad_every"
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

elapsed=$(summary_field elapsed_s)
rate=$(awk -v n="$accounted" -v e="$elapsed" 'BEGIN { if (e == "NA" || e + 0 == 0) print "NA"; else printf "%.0f", n / e }')

print_figure load1m_lines "$lines" lines
print_figure load1m_elapsed "$elapsed" s
print_figure load1m_rate "$rate" req/s
print_figure load1m_attempts "$(summary_field attempts)" req
print_figure load1m_retries "$(summary_field retries)" req
print_figure load1m_succeeded "$results" lines
print_figure load1m_failed "$errors" lines
print_figure load1m_invalid_input "$invalid" lines
print_figure load1m_lines_accounted "$accounted" lines
print_figure load1m_missing "$missing" lines
print_figure load1m_duplicates "$dups"
print_figure load1m_wrong_id "$wrong_id"
print_figure load1m_bad_records "$bad_records"
print_figure load1m_exit_status "$run_rc"
print_figure load1m_peak_rss "$peak_rss_mb" MB
print_figure load1m_rss_at_half "$rss_half_mb" MB
print_figure load1m_rss_at_end "$rss_last_mb" MB
print_figure load1m_rss_growth_last_half "$growth_mb" MB
print_figure load1m_rss_growth_per_line "$growth_b_line" B/line
print_figure load1m_threads_max "$thr_max"
print_figure load1m_fds_max "$fds_max"
printf '# samples: %s\n' "$samples"

verdict lines accounted $((accounted == lines && missing == 0)) "$accounted of $lines lines have a record"
verdict lines duplicates $((dups == 0)) "$dups lines with more than one record"
verdict lines custom_id $((wrong_id == 0 && bad_records == 0)) "$wrong_id records with a wrong custom_id, $bad_records unreadable or out of range"
verdict lines invalid_input $((invalid == expected_invalid)) "$invalid invalid_input records (expected $expected_invalid)"
# Exit status 1 when some lines ended in the errors file (the invalid ones at least), else 0.
expected_rc=$((errors > 0 ? 1 : 0))
verdict lines exit_status $((run_rc == expected_rc)) "sluice-cli run exited $run_rc (expected $expected_rc)"
memory_ok=0
if at_most "$growth_b_line" "$rss_target_b_per_line"; then
    memory_ok=1
fi
if [[ $growth_b_line == NA ]]; then
    printf 'SKIP rss_flat the run was too short to sample its second half\n'
else
    verdict growth rss_flat "$memory_ok" "RSS grew $growth_mb MB over the second half, $growth_b_line B per line (target <= $rss_target_b_per_line)"
fi

passed='load-1m: every line accounted for, memory flat'
if [[ $growth_b_line == NA ]]; then
    passed='load-1m: every line accounted for (memory not measured: too short a run)'
fi
final_verdict 'load-1m: lines lost, duplicated or misattributed, or a wrong exit status' \
    'load-1m: every line accounted for, memory not flat' "$passed"
