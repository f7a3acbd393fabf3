#!/usr/bin/python3
"""Self-check of tests/lib/resp_proxy.py against a real redis-server.

Starts redis-server (no password, a temp dir, a free loopback port) and a
RespProxy in front of it, then checks every fault the integration tests use:
replies paired with their commands on a pipelined connection, a dropped reply
(the command still ran), delay, drip, reset mid-reply, silence and resume,
a standing silence that survives reconnects, pub/sub pushes, a 20 MB reply.
Ends with "N passed, N failed". Standard library plus Debian's python3-redis;
only loopback addresses; redis-server is stopped by its PID.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp_proxy import RespProxy, arg_contains  # noqa: E402

RESULTS = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print("ok   - %s" % name)
    else:
        RESULTS["failed"] += 1
        print("FAIL - %s %s" % (name, detail))
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cmd(*args):
    """One command as a RESP array of bulks."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_for(sock, seconds, want=None):
    """Bytes received within `seconds` (stops early once `want` bytes came,
    or at EOF/reset); returns (bytes, 'eof' | 'reset' | 'timeout' | 'enough')."""
    sock.settimeout(0.05)
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return got, "reset"
        if not chunk:
            return got, "eof"
        got += chunk
        if want is not None and len(got) >= want:
            return got, "enough"
    return got, "timeout"


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def main():
    import redis
    tmp = tempfile.mkdtemp(prefix="resp-proxy-check-")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
                               "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        direct = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:
            try:
                direct.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        proxy = RespProxy(port)
        via = redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=5)

        print("# pass-through")
        check("PING through the proxy", via.ping() is True)
        s = connect(proxy.port)
        s.sendall(b"".join(cmd("INCR", "n") for _ in range(200)))
        expect = b"".join(b":%d\r\n" % i for i in range(1, 201))
        got, _ = read_for(s, 5, want=len(expect))
        check("200 pipelined INCR replies intact and in order", got == expect, got[-40:])
        s.sendall(b"PING\r\n")
        check("inline command", read_for(s, 2, want=7)[0] == b"+PONG\r\n")
        s.close()
        big = os.urandom(20 << 20)
        via.set("big", big)
        t0 = time.monotonic()
        check("20 MB value round trip", via.get("big") == big)
        print("  (20 MB reply through the proxy in %.2f s)" % (time.monotonic() - t0))
        check("count() sees every command", proxy.count("INCR") == 200, proxy.count("INCR"))
        seen = proxy.replies("INCR")
        check("replies() pairs each reply with its command",
              len(seen) == 200 and seen[-1][1] == [b"INCR", b"n"] and seen[-1][2] == b":200\r\n", seen[-1:])

        print("# a reply paired with its command on a pipelined connection")
        rule = proxy.drop_reply_to("PING", then="pass")
        s = connect(proxy.port)
        s.sendall(cmd("SET", "a", "1") + cmd("GET", "a") + cmd("PING") + cmd("EVAL", "return 7", "0") + cmd("GET", "a"))
        want = b"+OK\r\n$1\r\n1\r\n:7\r\n$1\r\n1\r\n"
        got, _ = read_for(s, 2, want=len(want))
        check("only PING's reply is gone", got == want and rule.hits == 1, (got, rule))
        s.close()
        rule = proxy.drop_reply_to("EVALSHA", then="pass", where=arg_contains(b"second"))
        sha = direct.script_load("return KEYS[1]")
        s = connect(proxy.port)
        s.sendall(cmd("EVALSHA", sha, "1", "first") + cmd("EVALSHA", sha, "1", "second") + cmd("EVALSHA", sha, "1", "third"))
        want = b"$5\r\nfirst\r\n$5\r\nthird\r\n"
        got, _ = read_for(s, 2, want=len(want))
        check("where=arg_contains picks one EVALSHA of three", got == want and rule.hits == 1, got)
        s.close()

        print("# drop_reply_to: the command runs, its reply never comes")
        direct.delete("k")
        rule = proxy.drop_reply_to("INCR")
        s = connect(proxy.port)
        s.sendall(cmd("INCR", "k") + cmd("PING"))
        got, how = read_for(s, 0.5)
        check("nothing arrives after the dropped reply (silence)", got == b"" and how == "timeout", (got, how))
        check("Redis ran the command", direct.get("k") == b"1")
        pc = proxy.wait_for_command("INCR", where=arg_contains(b"k"))
        check("wait_for_command finds the connection", pc.silenced and pc.seen("INCR") == 1, pc)
        proxy.resume(pc)
        got, _ = read_for(s, 2, want=7)
        check("resume releases the later replies (PONG), not the dropped one", got == b"+PONG\r\n", got)
        s.close()
        proxy.drop_reply_to("GET", then="reset")
        s = connect(proxy.port)
        s.sendall(cmd("GET", "k"))
        got, how = read_for(s, 2)
        check("then='reset': the connection is reset", got == b"" and how in ("reset", "eof"), (got, how))
        s.close()
        via2 = redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=1)
        proxy.drop_reply_to("SET")
        t0 = time.monotonic()
        try:
            via2.set("lost", "yes")
            check("a client times out on a dropped reply", False)
        except redis.TimeoutError:
            check("a client times out on a dropped reply", 0.9 < time.monotonic() - t0 < 3)
        check("...while the SET ran", direct.get("lost") == b"yes")
        via2.close()

        print("# delay_reply")
        direct.set("d", "v")
        rule = proxy.delay_reply("GET", 0.6)
        s = connect(proxy.port)
        t0 = time.monotonic()
        s.sendall(cmd("GET", "d") + cmd("PING"))
        got, _ = read_for(s, 3, want=len(b"$1\r\nv\r\n+PONG\r\n"))
        took = time.monotonic() - t0
        check("the reply comes after the delay, order kept",
              got == b"$1\r\nv\r\n+PONG\r\n" and 0.55 <= took < 2, (got, took))
        s.close()

        print("# drip")
        direct.set("drip", "x" * 90)    # reply: $90\r\n + 90 + \r\n = 97 bytes
        rule = proxy.drip(200, cmd="GET", n=1)
        s = connect(proxy.port)
        t0 = time.monotonic()
        s.sendall(cmd("GET", "drip"))
        first, _ = read_for(s, 0.2)
        rest, _ = read_for(s, 3, want=97 - len(first))
        took = time.monotonic() - t0
        check("dripped: a few bytes in the first 0.2 s", 0 < len(first) <= 60, len(first))
        check("dripped: whole reply after ~0.5 s", first + rest == b"$90\r\n" + b"x" * 90 + b"\r\n" and 0.4 < took < 2,
              (len(first + rest), took))
        s.sendall(cmd("GET", "drip"))
        got, _ = read_for(s, 1, want=97)
        check("n=1: the next reply is not dripped", len(got) == 97)
        s.close()

        print("# reset_mid_reply")
        direct.set("cut", "y" * 1000)
        rule = proxy.reset_mid_reply("GET")
        s = connect(proxy.port)
        s.sendall(cmd("GET", "cut"))
        got, how = read_for(s, 2)
        check("part of the reply, then a reset", 0 < len(got) < 1007 and how == "reset", (len(got), how))
        s.close()

        print("# answer_instead: the command never reaches Redis")
        direct.delete("cnt")
        rule = proxy.answer_instead("INCR", b":99\r\n", where=arg_contains(b"cnt"))
        pop = proxy.answer_instead("BRPOPLPUSH", b"*-1\r\n", delay=0.3)
        direct.rpush("src", "m")
        s = connect(proxy.port)
        t0 = time.monotonic()
        s.sendall(cmd("SET", "q", "v") + cmd("INCR", "cnt") + cmd("BRPOPLPUSH", "src", "dst", "1") + cmd("GET", "q"))
        want = b"+OK\r\n:99\r\n*-1\r\n$1\r\nv\r\n"
        got, _ = read_for(s, 3, want=len(want))
        took = time.monotonic() - t0
        check("answers in their places among Redis's replies", got == want, got)
        check("...after the delay asked", 0.28 <= took < 2, took)
        check("the commands did not run", direct.get("cnt") is None and direct.llen("src") == 1)
        check("rule hits", rule.hits == 1 and pop.hits == 1, (rule, pop))
        rule.cancel()
        pop.cancel()
        s.sendall(cmd("INCR", "cnt"))
        check("cancelled: the next one goes to Redis", read_for(s, 2, want=4)[0] == b":1\r\n")
        s.close()

        print("# silence / resume")
        proxy.silence()
        s = connect(proxy.port)
        s.sendall(cmd("PING"))
        got, how = read_for(s, 0.5)
        check("silence(): even a new connection gets no answer", got == b"", got)
        proxy.resume()
        got, _ = read_for(s, 2, want=7)
        check("resume(): the held answer arrives", got == b"+PONG\r\n", got)
        s.close()

        print("# silence_from: a standing fault across reconnects")
        rule = proxy.silence_from("BRPOPLPUSH")
        socks = []
        for i in range(2):
            s = connect(proxy.port)
            socks.append(s)
            s.sendall(cmd("PING") + cmd("BRPOPLPUSH", "empty-src", "dst", "0.1") + cmd("PING"))
            got, _ = read_for(s, 0.6)
            check("connection %d: PONG, then silence from BRPOPLPUSH on" % (i + 1), got == b"+PONG\r\n", got)
        s = connect(proxy.port)
        s.sendall(cmd("PING"))
        check("a connection that never sends it is unaffected", read_for(s, 2, want=7)[0] == b"+PONG\r\n")
        s.close()
        check("rule hits", rule.hits == 2, rule)
        rule.cancel()
        proxy.resume()
        got, _ = read_for(socks[0], 2, want=len(b"*-1\r\n+PONG\r\n"))
        check("resume releases the held replies", got == b"*-1\r\n+PONG\r\n", got)
        for s in socks:
            s.close()

        print("# pub/sub pushes are not paired with commands")
        rule = proxy.delay_reply("SUBSCRIBE", 0, n=None)
        ping_rule = proxy.drop_reply_to("PING", then="pass", n=1)
        sub = connect(proxy.port)
        sub.sendall(cmd("SUBSCRIBE", "ch1", "ch2"))
        got, _ = read_for(sub, 2, want=2 * len(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n"))
        check("both confirmations paired with SUBSCRIBE", rule.hits == 2 and got.count(b"subscribe") == 2, rule)
        for i in range(3):
            direct.publish("ch1", "m%d" % i)
        sub.sendall(cmd("PING"))
        got, _ = read_for(sub, 1)
        check("three messages pass; PING's reply is the one dropped",
              got.count(b"message") == 3 and b"pong" not in got and ping_rule.hits == 1, (got, ping_rule))
        sub.close()
        rule.cancel()

        print("# clear and connection bookkeeping")
        proxy.drop_reply_to("GET", n=None)
        proxy.clear()
        check("clear() removes every rule", via.get("d") == b"v")
        check("connections() lists open ones", all(c.open for c in proxy.connections()) and proxy.connections())
        check("events recorded", any("drop reply to INCR" in e[2] for e in proxy.events))
        n_before = len(proxy.connections())
        proxy.reset_all()
        time.sleep(0.1)
        check("reset_all closes every connection", n_before > 0 and not proxy.connections())
        check("a client reconnects after reset_all", via.ping() is True)
    except Exception as e:  # noqa: BLE001 - report, then clean up
        import traceback
        traceback.print_exc()
        check("self-check ran without exception", False, repr(e))
    finally:
        if proxy:
            proxy.close()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
