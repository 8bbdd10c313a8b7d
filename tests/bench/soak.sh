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

die() {
    printf 'soak: %s\n' "$*" >&2
    exit 2
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
[[ -d $bin_dir ]] || die "no such directory: $bin_dir"
bin_dir=$(cd "$bin_dir" && pwd)
build_dir=$(dirname "$bin_dir")
cli="$bin_dir/sluice-cli"
[[ -x $cli ]] || die "$cli is missing or not executable (build it, or pass --bin DIR)"
for tool in awk sed timeout mktemp python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

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
work=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
pids=()

forget_pid() {
    local keep_pids=() p
    for p in "${pids[@]}"; do
        if [[ $p != "$1" ]]; then
            keep_pids+=("$p")
        fi
    done
    pids=("${keep_pids[@]}")
}

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

now_s() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

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
    local i=$1 name=${sim_names[$1]} log tpid port try k flags
    if ((i == 0)); then flags=("${sim_a_flags[@]}"); else flags=("${sim_b_flags[@]}"); fi
    for ((try = 0; try < 20; try++)); do
        sim_starts[i]=$((sim_starts[i] + 1))
        log="$work/sim-$name.${sim_starts[$i]}.log"
        : >"$log"
        timeout -k 5 $((duration_s + stop_grace_s + 300)) "$cli" simulate --port "${sim_port[$i]}" \
            "${sim_common[@]}" "${flags[@]}" >/dev/null 2>"$log" &
        tpid=$!
        pids+=("$tpid")
        for ((k = 0; k < 100; k++)); do
            port=$(sed -n 's|^Simulator listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
            if [[ -n $port ]]; then
                sim_tpid[i]=$tpid
                sim_pid[i]=$(child_of "$tpid") || die "simulator $name: no server process"
                sim_port[i]=$port
                return 0
            fi
            kill -0 "$tpid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$tpid" 2>/dev/null || true
        wait "$tpid" 2>/dev/null || true
        forget_pid "$tpid"
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

# status_field PID NAME: a number from /proc/PID/status (kB for Vm* fields), or empty.
status_field() {
    awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status" 2>/dev/null || true
}

# lines_done: lines finished so far, from the run's last progress line.
lines_done() {
    local d
    d=$(sed -n 's|^\[[^]]*\] [0-9.]*% \([0-9,]*\)/.*|\1|p' "$run_log" | tail -n 1 | tr -d ,)
    printf '%s' "${d:-0}"
}

# ---- input -------------------------------------------------------------------------------
# Line i (1-based): invalid JSON when i % bad_every == 0; otherwise by i % 4: OpenAI Batch and
# Anthropic batch lines carry custom_id "r<i>", chat-body and prompt lines have none (so Sluice
# names them "line-<i>"). The checker below derives each line's expected id from the same rule.
input="$work/requests.jsonl"
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

# ---- servers, project, run ---------------------------------------------------------------
t_start=$(date +%s.%N)
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

samples="$build_dir/soak-samples-$(date +%Y%m%d-%H%M%S).csv" # one per run, never overwritten
printf 'elapsed_s,rss_kb,threads,fds,done,servers_up\n' >"$samples"
run_log="$work/run.log"
t_start=$(date +%s.%N)
timeout -k 10 $((duration_s + stop_grace_s + 60)) "$cli" run --project "$work/project.json" \
    --requests "$input" --out "$work/results.jsonl" --errors "$work/errors.jsonl" \
    --summary "$work/summary.json" --history "$work/history.csv" --progress-interval 10 \
    >"$work/run.out" 2>"$run_log" &
run_tpid=$!
pids+=("$run_tpid")
run_pid=$(child_of "$run_tpid") || die "sluice-cli run did not start: $(cat "$run_log")"

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
        fds=$(find "/proc/$run_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
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
run_rc=0
wait "$run_tpid" || run_rc=$?
forget_pid "$run_tpid"
wall_s=$(now_s)
printf '# sluice-cli run exited %s after %s s; its summary:\n' "$run_rc" "$wall_s"
sed -n '/^Sluice run/,$p' "$run_log" | sed 's/^/#   /'
for i in 0 1; do
    if [[ -n ${sim_tpid[$i]} ]]; then
        kill -TERM "${sim_tpid[$i]}" 2>/dev/null || true
        wait "${sim_tpid[$i]}" 2>/dev/null || true
        forget_pid "${sim_tpid[$i]}"
        printf '# simulator %s (start %s): %s\n' "${sim_names[$i]}" "${sim_starts[$i]}" \
            "$(grep -h '^Simulator served' "$work/sim-${sim_names[$i]}.${sim_starts[$i]}.log" || echo 'printed no tally')"
    fi
done

# ---- checks ------------------------------------------------------------------------------
# Every record is JSON, names a line in 1..N and that line's expected custom_id; no line has
# more than one record.
check=$(python3 - "$lines" "$bad_every" "$work/results.jsonl" "$work/errors.jsonl" <<'PY'
import json, sys
n, bad = int(sys.argv[1]), int(sys.argv[2])
seen = bytearray(n + 1)
dups = wrong_id = unparsable = out_of_range = results = errors = 0
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
            else:
                results += 1
print(sum(seen), dups, wrong_id, unparsable + out_of_range, results, errors)
PY
) || die "the record check failed to run"
read -r accounted dups wrong_id bad_records results errors <<<"$check"

# summary KEY: a top-level value of the run's --summary JSON, or NA.
summary() {
    python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], "NA"))
except Exception:
    print("NA")' "$work/summary.json" "$1"
}
s_lines=$(summary lines)
s_succeeded=$(summary succeeded)
s_failed=$(summary failed)
s_not_started=$(summary not_started)
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

