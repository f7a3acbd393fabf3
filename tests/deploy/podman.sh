#!/bin/bash
# podman.sh BUILD: way B of docs/OPERATIONS.md for real. Loads
# BUILD/tryon-worker-docker.tar into a podman store of its own (nothing
# the machine's podman holds is touched), runs it read-only with every
# capability dropped as uid 65534, in a network namespace made here with a
# redis-server on its loopback; the Python client gets an answer to
# health_check; `podman healthcheck run` passes; `podman stop` drains a
# running job and the container exits 0 within the grace period.
#
# Machine quirks (Debian 12 VM): runc, since crun refuses the hybrid cgroup
# layout; --ulimit nofile/nproc, since root lacks CAP_SYS_RESOURCE to raise
# the hard limits to containers.conf's defaults; cgroupfs and file events,
# since PID 1 is not systemd; and no health check timers for the same
# reason: the check is run by hand, as `podman healthcheck run`.
set -eu
PART=podman
BUILD=$(cd "${1:-build}" && pwd)
STATE=$BUILD/deploy/podman.$$
mkdir -p "$STATE"
. "$(dirname "$0")/lib.sh"
cleanup_push "rm -rf --one-file-system '$STATE'"

need_root
command -v unshare >/dev/null && unshare --net true 2>/dev/null || skip "no network namespaces here"
need_pkgs podman runc iproute2 redis-server python3-celery python3-redis
archive=$BUILD/tryon-worker-docker.tar
[ -f "$archive" ] || die "$archive missing: run make image"

