"""The try-on's arguments are bound as Python binds them: a call Python
cannot make fails with Python's own TypeError and message, whether the pair
is in the cache (the parent answers) or not (a job runs); a valid call with
keyword arguments succeeds. Through the real Python Celery client with
send_task (delay() would refuse the bad calls client-side), the static
worker, a real redis-server and the HTTPS model API stand-in.

The expected messages are not written here: each comes from calling a local
`def virtual_tryon(person_url, garment_url)` the same way, so the test checks
against this Python (Debian 12: 3.11), the one the seed's workers ran.

Broker, results and cache live in DBs 12/13/14, flushed at the start of each
test."""
import gc
import hashlib
import os
import time
import uuid

import itest
from itest import Standin, Worker, celery_app, time_limit

TASK = "app.tasks.virtual_tryon"
BROKER_DB, RESULT_DB, CACHE_DB = 12, 13, 14
CACHED = "https://fal.media/files/cached/c2-args.png"


def virtual_tryon(person_url, garment_url):
    """The task's signature: the oracle for the binding messages."""
    return None


def python_says(args, kwargs):
    """Python's TypeError message for virtual_tryon(*args, **kwargs)."""
    try:
        virtual_tryon(*args, **kwargs)
    except TypeError as e:
        return str(e)
    raise AssertionError(f"Python binds {args!r} {kwargs!r}")


def urls():
    u = uuid.uuid4().hex[:12]
    return (f"https://img.example.com/person-c2{u}.png",
            f"https://img.example.com/garment-c2{u}.png")


def cache_key(p, g):
    return "tryon:" + hashlib.sha256(f"{p}|{g}".encode()).hexdigest()[:16]


def bad_calls(p, g):
    """(args, kwargs): the four bad calls, each carrying the valid pair p, g
    where it can (so a decoder that ignored the fault would find it in the
    cache), and a few more forms."""
    return [
        ([p, g], {"extra": 1}),                              # unexpected keyword
        ([p], {"person_url": p, "garment_url": g}),          # a value given twice
        ([p, g, "x"], {}),                                   # too many positional
        ([p], {}),                                           # missing
        ([], {}),                                            # both missing
        ([p, g, "x"], {"garment_url": g}),                   # twice, before the count
        ([p, g], {"\u00e9t\u00e9": 1}),                      # a non-ASCII name, as str() shows it
        ([], {"garment_url": g, "person_url": p, "extra": 1}),
    ]


class Env:
    """One test's world: stand-in, one worker, client app."""

    def __init__(self, s):
        self.s = s
        self.r = s.redis()
        for db in (BROKER_DB, RESULT_DB, CACHE_DB):
            self.r.client(db).flushdb()
        self.st = Standin(s, model_time=0.2)
        self.cache = self.r.client(CACHE_DB)
        env = itest.worker_env(s, self.r, broker_db=BROKER_DB, result_db=RESULT_DB,
                               FAL_QUEUE_URL=self.st.base, TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"),
                               FAL_KEY=itest.FAL_KEY, REDIS_CACHE_URL=self.r.url(CACHE_DB),
                               TRYON_SOFT_TIME_LIMIT=5, TRYON_TIME_LIMIT=8, TRYON_RETRY_COUNTDOWN=0.2)
        self.worker = Worker(s, env)
        self.app = celery_app(self.r.url(BROKER_DB), self.r.url(RESULT_DB))
        self.sent = []
        s.procs_test.append(self)

    def stop(self):
        """Drop the client's pending results while redis is up (see
        test_c_tryon.Env.stop)."""
        for res in self.sent:
            try:
                res.forget()
                res.backend.remove_pending_result(res)
            except Exception:  # noqa: BLE001 - best effort
                pass
        self.sent.clear()
        pending = getattr(self.app.backend, "_pending_messages", None)
        if pending is not None:
            pending.clear()
        self.app.close()
        gc.collect()

    def send(self, args, kwargs):
        res = self.app.send_task(TASK, args=args, kwargs=kwargs, queue="tryon_queue")
        self.sent.append(res)
        return res

    def outcome(self, res, timeout=15):
        """(state, value or exception without its traceback)."""
        try:
            v = res.get(timeout=timeout)
        except Exception as e:  # noqa: BLE001 - the task's exception is the value
            v = e.with_traceback(None)
        return res.state, v

    def submits(self):
        return sum(self.st.stats()["submits"].values())


