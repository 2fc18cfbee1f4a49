package lab

// rebootExitCode is how /lab/init tells the lab that the host asked for a
// reboot (through /usr/local/sbin/reboot): the boot's PID 1 exits with it.
const rebootExitCode = 77

// bootScript runs on the machine's /bin/sh as PID 1 of a fresh PID, mount
// and UTS namespace (unshare), inside the host's network namespace
// (nsenter): it sets up what a booted machine has, then chroots into the
// host and execs the given command (/lab/init, or a one-off command).
// Every mount it makes lives in the private mount namespace and disappears
// with the boot.
//
// Arguments: root lower upper work hostname boot_id agent -- command...
// With lower set, root is first mounted as an overlay (the mirror step);
// for hosts the overlay is already mounted. agent, when set, is
// bind-mounted read-only at /usr/local/bin/patchbay.
const bootScript = `set -eu
root=$1 lower=$2 upper=$3 work=$4 name=$5 bootid=$6 agent=$7
shift 8
if [ -n "$lower" ]; then
	mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
fi
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m tmpfs "$root/run"
mkdir -p "$root/run/lock" "$root/run/lab"
chmod 1777 "$root/run/lock"
printf '%s\n' "$bootid" >"$root/run/lab/boot_id"
mount --bind "$root/run/lab/boot_id" "$root/proc/sys/kernel/random/boot_id"
mount -t tmpfs -o nosuid,mode=0755,size=1m tmpfs "$root/dev"
for d in null zero full random urandom tty; do
	: >"$root/dev/$d"
	mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=16m tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
if [ -n "$agent" ]; then
	mount --bind -o ro "$agent" "$root/usr/local/bin/patchbay"
fi
printf '%s\n' "$name" >"$root/proc/sys/kernel/hostname"
exec chroot "$root" "$@"
`

// initScript is /lab/init, PID 1 of a booted host. It runs the host's main
// process (the agent) and acts as its service manager: TERM or INT stop
// it (forwarded, then PID 1 exits and the kernel kills what is left); a
// main process that fails is restarted after a second, like a systemd
// service with Restart=on-failure; one that exits 0 leaves the host up and
// idle. USR1, sent by /usr/local/sbin/reboot, stops it the same way and
// exits 77 so the lab boots the host again.
//
// /run/lab/main.pid holds the main process's pid; /run/lab/ready the boot
// id once it runs.
const initScript = `#!/bin/sh
# /lab/init: PID 1 of a Patchbay lab host. Written by the lab.
stopping=0 rebooting=0 child=
stop() {
	stopping=1
	if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap stop TERM INT
trap 'rebooting=1; stop' USR1
if [ $# -eq 0 ]; then set -- sleep infinity; fi
status=0
while [ "$stopping" = 0 ]; do
	"$@" &
	child=$!
	echo "$child" >/run/lab/main.pid
	cp /run/lab/boot_id /run/lab/ready
	while :; do
		wait "$child"
		status=$?
		kill -0 "$child" 2>/dev/null || break
	done
	child=
	[ "$stopping" = 0 ] || break
	echo "lab init: main process exited with status $status" >&2
	if [ "$status" = 0 ]; then
		set -- sleep infinity
	else
		sleep 1
	fi
done
if [ "$rebooting" = 1 ]; then exit 77; fi
exit 0
`

// rebootShim is /usr/local/sbin/reboot in hosts: it asks /lab/init to
// reboot the host. The agent's reboot command is configured to it.
const rebootShim = `#!/bin/sh
# Patchbay lab: reboot this host (the lab stops it and boots it again).
kill -USR1 1
`
