#!/usr/bin/python3
"""client.py: the Python Celery client of the deploy checks, configured like
the app server (Debian's python3-celery). Reads CELERY_BROKER_URL and
CELERY_RESULT_BACKEND; never prints them (they hold the password).

  client.py health [TIMEOUT]
      app.tasks.health_check; prints its result as JSON; exit 0 when the
      worker answered "ok" with broker and results reachable.
  client.py drain SECONDS -- STOP_COMMAND...
      sends tryon.test.sleep(SECONDS), waits until `inspect active` shows
      it running, runs STOP_COMMAND (podman stop, systemctl stop, ...), then
      reads the task's result. Prints one JSON object: stop_rc,
      stop_seconds, state, result, waited (how long the job had run when the
      stop began). Exit 0 when the stop returned 0 after the job finished
      and the result is SUCCESS with the slept time.
"""
import json
import subprocess
import sys
import time


def app():
    import os
    from celery import Celery
    a = Celery("app", broker=os.environ["CELERY_BROKER_URL"],
               backend=os.environ["CELERY_RESULT_BACKEND"])
    a.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                  task_acks_late=True, worker_prefetch_multiplier=1,
                  task_default_queue="tryon_queue", result_expires=3600,
                  broker_connection_retry_on_startup=True)
    return a


def health(timeout=20.0):
    a = app()
    r = a.send_task("app.tasks.health_check", queue="tryon_queue")
    try:
        v = r.get(timeout=timeout)
    except Exception as e:  # noqa: BLE001 - report any failure as text
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1
    finally:
        a.close()
    print(json.dumps(v, sort_keys=True))
    ok = (isinstance(v, dict) and v.get("status") == "ok" and v.get("broker_reachable")
          and v.get("result_backend_reachable"))
    return 0 if ok else 1


def drain(seconds, stop_cmd):
    a = app()
    r = a.send_task("tryon.test.sleep", args=[seconds], queue="tryon_queue")
    t_sent = time.monotonic()
    out = {}
    try:
        deadline = t_sent + 20
        while True:
            active = a.control.inspect(timeout=1.0).active() or {}
            if any(t.get("id") == r.id for ts in active.values() for t in ts):
                break
            if time.monotonic() > deadline:
                print(json.dumps({"error": "the job never showed in inspect active"}))
                return 1
        waited = time.monotonic() - t_sent
        t0 = time.monotonic()
        p = subprocess.run(stop_cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        out.update(stop_rc=p.returncode, stop_seconds=round(time.monotonic() - t0, 1),
                   waited=round(waited, 1),
                   stop_output=(p.stdout + p.stderr).decode("utf-8", "replace")[-500:])
        try:
            out["result"] = r.get(timeout=5)
        except Exception as e:  # noqa: BLE001 - report any failure as text
            out["error"] = f"{type(e).__name__}: {e}"
        out["state"] = r.state
    finally:
        a.close()
    print(json.dumps(out, sort_keys=True))
    ok = (out.get("stop_rc") == 0 and out.get("state") == "SUCCESS"
          and out.get("result") == seconds
          and out["waited"] + out["stop_seconds"] >= seconds * 0.9)
    return 0 if ok else 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "health":
        return health(float(argv[2]) if len(argv) > 2 else 20.0)
    if len(argv) >= 5 and argv[1] == "drain" and argv[3] == "--":
        return drain(float(argv[2]) if "." in argv[2] else int(argv[2]), argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
