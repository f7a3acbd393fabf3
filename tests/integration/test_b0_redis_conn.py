"""redis_conn and redis_sync against real redis-servers, through the C check
program tests/redis/redis_conn_check.c, run the way its usage text says:
plain TCP (with its in-process fake servers for the failure paths), TLS
with the test CA (and the handshake failures: unknown CA, wrong host name),
a unix socket, and a server restart under live connections. Every run must
close with "N passed, 0 failed". The program is built by make next to
tryon-worker ($(BUILD)/redis_conn_check) or named by TRYON_REDIS_CONN_CHECK."""
import os
import re
import subprocess
import tempfile

from itest import BINARY, REDIS_PASSWORD, free_port, quote_pw, time_limit, wait_for

CHECK = os.environ.get("TRYON_REDIS_CONN_CHECK") or os.path.join(os.path.dirname(BINARY),
                                                                   "redis_conn_check")
# Fewest checks a full run makes without the fake servers (with them: more);
# fewer means a part of the program stopped running.
MIN_CHECKS = 35


def check_program():
    assert os.access(CHECK, os.X_OK), (
        f"{CHECK} missing: build it with make BUILD=<dir> <dir>/redis_conn_check "
        "(make test does), or name it in TRYON_REDIS_CONN_CHECK")
    return CHECK


def run_check(s, *args, timeout=90):
    r = subprocess.run([check_program(), *args], capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    s.record_run("redis_conn_check", r)
    return r


def assert_passed(out, err, rc, what, at_least):
    """The closing line says 0 failed and enough checks ran; else show the
    failing lines and the end of the log."""
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    fails = "\n".join(line for line in out.splitlines() if line.startswith("FAIL"))
    assert m and rc == 0 and m.group(2) == "0" and int(m.group(1)) >= at_least, (
        f"{what}: rc={rc}, closing line {m.group(0) if m else None!r}, "
        f"expected >= {at_least} passed\n{fails}\n--- stderr (end) ---\n{err[-3000:]}")


def expect_fail(s, url, text, ca=None):
    """Connecting to url must fail with text in the message (and no password)."""
    args = (["--ca", ca] if ca else []) + ["--expect-fail", text, url]
    r = run_check(s, *args, timeout=30)
    assert_passed(r.out, r.err, r.returncode, f"expect-fail {text!r}", 1)


def tls_server(s, cert):
    """A private redis-server with a TLS port serving ca/<cert>.pem (the plain
    port stays for the fixture's readiness PING); returns (server, tls port)."""
    ca = s.ca()
    port = free_port()
    r = s.new_redis(extra=["--tls-port", str(port),
                           "--tls-cert-file", os.path.join(ca, f"{cert}.pem"),
                           "--tls-key-file", os.path.join(ca, f"{cert}.key"),
                           "--tls-ca-cert-file", os.path.join(ca, "ca.pem"),
                           "--tls-auth-clients", "no"])
    return r, port


@time_limit(90)
def test_tcp_full_run_with_fake_servers(s):
    r = s.new_redis()
    res = run_check(s, r.url(2))
    assert_passed(res.out, res.err, res.returncode, "TCP run", MIN_CHECKS + 10)
    assert "(tcp)" in res.out
    wrong = f"redis://:{quote_pw('not-' + REDIS_PASSWORD)}@127.0.0.1:{r.port}/2"
    expect_fail(s, wrong, "AUTH failed")


@time_limit(90)
def test_tls_with_test_ca(s):
    r, port = tls_server(s, "server-ec")
    url = f"rediss://:{quote_pw(REDIS_PASSWORD)}@localhost:{port}/2"
    ca = os.path.join(s.ca(), "ca.pem")
    res = run_check(s, "--ca", ca, "--no-fakes", url)
    assert_passed(res.out, res.err, res.returncode, "TLS run", MIN_CHECKS)
    assert "(tls)" in res.out
    expect_fail(s, url, "unknown CA", ca=os.path.join(s.ca(), "other-ca.pem"))
    _, wrong_port = tls_server(s, "wronghost")
    expect_fail(s, f"rediss://:{quote_pw(REDIS_PASSWORD)}@localhost:{wrong_port}/2",
                "does not match the host name", ca=ca)


@time_limit(90)
def test_unix_socket(s):
    sock = os.path.join(tempfile.mkdtemp(prefix="sock-", dir=s.tmp), "redis.sock")
    s.new_redis(extra=["--unixsocket", sock, "--unixsocketperm", "700"])
    res = run_check(s, "--no-fakes", f"unix://:{quote_pw(REDIS_PASSWORD)}@{sock}?db=2")
    assert_passed(res.out, res.err, res.returncode, "unix socket run", MIN_CHECKS)
    assert "(unix)" in res.out


@time_limit(120)
def test_restart_under_live_connections(s):
    r = s.new_redis()
    p = s.start("redis_conn_check", [check_program(), "--no-fakes", "--restart", "15", r.url(2)])
    wait_for(lambda: "ready-for-restart" in p.stdout_text() or not p.alive(), 60,
             "redis_conn_check to be ready for the restart")
    assert p.alive(), p.stdout_text() + p.stderr_text()[-3000:]
    try:
        r.restart()   # same port, same password, empty data
        rc = p.wait(60)
    finally:
        r.proc.stop()   # the restarted server is not the test's own Proc
    out = p.stdout_text()
    assert_passed(out, p.stderr_text(), rc, "restart run", MIN_CHECKS + 5)
    assert "ok   restart: reconnected and re-subscribed from on_ready" in out, out
