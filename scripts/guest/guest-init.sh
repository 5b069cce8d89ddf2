#!/bin/bash
# PID 1 of the guest once the host's root is mounted (read-only, over 9p). Mounts the guest's own
# proc, sysfs, devtmpfs, tmpfs and cgroup2 (never the host's cgroups: the host's /sys is hidden
# under the guest's own sysfs), runs the command run-in-guest.sh left in the scratch folder,
# writes its exit code there and powers off. Environment from the kernel command line:
# memgov_stage2 (this file), memgov_scratch_tag (the 9p tag of the scratch folder).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SCRATCH=/run/memgov-scratch

power_off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 30
}

# Says why the guest gives up, in the console and (when it is mounted) the scratch folder.
give_up() {
  echo "memgov guest: $*" >/dev/console
  [ -d "$SCRATCH" ] && echo "$*" >"$SCRATCH/guest-error"
  power_off
}

mount_basics() {
  mount -t proc proc /proc || give_up "mounting proc failed"
  mount -t sysfs sysfs /sys || give_up "mounting sysfs failed"
  mount -t devtmpfs dev /dev || give_up "mounting devtmpfs failed"
  mkdir -p /dev/shm /dev/pts
  mount -t devpts devpts /dev/pts
  # memgov's companion locks live in /dev/shm; node and tsx write caches under /tmp and $HOME.
  mount -t tmpfs -o mode=1777 shm /dev/shm
  mount -t tmpfs -o mode=1777 tmp /tmp
  mount -t tmpfs -o mode=0755 run /run
  mkdir -p "$SCRATCH"
  mount -t 9p -o rw,trans=virtio,version=9p2000.L,msize=262144 "$memgov_scratch_tag" "$SCRATCH" ||
    give_up "mounting the scratch folder ($memgov_scratch_tag) failed"
}

# The guest's own cgroup2 hierarchy. Nothing is written until the mount is known to be cgroup2:
# a failed mount would leave the (read-only) host directory there.
mount_cgroup2() {
  mount -t cgroup2 cgroup2 /sys/fs/cgroup || give_up "mounting cgroup2 failed"
  local fs_type
  fs_type="$(stat -f -c %T /sys/fs/cgroup)"
  [ "$fs_type" = cgroup2fs ] || give_up "/sys/fs/cgroup is $fs_type, not cgroup2fs"
  echo +memory >/sys/fs/cgroup/cgroup.subtree_control || give_up "enabling +memory failed"
}

main() {
  mount_basics
  mount_cgroup2
  export HOME=/tmp/home MEMGOV_GUEST=1 MEMGOV_GUEST_SCRATCH="$SCRATCH"
  mkdir -p "$HOME"
  # Through a pipe, not the serial tty: test runners then print plain lines, not redraws.
  bash "$SCRATCH/command.sh" </dev/null 2>&1 | cat >/dev/console
  echo "${PIPESTATUS[0]}" >"$SCRATCH/exit-code"
  power_off
}

main
