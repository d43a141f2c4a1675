#!/usr/bin/env bash
# Builds (or reuses from the cache) the Debian 12 appliance used by the VM tests:
#   rootfs-<key>.tar     the appliance root filesystem, version 1 (also the upgrade payload base)
#   golden-<key>.qcow2   a disk laid out as DESIGN.md says (BIOS boot, /boot, VG VA with
#                        root/back/data/image), slot A installed and made bootable by the
#                        project's own grub-scripts running inside a builder VM.
# The cache lives outside the repository: $TWINROOT_VM_CACHE (default /var/cache/twinroot-vm).
#   build-ssh-key        the SSH key the image build (packer/) logs in with as root
# Prints the two paths on its last two lines.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${TWINROOT_VM_CACHE:-/var/cache/twinroot-vm}
mirror=${TWINROOT_VM_MIRROR:-http://deb.debian.org/debian}

die() { echo "build-base: $*" >&2; exit 1; }
step() { echo "build-base: $* ($(date +%T))" >&2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
for tool in debootstrap qemu-system-x86_64 qemu-img mke2fs zstd sha256sum node ssh-keygen; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install qemu-system-x86 qemu-utils debootstrap e2fsprogs zstd openssh-client)"
done
mkdir -p "$cache"
# The image builder's key (Packer logs in with it over SSH; the image build removes it again).
build_key="$cache/build-ssh-key"
[ -s "$build_key" ] || ssh-keygen -q -t ed25519 -N '' -C twinroot-image-build -f "$build_key"

packages=linux-image-amd64,lvm2,grub-pc,systemd-sysv,udev,kmod,e2fsprogs,tar,initramfs-tools,parted,attr,acl,libcap2-bin,zstd,xz-utils,util-linux,procps,openssh-server
pristine_key=$(echo "$packages" | sha256sum | cut -c1-12)
pristine_tar="$cache/debootstrap-$pristine_key.tar"

build_rootfs() {
  local dir="$cache/work/rootfs"
  rm -rf "$dir" && mkdir -p "$dir"
  if [ ! -s "$pristine_tar" ]; then
    step "debootstrap bookworm (downloads ~900 MB; takes 2-3 minutes)"
    debootstrap --variant=minbase --include="$packages" bookworm "$dir" "$mirror" >"$cache/work/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $cache/work/debootstrap.log"
    tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' --acls -cf "$pristine_tar.tmp" . && mv "$pristine_tar.tmp" "$pristine_tar"
  else
    step "reusing $pristine_tar"
    tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' --acls -xpf "$pristine_tar"
  fi
  step "customising the appliance rootfs"
  # Appliance configuration: hostname, data volumes, DHCP networking, serial console.
  echo appliance >"$dir/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 appliance\n' >"$dir/etc/hosts"
  cat >"$dir/etc/fstab" <<'FSTAB'
# / is the booted slot's own LV (root= on the kernel command line), so it is not listed here.
LABEL=twinroot-boot  /boot  ext4  defaults  0 2
/dev/mapper/VA-data  /data  ext4  defaults  0 2
/dev/mapper/VA-image /image ext4  defaults  0 2
FSTAB
  mkdir -p "$dir/data" "$dir/image" "$dir/etc/systemd/network" "$dir/etc/twinroot"
  printf '[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n' >"$dir/etc/systemd/network/20-wired.network"
  mkdir -p "$dir/etc/systemd/system/systemd-networkd-wait-online.service.d"
  printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30\n' \
    >"$dir/etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf"
  # The appliance's slot configuration (read by twinroot-slot).
  cat >"$dir/etc/twinroot/slots.conf" <<'CONF'
KERNEL_ARGS=rw console=ttyS0,115200 quiet cryptomgr.notests
GRUB_SERIAL=yes
STATE_DIR=/data/twinroot
CONF
  # Test hook: runs the step the harness put on the 9p share, then powers off.
  install -D -m 0755 "$here/guest/twinroot-vm-step" "$dir/usr/lib/twinroot-vm/twinroot-vm-step"
  install -D -m 0644 "$here/guest/twinroot-vm-step.service" "$dir/etc/systemd/system/twinroot-vm-step.service"
  # The appliance ships Node.js 20 for the agent (Rocky 9 gets it from the nodejs:20 stream;
  # Debian 12's own is 18): the build machine's Debian 12 build, linked only to libc/libstdc++.
  install -m 0755 "$(readlink -f "$(command -v node)")" "$dir/usr/local/bin/node"
  # A small initramfs: BIOS loads it much faster under TCG.
  sed -i 's/^MODULES=.*/MODULES=list/' "$dir/etc/initramfs-tools/initramfs.conf"
  printf '%s\n' virtio_pci virtio_blk dm_mod ext4 >>"$dir/etc/initramfs-tools/modules"
  chroot "$dir" systemctl enable systemd-networkd twinroot-vm-step.service >/dev/null 2>&1
  chroot "$dir" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
  # Only the image build logs in (as root, with the build key); the build removes the key.
  install -d -m 0700 "$dir/root/.ssh"
  install -m 0600 "$build_key.pub" "$dir/root/.ssh/authorized_keys"
  # No root password. Slim: modules this VM never loads, docs, caches.
  local kver; kver=$(ls "$dir/lib/modules" | sort -V | tail -1)
  local mods="$dir/lib/modules/$kver/kernel"
  rm -rf "$mods"/drivers/{gpu,media,infiniband,staging,usb,iio,isdn,mmc,bluetooth,net/wireless,net/ethernet,scsi,hid,input,video,platform,thunderbolt,nfc,power,mtd,hwmon,leds,gnss,firewire,atm,misc,pcmcia,memstick,edac,watchdog,ata,target,nvme} \
         "$mods"/{sound,net/wireless,net/bluetooth,net/mac80211,net/netfilter,net/ipv4/netfilter,net/ipv6/netfilter,net/sched,net/openvswitch} \
         "$mods"/fs/{btrfs,xfs,ocfs2,gfs2,nfs,nfsd,ceph,cifs,smb,f2fs,ntfs3,jfs,nilfs2,ubifs,reiserfs,bcachefs,udf,ufs,afs,orangefs,coda,dlm,erofs,squashfs,hfs,hfsplus,gfs2,nls}
  rm -rf "$dir"/usr/share/{doc,man,info,locale} "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/*
  chroot "$dir" depmod "$kver"
  chroot "$dir" update-initramfs -u -k "$kver" >/dev/null 2>&1 || die "update-initramfs failed"
  step "archiving the rootfs ($(du -sh "$dir" | cut -f1))"
  tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' --acls -cf "$rootfs_tar.tmp" . || die "tar of the rootfs failed"
  mv "$rootfs_tar.tmp" "$rootfs_tar"
}

build_golden() {
  local work="$cache/work/builder"
  rm -rf "$work" && mkdir -p "$work/root"
  step "builder root image"
  tar -C "$work/root" -xpf "$rootfs_tar"
  install -D -m 0755 "$here/guest/twinroot-vm-build" "$work/root/twinroot-vm-build"
  mkdir -p "$work/root/usr/lib/twinroot"
  cp -a "$repo/grub-scripts/." "$work/root/usr/lib/twinroot/"
  local kver; kver=$(ls "$work/root/lib/modules" | sort -V | tail -1)
  cp "$work/root/boot/vmlinuz-$kver" "$work/vmlinuz"
  cp "$work/root/boot/initrd.img-$kver" "$work/initrd.img"
  mke2fs -q -t ext4 -d "$work/root" "$work/builder.img" 2G || die "mke2fs -d failed"
  rm -rf "$work/root"
  qemu-img create -q -f qcow2 "$golden.tmp" 4G
  step "building the golden disk in a builder VM (2-3 minutes under TCG)"
  local started=$SECONDS
  timeout 900 qemu-system-x86_64 -accel tcg,thread=multi -cpu qemu64 -smp 2 -m 1024 \
    -nodefaults -vga none -display none -no-reboot -serial "file:$work/serial.log" \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -append "console=ttyS0,115200 root=/dev/vda rw init=/twinroot-vm-build panic=-1 quiet cryptomgr.notests" \
    -drive "file=$work/builder.img,if=virtio,format=raw,cache=unsafe" \
    -drive "file=$golden.tmp,if=virtio,format=qcow2,cache=unsafe" \
    -drive "file=$rootfs_tar,if=virtio,format=raw,readonly=on" \
    || die "builder VM failed; see $work/serial.log"
  grep -q 'TWINROOT-BUILD-OK' "$work/serial.log" || die "builder VM did not finish; last lines: $(tail -5 "$work/serial.log" | tr -d '\r' | tr '\n' '|')"
  step "golden disk built in $((SECONDS - started)) s"
  mv "$golden.tmp" "$golden"
  rm -rf "$work"
}

# The rootfs depends on the package list, on how it is customised and on the baked-in hook.
rootfs_key=$( (echo "$packages"; node --version; cat "$build_key.pub"; declare -f build_rootfs; cat "$here/guest/twinroot-vm-step" "$here/guest/twinroot-vm-step.service") | sha256sum | cut -c1-12)
rootfs_tar="$cache/rootfs-$rootfs_key.tar"
# The golden disk also depends on the grub-scripts and the builder script that made it.
golden_key=$( (echo "$rootfs_key"; declare -f build_golden; cat "$here/guest/twinroot-vm-build"; find "$repo/grub-scripts" -type f | sort | xargs cat) | sha256sum | cut -c1-12)
golden="$cache/golden-$golden_key.qcow2"

[ -s "$rootfs_tar" ] && step "reusing $rootfs_tar" || build_rootfs
if [ "${1:-}" = rootfs ]; then echo "$rootfs_tar"; exit 0; fi
[ -s "$golden" ] && step "reusing $golden" || build_golden
echo "$rootfs_tar"
echo "$golden"
