#!/usr/bin/env bash
# run-in-kernel.sh: runs a command as root on another Linux kernel, in a
# throwaway QEMU virtual machine that sees this machine's files.
#
#   tests/vm/run-in-kernel.sh [OPTIONS] KERNEL 'COMMAND'
#   tests/vm/run-in-kernel.sh --fetch KERNEL    download and prepare only
#   tests/vm/run-in-kernel.sh --check KERNEL    exit 0 if KERNEL can boot
#                                               here without a download,
#                                               else say why and exit 1
#
# KERNEL is a name (`6.1`: Debian bookworm's linux-image-amd64) fetched
# once with `apt-get download` + `dpkg -x` into target/vm/NAME/, or a path
# to a vmlinuz (its modules from ../lib/modules/RELEASE beside its boot/
# directory, else /lib/modules/RELEASE). The uncompressed vmlinux (booted
# through QEMU's PVH entry, seconds faster under TCG) and the initramfs
# (busybox, tests/vm/guest-init.sh, the 9p/virtio/overlay modules) are
# cached beside it. The cache is $TRACE_VM_CACHE, else
# ${CARGO_TARGET_DIR:-target}/vm.
#
# The guest sees the host's / read-only with a tmpfs overlay on top (its
# writes vanish with it), has proc, sys, devtmpfs, devpts, tracefs, debugfs,
# bpffs and cgroup2 mounted, and runs `sh -c COMMAND` as root in the same
# working directory, with a plain environment (PATH, HOME=/root, TERM=dumb,
# LANG=C.UTF-8; set others in COMMAND). COMMAND's stdout and stderr arrive
# here apart, as they are written, and its exit status is this script's.
# This script's own failures exit 125, and a run past --timeout exits 124
# (the codes of timeout(1) and git bisect).
#
# Options:
#   --timeout SECS   end the VM after SECS seconds (default 600)
#   --share DIR      share the host directory DIR writable, at the same
#                    path in the guest (may repeat): a way to hand files back
#   --verbose        say on stderr how long boot and command took
# Environment: TRACE_VM_SMP (default 2), TRACE_VM_MEM (default 2G).
#
# Needs (apt): qemu-system-x86 busybox-static cpio kmod xz-utils, and for a
# named kernel apt-get and dpkg. KVM is not used (TCG), see tests/vm/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${TRACE_VM_CACHE:-${CARGO_TARGET_DIR:-$repo/target}/vm}
modules_wanted=(virtio_pci 9pnet_virtio 9p overlay)

die() {
    echo "run-in-kernel: $*" >&2
    exit 125
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 125
}

# Debian's meta package for a kernel name.
meta_package() {
    case "$1" in
        6.1) echo linux-image-amd64 ;;
        6.12) echo linux-image-6.12-amd64 ;;
        *) return 1 ;;
    esac
}

