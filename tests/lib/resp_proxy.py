"""resp_proxy: a fault-injecting TCP proxy for Redis (RESP2/RESP3) on
loopback, for tests that need a reply lost, late, trickled or cut.

It sits between a client (the worker) and a real redis-server. Requests go
to the server untouched and at once; the proxy parses both directions just
enough to pair every reply with the command it answers, even on a pipelined
connection, and applies the faults the test asked for to chosen replies.
The server always runs the command: a "dropped" reply is a command that ran
and whose answer never arrived, which is what a lost reply is.

Standard library only; one background thread; only 127.0.0.1.

Quick start
-----------
    from resp_proxy import RespProxy, arg_contains

    proxy = RespProxy(redis_port)               # listens on 127.0.0.1:proxy.port
    url = proxy.url(db=4, password="secret")    # redis://:secret@127.0.0.1:PORT/4
    ...start the worker with CELERY_BROKER_URL=url...
    rule = proxy.drop_reply_to("EVALSHA", n=1, where=arg_contains(b"unacked"))
    ...
    assert rule.hits == 1
    proxy.close()                               # stops the thread, closes every socket

Choosing replies
----------------
Every fault method takes the same filters, all optional:
    cmd     a command name ("EVALSHA"), a tuple of names, or None for any;
            case-insensitive.
    where   callable(argv) -> bool. argv is the command as a list of bytes,
            argv[0] upper-cased; arguments longer than ARG_KEEP (256) bytes
            are cut to that length (their full length still went to Redis).
            arg_contains(b"...") makes one that looks for a substring in
            any argument (e.g. a key name to tell FETCH from RECORD, which
            are both EVALSHA).
    conn    a ProxyConn (see connections(), wait_for_command()), its id, or
            None for every connection, present and future.
    n       how many matching replies the fault applies to; None = every
            one until the rule is cancelled or clear() is called.
Rules are tried in the order they were made; a reply gets the first rule
that matches. Each method returns a Rule: rule.hits counts the replies it
took, rule.cancel() removes it. Replies are matched when they arrive from
the server, so a rule also catches the reply to a command already sent.

Faults on replies
-----------------
drop_reply_to(cmd, n=1, then="silence", ...)
    The reply is swallowed. What follows on that connection is `then`:
    "silence" (default): later replies are held too, like a link that died
        right after the server answered; the client's own timeout ends it.
        resume() releases them (a client still waiting then gets them).
    "reset": the connection is reset (RST) at once.
    "close": the connection is closed (FIN) at once.
    "pass": later replies flow. The client then pairs each reply with the
        wrong command: only for testing that kind of confusion.
delay_reply(cmd, seconds, n=1, ...)
    The reply, and every reply behind it on that connection (order is
    kept), is held for `seconds` after it arrived.
drip(bytes_per_second, cmd=None, n=None, ...)
    Matching replies are sent a few bytes at a time at that rate (one byte
    at a time below 100 B/s): a server or link that is slow but alive.
reset_mid_reply(cmd=None, n=1, fraction=0.5, rst=True, ...)
    The first `fraction` of the reply is sent, then after 50 ms the
    connection is reset (rst=True) or closed (rst=False).
silence_from(cmd, n=None, ...)
    When a reply to a matching command arrives, its connection goes silent
    from that reply on (held, as above). With n=None it applies to every
    connection that ever sends such a command, so a client that reconnects
    and sends it again is silenced again: a standing fault that survives
    reconnects (e.g. "the consume connection never gets a FETCH answer").

A fault on requests
-------------------
answer_instead(cmd, reply, n=None, delay=0.0, ...)
    Matching commands never reach Redis: the proxy answers them itself with
    `reply` (raw RESP bytes, e.g. b"*0\r\n" or b"*-1\r\n"), `delay` seconds
    after the command came, in its place among the connection's replies.
    A server that answers "nothing here" while the data is there: e.g. a
    FETCH that always finds the queues empty, so the client stays connected
    and healthy-looking and takes nothing (a stall).

Faults on whole connections
---------------------------
silence(conn=None)   hold every reply of conn (None: of every connection,
                     present and future, until resume()). Requests still
                     reach the server.
resume(conn=None)    release what silence/silence_from/drop held (None:
                     every connection, and end the global silence).
reset_all()          reset (RST) every open connection.
clear()              cancel every rule, end drips and silences (held
                     replies are released), like a healed network.

Looking on
----------
connections()        the open ProxyConn objects: .id, .commands (the last
                     1000 commands as argv lists, as where() sees them),
                     .seen(name) -> count, .open, .silenced.
wait_for_command(cmd, where=None, timeout=10, new=False)
                     the first open connection that has sent cmd (and
                     where(argv) holds); new=True: only commands sent after
                     this call. Raises TimeoutError.
count(cmd)           how many such commands all connections have sent.
replies(cmd=None, where=None)
                     [(conn id, argv, reply bytes)] of the last 1000 replies
                     Redis sent (each cut to REPLY_KEEP, 64 KiB), oldest
                     first: e.g. to learn what a script answers when there
                     is nothing to do, and answer_instead() with exactly that.
events               list of (monotonic time, conn id, text): every fault
                     applied, every connection opened or closed.

Pub/sub: after (P)SUBSCRIBE, ["message", ...] and ["pmessage", ...] pushes
are passed through and never paired with a command. RESP3 push frames
(">") are treated the same way.
"""
import collections
import selectors
import socket
import struct
import threading
import time
import urllib.parse

