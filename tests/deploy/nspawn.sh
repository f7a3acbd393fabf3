# nspawn.sh: sourced by systemd.sh and portable.sh (after lib.sh). A booted
# systemd to install into: Debian 12 made by mmdebstrap into
# BUILD/deploy/rootfs-HASH (HASH of the package list and the hook below,
# so it is rebuilt only when they change), booted with systemd-nspawn
# --volatile=overlay (every change is lost at shutdown: the cached tree
# stays clean) and --private-network (its own loopback, nothing else).
# Commands run inside with nsenter into the container's leader.
#
# Needs root, systemd-nspawn, mmdebstrap, and Debian's package mirror the
# first time. Uses: BUILD, STATE, PART (lib.sh).

ROOTFS_PKGS="systemd,systemd-sysv,dbus,systemd-container,redis-server,man-db"
# A host's /etc/hosts (Debian's installer writes it; minbase has none).
ROOTFS_HOOK='printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"'

# The machine's own Debian entries (binary only), so that nothing here
# names a mirror; empty when there are none (mmdebstrap's default then).
rootfs_sources() {
	local f out=$STATE/sources
	: >"$out.sources"
	: >"$out.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush() { if (n && deb) { for (i = 1; i <= n; i++) print l[i]; print "" } n = 0; deb = 0 }
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^Types:/ { if ($0 ~ /(^|[ \t])deb([ \t]|$)/) deb = 1; l[++n] = "Types: deb"; next }
			{ l[++n] = $0 }
			END { flush() }' "$f" >>"$out.sources"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && grep -E '^[[:space:]]*deb[[:space:]]' "$f" >>"$out.list"
	done
	[ -s "$out.sources" ] && echo "$out.sources"
	[ -s "$out.list" ] && echo "$out.list"
	return 0
}

# rootfs_ensure: sets ROOTFS; builds it when the cache does not hold it.
rootfs_ensure() {
	local t0 hash tmp srcs
	t0=$(now_ns)
	hash=$(printf '%s\n%s\nbookworm minbase\n' "$ROOTFS_PKGS" "$ROOTFS_HOOK" | sha256sum | cut -c1-12)
	ROOTFS=$BUILD/deploy/rootfs-$hash
	if [ -f "$ROOTFS/.complete" ]; then
		pass "$t0" "rootfs: cached $(basename "$ROOTFS") ($ROOTFS_PKGS)"
		return 0
	fi
	need_pkgs mmdebstrap
	mkdir -p "$BUILD/deploy"
	# One builder at a time; other hashes are stale: remove them.
	exec 8>"$BUILD/deploy/.rootfs.lock"
	flock 8
	if [ ! -f "$ROOTFS/.complete" ]; then
		for tmp in "$BUILD"/deploy/rootfs-*; do
			[ -d "$tmp" ] && [ "$tmp" != "$ROOTFS" ] && rm -rf --one-file-system "$tmp"
		done
		rm -rf --one-file-system "$ROOTFS"
		mapfile -t srcs < <(rootfs_sources)
		if ! mmdebstrap --variant=minbase --include="$ROOTFS_PKGS" \
			--customize-hook="$ROOTFS_HOOK" bookworm "$ROOTFS" "${srcs[@]}" \
			>"$STATE/mmdebstrap.log" 2>&1; then
			rm -rf --one-file-system "$ROOTFS"
			if grep -qiE 'could not resolve|failed to fetch|unable to connect|temporary failure' "$STATE/mmdebstrap.log"; then
				skip "mmdebstrap cannot reach the Debian mirror (no cached rootfs)"
			fi
			die "mmdebstrap failed" "$STATE/mmdebstrap.log"
		fi
		touch "$ROOTFS/.complete"
	fi
	flock -u 8
	pass "$t0" "rootfs: built $(basename "$ROOTFS") with mmdebstrap --variant=minbase ($ROOTFS_PKGS)"
}

# The free loop devices, for portablectl inside the container: they are
# bound in with /dev/loop-control; systemd there picks the first free one.
LOOPS_BEFORE=
loop_free_devices() {
	local d
	for d in /dev/loop[0-9]*; do
		[ -b "$d" ] || continue
		losetup "$d" >/dev/null 2>&1 || echo "$d"
	done
}

# Shutting a container down can remove idle host loop devices (their
# nodes vanish); recreate every one that was there before (LOOP_CTL_ADD).
loop_restore() {
	local d
	for d in $LOOPS_BEFORE; do
		[ -b "$d" ] && continue
		python3 - "${d#/dev/loop}" <<'EOF'
import fcntl, os, sys
fd = os.open("/dev/loop-control", os.O_RDWR)
try:
    fcntl.ioctl(fd, 0x4C80, int(sys.argv[1]))   # LOOP_CTL_ADD
except OSError:
    pass
os.close(fd)
EOF
		[ -b "$d" ] || mknod -m 0660 "$d" b 7 "${d#/dev/loop}" 2>/dev/null || true
	done
}

