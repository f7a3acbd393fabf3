#!/bin/sh
# build-portable.sh [BINARY [OUTDIR]]: builds the systemd portable service
# image OUTDIR/tryon-worker_VERSION.raw (default OUTDIR=build), a squashfs
# in the layout portablectl(1) requires (systemd.io/PORTABLE_SERVICES):
#   usr/bin/tryon-worker                          the static binary
#   usr/lib/systemd/system/tryon-worker.service   the unit; its name carries
#                                                 the image's prefix
#   usr/lib/os-release, etc/os-release -> it      what the image is
#   etc/hosts                                     localhost only; the drop-in
#                                                 binds the host's over it
#   etc/resolv.conf, etc/machine-id               empty, bound from the host
#   proc sys dev run tmp var/tmp                  empty mount points
# The image is read-only, so every mount point must exist in it: a file the
# profiles or the drop-in bind must be in the image (systemd mounts tmpfs
# on /run, /dev, /tmp, where it can create its own). Without etc/hosts the
# static binary (musl: no nss-myhostname) cannot resolve "localhost".
# SOURCE_DATE_EPOCH, if set, fixes the time stamps (reproducible builds).
set -eu
cd "$(dirname "$0")/.."

bin=${1:-build/tryon-worker}
outdir=${2:-build}
version=$(sed -n 's/^VERSION *= *//p' Makefile)
epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
out=$outdir/tryon-worker_$version.raw

[ -x "$bin" ] || { echo "build-portable.sh: $bin missing: run make first" >&2; exit 1; }
file "$bin" | grep -q 'statically linked' || { echo "build-portable.sh: $bin is not static" >&2; exit 1; }
if ! command -v mksquashfs >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get install -y --no-install-recommends squashfs-tools >/dev/null
	else
		echo "build-portable.sh: mksquashfs missing (Debian: apt-get install squashfs-tools)" >&2
		exit 1
	fi
fi

mkdir -p "$outdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/tryon-portable.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

install -d -m 0755 "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc" \
	"$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/var"
install -d -m 1777 "$root/tmp" "$root/var/tmp"
install -m 0755 "$bin" "$root/usr/bin/tryon-worker"
# The same unit as for the bare binary, with the image's binary path.
sed 's|^ExecStart=/usr/local/bin/tryon-worker |ExecStart=/usr/bin/tryon-worker |' \
	image/tryon-worker.service >"$root/usr/lib/systemd/system/tryon-worker.service"
grep -q '^ExecStart=/usr/bin/tryon-worker worker$' "$root/usr/lib/systemd/system/tryon-worker.service" ||
	{ echo "build-portable.sh: ExecStart not rewritten" >&2; exit 1; }
cat >"$root/usr/lib/os-release" <<EOF
NAME="tryon-worker"
ID=tryon-worker
VERSION_ID=$version
PRETTY_NAME="tryon-worker $version (portable service)"
IMAGE_ID=tryon-worker
IMAGE_VERSION=$version
PORTABLE_ID=tryon-worker
PORTABLE_PRETTY_NAME="tryon-worker $version"
EOF
ln -s ../usr/lib/os-release "$root/etc/os-release"
: >"$root/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
: >"$root/etc/machine-id"
find "$root" -exec touch -h -d "@$epoch" {} +

rm -f "$out.tmp"
# mksquashfs refuses SOURCE_DATE_EPOCH together with explicit times.
env -u SOURCE_DATE_EPOCH mksquashfs "$root" "$out.tmp" -noappend -all-root -comp xz -no-progress -quiet \
	-mkfs-time "$epoch" -all-time "$epoch" >/dev/null
mv "$out.tmp" "$out"
echo "build-portable.sh: $out ($(wc -c <"$out") bytes)"