ARG_KEEP = 256          # bytes of each argument kept for where() and logs
RESET_PAUSE = 0.05      # s between the partial reply and the reset
REPLY_KEEP = 65536      # bytes of each reply kept for replies()


class ProtocolError(Exception):
    pass


def arg_contains(sub):
    """A where() filter: true when any argument (not the name) contains sub."""
    if isinstance(sub, str):
        sub = sub.encode()
    return lambda argv: any(sub in a for a in argv[1:])


def _resp_end(buf, pos):
    """(end, need): end is the offset just past one complete RESP value
    starting at pos, or None if buf does not hold all of it yet; then need
    is a length buf must reach before trying again (0: unknown)."""
    remaining = 1
    n = len(buf)
    while remaining:
        if pos >= n:
            return None, 0
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        t = buf[pos]
        if t in b"+-:_,#(":
            pos = eol + 2
            remaining -= 1
        elif t in b"$=!":
            try:
                ln = int(buf[pos + 1:eol])
            except ValueError:
                raise ProtocolError(f"bad bulk length {bytes(buf[pos:eol])[:40]!r}")
            if ln < 0:
                pos = eol + 2
            else:
                end = eol + 2 + ln + 2
                if end > n:
                    return None, end
                pos = end
            remaining -= 1
        elif t in b"*~>%|":
            try:
                cnt = int(buf[pos + 1:eol])
            except ValueError:
                raise ProtocolError(f"bad aggregate length {bytes(buf[pos:eol])[:40]!r}")
            pos = eol + 2
            remaining -= 1
            if t == ord("|"):
                remaining += 2 * max(cnt, 0) + 1   # an attribute precedes the value it describes
            elif cnt > 0:
                remaining += cnt * 2 if t == ord("%") else cnt
        else:
            raise ProtocolError(f"unexpected type byte {bytes([t])!r}")
    return pos, 0


def _first_bulk(data):
    """The first element of an array reply when it is a bulk or simple
    string (lower-cased), else None: enough to spot pub/sub pushes."""
    if not data or data[:1] not in (b"*", b">"):
        return None
    eol = data.find(b"\r\n")
    rest = data[eol + 2:]
    if rest[:1] == b"+":
        return bytes(rest[1:rest.find(b"\r\n")]).lower()
    if rest[:1] == b"$":
        e2 = rest.find(b"\r\n")
        try:
            ln = int(rest[1:e2])
        except ValueError:
            return None
        return bytes(rest[e2 + 2:e2 + 2 + max(ln, 0)]).lower()
    return None


def _parse_command(buf):
    """(argv, consumed) for the first complete command in buf (a RESP array
    of bulks, or an inline command line), or (None, need)."""
    if not buf:
        return None, 0
    if buf[0:1] == b"*":
        end, need = _resp_end(buf, 0)
        if end is None:
            return None, need
        eol = buf.find(b"\r\n")
        cnt = int(buf[1:eol])
        pos = eol + 2
        argv = []
        for _ in range(max(cnt, 0)):
            e = buf.find(b"\r\n", pos)
            if buf[pos:pos + 1] != b"$":
                raise ProtocolError("command element is not a bulk string")
            ln = int(buf[pos + 1:e])
            start = e + 2
            argv.append(bytes(buf[start:start + min(ln, ARG_KEEP)]))
            pos = start + ln + 2
        if argv:
            argv[0] = argv[0].upper()
        return argv, end
    eol = buf.find(b"\n")
    if eol < 0:
        return None, 0
    argv = [bytes(a[:ARG_KEEP]) for a in bytes(buf[:eol]).strip().split()]
    if argv:
        argv[0] = argv[0].upper()
    return argv, eol + 1


