#!/usr/bin/env bash
# Start-up footprint of a bundle: runs `memgov run` on this process's own memory cgroup for 12 s
# and reports the peak RSS (VmHWM), the peak RssAnon, and both at the end, from /proc/PID/status
# read every 0.5 s. Usage: bench/startup-footprint.sh [BUNDLE] (default dist/memgov.mjs)
set -euo pipefail
bundle=${1:-dist/memgov.mjs}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
node "$bundle" run --state-file "$dir/state" --log-level warn >/dev/null 2>&1 &
pid=$!
field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
max_anon=0
for _ in $(seq 1 24); do
  sleep 0.5
  anon=$(field RssAnon)
  [ "$anon" -gt "$max_anon" ] && max_anon=$anon
done
echo "$bundle: VmHWM $(field VmHWM) kB, RssAnon peak $max_anon kB, at 12 s RSS $(field VmRSS) kB, RssAnon $(field RssAnon) kB"
kill -TERM "$pid"
wait "$pid" || true
