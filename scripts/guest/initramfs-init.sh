#!/bin/busybox sh
# PID 1 of the guest's initramfs (built by provision.sh): loads the virtio/9p modules, mounts the
# host's root read-only over 9p and hands over to the repo's guest-init.sh on it. Kernel
# command-line words `memgov_stage2=PATH` and `memgov_scratch_tag=TAG` arrive in the environment.
/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t devtmpfs dev /dev

halt_with() {
  echo "memgov guest initramfs: $*" >/dev/console
  echo o >/proc/sysrq-trigger
  sleep 10
}

while read -r module; do
  insmod "/modules/$module.ko" || halt_with "insmod $module failed"
done </modules/order

# msize 256 KiB: the default 8 KiB makes every read of node_modules take many round trips.
# cache=loose: the root is read-only and holds still for the guest's lifetime, so the guest may
# cache files and lookups (without it vitest alone took ~60 s to start under TCG).
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose host /newroot ||
  halt_with "mounting the host root over 9p failed"
[ -x "/newroot$memgov_stage2" ] || halt_with "no executable $memgov_stage2 on the host root"
umount /proc
umount /dev
exec switch_root /newroot "$memgov_stage2"
