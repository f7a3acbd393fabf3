"""Issue 12 item 4: three worker hosts against one broker over a real
network. Network namespaces made by the test (tests/lib/netns.py): a hub
holding the bridge, redis-server and the model API stand-in, and one
namespace per node running one tryon-worker (plus a relay that gives it
the stand-in as https://localhost:8443). The unchanged Python Celery client
talks to the same redis-server through its Unix socket (the filesystem is
shared across network namespaces), so the test needs no address in the
host's namespace.

Recovery bound (src/worker/maint.c, docs/CONFIG.md "Keys tryon-worker adds
to the broker"): a node's alive key lives 15 s and is refreshed every 5 s;
every other node's maintenance child looks for expired ones every 5 s and
requeues what the dead node held. A node silent from t is therefore
recovered by t + 15 + 5 (+ the length of one maintenance run); its tasks
then run again. Neither period is configurable, so the test uses them as
they are (docs/OPERATIONS.md promises "within 30 s")."""
import gc
import json
import os
import re
import sys
import time
import traceback

import itest
import netns
from itest import time_limit, wait_for

PW = itest.REDIS_PASSWORD
BROKER_DB, RESULT_DB, CACHE_DB = 4, 5, 9
STANDIN_PORT = 8443
N_NODES = 3
SLOTS = 2
ALIVE_TTL, MAINT_EVERY = 15.0, 5.0          # src/worker/maint.c
SLEEP = 3                                    # seconds of each held task
# From the cut (or the kill) to the held tasks' results: the alive key
# expires within ALIVE_TTL, the next maintenance run sees it within
# MAINT_EVERY, the requeued tasks run SLEEP s; 3 s for one maintenance run,
# the fetch and the result on a 2-core machine under load.
RECOVERY_BOUND = ALIVE_TTL + MAINT_EVERY + SLEEP + 3
TRYON = "app.tasks.virtual_tryon"


def node_name(i):
    return f"celery@node-{i}"


def log_ids(text, event):
    """Task ids of the lines `event=<event> task=... id=<id>` in a log."""
    return re.findall(rf"event={re.escape(event)} task=\S+ id=([0-9a-f-]+)", text)


