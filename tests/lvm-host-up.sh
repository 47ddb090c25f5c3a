#!/bin/bash
# lvm-host-up.sh (the project's copy of the recipe; tests/run starts it) - a throw-away "LVM host": a QEMU TCG guest with real device-mapper LVM
# (linear, snapshots, thin pools, thin_delta) and an OpenSSH server, reachable from this
# machine as root@127.0.0.1:$LVMHOST_PORT with a generated key. This machine's kernel has no
# device-mapper, so this is how LVM is tested for real here: over ssh, as an operator's LVM
# host would be driven.
#   LVMHOST_DIR   [${TMPDIR:-/tmp}/bf-lab/lvmhost]  everything lives here (disk, keys, pid)
#   LVMHOST_PORT  [2223]                           ssh port on 127.0.0.1
#   LVMHOST_DISK  [4G]                             size of the sparse disk /dev/vda in the guest
#   LVMHOST_VG    [vg0]     the guest makes PV+VG on /dev/vda and a thin pool $VG/pool (half the VG)
#   LVMHOST_INSTALL [auto]  auto = apt-get install what is missing, 0 = never (tests/run installs first)
# Afterwards:  ssh -F $LVMHOST_DIR/ssh_config lvmhost lvs --reportformat json
# Stop with lvm-host-down.sh. Needs (installed when missing): qemu-system-x86 from
# bookworm-backports (same version as qemu-utils), openssh-server/-client, lvm2,
# thin-provisioning-tools; the guest kernel and busybox are downloaded as .debs (apt-get download).
set -euo pipefail
D=${LVMHOST_DIR:-${TMPDIR:-/tmp}/bf-lab/lvmhost}
PORT=${LVMHOST_PORT:-2223}
VG=${LVMHOST_VG:-vg0}
mkdir -p "$D"; cd "$D"
T0=$(date +%s%N)

if [ "${LVMHOST_INSTALL:-auto}" != 0 ] && { ! command -v qemu-system-x86_64 >/dev/null || ! [ -x /usr/sbin/sshd ] || ! [ -x /usr/sbin/pdata_tools ] || ! [ -x /sbin/lvm ]; }; then
  if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      > /etc/apt/sources.list.d/backports.sources
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-x86 >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client lvm2 thin-provisioning-tools >/dev/null
fi
if [ -f pid ] && kill -0 "$(cat pid)" 2>/dev/null; then
  echo "LVM host already running (pid $(cat pid)); run lvm-host-down.sh first" >&2; exit 1
fi

