"""itest: the integration tests' fixtures, shared with the benchmark and the
demo: processes we start (and stop, by PID), a test CA, redis-server
instances, the model API stand-in, the static binary, the Python Celery
client and worker. Entry scripts put tests/lib on sys.path; test modules
and tests/lib modules import it plainly. Only loopback addresses, ever;
no test state lives here between tests except the Session's."""
import gc
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

LIB = os.path.dirname(os.path.abspath(__file__))          # tests/lib
ROOT = os.path.abspath(os.path.join(LIB, "..", ".."))
BINARY = os.environ.get("TRYON_BINARY", os.path.join(ROOT, "build", "tryon-worker"))
PYTHON = "/usr/bin/python3"
# Known fake secrets: tests grep all output for them (they must never appear).
REDIS_PASSWORD = "t3st+pa/ss=w0rd"
FAL_KEY = "fake-key-id-0123:fake-secret-cafe-4567"
SECRETS = (REDIS_PASSWORD, FAL_KEY, "fake-secret-cafe-4567")


class Skip(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# redis-cli MONITOR lines: `<time> [<db> <client>] "ARG" "ARG" ...`, each
# argument quoted the way redis-cli quotes (\xNN, \n, \", ...).
MON_LINE = re.compile(r'^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$')
MON_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')
MON_ESC = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", "\\": b"\\", '"': b'"'}


def monitor_unquote(s):
    """Undo redis-cli's quoting of one MONITOR argument."""
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\":
            if s[i + 1] == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
            else:
                out += MON_ESC[s[i + 1]]
                i += 2
        else:
            out += s[i].encode()
            i += 1
    return bytes(out)


def parse_monitor(text):
    """[(db, client address, [argument bytes])] of the commands clients
    sent, in order (those run inside scripts, client "lua", left out)."""
    cmds = []
    for line in text.splitlines():
        m = MON_LINE.match(line)
        if not m or m.group(3) == "lua":
            continue
        cmds.append((int(m.group(2)), m.group(3), [monitor_unquote(t) for t in MON_TOKEN.findall(m.group(4))]))
    return cmds


def wait_for(cond, timeout, what, interval=0.02):
    """Poll cond() until true or the deadline; raise with `what` if not."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def quote_pw(pw):
    return urllib.request.quote(pw, safe="")


class Proc:
    """A process we started; output goes to files we can read and grep."""

    def __init__(self, session, name, args, env=None, cwd=None):
        self.name = name
        self.args = args
        self.out_path = os.path.join(session.tmp, f"{name}.{len(session.all_outputs)}.out")
        self.err_path = self.out_path[:-4] + ".err"
        session.all_outputs += [self.out_path, self.err_path]
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=self.out, stderr=self.err,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        return self.popen.wait(timeout)

    def stop(self, timeout=10):
        """SIGTERM, wait, then SIGKILL; always by our own PID."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self.out.close()
        self.err.close()
        return self.popen.returncode

    def kill(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(5)
        return self.popen.returncode


class Redis:
    def __init__(self, session, password=REDIS_PASSWORD, extra=()):
        self.session = session
        self.password = password
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=session.tmp)
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--protected-mode", "yes"] + self.extra
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = self.session.start("redis", args, per_test=False)
        wait_for(self._ping, 10, f"redis-server on port {self.port}")

    def _ping(self):
        try:
            return self.client().ping()
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def restart(self):
        self.proc.stop()
        self.start()

    def url(self, db=0):
        auth = f":{quote_pw(self.password)}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def client(self, db=0):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password,
                           socket_timeout=10)


class Standin:
    """The fal queue API stand-in over HTTPS (tests/lib/fal_standin.py)."""

    def __init__(self, session, cert="ec", key_required=FAL_KEY, model_time=0.2):
        ca = session.ca()
        self.port_file = os.path.join(session.tmp, f"standin-{time.monotonic_ns()}.port")
        args = [PYTHON, os.path.join(LIB, "fal_standin.py"), "--port", "0",
                "--cert", os.path.join(ca, f"server-{cert}.pem") if cert in ("ec", "rsa") else os.path.join(ca, f"{cert}.pem"),
                "--key", os.path.join(ca, f"server-{cert}.key") if cert in ("ec", "rsa") else os.path.join(ca, f"{cert}.key"),
                "--port-file", self.port_file, "--model-time", str(model_time)]
        if key_required:
            args += ["--key-required", key_required]
        self.proc = session.start("standin", args)
        wait_for(lambda: os.path.exists(self.port_file), 10, "the stand-in's port file")
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.base = f"https://localhost:{self.port}"
        self._ctx = ssl.create_default_context(cafile=os.path.join(ca, "ca.pem"))

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def config(self, endpoint, mode="ok", **kw):
        return self._call("POST", "/_standin/config", dict(endpoint=endpoint, mode=mode, **kw))

    def stats(self):
        return self._call("GET", "/_standin/stats")

    def reset(self):
        return self._call("POST", "/_standin/reset", {})


