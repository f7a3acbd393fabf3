"""Issue 13: Redis over TLS and over a unix socket, against real
redis-servers, for the broker, the result backend and the cache.

rediss://: `redis-server --tls-port` with a leaf for localhost from the test
CA (tests/lib/make_test_ca.sh). The worker trusts the CA through
TRYON_CA_FILE, the Python client through ssl_ca_certs with host name
checks on; both verify chain and name, and both refuse a leaf for another
name and a chain from an unknown CA with an error that says which.

unix://: `redis-server --unixsocket`, the database chosen by `?db=N` (the
Python client writes the same socket as redis+socket://...?virtual_host=N).
Every check looks at the databases themselves: the queue binding, the
results and the cached try-on are in the numbered databases, nothing in 0.
"""
import hashlib
import os
import socket
import ssl
import tempfile
import uuid

from itest import (FAL_KEY, REDIS_PASSWORD, Standin, Worker, celery_app, free_port, quote_pw,
                   time_limit, wait_for)

TASK = "app.tasks.virtual_tryon"


class TLSRedis:
    """redis-server speaking TLS only, on localhost, with the password; the
    leaf is `cert` from the test CA (server-ec: localhost; wronghost:
    not-localhost.invalid). Stopped with the test."""

    def __init__(self, s, cert="server-ec"):
        self.ca = s.ca()
        self.port = free_port()
        d = tempfile.mkdtemp(prefix="redis-tls-", dir=s.tmp)
        self.proc = s.start("redis-tls", [
            "redis-server", "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
            "--tls-cert-file", os.path.join(self.ca, f"{cert}.pem"),
            "--tls-key-file", os.path.join(self.ca, f"{cert}.key"),
            "--tls-ca-cert-file", os.path.join(self.ca, "ca.pem"), "--tls-auth-clients", "no",
            "--requirepass", REDIS_PASSWORD, "--dir", d, "--save", "", "--appendonly", "no",
            "--daemonize", "no"])
        wait_for(self._listening, 10, f"redis-server --tls-port {self.port}")

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def url(self, db):
        return f"rediss://:{quote_pw(REDIS_PASSWORD)}@localhost:{self.port}/{db}"

    def ssl_opts(self, ca="ca.pem"):
        """The Python client's TLS settings: chain and host name verified
        (redis-py checks the name only when told: ssl_cert_reqs=required
        alone accepts a leaf for another host)."""
        return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": os.path.join(self.ca, ca),
                "ssl_check_hostname": True}

    def client(self, db=0):
        import redis
        return redis.Redis(host="localhost", port=self.port, db=db, password=REDIS_PASSWORD,
                           ssl=True, socket_timeout=10, **self.ssl_opts())


class UnixRedis:
    """redis-server on a unix socket only, with the password."""

    def __init__(self, s):
        d = tempfile.mkdtemp(prefix="redis-unix-", dir=s.tmp)
        self.path = os.path.join(d, "redis.sock")
        self.proc = s.start("redis-unix", [
            "redis-server", "--port", "0", "--unixsocket", self.path, "--unixsocketperm", "700",
            "--requirepass", REDIS_PASSWORD, "--dir", d, "--save", "", "--appendonly", "no",
            "--daemonize", "no"])
        wait_for(lambda: os.path.exists(self.path), 10, f"redis-server on {self.path}")

    def url(self, db):
        return f"unix://:{quote_pw(REDIS_PASSWORD)}@{self.path}?db={db}"

    def celery_url(self, db):
        return f"redis+socket://:{quote_pw(REDIS_PASSWORD)}@{self.path}?virtual_host={db}"

    def client(self, db=0):
        import redis
        return redis.Redis(unix_socket_path=self.path, db=db, password=REDIS_PASSWORD,
                           socket_timeout=10)


def call(app, name, args=(), timeout=20):
    """Send a task the way the app server does and wait for its result.
    The session releases the app and its pending results with the test."""
    return app.send_task(name, args=list(args), queue="tryon_queue").get(timeout=timeout)


