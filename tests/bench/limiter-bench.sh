#!/usr/bin/env bash
# limiter-bench.sh: how close Sluice's rate limiter runs to a server-enforced limit.
#
# Starts `sluice-cli simulate` servers on 127.0.0.1 (free ports) that answer 429 above
# their own limit L, pushes batches through them with `sluice-cli run`, and prints one
# line per figure, `name value unit ratio`, then PASS/FAIL against the targets.
# Needs bash, awk, coreutils (timeout, mktemp, sed). See tests/bench/README.md.
#
# Exit status: 0 when it ran (even if targets were missed), 1 with --strict and a
# missed target, 2 on a usage error or when the benchmark itself could not run.
set -euo pipefail
export LC_ALL=C
bench_name=limiter-bench # prefix of messages and the work directory
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
Usage: limiter-bench.sh [--quick] [--L N] [--bin DIR] [--strict] [--keep]

  --quick    10 s per scenario instead of 30 s (smoke run)
  --L N      the simulator's limit L in req/s (default 100)
  --bin DIR  directory holding sluice-cli (default: build/bin of this repository)
  --strict   exit 1 when a target is missed (default: report only, exit 0)
  --keep     keep the working directory (summaries, history CSVs, logs) and print its path
EOF
}

bin_dir="$script_dir/../../build/bin"
L=100
quick=0
strict=0
keep=0
while (($# > 0)); do
    case $1 in
        --quick) quick=1 ;;
        --strict) strict=1 ;;
        --keep) keep=1 ;;
        --L)
            (($# >= 2)) || die "--L needs a value"
            L=$2
            shift
            ;;
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
if ! [[ $L =~ ^[0-9]+$ ]] || ((10#$L < 2)); then
    die "--L must be an integer >= 2, got '$L'"
fi
L=$((10#$L))
find_cli 60 # sluice-cli may be briefly missing while it is being rebuilt
require_tools awk sed timeout mktemp

# ---- parameters -------------------------------------------------------------------------
burst=5
latency_ms=50
jitter_ms=50
steady_skip_s=5 # steady-state goodput ignores the first seconds (ramp-up)
if ((quick)); then
    run_s=10
    drop_at_s=4      # scenario 3: the limit halves this long after the simulator starts,
    after_drop_s=6   # the batch is sized to run about this long after the drop,
    settle_allow_s=3 # and the *_after figures skip this many seconds after the drop
else
    run_s=30
    drop_at_s=15
    after_drop_s=20
    settle_allow_s=10
fi
half_L=$(awk -v l="$L" 'BEGIN { printf "%g", l / 2 }')
L1=$L
L2=$(awk -v l="$L" 'BEGIN { v = int(l * 0.4 + 0.5); print (v < 1 ? 1 : v) }')

# ---- process and file housekeeping -------------------------------------------------------
init_work # $work, and traps that stop everything started here on exit (lib.sh)

now() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        printf '%s' "$EPOCHREALTIME"
    else
        date +%s.%N
    fi
}

# requests_file N: path of a JSONL batch with N prompt lines (made once per N).
requests_file() {
    local f="$work/requests-$1.jsonl"
    if [[ ! -f $f ]]; then
        awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"custom_id\":\"c%d\",\"input\":\"hello %d\"}\n", i, i }' >"$f"
    fi
    printf '%s' "$f"
}

# write_project FILE NAME:PORT:RPM [NAME:PORT:RPM...]: project JSON, weight 1 each.
write_project() {
    local file=$1 sep='' spec name port rpm
    shift
    {
        printf '{"endpoints":['
        for spec in "$@"; do
            IFS=: read -r name port rpm <<<"$spec"
            printf '%s{"name":"%s","url":"http://127.0.0.1:%s/v1/chat/completions","weight":1,"rpm":%s,"max_in_flight":64,"timeout_s":30}' \
                "$sep" "$name" "$port" "$rpm"
            sep=','
        done
        printf '],"limits":{"max_attempts":10,"backoff_base_ms":100,"backoff_max_ms":5000}}\n'
    } >"$file"
}

# start_sim TAG BOUND_S RPS [EXTRA SIMULATE ARGS...]: sets SIM_PID, SIM_PORT, SIM_START.
start_sim() {
    local tag=$1 bound=$2 rps=$3 log="$work/$1.sim.log"
    shift 3
    wait_for_cli 60
    SIM_START=$(now)
    launch_sim "$log" "$bound" 0 --rps "$rps" --burst "$burst" \
        --latency-ms "$latency_ms" --jitter-ms "$jitter_ms" "$@" ||
        die "simulator for $tag did not start: $(cat "$log")"
    SIM_PID=$SIM_TPID
}

# stop_sim PID TAG: stops one simulator and echoes its closing tally as a comment.
stop_sim() {
    stop_pid "$1"
    printf '# %s: %s\n' "$2" "$(sim_tally "$work/$2.sim.log" 'simulator printed no tally')"
}

# run_batch TAG PROJECT REQUESTS BOUND_S: one `sluice-cli run`; sets RUN_RC and RUN_START.
run_batch() {
    local tag=$1 pid
    wait_for_cli 60
    RUN_START=$(now)
    timeout -k 5 "$4" "$cli" run --project "$2" --requests "$3" \
        --out "$work/$tag.out.jsonl" --errors "$work/$tag.errors.jsonl" \
        --summary "$work/$tag.summary.json" --history "$work/$tag.history.csv" \
        --quiet >"$work/$tag.run.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    RUN_RC=0
    wait "$pid" || RUN_RC=$?
    forget_pid "$pid"
    if ((RUN_RC == 124 || RUN_RC == 137)); then
        printf '# %s: sluice-cli run timed out after %s s\n' "$tag" "$4"
    elif ((RUN_RC != 0)); then
        printf '# %s: sluice-cli run exited %s: %s\n' "$tag" "$RUN_RC" "$(tail -n 3 "$work/$tag.run.log" | tr '\n' ' ')"
    fi
    # Flatten the summary JSON into "path<TAB>value" lines (no jq needed).
    if [[ -s $work/$tag.summary.json ]]; then
        flatten_json <"$work/$tag.summary.json" >"$work/$tag.summary.flat"
    else
        : >"$work/$tag.summary.flat"
    fi
}

# flatten_json: JSON on stdin -> one "a.b.0.c<TAB>value" line per scalar (POSIX awk).
flatten_json() {
    awk '
        { text = text $0 "\n" }
        function emit(v,    p, k) {
            p = ""
            for (k = 1; k <= d; k++) p = p (k > 1 ? "." : "") key[k]
            print p "\t" v
        }
        END {
            n = length(text); d = 0; i = 1
            while (i <= n) {
                c = substr(text, i, 1)
                if (c == "{" || c == "[") {
                    d++; kind[d] = c; key[d] = (c == "[") ? 0 : ""; want[d] = (c == "{"); i++
                } else if (c == "}" || c == "]") {
                    d--; i++
                } else if (c == ",") {
                    if (kind[d] == "[") key[d]++; else want[d] = 1
                    i++
                } else if (c == "\"") {
                    j = i + 1; s = ""
                    while (j <= n) {
                        ch = substr(text, j, 1)
                        if (ch == "\\") { s = s substr(text, j + 1, 1); j += 2; continue }
                        if (ch == "\"") break
                        s = s ch; j++
                    }
                    i = j + 1
                    if (kind[d] == "{" && want[d]) { key[d] = s; want[d] = 0 } else emit(s)
                } else if (c ~ /[-0-9a-z]/) {
                    j = i
                    while (j <= n && substr(text, j, 1) ~ /[-+0-9.eEa-z]/) j++
                    emit(substr(text, i, j - i)); i = j
                } else {
                    i++
                }
            }
        }'
}

# jget TAG PATH: one value from a run's summary, or NA.
jget() {
    awk -F'\t' -v k="$2" '$1 == k { v = $2; found = 1 } END { print (found ? v : "NA") }' "$work/$1.summary.flat"
}

# steady_goodput TAG: mean `succeeded` per whole second, skipping the first seconds and the
# last (partial) row of the history CSV.
steady_goodput() {
    local csv="$work/$1.history.csv"
    if [[ ! -s $csv ]]; then
        echo NA
        return
    fi
    awk -F, -v skip="$steady_skip_s" '
        NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
        { sec[++rows] = $col["second"]; ok[rows] = $col["succeeded"] }
        END {
            for (r = 1; r < rows; r++) if (sec[r] >= skip) { sum += ok[r]; cnt++ }
            if (cnt == 0) print "NA"; else printf "%.1f\n", sum / cnt
        }' "$csv"
}

# drop_analysis TAG DROP_S NEW_LIMIT ALLOW_S: scenario 3 figures from the history CSV, printed
# as "settle settle_sent goodput_after sent_after share_after busy_end" (NA where undefined).
#   settle       seconds from the drop (run clock) to the start of the first whole second from
#                which every later whole second's `succeeded` is <= NEW_LIMIT x 1.1
#   settle_sent  the same on `issued` (attempts sent), looking only at seconds up to busy_end,
#                the last whole second in which the client still sent >= NEW_LIMIT / 2 (after
#                that the batch has run dry and any rate is trivially under the limit)
#   *_after      means over the whole seconds from (first second after the drop + ALLOW_S) to
#                busy_end: succeeded/s, issued/s, and 429 answers as a % of attempts
drop_analysis() {
    local csv="$work/$1.history.csv"
    if [[ ! -s $csv ]]; then
        echo NA NA NA NA NA NA
        return
    fi
    awk -F, -v drop="$2" -v limit="$3" -v allow="$4" '
        NR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
        {
            rows++
            sec[rows] = $col["second"]; ok[rows] = $col["succeeded"]
            sent[rows] = $col["issued"]; rl[rows] = $col["exceptions"]
        }
        # settle_from(v, last): seconds from the drop to the compliant tail ending at row last.
        function settle_from(v, last,    r, from) {
            if (last < 1 || sec[last] < first) return "NA"
            if (v[last] > limit * 1.1) return "NA"
            from = sec[last]
            for (r = last - 1; r >= 1 && sec[r] >= first && v[r] <= limit * 1.1; r--) from = sec[r]
            return sprintf("%.1f", from - drop)
        }
        END {
            first = int(drop); if (first < drop) first++   # first whole second after the drop
            whole = rows - 1                                 # the last row is a partial second
            busy = 0
            for (r = 1; r <= whole; r++) if (sent[r] >= limit / 2) busy = r
            n = 0; sum_ok = 0; sum_sent = 0; sum_rl = 0
            for (r = 1; r <= busy; r++) if (sec[r] >= first + allow) {
                n++; sum_ok += ok[r]; sum_sent += sent[r]; sum_rl += rl[r]
            }
            printf "%s %s", settle_from(ok, whole), settle_from(sent, busy)
            if (n > 0) printf " %.1f %.1f", sum_ok / n, sum_sent / n; else printf " NA NA"
            if (sum_sent > 0) printf " %.2f", 100 * sum_rl / sum_sent; else printf " NA"
            printf " %s\n", (busy > 0 ? sec[busy] : "NA")
        }' "$csv"
}

# ratio_of A B FORMAT: A / B (NA-safe).
ratio_of() {
    awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf f "\n", a / b }'
}

# ---- reporting ---------------------------------------------------------------------------
verdicts=()
misses=0

# figure NAME VALUE UNIT REFERENCE: prints "name value unit ratio" (ratio "-" without a reference).
figure() {
    local ratio=-
    if [[ $4 != - ]]; then
        ratio=$(ratio_of "$2" "$4" '%.3f')
    fi
    printf '%s %s %s %s\n' "$1" "$2" "$3" "$ratio"
}

# target NAME VALUE OP THRESHOLD UNIT: records PASS/FAIL (NA fails).
target() {
    local verdict=FAIL
    if [[ $2 != NA ]] && awk -v v="$2" -v op="$3" -v t="$4" \
        'BEGIN { exit !((op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0)) }'; then
        verdict=PASS
    fi
    if [[ $verdict == FAIL ]]; then
        misses=$((misses + 1))
    fi
    verdicts+=("$verdict $1 $2 $5 (target $3 $4)")
}

# endpoint_notes TAG: one comment line per endpoint of a run (limit learned and why).
endpoint_notes() {
    local i name
    for ((i = 0; ; i++)); do
        name=$(jget "$1" "endpoints.$i.name")
        [[ $name != NA ]] || break
        printf '# %s %s: sent %s ok %s 429 %s errors %s, limit %s req/s (%s)\n' "$1" "$name" \
            "$(jget "$1" "endpoints.$i.sent")" "$(jget "$1" "endpoints.$i.ok")" \
            "$(jget "$1" "endpoints.$i.rate_limited")" "$(jget "$1" "endpoints.$i.errors")" \
            "$(jget "$1" "endpoints.$i.limit_rps")" "$(jget "$1" "endpoints.$i.limit_reason")"
    done
}

# basic_figures TAG REQUESTS: elapsed, succeeded, 429 share; sets GOODPUT and SHARE.
basic_figures() {
    local tag=$1 elapsed succeeded attempts rate_limited
    elapsed=$(jget "$tag" elapsed_s)
    succeeded=$(jget "$tag" succeeded)
    attempts=$(jget "$tag" attempts)
    rate_limited=$(jget "$tag" rate_limited)
    GOODPUT=$(ratio_of "$succeeded" "$elapsed" '%.1f')
    SHARE=$(awk -v r="$rate_limited" -v a="$attempts" 'BEGIN { if (r == "NA" || a == "NA" || a + 0 == 0) print "NA"; else printf "%.2f\n", 100 * r / a }')
    figure "${tag}_elapsed" "$elapsed" s -
    figure "${tag}_succeeded" "$succeeded" req "$2"
    figure "${tag}_429_share" "$SHARE" % -
}

# goodput_figures TAG: whole-run and steady-state goodput against L (after basic_figures).
goodput_figures() {
    figure "${1}_goodput" "$GOODPUT" req/s "$L"
    figure "${1}_goodput_steady" "$(steady_goodput "$1")" req/s "$L"
}

sim_flags() {
    if [[ $1 == nohdr ]]; then
        printf '%s\n' --no-rate-headers
    fi
}

# ---- scenarios ---------------------------------------------------------------------------

# Scenarios 1 and 2: one endpoint, simulator limit L, configured limit CFG_RPS.
scenario_single() {
    local id=$1 mode=$2 cfg_rps=$3 min_ratio=$4 max_share=$5
    local tag="${id}_${mode}" n=$((L * run_s)) bound=$((run_s * 3 + 30)) flags=()
    mapfile -t flags < <(sim_flags "$mode")
    start_sim "$tag" $((bound + 30)) "$L" "${flags[@]}"
    write_project "$work/$tag.project.json" "a:$SIM_PORT:$((cfg_rps * 60))"
    run_batch "$tag" "$work/$tag.project.json" "$(requests_file "$n")" "$bound"
    stop_sim "$SIM_PID" "$tag"
    basic_figures "$tag" "$n"
    goodput_figures "$tag"
    target "${tag}_goodput" "$GOODPUT" '>=' "$(awk -v l="$L" -v r="$min_ratio" 'BEGIN { printf "%g", l * r }')" req/s
    endpoint_notes "$tag"
    target "${tag}_429_share" "$SHARE" '<=' "$max_share" %
}

# Scenario 3: configured = L, the simulator drops to L/2 at drop_at_s without warning.
scenario_drop() {
    local mode=$1 tag="s3_$1" flags=() n bound drop_run succeeded failed lost
    local settle_ok settle_sent goodput_after sent_after share_after busy_end
    n=$(awk -v l="$L" -v d="$drop_at_s" -v a="$after_drop_s" 'BEGIN { printf "%d", l * d + l / 2 * a }')
    bound=$(((drop_at_s + after_drop_s) * 3 + 30))
    mapfile -t flags < <(sim_flags "$mode")
    start_sim "$tag" $((bound + 30)) "$L" --rps-schedule "$drop_at_s:$half_L" "${flags[@]}"
    write_project "$work/$tag.project.json" "a:$SIM_PORT:$((L * 60))"
    run_batch "$tag" "$work/$tag.project.json" "$(requests_file "$n")" "$bound"
    stop_sim "$SIM_PID" "$tag"
    # The schedule runs on the simulator's clock; move the drop onto the run's clock.
    drop_run=$(awk -v d="$drop_at_s" -v s="$SIM_START" -v r="$RUN_START" 'BEGIN { printf "%.2f", d - (r - s) }')
    printf '# %s: limit %s -> %s req/s at %s s of the run; %s requests\n' "$tag" "$L" "$half_L" "$drop_run" "$n"
    basic_figures "$tag" "$n"
    read -r settle_ok settle_sent goodput_after sent_after share_after busy_end \
        < <(drop_analysis "$tag" "$drop_run" "$half_L" "$settle_allow_s")
    printf '# %s: whole seconds %s..%s after the drop are used for the *_after figures\n' "$tag" \
        "$(awk -v d="$drop_run" -v a="$settle_allow_s" 'BEGIN { f = int(d); if (f < d) f++; print f + a }')" "$busy_end"
    succeeded=$(jget "$tag" succeeded)
    failed=$(jget "$tag" failed)
    lost=$(awk -v n="$n" -v s="$succeeded" -v f="$failed" 'BEGIN { if (s == "NA" || f == "NA") print "NA"; else print n - s - f }')
    figure "${tag}_settle" "$settle_ok" s -
    figure "${tag}_settle_sent" "$settle_sent" s -
    figure "${tag}_goodput_after" "$goodput_after" req/s "$half_L"
    figure "${tag}_sent_after" "$sent_after" req/s "$half_L"
    figure "${tag}_429_share_after" "$share_after" % -
    figure "${tag}_lost" "$lost" req -
    figure "${tag}_failed" "$failed" req -
    endpoint_notes "$tag"
    target "${tag}_settle" "$settle_ok" '<=' 10 s
    target "${tag}_settle_sent" "$settle_sent" '<=' 10 s
    target "${tag}_lost" "$lost" '<=' 0 req
    target "${tag}_failed" "$failed" '<=' 0 req
}

# Scenario 4: two simulators (L1, L2), each endpoint configured at twice its limit, weights 1:1.
scenario_two() {
    local mode=$1 tag="s4_$1" flags=() n bound pid1 pid2 port1 port2 elapsed i name lim ok sent rl gp share
    n=$(((L1 + L2) * run_s))
    bound=$((run_s * 3 + 30))
    mapfile -t flags < <(sim_flags "$mode")
    start_sim "${tag}_a" $((bound + 30)) "$L1" "${flags[@]}"
    pid1=$SIM_PID port1=$SIM_PORT
    start_sim "${tag}_b" $((bound + 30)) "$L2" "${flags[@]}"
    pid2=$SIM_PID port2=$SIM_PORT
    write_project "$work/$tag.project.json" "a:$port1:$((2 * L1 * 60))" "b:$port2:$((2 * L2 * 60))"
    run_batch "$tag" "$work/$tag.project.json" "$(requests_file "$n")" "$bound"
    stop_sim "$pid1" "${tag}_a"
    stop_sim "$pid2" "${tag}_b"
    elapsed=$(jget "$tag" elapsed_s)
    figure "${tag}_elapsed" "$elapsed" s -
    figure "${tag}_succeeded" "$(jget "$tag" succeeded)" req "$n"
    figure "${tag}_goodput" "$(ratio_of "$(jget "$tag" succeeded)" "$elapsed" '%.1f')" req/s $((L1 + L2))
    figure "${tag}_goodput_steady" "$(steady_goodput "$tag")" req/s $((L1 + L2))
    for i in 0 1; do
        name=$(jget "$tag" "endpoints.$i.name")
        if ((i == 0)); then lim=$L1; else lim=$L2; fi
        ok=$(jget "$tag" "endpoints.$i.ok")
        sent=$(jget "$tag" "endpoints.$i.sent")
        rl=$(jget "$tag" "endpoints.$i.rate_limited")
        gp=$(ratio_of "$ok" "$elapsed" '%.1f')
        share=$(awk -v r="$rl" -v s="$sent" 'BEGIN { if (r == "NA" || s == "NA" || s + 0 == 0) print "NA"; else printf "%.2f\n", 100 * r / s }')
        if [[ $name == NA ]]; then
            name=ep$i
        fi
        figure "${tag}_${name}_goodput" "$gp" req/s "$lim"
        figure "${tag}_${name}_429_share" "$share" % -
        target "${tag}_${name}_goodput" "$gp" '>=' "$(awk -v l="$lim" 'BEGIN { printf "%g", l * 0.9 }')" req/s
    done
    endpoint_notes "$tag"
}

# ---- main --------------------------------------------------------------------------------
quick_note=''
if ((quick)); then
    quick_note=' (quick)'
fi
printf '# limiter-bench: L=%s req/s burst=%s latency=%s+%s ms run=%s s%s bin=%s\n' \
    "$L" "$burst" "$latency_ms" "$jitter_ms" "$run_s" "$quick_note" "$bin_dir"
for mode in headers nohdr; do
    scenario_single s1 "$mode" "$L" 0.97 0.5
done
for mode in headers nohdr; do
    scenario_single s2 "$mode" $((2 * L)) 0.90 3
done
for mode in headers nohdr; do
    scenario_drop "$mode"
done
for mode in headers nohdr; do
    scenario_two "$mode"
done

printf '# targets\n'
for v in "${verdicts[@]}"; do
    printf '%s\n' "$v"
done
overall=PASS
if ((misses > 0)); then
    overall=FAIL
fi
printf '%s %d of %d targets met\n' "$overall" $((${#verdicts[@]} - misses)) "${#verdicts[@]}"
if ((strict && misses > 0)); then
    exit 1
fi
exit 0
