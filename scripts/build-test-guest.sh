#!/bin/sh
# Builds the test guest that test/vm-*.test.ts boot in QEMU (TCG): Debian's own kernel for the
# running release and a busybox initramfs whose /init runs the test named on the kernel command
# line and powers off. Everything comes from Debian packages (apt-get download of the kernel
# package, busybox-static, cpio, xz-utils); the result is cached, keyed by the kernel ABI and this
# script's own hash, under ${NMTS_GUEST_CACHE:-$HOME/.cache/netmap-ts/guest}/<abi>-<hash>/:
#   vmlinux      the uncompressed kernel (PVH boot, about 2x faster than the bzImage under TCG)
#   initrd.cpio  busybox, the virtio-net and pktgen modules, /init
# Prints that directory on its last line. Facts behind the choices: ../shared/reference/vm.md
# (module load order, PVH, vectors=0), docs/vms.md (the guest's command-line keys).
set -eu
LC_ALL=C; export LC_ALL
self=$(readlink -f "$0")
cache=${NMTS_GUEST_CACHE:-${HOME:-/root}/.cache/netmap-ts/guest}
# The ABI of the running release's kernel: linux-image-amd64 depends on linux-image-<abi>-amd64
# (one exact package; a glob would fetch every version).
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
[ -n "$pkg" ] || { echo "build-test-guest: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2; exit 2; }
abi=${pkg#linux-image-}
hash=$(sha256sum "$self" | cut -c1-12)
out="$cache/$abi-$hash"
if [ -f "$out/ok" ]; then echo "$out"; exit 0; fi
for p in busybox cpio xz; do
  command -v $p >/dev/null 2>&1 || { echo "build-test-guest: needs $p (apt-get install busybox-static cpio xz-utils)" >&2; exit 2; }
done
mkdir -p "$cache"
# one builder at a time (test files may ask in parallel)
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/ok" ]; then echo "$out"; exit 0; fi
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download "$pkg" >&2
dpkg -x "$pkg"_*.deb kernel
rm -f "$pkg"_*.deb
vmlinuz="kernel/boot/vmlinuz-$abi"
# The bzImage carries the kernel as an xz stream: find its magic (FD 37 7A 58 5A 00) and unpack it.
ofs=$(grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1)
[ -n "$ofs" ] || { echo "build-test-guest: no xz stream in $vmlinuz" >&2; exit 3; }
tail -c +$((ofs + 1)) "$vmlinuz" | xz -dc --single-stream > vmlinux
head -c 4 vmlinux | grep -q 'ELF' || { echo "build-test-guest: $vmlinuz did not unpack to an ELF" >&2; exit 3; }

# the initramfs
mkdir -p root/bin root/lib/modules root/proc root/sys root/dev root/tmp
cp "$(command -v busybox)" root/bin/busybox
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net pktgen"
for m in $mods; do
  f=$(find "kernel/lib/modules/$abi/kernel" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
  [ -n "$f" ] || { echo "build-test-guest: no module $m in $pkg" >&2; exit 3; }
  case "$f" in *.xz) xz -dc "$f" > "root/lib/modules/$m.ko" ;; *) cp "$f" "root/lib/modules/$m.ko" ;; esac
done
echo "$mods" > root/lib/modules/order
cat > root/init <<'INIT'
#!/bin/busybox sh
# The test guest's /init. Its test comes from the kernel command line (keys without dots reach
# init's environment): nt_ip=A/N (eth0's address), nt_ping=IP[,IP] (wait for a reply, then 5
# pings each), nt_ncrecv=PORT (receive one TCP stream, count its bytes), nt_ncsend=IP:PORT:BYTES,
# nt_pktgen=COUNT with nt_dst=IP nt_dstmac=MAC nt_size=60 nt_burst=1, nt_shell=1 (then run the
# lines written on the console, each answered by "NMTS-END <status>"), nt_wait=SECONDS (how long
# ping and nc wait for their peer, default 60). Results are lines starting NMTS- on the serial
# console; then it powers off.
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
stty -echo 2>/dev/null
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "NMTS-ERROR insmod $m"; done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  [ -n "${nt_ip:-}" ] && ip addr add "$nt_ip" dev eth0
  ip link set eth0 up
  echo "NMTS-UP eth0 $(cat /sys/class/net/eth0/address) ${nt_ip:-}"
else
  echo "NMTS-ERROR no eth0"
fi
wait_s=${nt_wait:-60}

nt_ping() { # wait for a first reply, then 5 pings; prints transmitted/received
  end=$(( $(date +%s) + wait_s ))
  until ping -c 1 -W 1 "$1" >/dev/null 2>&1; do
    [ $(date +%s) -ge $end ] && { echo "NMTS-PING $1 transmitted=0 received=0 timeout"; return 1; }
  done
  r=$(ping -c 5 -i 0.2 -W 2 "$1" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/transmitted=\1 received=\2/p')
  echo "NMTS-PING $1 $r"
}

nt_pktgen() { # COUNT: pktgen on eth0, prints what it sent
  PG=/proc/net/pktgen
  echo "add_device eth0" > $PG/kpktgend_0
  D=$PG/eth0
  echo "count $1" > $D
  echo "pkt_size ${nt_size:-60}" > $D
  echo "burst ${nt_burst:-1}" > $D
  echo "delay 0" > $D
  echo "dst ${nt_dst:-10.0.0.254}" > $D
  echo "dst_mac ${nt_dstmac:-02:00:00:00:00:fe}" > $D
  echo start > $PG/pgctrl
  sent=$(sed -n 's/.*pkts-sofar: *\([0-9]*\).*errors: *\([0-9]*\).*/sent=\1 errors=\2/p' $D)
  res=$(sed -n 's/^Result: //p' $D)
  pps=$(sed -n 's/^ *\([0-9]*\)pps .*/\1/p' $D)
  echo "NMTS-PKTGEN $sent pps=$pps"
  echo "NMTS-PKTGEN-RESULT $res"
}

[ -n "${nt_ncrecv:-}" ] && { nc -l -p "$nt_ncrecv" > /tmp/nc.in & ncpid=$!; }
if [ -n "${nt_ping:-}" ]; then
  for t in $(echo "$nt_ping" | tr ',' ' '); do nt_ping "$t"; done
fi
if [ -n "${nt_ncsend:-}" ]; then
  h=${nt_ncsend%%:*}; rest=${nt_ncsend#*:}; p=${rest%%:*}; n=${rest#*:}
  end=$(( $(date +%s) + wait_s ))
  until head -c "$n" /dev/zero | nc "$h" "$p" 2>/dev/null; do
    [ $(date +%s) -ge $end ] && { echo "NMTS-NC-SEND failed"; break; }
    sleep 0.5
  done
  echo "NMTS-NC-SEND bytes=$n"
fi
if [ -n "${ncpid:-}" ]; then
  wait $ncpid
  echo "NMTS-NC-RECV bytes=$(wc -c < /tmp/nc.in)"
fi
[ -n "${nt_pktgen:-}" ] && { insmod /lib/modules/pktgen.ko 2>/dev/null; nt_pktgen "$nt_pktgen"; }
if [ "${nt_shell:-}" = 1 ]; then
  echo "NMTS-SHELL"
  while read -r line; do
    eval "$line"
    echo "NMTS-END $?"
  done
fi
echo "NMTS-DONE"
poweroff -f
INIT
chmod +x root/init
(cd root && find . | cpio -o -H newc --quiet) > initrd.cpio
mkdir -p "$out"
mv vmlinux initrd.cpio "$out/"
echo "$pkg" > "$out/package"
touch "$out/ok"
echo "$out"
