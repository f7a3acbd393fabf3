"""Issue 15 item 4: the job watches fal's status stream (server-sent events,
GET {status_url}/stream) instead of polling, falls back to polling when the
stream is refused or breaks, and the money path (hedging, cancels, leases)
holds with streams.

The stand-in's stream sends each status change when it happens and can be
switched off ("stream": "off") or cut mid-body ("stream": "break"); its
counters say how many status requests, streams, events and breaks each
endpoint saw. The worker's one "fal.requests" log line per job says what the
job sent and how many connections (TLS handshakes) it made."""
import re
import time

from itest import time_limit, wait_for

from tryon_env import BACKUP, PRIMARY, Env, standin_url, urls


def fal_lines(e):
    """The fal.requests log lines, as dicts of ints/floats."""
    out = []
    for line in e.log().splitlines():
        if "event=fal.requests" in line:
            out.append({k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)})
    return out


@time_limit(60)
def test_stream_is_used_no_polls_one_connection(s):
    e = Env(s)
    e.st.config(PRIMARY, "ok", queue_time=0.2, delay=0.6)
    p, g = urls()
    v, dt = e.run(p, g)
    assert standin_url(v), v
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1}, st["submits"]
    # One status request, and it is the stream; it reported every change.
    assert st["status_streams"] == {PRIMARY: 1}, st["status_streams"]
    assert st["status_polls"] == {PRIMARY: 1}, st["status_polls"]
    assert st["stream_events"] == {PRIMARY: 3}, st["stream_events"]
    assert st["results"] == {PRIMARY: 1}, st["results"]
    # Three requests in all (submit, stream, result) on one connection.
    lines = wait_for(lambda: fal_lines(e), 5, "the fal.requests line")
    n = lines[-1]
    assert (n["submits"], n["polls"], n["streams"], n["results"]) == (1, 0, 1, 1), n
    assert n["stream_events"] == 3 and n["stream_fallbacks"] == 0, n
    assert n["connects"] == 1, n
    # The result came without polling lag: the request ended at the stand-in
    # (queue 0.2 + model 0.6 s) and the task took little more than that.
    assert dt < 0.8 + 0.6, dt


@time_limit(60)
def test_stream_refused_falls_back_to_polling(s):
    e = Env(s)
    e.st.config(PRIMARY, "ok", delay=0.5, stream="off")
    p, g = urls()
    v, _ = e.run(p, g)
    assert standin_url(v), v
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1}, st["submits"]
    assert st["stream_refused"] == {PRIMARY: 1}, st["stream_refused"]
    assert st["status_streams"] == {}, st["status_streams"]
    # One refused stream, then polls (50 ms doubling to 100 ms over 0.5 s).
    assert 3 <= st["status_polls"][PRIMARY] <= 12, st["status_polls"]
    assert "event=fal.stream_refused" in e.log()
    n = wait_for(lambda: fal_lines(e), 5, "the fal.requests line")[-1]
    assert n["streams"] == 1 and n["stream_fallbacks"] == 1 and n["polls"] >= 2, n


@time_limit(60)
def test_stream_refused_once_per_job_then_polls_for_both_models(s):
    # Hedged: the backup does not try the stream the primary was refused.
    e = Env(s, TRYON_HEDGE_AFTER=0.3)
    e.st.config(PRIMARY, "in_queue", stream="off")
    e.st.config(BACKUP, "ok", delay=0.3, stream="off")
    v, _ = e.run(*urls())
    assert standin_url(v), v
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1, BACKUP: 1}, st["submits"]
    assert st["stream_refused"] == {PRIMARY: 1}, st["stream_refused"]
    assert st["cancels"] == {PRIMARY: 1}, st["cancels"]


@time_limit(60)
def test_stream_broken_midway_polling_resumes_no_extra_submit(s):
    e = Env(s)
    e.st.config(PRIMARY, "ok", delay=0.8, stream="break", stream_break_after=1)
    p, g = urls()
    v, dt = e.run(p, g)
    assert standin_url(v), v
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1} and st["accepted"] == {PRIMARY: 1}, st["submits"]
    assert st["stream_breaks"] == {PRIMARY: 1}, st["stream_breaks"]
    assert st["status_streams"] == {PRIMARY: 1}, st["status_streams"]
    # The stream, then polls until COMPLETED (not a second stream).
    assert st["status_polls"][PRIMARY] >= 3, st["status_polls"]
    assert st["results"] == {PRIMARY: 1}, st["results"]
    assert "event=fal.stream_broken" in e.log()
    n = wait_for(lambda: fal_lines(e), 5, "the fal.requests line")[-1]
    assert n["streams"] == 1 and n["stream_fallbacks"] == 1 and n["polls"] >= 2, n
    assert dt < 3, dt


