#!/bin/bash
# systemd.sh BUILD: way A of docs/OPERATIONS.md for real, in a booted
# systemd (tests/deploy/nspawn.sh): the binary, man page and unit installed
# with the documented commands; an invalid configuration fails the start
# with exit 100, its reason in journald at priority err, and no restart;
# `systemctl enable --now` returns once the worker sent READY=1 with its
# status text; the Python client gets an answer to health_check; journald
# keeps the levels of the log lines; the watchdog restarts a worker frozen
# with SIGSTOP; `systemctl stop` drains a running job.
set -eu
PART=systemd
BUILD=$(cd "${1:-build}" && pwd)
STATE=$BUILD/deploy/systemd.$$
mkdir -p "$STATE"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nspawn.sh"
cleanup_push "rm -rf --one-file-system '$STATE'"

need_root
command -v unshare >/dev/null && unshare --net --pid --fork true 2>/dev/null || skip "no namespaces here"
need_pkgs systemd-container mmdebstrap python3-celery python3-redis
[ -x "$BUILD/tryon-worker" ] || die "$BUILD/tryon-worker missing: run make"

# What the documented commands read, in the repository's layout.
stage=$STATE/stage
install -D -m 0755 "$BUILD/tryon-worker" "$stage/build/tryon-worker"
install -D -m 0644 "$ROOT/image/tryon-worker.service" "$stage/image/tryon-worker.service"
install -D -m 0644 "$ROOT/docs/tryon-worker.8" "$stage/docs/tryon-worker.8"

rootfs_ensure
boot_container "tryon-deploy-$$" "$stage"
redis_password
NETNS=$(container_netns)
show() { cx systemctl show -p "$1" --value tryon-worker; }

# 1. install, exactly as docs/OPERATIONS.md way A step 2
t0=$(now_ns)
cxsh 'install -m 0755 build/tryon-worker /usr/local/bin/tryon-worker
install -D -m 0644 docs/tryon-worker.8 /usr/local/share/man/man8/tryon-worker.8
install -m 0644 image/tryon-worker.service /etc/systemd/system/tryon-worker.service
systemd-analyze verify /etc/systemd/system/tryon-worker.service
systemctl daemon-reload' >"$STATE/install.log" 2>&1 || die "install failed" "$STATE/install.log"
[ ! -s "$STATE/install.log" ] || die "systemd-analyze verify is not silent" "$STATE/install.log"
cx systemd-analyze security tryon-worker.service >"$STATE/security.txt" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for tryon-worker.service: \([0-9.]*\).*/\1/p' "$STATE/security.txt")
[ -n "$exposure" ] && awk "BEGIN { exit !($exposure <= 2.0) }" || die "exposure \"$exposure\" above 2.0" "$STATE/security.txt"
pass "$t0" "installed binary, man page, unit; systemd-analyze verify silent; security exposure $exposure"

# 2. an invalid configuration: exit 100, the reason at err, no restart
t0=$(now_ns)
cx install -d -m 0755 /etc/tryon-worker
env_file localhost:6379 TRYON_CONCURRENCY=0 | cx sh -c 'umask 077 && cat >/etc/tryon-worker/env'
if cx systemctl start tryon-worker >/dev/null 2>&1; then die "started with TRYON_CONCURRENCY=0"; fi
[ "$(show ExecMainStatus)" = 100 ] || die "exit status $(show ExecMainStatus), not 100"
sleep 3 # RestartSec=2s: a restart would have happened by now
[ "$(show NRestarts)" = 0 ] && [ "$(show ActiveState)" = failed ] ||
	die "restarted after exit 100: NRestarts=$(show NRestarts) ActiveState=$(show ActiveState)"
cx journalctl -u tryon-worker -p err -o cat --no-pager >"$STATE/err.log"
grep -q '^tryon-worker: invalid configuration: TRYON_CONCURRENCY' "$STATE/err.log" ||
	die "journalctl -p err does not show the reason" "$STATE/err.log"
pass "$t0" "TRYON_CONCURRENCY=0: exit 100, not restarted, \"$(head -n 1 "$STATE/err.log" | cut -c1-60)...\" at priority err"

