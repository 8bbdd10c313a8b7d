#!/usr/bin/env bash
# stream-bench.sh: issue 17's "Measures": many concurrent SSE streams, each 100 chunks 50 ms apart
# after a 200 ms first-token delay, read by `sluice-cli run --stream` and through the gateway
# (`sluice-cli serve`), next to qnamref --stream (a bare QNetworkAccessManager client reading the same
# streams, no Sluice code) in the same run.
#
# Servers, on 127.0.0.1:
#   - `sluice-cli simulate --latency-ms 0 --first-token-ms 200 --chunk-interval-ms 50
#     --chunks-per-reply 100`. The simulator speaks HTTP/1.1 only (no h2c), so these parts run over
#     HTTP/1.1: max_in_flight C is served by ceil(C / 6) lanes of 6 connections each.
#   - nginx (when it and libnginx-mod-http-echo are installed; --no-nginx skips it) serving a fixed
#     OpenAI SSE body, its chunks spaced by echo_sleep and pushed by echo_flush, over h2c: the h2c
#     part. nginx's spacing is "50 ms after the previous chunk went out", not a fixed schedule.
#
# Parts (C concurrent streams, N streams per measurement; 1,000 and 3,000 by default, --quick 200
# and 400):
#   sim_qnam      qnamref --stream, C in flight, straight to the simulator (the reference)
#   sim_run       sluice-cli run --stream, N lines, max_in_flight C, protocol http1, --summary
#   gw_qnam       qnamref --stream through `sluice-cli serve` (endpoint: the simulator,
#                 max_in_flight C, --stream) with a chat body asking "stream": true
#   h2c_qnam, h2c_run   the same as sim_qnam / sim_run against nginx over h2c
# Figures, one per line, `name value unit ratio`: streams/s, content chunks/s, TTFT p50/p99 (run:
# each result line's ttft_ms, and the summary's streaming.ttft_ms (log buckets 4 % wide); qnamref:
# send to the first content event), also over the "warm" streams only (run: lines after the first C;
# qnamref: streams sent after the first C), which go out on connections already open: the first
# wave's TTFT includes opening C connections at once. CPU-seconds per 1,000
# chunks (run: /usr/bin/time user + system; gateway: the serve process's own, from /proc; qnamref:
# getrusage), and the ratio of each Sluice rate to its qnamref reference in the same run.
# Then PASS/FAIL lines: every stream completed exactly once and without error (these decide the exit
# status), and the issue's goals: warm TTFT p50 within 5 ms of the 200 ms first-token delay, rate >= 0.8
# of qnamref's (goals: exit 1 only with --strict).
# Needs awk, python3, /usr/bin/time, timeout; nginx + libnginx-mod-http-echo for the h2c part.
#
# Exit status: 0 when every stream completed once (whatever the goals, unless --strict), 1 when a
# stream was lost, duplicated or failed, 2 when the benchmark could not run.
set -euo pipefail
export LC_ALL=C
bench_name='stream-bench'
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: stream-bench.sh [--quick] [--concurrency C] [--streams N] [--no-nginx] [--strict]
                       [--bin DIR] [--keep]

  --quick          200 concurrent streams, 400 per measurement (a smoke run, about 1 minute)
  --concurrency C  streams in flight (default 1000)
  --streams N      streams per measurement (default 3000: three waves of 1,000)
  --no-nginx       skip the h2c part against nginx
  --strict         exit 1 when a goal (TTFT, rate ratio) is missed, not only on lost streams
  --bin DIR        directory holding sluice-cli and qnamref (default: build/bin of this repository)
  --keep           keep the working directory (logs, results, summaries) and print its path
USAGE
}

bin_dir="$script_dir/../../build/bin"
keep=0
strict=0
concurrency=1000
streams=3000
use_nginx=1
while (($# > 0)); do
    case $1 in
        --quick)
            concurrency=200
            streams=400
            ;;
        --concurrency | --streams)
            (($# >= 2)) || die "$1 needs a value"
            [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive number"
            if [[ $1 == --concurrency ]]; then concurrency=$2; else streams=$2; fi
            shift
            ;;
        --no-nginx) use_nginx=0 ;;
        --strict) strict=1 ;;
        --keep) keep=1 ;;
        --bin)
            (($# >= 2)) || die "--bin needs a value"
            bin_dir=$2
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
find_cli 60
qnamref="$bin_dir/qnamref"
[[ -x $qnamref ]] || die "$qnamref is missing (ninja -C build qnamref)"
require_tools awk python3 timeout mktemp sed
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (Debian package time)"
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
if ((use_nginx)) && { ! command -v nginx >/dev/null || [[ ! -f $echo_module ]]; }; then
    printf '# nginx or %s missing: the h2c part is skipped\n' "$echo_module" >&2
    use_nginx=0
fi
init_work

first_token_ms=200
chunk_ms=50
chunks=100
# One stream lasts about first_token_ms + chunks * chunk_ms; a measurement takes ceil(N / C) of them.
waves=$(((streams + concurrency - 1) / concurrency))
stream_s=$(((first_token_ms + chunks * chunk_ms) / 1000 + 1))
bound_s=$((waves * stream_s * 4 + 120)) # every client run is bounded by this
half=$(((concurrency + 1) / 2))         # qnamref: 2 threads, 2 lanes (QNAMs), half the streams each

load() { cut -d' ' -f1-3 /proc/loadavg; }
figure() { printf '%s %s %s %s\n' "$1" "$2" "$3" "$4"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "NA" && b != "NA" && b > 0) printf "%.2f", a / b; else print "-" }'; }
per_1k() { awk -v c="$1" -v n="$2" 'BEGIN { if (c != "NA" && n > 0) printf "%.3f", c * 1000 / n; else print "NA" }'; }
lines_failed=0
goals_missed=0
check() { # KIND(lines|goal) NAME OK DETAIL
    if (($3)); then
        printf 'PASS %s %s\n' "$2" "$4"
    else
        printf 'FAIL %s %s\n' "$2" "$4"
        if [[ $1 == lines ]]; then lines_failed=1; else goals_missed=1; fi
    fi
}
within() { awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN { exit !(v != "NA" && v - t <= d && t - v <= d) }'; }
at_least() { awk -v v="$1" -v t="$2" 'BEGIN { exit !(v != "NA" && v != "-" && v >= t) }'; }

body_stream='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Stream a reply, please."}],"stream":true}'
printf '%s\n' "$body_stream" >"$work/body-stream.json"
# N input lines: bare chat bodies (named line-1 ... line-N); the endpoint's "stream" makes them streamed.
awk -v n="$streams" 'BEGIN { for (i = 1; i <= n; i++)
    printf "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Stream %d, please.\"}]}\n", i }' \
    >"$work/input.jsonl"

# qnam NAME URL [ARGS...]: qnamref --stream, N streams, C in flight; sets q_* from its line
# (q_rate streams/s, q_cps chunks/s, q_ttft50, q_ttft99, q_cpu, q_streams, q_failed, q_chunks).
qnam() {
    local name=$1 url=$2
    shift 2
    local rc=0
    timeout -k 5 "$bound_s" "$qnamref" "$url" "$streams" --stream --body "$work/body-stream.json" \
        --threads 2 --lanes 2 --per-lane "$half" "$@" >"$work/$name.out" 2>&1 || rc=$?
    sed "s/^/# $name: /" "$work/$name.out"
    local line
    line=$(grep -m1 '^qnamref-stream ' "$work/$name.out" || true)
    # kv KEY DEFAULT: the value of KEY=... on the report line, or DEFAULT when it is not there.
    kv() {
        local v
        v=$(sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line")
        printf '%s' "${v:-$2}"
    }
    q_streams=$(kv streams 0)
    q_failed=$(kv failed -1)
    q_rate=$(kv streams_per_s NA)
    q_chunks=$(kv chunks 0)
    q_cps=$(kv chunks_per_s NA)
    q_ttft50=$(kv ttft_p50_ms NA)
    q_ttft99=$(kv ttft_p99_ms NA)
    q_warm50=$(kv warm_ttft_p50_ms NA)
    q_warm99=$(kv warm_ttft_p99_ms NA)
    q_cpu=$(kv cpu_s NA)
    printf '# %s: exit %s, load %s\n' "$name" "$rc" "$(load)"
    check lines "${name}_all_streams" "$((q_streams == streams && q_failed == 0 && q_chunks == streams * chunks))" \
        "($q_streams of $streams streams, $q_failed failed, $q_chunks content chunks for $((streams * chunks)))"
    figure "${name}_streams_per_s" "$q_rate" streams/s -
    figure "${name}_chunks_per_s" "$q_cps" chunks/s -
    figure "${name}_ttft_p50" "$q_ttft50" ms "$(ratio "$q_ttft50" "$first_token_ms")"
    figure "${name}_ttft_p99" "$q_ttft99" ms "$(ratio "$q_ttft99" "$first_token_ms")"
    figure "${name}_warm_ttft_p50" "$q_warm50" ms "$(ratio "$q_warm50" "$first_token_ms")"
    figure "${name}_warm_ttft_p99" "$q_warm99" ms "$(ratio "$q_warm99" "$first_token_ms")"
    figure "${name}_cpu_per_1k_chunks" "$(per_1k "$q_cpu" "$q_chunks")" cpu-s -
}

# run NAME URL PROTOCOL REF_RATE: sluice-cli run --stream over the N lines, max_in_flight C, and its
# figures against qnamref's REF_RATE (streams/s).
run() {
    local name=$1 dir="$work/$1" rc=0
    mkdir -p "$dir"
    cat >"$dir/project.json" <<EOF
{"endpoints": [{"name": "$name", "url": "$2", "protocol": "$3", "max_in_flight": $concurrency,
                "timeout_s": 120, "stream": true}],
 "limits": {"rps": 0, "max_attempts": 3}}
EOF
    local at_start
    at_start=$(load)
    timeout -k 10 "$bound_s" /usr/bin/time -f '%e %U %S %M' -o "$dir/time" \
        "$cli" run --project "$dir/project.json" --requests "$work/input.jsonl" --out "$dir/results.jsonl" \
        --errors "$dir/errors.jsonl" --summary "$dir/summary.json" --progress-interval 1 --overwrite \
        >"$dir/run.out" 2>"$dir/run.log" || rc=$?
    local wall user sys rss_kb
    read -r wall user sys rss_kb <"$dir/time" || true
    local cpu
    cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.2f", u + s }')
    local elapsed ttft50 ttft90 ttft99 itl50 itl99 nstreams ids results errors x50 x99 w50 w99
    read -r elapsed ttft50 ttft90 ttft99 itl50 itl99 nstreams ids results errors x50 x99 w50 w99 < <(python3 - "$dir" "$concurrency" <<'PY'
import json, math, sys
d, first_wave = sys.argv[1], int(sys.argv[2])
try:
    s = json.load(open(d + '/summary.json'))
    st = s.get('streaming', {})
    t, i = st.get('ttft_ms', {}), st.get('itl_ms', {})
    head = [s.get('elapsed_s', 'NA'), t.get('p50', 'NA'), t.get('p90', 'NA'), t.get('p99', 'NA'),
            i.get('p50', 'NA'), i.get('p99', 'NA'), st.get('streams', 'NA')]
except Exception:
    head = ['NA'] * 7
ids, results, errors, ttft, warm = set(), 0, 0, [], []
for name in ('results', 'errors'):
    try:
        f = open('%s/%s.jsonl' % (d, name))
    except FileNotFoundError:
        continue
    for raw in f:
        try:
            rec = json.loads(raw)
            ids.add(rec.get('custom_id'))
            t = rec.get('ttft_ms')
            if name == 'results' and isinstance(t, (int, float)):
                ttft.append(t)
                if rec.get('line', 0) > first_wave:
                    warm.append(t)
        except Exception:
            pass
        if name == 'results':
            results += 1
        else:
            errors += 1
def pct(v, p):
    if not v:
        return 'NA'
    v = sorted(v)
    return '%.1f' % v[max(1, math.ceil(p / 100 * len(v))) - 1]
print(*head, len(ids), results, errors, pct(ttft, 50), pct(ttft, 99), pct(warm, 50), pct(warm, 99))
PY
    )
    local rate cps nchunks
    nchunks=$((results * chunks))
    rate=$(awk -v n="$results" -v t="$elapsed" 'BEGIN { if (t != "NA" && t > 0) printf "%.1f", n / t; else print "NA" }')
    cps=$(awk -v n="$nchunks" -v t="$elapsed" 'BEGIN { if (t != "NA" && t > 0) printf "%.0f", n / t; else print "NA" }')
    printf '# %s: exit %s, %s results + %s errors (%s distinct lines) of %s lines in %s s (wall %s s), %s streams in the summary, cpu %s s, peak rss %s MB, load %s at the start, %s at the end\n' \
        "$name" "$rc" "$results" "$errors" "$ids" "$streams" "$elapsed" "${wall:-NA}" "$nstreams" "$cpu" \
        "$((${rss_kb:-0} / 1024))" "$at_start" "$(load)"
    sed -n '/^Sluice run/,$p' "$dir/run.log" | sed "s/^/#   /"
    check lines "${name}_every_line_once" "$((results == streams && errors == 0 && ids == streams))" \
        "($results results, $errors errors, $ids distinct of $streams lines)"
    figure "${name}_streams_per_s" "$rate" streams/s "$(ratio "$rate" "$4")"
    figure "${name}_chunks_per_s" "$cps" chunks/s "$(ratio "$rate" "$4")"
    figure "${name}_ttft_p50" "$x50" ms "$(ratio "$x50" "$first_token_ms")"
    figure "${name}_ttft_p99" "$x99" ms "$(ratio "$x99" "$first_token_ms")"
    figure "${name}_warm_ttft_p50" "$w50" ms "$(ratio "$w50" "$first_token_ms")"
    figure "${name}_warm_ttft_p99" "$w99" ms "$(ratio "$w99" "$first_token_ms")"
    figure "${name}_summary_ttft_p50" "$ttft50" ms "$(ratio "$ttft50" "$first_token_ms")"
    figure "${name}_summary_ttft_p90" "$ttft90" ms "$(ratio "$ttft90" "$first_token_ms")"
    figure "${name}_summary_ttft_p99" "$ttft99" ms "$(ratio "$ttft99" "$first_token_ms")"
    figure "${name}_itl_p50" "$itl50" ms "$(ratio "$itl50" "$chunk_ms")"
    figure "${name}_itl_p99" "$itl99" ms "$(ratio "$itl99" "$chunk_ms")"
    figure "${name}_cpu_per_1k_chunks" "$(per_1k "$cpu" "$nchunks")" cpu-s -
    figure "${name}_peak_rss" "$((${rss_kb:-0} / 1024))" MB -
    r_ttft50=$x50
    r_warm50=$w50
    r_ratio=$(ratio "$rate" "$4")
    if ((!keep)); then
        rm -f "$dir/results.jsonl" "$dir/errors.jsonl"
    fi
}

# cpu_of PID: user + system seconds of PID so far (from /proc/PID/stat), or NA.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null ||
        echo NA
}

printf '# machine: %s, %s cores; %s; %s concurrent streams, %s per measurement, %s chunks %s ms apart after %s ms; load %s\n' \
    "$(uname -m)" "$(nproc)" "$("$cli" --version 2>/dev/null | head -n 1)" "$concurrency" "$streams" "$chunks" \
    "$chunk_ms" "$first_token_ms" "$(load)"

# ---- the simulator, HTTP/1.1 -----------------------------------------------------------------
launch_sim "$work/sim.log" $((bound_s * 4 + 120)) 0 --latency-ms 0 --jitter-ms 0 \
    --first-token-ms "$first_token_ms" --chunk-interval-ms "$chunk_ms" --chunks-per-reply "$chunks" ||
    die "simulator did not start: $(cat "$work/sim.log")"
sim_url="http://127.0.0.1:$SIM_PORT/v1/chat/completions"
# HTTP/1.1: Qt opens 6 connections per pool; one pool per 6 of a lane's streams.
h1_pools=$(((half + 5) / 6))

qnam sim_qnam "$sim_url" --pools "$h1_pools"
sim_ref_rate=$q_rate
sim_ref_ttft=$q_ttft50
sim_ref_warm=$q_warm50
run sim_run "$sim_url" http1 "$sim_ref_rate"
sim_run_ttft=$r_ttft50
sim_run_warm=$r_warm50
sim_run_ratio=$r_ratio

# ---- the gateway in front of the simulator ---------------------------------------------------
cat >"$work/gateway.json" <<EOF
{"endpoints": [{"name": "sim", "url": "$sim_url", "protocol": "http1", "max_in_flight": $concurrency,
                "timeout_s": 120, "stream": true}],
 "limits": {"rps": 0, "max_attempts": 3}}
EOF
timeout -k 5 $((bound_s * 2 + 60)) "$cli" serve --project "$work/gateway.json" --port 0 --stream \
    --max-queue $((concurrency * 4)) >/dev/null 2>"$work/gateway.log" &
gw_tpid=$!
pids+=("$gw_tpid")
gw_port=
for ((k = 0; k < 100; k++)); do
    gw_port=$(sed -n 's|^Gateway listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$work/gateway.log" |
        head -n 1) || true
    [[ -n $gw_port ]] && break
    kill -0 "$gw_tpid" 2>/dev/null || break
    sleep 0.1
done
[[ -n $gw_port ]] || die "the gateway did not start: $(cat "$work/gateway.log")"
gw_pid=$(child_of "$gw_tpid") || die "the gateway's process was not found"
gw_cpu0=$(cpu_of "$gw_pid")
qnam gw_qnam "http://127.0.0.1:$gw_port/v1/chat/completions" --pools "$h1_pools"
gw_cpu1=$(cpu_of "$gw_pid")
gw_rate=$q_rate
gw_ttft=$q_ttft50
gw_warm=$q_warm50
gw_cpu=$(awk -v a="$gw_cpu0" -v b="$gw_cpu1" 'BEGIN { if (a != "NA" && b != "NA") printf "%.2f", b - a; else print "NA" }')
figure gw_streams_per_s_vs_direct "$gw_rate" streams/s "$(ratio "$gw_rate" "$sim_ref_rate")"
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "NA" && b != "NA") printf "%.1f", a - b; else print "NA" }'; }
figure gw_added_ttft_p50 "$(minus "$gw_ttft" "$sim_ref_ttft")" ms -
figure gw_added_warm_ttft_p50 "$(minus "$gw_warm" "$sim_ref_warm")" ms -
figure gw_serve_cpu_per_1k_chunks "$(per_1k "$gw_cpu" "$q_chunks")" cpu-s -
stop_pid "$gw_tpid"
printf '# gateway: %s\n' "$(grep -m1 '^Gateway stopped' "$work/gateway.log" || echo 'printed no tally')"
stop_pid "$SIM_TPID"
printf '# simulator: %s\n' "$(sim_tally "$work/sim.log")"

