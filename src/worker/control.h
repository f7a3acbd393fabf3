/* control: Celery remote control (pidbox) for the worker. Answers commands
 * received on a dedicated pub/sub connection (ping, inspect, revoke and
 * terminate, shutdown, events on/off, heartbeat); replies go out at once on
 * the command connection, never queued behind tasks, so `celery inspect
 * ping` answers under full load. A shutdown only sets drain_requested: the
 * loop starts the drain. Calls worker/dispatch, worker/jobs, worker/events. */
#ifndef TRYON_WORKER_CONTROL_H
#define TRYON_WORKER_CONTROL_H
#include "redis/redis_conn.h"
#include "redis/resp.h"

/* redis_conn callbacks of the pub/sub connection (arg: the worker). */
void control_on_pubsub_ready(struct redis_conn *c, void *arg);
void control_on_message(struct redis_conn *c, struct resp_value *msg, void *arg);
#endif
