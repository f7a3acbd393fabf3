#!/bin/bash
# portable.sh BUILD: way C of docs/OPERATIONS.md for real, in a booted
# systemd (tests/deploy/nspawn.sh) with the host's free loop devices bound
# in (portablectl mounts the image through one). The image alone resolves
# localhost (its /etc/hosts); `portablectl attach --profile=strict
# --enable --now` with the drop-in starts it; systemd-analyze security
# rates it no worse than the plain unit and the profile's looser syscall
# filter and capabilities are taken back; the Python client gets an answer
# to health_check; `portablectl detach --enable --now` drains a running job
# and leaves nothing behind (files, units, links, loop devices). The
# default profile is attached once as well.
set -eu
PART=portable
BUILD=$(cd "${1:-build}" && pwd)
STATE=$BUILD/deploy/portable.$$
mkdir -p "$STATE"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nspawn.sh"
cleanup_push "rm -rf --one-file-system '$STATE'"

need_root
command -v unshare >/dev/null && unshare --net --pid --fork true 2>/dev/null || skip "no namespaces here"
[ -e /dev/loop-control ] || skip "no /dev/loop-control: portablectl needs loop devices"
[ -n "$(loop_free_devices)" ] || skip "no free loop device"
need_pkgs systemd-container mmdebstrap python3-celery python3-redis
raw=tryon-worker_$VERSION.raw
[ -f "$BUILD/$raw" ] || die "$BUILD/$raw missing: run make portable"

stage=$STATE/stage
install -D -m 0644 "$BUILD/$raw" "$stage/build/$raw"
install -D -m 0644 "$ROOT/image/portable.conf" "$stage/image/portable.conf"
install -D -m 0644 "$ROOT/image/tryon-worker.service" "$stage/image/tryon-worker.service"