# runc's state directory, when this part is the first to make it.
[ -d /run/runc ] || cleanup_push "rmdir /run/runc"
P=(podman --root "$STATE/storage" --runroot "$STATE/run" --tmpdir "$STATE/tmp"
	--runtime runc --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
# Containers first, then images, then whatever the store still has
# mounted under STATE (not `podman system reset`: that also removes the
# machine's podman networks).
unmount_state() {
	local m
	for m in $(awk -v d="$STATE/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}
cleanup_push "unmount_state"
cleanup_push "${P[*]} rm -a -f -t 0; ${P[*]} rmi -a -f"

# 1. load
t0=$(now_ns)
"${P[@]}" load -i "$archive" >"$STATE/load.log" 2>&1 || die "podman load failed" "$STATE/load.log"
for tag in "$VERSION" latest; do
	grep -q "^Loaded image: docker.io/library/tryon-worker:$tag$" "$STATE/load.log" ||
		die "podman load did not name the image tryon-worker:$tag" "$STATE/load.log"
	"${P[@]}" image exists "tryon-worker:$tag" || die "tryon-worker:$tag not found after load"
done
hc=$("${P[@]}" image inspect --format '{{json .HealthCheck.Test}}' "tryon-worker:$VERSION")
[ "$hc" = '["CMD","/tryon-worker","healthcheck"]' ] || die "the loaded image's health check is $hc"
pass "$t0" "podman load: tryon-worker:$VERSION and tryon-worker:latest, HEALTHCHECK kept"

# 2. a network namespace with redis-server on its loopback, held by a
# process of ours (nothing named, nothing left in /run/netns)
t0=$(now_ns)
unshare --net sleep infinity &
holder=$!
cleanup_push "stop_pid $holder"
NETNS=/proc/$holder/ns/net
other_netns() { [ "$(readlink "$NETNS")" != "$(readlink /proc/self/ns/net)" ]; }
wait_until 5 other_netns || die "cannot create a network namespace"
nsenter --net="$NETNS" ip link set lo up
mkdir -p "$STATE/redis"
nsenter --net="$NETNS" redis-server --port 6379 --bind 127.0.0.1 --requirepass "$DEPLOY_PASSWORD" \
	--dir "$STATE/redis" --save '' --appendonly no --daemonize no >"$STATE/redis.log" 2>&1 &
redis_pid=$!
cleanup_push "stop_pid $redis_pid"
wait_until 10 nsenter --net="$NETNS" redis-cli -a "$DEPLOY_PASSWORD" --no-auth-warning ping ||
	die "redis-server does not answer" "$STATE/redis.log"
pass "$t0" "network namespace: loopback only, redis-server on 127.0.0.1:6379 with a password containing + / ="

# 3. run as documented: read-only, no capabilities, no new privileges
t0=$(now_ns)
env_file 127.0.0.1:6379 "REDIS_CACHE_URL=redis://:$DEPLOY_PASSWORD_URL@127.0.0.1:6379/6" >"$STATE/env"
chmod 600 "$STATE/env"
name=tryon-deploy-$$
"${P[@]}" run -d --name "$name" --stop-timeout 35 --env-file "$STATE/env" --memory 2g \
	--read-only --cap-drop ALL --security-opt no-new-privileges \
	--network "ns:$NETNS" --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
	"tryon-worker:$VERSION" >"$STATE/run.log" 2>&1 || die "podman run failed" "$STATE/run.log"
logs() { "${P[@]}" logs "$name" >"$STATE/container.log" 2>&1; }
ready() { logs; grep -q 'event=worker.ready' "$STATE/container.log"; }
wait_until 20 ready || die "no event=worker.ready within 20 s" "$STATE/container.log"
pid=$("${P[@]}" inspect --format '{{.State.Pid}}' "$name")
st=/proc/$pid/status
grep -qE '^Uid:\s+65534\s+65534\s+65534\s+65534$' "$st" || die "not uid 65534: $(grep ^Uid "$st")"
grep -qE '^Gid:\s+65534\s+65534\s+65534\s+65534$' "$st" || die "not gid 65534: $(grep ^Gid "$st")"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	grep -qE "^$c:\s+0+$" "$st" || die "capabilities left: $(grep "^$c" "$st")"
done
grep -qE '^NoNewPrivs:\s+1$' "$st" || die "no_new_privs is not set"
awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | grep -q '^ro' || die "the root file system is writable"
[ "$("${P[@]}" inspect --format '{{.Config.User}}' "$name")" = 65534:65534 ] || die "the image's user is not 65534:65534"
pass "$t0" "podman run --read-only --cap-drop ALL: ready, uid/gid 65534, no capabilities, no_new_privs, root read-only"

# 4. the Python client's health_check
t0=$(now_ns)
client "$NETNS" health >"$STATE/health.json" 2>"$STATE/health.err" ||
	die "health_check did not answer ok: $(cat "$STATE/health.json")" "$STATE/health.err"
[ "$(json_get "$STATE/health.json" cache_reachable)" = true ] || die "cache not reachable: $(cat "$STATE/health.json")"
pass "$t0" "Python client: health_check answered ok (broker, results, cache reachable)"

# 5. the image's HEALTHCHECK, run by podman
t0=$(now_ns)
"${P[@]}" healthcheck run "$name" >"$STATE/hc.log" 2>&1 || die "podman healthcheck run failed" "$STATE/hc.log"
status=$("${P[@]}" inspect --format '{{.State.Health.Status}}' "$name")
[ "$status" = healthy ] || die "health status is \"$status\"" "$STATE/hc.log"
pass "$t0" "podman healthcheck run: healthy (/tryon-worker healthcheck inside the container)"

# 6. podman stop drains a running job
t0=$(now_ns)
client "$NETNS" drain 5 -- "${P[@]}" stop -t 35 "$name" >"$STATE/drain.json" 2>"$STATE/drain.err" ||
	die "podman stop did not drain: $(cat "$STATE/drain.json")" "$STATE/drain.err"
code=$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || die "the container exited $code" "$STATE/container.log"
logs
grep -q 'event=worker.draining running=1' "$STATE/container.log" || die "no drain in the log" "$STATE/container.log"
pass "$t0" "podman stop -t 35 during a 5 s job: the job finished (SUCCESS), exit 0 after $(json_get "$STATE/drain.json" stop_seconds) s"

no_secret "$STATE/container.log" "$STATE/run.log" "$STATE/health.json" "$STATE/drain.json"
echo "$PASSED passed, 0 failed"
