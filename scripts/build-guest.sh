#!/usr/bin/env bash
# Builds vmkeep's default guest: a Debian cloud kernel plus a busybox initramfs whose init prints a
# heartbeat on the serial console and writes it into sector 0 of /dev/vda. Tests read both to prove
# that a restored guest continued (same boot_id, next tick) instead of rebooting.
#
# Output, in ${VMKEEP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmkeep}/guest/:
#   vmlinuz, initramfs.cpio.gz, kernel-release, stamp
# Idempotent: when the stamp matches this recipe, it returns at once without touching the network.
# Every output is written to a temporary name and renamed into place, the stamp last, so an
# interrupted build never leaves a half-written image that looks finished.
set -euo pipefail

# The kernel is pinned for reproducibility; when the archive has dropped it, the newest 6.1 cloud
# kernel is used instead (the stamp records which one was built).
PINNED_KVER=6.1.0-57-cloud-amd64
BUSYBOX=/bin/busybox
# Loaded in dependency order: the package ships no modules.dep, so insmod cannot resolve them.
MODULES=(
  drivers/virtio/virtio_ring.ko
  drivers/virtio/virtio.ko
  drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci_legacy_dev.ko
  drivers/virtio/virtio_pci.ko
  drivers/virtio/virtio_mmio.ko
  drivers/block/virtio_blk.ko
  drivers/acpi/button.ko
  drivers/input/evdev.ko
)

cache_dir=${VMKEEP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vmkeep}
out=$cache_dir/guest
downloads=$cache_dir/downloads
log() { printf 'build-guest: %s\n' "$*" >&2; }

# 1. Preconditions: a static busybox (a dynamic one cannot run alone in the initramfs).
# (ldd exits 1 for a static binary, so read its output rather than its status.)
if [ ! -x "$BUSYBOX" ] || [[ "$(ldd "$BUSYBOX" 2>&1 || true)" != *'not a dynamic executable'* ]]; then
  log "$BUSYBOX is missing or not static: install busybox-static"
  exit 1
fi

# 2. Fast path: the stamp names every input (this script, busybox); outputs exist.
recipe_sha=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
busybox_sha=$(sha256sum "$BUSYBOX" | cut -d' ' -f1)
up_to_date() {
  [ -f "$out/stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
    grep -qx "recipe=$recipe_sha" "$out/stamp" && grep -qx "busybox=$busybox_sha" "$out/stamp"
}
if up_to_date; then exit 0; fi

mkdir -p "$out" "$downloads"
# Two setups at once (parallel CI jobs on one cache) must not interleave their renames.
exec 9>"$cache_dir/.build-guest.lock"
flock 9
if up_to_date; then exit 0; fi

# 3. Resolve the kernel package. apt needs its package lists; a fresh container has none.
apt_updated=0
refresh_apt() {
  if [ "$apt_updated" = 1 ]; then return 1; fi
  if [ "$(id -u)" != 0 ]; then
    log "apt package lists are missing or stale: run 'sudo apt-get update' and retry"
    exit 1
  fi
  log 'running apt-get update'
  apt-get update -qq >&2
  apt_updated=1
}
resolve_kver() {
  if apt-cache show "linux-image-$PINNED_KVER" >/dev/null 2>&1; then
    echo "$PINNED_KVER"
    return
  fi
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' 2>/dev/null |
    awk '{print $1}' | sort -V | tail -n 1 | sed 's/^linux-image-//'
}
kver=$(resolve_kver)
if [ -z "$kver" ]; then
  refresh_apt
  kver=$(resolve_kver)
fi
[ -n "$kver" ] || { log 'no linux-image-6.1.0-*-cloud-amd64 package in the apt lists'; exit 1; }
[ "$kver" = "$PINNED_KVER" ] || log "pinned kernel $PINNED_KVER unavailable, using $kver"

# 4. Download the .deb once per machine (apt verifies it against the signed package lists).
deb=$(find "$downloads" -maxdepth 1 -name "linux-image-${kver}_*_amd64.deb" | sort -V | tail -n 1)
if [ -z "$deb" ]; then
  log "downloading linux-image-$kver"
  # A stale list can point at a file the mirror no longer has: refresh once and retry.
  if ! (cd "$downloads" && apt-get download -q "linux-image-$kver" >&2 2>/dev/null); then
    refresh_apt || { log "apt-get download linux-image-$kver failed"; exit 1; }
    (cd "$downloads" && apt-get download -q "linux-image-$kver" >&2)
  fi
  deb=$(find "$downloads" -maxdepth 1 -name "linux-image-${kver}_*_amd64.deb" | sort -V | tail -n 1)
  [ -n "$deb" ] || { log "apt-get download linux-image-$kver produced no file"; exit 1; }
fi

# 5. Extract only the kernel and the few modules the init loads (the full package is 91 MB).
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
members=("./boot/vmlinuz-$kver")
for m in "${MODULES[@]}"; do members+=("./lib/modules/$kver/kernel/$m"); done
mkdir -p "$work/kroot"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/kroot" "${members[@]}"

# 6. The initramfs tree: static busybox, the modules, and the init below.
root=$work/root
# busybox acpid silently exits when it cannot open /var/log/acpid.log or its pid file.
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc/acpi/PWRF,tmp,var/log,var/run,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
for m in "${MODULES[@]}"; do cp "$work/kroot/lib/modules/$kver/kernel/$m" "$root/lib/modules/"; done
printf '%s\n' "${MODULES[@]##*/}" >"$root/lib/modules/load-order"

cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo 'guest: power button, powering off' >/dev/console
# The console is a serial port that drains after write() returns; give the line time to
# leave the UART, or a host busy enough to slow TCG never sees it.
sleep 0.5
poweroff -f
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# vmkeep default guest init. Kernel command line hooks: fill=N (dirty N MiB of RAM with random
# data, for snapshot benchmarks) and noacpid (ignore the power button).
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r mod; do insmod "/lib/modules/$mod"; done </lib/modules/load-order

fill=0
acpi=1
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    fill=*) fill=${arg#fill=} ;;
    noacpid) acpi=0 ;;
  esac
done
# acpid opens the /dev/input/event* nodes present when it starts: wait for the power button's
# (up to 10 s: it takes far less, but TCG on a loaded host is slow).
button=
for _ in $(seq 100); do
  for dev in /sys/class/input/event*; do
    [ "$(cat "$dev/device/name" 2>/dev/null)" = 'Power Button' ] && button=/dev/input/${dev##*/}
  done
  [ -n "$button" ] && [ -c "$button" ] && break
  sleep 0.1
done
[ "$acpi" = 1 ] && acpid -c /etc/acpi
[ "$fill" -gt 0 ] && dd if=/dev/urandom of=/tmp/fill bs=1M count="$fill" 2>/dev/null

boot_id=$(cat /proc/sys/kernel/random/boot_id)
echo "guest: init up boot_id=$boot_id" >/dev/console
n=0
while true; do
  read -r up _ </proc/uptime
  echo "tick $n uptime=$up boot_id=$boot_id" >/dev/console
  if [ -b /dev/vda ]; then
    printf 'tick %08d' "$n" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null
  fi
  sleep 1
  n=$((n + 1))
done
EOF
chmod 755 "$root/init"

# 7. Pack, then move everything into place; the stamp goes last.
# Fixed timestamps, sorted names and --reproducible: the same inputs give the same bytes.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | gzip -9 -n) \
  >"$work/initramfs.cpio.gz"
cp "$work/kroot/boot/vmlinuz-$kver" "$work/vmlinuz"
echo "$kver" >"$work/kernel-release"
printf 'recipe=%s\nbusybox=%s\nkernel=%s\ndeb=%s\n' \
  "$recipe_sha" "$busybox_sha" "$kver" "$(basename "$deb")" >"$work/stamp"
rm -f "$out/stamp"
for f in vmlinuz initramfs.cpio.gz kernel-release stamp; do mv -f "$work/$f" "$out/$f"; done
log "guest image ready in $out (kernel $kver)"
