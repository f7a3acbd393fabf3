#!/bin/sh
# build-oci.sh [BINARY [OUT [DOCKER_OUT]]]: builds the FROM scratch container
# image of Containerfile without a container engine: umoci makes an OCI
# image whose only file is /tryon-worker and sets its config (user
# 65534:65534, entrypoint, stop signal, OCI labels); the Docker HEALTHCHECK
# is added to the config JSON here (umoci has no flag for it). The image is
# written in two formats:
#   OUT         default build/tryon-worker-oci.tar: an oci-archive named
#               tryon-worker:VERSION (skopeo, containerd, registries);
#   DOCKER_OUT  default OUT with -oci.tar replaced by -docker.tar: the same
#               image as a docker-archive (Docker v2s2) tagged
#               tryon-worker:VERSION and tryon-worker:latest.
# `podman load -i` and `docker load -i` take the docker-archive; only that
# format keeps the HEALTHCHECK in podman, which drops it from OCI images.
# SOURCE_DATE_EPOCH, if set, fixes the time stamps (reproducible builds).
set -eu
cd "$(dirname "$0")/.."

bin=${1:-build/tryon-worker}
out=${2:-build/tryon-worker-oci.tar}
case $out in
*-oci.tar) docker_out=${3:-${out%-oci.tar}-docker.tar} ;;
*) docker_out=${3:-${out%.tar}-docker.tar} ;;
esac
version=$(sed -n 's/^VERSION *= *//p' Makefile)
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

[ -x "$bin" ] || { echo "build-oci.sh: $bin missing: run make first" >&2; exit 1; }
file "$bin" | grep -q 'statically linked' || { echo "build-oci.sh: $bin is not static" >&2; exit 1; }
for tool in umoci skopeo python3 tar; do
	command -v "$tool" >/dev/null 2>&1 && continue
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get install -y --no-install-recommends umoci skopeo python3 tar >/dev/null
	else
		echo "build-oci.sh: $tool missing (Debian: apt-get install umoci skopeo)" >&2
		exit 1
	fi
done

mkdir -p "$(dirname "$out")" "$(dirname "$docker_out")"
work=$(mktemp -d "${TMPDIR:-/tmp}/tryon-oci.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout=$work/layout
image=$layout:$version
rootless=
[ "$(id -u)" = 0 ] || rootless=--rootless

umoci init --layout "$layout"
umoci new --image "$image"
umoci unpack $rootless --image "$image" "$work/bundle"
# The one file of the image; owned by root, runs as 65534.
install -m 0755 "$bin" "$work/bundle/rootfs/tryon-worker"
touch -d "@$epoch" "$work/bundle/rootfs/tryon-worker" "$work/bundle/rootfs"
umoci repack $rootless --image "$image" --history.created "$created" \
	--history.created_by "COPY build/tryon-worker /tryon-worker" "$work/bundle"

label() { printf -- '--config.label=%s=%s\n' "$1" "$2"; }
umoci config --image "$image" --no-history \
	--os linux --architecture "$arch" --created "$created" --author tryon-worker \
	--clear=config.env --config.env PATH=/ \
	--config.user 65534:65534 \
	--config.entrypoint /tryon-worker --config.cmd worker \
	--config.workingdir / --config.stopsignal SIGTERM \
	"$(label org.opencontainers.image.title tryon-worker)" \
	"$(label org.opencontainers.image.description "Celery-compatible virtual try-on worker: one static binary, FROM scratch")" \
	"$(label org.opencontainers.image.version "$version")" \
	"$(label org.opencontainers.image.revision "$revision")" \
	"$(label org.opencontainers.image.created "$created")" \
	"$(label org.opencontainers.image.base.name scratch)" \
	--manifest.annotation "org.opencontainers.image.version=$version" \
	--manifest.annotation "org.opencontainers.image.revision=$revision"

# HEALTHCHECK is Docker's extension of the image config; the OCI spec has
# no field for it, so umoci cannot set it. Rewrite the config blob and the
# manifest and index that point at it. Durations are in nanoseconds, as in
# `docker inspect`; the values mirror the Containerfile.
# Then the name an engine gives the image when it loads the archive: podman
# takes the index's ref.name as the whole name (umoci's bare tag "0.1.0"
# became localhost/0.1.0:latest); containerd and docker 25+ read
# io.containerd.image.name.
python3 - "$layout" "$version" <<'EOF'
import hashlib, json, os, sys

layout, tag = sys.argv[1], sys.argv[2]

def blob_path(digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)

def read_blob(desc):
    with open(blob_path(desc["digest"]), "rb") as f:
        return json.load(f)

def write_blob(obj):
    data = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob_path(digest), "wb") as f:
        f.write(data)
    return digest, len(data)

with open(os.path.join(layout, "index.json")) as f:
    index = json.load(f)
entry = next(m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
manifest = read_blob(entry)
config = read_blob(manifest["config"])
second = 1000 * 1000 * 1000
config.setdefault("config", {})["Healthcheck"] = {
    "Test": ["CMD", "/tryon-worker", "healthcheck"],
    "Interval": 30 * second,
    "Timeout": 5 * second,
    "StartPeriod": 60 * second,
    "Retries": 3,
}
manifest["config"]["digest"], manifest["config"]["size"] = write_blob(config)
entry["digest"], entry["size"] = write_blob(manifest)
entry["annotations"] = {
    "org.opencontainers.image.ref.name": f"tryon-worker:{tag}",
    "io.containerd.image.name": f"docker.io/library/tryon-worker:{tag}",
}
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(index, f, separators=(",", ":"))
EOF
umoci gc --layout "$layout"

# An oci-archive is the layout directory as a tar file.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
	-C "$layout" -cf "$out.tmp" .
mv "$out.tmp" "$out"
# The docker-archive: skopeo converts the config to Docker's schema, where
# the Healthcheck has a field, and writes both tags into manifest.json. No
# signature policy applies to copying a local file to a local file.
rm -f "$docker_out.tmp"
skopeo --insecure-policy copy --quiet "oci-archive:$out" \
	"docker-archive:$docker_out.tmp:tryon-worker:$version" --additional-tag "tryon-worker:latest"
mv "$docker_out.tmp" "$docker_out"
echo "build-oci.sh: $out (OCI archive, tryon-worker:$version, $(wc -c <"$out") bytes)"
echo "build-oci.sh: $docker_out (docker-archive, tryon-worker:$version and :latest, $(wc -c <"$docker_out") bytes)"