# Why the host cannot run a VM at all, or nothing.
missing_tools() {
    local t missing=()
    for t in qemu-system-x86_64 busybox cpio modprobe depmod xz; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    if ((${#missing[@]})); then
        echo "missing ${missing[*]} (apt-get install qemu-system-x86 busybox-static cpio kmod xz-utils)"
    fi
}

# Downloads and unpacks the kernel package of name $1 into $cache/$1/root.
fetch_named() {
    local name=$1 dir=$cache/$1 meta pkg tmp
    meta=$(meta_package "$name") || die "unknown kernel name '$name' (known: 6.1, 6.12; or give a path to a vmlinuz)"
    command -v apt-get >/dev/null || die "fetching kernel $name needs apt-get"
    # The meta package's dependency is the current image package.
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$pkg" ] || die "apt-cache knows no '$meta' (run apt-get update?)"
    echo "run-in-kernel: fetching $pkg for kernel $name into $dir" >&2
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    # shellcheck disable=SC2064 # expand now: tmp is local
    trap "rm -rf '$tmp'" RETURN
    # apt drops privileges to _apt when it can; a directory it may write
    # keeps it from warning about an unsandboxed download.
    chmod 0777 "$tmp"
    (cd "$tmp" && apt-get download -q "$pkg" >/dev/null) || die "apt-get download $pkg failed"
    dpkg-deb -x "$tmp"/*.deb "$tmp/root" || die "cannot unpack $pkg"
    echo "$pkg" >"$tmp/package"
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$tmp/root" "$tmp/package" "$dir/"
}

# Sets vmlinuz, modroot (the root the modules are under), release and dir
# (where the derived files are cached) for KERNEL $1; fetches a named kernel
# unless $2 is "nofetch" (then a missing one is an error message on stdout
# and status 1).
resolve() {
    local k=$1
    if [ -f "$k" ]; then
        vmlinuz=$(cd "$(dirname "$k")" && pwd)/$(basename "$k")
        # The bzImage header's kernel_version field: a pointer to the
        # version string, 512 bytes before it, at offset 0x20e.
        local off
        off=$(od -An -tu2 -j 526 -N 2 "$vmlinuz" | tr -d ' ')
        release=$(dd if="$vmlinuz" bs=1 skip=$((off + 512)) count=128 status=none | tr '\0' '\n' | head -1 | cut -d' ' -f1)
        [ -n "$release" ] || die "$k is not a bzImage (no kernel version in its header)"
        modroot=$(cd "$(dirname "$vmlinuz")/.." && pwd)
        [ -d "$modroot/lib/modules/$release" ] || modroot=/
        dir=$cache/path-$release
    else
        meta_package "$k" >/dev/null || {
            echo "'$k' is neither a file nor a kernel name (known: 6.1)"
            return 1
        }
        dir=$cache/$k
        if ! compgen -G "$dir/root/boot/vmlinuz-*" >/dev/null; then
            if [ "${2:-}" = nofetch ]; then
                echo "kernel $k is not downloaded yet (tests/vm/run-in-kernel.sh --fetch $k puts it in $dir)"
                return 1
            fi
            fetch_named "$k"
        fi
        vmlinuz=$(compgen -G "$dir/root/boot/vmlinuz-*" | head -1)
        release=${vmlinuz##*/vmlinuz-}
        modroot=$dir/root
    fi
    [ -d "$modroot/lib/modules/$release" ] || {
        echo "no modules for $release in $modroot/lib/modules"
        return 1
    }
}

# The uncompressed kernel, for PVH boot: the XZ (or zstd) stream inside the
# bzImage.
prepare_vmlinux() {
    local out=$dir/vmlinux offset
    [ "$out" -nt "$vmlinuz" ] && return
    mkdir -p "$dir"
    # (bash strings end at NUL, so the magic is matched without its last byte)
    for offset in $(LC_ALL=C grep -abo $'\xfd7zXZ' "$vmlinuz" | cut -d: -f1); do
        # xz stops at the stream's end; a pipe from tail would then fail
        # (SIGPIPE, pipefail), hence the process substitution.
        if xz -dc --single-stream < <(tail -c +$((offset + 1)) "$vmlinuz") >"$out.tmp" 2>/dev/null &&
            [ "$(head -c 4 "$out.tmp")" = $'\x7fELF' ]; then
            mv "$out.tmp" "$out"
            return
        fi
    done
    # Newer kernels (Debian's 6.12) compress with zstd; zstd complains about
    # the bzImage's bytes after the frame, so only the result is judged.
    for offset in $(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$vmlinuz" | cut -d: -f1); do
        zstd -dcq < <(tail -c +$((offset + 1)) "$vmlinuz") >"$out.tmp" 2>/dev/null || true
        if [ "$(head -c 4 "$out.tmp")" = $'\x7fELF' ]; then
            mv "$out.tmp" "$out"
            return
        fi
    done
    rm -f "$out.tmp"
    die "no XZ- or zstd-compressed kernel found in $vmlinuz"
}

# The initramfs; rebuilt when the init script, busybox or the kernel change.
prepare_initramfs() {
    local out=$dir/initramfs.cpio.gz stamp busybox root m i=0
    busybox=$(command -v busybox)
    stamp="$(sha256sum "$here/guest-init.sh" "$busybox" | cut -d' ' -f1 | tr '\n' ' ')$(stat -c '%s %Y' "$vmlinuz")"
    [ -f "$out" ] && [ "$(cat "$dir/initramfs.stamp" 2>/dev/null)" = "$stamp" ] && return
    root=$(mktemp -d "${TMPDIR:-/tmp}/run-in-kernel-initramfs.XXXXXX")
    # shellcheck disable=SC2064 # expand now: root is local
    trap "rm -rf '$root'" RETURN
    mkdir -p "$root/bin" "$root/modules"
    cp "$busybox" "$root/bin/busybox"
    cp "$here/guest-init.sh" "$root/init"
    chmod 0755 "$root/init"
    # A module tree unpacked from a package has no modules.dep yet.
    if [ ! -f "$modroot/lib/modules/$release/modules.dep" ]; then
        depmod -b "$modroot" "$release" || die "depmod failed for $modroot/lib/modules/$release"
    fi
    : >"$root/modules.list"
    while read -r m; do
        i=$((i + 1))
        cp "$m" "$root/modules/$(printf %02d $i)-$(basename "$m")"
        echo "$(printf %02d $i)-$(basename "$m")" >>"$root/modules.list"
    done < <(modprobe -d "$modroot" -S "$release" --show-depends -a "${modules_wanted[@]}" |
        awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
    [ "$i" -gt 0 ] || die "modprobe found none of ${modules_wanted[*]} for $release (built in? then drop them)"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp.$$"
    mv "$out.tmp.$$" "$out"
    echo "$stamp" >"$dir/initramfs.stamp"
}

timeout=600
verbose=false
mode=run
shares=()
while (($#)); do
    case "$1" in
        --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
        --share) shares+=("$(cd "${2:?--share needs a directory}" && pwd)") || die "no directory $2"; shift 2 ;;
        --verbose) verbose=true; shift ;;
        --fetch) mode=fetch; shift ;;
        --check) mode=check; shift ;;
        -h | --help) usage ;;
        --) shift; break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds, not '$timeout'"