def check_type_errors(e, calls):
    """Every call fails with Python's TypeError and message, not retried."""
    sent = [(a, k, e.send(a, k)) for a, k in calls]
    wrong = []
    for a, k, res in sent:
        state, v = e.outcome(res)
        want = python_says(a, k)
        if not (state == "FAILURE" and type(v) is TypeError and str(v) == want):
            wrong.append((a, k, state, repr(v), want))
    assert not wrong, wrong
    # Final: no retry comes after (RETRY_COUNTDOWN is 0.2 s).
    time.sleep(0.5)
    assert all(res.state == "FAILURE" for _, _, res in sent), [res.state for _, _, res in sent]


@time_limit(60)
def test_bad_calls_type_error_on_a_miss(s):
    e = Env(s)
    p, g = urls()
    check_type_errors(e, bad_calls(p, g))
    assert e.submits() == 0, e.st.stats()["submits"]
    assert e.cache.get(cache_key(p, g)) is None


@time_limit(60)
def test_bad_calls_type_error_on_a_hit(s):
    e = Env(s)
    p, g = urls()
    e.cache.set(cache_key(p, g), CACHED, ex=600)
    # The pair is cached: a valid call is answered from it.
    state, v = e.outcome(e.send([p, g], {}))
    assert (state, v) == ("SUCCESS", CACHED), (state, v)
    check_type_errors(e, bad_calls(p, g))
    assert e.submits() == 0, e.st.stats()["submits"]


@time_limit(60)
def test_keyword_and_mixed_calls_succeed_on_a_miss(s):
    e = Env(s)
    p, g = urls()
    state, v = e.outcome(e.send([], {"person_url": p, "garment_url": g}))
    assert state == "SUCCESS" and isinstance(v, str) and v.startswith("https://fal.media/files/standin/"), (state, v)
    assert e.submits() == 1
    assert e.cache.get(cache_key(p, g)).decode() == v
    # Keywords in the other order, and a positional plus a keyword, are the
    # same call: the same key, now a hit.
    for a, k in (([], {"garment_url": g, "person_url": p}), ([p], {"garment_url": g})):
        assert e.outcome(e.send(a, k)) == ("SUCCESS", v), (a, k)
    p2, g2 = urls()
    state, v2 = e.outcome(e.send([p2], {"garment_url": g2}))
    assert state == "SUCCESS" and v2 != v and e.cache.get(cache_key(p2, g2)).decode() == v2, (state, v2)
    assert e.submits() == 2, e.st.stats()["submits"]


@time_limit(60)
def test_keyword_call_succeeds_on_a_hit(s):
    e = Env(s)
    p, g = urls()
    e.cache.set(cache_key(p, g), CACHED, ex=600)
    for a, k in (([], {"person_url": p, "garment_url": g}), ([p], {"garment_url": g})):
        assert e.outcome(e.send(a, k)) == ("SUCCESS", CACHED), (a, k)
    assert e.submits() == 0, e.st.stats()["submits"]


@time_limit(60)
def test_bad_values_stay_value_errors(s):
    # Bound calls with values the task refuses: ValueError, as before.
    e = Env(s)
    p, g = urls()
    e.cache.set(cache_key(p, g), CACHED, ex=600)
    cases = [(([p, 42], {}), "garment_url: must be a string"),
             (([], {"person_url": None, "garment_url": g}), "person_url: must be a string"),
             (([p, "ftp://example.com/g.png"], {}), "garment_url must be an absolute https:// or http:// URL")]
    sent = [(e.send(a, k), want) for (a, k), want in cases]
    for res, want in sent:
        state, v = e.outcome(res)
        assert state == "FAILURE" and type(v) is ValueError and str(v).startswith(want), (state, repr(v), want)
    assert e.submits() == 0