# ---- nginx over h2c --------------------------------------------------------------------------
h2c_run_ttft=NA
h2c_run_warm=NA
h2c_run_ratio=NA
if ((use_nginx)); then
    h2_port=$(free_port)
    mkdir -p "$work/nginx"
    # The fixed stream: a role chunk, CHUNKS content chunks, a finish chunk, a usage chunk, [DONE];
    # echo_flush pushes each out, echo_sleep spaces them.
    awk -v n="$chunks" -v first="$first_token_ms" -v gap="$chunk_ms" 'BEGIN {
        head = "\"id\":\"chatcmpl-nginx\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\""
        printf "default_type text/event-stream;\necho_read_request_body;\n"
        printf "echo '\''data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\\n'\'';\necho_flush;\n", head
        printf "echo_sleep %.3f;\n", first / 1000
        for (i = 1; i <= n; i++) {
            printf "echo '\''data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\\n'\'';\necho_flush;\n", head, i
            if (i < n) printf "echo_sleep %.3f;\n", gap / 1000
        }
        printf "echo '\''data: {%s,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\\n'\'';\n", head
        printf "echo '\''data: {%s,\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":%d,\"total_tokens\":%d}}\\n'\'';\n", head, n, n + 8
        printf "echo '\''data: [DONE]\\n'\'';\n"
    }' >"$work/nginx/stream.conf"
    {
        nginx_http_head "$work/nginx"
        cat <<EOF
    server {
        listen 127.0.0.1:$h2_port http2 backlog=4096;
        location /v1/chat/completions { include $work/nginx/stream.conf; }
    }
}
EOF
    } >"$work/nginx/nginx.conf"
    launch_nginx "$work/nginx" $((bound_s * 3 + 60)) "$h2_port"
    h2_url="http://127.0.0.1:$h2_port/v1/chat/completions"
    # h2c: one connection per pool, 100 streams each (Qt's limit), as the transport's h2c lanes.
    qnam h2c_qnam "$h2_url" --h2c --pools $(((half + 99) / 100))
    h2c_ref_rate=$q_rate
    h2c_ref_warm=$q_warm50
    run h2c_run "$h2_url" h2c "$h2c_ref_rate"
    h2c_run_ttft=$r_ttft50
    h2c_run_warm=$r_warm50
    h2c_run_ratio=$r_ratio
    stop_pid "$nginx_tpid"