rootfs_ensure
boot_container "tryon-deploy-$$" "$stage" with-loops
redis_password
NETNS=$(container_netns)
show() { cx systemctl show -p "$1" --value tryon-worker; }
exposure_of() { sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$1"; }
# Everything attach and detach may touch, to compare before and after.
snapshot() {
	cx sh -c 'find /etc/systemd/system /etc/systemd/system.attached /run/systemd/system.attached \
		/etc/portables /run/portables -mindepth 1 2>/dev/null | sort
	systemctl list-units --all --no-legend --plain "tryon-worker*" | sed "s/^/unit /"
	losetup -a | sed "s/^/loop /"; mount | grep -F .raw | sed "s/^/mount /"; true'
}

# 1. settings and image as documented (way C, steps 1-3)
t0=$(now_ns)
cx install -d -m 0755 /etc/tryon-worker
env_file localhost:6379 | cx sh -c 'umask 077 && cat >/etc/tryon-worker/env'
snapshot >"$STATE/before.txt"
cxsh "install -d -m 0755 /var/lib/portables
install -m 0644 build/$raw /var/lib/portables/
install -D -m 0644 image/portable.conf /etc/systemd/system/tryon-worker.service.d/50-portable.conf" \
	>"$STATE/install.log" 2>&1 || die "install failed" "$STATE/install.log"
pass "$t0" "image in /var/lib/portables, drop-in 50-portable.conf, env file with redis://...@localhost:6379"

# 2. the image's own /etc/hosts: localhost resolves without the drop-in
t0=$(now_ns)
cx systemd-run --wait --pipe --quiet -p "RootImage=/var/lib/portables/$raw" -p DynamicUser=yes \
	-p EnvironmentFile=/etc/tryon-worker/env -p Environment=FAL_QUEUE_URL=https://localhost:9 \
	/usr/bin/tryon-worker doctor >"$STATE/doctor.log" 2>&1 || true
grep -qE '^ok +broker +redis://:\*\*\*@localhost:6379/4' "$STATE/doctor.log" ||
	die "inside the bare image the broker at localhost is not reached" "$STATE/doctor.log"
pass "$t0" "image alone (RootImage=, no bind): doctor reaches redis at localhost via the image's /etc/hosts"

# 3. attach, as documented
t0=$(now_ns)
cx portablectl attach --profile=strict --enable --now "tryon-worker_$VERSION" >"$STATE/attach.log" 2>&1 ||
	die "portablectl attach failed" "$STATE/attach.log"
up() { [ "$(show ActiveState)/$(show SubState)" = active/running ]; }
wait_until 30 up || die "not running 30 s after attach: $(show ActiveState)/$(show SubState)" "$STATE/attach.log"
status=$(show StatusText)
[ "$status" = "consuming tryon_queue with 4 slots" ] || die "status text \"$status\""
[ "$(show RootImage)" = "/var/lib/portables/$raw" ] || die "RootImage=$(show RootImage)"
cx portablectl list --no-legend >"$STATE/list.txt"
grep -qE "^tryon-worker_$VERSION +raw +no .* running$" "$STATE/list.txt" || die "portablectl list" "$STATE/list.txt"
pass "$t0" "portablectl attach --profile=strict --enable --now: running, Status: \"$status\""

# 4. the sandbox: the profile loosens nothing the unit restricts
t0=$(now_ns)
cx systemd-analyze security tryon-worker.service >"$STATE/security.txt" 2>&1 || true
cx sh -c 'cp /mnt/src/image/tryon-worker.service /run/systemd/system/tryon-worker-plain.service &&
	systemctl daemon-reload && systemd-analyze security tryon-worker-plain.service; rm -f /run/systemd/system/tryon-worker-plain.service; systemctl daemon-reload' \
	>"$STATE/security-plain.txt" 2>&1 || true
attached=$(exposure_of "$STATE/security.txt")
plain=$(exposure_of "$STATE/security-plain.txt")
[ -n "$attached" ] && [ -n "$plain" ] || die "no exposure level" "$STATE/security.txt" "$STATE/security-plain.txt"
awk "BEGIN { exit !($attached <= $plain) }" || die "attached $attached > plain unit $plain" "$STATE/security.txt"
grep -q '^✓ SystemCallFilter=~@privileged' "$STATE/security.txt" || die "@privileged calls allowed" "$STATE/security.txt"
[ -z "$(show CapabilityBoundingSet)" ] || die "capabilities: $(show CapabilityBoundingSet)"
caps=$(cx sh -c "grep -E '^Cap(Bnd|Eff|Prm)' /proc/$(show MainPID)/status | awk '{print \$2}' | sort -u")
[ "$caps" = 0000000000000000 ] || die "the running worker has capabilities: $caps"
pass "$t0" "systemd-analyze security: attached $attached <= plain unit $plain; ~@privileged kept, no capabilities"

# 5. the Python client
t0=$(now_ns)
client "$NETNS" health >"$STATE/health.json" 2>"$STATE/health.err" ||
	die "health_check did not answer ok: $(cat "$STATE/health.json")" "$STATE/health.err"
pass "$t0" "Python client: health_check answered ok by the portable service"

# 6. detach drains and leaves nothing behind
t0=$(now_ns)
gone() { [ "$(cx systemctl show -p LoadState --value tryon-worker)" = not-found ]; }
# detach --now waits for the stop job: it returns once the drain is over.
client "$NETNS" drain 5 -- nsenter -t "$LEADER" -a portablectl detach --enable --now "tryon-worker_$VERSION" \
	>"$STATE/drain.json" 2>"$STATE/drain.err" ||
	die "detach did not drain: $(cat "$STATE/drain.json")" "$STATE/drain.err"
gone || die "the unit is still loaded after detach returned"
cx journalctl -u tryon-worker -o cat --no-pager >"$STATE/journal.txt"
grep -q 'event=worker.draining running=1' "$STATE/journal.txt" || die "no drain in the journal" "$STATE/journal.txt"
grep -q 'event=worker.stopped' "$STATE/journal.txt" || die "the worker did not stop cleanly" "$STATE/journal.txt"
snapshot | grep -vxF -e /etc/systemd/system/tryon-worker.service.d \
	-e /etc/systemd/system/tryon-worker.service.d/50-portable.conf \
	-e /etc/portables >"$STATE/after.txt"
cx sh -c '[ -z "$(ls -A /etc/portables 2>/dev/null)" ]' || die "/etc/portables is not empty"
diff "$STATE/before.txt" "$STATE/after.txt" >"$STATE/left.txt" || die "left behind after detach" "$STATE/left.txt"
pass "$t0" "portablectl detach --enable --now during a 5 s job: SUCCESS, stopped after $(json_get "$STATE/drain.json" stop_seconds) s; no unit, link, mount or loop device left"

# 7. the default profile with the same drop-in
t0=$(now_ns)
cx portablectl attach --profile=default --enable --now "tryon-worker_$VERSION" >"$STATE/attach2.log" 2>&1 ||
	die "attach --profile=default failed" "$STATE/attach2.log"
wait_until 30 up || die "default profile: not running" "$STATE/attach2.log"
client "$NETNS" health >"$STATE/health2.json" 2>"$STATE/health2.err" || die "default profile: health_check" "$STATE/health2.err"
cx systemd-analyze security tryon-worker.service >"$STATE/security2.txt" 2>&1 || true
default=$(exposure_of "$STATE/security2.txt")
awk "BEGIN { exit !($default <= $plain) }" || die "default profile: $default > plain unit $plain" "$STATE/security2.txt"
[ -z "$(show CapabilityBoundingSet)" ] || die "default profile: capabilities $(show CapabilityBoundingSet)"
cx portablectl detach --enable --now "tryon-worker_$VERSION" >>"$STATE/attach2.log" 2>&1 || die "detach failed" "$STATE/attach2.log"
wait_until 40 gone || die "default profile: still loaded after detach"
pass "$t0" "portablectl attach --profile=default: health_check ok, exposure $default, no capabilities; detached"

no_secret "$STATE/journal.txt" "$STATE/health.json" "$STATE/drain.json" "$STATE/doctor.log"
t0=$(now_ns)
shutdown_container
loops_as_before || die "loop devices differ after the shutdown"
pass "$t0" "container shut down; the host's loop devices as before ($(echo $LOOPS_BEFORE | wc -w)), none attached to the image"
echo "$PASSED passed, 0 failed"