if ! ls root/boot/vmlinuz-* >/dev/null 2>&1; then
  KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  apt-get download "$KPKG" busybox-static >/dev/null 2>&1
  dpkg-deb -x linux-image-*.deb root
  dpkg-deb -x busybox-static_*.deb bb
  rm -f ./*.deb
fi
K=$(ls root/boot/vmlinuz-* | head -1); KV=${K#root/boot/vmlinuz-}

rm -rf initrd keys; mkdir -p keys initrd/{bin,sbin,usr/sbin,usr/bin,etc/lvm,etc/ssh,proc,sys,dev,run,tmp,root/.ssh,var/empty}
ssh-keygen -q -t ed25519 -N '' -C lvmhost -f keys/host_ed25519
ssh-keygen -q -t ed25519 -N '' -C client -f keys/client_ed25519
cp keys/host_ed25519 initrd/etc/ssh/ssh_host_ed25519_key
cp keys/client_ed25519.pub initrd/root/.ssh/authorized_keys
chmod 600 initrd/etc/ssh/ssh_host_ed25519_key initrd/root/.ssh/authorized_keys

cp bb/bin/busybox initrd/bin/
copy_bin() { # copy a binary and the shared libraries it loads
  cp -L "$1" "initrd$1"
  for l in $(ldd "$1" | grep -o '/[^ ]*\.so[^ ]*'); do mkdir -p "initrd$(dirname "$l")"; cp -L "$l" "initrd$l"; done
}
for b in /sbin/lvm /sbin/dmsetup /usr/sbin/pdata_tools /usr/sbin/sshd; do copy_bin "$b"; done
cp -L /lib/x86_64-linux-gnu/libnss_files.so.2 initrd/lib/x86_64-linux-gnu/ 2>/dev/null || true
for t in thin_check thin_dump thin_repair thin_delta thin_ls thin_metadata_size; do ln -sf pdata_tools initrd/usr/sbin/$t; done
for c in pvcreate pvremove pvs pvdisplay vgcreate vgremove vgs vgdisplay vgchange vgextend lvcreate \
         lvremove lvs lvdisplay lvextend lvreduce lvresize lvchange lvconvert lvrename vgcfgbackup; do
  ln -sf lvm initrd/sbin/$c
done

MD=initrd/lib/modules/$KV; mkdir -p "$MD"
(cd "root/lib/modules/$KV" && tar cf - kernel/drivers/md kernel/drivers/block/virtio_blk.ko \
   kernel/drivers/net/virtio_net.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
   kernel/drivers/virtio kernel/lib kernel/crypto modules.order modules.builtin modules.builtin.modinfo 2>/dev/null) \
   | (cd "$MD" && tar xf -)
bb/bin/busybox depmod -b "$PWD/initrd" "$KV"

cat > initrd/etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd:/run/sshd:/bin/false
EOF
printf 'root:x:0:\nnogroup:x:65534:\n' > initrd/etc/group
printf 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n' > initrd/etc/shadow
printf 'passwd: files\ngroup: files\nshadow: files\n' > initrd/etc/nsswitch.conf
cat > initrd/etc/ssh/sshd_config <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
SetEnv PATH=/sbin:/usr/sbin:/bin:/usr/bin
EOF
cat > initrd/etc/lvm/lvm.conf <<'EOF'
devices { obtain_device_list_from_udev = 0 external_device_info_source = "none" use_devicesfile = 0 filter = [ "a|^/dev/vd|", "r|.*|" ] }
global { use_lvmpolld = 0 event_activation = 0 locking_dir = "/run/lock/lvm" }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 verify_udev_operations = 1 }
backup { backup_dir = "/run/lvm/backup" archive_dir = "/run/lvm/archive" }
EOF
cat > initrd/init <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/sbin:/usr/sbin:/bin:/usr/bin LVM_SUPPRESS_FD_WARNINGS=1
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run/lock/lvm /run/lvm /run/sshd; mount -t devpts devpts /dev/pts
for m in virtio_pci virtio_blk virtio_net crc32c_generic dm-mod dm-snapshot dm-thin-pool; do modprobe \$m || echo "modprobe \$m FAILED"; done
mdev -s
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
pvcreate -q -y /dev/vda && vgcreate -q $VG /dev/vda && lvcreate -q -y --type thin-pool -l 50%VG -n pool $VG
/usr/sbin/sshd -E /tmp/sshd.log
echo "LVMHOST READY T+\$(cut -d' ' -f1 /proc/uptime)s"
while :; do sleep 3600; done
EOF
chmod +x initrd/init
(cd initrd && find . | ../bb/bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz)
rm -f disk.img; truncate -s "${LVMHOST_DISK:-4G}" disk.img

cat > ssh_config <<EOF
Host lvmhost
  HostName 127.0.0.1
  Port $PORT
  User root
  IdentityFile $D/keys/client_ed25519
  UserKnownHostsFile $D/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 keys/host_ed25519.pub)" > known_hosts

setsid qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 768 -nographic -no-reboot \
  -kernel "$K" -initrd initrd.gz -append 'console=ttyS0 quiet panic=-1' \
  -drive file=disk.img,format=raw,if=virtio,cache=unsafe \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0 \
  </dev/null >console.log 2>&1 &
echo $! > pid
for _ in $(seq 1 240); do
  grep -q 'LVMHOST READY' console.log 2>/dev/null && ssh -F ssh_config lvmhost true 2>/dev/null && break
  kill -0 "$(cat pid)" 2>/dev/null || { echo "guest died:"; tail -n 20 console.log; exit 1; }
  sleep 0.5
done
ssh -F ssh_config lvmhost true || { echo "no ssh after 120 s:"; tail -n 20 console.log; exit 1; }
echo "LVM host up in $(( ($(date +%s%N) - T0) / 1000000 )) ms: ssh -F $D/ssh_config lvmhost"
