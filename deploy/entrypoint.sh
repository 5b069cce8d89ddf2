#!/bin/sh
# Container entrypoint for an AI coding agent governed by memgov (the first of the two wiring
# paths in docs/DESIGN.md#persistence; the second is the Kubernetes postStart hook `memgov start --detach`).
#
#   entrypoint.sh AGENT COMMAND...        e.g. entrypoint.sh claude --continue
#   entrypoint.sh --print-memgov-args     prints the `memgov run` arguments it would use, one a
#                                         line (a postStart hook must pass the same), and exits
#
# 1. Starts the agent: in a tmux session of its own (AGENT_TMUX=1, the default when tmux is
#    installed; terminal CLIs such as Claude Code need a terminal, and memgov types /compact into
#    the pane), or as a plain child process (AGENT_TMUX=0). Its pid goes to AGENT_PIDFILE.
# 2. Runs `memgov run` in a background loop attached to that agent (--agent-pidfile, and
#    --tmux-target/--tmux-socket with tmux), restarting it whenever it exits, with capped
#    exponential backoff. A memgov that finds another one governing (the postStart copy) exits 0
#    at once: that also backs off, so the loop polls gently and takes over if the other one dies.
# 3. Waits for the agent. SIGTERM or SIGINT is passed on to the agent, to the loop's memgov and
#    to a memgov started by the postStart hook; the script exits with the agent's status.
#
# Why the agent belongs to this script and not to memgov (`memgov run -- claude` would also
# launch it in tmux): memgov is the process that gets restarted here. An agent owned by memgov
# would be orphaned by a memgov crash and launched a second time by its successor, and with the
# postStart path in play it would depend on which copy won the lock. Owned here, there is one
# agent for the container's lifetime whatever happens to memgov, the container's exit status is
# the agent's, and the agent is reachable at a fixed pane (`tmux -L agent attach -t agent`).
# The price: after memgov's tier 3 stops the agent, the container ends and Kubernetes restarts it
# (the session archive is on the AGENT_DATA volume) instead of memgov resuming it in place.
#
# Environment (all optional):
#   AGENT_DATA              persistent agent state (default /data); memgov reads it too
#   MEMGOV_BIN              the memgov command, split on blanks (default: memgov); the tests use
#                           "node dist/memgov.mjs"
#   MEMGOV_CONFIG           passed as --config (JSON or YAML)
#   MEMGOV_ARGS             more `memgov run` flags, split on blanks (e.g. --metrics=9470)
#   MEMGOV_STATE_FILE       memgov's state file (memgov reads it too); its lock names the
#                           postStart copy to stop at shutdown
#                           (default $AGENT_DATA/config/mem_governor_state)
#   MEMGOV_LOG_FILE         append memgov's output there (default: this script's stdout)
#   MEMGOV_BACKOFF_MIN_MS   first restart delay (default 1000)
#   MEMGOV_BACKOFF_MAX_MS   the cap of the doubling delay (default 60000)
#   MEMGOV_HEALTHY_AFTER_S  a memgov that ran this long restarts after the first delay again
#                           (default 60)
#   AGENT_TMUX              1: the agent runs in tmux, 0: a plain child (default 1 if tmux exists)
#   AGENT_TMUX_SOCKET       tmux server name, as tmux -L takes it (default agent)
#   AGENT_TMUX_SESSION      tmux session name; the pane is SESSION:0.0 (default agent)
#   AGENT_PIDFILE           where the agent's pid is written (default $AGENT_DATA/agent.pid)
#   AGENT_CWD               the agent's working directory (default: the current one)
#   AGENT_POLL_MS           how often a tmux agent is checked for exit (default 1000)
#   AGENT_STOP_GRACE_MS     after SIGTERM, how long the agent is given before SIGKILL; the
#                           kubelet's own grace period ends it anyway (default 20000)
set -u

log() {
  printf 'memgov-entrypoint: %s\n' "$*" >&2
}

# A delay in milliseconds, as sleep takes it (fractional seconds: GNU coreutils and busybox).
seconds_of() {
  printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# Non-negative whole numbers only: a typo must not turn the backoff into a busy loop.
number_or() {
  case "$1" in
    '' | *[!0-9]*)
      log "ignoring $2=$1 (not a whole number); using $3"
      echo "$3"
      ;;
    *) echo "$1" ;;
  esac
}

