#!/usr/bin/env bash
# Runs two examples against each other over loopback and checks what they
# print.
#
#   run_pair.sh [--show] [--unix] [--listener-prints TEXT] [--dialer-prints TEXT] LISTENER DIALER
#
# LISTENER is started as `LISTENER 0 127.0.0.1`: it binds a port the system
# chooses and announces it on stderr as `listening on PORT`. DIALER is then
# started as `DIALER PORT 127.0.0.1`. With --unix the address is a Unix
# domain socket in a directory of the run's own (`unix:/tmp/.../pair.sock`)
# instead of 127.0.0.1; the listener announces port 0. Both must exit 0 within 45 s, and each
# one's stdout must be exactly TEXT plus a newline (or nothing, when no TEXT
# is given). On failure, or with --show, both programs' output is printed,
# each line labelled with the program and stream. Exits 0 on success.
set -uo pipefail

usage() {
  echo "usage: $0 [--show] [--unix] [--listener-prints TEXT] [--dialer-prints TEXT] LISTENER DIALER" >&2
  exit 2
}

show=0
unix=0
listener_expect=""
dialer_expect=""
while (($#)); do
  case $1 in
    --show) show=1; shift ;;
    --unix) unix=1; shift ;;
    --listener-prints) (($# >= 2)) || usage; listener_expect=$2; shift 2 ;;
    --dialer-prints) (($# >= 2)) || usage; dialer_expect=$2; shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
(($# == 2)) || usage
listener=$1
dialer=$2
listener_name=$(basename -- "$listener")
dialer_name=$(basename -- "$dialer")

limit=45 # seconds each program may run (more than the examples' own 20 s waits)
work=$(mktemp -d)
listener_pid=""
drain_pid=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null
  [[ -n $drain_pid ]] && kill "$drain_pid" 2>/dev/null
  rm -rf -- "$work"
}
trap cleanup EXIT

address=127.0.0.1
((unix)) && address="unix:$work/pair.sock"

# The listener's stderr goes through a FIFO so that we can block on its
# announcement (with a deadline) instead of polling a file.
mkfifo "$work/listener.fifo"
timeout "$limit" "$listener" 0 "$address" >"$work/listener.out" 2>"$work/listener.fifo" &
listener_pid=$!
exec {announce}<"$work/listener.fifo"

port=""
if IFS= read -r -t "$limit" -u "$announce" line; then
  printf '%s\n' "$line" >"$work/listener.err"
  [[ $line =~ ^listening\ on\ ([0-9]+)$ ]] && port=${BASH_REMATCH[1]}
else
  : >"$work/listener.err"
fi
# Keep reading the rest of its stderr, so that it never blocks on a full pipe.
cat <&"$announce" >>"$work/listener.err" &
drain_pid=$!
exec {announce}<&-

dialer_status=""
if [[ -n $port ]]; then
  timeout "$limit" "$dialer" "$port" "$address" >"$work/dialer.out" 2>"$work/dialer.err"
  dialer_status=$?
else
  kill "$listener_pid" 2>/dev/null
  : >"$work/dialer.out"
  echo "(not started: $listener_name announced no port)" >"$work/dialer.err"
fi
wait "$listener_pid"
listener_status=$?
listener_pid=""
wait "$drain_pid"
drain_pid=""

# stdout_is FILE TEXT: the file holds exactly TEXT and a newline, or nothing
# when TEXT is empty. (The trailing x keeps $(...) from eating newlines.)
stdout_is() {
  local want=""
  [[ -n $2 ]] && want="$2"$'\n'
  [[ "$(cat -- "$1"; printf x)" == "${want}x" ]]
}

failures=()
[[ -n $port ]] || failures+=("$listener_name did not announce 'listening on PORT'")
[[ $listener_status == 0 ]] || failures+=("$listener_name exited with $listener_status")
[[ -z $dialer_status || $dialer_status == 0 ]] || failures+=("$dialer_name exited with $dialer_status")
stdout_is "$work/listener.out" "$listener_expect" ||
  failures+=("$listener_name should print '${listener_expect}' on stdout")
stdout_is "$work/dialer.out" "$dialer_expect" ||
  failures+=("$dialer_name should print '${dialer_expect}' on stdout")

# label NAME STREAM FILE: the file's lines, each prefixed with where it came from.
label() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    printf '  %-10s %-6s | %s\n' "$1" "$2" "$line"
  done <"$3"
}

if ((show)) || ((${#failures[@]})); then
  echo "\$ $listener_name 0 $address &    (exit ${listener_status})"
  echo "\$ $dialer_name ${port:-?} $address    (exit ${dialer_status:-not run})"
  label "$listener_name" stderr "$work/listener.err"
  label "$listener_name" stdout "$work/listener.out"
  label "$dialer_name" stderr "$work/dialer.err"
  label "$dialer_name" stdout "$work/dialer.out"
fi
if ((${#failures[@]})); then
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
((show)) && echo "ok: $listener_name and $dialer_name printed what they should"
exit 0
