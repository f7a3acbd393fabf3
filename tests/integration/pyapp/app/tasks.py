"""Python Celery tasks used by the integration tests: a real Python worker
shares queues with tryon-worker. Configured like the seed deployment."""
import os
import time

import redis
from celery import Celery

app = Celery("app", broker=os.environ["CELERY_BROKER_URL"],
             backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, task_default_queue="tryon_queue",
                result_expires=3600, broker_connection_retry_on_startup=True)

_r = None


def _executions():
    """A Redis list where Python executions are recorded (db of the broker)."""
    global _r
    if _r is None:
        _r = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    return _r


@app.task(name="app.tasks.virtual_tryon", bind=True)
def virtual_tryon(self, person_url, garment_url):
    _executions().rpush("py_exec", self.request.id)
    return f"https://fal.media/files/python-standin/{self.request.id}.png"


@app.task(name="tryon.test.echo", bind=True)
def echo(self, *args):
    _executions().rpush("py_exec", self.request.id)
    return list(args)


@app.task(name="tryon.test.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds
