#!/bin/busybox sh
# guest-init.sh: PID 1 of the initramfs that tests/vm/run-in-kernel.sh
# builds (as /init, next to a static busybox and the kernel modules named in
# /modules.list). Not meant to run anywhere else.
#
# It loads the modules, mounts the host's / (virtio-9p tag `hostroot`,
# read-only) under a tmpfs overlay so the guest can write without touching
# the host, mounts the kernel file systems tracing needs (proc, sys,
# devtmpfs, devpts, tracefs, debugfs, bpffs, cgroup2), chroots into it and
# runs the job: the runner's job directory (9p tag `job`, writable) holds
#   command   the command line, run with `sh -c` as root in the directory
#   cwd       that path (the host's working directory)
#   shares    host directories shared writable at their own path (9p tags
#             share0, share1, ... in this order), one per line
# The command's stdout goes to ttyS1 and its stderr to ttyS2 (the runner
# reads them from two FIFOs); its exit status is written to job/status and
# the seconds since boot at its start to job/started. Then the guest powers
# off. Anything that goes wrong here is printed on the console (ttyS0, the
# runner's log) and ends the guest without a status.
set -eu

/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
    echo "guest-init: $*" >&2
    poweroff -f
}
trap 'fail "a setup step failed (see above)"' EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do
    insmod "/modules/$module"
done </modules.list

# msize: 9p's default (8 KiB) makes every read of a binary a round trip
# through the emulator. The read-only root may cache (it does not change
# under a run); the job share must not, the host reads it while we write.
p9='trans=virtio,version=9p2000.L,msize=512000'
mkdir -p /job /host /rw /newroot
mount -t 9p -o "$p9" job /job
mount -t 9p -o "ro,$p9,cache=loose" hostroot /host
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot

r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts
ln -sf pts/ptmx $r/dev/ptmx
# What udev would add: programs open /dev/stdin and friends by name.
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
mount -t tmpfs tmpfs $r/dev/shm
mount -t tmpfs tmpfs $r/run
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t debugfs debugfs $r/sys/kernel/debug
mount -t bpf bpf $r/sys/fs/bpf
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup

jobdir=$(cat /job/dir)
mkdir -p "$r$jobdir"
mount --move /job "$r$jobdir"
i=0
while read -r share; do
    mkdir -p "$r$share"
    mount -t 9p -o "$p9" "share$i" "$r$share"
    i=$((i + 1))
done <"$r$jobdir/shares"

# Raw: the bytes the command writes arrive unchanged (no \n -> \r\n).
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
trap - EXIT

cut -d' ' -f1 /proc/uptime >"$r$jobdir/started"
status=0
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root LOGNAME=root \
    TERM=dumb LANG=C.UTF-8 \
    chroot $r /bin/sh -c 'cd "$1" && exec /bin/sh -c "$2"' job-cwd "$(cat "$r$jobdir/cwd")" \
    "$(cat "$r$jobdir/command")" </dev/null >/dev/ttyS1 2>/dev/ttyS2 || status=$?
# stty sets the mode with TCSADRAIN: it returns once what the command wrote
# has left the guest, so nothing is cut off by the power-off.
stty -F /dev/ttyS1 raw
stty -F /dev/ttyS2 raw
echo "$status" >"$r$jobdir/status"
sync
poweroff -f
