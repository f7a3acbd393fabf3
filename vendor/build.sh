#!/bin/sh
# build.sh OUT: fetches the pinned Debian source packages (apt-get source),
# verifies them against vendor/versions.lock, applies vendor/patches, and
# builds static musl libraries of BearSSL and libcurl into OUT/prefix, plus
# the generated headers the binary compiles in (CA trust anchors, versions).
# Nothing it fetches is ever committed; OUT is under build/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
prefix=$out/prefix
dl=$out/dl
src=$out/src
gen=$out/gen

lock_field() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$here/versions.lock"; }
say() { echo "vendor: $*"; }
die() { echo "vendor: error: $*" >&2; exit 1; }

command -v musl-gcc >/dev/null || die "musl-gcc not found (package musl-tools)"
command -v dpkg-source >/dev/null || die "dpkg-source not found (package dpkg-dev)"

rm -rf "$src" "$prefix" "$gen"
mkdir -p "$dl" "$src" "$prefix/include" "$prefix/lib" "$gen"

# 1. Fetch and verify the source packages. apt-get source picks the newest
# Debian revision of the release; the upstream tarball inside must be the
# pinned one, byte for byte.
for pkg in bearssl curl; do
	up=$(lock_field "$pkg" 3)
	sum=$(lock_field "$pkg" 4)
	if ! ls "$dl"/${pkg}_*.dsc >/dev/null 2>&1; then
		say "fetching Debian source package $pkg"
		(cd "$dl" && apt-get source --download-only -qq "$pkg" >/dev/null 2>&1) ||
			(cd "$dl" && apt-get source --download-only "$pkg") ||
			die "apt-get source $pkg failed (are deb-src entries set up? see vendor/install-deps.sh)"
	fi
	tarball=$(ls "$dl"/${pkg}_${up}.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1)
	[ -n "$tarball" ] || die "$pkg: no upstream tarball for pinned version $up in $dl (Debian moved on? see vendor/README.md, 'Upgrading')"
	got=$(sha256sum "$tarball" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || die "$pkg: sha256 of $(basename "$tarball") is $got, pinned $sum"
	dsc=$(ls "$dl"/${pkg}_${up}-*.dsc | tail -n 1)
	debver=$(sed -n 's/^Version: //p' "$dsc")
	say "$pkg $debver (upstream $up, sha256 ok)"
	dpkg-source --no-check -x "$dsc" "$src/$pkg" >/dev/null 2>&1 || die "dpkg-source -x $dsc failed"
	eval "deb_${pkg}=\$debver"
done

# 2. jsmn: a header from the installed binary package, copied in so that
# musl-gcc never needs /usr/include.
jsmn_ver=$(dpkg-query -W -f='${Version}' libjsmn-dev 2>/dev/null) || die "libjsmn-dev not installed"
case "$jsmn_ver" in "$(lock_field libjsmn-dev 3)"-*) ;; *) die "libjsmn-dev is $jsmn_ver, pinned $(lock_field libjsmn-dev 3)";; esac
got=$(sha256sum /usr/include/jsmn.h | cut -d' ' -f1)
[ "$got" = "$(lock_field libjsmn-dev 4)" ] || die "jsmn.h sha256 $got differs from the pin"
cp /usr/include/jsmn.h "$prefix/include/jsmn.h"
say "jsmn $jsmn_ver (sha256 ok)"

# 3. Local patches, in name order.
for p in "$here"/patches/curl-*.patch; do
	[ -f "$p" ] || continue
	say "patch curl: $(basename "$p")"
	patch -s -p1 -d "$src/curl" < "$p" || die "patch $(basename "$p") does not apply"
done

hardening="-fstack-protector-strong -D_FORTIFY_SOURCE=0 -fno-plt"
# One section per function and object, so that the binary's link
# (--gc-sections) keeps only what is called: every page of the binary is
# resident in an idle worker (the kernel maps file pages around each fault),
# so its size is most of the idle memory (issue 15). BearSSL keeps -O2 (its
# big-number and cipher code runs in every job's handshake); libcurl's code
# is bookkeeping around the socket and is built for size (-Os). Together
# about 60 KB less resident in an idle worker. (-Os on our own message path
# cost 8 % of the hit throughput at 4 slots in an A/B, so src/ stays -O2.)
# No unwind tables: C has no exceptions, perf walks frame pointers, and gdb
# reads .debug_frame; .eh_frame was 38 KB of these libraries' read-only
# pages, resident in every idle worker like the code.
sections="-ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables"

# 4. BearSSL: its own Makefile, static library and the brssl tool (used
# below to turn the CA bundle into C trust anchors).
say "building BearSSL"
# Our make's command-line variables (make BUILD=/elsewhere ...) reach
# sub-makes through MAKEFLAGS; BearSSL's Makefile has its own BUILD.
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$src/bearssl" -j"$jobs" CC=musl-gcc AR=ar LD=musl-gcc LDDLL=musl-gcc \
	CFLAGS="-W -Wall -O2 $sections $hardening -fPIC" lib tools >/dev/null