class Rule:
    """One fault: what it matches, what it does, how often it was applied."""

    def __init__(self, proxy, action, cmd, where, conn, n, **params):
        self.proxy = proxy
        self.action = action
        if isinstance(cmd, str):
            cmd = (cmd,)
        self.cmds = tuple(c.upper().encode() for c in cmd) if cmd else None
        self.where = where
        self.conn = conn
        self.left = n
        self.params = params
        self.hits = 0

    def matches(self, pc, argv):
        if self.left is not None and self.left <= 0:
            return False
        if self.conn is not None:
            cid = self.conn if isinstance(self.conn, int) else self.conn.id
            if pc.id != cid:
                return False
        if self.cmds is not None and (not argv or argv[0] not in self.cmds):
            return False
        if self.where is not None and not self.where(argv or [b""]):
            return False
        return True

    def take(self):
        self.hits += 1
        if self.left is not None:
            self.left -= 1

    def cancel(self):
        with self.proxy._lock:
            if self in self.proxy._rules:
                self.proxy._rules.remove(self)
        self.proxy._wake()

    def __repr__(self):
        return f"<Rule {self.action} cmds={self.cmds} left={self.left} hits={self.hits}>"


class _Reply:
    __slots__ = ("data", "argv", "action", "rule", "until")

    def __init__(self, data, argv):
        self.data = data
        self.argv = argv
        self.action = "pass"
        self.rule = None
        self.until = 0.0


class ProxyConn:
    """One client connection and its upstream connection."""

    def __init__(self, proxy, cid, client, server):
        self.proxy = proxy
        self.id = cid
        self.client = client
        self.server = server
        self.open = True
        self.silenced = False
        self.subscribed = False
        self.commands = collections.deque(maxlen=1000)   # argv lists
        self._seqs = collections.deque(maxlen=1000)      # the proxy-wide number of each
        self._counts = collections.Counter()
        self._cbuf = bytearray()      # client bytes not yet framed into commands
        self._cneed = 0
        self._to_server = bytearray()
        self._sbuf = bytearray()      # server bytes not yet framed into replies
        self._sneed = 0
        self._pending = collections.deque()   # (argv, the proxy's own answer or None) per reply expected
        self._replies = collections.deque()   # framed replies not yet released
        self._out = bytearray()               # released bytes for the client
        self._out_rate = None                 # drip rate of what is in _out
        self._next_drip = 0.0
        self._reset_at = None                 # reset (or close) once _out is sent
        self._reset_rst = True
        self._server_eof = False

    def seen(self, name):
        return self._counts[name.upper().encode() if isinstance(name, str) else name.upper()]

    def __repr__(self):
        last = [a[0] for a in list(self.commands)[-3:]]
        return f"<ProxyConn {self.id} open={self.open} silenced={self.silenced} last={last}>"


