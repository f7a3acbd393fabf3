#!/bin/bash
# deploy-check.sh [BUILD [PART...]]: `make deploy-check`. Builds the
# container image (OCI archive and docker-archive) and the portable image
# from BUILD/tryon-worker, then runs the three ways docs/OPERATIONS.md
# describes, for real, one part each (PARTS: podman systemd portable,
# default all; TRYON_DEPLOY_PARTS says the same):
#   podman.sh    way B, the FROM scratch image under podman
#   systemd.sh   way A, the unit in a booted systemd (systemd-nspawn)
#   portable.sh  way C, the portable image attached with portablectl
# Every check prints one line with what it checked and how long it took; a
# part the machine cannot run says "skipped: why". Closes with
# "N passed, N failed, N skipped" over all checks; exit 1 if one failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${1:-build}
[ $# -gt 0 ] && shift
parts=${*:-${TRYON_DEPLOY_PARTS:-podman systemd portable}}
passed=0 failed=0 skipped=0 summary=

now_ns() { date +%s%N; }
secs_since() { local d=$(($(now_ns) - $1)); printf '%d.%d' $((d / 1000000000)) $((d / 100000000 % 10)); }
t_all=$(now_ns)

echo "== deploy-check: images"
t0=$(now_ns)
if [ ! -x "$BUILD/tryon-worker" ]; then
	echo "FAIL     images   $BUILD/tryon-worker missing: run make"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if image/build-oci.sh "$BUILD/tryon-worker" "$BUILD/tryon-worker-oci.tar" >"$log" 2>&1 &&
	image/build-portable.sh "$BUILD/tryon-worker" "$BUILD" >>"$log" 2>&1; then
	passed=$((passed + 1))
	echo "ok       images   $BUILD/tryon-worker-oci.tar, tryon-worker-docker.tar, tryon-worker_*.raw built ($(secs_since "$t0") s)"
else
	cat "$log"
	echo "FAIL     images   image/build-oci.sh or image/build-portable.sh failed"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
summary="images $(secs_since "$t0") s"

for part in $parts; do
	case $part in
	podman | systemd | portable) ;;
	*) echo "deploy-check: unknown part \"$part\" (podman, systemd, portable)"; exit 2 ;;
	esac
	echo "== deploy-check: $part"
	t0=$(now_ns)
	# The part's own closing line is summed up here, not shown.
	"tests/deploy/$part.sh" "$BUILD" 2>&1 </dev/null | tee "$log" |
		grep --line-buffered -vE '^[0-9]+ passed, [0-9]+ failed'
	rc=${PIPESTATUS[0]}
	n=$(grep -c '^ok ' "$log")
	passed=$((passed + n))
	case $rc in
	0) ;;
	77) skipped=$((skipped + 1)) ;;
	*)
		failed=$((failed + 1))
		grep -q '^FAIL ' "$log" || echo "FAIL     $part exited $rc"
		;;
	esac
	summary="$summary, $part $(secs_since "$t0") s"
done
echo "deploy-check: $summary; total $(secs_since "$t_all") s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
