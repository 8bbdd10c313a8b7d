#!/bin/sh
# Runs a command with a private D-Bus session and an unlocked gnome-keyring (Secret Service), for
# tests of the OS keychain on machines without a desktop session. Its keyring lives in a temporary
# HOME that is removed afterwards; the user's own keyring is never touched.
# Usage: with-keyring.sh COMMAND [ARGS...]
set -eu
if [ -z "${SLUICE_IN_KEYRING_SESSION:-}" ]; then
    home=$(mktemp -d "${TMPDIR:-/tmp}/sluice-keyring.XXXXXX")
    trap 'rm -rf "$home"' EXIT
    mkdir -p "$home/run" "$home/data"
    chmod 700 "$home/run"
    status=0
    HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" \
        XDG_RUNTIME_DIR="$home/run" SLUICE_IN_KEYRING_SESSION=1 \
        dbus-run-session -- sh "$0" "$@" || status=$?
    exit "$status"
fi
# --unlock reads the keyring's password on stdin and creates the login keyring when there is none.
eval "$(printf 'sluice-test-keyring\n' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
status=0
"$@" || status=$?
# gnome-keyring-daemon exits when dbus-run-session closes the session bus.
exit "$status"