printf 'soak_minutes %s min\n' "$minutes"
printf 'soak_samples %s\n' "$samples_n"
printf 'soak_server_kills %s\n' "$kills"
printf 'soak_server_restarts %s\n' "$restarts"
printf 'soak_kills_survived %s\n' "$survived"
printf 'soak_lines_read %s lines\n' "$s_lines"
printf 'soak_succeeded %s lines\n' "$results"
printf 'soak_failed %s lines\n' "$errors"
printf 'soak_errors_by_class %s\n' "$errors_by_class"
printf 'soak_not_started %s lines\n' "$s_not_started"
printf 'soak_lines_accounted %s lines\n' "$accounted"
printf 'soak_duplicates %s\n' "$dups"
printf 'soak_wrong_id %s\n' "$wrong_id"
printf 'soak_bad_records %s\n' "$bad_records"
printf 'soak_exit_status %s\n' "$run_rc"
printf 'soak_rate_second_half %s lines/min\n' "$lines_per_min"
printf 'soak_rss_first %s MB\n' "$rss_first"
printf 'soak_rss_last %s MB\n' "$rss_last"
printf 'soak_rss_max %s MB\n' "$rss_max"
printf 'soak_rss_slope %s MB/min\n' "$rss_slope"
printf 'soak_rss_per_line %s B/line\n' "$rss_b_per_line"
printf 'soak_fds_first %s\n' "$fds_first"
printf 'soak_fds_last %s\n' "$fds_last"
printf 'soak_fds_max %s\n' "$fds_max"
printf 'soak_fds_slope %s fds/min\n' "$fds_slope"
printf 'soak_threads_first %s\n' "$thr_first"
printf 'soak_threads_last %s\n' "$thr_last"
printf 'soak_threads_max %s\n' "$thr_max"
printf 'soak_threads_slope %s threads/min\n' "$thr_slope"
printf '# samples: %s\n' "$samples"

correctness_fail=0
growth_fail=0
verdict() { # verdict KIND NAME OK DETAIL
    if (($3)); then
        printf 'PASS %s %s\n' "$2" "$4"
    else
        printf 'FAIL %s %s\n' "$2" "$4"
        if [[ $1 == growth ]]; then growth_fail=1; else correctness_fail=1; fi
    fi
}
le() { [[ $1 != NA ]] && awk -v v="$1" -v t="$2" 'BEGIN { exit !(v <= t) }'; }
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
if le "$rss_b_per_line" "$rss_target_b_per_line"; then ok=1; fi
verdict growth rss_flat "$ok" "RSS slope $rss_slope MB/min over the second half = $rss_b_per_line B per line finished (target <= $rss_target_b_per_line)"
ok=0
if le "$fds_slope" "$fds_target_per_min"; then ok=1; fi
verdict growth fds_flat "$ok" "open fds slope $fds_slope/min over the second half (target <= $fds_target_per_min)"
ok=0
if le "$thr_slope" "$threads_target_per_min"; then ok=1; fi
verdict growth threads_flat "$ok" "threads slope $thr_slope/min over the second half (target <= $threads_target_per_min)"

if ((correctness_fail)); then
    printf 'FAIL soak: lines duplicated or misattributed, a wrong exit status, or the run did not survive a restart\n'
    exit 1
fi
if ((growth_fail)); then
    printf 'FAIL soak: every recorded line exactly once; growth in memory, fds or threads\n'
    if ((strict)); then
        exit 1
    fi
    exit 0
fi
printf 'PASS soak: every recorded line exactly once, no growth in memory, fds or threads\n'
exit 0
