"""Issue 6: shipping and operating. The FROM scratch image built without an
engine, as an OCI archive and a docker-archive (their config, names, one
file, the binary run from the root file system under chroot as uid 65534),
the portable service image and the systemd unit with the portable drop-in
(systemd-analyze verify and security), start-up errors at journald's err
priority, the sd_notify protocol as systemd would see it, `tryon-worker
healthcheck`, and the HTTP endpoint under a slowloris client and garbage
bytes. tests/deploy/ (make deploy-check) runs the images for real."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time

from itest import BINARY, ROOT, Skip, Worker, celery_app, free_port, time_limit, wait_for, worker_env

UNIT = os.path.join(ROOT, "image", "tryon-worker.service")
MAN = os.path.join(ROOT, "docs", "tryon-worker.8")


def run(s, args, timeout=120, **kw):
    """Run a command to completion; its output joins the secrets check."""
    return s.record_run("cmd", subprocess.run(args, capture_output=True, timeout=timeout, **kw))


def need(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise Skip(f"missing {' '.join(missing)} (Debian: umoci skopeo squashfs-tools systemd man-db)")


def version():
    with open(os.path.join(ROOT, "Makefile")) as f:
        for line in f:
            if line.startswith("VERSION"):
                return line.split("=", 1)[1].strip()
    raise AssertionError("no VERSION in the Makefile")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# -- the OCI image --------------------------------------------------------

def build_oci(s):
    """image/build-oci.sh into the session's directory (the OCI archive and,
    beside it, the docker-archive), the OCI layout unpacked there."""
    need("umoci", "skopeo")
    out = os.path.join(s.tmp, "tryon-worker-oci.tar")
    if not os.path.exists(out):
        r = run(s, [os.path.join(ROOT, "image", "build-oci.sh"), BINARY, out])
        assert r.returncode == 0, r.out + r.err
        assert os.path.exists(os.path.join(s.tmp, "tryon-worker-docker.tar")), r.out
    layout = os.path.join(s.tmp, "oci-layout")
    if not os.path.isdir(layout):
        os.mkdir(layout)
        with tarfile.open(out) as t:
            t.extractall(layout)
    return out, layout


def blob(layout, digest, verify=True):
    algo, hexd = digest.split(":", 1)
    path = os.path.join(layout, "blobs", algo, hexd)
    if verify:
        assert sha256_file(path) == hexd, f"blob {digest} does not match its digest"
    return path


def image_parts(layout):
    with open(os.path.join(layout, "oci-layout")) as f:
        assert json.load(f)["imageLayoutVersion"] == "1.0.0"
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    assert len(index["manifests"]) == 1, index
    entry = index["manifests"][0]
    # podman names a loaded OCI archive after ref.name (a bare "0.1.0" was
    # localhost/0.1.0:latest); containerd after io.containerd.image.name.
    assert entry["annotations"] == {
        "org.opencontainers.image.ref.name": f"tryon-worker:{version()}",
        "io.containerd.image.name": f"docker.io/library/tryon-worker:{version()}"}, entry
    with open(blob(layout, entry["digest"])) as f:
        manifest = json.load(f)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    with open(blob(layout, manifest["config"]["digest"])) as f:
        config = json.load(f)
    return manifest, config


@time_limit(120)
def test_oci_image_config(s):
    out, layout = build_oci(s)
    manifest, config = image_parts(layout)
    c = config["config"]
    assert config["os"] == "linux" and config["architecture"] in ("amd64", "arm64"), config
    assert c["User"] == "65534:65534", c
    assert c["Entrypoint"] == ["/tryon-worker"] and c["Cmd"] == ["worker"], c
    assert c["StopSignal"] == "SIGTERM", c
    hc = c["Healthcheck"]
    assert hc["Test"] == ["CMD", "/tryon-worker", "healthcheck"], hc
    assert hc["Interval"] == 30 * 10**9 and hc["Timeout"] == 5 * 10**9 and hc["Retries"] == 3, hc
    labels = c["Labels"]
    assert labels["org.opencontainers.image.title"] == "tryon-worker", labels
    assert labels["org.opencontainers.image.version"] == version(), labels
    for k in ("org.opencontainers.image.revision", "org.opencontainers.image.created",
              "org.opencontainers.image.description"):
        assert labels.get(k), (k, labels)
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"]) == 1
    # The Containerfile says the same things.
    with open(os.path.join(ROOT, "Containerfile")) as f:
        cf = f.read()
    for line in ("FROM scratch", "USER 65534:65534", "STOPSIGNAL SIGTERM",
                 'ENTRYPOINT ["/tryon-worker"]', 'CMD ["/tryon-worker", "healthcheck"]'):
        assert line in cf, line
    # An independent reader agrees (containers/image, as podman and skopeo use).
    if shutil.which("skopeo"):
        r = run(s, ["skopeo", "inspect", "--config", "--raw", f"oci-archive:{out}"])
        assert r.returncode == 0, r.err
        assert json.loads(r.out)["config"]["Healthcheck"]["Test"][-1] == "healthcheck"


@time_limit(120)
def test_oci_image_holds_only_the_binary(s):
    _, layout = build_oci(s)
    manifest, _ = image_parts(layout)
    members = []
    for layer in manifest["layers"]:
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip", layer
        with tarfile.open(blob(layout, layer["digest"])) as t:
            for m in t.getmembers():
                name = m.name[2:] if m.name.startswith("./") else m.name
                if name in ("", "."):
                    assert m.isdir()
                    continue
                members.append((name, m))
                if name == "tryon-worker":
                    data = t.extractfile(m).read()
    assert [n for n, _ in members] == ["tryon-worker"], [n for n, _ in members]
    m = members[0][1]
    assert m.isfile() and m.mode & 0o777 == 0o755 and m.uid == 0, (m.mode, m.uid)
    with open(BINARY, "rb") as f:
        assert hashlib.sha256(data).digest() == hashlib.sha256(f.read()).digest(), \
            "the image's binary is not build/tryon-worker"


@time_limit(120)
def test_docker_archive_tags_healthcheck_and_one_file(s):
    """The archive podman and docker load: both tags, Docker's config schema
    with the Healthcheck (podman drops it from OCI images), the same config
    and the same one file as the OCI archive."""
    out, layout = build_oci(s)
    _, oci_config = image_parts(layout)
    with tarfile.open(os.path.join(s.tmp, "tryon-worker-docker.tar")) as t:
        (m,) = json.load(t.extractfile("manifest.json"))
        assert m["RepoTags"] == [f"docker.io/library/tryon-worker:{version()}",
                                 "docker.io/library/tryon-worker:latest"], m["RepoTags"]
        config = json.load(t.extractfile(m["Config"]))
        (layer,) = m["Layers"]
        with tarfile.open(fileobj=t.extractfile(layer)) as lt:
            names = [n[2:] if n.startswith("./") else n for n in lt.getnames()]
            names = [n for n in names if n not in ("", ".")]
            data = lt.extractfile([x for x in lt.getmembers() if x.name.endswith("tryon-worker")][0]).read()
    assert names == ["tryon-worker"], names
    assert hashlib.sha256(data).hexdigest() == sha256_file(BINARY)
    assert config == oci_config, "the two archives hold different configs"
    c = config["config"]
    assert c["Healthcheck"]["Test"] == ["CMD", "/tryon-worker", "healthcheck"], c
    assert c["User"] == "65534:65534" and c["Entrypoint"] == ["/tryon-worker"], c
    # containers/image reads it as a Docker schema 2 image: podman keeps the
    # health check of exactly this.
    r = run(s, ["skopeo", "inspect", "--raw", f"docker-archive:{os.path.join(s.tmp, 'tryon-worker-docker.tar')}"])
    assert r.returncode == 0, r.err
    assert json.loads(r.out)["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json", r.out


@time_limit(120)
def test_oci_rootfs_runs_under_chroot_as_nobody(s):
    if os.geteuid() != 0:
        raise Skip("chroot needs root")
    _, layout = build_oci(s)
    bundle = os.path.join(s.tmp, "oci-bundle")
    # umoci unpack: the rootfs and the runtime config a container engine
    # would derive from the image.
    r = run(s, ["umoci", "unpack", "--image", f"{layout}:tryon-worker:{version()}", bundle])
    assert r.returncode == 0, r.err
    rootfs = os.path.join(bundle, "rootfs")
    assert os.listdir(rootfs) == ["tryon-worker"], os.listdir(rootfs)
    with open(os.path.join(bundle, "config.json")) as f:
        proc = json.load(f)["process"]
    assert proc["user"]["uid"] == 65534 and proc["user"]["gid"] == 65534, proc["user"]
    assert proc["args"] == ["/tryon-worker", "worker"], proc["args"]
    os.chmod(rootfs, 0o755)
    chroot = ["/usr/sbin/chroot", "--userspec=65534:65534", rootfs]
    r = run(s, chroot + ["/tryon-worker", "--version"], env={})
    assert r.returncode == 0 and r.out.startswith("tryon-worker "), (r.returncode, r.out, r.err)
    r = run(s, chroot + ["/tryon-worker", "--help"], env={})
    assert r.returncode == 0 and "healthcheck" in r.out, r
    # The health check needs nothing but the binary: no worker here, so 1.
    port = free_port()
    r = run(s, chroot + ["/tryon-worker", "healthcheck"], env={"TRYON_HTTP_ADDR": f"127.0.0.1:{port}"})
    assert r.returncode == 1 and "unhealthy" in r.out, r


# -- the systemd unit and the portable image ------------------------------

def verify_unit(s, unit_text, exec_path, dropins=()):
    """systemd-analyze verify on a copy of the unit whose ExecStart points at
    exec_path, with the man page findable, plus optional drop-ins. Clean
    means exit 0 and not a single message."""
    need("systemd-analyze")
    d = os.path.join(s.tmp, f"verify-{len(s.all_outputs)}")
    os.makedirs(os.path.join(d, "tryon-worker.service.d"))
    lines = unit_text.splitlines()
    execs = [i for i, l in enumerate(lines) if l.startswith("ExecStart=")]
    assert len(execs) == 1, execs
    lines[execs[0]] = f"ExecStart={exec_path} worker"
    unit = os.path.join(d, "tryon-worker.service")
    with open(unit, "w") as f:
        f.write("\n".join(lines) + "\n")
    for name, text in dropins:
        with open(os.path.join(d, "tryon-worker.service.d", name), "w") as f:
            f.write(text)
    man = os.path.join(d, "man", "man8")
    os.makedirs(man)
    shutil.copy(MAN, man)
    env = dict(os.environ, SYSTEMD_UNIT_PATH=d + ":", MANPATH=os.path.join(d, "man"))
    # The man page check needs man(1); without it, verify everything else.
    man_check = [] if shutil.which("man") else ["--man=no"]
    r = run(s, ["systemd-analyze", "verify"] + man_check + [unit], env=env)
    assert r.returncode == 0 and not r.out.strip() and not r.err.strip(), r.out + r.err
    r = run(s, ["systemd-analyze", "security", "--offline=true", "--no-pager", unit], env=env)
    return r


def test_unit_verifies_clean_and_is_hardened(s):
    with open(UNIT) as f:
        text = f.read()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    want = {
        "Type": "notify", "EnvironmentFile": "-/etc/tryon-worker/env", "DynamicUser": "yes",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "TimeoutStopSec": "35",
        "Restart": "on-failure", "RestartPreventExitStatus": "100", "KillMode": "mixed",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "OOMPolicy": "continue",
    }
    for k, v in want.items():
        assert v in settings.get(k, []), (k, settings.get(k))
    assert "@system-service" in settings["SystemCallFilter"]
    assert settings.get("MemoryMax") and settings.get("WatchdogSec"), "MemoryMax, WatchdogSec"
    assert exposure(verify_unit(s, text, BINARY)) <= 2.0


def build_portable(s):
    need("mksquashfs", "unsquashfs")
    outdir = os.path.join(s.tmp, "portable")
    raw = os.path.join(outdir, f"tryon-worker_{version()}.raw")
    if not os.path.exists(raw):
        r = run(s, [os.path.join(ROOT, "image", "build-portable.sh"), BINARY, outdir])
        assert r.returncode == 0, r.out + r.err
    return raw


@time_limit(120)
def test_portable_image_layout_and_unit(s):
    raw = build_portable(s)
    r = run(s, ["unsquashfs", "-lls", raw])
    assert r.returncode == 0, r.err
    entries = {}
    for line in r.out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("squashfs-root"):
            entries[parts[5][len("squashfs-root"):].lstrip("/")] = parts
    want = {"", "dev", "etc", "etc/hosts", "etc/machine-id", "etc/os-release", "etc/resolv.conf", "proc",
            "run", "sys", "tmp", "usr", "usr/bin", "usr/bin/tryon-worker", "usr/lib",
            "usr/lib/os-release", "usr/lib/systemd", "usr/lib/systemd/system",
            "usr/lib/systemd/system/tryon-worker.service", "var", "var/tmp"}
    assert set(entries) == want, sorted(set(entries) ^ want)
    for empty in ("etc/machine-id", "etc/resolv.conf"):
        assert entries[empty][0].startswith("-") and entries[empty][2] == "0", entries[empty]
    for d in ("proc", "sys", "dev", "run", "tmp", "var/tmp"):
        assert entries[d][0].startswith("d"), entries[d]
    assert entries["usr/bin/tryon-worker"][0] == "-rwxr-xr-x", entries["usr/bin/tryon-worker"]

    root = os.path.join(s.tmp, "portable-root")
    r = run(s, ["unsquashfs", "-q", "-d", root, raw])
    assert r.returncode == 0, r.err
    with open(os.path.join(root, "usr/lib/os-release")) as f:
        osr = dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)
    assert osr["ID"] == "tryon-worker" and osr["VERSION_ID"] == version(), osr
    assert os.readlink(os.path.join(root, "etc/os-release")) == "../usr/lib/os-release"
    # The static binary resolves names from /etc/hosts and DNS only (no
    # nss-myhostname): without this file "localhost" does not resolve.
    with open(os.path.join(root, "etc/hosts")) as f:
        hosts = [l.split() for l in f.read().splitlines() if l and not l.startswith("#")]
    assert ["127.0.0.1", "localhost"] in hosts and ["::1", "localhost"] == hosts[1][:2], hosts
    binary = os.path.join(root, "usr/bin/tryon-worker")
    assert sha256_file(binary) == sha256_file(BINARY)
    r = run(s, [binary, "--version"], env={})
    assert r.returncode == 0 and r.out.startswith("tryon-worker "), r
    with open(os.path.join(root, "usr/lib/systemd/system/tryon-worker.service")) as f:
        unit = f.read()
    assert "\nExecStart=/usr/bin/tryon-worker worker\n" in unit, "ExecStart inside the image"
    with open(UNIT) as f:
        src = f.read()
    assert unit == src.replace("ExecStart=/usr/local/bin/tryon-worker worker",
                               "ExecStart=/usr/bin/tryon-worker worker"), "unit differs from image/"
    plain = exposure(verify_unit(s, unit, binary))
    # As `portablectl attach --profile=P` plus our drop-in combine them, for
    # the profiles the host has: the profile's SystemCallFilter=@system-service
    # re-allowed @privileged, the default profile added 18 capabilities and
    # AF_NETLINK; the drop-in takes them back (tests/deploy/portable.sh
    # checks the same on a real attach).
    with open(os.path.join(ROOT, "image", "portable.conf")) as f:
        dropin = f.read()
    checked = 0
    for name in ("strict", "default"):
        profile = f"/usr/lib/systemd/portable/profile/{name}/service.conf"
        if not os.path.exists(profile):
            continue
        with open(profile) as f:
            text = f.read()
        r = verify_unit(s, unit, binary, [("10-profile.conf", text), ("50-portable.conf", dropin)])
        assert exposure(r) <= plain, (name, exposure(r), plain)
        for line in r.out.splitlines():
            if line.startswith(("✗ SystemCallFilter=~@privileged", "✗ CapabilityBoundingSet=",
                                "✗ RestrictAddressFamilies=~AF_NETLINK", "✗ RestrictAddressFamilies=~…")):
                raise AssertionError(f"profile {name} with the drop-in: {line}")
        assert "Service has access to the host's network" in r.out, r.out
        checked += 1
    if not checked:
        raise Skip("no portable profiles here (Debian: systemd-container)")


def exposure(r):
    """The overall exposure of a `systemd-analyze security` run."""
    line = [l for l in r.out.splitlines() if "Overall exposure level" in l]
    assert line, r.out + r.err
    return float(line[0].split(":")[1].split()[0])


def test_config_error_reaches_journald_at_err(s):
    """Under journald (JOURNAL_STREAM set) a configuration error carries the
    err priority prefix, so `journalctl -p err` shows why a start failed,
    and no line goes out without a priority; outside it the line stays
    plain. Exit 100 either way."""
    for extra, name in (({"TRYON_CONCURRENCY": "0"}, "TRYON_CONCURRENCY"),
                        ({"TRYON_LOG_LEVEL": "loud"}, "TRYON_LOG_LEVEL"),
                        ({"CELERY_BROKER_URL": "http://x"}, "CELERY_BROKER_URL"),
                        ({"TRYON_HTTP_ADDR": "nonsense"}, "TRYON_HTTP_ADDR")):
        for journal in (True, False):
            env = s.base_env(**extra, JOURNAL_STREAM="8:1234" if journal else None)
            r = s.run(["worker"], env=env, timeout=10)
            want = ("<3>" if journal else "") + f"tryon-worker: invalid configuration: {name}"
            lines = r.err.splitlines()
            assert r.returncode == 100, (extra, r.returncode, r.err)
            assert any(l.startswith(want) for l in lines), (extra, journal, r.err)
            assert not journal or all(l.startswith("<") for l in lines), r.err


# -- sd_notify, as systemd sees it ------------------------------------------

class NotifySocket:
    """A datagram socket like systemd's, recording (time, message)."""

    def __init__(self, s, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"tryon-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = os.path.join(s.tmp, f"notify-{time.monotonic_ns()}.sock")
            self.sock.bind(path)
            self.env = path
        self.sock.settimeout(0.05)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode("utf-8", "replace")))

    def lines(self):
        """(time, "KEY=VALUE") for every assignment of every message."""
        with self.lock:
            return [(t, l) for t, m in self.msgs for l in m.split("\n") if l]

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def first(lines, pred, after=-1):
    for i, (_, l) in enumerate(lines):
        if i > after and pred(l):
            return i
    return None


