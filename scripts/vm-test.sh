#!/bin/sh
# vm-test.sh CMD [ARGS...]
# Boots a throw-away qemu VM running the stock Debian kernel (CONFIG_BPF_LSM=y) with the
# BPF LSM enabled, shares the host root filesystem read-only (9p) + a tmpfs overlay, and
# runs CMD as root inside it (same userland/binaries/libs as the host, cwd preserved).
# Exit status = CMD's exit status inside the guest, 0 to 125 (a higher status shows as 126);
# 125 also means the VM itself failed (qemu did not start, the guest never reported).
# Needs: qemu-system-x86 linux-image-amd64 busybox-static cpio python3 (apt, Debian bookworm).
# No network device is given to the guest (-nic none).
set -eu
KVER=${VMTEST_KVER:-$(ls /boot/vmlinuz-*-amd64 | sed 's#.*/vmlinuz-##' | sort -V | tail -1)}
CACHE=${VMTEST_CACHE:-${TMPDIR:-/tmp}/warden-vmtest}
TIMEOUT=${VMTEST_TIMEOUT:-300}
ACCEL=${VMTEST_ACCEL:-tcg,thread=multi}   # set VMTEST_ACCEL=kvm on runners with real KVM
MODS="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"
mkdir -p "$CACHE"

# 1. uncompressed vmlinux (PVH boot; ~3-4 s faster under TCG than the xz bzImage), written
#    under a temporary name and renamed, so a cut-short write is never taken as the cache
if [ ! -s "$CACHE/vmlinux-$KVER" ]; then
  TMPV=$(mktemp "$CACHE/vmlinux.XXXXXX")
  python3 - "/boot/vmlinuz-$KVER" "$TMPV" <<'EOF'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[d.find(b'\xfd7zXZ\x00'):]))
EOF
  mv "$TMPV" "$CACHE/vmlinux-$KVER"
fi

# 2. tiny initramfs: busybox + 9p/overlay modules + init, cached under a key that covers
#    this script too (an edit to the init below makes a new initramfs)
KEY=$(cat "$0" /bin/busybox | sha256sum | cut -c1-16)
INITRD="$CACHE/initrd-$KVER-$KEY.gz"
if [ ! -s "$INITRD" ]; then
  R=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/host" "$R/ovl" "$R/newroot" "$R/mods"
  cp /bin/busybox "$R/bin/"
  for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
  for m in $MODS; do cp "$(modinfo -k "$KVER" -n "$m")" "$R/mods/"; done
  cat > "$R/init" <<EOF
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $MODS; do insmod /mods/\$m.ko || echo "insmod \$m failed"; done
EOF
  cat >> "$R/init" <<'EOF'
N=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host
mount -t tmpfs tmpfs /ovl && mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work $N
mount --move /proc $N/proc; mount --move /sys $N/sys; mount --move /dev $N/dev
mount -t tmpfs tmpfs $N/run
mount -t securityfs securityfs $N/sys/kernel/security
mount -t cgroup2 cgroup2 $N/sys/fs/cgroup
mount -t bpf bpf $N/sys/fs/bpf
mount -t tracefs tracefs $N/sys/kernel/tracing
chroot $N /bin/ip link set lo up
SCRIPT=$(sed -n 's/.*vmtest\.script=\([^ ]*\).*/\1/p' $N/proc/cmdline)
chroot $N /bin/sh "$SCRIPT"
rc=$?
echo "VMTEST-EXIT: $rc"
# isa-debug-exit makes qemu exit with (byte << 1) | 1, and an exit status has 8 bits: the
# byte is rc + 1 (1..127), so qemu's own failure (status 1, byte 0) is never a guest's 0.
b=$((rc + 1)); [ $b -gt 127 ] && b=127
printf "\\$(printf %03o $b)" | dd of=$N/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF
  chmod +x "$R/init"
  (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$R.gz"
  mv "$R.gz" "$INITRD"
  rm -rf "$R"
fi

# 3. the command, as a script the guest reads through the 9p share
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
SCRIPT=$(mktemp "$CACHE/cmd.XXXXXX")
trap 'rm -f "$SCRIPT"' EXIT
{ echo "cd '$PWD' || exit 125"; printf 'exec'; for a in "$@"; do printf " '%s'" "$(printf %s "$a" | sed "s/'/'\\\\''/g")"; done; echo; } > "$SCRIPT"

# 4. boot; qemu exit status is (rc<<1)|1 via isa-debug-exit
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu max -smp 2 -m 2G \
  -nographic -nic none -no-reboot \
  -kernel "$CACHE/vmlinux-$KVER" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 lsm=${VMTEST_LSM:-lockdown,capability,landlock,bpf} vmtest.script=$SCRIPT" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null
q=$?
set -e
if [ $((q & 1)) -eq 1 ] && [ $q -ge 3 ] && [ $q -le 255 ]; then exit $(((q - 1) / 2 - 1)); fi
echo "vm-test: the VM did not report an exit status (qemu status $q: qemu failed, or the guest never ran the command)" >&2
exit 125
