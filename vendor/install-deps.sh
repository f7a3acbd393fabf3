#!/bin/sh
# install-deps.sh: installs, with apt-get, every Debian package the build and
# the tests need, and makes Debian's source packages reachable. Called by the
# Makefile; safe to run again (it only installs what is missing). Needs root
# when something is missing.
set -eu

build_pkgs="musl-tools gcc make dpkg-dev openssl ca-certificates libjsmn-dev xz-utils"
test_pkgs="redis-server python3 python3-celery python3-redis clang libclang-rt-14-dev llvm libcurl4-openssl-dev file binutils umoci skopeo squashfs-tools systemd systemd-container man-db gnuplot-nox python3-requests podman runc mmdebstrap iproute2"
extra_pkgs="${TRYON_EXTRA_PKGS:-}"

missing=""
for p in $build_pkgs $test_pkgs $extra_pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

have_deb_src() {
	apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'
}

# Derive deb-src entries from the machine's own deb entries, so the repository
# never names a package host. Handles both the deb822 (.sources) and the
# one-line (.list) formats.
derive_deb_src() {
	out_sources=/etc/apt/sources.list.d/tryon-worker-deb-src.sources
	out_list=/etc/apt/sources.list.d/tryon-worker-deb-src.list
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		[ "$f" = "$out_sources" ] && continue
		awk '
			function flush() {
				if (n && is_deb) { for (i = 1; i <= n; i++) print lines[i]; print "" }
				n = 0; is_deb = 0
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			/^Types:/ {
				if ($0 ~ /(^|[ \t])deb([ \t]|$)/) is_deb = 1
				lines[++n] = "Types: deb-src"; next
			}
			{ lines[++n] = $0 }
			END { flush() }
		' "$f"
	done > "$out_sources.tmp"
	mv "$out_sources.tmp" "$out_sources"
	[ -s "$out_sources" ] || rm -f "$out_sources"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		[ "$f" = "$out_list" ] && continue
		sed -n 's/^[ \t]*deb[ \t]/deb-src /p' "$f"
	done > "$out_list.tmp"
	mv "$out_list.tmp" "$out_list"
	[ -s "$out_list" ] || rm -f "$out_list"
}

need_update=0
if ! have_deb_src; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: no deb-src entries and not root: cannot fetch Debian sources" >&2
		exit 1
	fi
	echo "install-deps: no deb-src entries; deriving them from the deb entries"
	derive_deb_src
	need_update=1
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	need_update=1
fi

if [ "$need_update" = 1 ]; then
	apt-get update -qq
fi
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