case "$mode" in
    check)
        [ $# -eq 1 ] || usage
        why=$(missing_tools)
        [ -z "$why" ] || { echo "$why"; exit 1; }
        why=$(resolve "$1" nofetch) || { echo "$why"; exit 1; }
        exit 0
        ;;
    fetch)
        [ $# -eq 1 ] || usage
        why=$(missing_tools)
        [ -z "$why" ] || die "$why"
        resolve "$1" >&2 || die "cannot use kernel $1"
        prepare_vmlinux
        prepare_initramfs
        echo "$dir"
        exit 0
        ;;
esac

[ $# -eq 2 ] || usage
why=$(missing_tools)
[ -z "$why" ] || die "$why"
resolve "$1" >&2 || die "cannot use kernel $1"
prepare_vmlinux
prepare_initramfs

job=$(mktemp -d "${TMPDIR:-/tmp}/run-in-kernel.XXXXXX")
qemu_pid=
out_pid=
err_pid=
cleanup() {
    if [ -n "$qemu_pid" ]; then
        kill -KILL "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    # The readers end when QEMU closes the FIFOs; they must not outlive us.
    for p in $out_pid $err_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$job"
}
trap cleanup EXIT
trap 'echo "run-in-kernel: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

printf '%s\n' "$job" >"$job/dir"
printf '%s\n' "$PWD" >"$job/cwd"
printf '%s' "$2" >"$job/command"
: >"$job/shares"
fsdevs=()
for i in "${!shares[@]}"; do
    printf '%s\n' "${shares[$i]}" >>"$job/shares"
    fsdevs+=(-fsdev "local,id=share$i,path=${shares[$i]},security_model=none"
        -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
done
mkfifo "$job/stdout" "$job/stderr"
cat "$job/stdout" &
out_pid=$!
cat "$job/stderr" >&2 &
err_pid=$!

started=$(date +%s.%N)
# -nodefaults: no NIC or VGA to probe. ttyS0 is the console (a log, shown
# when the guest fails), ttyS1 and ttyS2 the command's stdout and stderr.
qemu-system-x86_64 -accel tcg -cpu max -smp "${TRACE_VM_SMP:-2}" -m "${TRACE_VM_MEM:-2G}" \
    -M pc -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$dir/vmlinux" -initrd "$dir/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init" \
    -chardev "file,id=console,path=$job/console" -serial chardev:console \
    -chardev "file,id=out,path=$job/stdout" -serial chardev:out \
    -chardev "file,id=err,path=$job/stderr" -serial chardev:err \
    -fsdev "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap" \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev "local,id=job,path=$job,security_model=none" \
    -device virtio-9p-pci,fsdev=job,mount_tag=job \
    "${fsdevs[@]}" </dev/null >"$job/qemu.log" 2>&1 &
qemu_pid=$!

# Wait for QEMU, or the deadline; `wait` returns early for a trapped signal.
deadline=$(($(date +%s) + timeout))
timed_out=false
booted=
while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ -z "$booted" ] && [ -s "$job/started" ]; then booted=$(date +%s.%N); fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        timed_out=true
        kill -KILL "$qemu_pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
qemu_status=0
# (2>/dev/null: no "Killed" notice from bash for a QEMU ended above)
wait "$qemu_pid" 2>/dev/null || qemu_status=$?
qemu_pid=
wait "$out_pid" "$err_pid" || true
out_pid=
err_pid=
ended=$(date +%s.%N)

if $timed_out; then
    echo "run-in-kernel: timed out after ${timeout}s; the guest console's last lines:" >&2
    tail -n 20 "$job/console" | sed 's/^/    /' >&2
    exit 124
fi
if [ ! -s "$job/status" ]; then
    echo "run-in-kernel: the guest ended without running the command (qemu: exit $qemu_status)" >&2
    tail -n 20 "$job/qemu.log" | sed 's/^/    qemu: /' >&2
    tail -n 40 "$job/console" | sed 's/^/    console: /' >&2
    exit 125
fi
if $verbose; then
    # booted: when the guest's note of the command's start was first seen
    # (polled every 0.2s); the guest's own uptime then excludes QEMU's start.
    awk -v s="$started" -v e="$ended" -v b="${booted:-$ended}" -v u="$(cat "$job/started")" -v r="$release" 'BEGIN {
        printf "run-in-kernel: %s: command started %.1fs after QEMU (guest uptime %.1fs), ended after %.1fs\n", r, b - s, u, e - s
    }' >&2
fi
exit "$(cat "$job/status")"