def worker_env(s, broker, results, cache, standin, **extra):
    env = s.base_env(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=results,
                     REDIS_CACHE_URL=cache, FAL_KEY=FAL_KEY, FAL_QUEUE_URL=standin.base,
                     TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"), TRYON_ENABLE_TEST_TASKS="1")
    env.update(extra)
    return env


def doctor_lines(s, env):
    r = s.run(["doctor"], env=env, timeout=60)
    return r.returncode, {l.split()[1]: l for l in r.out.splitlines() if len(l.split()) > 1}


def check_all_three(app, cache_client):
    """health_check sees broker, results and cache; an echo round trip; a
    try-on cached in the cache database, then answered from it."""
    health = call(app, "app.tasks.health_check")
    assert health["status"] == "ok", health
    assert health["broker_reachable"] and health["result_backend_reachable"], health
    assert health["cache_reachable"] is True, health
    assert call(app, "tryon.test.echo", [1, "zwei"]) == [1, "zwei"]
    u = uuid.uuid4().hex[:12]
    p, g = f"https://img.example.com/p-{u}.png", f"https://img.example.com/g-{u}.png"
    v = call(app, TASK, [p, g])
    assert v.startswith("https://fal.media/files/standin/"), v
    key = "tryon:" + hashlib.sha256(f"{p}|{g}".encode()).hexdigest()[:16]
    assert cache_client.get(key).decode() == v
    assert call(app, TASK, [p, g]) == v


@time_limit(90)
def test_rediss_broker_results_cache_verified(s):
    r = TLSRedis(s)
    st = Standin(s)
    env = worker_env(s, r.url(4), r.url(5), r.url(6), st)
    rc, lines = doctor_lines(s, env)
    for name, db in (("broker", 4), ("results", 5), ("cache", 6)):
        assert lines[name].startswith(f"ok    {name}") and f"rediss://:***@localhost:{r.port}/{db}" in lines[name], lines
    assert rc == 0, lines
    w = Worker(s, env)
    opts = r.ssl_opts()
    check_all_three(celery_app(r.url(4), r.url(5), broker_use_ssl=opts, redis_backend_use_ssl=opts),
                    r.client(6))
    assert "path=cache" in w.log()
    # The databases hold what they should: broker 4, results 5, cache 6.
    assert r.client(4).exists("_kombu.binding.tryon_queue")
    assert r.client(5).keys("celery-task-meta-*")
    assert r.client(0).dbsize() == 0


@time_limit(90)
def test_rediss_wrong_host_and_unknown_ca_refused(s):
    import redis
    good = TLSRedis(s)
    wrong = TLSRedis(s, cert="wronghost")
    st = Standin(s)
    cases = [
        # (server, worker's TRYON_CA_FILE, Python's CA, what the worker says)
        (wrong, "ca.pem", "ca.pem", "certificate does not match the host name"),
        (good, "other-ca.pem", "other-ca.pem", "certificate chain not trusted (unknown CA)"),
    ]
    for server, worker_ca, py_ca, reason in cases:
        env = worker_env(s, server.url(4), server.url(5), server.url(6), st,
                         TRYON_CA_FILE=os.path.join(s.ca(), worker_ca))
        rc, lines = doctor_lines(s, env)
        assert rc == 1, lines
        for name in ("broker", "results", "cache"):
            assert lines[name].startswith(f"FAIL  {name}") and reason in lines[name], lines[name]
        # The worker keeps trying, never ready, and says why.
        w = Worker(s, env, wait_ready=False)
        wait_for(lambda: "event=redis.down" in w.log() and reason in w.log(), 10,
                 f"redis.down with \"{reason}\"")
        assert "event=worker.ready" not in w.log()
        w.stop()
        # The Python client (kombu for the broker, the result backend's
        # redis-py) refuses the same server.
        opts = server.ssl_opts(py_ca)
        app = celery_app(server.url(4), server.url(5), broker_use_ssl=opts, redis_backend_use_ssl=opts)
        errors = []
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
        except Exception as e:  # noqa: BLE001 - kombu's OperationalError
            errors.append(str(e))
        try:
            app.backend.client.ping()
        except redis.exceptions.ConnectionError as e:
            errors.append(str(e))
        # OpenSSL's words for the unknown CA depend on whether the server
        # sends its root along.
        want = (("hostname mismatch",) if server is wrong else
                ("unable to get local issuer certificate", "self-signed certificate in certificate chain"))
        assert len(errors) == 2, f"the Python client accepted a server with {reason}"
        for msg in errors:
            assert "certificate verify failed" in msg and any(x in msg.lower() for x in want), msg
    # Without TRYON_CA_FILE only the built-in anchors count: unknown CA too.
    env = worker_env(s, good.url(4), good.url(5), good.url(6), st)
    del env["TRYON_CA_FILE"]
    rc, lines = doctor_lines(s, env)
    assert rc == 1 and "certificate chain not trusted (unknown CA)" in lines["broker"], lines


@time_limit(90)
def test_unix_socket_broker_results_cache_with_db(s):
    r = UnixRedis(s)
    st = Standin(s)
    env = worker_env(s, r.url(4), r.url(5), r.url(6), st)
    rc, lines = doctor_lines(s, env)
    for name, db in (("broker", 4), ("results", 5), ("cache", 6)):
        assert lines[name].startswith(f"ok    {name}") and f"unix://:***@{r.path}?db={db}" in lines[name], lines
    assert rc == 0, lines
    w = Worker(s, env)
    check_all_three(celery_app(r.celery_url(4), r.celery_url(5)), r.client(6))
    assert "path=cache" in w.log()
    assert r.client(4).exists("_kombu.binding.tryon_queue")
    assert r.client(5).keys("celery-task-meta-*")
    assert r.client(0).dbsize() == 0
    # The app's own Celery URLs (redis+socket://...?virtual_host=N) work
    # unchanged for the worker too: the same dbs.
    w.stop()
    env3 = dict(env, CELERY_BROKER_URL=r.celery_url(4), CELERY_RESULT_BACKEND=r.celery_url(5),
                REDIS_CACHE_URL=r.celery_url(6))
    rc, lines = doctor_lines(s, env3)
    assert rc == 0 and all(f"unix://:***@{r.path}?db={db}" in lines[name]
                           for name, db in (("broker", 4), ("results", 5), ("cache", 6))), lines
    Worker(s, env3, name="worker-kombu-url")
    check_all_three(celery_app(r.celery_url(4), r.celery_url(5)), r.client(6))
    # A socket that is not there: a clear error, not a hang.
    env2 = dict(env, CELERY_BROKER_URL=f"unix://{r.path}.missing?db=4")
    rc, lines = doctor_lines(s, env2)
    assert rc == 1 and lines["broker"].startswith("FAIL  broker") and "No such file" in lines["broker"], lines