# loops_as_before: every loop device node is back, none is attached to a
# portable image that the container attached; detaches any such device.
loops_as_before() {
	local d ok=0
	for d in $LOOPS_BEFORE; do
		[ -b "$d" ] || { echo "$d missing"; ok=1; }
	done
	for d in $(losetup -a 2>/dev/null | grep -F '/var/lib/portables/tryon-worker_' | cut -d: -f1); do
		grep -qxF "$d" <<<"$LOOPS_ATTACHED_BEFORE" && continue
		echo "$d still attached"
		losetup -d "$d" 2>/dev/null || true
		ok=1
	done
	return $ok
}

# boot_container NAME STAGE [with-loops]: boots ROOTFS as machine NAME with
# STAGE bound read-only at /mnt/src; sets NSPAWN_PID and LEADER; registers
# the shutdown. Waits for `systemctl is-system-running --wait`.
boot_container() {
	local name=$1 stage=$2 t0 binds=() d state
	t0=$(now_ns)
	[ -e /dev/loop-control ] && LOOPS_BEFORE=$(ls -d /dev/loop[0-9]* 2>/dev/null | tr '\n' ' ')
	LOOPS_ATTACHED_BEFORE=$(losetup -a 2>/dev/null | cut -d: -f1)
	if [ "${3:-}" = with-loops ]; then
		binds+=(--bind=/dev/loop-control)
		for d in $(loop_free_devices); do
			binds+=(--bind="$d")
		done
	fi
	systemd-nspawn -D "$ROOTFS" -M "$name" -b --register=no --keep-unit --private-network \
		--volatile=overlay --console=read-only --bind-ro="$stage:/mnt/src" "${binds[@]}" \
		>"$STATE/nspawn.log" 2>&1 </dev/null &
	NSPAWN_PID=$!
	cleanup_push "shutdown_container"
	LEADER=
	wait_until 20 leader_found || die "no container leader after 20 s" "$STATE/nspawn.log"
	# The leader exists before systemd listens on its bus.
	wait_until 30 cx test -S /run/systemd/private || die "no systemd bus in the container after 30 s" "$STATE/nspawn.log"
	state=$(cx timeout 60 systemctl is-system-running --wait 2>&1)
	case $state in
	running | degraded) ;;
	*) die "container did not boot: $state" "$STATE/nspawn.log" ;;
	esac
	pass "$t0" "booted $(cx systemctl --version | head -n 1 | cut -d' ' -f1-2) in systemd-nspawn --private-network --volatile=overlay (state $state)"
}

# The leader is the nspawn process's child that runs systemd.
leader_found() {
	local c
	kill -0 "$NSPAWN_PID" 2>/dev/null || return 1
	for c in $(cat "/proc/$NSPAWN_PID/task/$NSPAWN_PID/children" 2>/dev/null); do
		if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ]; then
			LEADER=$c
			return 0
		fi
	done
	return 1
}

# cx CMD...: run CMD inside the container, with a clean environment.
cx() {
	nsenter -t "$LEADER" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 SYSTEMD_PAGER= "$@"
}
# cxsh 'shell text': the same through sh -c, in /mnt/src (the staged
# repository files), so the docs' commands run as written.
cxsh() {
	cx sh -ec "cd /mnt/src && $1"
}

# The container's loopback network, for the Python client.
container_netns() { echo "/proc/$LEADER/ns/net"; }

shutdown_container() {
	[ -n "${NSPAWN_PID:-}" ] || return 0
	# SIGTERM to systemd-nspawn: an orderly shutdown of the container.
	stop_pid "$NSPAWN_PID" 30
	NSPAWN_PID=
	loop_restore
	loops_as_before >/dev/null || true
}

# redis_password: the container's redis-server (Debian's unit, port 6379 on
# its loopback) with the password.
redis_password() {
	local t0
	t0=$(now_ns)
	cx sh -c "printf 'requirepass \"%s\"\n' '$DEPLOY_PASSWORD' >>/etc/redis/redis.conf && systemctl restart redis-server" ||
		die "cannot configure redis-server"
	wait_until 10 cx redis-cli -a "$DEPLOY_PASSWORD" --no-auth-warning ping || die "redis-server does not answer"
	pass "$t0" "redis-server in the container: 127.0.0.1:6379 with a password containing + / ="
}
