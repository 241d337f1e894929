#!/usr/bin/env bash
# Sourced by tools/setup_env.sh (needs a `log` function).
# Run a long step in the background and print the elapsed time every
# PDNET_HEARTBEAT seconds (default 30), so a slow compile is never silent.
with_heartbeat() {
    local what=$1; shift
    local start=${SECONDS} every=${PDNET_HEARTBEAT:-30} pid
    "$@" &
    pid=$!
    while kill -0 "${pid}" 2>/dev/null; do
        sleep 1
        local elapsed=$(( SECONDS - start ))
        if (( elapsed % every == 0 )) && kill -0 "${pid}" 2>/dev/null; then
            log "${what}: ${elapsed} s elapsed, still working"
        fi
    done
    local rc=0
    wait "${pid}" || rc=$?
    if (( rc != 0 )); then
        log "${what}: FAILED (exit ${rc}) after $(( SECONDS - start )) s"
        return "${rc}"
    fi
    log "${what}: done in $(( SECONDS - start )) s"
}
