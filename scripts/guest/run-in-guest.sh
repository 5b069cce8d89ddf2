#!/usr/bin/env bash
# Runs one command inside the cgroup v2 test guest (docs/RELIABILITY.md, "Guest tests") and
# returns its exit code. The guest boots Debian's generic kernel under QEMU's software emulation
# (TCG: these machines have the memory controller on cgroup v1 and may lack KVM), sees the host's
# root read-only over 9p and one scratch folder read-write, mounts its own cgroup2 with +memory,
# runs the command in the current directory with the host's node, and powers off.
#
# Usage: scripts/guest/run-in-guest.sh CMD [ARG...]   (run scripts/guest/provision.sh first)
# Env: MEMGOV_GUEST_CACHE (cache, default ~/.cache/memgov-guest), MEMGOV_GUEST_TIMEOUT_S (hard
#      bound on the whole guest, default 300), MEMGOV_GUEST_KEEP_SCRATCH=1 (keep the folder),
#      MEMGOV_GUEST_MEMORY (guest RAM, default 1G; the reaction bench's 1 GiB cgroup takes 2G).
# Exit: the command's own code; 124 the guest timed out; 125 the guest or QEMU is unavailable or
#       died without reporting a code (the message says which).
set -euo pipefail

CACHE="${MEMGOV_GUEST_CACHE:-$HOME/.cache/memgov-guest}"
TIMEOUT_S="${MEMGOV_GUEST_TIMEOUT_S:-300}"
EXIT_TIMEOUT=124
EXIT_UNAVAILABLE=125
HERE="$(cd "$(dirname "$0")" && pwd)"
QEMU_PID=""
SCRATCH=""

fail() {
  echo "memgov guest: $*" >&2
  exit "$EXIT_UNAVAILABLE"
}

cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill -KILL "$QEMU_PID"; fi
  if [ -n "$SCRATCH" ] && [ "${MEMGOV_GUEST_KEEP_SCRATCH:-0}" != 1 ]; then rm -rf "$SCRATCH"; fi
}

check_parts() {
  [ "$#" -gt 0 ] || fail "usage: run-in-guest.sh CMD [ARG...]"
  command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    fail "qemu-system-x86_64 is not installed (scripts/guest/provision.sh installs it)"
  [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/initramfs.cpio.gz" ] ||
    fail "no guest kernel in $CACHE (run scripts/guest/provision.sh)"
}

# The command as a script in the scratch folder: every word quoted, run where the caller stands.
write_command() {
  {
    echo "cd $(printf '%q' "$PWD") || exit 125"
    printf 'exec'
    printf ' %q' "$@"
    echo
  } >"$SCRATCH/command.sh"
}

start_qemu() {
  # -m 1G: room for vitest and a 320 MiB test cgroup. thread=multi: both host cores emulate.
  qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m "${MEMGOV_GUEST_MEMORY:-1G}" \
    -nographic -serial stdio -monitor none -no-reboot -nic none \
    -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet loglevel=3 psi=1 panic=-1 memgov_stage2=$HERE/guest-init.sh memgov_scratch_tag=scratch" \
    -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=root,mount_tag=host \
    -fsdev "local,id=scratch,path=$SCRATCH,security_model=none" \
    -device virtio-9p-pci,fsdev=scratch,mount_tag=scratch \
    </dev/null &
  QEMU_PID=$!
  echo "$QEMU_PID" >"$SCRATCH/qemu.pid"
}

# Waits for QEMU to power off, or kills it (by its PID) when the hard timeout passes.
wait_for_qemu() {
  local deadline=$((SECONDS + TIMEOUT_S))
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$QEMU_PID" 2>/dev/null || true
      wait "$QEMU_PID" 2>/dev/null || true
      QEMU_PID=""
      echo "memgov guest: timed out after ${TIMEOUT_S} s (MEMGOV_GUEST_TIMEOUT_S); QEMU killed" >&2
      return "$EXIT_TIMEOUT"
    fi
    sleep 0.5
  done
  local qemu_code=0
  wait "$QEMU_PID" || qemu_code=$?
  QEMU_PID=""
  [ "$qemu_code" -eq 0 ] || echo "memgov guest: qemu-system-x86_64 exited with $qemu_code" >&2
}

main() {
  check_parts "$@"
  SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/memgov-guest-XXXXXX")"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  write_command "$@"
  local started=$SECONDS
  start_qemu
  wait_for_qemu || return $?
  [ -f "$SCRATCH/guest-error" ] && fail "the guest gave up: $(cat "$SCRATCH/guest-error")"
  [ -s "$SCRATCH/exit-code" ] ||
    fail "the guest powered off without an exit code (kernel or init failure: see the console above)"
  local code
  code="$(cat "$SCRATCH/exit-code")"
  echo "memgov guest: exit $code after $((SECONDS - started)) s" >&2
  return "$code"
}

main "$@"