class RespProxy:
    """See the module docstring. Thread-safe: the fault methods may be
    called from the test while the proxy runs."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1", port=0):
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.RLock()
        self._rules = []
        self._conns = {}
        self._next_id = 1
        self._silent_all = False
        self._stop = False
        self.events = []
        self._counts = collections.Counter()
        self._seq = 0                 # commands seen, all connections
        self._reply_log = collections.deque(maxlen=1000)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, ("listen", None))
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread = threading.Thread(target=self._run, name=f"resp-proxy-{self.port}", daemon=True)
        self._thread.start()

    # -- public API ------------------------------------------------------

    def url(self, db=0, password=None, scheme="redis"):
        auth = f":{urllib.parse.quote(password, safe='')}@" if password else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def drop_reply_to(self, cmd, n=1, then="silence", where=None, conn=None):
        assert then in ("silence", "reset", "close", "pass")
        return self._add(Rule(self, "drop", cmd, where, conn, n, then=then))

    def delay_reply(self, cmd, seconds, n=1, where=None, conn=None):
        return self._add(Rule(self, "delay", cmd, where, conn, n, seconds=float(seconds)))

    def drip(self, bytes_per_second, cmd=None, n=None, where=None, conn=None):
        assert bytes_per_second > 0
        return self._add(Rule(self, "drip", cmd, where, conn, n, rate=float(bytes_per_second)))

    def reset_mid_reply(self, cmd=None, n=1, fraction=0.5, rst=True, where=None, conn=None):
        return self._add(Rule(self, "reset_mid", cmd, where, conn, n, fraction=fraction, rst=rst))

    def silence_from(self, cmd, n=None, where=None, conn=None):
        return self._add(Rule(self, "silence_from", cmd, where, conn, n))

    def answer_instead(self, cmd, reply, n=None, delay=0.0, where=None, conn=None):
        assert _resp_end(reply, 0)[0] == len(reply), "reply must be exactly one RESP value"
        return self._add(Rule(self, "answer", cmd, where, conn, n, reply=bytes(reply), delay=float(delay)))

    def silence(self, conn=None):
        with self._lock:
            if conn is None:
                self._silent_all = True
            else:
                self._conn_of(conn).silenced = True
            self._event(conn, "silence")
        self._wake()

    def resume(self, conn=None):
        with self._lock:
            if conn is None:
                self._silent_all = False
                for pc in self._conns.values():
                    pc.silenced = False
            else:
                self._conn_of(conn).silenced = False
            self._event(conn, "resume")
        self._wake()

    def clear(self):
        with self._lock:
            self._rules.clear()
            self._silent_all = False
            for pc in self._conns.values():
                pc.silenced = False
                pc._out_rate = None
                for r in pc._replies:
                    r.action, r.until = "pass", 0.0
            self._event(None, "clear")
        self._wake()

    def reset_all(self):
        with self._lock:
            for pc in list(self._conns.values()):
                self._close(pc, rst=True, why="reset_all")
        self._wake()

    def connections(self):
        with self._lock:
            return [pc for pc in self._conns.values() if pc.open]

    def replies(self, cmd=None, where=None):
        name = cmd.upper().encode() if cmd else None
        with self._lock:
            return [(cid, argv, data) for cid, argv, data in self._reply_log
                    if (name is None or argv[0] == name) and (where is None or where(argv))]

    def count(self, cmd):
        with self._lock:
            return self._counts[cmd.upper().encode()]

    def wait_for_command(self, cmd, where=None, timeout=10.0, new=False):
        name = cmd.upper().encode()
        with self._lock:
            since = self._seq if new else 0
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for pc in self._conns.values():
                    if pc.open and any(seq > since and a[0] == name and (where is None or where(a))
                                       for seq, a in zip(pc._seqs, pc.commands)):
                        return pc
            if time.monotonic() > deadline:
                raise TimeoutError(f"no connection sent {cmd} within {timeout}s")
            time.sleep(0.01)

    def close(self):
        self._stop = True
        self._wake()
        self._thread.join(5)
        with self._lock:
            for pc in list(self._conns.values()):
                self._close(pc, rst=False, why="proxy closed")
        for s in (self._listener, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
        self._sel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -------------------------------------------------------

    def _add(self, rule):
        with self._lock:
            self._rules.append(rule)
            self._event(rule.conn, f"rule {rule.action} {rule.cmds} n={rule.left} {rule.params}")
        self._wake()
        return rule

    def _conn_of(self, conn):
        if isinstance(conn, ProxyConn):
            return conn
        return self._conns[conn]

    def _event(self, conn, text):
        cid = conn if isinstance(conn, int) or conn is None else conn.id
        self.events.append((time.monotonic(), cid, text))

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass

    def _run(self):
        while not self._stop:
            timeout = self._next_timer()
            try:
                ready = self._sel.select(timeout)
            except (OSError, ValueError):
                if self._stop:
                    return
                raise
            with self._lock:
                for key, mask in ready:
                    kind, pc = key.data
                    if kind == "listen":
                        self._accept()
                    elif kind == "wake":
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except BlockingIOError:
                            pass
                    elif not pc.open:
                        continue
                    elif kind == "client":
                        if mask & selectors.EVENT_READ:
                            self._from_client(pc)
                        if pc.open and mask & selectors.EVENT_WRITE:
                            self._flush_client(pc)
                    elif kind == "server":
                        if mask & selectors.EVENT_READ:
                            self._from_server(pc)
                        if pc.open and mask & selectors.EVENT_WRITE:
                            self._flush_server(pc)
                for pc in list(self._conns.values()):
                    if pc.open:
                        self._release(pc)
                        self._flush_client(pc)
                        self._flush_server(pc)
                        self._update_interest(pc)

    def _next_timer(self):
        now = time.monotonic()
        t = 0.2
        with self._lock:
            for pc in self._conns.values():
                if pc._replies and pc._replies[0].action == "delay":
                    t = min(t, max(0.0, pc._replies[0].until - now))
                if pc._out and pc._out_rate:
                    t = min(t, max(0.0, pc._next_drip - now))
                if pc._reset_at is not None and not pc._out:
                    t = min(t, max(0.0, pc._reset_at - now))
        return t

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError as e:
                self._event(None, f"upstream connect failed: {e}")
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            for s in (client, server):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pc = ProxyConn(self, self._next_id, client, server)
            self._next_id += 1
            self._conns[pc.id] = pc
            self._sel.register(client, selectors.EVENT_READ, ("client", pc))
            self._sel.register(server, selectors.EVENT_READ, ("server", pc))
            self._event(pc, "open")

    def _from_client(self, pc):
        try:
            data = pc.client.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(pc, rst=False, why="client closed")
            return
        pc._cbuf += data
        if len(pc._cbuf) < pc._cneed:
            return
        # Whole commands go on (so that one can be held back); a stream the
        # proxy cannot parse goes on as it is, for the server to judge.
        while pc._cbuf:
            try:
                argv, used = _parse_command(pc._cbuf)
            except ProtocolError as e:
                self._event(pc, f"client protocol error: {e}")
                pc._to_server += pc._cbuf
                pc._cbuf.clear()
                break
            if argv is None:
                pc._cneed = used
                break
            pc._cneed = 0
            chunk = bytes(pc._cbuf[:used])
            del pc._cbuf[:used]
            if not argv:
                pc._to_server += chunk   # an empty inline line: no reply
                continue
            if not self._note_command(pc, argv):
                pc._to_server += chunk
        self._flush_answers(pc)

    def _note_command(self, pc, argv):
        """Record a command and the replies it expects; 1 if the proxy
        answers it itself (it must not be sent on)."""
        name = argv[0]
        self._seq += 1
        pc.commands.append(argv)
        pc._seqs.append(self._seq)
        pc._counts[name] += 1
        self._counts[name] += 1
        for rule in self._rules:
            if rule.action == "answer" and rule.matches(pc, argv):
                rule.take()
                r = _Reply(rule.params["reply"], argv)
                r.action, r.until = "delay", time.monotonic() + rule.params["delay"]
                pc._pending.append((argv, r))
                self._event(pc, f"answer {name.decode(errors='replace')} instead of Redis")
                return 1
        replies = 1
        if name in (b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"UNSUBSCRIBE", b"PUNSUBSCRIBE"):
            pc.subscribed = True
            replies = max(1, len(argv) - 1)
        for _ in range(replies):
            pc._pending.append((argv, None))
        return 0

    def _flush_answers(self, pc):
        """The proxy's own answers at the head of the line take their place
        among the replies (behind those of earlier commands)."""
        while pc._pending and pc._pending[0][1] is not None:
            pc._replies.append(pc._pending.popleft()[1])

    def _from_server(self, pc):
        try:
            data = pc.server.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            pc._server_eof = True
            self._event(pc, "server closed")
            if not pc._replies and not pc._out:
                self._close(pc, rst=False, why="server closed")
            return
        pc._sbuf += data
        if len(pc._sbuf) < pc._sneed:
            return
        while pc._sbuf:
            try:
                end, need = _resp_end(pc._sbuf, 0)
            except ProtocolError as e:
                self._event(pc, f"server protocol error: {e}")
                # Pass the bytes on unchanged: the client will judge them.
                r = _Reply(bytes(pc._sbuf), [b"?"])
                pc._sbuf.clear()
                pc._replies.append(r)
                return
            if end is None:
                pc._sneed = need
                return
            pc._sneed = 0
            data = bytes(pc._sbuf[:end])
            del pc._sbuf[:end]
            self._frame_reply(pc, data)

    def _frame_reply(self, pc, data):
        first = _first_bulk(data) if (pc.subscribed or data[:1] == b">") else None
        if first in (b"message", b"pmessage", b"smessage") or (data[:1] == b">" and first not in (
                b"subscribe", b"psubscribe", b"ssubscribe", b"unsubscribe", b"punsubscribe")):
            pc._replies.append(_Reply(data, None))   # a push: answers no command
            return
        self._flush_answers(pc)
        argv = pc._pending.popleft()[0] if pc._pending else [b"?"]
        self._reply_log.append((pc.id, argv, data[:REPLY_KEEP]))
        r = _Reply(data, argv)
        for rule in self._rules:
            if rule.action != "answer" and rule.matches(pc, argv):
                rule.take()
                r.rule = rule
                r.action = rule.action
                if rule.action == "delay":
                    r.until = time.monotonic() + rule.params["seconds"]
                self._event(pc, f"{rule.action} reply to {argv[0].decode(errors='replace')} ({len(data)} bytes)")
                break
        pc._replies.append(r)
        self._flush_answers(pc)

    def _release(self, pc):
        """Move framed replies to the client's output as their faults allow."""
        now = time.monotonic()
        while pc.open and pc._replies and pc._reset_at is None:
            if pc.silenced or self._silent_all:
                return
            r = pc._replies[0]
            if r.action == "delay" and now < r.until:
                return
            if r.action == "silence_from":
                pc.silenced = True
                r.action = "pass"
                self._event(pc, "silenced")
                return
            rate = r.rule.params["rate"] if r.action == "drip" else None
            if pc._out and rate != pc._out_rate:
                return   # one rate at a time in _out
            pc._replies.popleft()
            if r.action == "drop":
                then = r.rule.params["then"]
                if then == "silence":
                    pc.silenced = True
                elif then in ("reset", "close"):
                    self._close(pc, rst=then == "reset", why="drop then " + then)
                continue
            if r.action == "reset_mid":
                k = max(1, min(len(r.data) - 1, int(len(r.data) * r.rule.params["fraction"])))
                pc._out += r.data[:k]
                pc._out_rate = None
                pc._reset_at = now + RESET_PAUSE
                pc._reset_rst = r.rule.params["rst"]
                return
            if not pc._out:
                pc._next_drip = now
            pc._out += r.data
            pc._out_rate = rate
        if pc.open and pc._server_eof and not pc._replies and not pc._out and pc._reset_at is None:
            self._close(pc, rst=False, why="server closed")

    def _flush_client(self, pc):
        now = time.monotonic()
        while pc.open and pc._out:
            size = len(pc._out)
            if pc._out_rate:
                if now < pc._next_drip:
                    return
                size = 1 if pc._out_rate < 100 else max(1, int(pc._out_rate * 0.01))
            try:
                n = pc.client.send(pc._out[:size])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(pc, rst=False, why="client send failed")
                return
            del pc._out[:n]
            if pc._out_rate:
                pc._next_drip = now + n / pc._out_rate
                return
        if pc.open and not pc._out and pc._reset_at is not None and now >= pc._reset_at:
            self._close(pc, rst=pc._reset_rst, why="reset mid reply" if pc._reset_rst else "closed mid reply")

    def _flush_server(self, pc):
        while pc.open and pc._to_server:
            try:
                n = pc.server.send(pc._to_server)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(pc, rst=False, why="server send failed")
                return
            del pc._to_server[:n]

    def _update_interest(self, pc):
        if not pc.open:
            return
        self._sel.modify(pc.client, selectors.EVENT_READ | (selectors.EVENT_WRITE if pc._out and not pc._out_rate else 0),
                         ("client", pc))
        self._sel.modify(pc.server, selectors.EVENT_READ | (selectors.EVENT_WRITE if pc._to_server else 0),
                         ("server", pc))

    def _close(self, pc, rst, why):
        if not pc.open:
            return
        pc.open = False
        self._event(pc, f"close ({why})")
        for s in (pc.client, pc.server):
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError, OSError):
                pass
        if rst:
            try:
                pc.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        for s in (pc.client, pc.server):
            try:
                s.close()
            except OSError:
                pass
        self._conns.pop(pc.id, None)
