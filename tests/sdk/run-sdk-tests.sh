#!/usr/bin/env bash
# run-sdk-tests.sh --cli PATH --work DIR: the official SDKs against `sluice-cli serve` (ctest: sdk_gateway).
#
# Copies package.json, package-lock.json and the test into DIR (in the build tree), installs the pinned
# SDKs there with `npm ci` unless DIR already holds exactly what the lock file pins (so a run offline
# works once they were installed), then runs `node --test`. Every step is bounded in time.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
cli=
work=
while (($# > 0)); do
    case $1 in
        --cli) cli=$2; shift ;;
        --work) work=$2; shift ;;
        *) echo "run-sdk-tests.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x $cli && -n $work ]] || { echo "usage: run-sdk-tests.sh --cli PATH --work DIR" >&2; exit 2; }
cli="$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node and npm are needed: run packaging/install-deps.sh" >&2
    exit 1
fi

mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/gateway-sdk.test.mjs" "$work/"
stamp="$work/node_modules/.sluice-lock.sha256"
want=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    (cd "$work" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi
cd "$work"
SLUICE_CLI=$cli exec timeout 300 node --test gateway-sdk.test.mjs