class Cluster:
    """The lab's processes, all started through the Session (stopped by
    PID) and listed here so that the finally block can stop them before the
    namespaces go."""

    def __init__(self, s, lab):
        self.s, self.lab, self.procs = s, lab, []
        self.sock = os.path.join(s.tmp, f"n1-redis-{os.getpid()}.sock")
        self.workers = []

    def start(self, name, ns, argv, env=None):
        p = self.s.start(name, self.lab.exec_args(ns, argv), env=env)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                t0 = time.monotonic()
                p.stop(10)
                if time.monotonic() - t0 > 2:
                    print(f"    stopping {p.name} took {time.monotonic() - t0:.1f}s")
            except Exception as e:  # noqa: BLE001 - go on stopping the others
                print(f"    stopping {p.name} (pid {p.pid}): {e!r}")

    # -- the hub: redis-server and the stand-in
    def start_redis(self):
        d = os.path.join(self.s.tmp, f"n1-redis-{os.getpid()}")
        os.makedirs(d, exist_ok=True)
        self.redis = self.start("n1-redis", self.lab.hub, [
            "redis-server", "--bind", netns.HUB_ADDR, "--port", "6379", "--unixsocket", self.sock,
            "--unixsocketperm", "700", "--requirepass", PW, "--dir", d, "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
            env=self.s.base_env())
        wait_for(self._ping, 10, "redis-server in the hub namespace")

    def _ping(self):
        try:
            return self.client(0).ping()
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def client(self, db):
        import redis
        return redis.Redis(unix_socket_path=self.sock, password=PW, db=db, socket_timeout=10)

    def start_standin(self):
        ca = self.s.ca()
        port_file = os.path.join(self.s.tmp, f"n1-standin-{os.getpid()}.port")
        self.start("n1-standin", self.lab.hub, [
            itest.PYTHON, os.path.join(itest.LIB, "netns.py"), "standin", "0.0.0.0",
            "--port", str(STANDIN_PORT), "--cert", os.path.join(ca, "server-ec.pem"),
            "--key", os.path.join(ca, "server-ec.key"), "--key-required", itest.FAL_KEY,
            "--port-file", port_file, "--model-time", "0.3"], env=self.s.base_env())
        wait_for(lambda: os.path.exists(port_file), 10, "the stand-in in the hub namespace")

    # -- the nodes: a relay to the stand-in and a worker
    def start_node(self, i):
        ns = self.lab.nodes[i]
        relay = self.start(f"n1-relay{i}", ns, [itest.PYTHON, os.path.join(itest.LIB, "netns.py"), "relay",
                                                str(STANDIN_PORT), netns.HUB_ADDR, str(STANDIN_PORT)],
                           env=self.s.base_env())
        wait_for(lambda: "relay 127.0.0.1" in relay.stderr_text() or not relay.alive(), 10, f"relay {i}")
        assert relay.alive(), relay.stderr_text()
        url = f"redis://:{itest.quote_pw(PW)}@{netns.HUB_ADDR}:6379"
        env = self.s.base_env(
            CELERY_BROKER_URL=f"{url}/{BROKER_DB}", CELERY_RESULT_BACKEND=f"{url}/{RESULT_DB}",
            REDIS_CACHE_URL=f"{url}/{CACHE_DB}", FAL_QUEUE_URL=f"https://localhost:{STANDIN_PORT}",
            TRYON_CA_FILE=os.path.join(self.s.ca(), "ca.pem"), FAL_KEY=itest.FAL_KEY,
            TRYON_HOSTNAME=node_name(i), TRYON_CONCURRENCY=SLOTS, TRYON_ENABLE_TEST_TASKS=1,
            TRYON_SOFT_TIME_LIMIT=8, TRYON_TIME_LIMIT=12, TRYON_RETRY_COUNTDOWN=0.5,
            TRYON_HTTP_ADDR="127.0.0.1:9808")
        w = self.start(f"n1-node{i}", ns, [itest.BINARY, "worker"], env=env)
        self.workers.append(w)
        return w

    def wait_ready(self, w, timeout=20):
        wait_for(lambda: "event=worker.ready" in w.stderr_text() or not w.alive(), timeout, f"{w.name} ready")
        assert w.alive(), f"{w.name} died:\n{w.stderr_text()[-3000:]}"

    def logs(self):
        return [w.stderr_text() for w in self.workers]

    def node_of_started(self, ids):
        """{task id: node index} for the ids some node logged as started."""
        found = {}
        for i, text in enumerate(self.logs()):
            for tid in log_ids(text, "task.started"):
                if tid in ids:
                    found[tid] = i
        return found

    def all_started(self, ids):
        """{task id: node index} once every id has started somewhere, else None."""
        found = self.node_of_started(ids)
        return found if len(found) == len(ids) else None

    def meta(self, tid):
        return self.client(RESULT_DB).get(f"celery-task-meta-{tid}")


def succeeded(meta):
    return meta is not None and json.loads(meta)["status"] == "SUCCESS"


@time_limit(150)
def test_three_hosts_spread_cutoff_rejoin_and_kill(s):
    why = netns.unavailable()
    if why:
        raise itest.Skip(f"network namespaces unavailable here: {why}")
    lab = netns.Lab(N_NODES)
    cl = Cluster(s, lab)
    t0 = time.monotonic()
    try:
        scenario(s, lab, cl)
    finally:
        # The scenario's results must let go of their Redis while it still
        # runs (a failure's traceback keeps its frame: clear it).
        e = sys.exc_info()[1]
        if e is not None:
            traceback.clear_frames(e.__traceback__)
        gc.collect()
        itest.release_celery_apps()
        cl.stop_all()
        errors = lab.close()
        print(f"    with set-up and clean-up: {time.monotonic() - t0:.1f}s")
        if errors and e is None:
            raise AssertionError(f"clean-up left: {errors}")
        if errors:
            print(f"    clean-up left: {errors}")


def scenario(s, lab, cl):
    t_start = time.monotonic()
    lab.up()
    cl.start_redis()
    cl.start_standin()
    for i in range(N_NODES):
        cl.start_node(i)
    for w in cl.workers:
        cl.wait_ready(w)
    bdb = cl.client(BROKER_DB)
    sock_url = f"redis+socket://:{itest.quote_pw(PW)}@{cl.sock}?virtual_host="
    app = itest.celery_app(sock_url + str(BROKER_DB), sock_url + str(RESULT_DB))
    print(f"    lab up, 3 nodes ready: {time.monotonic() - t_start:.1f}s")

    # (a) Try-ons (model API stand-in across the lab network) spread
    # over all three nodes.
    tasks = [app.send_task(TRYON, args=[f"https://img.example.com/p{k}-{os.getpid()}.png",
                                        f"https://img.example.com/g{k}.png"], queue="tryon_queue")
             for k in range(24)]
    for t in tasks:
        v = t.get(timeout=30)
        assert isinstance(v, str) and v.startswith("https://fal.media/files/standin/"), v
    per_node = [len(set(log_ids(text, "task.succeeded")) & {t.id for t in tasks}) for text in cl.logs()]
    print(f"    (a) 24 try-ons per node: {per_node}")
    assert sum(per_node) == 24, per_node
    assert all(n >= 1 for n in per_node), f"a node took no task: {per_node}"

    # (b) Every slot busy: each node holds exactly SLOTS sleep tasks.
    held = [app.send_task("tryon.test.sleep", args=[SLEEP], queue="tryon_queue")
            for _ in range(N_NODES * SLOTS)]
    ids = {t.id for t in held}
    where = wait_for(lambda: cl.all_started(ids), 15, "all slots to start a sleep task")
    assert sorted(where.values()) == sorted(list(range(N_NODES)) * SLOTS), where
    cut_ids = [tid for tid, n in where.items() if n == 0]
    a = cl.workers[0]
    alive_a = f"tryon-worker.alive.{node_name(0)}"
    lab.cut(0)
    t_cut = time.monotonic()
    assert not lab.link_up(0)
    # The others keep serving while node 0 is away.
    more = [app.send_task("tryon.test.echo", args=[k], queue="tryon_queue") for k in range(4)]
    assert [m.get(timeout=SLEEP + 10) for m in more] == [[k] for k in range(4)]
    wait_for(lambda: all(succeeded(cl.meta(tid)) for tid in cut_ids), RECOVERY_BOUND + 5,
             "node 0's held tasks to be recovered and stored by the others", interval=0.2)
    took = time.monotonic() - t_cut
    print(f"    (b) cut-off node's {len(cut_ids)} tasks SUCCESS via the others {took:.1f}s after the cut "
          f"(bound {RECOVERY_BOUND:.0f}s)")
    assert took <= RECOVERY_BOUND, took
    assert a.alive(), "node 0 must only be cut off, not dead"
    assert not bdb.exists(alive_a)
    logs = cl.logs()
    assert any(f"event=node.dead node={node_name(0)}" in logs[j] for j in (1, 2)), "no node.dead for node 0"
    for tid in cut_ids:
        assert sum(tid in log_ids(logs[j], "task.succeeded") for j in (1, 2)) == 1, tid
    # Node 0's own children ran to the end while it was cut off: it has
    # results it could not write.
    wait_for(lambda: all(tid in log_ids(a.stderr_text(), "task.succeeded") for tid in cut_ids), 5,
             "node 0's children to finish while cut off")
    stored = {tid: cl.meta(tid) for tid in cut_ids}

    # (c) Link back: node 0 sends its FINISH for those tasks (seen by
    # MONITOR, from its address), the stored SUCCESS stays the one the
    # recovering node wrote, and node 0 serves again.
    mon = s.start("n1-monitor", ["redis-cli", "-s", cl.sock, "monitor"], env=s.base_env(REDISCLI_AUTH=PW))
    cl.procs.append(mon)
    wait_for(lambda: mon.stdout_text().startswith("OK"), 5, "MONITOR to start")
    lab.heal(0)
    t_heal = time.monotonic()
    me = netns.node_addr(0) + ":"

    def finish_sent(tid):
        """The date_done of the result node 0 tried to store for tid after
        the link came back (its FINISH, as MONITOR shows it), or None."""
        for ln in mon.stdout_text().split("\n")[:-1]:   # whole lines only
            if me in ln and f"celery-task-meta-{tid}" in ln and ln.split('"')[1].lower() in ("evalsha", "eval"):
                m = re.search(r'date_done\\": \\"([0-9T:.-]+)', ln)
                return m.group(1) if m else "?"
        return None

    wait_for(lambda: bdb.exists(alive_a), 30, "node 0's heartbeat after the link came back", interval=0.2)
    wait_for(lambda: all(finish_sent(tid) for tid in cut_ids), 30,
             "node 0 to try its FINISH for the tasks it ran while cut off", interval=0.2)
    rejoin = time.monotonic() - t_heal
    mon.stop()
    for tid in cut_ids:
        now = cl.meta(tid)
        assert now == stored[tid], f"{tid}: stored SUCCESS overwritten:\n{stored[tid]}\n{now}"
        # What node 0 sent was its own run's result (another date_done).
        assert finish_sent(tid) not in (None, "?", json.loads(now)["date_done"]), (finish_sent(tid), now)
    assert bdb.hlen("unacked") == 0 and bdb.scard(f"tryon-worker.held.{node_name(0)}") == 0
    print(f"    (c) node 0 back {rejoin:.1f}s after the link: FINISH refused, stored results unchanged")
    assert a.alive()

    # (d) Rejoined: node 0 takes its share again; then node 2 is SIGKILLed
    # holding tasks and the others recover them as before.
    held2 = [app.send_task("tryon.test.sleep", args=[SLEEP], queue="tryon_queue")
             for _ in range(N_NODES * SLOTS)]
    ids2 = {t.id for t in held2}
    where2 = wait_for(lambda: cl.all_started(ids2), 15, "all slots (node 0's too) to start a sleep task")
    assert sorted(where2.values()) == sorted(list(range(N_NODES)) * SLOTS), where2
    killed_ids = [tid for tid, n in where2.items() if n == 2]
    cl.workers[2].kill()
    t_kill = time.monotonic()
    wait_for(lambda: all(succeeded(cl.meta(tid)) for tid in killed_ids), RECOVERY_BOUND + 5,
             "the killed node's tasks to be recovered", interval=0.2)
    took_kill = time.monotonic() - t_kill
    print(f"    (d) killed node's {len(killed_ids)} tasks SUCCESS via the others {took_kill:.1f}s after SIGKILL")
    assert took_kill <= RECOVERY_BOUND, took_kill
    logs = cl.logs()
    assert any(f"event=node.dead node={node_name(2)}" in logs[j] for j in (0, 1))
    for t in held + held2:
        assert succeeded(cl.meta(t.id)), t.id
    wait_for(lambda: bdb.hlen("unacked") == 0, 10, "nothing left unacked")
    for i in range(N_NODES):
        assert bdb.llen(f"tryon-worker.inflight.{node_name(i)}") == 0
        assert bdb.scard(f"tryon-worker.held.{node_name(i)}") == 0
    assert bdb.llen("tryon-worker.dead") == 0
    assert cl.workers[0].alive() and cl.workers[1].alive()
    assert not s.secrets_found([p.out_path for p in cl.procs if p is not mon] +
                               [p.err_path for p in cl.procs]), "a secret in the output"
    print(f"    total {time.monotonic() - t_start:.1f}s")
