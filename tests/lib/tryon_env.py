"""tryon_env: one try-on test's world (HTTPS stand-in, worker(s), the real
Python Celery client, broker/results/cache DBs of the session's Redis),
shared by the try-on integration tests."""
import os
import time
import uuid

import itest
from itest import Standin, Worker, celery_app, worker_env

PRIMARY = "fal-ai/flux-2-lora-gallery/virtual-tryon"
BACKUP = "fal-ai/fashn/tryon/v1.6"
TASK = "app.tasks.virtual_tryon"
BROKER_DB, RESULT_DB, CACHE_DB = 7, 8, 9


def urls(tag=""):
    u = uuid.uuid4().hex[:12]
    return (f"https://img.example.com/person-{tag}{u}.png",
            f"https://img.example.com/garment-{tag}{u}.png")


class Env:
    """One test's world: stand-in, worker(s), client app."""

    def __init__(self, s, cache="shared", model_time=0.3, workers=1, fal_key=itest.FAL_KEY,
                 standin=None, **extra):
        self.s = s
        self.r = s.redis()
        for db in (BROKER_DB, RESULT_DB, CACHE_DB):
            self.r.client(db).flushdb()
        self.st = standin or Standin(s, model_time=model_time)
        if cache == "shared":
            self.cache_url = self.r.url(CACHE_DB)
            self.cache = self.r.client(CACHE_DB)
        elif cache is None:
            self.cache_url = None
            self.cache = None
        else:                      # a private itest.Redis
            self.cache_url = cache.url(0)
            self.cache = cache.client(0)
        opts = dict(FAL_QUEUE_URL=self.st.base, TRYON_CA_FILE=os.path.join(s.ca(), "ca.pem"),
                    FAL_KEY=fal_key, REDIS_CACHE_URL=self.cache_url,
                    TRYON_SOFT_TIME_LIMIT=5, TRYON_TIME_LIMIT=8, TRYON_RETRY_COUNTDOWN=0.5,
                    TRYON_HEDGE_AFTER=1)
        opts.update(extra)
        self.env = worker_env(s, self.r, broker_db=BROKER_DB, result_db=RESULT_DB, **opts)
        self.workers = [Worker(s, self.env, name=f"worker{i}") for i in range(workers)]
        self.app = celery_app(self.r.url(BROKER_DB), self.r.url(RESULT_DB))

    def send_task(self, *args, **kw):
        return self.app.send_task(*args, **kw)

    def send(self, person, garment, kwargs=False):
        if kwargs:
            return self.send_task(TASK, kwargs={"person_url": person, "garment_url": garment},
                                  queue="tryon_queue")
        return self.send_task(TASK, args=[person, garment], queue="tryon_queue")

    def run(self, person, garment, timeout=20, **kw):
        """(result or exception, seconds)."""
        t0 = time.monotonic()
        res = self.send(person, garment, **kw)
        try:
            v = res.get(timeout=timeout)
        except Exception as e:  # noqa: BLE001 - the task's exception is the value
            # Without its traceback: a frame cycle would keep the result
            # alive until exit, when its backend's redis is gone.
            v = e.with_traceback(None)
        return v, time.monotonic() - t0

    def log(self):
        return "".join(w.log() for w in self.workers)

    def submits(self, ep=None):
        c = self.st.stats()["submits"]
        return c.get(ep, 0) if ep else sum(c.values())

    def cancels(self, ep):
        return self.st.stats()["cancels"].get(ep, 0)

    def accepted(self, ep=None):
        c = self.st.stats()["accepted"]
        return c.get(ep, 0) if ep else sum(c.values())


def standin_url(v):
    return isinstance(v, str) and v.startswith("https://fal.media/files/standin/")
