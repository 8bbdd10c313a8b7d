#!/usr/bin/env bash
# soak.sh [MINUTES]: one long `sluice-cli run` at a moderate rate against simulators that are
# killed (SIGKILL) and restarted on the same port every few minutes. Do memory, open file
# descriptors and threads stay flat, and does every line that has a record have exactly one?
#
# Generates a deterministic JSONL batch a little larger than MINUTES at the rate can send, starts
# two `sluice-cli simulate` servers on free 127.0.0.1 ports (20 ms + up to 30 ms latency, about
# 3 % of the attempts answered 500 or reset, each limited to 150 req/s), and runs one
# `sluice-cli run --rps 200` through them. Every --restart-every seconds one server (every third
# time both) is killed and started again on the same port after --down seconds. Every
# --interval seconds the run's RSS, open fds and threads go to a CSV in the build directory.
# After MINUTES the run is stopped with SIGINT (as Ctrl-C would); it must exit 130 after
# recording the requests in flight. Prints `name value unit` figures, PASS/FAIL per check and a
# verdict. Needs bash, awk, coreutils and python3 (standard library only). See
# tests/bench/README.md.
#
# Exit status: 0 when it ran and no line was lost, duplicated or misattributed (a missed
# growth target fails only with --strict), 1 otherwise, 2 when the benchmark could not run.
set -euo pipefail
export LC_ALL=C
bench_name=soak # prefix of messages, the work directory and the samples CSV
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
Usage: soak.sh [MINUTES] [--rps N] [--restart-every S] [--down S] [--interval S]
               [--bin DIR] [--strict] [--keep]

  MINUTES            how long the run goes before it is stopped with SIGINT (default 30)
  --rps N            the run's global limit in requests per second (default 200)
  --restart-every S  seconds between server kills (default 150)
  --down S           seconds a killed server stays down (default 5)
  --interval S       seconds between samples of RSS, fds and threads (default 10)
  --bin DIR          directory holding sluice-cli (default: build/bin of this repository)
  --strict           also exit 1 when a growth target is missed
  --keep             keep the working directory (input, outputs, logs) and print its path
EOF
}

bin_dir="$script_dir/../../build/bin"
minutes=30
rps=200
restart_every=150
down_s=5
interval=10
strict=0
keep=0
while (($# > 0)); do
    case $1 in
        --strict) strict=1 ;;
        --keep) keep=1 ;;
        --rps | --restart-every | --down | --interval | --bin)
            (($# >= 2)) || die "$1 needs a value"
            case $1 in
                --rps) rps=$2 ;;
                --restart-every) restart_every=$2 ;;
                --down) down_s=$2 ;;
                --interval) interval=$2 ;;
                --bin) bin_dir=$2 ;;
            esac
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            usage >&2
            die "unknown argument: $1"
            ;;
        *) minutes=$1 ;;
    esac
    shift
