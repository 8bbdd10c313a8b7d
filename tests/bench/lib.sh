# shellcheck shell=bash
# lib.sh: shell code shared by the benchmark scripts in this folder (limiter-bench.sh, load-1m.sh,
# soak.sh, scale.sh, shared-bench.sh). Sourced, never run: `. "$(dirname "$0")/lib.sh"` after
# `set -euo pipefail` and after setting bench_name (the prefix of error messages, the work directory
# and the samples CSV).
#
# Globals it reads: bench_name, bin_dir, keep, strict, work, cli, input, t_start, run_log, samples.
# Globals it sets are named in each function's comment.
# Check the scripts with `shellcheck -x` (it then follows this file).
# shellcheck disable=SC2034,SC2154 # globals shared with the scripts that source this file

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pids=()            # processes to stop on exit (the `timeout` wrappers of servers and runs)
correctness_fail=0 # set by `verdict lines ...` on FAIL
growth_fail=0      # set by `verdict growth ...` on FAIL

# ---- setup ---------------------------------------------------------------------------------

# die MESSAGE: prints "<bench_name>: MESSAGE" to stderr and exits 2 (the benchmark could not run).
die() {
    printf '%s: %s\n' "$bench_name" "$*" >&2
    exit 2
}

# wait_for_cli SECONDS: returns once $cli is executable; waits up to SECONDS for it (a rebuild).
wait_for_cli() {
    local i
    for ((i = 0; ; i++)); do
        if [[ -x $cli ]]; then
            return 0
        fi
        ((i < $1)) || break
        if ((i == 0)); then
            printf '# %s is missing; waiting up to %s s for it to come back\n' "$cli" "$1" >&2
        fi
        sleep 1
    done
    die "$cli is missing or not executable (build it, or pass --bin DIR)"
}

# find_cli WAIT_S: makes $bin_dir absolute, sets build_dir (its parent) and cli, waits for sluice-cli.
find_cli() {
    [[ -d $bin_dir ]] || die "no such directory: $bin_dir"
    bin_dir=$(cd "$bin_dir" && pwd)
    build_dir=$(dirname "$bin_dir")
    cli="$bin_dir/sluice-cli"
    wait_for_cli "$1"
}

# require_tools TOOL...: dies unless every TOOL is on PATH.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
}

# ---- processes and the work directory ------------------------------------------------------

# init_work: creates the work directory $work and arms the EXIT/INT/TERM traps that run cleanup.
init_work() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
# cleanup: stops every process in pids (TERM, then KILL after 5 s) and removes $work unless --keep.
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

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot be
# given port 0, such as nginx and redis-server).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# forget_pid PID: removes PID from pids (it has ended and been waited for).
forget_pid() {
    local keep_pids=() p
    for p in "${pids[@]}"; do
        if [[ $p != "$1" ]]; then
            keep_pids+=("$p")
        fi
    done
    pids=("${keep_pids[@]}")
}

# stop_pid PID: SIGTERM to a process in pids (`timeout` passes it on), waits for it, forgets it.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

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

# nginx_http_head DIR: the head of a benchmark nginx.conf, up to inside its http block (the echo module
# from $echo_module, one worker with many connections, pid, logs and temp files under DIR, no access log,
# long keep-alive, 128 h2 streams); the caller writes its servers and the closing brace.
nginx_http_head() {
    cat <<EOF
load_module $echo_module;
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 16000; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
EOF
}

# launch_nginx DIR BOUND_S PORT...: nginx on DIR/nginx.conf under a timeout of BOUND_S (its wrapper in
# nginx_tpid, stopped on exit); returns when every PORT on 127.0.0.1 accepts, dies after 10 s.
launch_nginx() {
    local dir=$1 bound_s=$2 k port up
    shift 2
    timeout -k 5 "$bound_s" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/stderr.log" &
    nginx_tpid=$!
    pids+=("$nginx_tpid")
    for ((k = 0; k < 100; k++)); do
        up=1
        for port in "$@"; do
            (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
                up=0
                break
            }
        done
        ((up)) && return 0
        sleep 0.1
    done
    die "nginx did not start: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null)"
}

