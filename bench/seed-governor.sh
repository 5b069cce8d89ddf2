#!/usr/bin/env bash
# The baseline memgov is measured against: the seed's polling loop, written again from docs/DESIGN.md#the-policy
# section 3 (not copied). Every RELAXED_INTERVAL_S (60 s), or FAST_INTERVAL_S (15 s) once the ratio
# is at or above FAST_AT (0.80), it reads the cgroup, applies the three rules with the same
# thresholds (0.70 compact / 0.85 clear / 0.90 archive-terminate, 300 s compact window) and prints
# one line per decision:
#
#   t_ms=<epoch ms, taken before the read> ratio=<0.xxxxxx> action=<none|compact|clear|archive-terminate> next_s=<sleep>
#
# It acts on no agent: printing the decision is "dispatching" it. Its memory of the ladder (the last
# compact's time and ratio, a clear since it, tier 3 armed) lives in STATE_FILE, as the seed's did,
# so it survives a restart of the loop.
#
# Environment:
#   CGROUP_DIR          the cgroup directory (v1 memory controller or v2); required
#   STATE_FILE          default: ${AGENT_DATA:-$HOME}/mem_governor_seed_state
#   RELAXED_INTERVAL_S  default 60;  FAST_INTERVAL_S default 15 (fractions allowed: sleep(1))
#   COMPACT_AT 0.70  FAST_AT 0.80  CLEAR_AT 0.85  TERMINATE_AT 0.90  COMPACT_WINDOW_MS 300000
#
# Ratios are kept as integer parts per million (bash has no floating point); 64-bit arithmetic
# is exact for any working set below 9 TB.
set -u

: "${CGROUP_DIR:?set CGROUP_DIR to the cgroup directory to watch}"
STATE_FILE=${STATE_FILE:-${AGENT_DATA:-$HOME}/mem_governor_seed_state}
RELAXED_INTERVAL_S=${RELAXED_INTERVAL_S:-60}
FAST_INTERVAL_S=${FAST_INTERVAL_S:-15}
COMPACT_WINDOW_MS=${COMPACT_WINDOW_MS:-300000}

# "0.85" -> 850000 (parts per million), without a subprocess.
to_ppm() {
  local value=$1 whole frac
  whole=${value%%.*}
  if [[ $value == *.* ]]; then frac=${value#*.}; else frac=''; fi
  frac=${frac}000000
  frac=${frac:0:6}
  echo $((10#${whole:-0} * 1000000 + 10#$frac))
}

COMPACT_AT_PPM=$(to_ppm "${COMPACT_AT:-0.70}")
FAST_AT_PPM=$(to_ppm "${FAST_AT:-0.80}")
CLEAR_AT_PPM=$(to_ppm "${CLEAR_AT:-0.85}")
TERMINATE_AT_PPM=$(to_ppm "${TERMINATE_AT:-0.90}")

now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local us=${EPOCHREALTIME/[.,]/}
    echo $((us / 1000))
  else
    date +%s%3N
  fi
}

# The ladder facts, read back from STATE_FILE at start (missing or garbled: start fresh).
last_compact_ms=-1
last_compact_ppm=0
cleared_since_compact=0
tier3_armed=1
load_state() {
  [[ -r $STATE_FILE ]] || return 0
  local key value
  while IFS='=' read -r key value; do
    [[ $value =~ ^-?[0-9]+$ ]] || continue
    case $key in
      last_compact_ms) last_compact_ms=$value ;;
      last_compact_ppm) last_compact_ppm=$value ;;
      cleared_since_compact) cleared_since_compact=$value ;;
      tier3_armed) tier3_armed=$value ;;
    esac
  done <"$STATE_FILE"
}
save_state() {
  local tmp="$STATE_FILE.tmp.$$"
  printf 'last_compact_ms=%s\nlast_compact_ppm=%s\ncleared_since_compact=%s\ntier3_armed=%s\n' \
    "$last_compact_ms" "$last_compact_ppm" "$cleared_since_compact" "$tier3_armed" >"$tmp" &&
    mv -f "$tmp" "$STATE_FILE"
}