@time_limit(90)
def test_sd_notify_ready_status_watchdog_stopping(s):
    r = s.new_redis()
    ns = NotifySocket(s)
    try:
        env = worker_env(s, r, NOTIFY_SOCKET=ns.env, WATCHDOG_USEC="400000")
        w = Worker(s, env)
        wait_for(lambda: first(ns.lines(), lambda l: l == "READY=1") is not None, 10, "READY=1")
        time.sleep(3)
        w.proc.signal(signal.SIGTERM)
        assert w.proc.wait(40) == 0, w.log()[-2000:]
        time.sleep(0.2)
        lines = ns.lines()
    finally:
        ns.close()
    text = [l for _, l in lines]
    ready = first(lines, lambda l: l == "READY=1")
    assert text.count("READY=1") == 1, text
    status = first(lines, lambda l: l.startswith("STATUS="), ready)
    stopping = first(lines, lambda l: l == "STOPPING=1")
    assert status is not None and stopping is not None, text
    assert ready < status < stopping, text
    assert text.count("STOPPING=1") == 1, text
    assert all(k.split("=")[0] in ("READY", "STATUS", "STOPPING", "WATCHDOG") for k in text), text
    # WATCHDOG_USEC=400000: a ping every 0.2 s, never a gap systemd would
    # punish (0.4 s), from READY to the end of the drain.
    pings = [t for t, l in lines if l == "WATCHDOG=1"]
    assert len(pings) >= 10, f"{len(pings)} pings: {text}"
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    mean = sum(gaps) / len(gaps)
    assert 0.15 <= mean <= 0.25, f"mean interval {mean:.3f} s"
    assert max(gaps) < 0.4, f"largest gap {max(gaps):.3f} s"
    assert pings[0] - lines[ready][0] < 0.4, "no ping soon after READY=1"


