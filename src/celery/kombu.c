/* kombu: transport naming and layouts. Pure. */
#include "celery/kombu.h"

#include <string.h>

#include "lib/json.h"

static const int priority_steps[4] = { 0, 3, 6, 9 };

int kombu_priority_list(struct buf *out, const char *queue, int priority)
{
	int step = 0;

	if (priority < 0)
		priority = 0;
	if (priority > 9)
		priority = 9;
	for (int i = 0; i < 4; i++)
		if (priority_steps[i] <= priority)
			step = priority_steps[i];
	buf_append_str(out, queue);
	if (step)
		buf_printf(out, KOMBU_SEP "%d", step);
	return out->failed ? -1 : 0;
}

int kombu_consume_order(struct buf *out, const char *const *queues, int nq, int first)
{
	int n = 0;

	for (int s = 0; s < 4; s++) {
		for (int i = 0; i < nq; i++) {
			const char *q = queues[(first + i) % nq];
			kombu_priority_list(out, q, priority_steps[s]);
			buf_append_char(out, '\0');
			n++;
		}
	}
	return out->failed ? -1 : n;
}

void kombu_queue_of_list(const char *list, size_t len, char *out, size_t outlen)
{
	size_t cut = len;

	for (size_t i = len; i >= 2; i--) {
		if (list[i - 2] == '\x06' && list[i - 1] == '\x16') {
			cut = i - 2;
			break;
		}
	}
	if (cut >= outlen)
		cut = outlen - 1;
	memcpy(out, list, cut);
	out[cut] = '\0';
}

int kombu_binding(struct buf *key, struct buf *member, const char *queue)
{
	buf_printf(key, "_kombu.binding.%s", queue);
	buf_printf(member, "%s" KOMBU_SEP KOMBU_SEP "%s", queue, queue);
	return key->failed || member->failed ? -1 : 0;
}

int kombu_unacked_value(struct buf *out, const char *envelope, size_t len,
			const char *exchange, const char *routing_key)
{
	buf_append_char(out, '[');
	buf_append(out, envelope, len);
	buf_append_str(out, ", ");
	json_write_str(out, exchange ? exchange : "", strlen(exchange ? exchange : ""), JSON_W_ASCII);
	buf_append_str(out, ", ");
	json_write_str(out, routing_key ? routing_key : "", strlen(routing_key ? routing_key : ""), JSON_W_ASCII);
	buf_append_char(out, ']');
	return out->failed ? -1 : 0;
}

int kombu_node_key(struct buf *out, const char *kind, const char *node)
{
	buf_printf(out, "tryon-worker.%s.%s", kind, node);
	return out->failed ? -1 : 0;
}