if [ "$#" -eq 0 ]; then
  log 'usage: entrypoint.sh AGENT COMMAND...'
  exit 2
fi

AGENT_DATA=${AGENT_DATA:-/data}
export AGENT_DATA
MEMGOV_BIN=${MEMGOV_BIN:-memgov}
MEMGOV_CONFIG=${MEMGOV_CONFIG:-}
MEMGOV_ARGS=${MEMGOV_ARGS:-}
MEMGOV_LOG_FILE=${MEMGOV_LOG_FILE:-}
state_file=${MEMGOV_STATE_FILE:-$AGENT_DATA/config/mem_governor_state}
backoff_min_ms=$(number_or "${MEMGOV_BACKOFF_MIN_MS:-1000}" MEMGOV_BACKOFF_MIN_MS 1000)
backoff_max_ms=$(number_or "${MEMGOV_BACKOFF_MAX_MS:-60000}" MEMGOV_BACKOFF_MAX_MS 60000)
healthy_after_s=$(number_or "${MEMGOV_HEALTHY_AFTER_S:-60}" MEMGOV_HEALTHY_AFTER_S 60)
agent_poll_ms=$(number_or "${AGENT_POLL_MS:-1000}" AGENT_POLL_MS 1000)
agent_grace_ms=$(number_or "${AGENT_STOP_GRACE_MS:-20000}" AGENT_STOP_GRACE_MS 20000)
[ "$backoff_min_ms" -ge 1 ] || backoff_min_ms=1
[ "$backoff_max_ms" -ge "$backoff_min_ms" ] || backoff_max_ms=$backoff_min_ms
[ "$agent_poll_ms" -ge 10 ] || agent_poll_ms=10
if [ -z "${AGENT_TMUX:-}" ]; then
  if command -v tmux >/dev/null 2>&1; then AGENT_TMUX=1; else AGENT_TMUX=0; fi
fi
tmux_socket=${AGENT_TMUX_SOCKET:-agent}
tmux_session=${AGENT_TMUX_SESSION:-agent}
agent_pidfile=${AGENT_PIDFILE:-$AGENT_DATA/agent.pid}
agent_cwd=${AGENT_CWD:-$(pwd)}

# The flags that attach memgov to the agent started below; the postStart hook must pass the same.
attach_flags="--agent-pidfile $agent_pidfile"
if [ "$AGENT_TMUX" = 1 ]; then
  attach_flags="$attach_flags --tmux-socket $tmux_socket --tmux-target $tmux_session:0.0"
fi
config_flags=''
[ -n "$MEMGOV_CONFIG" ] && config_flags="--config $MEMGOV_CONFIG"

if [ "$1" = --print-memgov-args ]; then
  # shellcheck disable=SC2086 # split as the loop below splits them
  printf '%s\n' run $config_flags $attach_flags $MEMGOV_ARGS
  exit 0
fi

mkdir -p "$AGENT_DATA" "$(dirname "$agent_pidfile")" || exit 1

# --- the memgov loop (runs in a background subshell) ----------------------------------------

memgov_loop() {
  loop_stopping=0
  loop_child=''
  loop_sleeper=''
  trap 'loop_stopping=1
    [ -n "$loop_child" ] && kill -TERM "$loop_child" 2>/dev/null
    [ -n "$loop_sleeper" ] && kill -TERM "$loop_sleeper" 2>/dev/null' TERM INT
  delay_ms=$backoff_min_ms
  attempt=0
  while [ "$loop_stopping" = 0 ]; do
    attempt=$((attempt + 1))
    started_s=$(date +%s)
    # MEMGOV_BIN, the config and the extra flags are word-split on purpose (documented above).
    # shellcheck disable=SC2086
    if [ -n "$MEMGOV_LOG_FILE" ]; then
      $MEMGOV_BIN run $config_flags $attach_flags $MEMGOV_ARGS >>"$MEMGOV_LOG_FILE" 2>&1 &
    else
      $MEMGOV_BIN run $config_flags $attach_flags $MEMGOV_ARGS &
    fi
    loop_child=$!
    log "memgov started (pid $loop_child, attempt $attempt)"
    # A trapped signal interrupts wait; wait again for the real status.
    while :; do
      wait "$loop_child"
      status=$?
      kill -0 "$loop_child" 2>/dev/null || break
    done
    ran_s=$(($(date +%s) - started_s))
    loop_child=''
    if [ "$loop_stopping" = 1 ]; then
      log "memgov stopped (status $status)"
      break
    fi
    # A memgov that governed for a while failed for a new reason: start again from the shortest
    # delay. One that exits at once (a crash at start, or exit 0 because another memgov holds the
    # lock) doubles the delay, so the loop never spins.
    [ "$ran_s" -ge "$healthy_after_s" ] && delay_ms=$backoff_min_ms
    log "memgov exited with status $status after ${ran_s}s; restarting in ${delay_ms}ms"
    sleep "$(seconds_of "$delay_ms")" &
    loop_sleeper=$!
    wait "$loop_sleeper"
    loop_sleeper=''
    delay_ms=$((delay_ms * 2))
    [ "$delay_ms" -le "$backoff_max_ms" ] || delay_ms=$backoff_max_ms
  done
}

