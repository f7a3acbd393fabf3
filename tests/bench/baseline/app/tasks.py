"""The Python baseline for the benchmark (tests/bench/bench.py): the try-on
task the way the seed deployment runs it, written plainly. Debian's Celery
5.2.6, redis-py for the cache, python3-requests for the model API.

Same logic as tryon-worker's app.tasks.virtual_tryon, no handicaps:
- cache: key "tryon:" + sha256(person_url + "|" + garment_url)[:16], GET
  before, SETEX 86400 after; a cache that is down is skipped;
- miss: fal's queue API like fal_client.subscribe(): submit, poll the
  status every 0.1 s, GET the result; Flux first, FASHN if Flux fails;
- both fail: the exception, retried once after 1 s (max_retries=1);
- TLS verified against REQUESTS_CA_BUNDLE (the bench's test CA);
- one HTTP session and one cache client per pool process (keep-alive
  connections are reused across tasks, as fal_client's httpx client does).

Settings are the seed's: JSON, acks_late, reject_on_worker_lost, prefetch
multiplier 1, result_expires 3600, max_tasks_per_child 100, time limits
30 s hard / 25 s soft, visibility_timeout 3600.

Knobs for time-scaled runs (tests/bench/bench_day.py), the seed's values by
default: BASELINE_SOFT_LIMIT (25), BASELINE_HARD_LIMIT (30) and
BASELINE_RETRY_COUNTDOWN (1), in seconds. (The prefork pool on the event
loop arms one timer per task for its limits, so scaled limits fire on time.)"""
import hashlib
import os
import socket
import time

import redis
import requests
from celery import Celery

SOFT_LIMIT = float(os.environ.get("BASELINE_SOFT_LIMIT", "25"))
HARD_LIMIT = float(os.environ.get("BASELINE_HARD_LIMIT", "30"))
RETRY_COUNTDOWN = float(os.environ.get("BASELINE_RETRY_COUNTDOWN", "1"))

app = Celery("app", broker=os.environ["CELERY_BROKER_URL"],
             backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    task_acks_late=True, task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1, task_default_queue="tryon_queue",
    result_expires=3600, worker_max_tasks_per_child=100,
    task_time_limit=HARD_LIMIT, task_soft_time_limit=SOFT_LIMIT,
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_retry_on_startup=True)

FAL_QUEUE_URL = os.environ.get("FAL_QUEUE_URL", "https://queue.fal.run").rstrip("/")
PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"
PROMPT = "A person wearing the garment, virtual try-on"
CACHE_TTL = 86400
POLL_INTERVAL = 0.1            # fal_client.subscribe()'s default
HTTP_TIMEOUT = (30, 120)       # fal_client: httpx.Timeout(120, connect=30)

_cache = (redis.Redis.from_url(os.environ["REDIS_CACHE_URL"], socket_timeout=5,
                               socket_connect_timeout=5)
          if os.environ.get("REDIS_CACHE_URL") else None)
_http = requests.Session()
_http.headers["Authorization"] = "Key " + os.environ.get("FAL_KEY", "")


def cache_key(person_url, garment_url):
    digest = hashlib.sha256(f"{person_url}|{garment_url}".encode()).hexdigest()
    return "tryon:" + digest[:16]


def run_model(endpoint, arguments):
    """fal_client.subscribe(endpoint, arguments): the image URL, or raises."""
    r = _http.post(f"{FAL_QUEUE_URL}/{endpoint}", json=arguments, timeout=HTTP_TIMEOUT)
    r.raise_for_status()
    handle = r.json()
    while True:
        r = _http.get(handle["status_url"], params={"logs": "false"}, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        status = r.json()["status"]
        if status == "COMPLETED":
            break
        if status not in ("IN_QUEUE", "IN_PROGRESS"):
            raise ValueError(f"Unknown status: {status}")
        time.sleep(POLL_INTERVAL)
    r = _http.get(handle["response_url"], timeout=HTTP_TIMEOUT)
    r.raise_for_status()
    return r.json()["images"][0]["url"]


@app.task(name="app.tasks.virtual_tryon", bind=True, max_retries=1, default_retry_delay=1)
def virtual_tryon(self, person_url, garment_url):
    key = cache_key(person_url, garment_url)
    if _cache is not None:
        try:
            hit = _cache.get(key)
            if hit:
                return hit.decode()
        except redis.RedisError:
            pass                      # the cache is down: go on without it
    try:
        url = run_model(PRIMARY, {"image_urls": [person_url, garment_url], "prompt": PROMPT,
                                  "guidance_scale": 2.5, "num_inference_steps": 40})
    except Exception:  # noqa: BLE001 - any failure of the primary: the backup
        try:
            url = run_model(BACKUP, {"model_image": person_url, "garment_image": garment_url})
        except Exception as exc:  # noqa: BLE001 - both failed: retry once
            raise self.retry(exc=exc, countdown=RETRY_COUNTDOWN)
    if _cache is not None:
        try:
            _cache.setex(key, CACHE_TTL, url)
        except redis.RedisError:
            pass
    return url


@app.task(name="app.tasks.health_check")
def health_check():
    return {"status": "ok", "hostname": socket.gethostname()}