# 3. the documented start: enable --now returns after READY=1
t0=$(now_ns)
env_file localhost:6379 | cx sh -c 'umask 077 && cat >/etc/tryon-worker/env'
cx systemctl reset-failed tryon-worker
cx systemctl enable --now tryon-worker >"$STATE/start.log" 2>&1 || die "systemctl enable --now failed" "$STATE/start.log"
state="$(show ActiveState)/$(show SubState)"
status=$(show StatusText)
[ "$state" = active/running ] || die "after enable --now: $state"
[ "$status" = "consuming tryon_queue with 4 slots" ] || die "status text \"$status\""
cx journalctl -u tryon-worker -o cat --no-pager | grep -q 'event=worker.ready' || die "no event=worker.ready before READY"
pass "$t0" "systemctl enable --now: active (running), Status: \"$status\""

# 4. the Python client
t0=$(now_ns)
client "$NETNS" health >"$STATE/health.json" 2>"$STATE/health.err" ||
	die "health_check did not answer ok: $(cat "$STATE/health.json")" "$STATE/health.err"
pass "$t0" "Python client: health_check answered ok by $(json_get "$STATE/health.json" hostname)"

# 5. journald keeps the levels
t0=$(now_ns)
cx journalctl -u tryon-worker -o json --no-pager >"$STATE/journal.json"
python3 - "$STATE/journal.json" >"$STATE/levels.txt" 2>&1 <<'EOF' || die "levels lost in the journal" "$STATE/levels.txt"
import json, sys
want = {"error": "3", "warn": "4", "info": "6", "debug": "7"}
seen, bad = set(), []
for line in open(sys.argv[1]):
    e = json.loads(line)
    msg = e.get("MESSAGE")
    if e.get("_COMM") != "tryon-worker" or not isinstance(msg, str):
        continue
    if msg.startswith("<"):
        bad.append(("prefix kept", msg))
    elif msg.startswith("level="):
        level = msg.split()[0].split("=", 1)[1]
        seen.add((level, e["PRIORITY"]))
        if want.get(level) != e["PRIORITY"]:
            bad.append((e["PRIORITY"], msg))
    elif msg.startswith("tryon-worker: invalid configuration"):
        seen.add(("config", e["PRIORITY"]))
        if e["PRIORITY"] != "3":
            bad.append((e["PRIORITY"], msg))
need = {("info", "6"), ("warn", "4"), ("config", "3")}
print(sorted(seen))
if bad or not need <= seen:
    print("bad:", bad[:5], "missing:", need - seen)
    sys.exit(1)
EOF
pass "$t0" "journald priorities: level=info 6, level=warn 4, invalid configuration 3, no <N> left in a message"

# 6. the watchdog restarts a frozen worker
t0=$(now_ns)
main=$(show MainPID)
cx sh -c "kill -STOP $main"
restarted() { [ "$(show NRestarts)" = 1 ] && [ "$(show ActiveState)" = active ] && [ "$(show MainPID)" != "$main" ]; }
wait_until 50 restarted || die "no restart 50 s after SIGSTOP: NRestarts=$(show NRestarts) $(show ActiveState)"
cx journalctl -u tryon-worker -o cat --no-pager | grep -q 'Watchdog timeout' || die "restarted, but not by the watchdog"
pass "$t0" "SIGSTOP: watchdog timeout (WatchdogSec=30s), restarted, active again with Status: \"$(show StatusText)\""

# 7. systemctl stop drains
t0=$(now_ns)
client "$NETNS" drain 5 -- nsenter -t "$LEADER" -a systemctl stop tryon-worker >"$STATE/drain.json" 2>"$STATE/drain.err" ||
	die "systemctl stop did not drain: $(cat "$STATE/drain.json")" "$STATE/drain.err"
[ "$(show Result)" = success ] && [ "$(show ExecMainStatus)" = 0 ] ||
	die "stopped with Result=$(show Result) status $(show ExecMainStatus)"
cx journalctl -u tryon-worker -o cat --no-pager >"$STATE/journal.txt"
grep -q 'event=worker.draining running=1' "$STATE/journal.txt" || die "no drain in the journal" "$STATE/journal.txt"
pass "$t0" "systemctl stop during a 5 s job: the job finished (SUCCESS), exit 0 after $(json_get "$STATE/drain.json" stop_seconds) s"

no_secret "$STATE/journal.txt" "$STATE/journal.json" "$STATE/health.json" "$STATE/drain.json"
t0=$(now_ns)
shutdown_container
loops_as_before || die "loop devices differ after the shutdown"
pass "$t0" "container shut down; the host's loop devices as before"
echo "$PASSED passed, 0 failed"