# --- the agent ----------------------------------------------------------------------------

agent_pid=''
agent_statusfile="$agent_pidfile.status"
tmux_agent() {
  tmux -L "$tmux_socket" "$@"
}

# Writes the pid beside the file and renames it: memgov re-reads the pidfile on each use.
write_pidfile() {
  printf '%s\n' "$1" >"$agent_pidfile.tmp" && mv -f "$agent_pidfile.tmp" "$agent_pidfile"
}

# The first child of process $1: /proc/PID/task/PID/children where the kernel has it, else a scan.
child_of() {
  if [ -r "/proc/$1/task/$1/children" ]; then
    children=$(cat "/proc/$1/task/$1/children")
    # shellcheck disable=SC2086 # a blank-separated list of pids
    set -- $children
    printf '%s' "${1:-}"
    return
  fi
  for stat in /proc/[0-9]*/stat; do
    # pid (comm) state ppid ...; comm may hold blanks and parentheses: cut at the last ") ".
    sed -n "s/^\([0-9]*\) (.*) [A-Za-z] $1 .*/\1/p" "$stat" 2>/dev/null
  done | head -n 1
}

start_agent() {
  if [ "$AGENT_TMUX" = 1 ]; then
    rm -f "$agent_statusfile"
    # tmux (3.3a) does not always report a dead pane's exit status, so a small shell in the pane
    # runs the agent and writes it down. -m: the agent gets a process group of its own and the
    # terminal's foreground, as in an interactive shell; memgov's tier 3 signals that group.
    # shellcheck disable=SC2016 # expanded by the pane's shell
    tmux_agent new-session -d -s "$tmux_session" -x 200 -y 50 -c "$agent_cwd" -- \
      sh -mc 'status_file=$1; shift; "$@"; echo "$?" >"$status_file.tmp"; mv -f "$status_file.tmp" "$status_file"' \
      memgov-agent "$agent_statusfile" "$@" || return 1
    pane_pid=$(tmux_agent display-message -p -t "$tmux_session:0.0" '#{pane_pid}') || return 1
    # The pane's shell forks the agent at once; give up if the agent is already gone.
    tries=0
    while [ -z "$agent_pid" ] && [ "$tries" -lt 500 ] && [ ! -e "$agent_statusfile" ]; do
      agent_pid=$(child_of "$pane_pid")
      [ -n "$agent_pid" ] || sleep 0.01
      tries=$((tries + 1))
    done
    [ -n "$agent_pid" ] || return 1
  else
    # setsid: the agent leads a process group of its own, which memgov's tier 3 signals whole.
    if command -v setsid >/dev/null 2>&1; then
      (cd "$agent_cwd" && exec setsid "$@") &
    else
      (cd "$agent_cwd" && exec "$@") &
    fi
    agent_pid=$!
  fi
  write_pidfile "$agent_pid"
  log "agent started (pid $agent_pid, tmux $AGENT_TMUX): $*"
}

# Sets agent_status once the tmux agent has exited; leaves it empty while it runs.
check_tmux_agent() {
  if [ -r "$agent_statusfile" ]; then
    agent_status=$(cat "$agent_statusfile")
  elif ! tmux_agent has-session -t "$tmux_session" 2>/dev/null; then
    # The status is written before the pane's shell exits and the session with it: look again.
    if [ -r "$agent_statusfile" ]; then
      agent_status=$(cat "$agent_statusfile")
    else
      log 'the tmux session is gone without the agent status: it was ended from outside'
      agent_status=1
    fi
  fi
}

