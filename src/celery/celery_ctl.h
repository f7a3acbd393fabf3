/* celery_ctl: Celery remote control (pidbox) as it crosses Redis (Celery
 * 5.2.6 / kombu 5.2.4): parse a control request, decide whether it addresses
 * this node, dispatch it by method (the replies' values are celery_inspect's
 * and celery_control_cmds'), and build the reply envelope and where it goes.
 * Pure: no I/O, no clock, no randomness, no globals; callers pass times,
 * Lamport clock values, pids and delivery tags. */
#ifndef TRYON_CELERY_CTL_H
#define TRYON_CELERY_CTL_H
#include <stddef.h>
#include <stdint.h>

#include "celery/celery_control_cmds.h"
#include "celery/celery_inspect.h"
#include "celery/kombu.h"
#include "lib/buf.h"
#include "lib/json.h"

#define CELERY_CTL_EXCHANGE "celery.pidbox"

/* ---- names ------------------------------------------------------------ */

/* Append the channel the worker PSUBSCRIBEs for control requests:
 * "/<db>.celery.pidbox" (kombu's fanout prefix "/{db}."). db < 0: the
 * prefix left unformatted, "/{db}.celery.pidbox", as kombu 5.2.4's
 * Sentinel channel sends it (its _get_pool never formats the prefix), so
 * a sentinel:// broker's clients reach us. 0 or -1. */
int celery_ctl_channel(struct buf *out, int db);

/* ---- requests --------------------------------------------------------- */

/* A parsed control request. Every char * is a malloc'd NUL-terminated copy
 * owned by the struct (NULL when absent or JSON null); body is the decoded
 * body text (owned) and doc tokenizes it (owned, borrows body). Release with
 * celery_ctl_request_free. */
struct celery_ctl_request {
	char *method;
	char *ticket;            /* NULL for casts and ticketless calls */
	int has_reply;           /* reply_to present: a call, send a reply */
	char *reply_exchange;    /* reply_to.exchange ("reply.celery.pidbox") */
	char *reply_routing_key; /* reply_to.routing_key (the client's oid) */
	char *pattern;           /* NULL when absent/null (else a string) */
	char *matcher;
	int64_t clock;           /* headers.clock, 0 when absent/not an int */
	int has_expires;         /* headers.expires was a positive number */
	double expires;          /* unix seconds */
	char *body;
	size_t body_len;
	struct json_doc doc;
	int args_tok;            /* "arguments" when an object, else -1 */
	int args_bad;            /* "arguments" present but not an object/null */
	int dest_tok;            /* "destination" token, -1 when absent/null */
};

/* Parse a pidbox envelope json[0..len) as published on the control channel
 * (kombu JSON envelope, content-type application/json, body base64 or
 * plain). Returns 0, or -1 with err (len > max_len, malformed JSON, another
 * content type, bad base64, body not an object, method missing or not a
 * string, reply_to malformed, strings with NUL). *req is zeroed first and
 * always left freeable; the caller owns it in both cases. */
int celery_ctl_parse(const char *json, size_t len, size_t max_len,
		     struct celery_ctl_request *req, char *err, size_t errlen);
/* Free everything and zero *req; accepts a zeroed or half-filled struct. */
void celery_ctl_request_free(struct celery_ctl_request *req);

/* Whether this node must run the request: kombu_pidbox_addressed over its
 * destination, pattern and matcher (CELERY_CTL_ADDR_* are KOMBU_ADDR_*). */
#define CELERY_CTL_ADDR_NO KOMBU_ADDR_NO
#define CELERY_CTL_ADDR_YES KOMBU_ADDR_YES
#define CELERY_CTL_ADDR_UNSUPPORTED KOMBU_ADDR_UNSUPPORTED
int celery_ctl_addressed(const struct celery_ctl_request *req,
			 const char *hostname);

/* Lamport clock step on receipt (kombu LamportClock.adjust):
 * max(local, remote) + 1. */
int64_t celery_ctl_clock_adjust(int64_t local, int64_t remote);

/* ---- one call: what the worker does with a request -------------------- */

/* What the worker describes (struct celery_ctl_task, _stats, _url,
 * _setting, _report) is celery_inspect's; the state it passes
 * (struct celery_ctl_state) and the action it gets back
 * (struct celery_ctl_action, celery_ctl_action_free) are
 * celery_control_cmds'. Both headers come with this one. */

/* Run request req (already found addressed) against st the way Celery's
 * Panel does, appending the reply value to body and filling *act. Replies
 * follow Celery 5.2.6 exactly where it defines them (ping, active, reserved,
 * scheduled, registered, revoked, clock, hello, query_task, revoke,
 * terminate, enable/disable_events, heartbeat -> null, active_queues, conf,
 * report, pool_grow, pool_shrink, autoscale, add/cancel_consumer,
 * rate_limit, time_limit; unknown -> KeyError, missing arguments ->
 * TypeError); stats is our subset; what this worker cannot do (pool_restart,
 * a limit past max_concurrency or max_queues, a negative rate) gets Celery's
 * {"error": "<Exc>('<why>')"} shape with the reason; the debugging commands
 * (objgraph, memsample, memdump, election) get {"error": "... not supported
 * by tryon-worker"}. act->reply is 0 for casts (no reply_to) and for
 * shutdown. Returns 0, or -1 (out of memory, invalid task JSON in st; body
 * and act left empty). */
int celery_ctl_handle(const struct celery_ctl_request *req,
		      const struct celery_ctl_state *st, struct buf *body,
		      struct celery_ctl_action *act, char *err, size_t errlen);

/* ---- reply envelope --------------------------------------------------- */

/* The list the reply goes to, as a Celery client declares it:
 * "<reply_to.routing_key>.<reply_to.exchange>" (for Celery always
 * "<oid>.reply.celery.pidbox"). -1 when req has no reply_to. */
int celery_ctl_reply_list(struct buf *out, const struct celery_ctl_request *req);
/* The binding kombu resolves the reply through: key
 * "_kombu.binding.<exchange>", member "<rk>\x06\x16\x06\x16<list>". A
 * client that gave up has removed it: LPUSH only while it is a member
 * (e.g. one EVAL of SISMEMBER + LPUSH), or the list is left behind with no
 * TTL. -1 when req has no reply_to. */
int celery_ctl_reply_binding(struct buf *key, struct buf *member,
			     const struct celery_ctl_request *req);
/* Append the reply envelope (kombu_pidbox_reply, bytes as captured) with
 * req's ticket, delivery_info {exchange, routing_key} from reply_to.
 * reply[0..reply_len) is a JSON value (validated). Returns 0 or -1 with err
 * (no reply_to, invalid reply JSON); out left as it was on error. */
int celery_ctl_reply_build(struct buf *out, const struct celery_ctl_request *req,
			   const char *hostname, const char *reply,
			   size_t reply_len, int64_t clock,
			   const char *delivery_tag, char *err, size_t errlen);
#endif
