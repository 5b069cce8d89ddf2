#!/usr/bin/env bash
# Provisions the cgroup v2 test guest (docs/RELIABILITY.md, "Guest tests"): Debian's generic
# kernel and busybox-static, fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
# a cache outside the package (nothing is installed on the host, /boot stays untouched), an
# initramfs holding busybox and the kernel's virtio/9p modules, and qemu-system-x86, installed
# only when missing. Idempotent: a second run with a complete cache does nothing.
#
# Usage: scripts/guest/provision.sh   (cache: ${MEMGOV_GUEST_CACHE:-$HOME/.cache/memgov-guest})
# Exit: 0 ready, 3 a part cannot be had (the message names it).
set -euo pipefail

CACHE="${MEMGOV_GUEST_CACHE:-$HOME/.cache/memgov-guest}"
EXIT_UNAVAILABLE=3
# insmod order: each module after the ones it needs (modinfo depends of Debian's 6.1 kernel).
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  9pnet 9pnet_virtio netfs fscache 9p)

fail() {
  echo "memgov guest: $*" >&2
  exit "$EXIT_UNAVAILABLE"
}

# Debian's generic kernel, newest ABI first. The -cloud- kernel has no 9p and cannot boot the
# guest; -rt is another scheduler, so neither is taken.
kernel_package() {
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
    awk '{print $1}' | sort -t- -k4,4n | tail -n 1
}

# Fetches one package into the cache and unpacks it into $2 (never installs it).
fetch_and_unpack() {
  local package="$1" into="$2"
  mkdir -p "$CACHE/debs"
  if ! compgen -G "$CACHE/debs/${package}_*.deb" >/dev/null; then
    echo "memgov guest: apt-get download $package" >&2
    (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$package") ||
      fail "apt-get download $package failed (no network or no apt lists? try apt-get update)"
  fi
  rm -rf "$into.partial"
  mkdir -p "$into.partial"
  local deb
  deb="$(compgen -G "$CACHE/debs/${package}_*.deb" | tail -n 1)"
  dpkg-deb -x "$deb" "$into.partial" || fail "dpkg-deb -x $deb failed"
  rm -rf "$into"
  mv "$into.partial" "$into"
}

ensure_qemu() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 && return 0
  echo "memgov guest: installing qemu-system-x86 (--no-install-recommends, ~84 MB)" >&2
  [ "$(id -u)" -eq 0 ] || fail "qemu-system-x86_64 is missing and installing it needs root"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-system-x86 >/dev/null || fail "apt-get install qemu-system-x86 failed"
}

ensure_kernel() {
  [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/kernel-release" ] && return 0
  local package
  package="$(kernel_package)"
  # A fresh machine (CI) may have no apt lists yet: fetch them once, as root.
  if [ -z "$package" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq || fail "apt-get update failed (no network?)"
    package="$(kernel_package)"
  fi
  [ -n "$package" ] || fail "no linux-image-6.1.0-*-amd64 package in the apt lists"
  fetch_and_unpack "$package" "$CACHE/kernel"
  local vmlinuz
  vmlinuz="$(compgen -G "$CACHE/kernel/boot/vmlinuz-*" | head -n 1)" ||
    fail "$package holds no /boot/vmlinuz-*"
  cp "$vmlinuz" "$CACHE/vmlinuz"
  basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$CACHE/kernel-release"
}

ensure_busybox() {
  [ -x "$CACHE/busybox/bin/busybox" ] && return 0
  fetch_and_unpack busybox-static "$CACHE/busybox"
  [ -x "$CACHE/busybox/bin/busybox" ] || fail "busybox-static holds no /bin/busybox"
}

# Copies one module of the kernel into the initramfs, uncompressed (busybox insmod reads plain
# .ko files only).
copy_module() {
  local name="$1" into="$2" release found
  release="$(cat "$CACHE/kernel-release")"
  found="$(find "$CACHE/kernel/lib/modules/$release" -name "$name.ko*" | head -n 1)"
  [ -n "$found" ] || fail "module $name is not in the kernel package ($release)"
  case "$found" in
    *.ko.xz) xz -dc "$found" >"$into/$name.ko" ;;
    *.ko.zst) zstd -qdc "$found" >"$into/$name.ko" ;;
    *.ko.gz) gzip -dc "$found" >"$into/$name.ko" ;;
    *) cp "$found" "$into/$name.ko" ;;
  esac
}

ensure_initramfs() {
  local here="$1"
  local stamp="$CACHE/initramfs.stamp" want
  want="$(cat "$CACHE/kernel-release") $(sha256sum "$here/initramfs-init.sh" | cut -c1-16)"
  [ -s "$CACHE/initramfs.cpio.gz" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  local root="$CACHE/initramfs.tree"
  rm -rf "$root"
  mkdir -p "$root"/{bin,dev,proc,sys,newroot,modules}
  cp "$CACHE/busybox/bin/busybox" "$root/bin/busybox"
  for module in "${MODULES[@]}"; do copy_module "$module" "$root/modules"; done
  printf '%s\n' "${MODULES[@]}" >"$root/modules/order"
  install -m 0755 "$here/initramfs-init.sh" "$root/init"
  # busybox's own cpio: the host need not have one.
  (cd "$root" && find . | "$CACHE/busybox/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) \
    >"$CACHE/initramfs.cpio.gz.partial"
  mv "$CACHE/initramfs.cpio.gz.partial" "$CACHE/initramfs.cpio.gz"
  echo "$want" >"$stamp"
}

main() {
  local here
  here="$(cd "$(dirname "$0")" && pwd)"
  mkdir -p "$CACHE"
  ensure_qemu
  ensure_kernel
  ensure_busybox
  ensure_initramfs "$here"
  echo "memgov guest: ready (kernel $(cat "$CACHE/kernel-release"), cache $CACHE)" >&2
}

main "$@"