@time_limit(60)
def test_hedge_with_streams_loser_cancelled(s):
    # The money path with streams on both models: the queued primary is
    # hedged, the backup wins, the primary is cancelled (free while queued).
    e = Env(s, TRYON_HEDGE_AFTER=0.5)
    e.st.config(PRIMARY, "in_queue")
    e.st.config(BACKUP, "ok", delay=0.3)
    p, g = urls()
    v, dt = e.run(p, g)
    assert standin_url(v), v
    assert dt < 3, dt
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1, BACKUP: 1}, st["submits"]
    assert st["cancels"] == {PRIMARY: 1}, st["cancels"]
    assert st["cancels_in_queue"] == {PRIMARY: 1}, st["cancels_in_queue"]
    assert st["status_streams"] == {PRIMARY: 1, BACKUP: 1}, st["status_streams"]
    assert st["status_polls"] == {PRIMARY: 1, BACKUP: 1}, st["status_polls"]
    assert "event=tryon.hedge" in e.log()
    n = wait_for(lambda: fal_lines(e), 5, "the fal.requests line")[-1]
    # A second connection for the backup's submit beside the primary's
    # stream (its TLS session resumed), no more.
    assert n["connects"] <= 3, n


@time_limit(60)
def test_cost_mode_running_primary_cancels_queued_hedge(s):
    # Cost mode: once one of a hedged pair runs, the other (still queued)
    # goes. The primary's stream tells when it starts running.
    e = Env(s, TRYON_HEDGE_AFTER=0.3, TRYON_FALLBACK_MODE="cost")
    e.st.config(PRIMARY, "ok", queue_time=0.6, delay=0.4)
    e.st.config(BACKUP, "ok", queue_time=5, delay=0.3)
    v, _ = e.run(*urls())
    assert standin_url(v), v
    st = e.st.stats()
    assert st["submits"] == {PRIMARY: 1, BACKUP: 1}, st["submits"]
    assert st["cancels_in_queue"] == {BACKUP: 1}, st
    assert st["status_streams"].get(PRIMARY) == 1, st["status_streams"]


@time_limit(60)
def test_lease_renewed_while_streaming(s):
    # With a stream there are no polls, yet the concurrency lease (15 s)
    # is still renewed while the request runs.
    e = Env(s, TRYON_MODEL_CONCURRENCY=2)
    e.st.config(PRIMARY, "ok", delay=3.0)
    res = e.send(*urls())
    key = "tryon:model:leases"

    def expiry():
        z = e.cache.zrange(key, 0, -1, withscores=True)
        return z[0][1] if z else None
    first = wait_for(expiry, 5, "a lease")
    time.sleep(2.0)
    later = expiry()
    assert later is not None and later - first >= 900, (first, later)
    v = res.get(timeout=20)
    assert standin_url(v), v
    assert wait_for(lambda: not e.cache.zrange(key, 0, -1), 5, "the lease released")
    assert e.st.stats()["status_streams"] == {PRIMARY: 1}


@time_limit(60)
def test_next_job_resumes_the_tls_session(s):
    # Job children are separate processes: the first makes a full TLS
    # handshake, the next ones offer its session (shared through the
    # worker's anonymous shared mapping) and the server resumes it.
    e = Env(s)
    e.st.config(PRIMARY, "ok", delay=0.05)
    for _ in range(3):
        v, _ = e.run(*urls())
        assert standin_url(v), v
    lines = wait_for(lambda: len(fal_lines(e)) >= 3 and fal_lines(e), 5, "three fal.requests lines")
    first, *rest = lines
    assert first["connects"] == 1 and first["tls_offered"] == 0, first
    for n in rest:
        assert n["connects"] == 1 and n["tls_offered"] == 1 and n["tls_resumed"] == 1, n