@time_limit(60)
def test_sd_notify_abstract_socket_and_foreign_watchdog_pid(s):
    r = s.new_redis()
    ns = NotifySocket(s, abstract=True)
    try:
        # WATCHDOG_PID names another process: notify, but do not ping.
        env = worker_env(s, r, NOTIFY_SOCKET=ns.env, WATCHDOG_USEC="200000", WATCHDOG_PID="1")
        w = Worker(s, env)
        wait_for(lambda: "READY=1" in [l for _, l in ns.lines()], 10, "READY=1 on an abstract socket")
        time.sleep(1)
        w.stop()
        text = [l for _, l in ns.lines()]
    finally:
        ns.close()
    assert "WATCHDOG=1" not in text, text
    # And without NOTIFY_SOCKET nothing is sent anywhere: every other test.


# -- healthcheck and the HTTP endpoint --------------------------------------

def healthcheck(s, addr, path=None):
    t0 = time.monotonic()
    r = s.run(["healthcheck"] + ([path] if path else []),
              env=s.base_env(TRYON_HTTP_ADDR=addr), timeout=10)
    r.elapsed = time.monotonic() - t0
    return r


@time_limit(90)
def test_healthcheck_ready_then_broker_gone(s):
    r = s.new_redis()
    addr = f"127.0.0.1:{free_port()}"
    Worker(s, worker_env(s, r, TRYON_HTTP_ADDR=addr))
    h = wait_for(lambda: (lambda x: x if x.returncode == 0 else None)(healthcheck(s, addr)), 10,
                 "healthcheck to pass")
    assert h.out.startswith("healthy: /readyz 200"), h.out
    assert h.elapsed < 2.5, h.elapsed
    assert healthcheck(s, addr, "/healthz").returncode == 0
    r.proc.stop()   # the broker is gone
    h = wait_for(lambda: (lambda x: x if x.returncode == 1 else None)(healthcheck(s, addr)), 15,
                 "healthcheck to fail without the broker")
    assert "503" in h.out and h.elapsed < 2.5, (h.out, h.elapsed)
    # Liveness is not readiness: the loop still turns.
    assert healthcheck(s, addr, "/healthz").returncode == 0
    r.start()       # back: ready again after the reconnect
    wait_for(lambda: healthcheck(s, addr).returncode == 0, 30, "healthcheck to pass again")