signal_agent() {
  # The group first (tmux panes and setsid make the agent a group leader), then the pid alone.
  kill "-$1" -- "-$agent_pid" 2>/dev/null || kill "-$1" "$agent_pid" 2>/dev/null
}

# Each part of the stop runs once, however many signals come and whenever they come.
stopping=0
trapped=0
on_signal() {
  trapped=1
  [ "$stopping" = 1 ] || log "$1: stopping the agent and memgov"
  stopping=1
  stop_agent
  stop_memgov
}

# SIGTERM to the agent, and SIGKILL after the grace period unless it has exited by then.
killer_pid=''
stop_agent() {
  if [ -z "$agent_pid" ] || [ -n "$killer_pid" ]; then return; fi
  signal_agent TERM
  (
    grace_sleeper=''
    trap '[ -n "$grace_sleeper" ] && kill "$grace_sleeper" 2>/dev/null; exit 0' TERM
    sleep "$(seconds_of "$agent_grace_ms")" &
    grace_sleeper=$!
    wait "$grace_sleeper"
    log "the agent ignored SIGTERM for ${agent_grace_ms}ms: SIGKILL"
    signal_agent KILL
  ) &
  killer_pid=$!
}

# Stops the loop, then the postStart copy if it is the one holding the lock (not our child: it
# would otherwise die only with the container, by SIGKILL, mid-write perhaps).
memgov_stopped=0
loop_pid=''
stop_memgov() {
  [ -n "$loop_pid" ] || return
  [ "$memgov_stopped" = 1 ] && return
  memgov_stopped=1
  kill -TERM "$loop_pid" 2>/dev/null
  wait "$loop_pid" 2>/dev/null
  holder=$(sed -n 's/.*"pid":\([0-9][0-9]*\).*/\1/p' "$state_file.lock" 2>/dev/null)
  if [ -n "$holder" ] && [ "$holder" != "$$" ] &&
    tr '\0' ' ' <"/proc/$holder/cmdline" 2>/dev/null | grep -q memgov; then
    log "stopping the memgov started by the postStart hook (pid $holder)"
    kill -TERM "$holder" 2>/dev/null
    # Wait for it (it is not our child: poll): when this script ends the container ends, and
    # whatever still runs in it is SIGKILLed, mid-write perhaps. At most 30 s.
    polls=0
    while [ "$polls" -lt 300 ] && kill -0 "$holder" 2>/dev/null &&
      ! grep -q '^State:[[:space:]]*Z' "/proc/$holder/status" 2>/dev/null; do
      sleep 0.1
      polls=$((polls + 1))
    done
  fi
}

trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT

start_agent "$@" || {
  log "the agent could not be started: $*"
  [ "$AGENT_TMUX" = 1 ] && tmux_agent kill-server 2>/dev/null
  exit 127
}

memgov_loop &
loop_pid=$!
# A signal that came while the two were starting may have found one of them not there yet.
[ "$stopping" = 1 ] && on_signal SIGTERM

agent_status=''
if [ "$AGENT_TMUX" = 1 ]; then
  while :; do
    check_tmux_agent
    [ -n "$agent_status" ] && break
    sleep "$(seconds_of "$agent_poll_ms")" &
    wait $! 2>/dev/null
  done
  tmux_agent kill-server 2>/dev/null
  rm -f "$agent_statusfile"
else
  # Our trap interrupts wait, which then returns 128 + the signal: wait again for the agent's
  # own status (the shell keeps it even when the trap's waits reaped the agent). A second wait
  # for a pid already waited for returns 127: the status seen before it stands.
  while :; do
    trapped=0
    wait "$agent_pid"
    waited=$?
    [ "$waited" = 127 ] && [ -n "$agent_status" ] && break
    agent_status=$waited
    if [ "$trapped" = 0 ] || [ "$waited" -le 128 ]; then break; fi
  done
fi
[ -n "$killer_pid" ] && kill "$killer_pid" 2>/dev/null
log "agent exited with status $agent_status"
rm -f "$agent_pidfile"
stop_memgov
exit "$agent_status"