# Sets used_bytes and limit_bytes: working set (usage minus inactive file cache) and the limit.
# Returns 1 with a message on stderr when a file is missing or garbled.
read_cgroup() {
  local usage limit key value inactive=0 stat_file
  if [[ -r $CGROUP_DIR/memory.usage_in_bytes ]]; then
    usage=$(<"$CGROUP_DIR/memory.usage_in_bytes") || return 1
    limit=$(<"$CGROUP_DIR/memory.limit_in_bytes") || return 1
    stat_file=$CGROUP_DIR/memory.stat
    while read -r key value; do
      [[ $key == total_inactive_file ]] && inactive=$value
    done <"$stat_file"
  elif [[ -r $CGROUP_DIR/memory.current ]]; then
    usage=$(<"$CGROUP_DIR/memory.current") || return 1
    limit=$(<"$CGROUP_DIR/memory.max") || return 1
    stat_file=$CGROUP_DIR/memory.stat
    while read -r key value; do
      [[ $key == inactive_file ]] && inactive=$value
    done <"$stat_file"
  else
    echo "seed-governor: no memory cgroup files in $CGROUP_DIR" >&2
    return 1
  fi
  # v1 reports "unlimited" as a huge page-rounded number, v2 as "max": use the host's RAM.
  if [[ $limit == max ]] || ((${#limit} > 18)); then
    while read -r key value _; do
      [[ $key == MemTotal: ]] && limit=$((value * 1024))
    done </proc/meminfo
  fi
  if ! [[ $usage =~ ^[0-9]+$ && $limit =~ ^[0-9]+$ && $inactive =~ ^[0-9]+$ ]] || ((limit == 0)); then
    echo "seed-governor: garbled cgroup files in $CGROUP_DIR" >&2
    return 1
  fi
  used_bytes=$((usage > inactive ? usage - inactive : 0))
  limit_bytes=$limit
}

# docs/DESIGN.md#the-policy, first rule that holds wins. Sets action.
decide() {
  local t=$1 ppm=$2 in_window=0
  rearmed=0
  if ((last_compact_ms >= 0 && t - last_compact_ms < COMPACT_WINDOW_MS)); then in_window=1; fi
  action=none
  if ((ppm >= TERMINATE_AT_PPM && in_window && tier3_armed)); then
    action=archive-terminate
    tier3_armed=0
  elif ((ppm >= CLEAR_AT_PPM && in_window && ppm > last_compact_ppm && !cleared_since_compact)); then
    action=clear
    cleared_since_compact=1
  elif ((ppm >= COMPACT_AT_PPM && !in_window)); then
    action=compact
    last_compact_ms=$t
    last_compact_ppm=$ppm
    cleared_since_compact=0
  fi
  # Tier 3 re-arms once a ratio below compactAt is seen (the agent restarted).
  if ((ppm < COMPACT_AT_PPM && !tier3_armed)); then
    tier3_armed=1
    rearmed=1
  fi
}

sleeper=''
stop() {
  [[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP

load_state
while :; do
  t=$(now_ms)
  interval=$RELAXED_INTERVAL_S
  if read_cgroup; then
    ppm=$((used_bytes * 1000000 / limit_bytes))
    decide "$t" "$ppm"
    if [[ $action != none ]] || ((rearmed)); then save_state; fi
    ((ppm >= FAST_AT_PPM)) && interval=$FAST_INTERVAL_S
    printf 't_ms=%s ratio=%d.%06d action=%s next_s=%s\n' \
      "$t" $((ppm / 1000000)) $((ppm % 1000000)) "$action" "$interval"
  fi
  # Sleep in the background so a signal is handled at once, not after the sleep.
  sleep "$interval" &
  sleeper=$!
  wait "$sleeper"
  sleeper=''
done