@time_limit(90)
def test_http_survives_slowloris_and_garbage(s):
    r = s.redis()
    for db in (10, 11):
        r.client(db).flushdb()
    port = free_port()
    addr = f"127.0.0.1:{port}"
    w = Worker(s, worker_env(s, r, broker_db=10, result_db=11, TRYON_HTTP_ADDR=addr))
    wait_for(lambda: healthcheck(s, addr, "/healthz").returncode == 0, 10, "/healthz")
    # Garbage and a head far over the size limit are answered and closed
    # at once.
    garbage = socket.create_connection(("127.0.0.1", port), timeout=5)
    garbage.sendall(os.urandom(4096))
    big = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        big.sendall(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * 100000 + b"\r\n\r\n")
    except OSError:
        pass   # the server may close as soon as it has seen 8 KiB
    for c, want in ((garbage, b" 400 "), (big, b" 431 ")):
        c.settimeout(5)
        data = b""
        try:
            while chunk := c.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        assert data.startswith(b"HTTP/1.1") and want in data.split(b"\r\n")[0], data[:200]
        c.close()
    # 40 clients trickle a request: more than the 32 client slots.
    slow = []
    for _ in range(40):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.1\r\nHo")
        slow.append(c)
    # The worker keeps working meanwhile.
    app = celery_app(r.url(10), r.url(11))
    assert app.send_task("tryon.test.echo", args=[1, "x"], queue="tryon_queue").get(timeout=10) is not None
    # Every slow client is dropped by the 1 s header timeout (408), or
    # evicted (closed without an answer) when a newer connection needed its
    # slot: nobody is refused, so a health probe always gets in.
    t0 = time.monotonic()
    codes = []
    for c in slow:
        c.settimeout(10)
        data = b""
        try:
            while chunk := c.recv(4096):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        codes.append(data.split(b" ")[1] if data.startswith(b"HTTP/1.1 ") else data[:20])
        c.close()
    assert time.monotonic() - t0 < 4, "slow clients were not dropped in time"
    assert set(codes) <= {b"408", b""} and codes.count(b"408") >= 32, codes
    h = healthcheck(s, addr, "/healthz")
    assert h.returncode == 0, h.out
    assert w.proc.alive()