cp "$src/bearssl/build/libbearssl.a" "$prefix/lib/"
cp "$src/bearssl/inc/"*.h "$prefix/include/"

# 5. libcurl: static, HTTP and HTTPS only, BearSSL, threaded resolver, no
# optional library. PKG_CONFIG_LIBDIR points at an empty directory so that
# configure cannot find glibc's zlib, libidn2 or libpsl; every --without is
# explicit for the same reason. Flags are explained in vendor/README.md.
# Hash table sizes of a multi handle (multi.c takes them from the build):
# curl_multi_init's defaults (911 socket, 97 connection, 71 DNS buckets,
# 32 bytes each, allocated up front) are for thousands of transfers in one
# handle; a job holds one multi handle with at most a few transfers, and its
# 35 KB of empty buckets were most of the memory each in-flight try-on cost
# over the easy interface (issue 15). curl_easy_perform's own handle uses
# 1/3/7; these keep a little room for a hedged pair and its redirects.
curl_hash_sizes="-DCURL_SOCKET_HASH_TABLE_SIZE=31 -DCURL_CONNECTION_HASH_SIZE=7 -DCURL_DNS_HASH_SIZE=7"
say "configuring libcurl"
mkdir -p "$out/empty-pkgconfig"
(
	cd "$src/curl"
	PKG_CONFIG_LIBDIR="$out/empty-pkgconfig" PKG_CONFIG_PATH="" \
	CC=musl-gcc CFLAGS="-Os $sections $hardening" CPPFLAGS="-I$prefix/include $curl_hash_sizes" LDFLAGS="-L$prefix/lib" \
	./configure -q --prefix="$prefix" \
		--disable-shared --enable-static --with-pic \
		--with-bearssl="$prefix" --without-openssl \
		--enable-http --enable-threaded-resolver --enable-ipv6 --enable-proxy \
		--disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp \
		--disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
		--disable-smb --disable-smtp --disable-gopher --disable-mqtt \
		--disable-manual --disable-libcurl-option --disable-verbose \
		--disable-ntlm --disable-ntlm-wb --disable-tls-srp --disable-crypto-auth \
		--disable-cookies --disable-netrc --disable-alt-svc --disable-hsts \
		--disable-doh --disable-mime --disable-websockets --disable-unix-sockets \
		--disable-progress-meter --disable-dnsshuffle --disable-ares \
		--without-zlib --without-brotli --without-zstd --without-libpsl \
		--without-libidn2 --without-libgsasl --without-librtmp --without-nghttp2 \
		--without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3 \
		--without-hyper --without-libssh --without-libssh2 --without-wolfssh \
		--without-gssapi --without-ca-bundle --without-ca-path --without-ca-fallback \
		--without-zsh-functions-dir --without-fish-functions-dir
) >"$out/curl-configure.log" 2>&1 || { tail -n 30 "$out/curl-configure.log" >&2; die "curl configure failed (log: $out/curl-configure.log)"; }
say "building libcurl"
make -s -C "$src/curl/lib" -j"$jobs" >"$out/curl-build.log" 2>&1 || { tail -n 30 "$out/curl-build.log" >&2; die "libcurl build failed"; }
make -s -C "$src/curl/lib" install >>"$out/curl-build.log" 2>&1
make -s -C "$src/curl/include" install >>"$out/curl-build.log" 2>&1

# 6. Generated sources: trust anchors from Debian's ca-certificates (the
# package's Mozilla set, not the machine's local additions) and versions.
say "generating trust anchors from ca-certificates"
cadir=/usr/share/ca-certificates/mozilla
ls "$cadir"/*.crt >/dev/null 2>&1 || die "no CA certificates in $cadir (package ca-certificates)"
cat "$cadir"/*.crt > "$gen/ca-bundle.pem"
"$src/bearssl/build/brssl" ta -q "$gen/ca-bundle.pem" > "$gen/ca_anchors.inc" ||
	die "brssl ta failed"
ca_ver=$(dpkg-query -W -f='${Version}' ca-certificates)
musl_ver=$(dpkg-query -W -f='${Version}' musl-dev 2>/dev/null || echo unknown)
n_anchors=$(grep -c '^#define TAs_NUM' "$gen/ca_anchors.inc" >/dev/null && sed -n 's/^#define TAs_NUM *//p' "$gen/ca_anchors.inc")
cat > "$gen/vendor_versions.h" <<H
/* Generated by vendor/build.sh; do not edit. */
#define VENDOR_BEARSSL_DEB "$deb_bearssl"
#define VENDOR_CURL_DEB "$deb_curl"
#define VENDOR_JSMN_DEB "$jsmn_ver"
#define VENDOR_CA_CERTIFICATES_DEB "$ca_ver"
#define VENDOR_MUSL_DEB "$musl_ver"
#define VENDOR_CA_ANCHORS $n_anchors
H
say "done: bearssl $deb_bearssl, curl $deb_curl, jsmn $jsmn_ver, ca-certificates $ca_ver ($n_anchors anchors), musl $musl_ver"
