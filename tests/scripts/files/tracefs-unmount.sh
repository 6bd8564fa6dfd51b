#!/bin/sh
# tracefs-unmount.sh TRACE
#
# For tracefs.test; run it under `unshare -m`: in a mount namespace of its
# own, what is unmounted here stays mounted everywhere else.  Unmounts
# tracefs (and debugfs, whose tracing/ trace would use instead), runs TRACE
# in each way that reads tracefs, and says after each run how many tracefs
# mounts /sys/kernel/tracing has (and, from the -c command, during one).
# Last, tracefs mounted by someone else: trace leaves it mounted.
mounted() { grep -c '^[^ ]* /sys/kernel/tracing tracefs ' /proc/self/mounts; }
if [ "$1" = --during ]; then
    echo "during a run: $(mounted)"
    exit 0
fi
trace=$1
umount /sys/kernel/debug 2>/dev/null
umount /sys/kernel/tracing || exit 1
echo "before: $(mounted)"
"$trace" -e 'tracepoint:sched:sched_process_exec { @execs = count(); }' -c "sh $0 --during" 2>/dev/null
echo "after a run: $(mounted)"
"$trace" -e 'tracepoint:sched:no_such_event { }' 2>/dev/null
echo "after an error (exit $?): $(mounted)"
"$trace" -l 'tracepoint:sched:sched_process_exe*'
echo "after -l: $(mounted)"
echo 'tracepoint:sched:sched_process_exec { @n = count(); }' | "$trace" 2>/dev/null
echo "after the REPL: $(mounted)"
mount -t tracefs nodev /sys/kernel/tracing || exit 1
"$trace" -e 'tracepoint:sched:sched_process_exec { @execs = count(); }' -c true 2>/dev/null >/dev/null
echo "mounted by someone else: $(mounted)"
