#!/usr/bin/env bash
# try-it.sh SLUICE ARTIFACTS: runs `sluice --try-it` (2,000 requests to two simulated endpoints) to the
# end under a private HOME and checks that every line succeeded and the results file holds them.
set -euo pipefail
app=$1
artifacts=$2
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$artifacts"
rc=0
HOME=$home XDG_DATA_HOME=$home/data timeout -k 5 100 "$app" --try-it --quit-when-done --measure-stall \
    2>"$artifacts/try-it.log" || rc=$?
cat "$artifacts/try-it.log" >&2
# --quit-when-done exits 1 when a line failed; --measure-stall prints the totals when the run ends.
[[ $rc -eq 0 ]] || { echo "try-it: sluice exited with $rc" >&2; exit 1; }
grep -qE '^sluice: 2000 requests in ' "$artifacts/try-it.log" || { echo "try-it: no summary of 2,000 requests" >&2; exit 1; }
results=$(find "$home" -name 'demo-results.jsonl' | head -n 1)
[[ -n $results ]] || { echo "try-it: no demo-results.jsonl under $home" >&2; exit 1; }
lines=$(wc -l <"$results")
[[ $lines -eq 2000 ]] || { echo "try-it: $lines results, expected 2000" >&2; exit 1; }
echo "try-it: 2,000 of 2,000 lines succeeded"