class Session:
    def __init__(self):
        if not os.path.exists(BINARY):
            raise SystemExit(f"{BINARY} missing: run make first")
        self.tmp = tempfile.mkdtemp(prefix="tryon-it-")
        self.procs_test = []
        self.procs_session = []
        self.all_outputs = []
        self._ca = None
        self._redis = None

    # -- processes
    def start(self, name, args, env=None, per_test=True, cwd=None):
        p = Proc(self, name, args, env=env, cwd=cwd)
        (self.procs_test if per_test else self.procs_session).append(p)
        return p

    def cleanup_test(self):
        """End what the test started: its Celery apps and results first,
        while its redis-servers still run, then its processes."""
        release_celery_apps()
        gc.collect()
        for p in reversed(self.procs_test):
            p.stop()
        self.procs_test.clear()

    def close(self):
        self.cleanup_test()
        for p in reversed(self.procs_session):
            p.stop()
        self.procs_session.clear()
        if os.environ.get("TRYON_KEEP_TMP"):
            print(f"(kept {self.tmp})")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- fixtures
    def ca(self):
        if not self._ca:
            d = os.path.join(self.tmp, "ca")
            subprocess.run(["sh", os.path.join(LIB, "make_test_ca.sh"), d], check=True)
            self._ca = d
        return self._ca

    def redis(self):
        """The session's shared redis-server (password with + / =)."""
        if not self._redis:
            self._redis = Redis(self)
        return self._redis

    def new_redis(self, **kw):
        """A private redis-server for tests that stop or restart it."""
        r = Redis(self, **kw)
        # Private servers die with the test.
        self.procs_session.remove(r.proc)
        self.procs_test.append(r.proc)
        return r

    def base_env(self, **overrides):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TRYON_LOG_LEVEL": "info",
               "TRYON_HTTP_ADDR": ""}
        env.update({k: str(v) for k, v in overrides.items() if v is not None})
        return env

    def run(self, args, env=None, timeout=60, input=None):
        """Run the binary (args without argv[0]) to completion; record output."""
        r = subprocess.run([BINARY] + list(args), env=env if env is not None else self.base_env(),
                           capture_output=True, timeout=timeout, input=input)
        return self.record_run("run", r)

    def record(self, name, data):
        """Keep `data` (bytes or str) as one more output of the session, for
        secrets_found(); returns the file's path."""
        path = os.path.join(self.tmp, f"{name}.{len(self.all_outputs)}.out")
        with open(path, "wb") as f:
            f.write(data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data)
        self.all_outputs.append(path)
        return path

    def record_run(self, name, r):
        """Record a finished subprocess.run(capture_output=True) result and
        give it .out/.err as text."""
        out = r.stdout if isinstance(r.stdout, bytes) else r.stdout.encode()
        err = r.stderr if isinstance(r.stderr, bytes) else r.stderr.encode()
        self.record(name, out + b"\n" + err)
        r.out = out.decode("utf-8", "replace")
        r.err = err.decode("utf-8", "replace")
        return r

    def secrets_found(self, paths=None):
        """(file name, secret) for every output of this session (or every
        file in `paths`) that contains a known secret, plain or URL-quoted."""
        hits = []
        for path in self.all_outputs if paths is None else paths:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            for s in SECRETS + (quote_pw(REDIS_PASSWORD),):
                if s.encode() in data:
                    hits.append((os.path.basename(path), s))
        return hits


def time_limit(seconds):
    def deco(fn):
        fn.time_limit = seconds
        return fn
    return deco


