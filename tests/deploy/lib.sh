# lib.sh: sourced by the deploy checks (tests/deploy/*.sh). One line per
# check, "ok|FAIL|skipped  PART  what was checked  (seconds)"; a cleanup
# stack that the part's EXIT trap unwinds, so everything a part started is
# stopped by its PID or removed by its name, also when a check fails; the
# Debian packages a part needs, installed with apt-get when missing.
# A part exits 0 (all passed), 1 (a check failed) or 77 (skipped).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=$(sed -n 's/^VERSION *= *//p' "$ROOT/Makefile")
# Known fake secret with the characters that need percent-encoding; the
# checks fail if it shows up in any log they read.
DEPLOY_PASSWORD='deploy+check/pw=1'
DEPLOY_PASSWORD_URL='deploy%2Bcheck%2Fpw%3D1'
DEPLOY_FAL_KEY='fake-deploy-key:fake-deploy-secret'
PASSED=0

now_ns() { date +%s%N; }
secs_since() { # $1 = now_ns at the start
	local d=$(($(now_ns) - $1))
	printf '%d.%d' $((d / 1000000000)) $((d / 100000000 % 10))
}

# pass T0 "what was checked": one ok line with the time since T0.
pass() {
	PASSED=$((PASSED + 1))
	printf 'ok       %-8s %s (%s s)\n' "$PART" "$2" "$(secs_since "$1")"
}

# die "what failed" [FILE...]: the FAIL line, the tail of each file, exit 1
# (the EXIT trap cleans up).
die() {
	printf 'FAIL     %-8s %s\n' "$PART" "$1"
	shift
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "--- last lines of $(basename "$f"):"
		tail -n 40 "$f" | sed 's/^/    /'
	done
	exit 1
}

skip() {
	printf 'skipped: %s: %s\n' "$PART" "$1"
	exit 77
}

# The cleanup stack: cleanup_push "shell command"; run last-in first-out
# on exit, each command once, errors ignored.
CLEANUP=()
cleanup_push() { CLEANUP+=("$1"); }
cleanup_run() {
	local rc=$? i
	trap - EXIT INT TERM ERR
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	CLEANUP=()
	exit "$rc"
}
trap cleanup_run EXIT
trap 'exit 130' INT TERM
# A command that fails outside a check's own test still says where.
set -E
trap 'die "line $LINENO: \"$BASH_COMMAND\" failed"' ERR

# stop_pid PID [SECONDS]: SIGTERM, wait, SIGKILL; only our own children.
stop_pid() {
	local pid=$1 n=$((${2:-10} * 10))
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 on
# timeout.
wait_until() {
	local n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

# need_root; need_pkgs PKG...: what a part requires, or a skip saying why.
need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, loop devices)"
}
need_pkgs() {
	local p missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	command -v apt-get >/dev/null || skip "missing$missing and no apt-get"
	# shellcheck disable=SC2086
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
		>"$STATE/apt.log" 2>&1; then
		apt-get update -q >>"$STATE/apt.log" 2>&1
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
			>>"$STATE/apt.log" 2>&1 || skip "cannot install$missing (apt-get failed)"
	fi
}

# no_secret FILE...: the password and the key must not appear in any log.
no_secret() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -qF -e "$DEPLOY_PASSWORD" -e "$DEPLOY_PASSWORD_URL" -e "fake-deploy-secret" "$f"; then
			die "a secret appears in $(basename "$f")"
		fi
	done
}

# The env file of every way: the Python fleet's variables, broker and
# results in DBs 4 and 5 of one Redis with a password, test tasks on (the
# drain checks run tryon.test.sleep). $1 = host part, $2 = extra lines.
env_file() {
	cat <<EOF
CELERY_BROKER_URL=redis://:$DEPLOY_PASSWORD_URL@$1/4
CELERY_RESULT_BACKEND=redis://:$DEPLOY_PASSWORD_URL@$1/5
FAL_KEY=$DEPLOY_FAL_KEY
TRYON_ENABLE_TEST_TASKS=1
${2:-}
EOF
}

# client NETNS ARGS...: tests/deploy/client.py (the Python Celery client)
# inside the network namespace NETNS (a path), with the env file's URLs.
client() {
	local ns=$1
	shift
	nsenter --net="$ns" env -i PATH=/usr/bin:/bin HOME="$STATE" \
		CELERY_BROKER_URL="redis://:$DEPLOY_PASSWORD_URL@127.0.0.1:6379/4" \
		CELERY_RESULT_BACKEND="redis://:$DEPLOY_PASSWORD_URL@127.0.0.1:6379/5" \
		/usr/bin/python3 "$ROOT/tests/deploy/client.py" "$@"
}

# json_get FILE KEY: one top-level value of a JSON object, as text.
json_get() {
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if isinstance(v,str) else json.dumps(v))' "$1" "$2"
}
