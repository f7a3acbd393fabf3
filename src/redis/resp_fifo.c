/* resp_fifo: a singly linked list with a tail pointer. */
#include "redis/resp_fifo.h"

#include <stdlib.h>

struct resp_fifo_item {
	struct resp_value *v;
	struct resp_fifo_item *next;
};

int resp_fifo_push(struct resp_fifo *f, struct resp_value *v, size_t max)
{
	struct resp_fifo_item *it;

	if (f->n >= max || !(it = malloc(sizeof *it))) {
		resp_value_free(v);
		return -1;
	}
	it->v = v;
	it->next = NULL;
	if (f->tail)
		f->tail->next = it;
	else
		f->head = it;
	f->tail = it;
	f->n++;
	return 0;
}

struct resp_value *resp_fifo_pop(struct resp_fifo *f)
{
	struct resp_fifo_item *it = f->head;
	struct resp_value *v;

	if (!it)
		return NULL;
	f->head = it->next;
	if (!f->head)
		f->tail = NULL;
	f->n--;
	v = it->v;
	free(it);
	return v;
}

void resp_fifo_clear(struct resp_fifo *f)
{
	while (f->head)
		resp_value_free(resp_fifo_pop(f));
}