done
for pair in "MINUTES:$minutes:1" "--rps:$rps:1" "--restart-every:$restart_every:10" "--down:$down_s:1" \
    "--interval:$interval:1"; do
    IFS=: read -r name value min <<<"$pair"
    if ! [[ $value =~ ^[0-9]{1,6}$ ]] || ((10#$value < min)); then
        die "$name must be an integer >= $min, got '$value'"
    fi
done
minutes=$((10#$minutes))
rps=$((10#$rps))
restart_every=$((10#$restart_every))
down_s=$((10#$down_s))
interval=$((10#$interval))
find_cli 0
require_tools awk sed timeout mktemp python3

# ---- parameters -------------------------------------------------------------------------
duration_s=$((minutes * 60))
lines=$((duration_s * rps * 11 / 10)) # a little more than the run can send in MINUTES
bad_every=9973                        # every 9973rd line is invalid JSON (an invalid_input record)
sim_common=(--latency-ms 20 --jitter-ms 30 --rps 150 --burst 20)
sim_a_flags=(--error-rate 0.02 --reset-rate 0.01)
sim_b_flags=(--error-rate 0.03)
stop_grace_s=120 # after SIGINT the run must finish its requests in flight within this
# Growth targets over the second half of the run (least-squares slopes of the samples).
rss_target_b_per_line=24 # RSS: bytes per line finished; the duplicate-id set (IdSet) costs 15-22.5
fds_target_per_min=0.5
threads_target_per_min=0.1

# ---- process and file housekeeping -------------------------------------------------------
init_work # $work, and traps that stop everything started here on exit (lib.sh)

# now_s: seconds since the run started.
now_s() { seconds_since "$t_start"; }

# Simulators: index 0 = a, 1 = b. sim_tpid is the `timeout` wrapper (bounds the server if this
# script dies), sim_pid the server itself (what gets SIGKILLed), sim_port its fixed port.
sim_names=(a b)
sim_tpid=('' '')
sim_pid=('' '')
sim_port=(0 0)
sim_starts=(0 0)

# start_sim I: starts simulator I on sim_port[I] (0 = a free port, then remembered). A port left
# by a killed server can take a moment to bind again, so it tries for up to 10 s.
start_sim() {
    local i=$1 name=${sim_names[$1]} log try flags
    if ((i == 0)); then flags=("${sim_a_flags[@]}"); else flags=("${sim_b_flags[@]}"); fi
    for ((try = 0; try < 20; try++)); do
        sim_starts[i]=$((sim_starts[i] + 1))
        log="$work/sim-$name.${sim_starts[$i]}.log"
        if launch_sim "$log" $((duration_s + stop_grace_s + 300)) "${sim_port[$i]}" "${sim_common[@]}" "${flags[@]}"; then
            sim_tpid[i]=$SIM_TPID
            sim_pid[i]=$(child_of "$SIM_TPID") || die "simulator $name: no server process"
            sim_port[i]=$SIM_PORT
            return 0
        fi
        stop_pid "$SIM_TPID"
        if ((sim_port[i] == 0)); then
            break
        fi
        sleep 0.5
    done
    die "simulator $name did not start on port ${sim_port[$i]}: $(cat "$log")"
}

# kill_sim I: SIGKILL to the server itself (no clean shutdown); its timeout wrapper then exits.
kill_sim() {
    local i=$1
    kill -KILL "${sim_pid[$i]}" 2>/dev/null || true
    wait "${sim_tpid[$i]}" 2>/dev/null || true
    forget_pid "${sim_tpid[$i]}"
    sim_pid[i]=''
    sim_tpid[i]=''
}

# ---- input -------------------------------------------------------------------------------
# Four line formats and the invalid lines: see make_input in lib.sh.
input="$work/requests.jsonl"
make_input "$input" "$lines" "$bad_every"

# ---- servers, project, run ---------------------------------------------------------------
start_sim 0
start_sim 1
cat >"$work/project.json" <<EOF
{"endpoints":[
 {"name":"a","url":"http://127.0.0.1:${sim_port[0]}/v1/chat/completions","weight":1,"max_in_flight":32,"timeout_s":30},
 {"name":"b","url":"http://127.0.0.1:${sim_port[1]}/v1/messages","weight":1,"max_in_flight":32,"timeout_s":30}],
 "limits":{"rps":$rps,"max_attempts":8,"backoff_base_ms":250,"backoff_max_ms":8000}}
EOF
printf '# soak: %s min at --rps %s, %s lines, 2 endpoints (a: 2 %% 500s + 1 %% resets, b: 3 %% 500s; 150 req/s each, 20+30 ms), a server killed every %s s for %s s, bin=%s\n' \
    "$minutes" "$rps" "$lines" "$restart_every" "$down_s" "$bin_dir"

new_samples_csv elapsed_s,rss_kb,threads,fds,done,servers_up
start_run $((duration_s + stop_grace_s + 60)) 10

# ---- the soak loop: sample, kill and restart servers, stop after MINUTES -----------------
next_sample=0
next_kill=$restart_every
restarts=0
kills=0
down_until=0
down=()
restart_done=() # lines done at each kill, to tell whether the run went on afterwards
interrupted=0
stop_sent_at=''
stop_hung=0
while kill -0 "$run_pid" 2>/dev/null; do
    t=$(now_s)
    ts=${t%.*}
    if ((!interrupted && ts >= next_sample)); then
        rss=$(status_field "$run_pid" VmRSS)
        thr=$(status_field "$run_pid" Threads)
        fds=$(fd_count "$run_pid")
        if [[ -n $rss && -n $thr ]]; then
            printf '%s,%s,%s,%s,%s,%s\n' "$t" "$rss" "$thr" "$fds" "$(lines_done)" $((2 - ${#down[@]})) >>"$samples"
        fi
        next_sample=$((next_sample + interval))
    fi
    if ((!interrupted && ts >= duration_s)); then
        printf '# %s s: stopping the run with SIGINT\n' "$t"
        kill -INT "$run_pid" 2>/dev/null || true
        interrupted=1
        stop_sent_at=$ts
    fi
    if ((!interrupted && ${#down[@]} == 0 && ts >= next_kill)); then
        kills=$((kills + 1))
        if ((kills % 3 == 0)); then down=(0 1); else down=("$(((kills - 1) % 3))"); fi
        for i in "${down[@]}"; do
            kill_sim "$i"
        done
        restart_done+=("$(lines_done)")
        printf '# %s s: killed server(s) %s (SIGKILL), %s lines done\n' "$t" \
            "$(for i in "${down[@]}"; do printf '%s ' "${sim_names[$i]}"; done)" "$(lines_done)"
        down_until=$((ts + down_s))
        next_kill=$((next_kill + restart_every))
    fi
    if ((${#down[@]} > 0 && ts >= down_until)); then
        for i in "${down[@]}"; do
            start_sim "$i"
        done
        restarts=$((restarts + ${#down[@]}))
        down=()
    fi
    if [[ -n $stop_sent_at ]] && ((ts >= stop_sent_at + stop_grace_s)); then
        printf '# the run did not finish within %s s of SIGINT; sending a second SIGINT\n' "$stop_grace_s"
        kill -INT "$run_pid" 2>/dev/null || true
        stop_sent_at=''
        stop_hung=1
    fi
    sleep 1
done
wait_run
print_run_summary
for i in 0 1; do
    if [[ -n ${sim_tpid[$i]} ]]; then
        stop_pid "${sim_tpid[$i]}"
        printf '# simulator %s (start %s): %s\n' "${sim_names[$i]}" "${sim_starts[$i]}" \
            "$(sim_tally "$work/sim-${sim_names[$i]}.${sim_starts[$i]}.log")"
    fi
done

# ---- checks ------------------------------------------------------------------------------
# Every record is JSON, names a line in 1..N and that line's expected custom_id; no line has
# more than one record.
check_records "$lines" "$bad_every"

s_lines=$(summary_field lines)
s_succeeded=$(summary_field succeeded)
s_failed=$(summary_field failed)
s_not_started=$(summary_field not_started)
errors_by_class=$(python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1])).get("errors_by_class", {})
    print(" ".join("%s=%s" % kv for kv in sorted(d.items())) or "none")
except Exception:
    print("NA")' "$work/summary.json")

# Progress after each kill: the lines done at the next kill (or at the end) exceed those at this one.
survived=0
final_done=$((results + errors))
for ((k = 0; k < ${#restart_done[@]}; k++)); do
    next=${restart_done[$((k + 1))]:-$final_done}
    if ((next > restart_done[k])); then
        survived=$((survived + 1))
    fi
done

# series COLUMN SCALE: "first last max slope_per_min" over the samples. `first` is the first
# sample after a one-minute warm-up (the very first one is taken before the run has started);
# the slope is a least-squares fit over the second half (elapsed >= half the last sample's time).
series() {
    awk -F, -v c="$1" -v scale="$2" '
        NR == 1 { next }
        { rows++; t[rows] = $1; v[rows] = $c / scale; if (rows == 1 || v[rows] > max) max = v[rows]
          if (!warm && $1 >= 60) warm = rows }
        END {
            if (!rows) { print "NA NA NA NA"; exit }
            if (!warm) warm = 1
            half = t[rows] / 2
            for (r = 1; r <= rows; r++) if (t[r] >= half) { n++; sx += t[r]; sy += v[r]; sxx += t[r] * t[r]; sxy += t[r] * v[r] }
            d = n * sxx - sx * sx
            slope = (n >= 2 && d > 0) ? sprintf("%.3f", (n * sxy - sx * sy) / d * 60) : "NA"
            printf "%.1f %.1f %.1f %s\n", v[warm], v[rows], max, slope
        }' "$samples"
}
read -r rss_first rss_last rss_max rss_slope <<<"$(series 2 1024)"
read -r thr_first thr_last thr_max thr_slope <<<"$(series 3 1)"
read -r fds_first fds_last fds_max fds_slope <<<"$(series 4 1)"
# Lines finished per minute over the second half, to put the RSS slope per line.
lines_per_min=$(series 5 1 | awk '{ print ($4 == "NA") ? "NA" : sprintf("%.0f", $4) }')
rss_b_per_line=$(awk -v s="$rss_slope" -v l="$lines_per_min" 'BEGIN { if (s == "NA" || l == "NA" || l + 0 <= 0) print "NA"; else printf "%.1f", s * 1048576 / l }')
samples_n=$(($(wc -l <"$samples") - 1))

print_figure soak_minutes "$minutes" min
print_figure soak_samples "$samples_n"
print_figure soak_server_kills "$kills"
print_figure soak_server_restarts "$restarts"
print_figure soak_kills_survived "$survived"
print_figure soak_lines_read "$s_lines" lines
print_figure soak_succeeded "$results" lines
print_figure soak_failed "$errors" lines
print_figure soak_errors_by_class "$errors_by_class"
print_figure soak_not_started "$s_not_started" lines
print_figure soak_lines_accounted "$accounted" lines
print_figure soak_duplicates "$dups"
print_figure soak_wrong_id "$wrong_id"
print_figure soak_bad_records "$bad_records"
print_figure soak_exit_status "$run_rc"
print_figure soak_rate_second_half "$lines_per_min" lines/min
print_figure soak_rss_first "$rss_first" MB
print_figure soak_rss_last "$rss_last" MB
print_figure soak_rss_max "$rss_max" MB
print_figure soak_rss_slope "$rss_slope" MB/min
print_figure soak_rss_per_line "$rss_b_per_line" B/line
print_figure soak_fds_first "$fds_first"
print_figure soak_fds_last "$fds_last"
print_figure soak_fds_max "$fds_max"
print_figure soak_fds_slope "$fds_slope" fds/min
print_figure soak_threads_first "$thr_first"
print_figure soak_threads_last "$thr_last"
print_figure soak_threads_max "$thr_max"
print_figure soak_threads_slope "$thr_slope" threads/min
printf '# samples: %s\n' "$samples"

verdict lines duplicates $((dups == 0)) "$dups lines with more than one record"
verdict lines custom_id $((wrong_id == 0 && bad_records == 0)) "$wrong_id records with a wrong custom_id, $bad_records unreadable or out of range"
consistent=0
if [[ $s_succeeded == "$results" && $s_failed == "$errors" && $accounted == $((results + errors)) ]]; then
    consistent=1
fi
verdict lines records_match_summary "$consistent" "results $results / errors $errors on disk, summary $s_succeeded / $s_failed"
if ((interrupted)); then
    ok=$((run_rc == 130 && stop_hung == 0))
    verdict lines exit_status "$ok" "stopped with SIGINT after $minutes min: exited $run_rc (expected 130, within $stop_grace_s s)"
    # Every input line is either recorded or counted as not started.
    if [[ $s_not_started =~ ^[0-9]+$ ]]; then
        verdict lines not_started $((lines == accounted + s_not_started)) "$lines input lines = $accounted recorded + $s_not_started not started"
    else
        verdict lines not_started 0 "the summary has no not_started count"
    fi
else
    expected_rc=$((errors > 0 ? 1 : 0))
    verdict lines exit_status $((run_rc == expected_rc)) "input finished before $minutes min: exited $run_rc (expected $expected_rc)"
    verdict lines accounted $((accounted == lines)) "$accounted of $lines lines have a record"
fi
verdict lines restarts_survived $((survived == kills && kills > 0)) "the run went on after $survived of $kills server kills"
ok=0
if at_most "$rss_b_per_line" "$rss_target_b_per_line"; then ok=1; fi
verdict growth rss_flat "$ok" "RSS slope $rss_slope MB/min over the second half = $rss_b_per_line B per line finished (target <= $rss_target_b_per_line)"
ok=0
if at_most "$fds_slope" "$fds_target_per_min"; then ok=1; fi
verdict growth fds_flat "$ok" "open fds slope $fds_slope/min over the second half (target <= $fds_target_per_min)"
ok=0
if at_most "$thr_slope" "$threads_target_per_min"; then ok=1; fi
verdict growth threads_flat "$ok" "threads slope $thr_slope/min over the second half (target <= $threads_target_per_min)"

final_verdict 'soak: lines duplicated or misattributed, a wrong exit status, or the run did not survive a restart' \
    'soak: every recorded line exactly once; growth in memory, fds or threads' \
    'soak: every recorded line exactly once, no growth in memory, fds or threads'