# seconds_since T: seconds from T (as `date +%s.%N` prints it) to now, with one decimal.
seconds_since() {
    awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# ---- simulators ----------------------------------------------------------------------------

# launch_sim LOG BOUND_S PORT [SIMULATE ARGS...]: starts `sluice-cli simulate --port PORT` (0 = a
# free port) under `timeout BOUND_S`, stderr to LOG, and adds it to pids. Sets SIM_TPID (the
# wrapper) and SIM_PORT once the server listens; returns 1 if it does not within 10 s.
launch_sim() {
    local log=$1 bound=$2 port=$3 k
    shift 3
    : >"$log"
    timeout -k 5 "$bound" "$cli" simulate --port "$port" "$@" >/dev/null 2>"$log" &
    SIM_TPID=$!
    pids+=("$SIM_TPID")
    SIM_PORT=
    for ((k = 0; k < 100; k++)); do
        SIM_PORT=$(sed -n 's|^Simulator listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
        if [[ -n $SIM_PORT ]]; then
            return 0
        fi
        kill -0 "$SIM_TPID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# sim_tally LOG [FALLBACK]: the simulator's closing "Simulator served ..." line, or FALLBACK.
sim_tally() {
    grep -h '^Simulator served' "$1" || echo "${2:-printed no tally}"
}

# ---- the run under test (load-1m.sh, soak.sh) ----------------------------------------------

# make_input FILE LINES BAD_EVERY: writes the deterministic batch. Line i (1-based) is invalid JSON
# when i % BAD_EVERY == 0; otherwise by i % 4: OpenAI Batch and Anthropic batch lines carry
# custom_id "r<i>", chat-body and prompt lines have none (so Sluice names them "line-<i>").
# check_records derives each line's expected id from the same rule.
make_input() {
    awk -v n="$2" -v bad="$3" 'BEGIN {
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
}' >"$1"
}

# new_samples_csv HEADER: sets samples to a new <build>/<bench_name>-samples-<date>-<time>.csv
# (one per run, never overwritten) and writes HEADER as its first line.
new_samples_csv() {
    samples="$build_dir/$bench_name-samples-$(date +%Y%m%d-%H%M%S).csv"
    printf '%s\n' "$1" >"$samples"
}

# start_run BOUND_S PROGRESS_S: `sluice-cli run` of $work/project.json over $input under
# `timeout BOUND_S`, outputs in $work, progress every PROGRESS_S to run_log. Sets t_start,
# run_log, run_tpid (the wrapper, in pids) and run_pid (sluice-cli itself).
start_run() {
    run_log="$work/run.log"
    t_start=$(date +%s.%N)
    timeout -k 10 "$1" "$cli" run --project "$work/project.json" --requests "$input" \
        --out "$work/results.jsonl" --errors "$work/errors.jsonl" --summary "$work/summary.json" \
        --history "$work/history.csv" --progress-interval "$2" >"$work/run.out" 2>"$run_log" &
    run_tpid=$!
    pids+=("$run_tpid")
    run_pid=$(child_of "$run_tpid") || die "sluice-cli run did not start: $(cat "$run_log")"
}

# wait_run: waits for the run; sets run_rc and wall_s (seconds since t_start).
wait_run() {
    run_rc=0
    wait "$run_tpid" || run_rc=$?
    forget_pid "$run_tpid"
    wall_s=$(seconds_since "$t_start")
}

# print_run_summary: the run's exit status and wall time, then its own closing summary, as # lines.
print_run_summary() {
    printf '# sluice-cli run exited %s after %s s; its summary:\n' "$run_rc" "$wall_s"
    sed -n '/^Sluice run/,$p' "$run_log" | sed 's/^/#   /'
}

# status_field PID NAME: a number from /proc/PID/status (kB for Vm* fields), or empty.
status_field() {
    awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status" 2>/dev/null || true
}

# fd_count PID: how many file descriptors PID has open.
fd_count() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# lines_done: lines finished so far, from the run's last progress line in run_log (0 before any).
lines_done() {
    local d
    d=$(sed -n 's|^\[[^]]*\] [0-9.]*% \([0-9,]*\)/.*|\1|p' "$run_log" | tail -n 1 | tr -d ,)
    printf '%s' "${d:-0}"
}

# summary_field KEY: a top-level value of the run's --summary JSON ($work/summary.json), or NA.
summary_field() {
    python3 -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], "NA"))
except Exception:
    print("NA")' "$work/summary.json" "$1"
}

# check_records LINES BAD_EVERY: one pass over $work/results.jsonl and errors.jsonl. Every record
# must be JSON and name a line in 1..LINES with that line's expected custom_id (see make_input).
# Sets accounted (lines with a record), missing, dups (records beyond a line's first), wrong_id,
# bad_records (unreadable or out of range), results, errors and invalid (invalid_input errors).
check_records() {
    local out
    out=$(python3 - "$1" "$2" "$work/results.jsonl" "$work/errors.jsonl" <<'PY'
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
    read -r accounted missing dups wrong_id bad_records results errors invalid <<<"$out"
}

# ---- reporting (load-1m.sh, soak.sh) -------------------------------------------------------

# print_figure NAME VALUE [UNIT]: one figure line, `name value unit`.
print_figure() {
    local IFS=' '
    printf '%s\n' "$*"
}

# at_most VALUE LIMIT: true when VALUE is not NA and VALUE <= LIMIT (as numbers).
at_most() {
    [[ $1 != NA ]] && awk -v v="$1" -v t="$2" 'BEGIN { exit !(v <= t) }'
}

# verdict KIND NAME OK DETAIL: prints "PASS NAME DETAIL" when OK is non-zero, else "FAIL NAME
# DETAIL" and sets correctness_fail (KIND lines) or growth_fail (KIND growth).
verdict() {
    if (($3)); then
        printf 'PASS %s %s\n' "$2" "$4"
    else
        printf 'FAIL %s %s\n' "$2" "$4"
        if [[ $1 == growth ]]; then growth_fail=1; else correctness_fail=1; fi
    fi
}

# final_verdict LINES_FAILED GROWTH_MISSED PASSED: prints "FAIL LINES_FAILED" and exits 1 after a
# failed line check; "FAIL GROWTH_MISSED" after a missed growth target (exit 1 only with --strict);
# else "PASS PASSED" and exit 0.
final_verdict() {
    if ((correctness_fail)); then
        printf 'FAIL %s\n' "$1"
        exit 1
    fi
    if ((growth_fail)); then
        printf 'FAIL %s\n' "$2"
        if ((strict)); then
            exit 1
        fi
        exit 0
    fi
    printf 'PASS %s\n' "$3"
    exit 0
}