fi

# What Sluice adds to the TTFT of the same streams read by qnamref (warm streams, p50).
figure sim_run_added_warm_ttft_p50 "$(minus "$sim_run_warm" "$sim_ref_warm")" ms -
if ((use_nginx)); then
    figure h2c_run_added_warm_ttft_p50 "$(minus "$h2c_run_warm" "$h2c_ref_warm")" ms -
fi

# ---- the issue's goals -----------------------------------------------------------------------
ok() { if "$@"; then echo 1; else echo 0; fi; }
check goal "sim_run_warm_ttft_p50_within_5ms_of_${first_token_ms}" "$(ok within "$sim_run_warm" "$first_token_ms" 5)" \
    "($sim_run_warm ms, all streams $sim_run_ttft ms; qnamref $sim_ref_warm ms, all $sim_ref_ttft ms)"
check goal "sim_run_rate_at_least_0.8_of_qnamref" "$(ok at_least "$sim_run_ratio" 0.8)" "($sim_run_ratio)"
check goal "gateway_rate_at_least_0.8_of_direct" "$(ok at_least "$(ratio "$gw_rate" "$sim_ref_rate")" 0.8)" \
    "($(ratio "$gw_rate" "$sim_ref_rate"))"
check goal "gateway_warm_ttft_p50_within_5ms_of_${first_token_ms}" "$(ok within "$gw_warm" "$first_token_ms" 5)" \
    "($gw_warm ms, all streams $gw_ttft ms)"
if ((use_nginx)); then
    check goal "h2c_run_warm_ttft_p50_within_5ms_of_${first_token_ms}" "$(ok within "$h2c_run_warm" "$first_token_ms" 5)" \
        "($h2c_run_warm ms, all streams $h2c_run_ttft ms)"
    check goal "h2c_run_rate_at_least_0.8_of_qnamref" "$(ok at_least "$h2c_run_ratio" 0.8)" "($h2c_run_ratio)"
fi
printf '# load at the end: %s\n' "$(load)"
if ((lines_failed)); then
    printf 'FAIL a stream was lost, duplicated or failed\n'
    exit 1
fi
if ((goals_missed)); then
    printf 'FAIL some goals missed (every stream completed once)\n'
    ((strict)) && exit 1
    exit 0
fi
printf 'PASS every stream completed once and every goal was met\n'