class Worker:
    """The static binary running as a worker; ready when it logs worker.ready."""

    def __init__(self, session, env, name="worker", wait_ready=True):
        self.session = session
        self.env = env
        self.name = name
        self.proc = session.start(name, [BINARY, "worker"], env=env)
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=15):
        wait_for(lambda: "event=worker.ready" in self.proc.stderr_text() or not self.proc.alive(),
                 timeout, f"{self.name} to be ready")
        assert self.proc.alive(), f"{self.name} died:\n{self.proc.stderr_text()[-3000:]}"

    def log(self):
        return self.proc.stderr_text()

    def stop(self, timeout=40):
        return self.proc.stop(timeout)


def worker_env(session, redis, broker_db=4, result_db=5, **extra):
    """Environment for a worker against `redis`, like the seed: broker and
    results in separate DBs of one server, password with + / =."""
    env = session.base_env(CELERY_BROKER_URL=redis.url(broker_db),
                           CELERY_RESULT_BACKEND=redis.url(result_db),
                           TRYON_ENABLE_TEST_TASKS="1")
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


_apps = []   # every app celery_app() made since the last release


def release_celery_apps():
    """Let go of the apps celery_app() made. Celery 5.2 never frees an app
    (ChainMap._observers, a class attribute, keeps a method of each), so
    each app's pending results would live until exit and then talk to a
    redis-server already gone; a test's results must not outlive it."""
    from celery.utils.collections import ChainMap
    while _apps:
        app = _apps.pop()
        ChainMap._observers[:] = [cb for cb in ChainMap._observers
                                  if getattr(getattr(cb, "__self__", None), "app", None) is not app]
        backend = getattr(app._local, "backend", None)
        for mapping in getattr(backend, "_pending_results", ()):
            for res in list(mapping.values()):
                try:
                    backend.remove_pending_result(res)
                except Exception:  # noqa: BLE001 - its server may be gone already
                    pass
        pending = getattr(backend, "_pending_messages", None)
        if pending is not None:
            pending.clear()
        app.close()


def celery_app(broker_url, backend_url, **conf):
    """A Python Celery client configured like the app server (the seed).
    Released with the test (release_celery_apps), not Celery's current app."""
    from celery import Celery
    app = Celery("app", broker=broker_url, backend=backend_url, set_as_current=False)
    _apps.append(app)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    task_acks_late=True, worker_prefetch_multiplier=1,
                    task_default_queue="tryon_queue", result_expires=3600,
                    broker_connection_retry_on_startup=True)
    app.conf.update(**conf)
    return app


PYAPP = os.path.join(ROOT, "tests", "integration", "pyapp")


class PythonWorker:
    """A real Debian python3-celery worker running tests/integration/pyapp."""

    def __init__(self, session, broker_url, backend_url, name="py@localhost", concurrency=2):
        env = {"PATH": "/usr/bin:/bin", "CELERY_BROKER_URL": broker_url,
               "CELERY_RESULT_BACKEND": backend_url, "PYTHONPATH": PYAPP, "HOME": session.tmp}
        self.proc = session.start("pyworker", [PYTHON, "-m", "celery", "-A", "app.tasks", "worker",
                                               "-Q", "tryon_queue", "-c", str(concurrency), "-n", name,
                                               "--without-gossip", "--without-mingle",
                                               "--without-heartbeat", "-l", "info"],
                                  env=env, cwd=PYAPP)
        wait_for(lambda: "ready." in self.proc.stderr_text() or not self.proc.alive(), 30,
                 "the Python worker to be ready")
        assert self.proc.alive(), self.proc.stderr_text()[-3000:]

    def stop(self):
        return self.proc.stop(10)


def all_task_ids_in_redis(client, queues=("tryon_queue",), node_keys=()):
    """Task ids found in the queue lists, unacked and our in-flight lists."""
    import base64
    found = {"queue": [], "unacked": [], "inflight": []}

    def task_id(raw):
        env = json.loads(raw)
        if env.get("headers", {}).get("id"):
            return env["headers"]["id"]
        body = json.loads(base64.b64decode(env["body"]))
        return body.get("id")

    for q in queues:
        for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169"):
            for raw in client.lrange(q + suffix, 0, -1):
                found["queue"].append(task_id(raw))
    for raw in client.hvals("unacked"):
        found["unacked"].append(task_id(json.dumps(json.loads(raw)[0])))
    for key in client.keys("tryon-worker.inflight.*"):
        for raw in client.lrange(key, 0, -1):
            found["inflight"].append(task_id(raw))
    return found
