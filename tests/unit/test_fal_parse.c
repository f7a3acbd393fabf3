/* test_fal_parse: the model API's answers (src/tryon/fal_parse.c): submit,
 * status, result and error bodies, including the hostile shapes a queue
 * server could send (wrong types, empty strings, huge positions, HTML), and
 * the status stream's server-sent events, split at every offset. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tryon/fal_parse.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_submit(void)
{
	struct fal_submit_answer a;

	CHECK(fal_parse_submit(S("{\"request_id\":\"r1\",\"status_url\":\"https://q/x/status\","
				 "\"response_url\":\"https://q/x\",\"cancel_url\":\"\",\"queue_position\":3}"),
			       &a) == 0);
	CHECK(a.request_id && !strcmp(a.request_id, "r1"));
	CHECK(a.status_url && !strcmp(a.status_url, "https://q/x/status"));
	CHECK(a.response_url && !strcmp(a.response_url, "https://q/x"));
	CHECK(a.cancel_url == NULL);          /* empty means absent */
	CHECK(a.queue_position == 3);
	fal_submit_answer_free(&a);
	CHECK(a.request_id == NULL && a.queue_position == -1);

	CHECK(fal_parse_submit(S("{\"request_id\":\"r\",\"queue_position\":-1,\"status_url\":5}"), &a) == 0);
	CHECK(a.queue_position == -1 && a.status_url == NULL);
	fal_submit_answer_free(&a);
	CHECK(fal_parse_submit(S("{\"request_id\":\"r\",\"queue_position\":1e99}"), &a) == 0);
	CHECK(a.queue_position == -1);
	fal_submit_answer_free(&a);

	CHECK(fal_parse_submit(S("{\"request_id\":\"\"}"), &a) == -1);
	CHECK(a.request_id == NULL);
	CHECK(fal_parse_submit(S("{\"request_id\":7}"), &a) == -1);
	CHECK(fal_parse_submit(S("[\"request_id\",\"r\"]"), &a) == -1);
	CHECK(fal_parse_submit(S("<html>502</html>"), &a) == -1);
	CHECK(fal_parse_submit(NULL, 0, &a) == -1);
	CHECK(fal_parse_submit(S("{\"request_id\":\"a\\u0000b\"}"), &a) == -1 || a.request_id != NULL);
	fal_submit_answer_free(&a);
}

static void test_status(void)
{
	enum fal_status_kind k;
	int qp = -1;

	CHECK(fal_parse_status(S("{\"status\":\"IN_QUEUE\",\"queue_position\":12}"), &k, &qp) == 0);
	CHECK(k == FAL_STATUS_IN_QUEUE && qp == 12);
	CHECK(fal_parse_status(S("{\"status\":\"IN_QUEUE\",\"queue_position\":\"x\"}"), &k, &qp) == 0);
	CHECK(k == FAL_STATUS_IN_QUEUE && qp == 12);  /* unchanged */
	CHECK(fal_parse_status(S("{\"status\":\"IN_PROGRESS\",\"queue_position\":1}"), &k, &qp) == 0);
	CHECK(k == FAL_STATUS_IN_PROGRESS && qp == 12);
	CHECK(fal_parse_status(S("{\"status\":\"COMPLETED\"}"), &k, &qp) == 0 && k == FAL_STATUS_COMPLETED);
	CHECK(fal_parse_status(S("{\"status\":\"completed\"}"), &k, &qp) == 0 && k == FAL_STATUS_UNKNOWN);
	CHECK(fal_parse_status(S("{\"status\":[\"COMPLETED\"]}"), &k, &qp) == 0 && k == FAL_STATUS_UNKNOWN);
	CHECK(fal_parse_status(S("\"COMPLETED\""), &k, &qp) == 0 && k == FAL_STATUS_UNKNOWN);
	CHECK(fal_parse_status(S("{\"status\":"), &k, &qp) == -1 && k == FAL_STATUS_UNKNOWN);
}

static void test_result(void)
{
	char *u;
	size_t n;

	CHECK(fal_parse_result(S("{\"images\":[{\"url\":\"https://cdn/x.png\",\"width\":1}],\"seed\":1}"), &u,
			       &n) == 0);
	CHECK(u && n == 17 && !strcmp(u, "https://cdn/x.png"));
	free(u);
	CHECK(fal_parse_result(S("{\"images\":[]}"), &u, &n) == -2 && u == NULL);
	CHECK(fal_parse_result(S("{\"images\":[{\"url\":\"\"}]}"), &u, &n) == -2 && u == NULL);
	CHECK(fal_parse_result(S("{\"images\":{\"url\":\"https://x\"}}"), &u, &n) == -2);
	CHECK(fal_parse_result(S("{\"images\":[{\"url\":1}]}"), &u, &n) == -2);
	CHECK(fal_parse_result(S("[{\"images\":[{\"url\":\"https://x\"}]}]"), &u, &n) == -2);
	CHECK(fal_parse_result(S("not json"), &u, &n) == -1 && u == NULL);
}

static void test_error_detail(void)
{
	char out[200];

	fal_parse_error_detail(S("{\"detail\":\"bad image\",\"error_type\":\"image_load_error\"}"), out,
			       sizeof out);
	CHECK(!strcmp(out, ": bad image [image_load_error]"));
	fal_parse_error_detail(S("{\"detail\":[{\"msg\":\"field required\",\"type\":\"missing\"}]}"), out,
			       sizeof out);
	CHECK(!strcmp(out, ": field required [missing]"));
	fal_parse_error_detail(S("{\"status\":\"ERROR\"}"), out, sizeof out);
	CHECK(!strcmp(out, ": ERROR"));
	fal_parse_error_detail(S("{\"error_type\":\"x\"}"), out, sizeof out);
	CHECK(!strcmp(out, " [x]"));
	fal_parse_error_detail(S("<html><body>Bad gateway</body></html>"), out, sizeof out);
	CHECK(!strcmp(out, ""));
	fal_parse_error_detail(S("{\"detail\":\"a long reason\"}"), out, 8);
	CHECK(strlen(out) == 7);
	fal_parse_error_detail(NULL, 0, out, sizeof out);
	CHECK(!strcmp(out, ""));
}

/* fal_sse_next on a literal: its return, *used and the data. */
static int sse1(const char *p, size_t len, size_t *used, char *out, size_t outlen)
{
	size_t n = 0;
	int r = fal_sse_next(p, len, used, out, outlen, &n);
	if (r == 1 && (strlen(out) != n || n >= outlen))
		return 99;
	return r;
}

static void test_sse(void)
{
	char out[64];
	size_t used;

	CHECK(sse1(S("data: {\"status\":\"IN_QUEUE\"}\n\nrest"), &used, out, sizeof out) == 1);
	CHECK(used == 29 && !strcmp(out, "{\"status\":\"IN_QUEUE\"}"));
	CHECK(sse1(S("data: x\r\n\r\n"), &used, out, sizeof out) == 1 && used == 11 && !strcmp(out, "x"));
	CHECK(sse1(S("data: x\r\rmore"), &used, out, sizeof out) == 1 && used == 9 && !strcmp(out, "x"));
	CHECK(sse1(S("data:x\n\n"), &used, out, sizeof out) == 1 && !strcmp(out, "x"));
	CHECK(sse1(S("data:  x\n\n"), &used, out, sizeof out) == 1 && !strcmp(out, " x"));
	CHECK(sse1(S("data: a\ndata: b\n\n"), &used, out, sizeof out) == 1 && !strcmp(out, "a\nb"));
	CHECK(sse1(S("event: status\nid: 3\nretry: 10\ndata: y\n\n"), &used, out, sizeof out) == 1 &&
	      !strcmp(out, "y"));
	CHECK(sse1(S("\xEF\xBB\xBF" "data: z\n\n"), &used, out, sizeof out) == 1 && used == 12 && !strcmp(out, "z"));
	/* No data: a keepalive comment, an empty data field, an unknown field. */
	CHECK(sse1(S(": keepalive\n\n"), &used, out, sizeof out) == 1 && used == 13 && !*out);
	CHECK(sse1(S("data\n\n"), &used, out, sizeof out) == 1 && !*out);
	CHECK(sse1(S("dataX: y\n\n"), &used, out, sizeof out) == 1 && !*out);
	/* Not complete yet: nothing used. */
	CHECK(sse1(S("data: x\n"), &used, out, sizeof out) == 0 && used == 0);
	CHECK(sse1(S("data: x\r\n\r"), &used, out, sizeof out) == 0 && used == 0);   /* CR: LF may follow */
	CHECK(sse1(S(""), &used, out, sizeof out) == 0);
	/* Too big for out: the stream is unusable. */
	CHECK(sse1(S("data: 0123456789\n\n"), &used, out, 8) == -1);
	CHECK(sse1(S("data: 0123456\n\n"), &used, out, 8) == 1 && !strcmp(out, "0123456"));
	CHECK(sse1(S("data: 0123\ndata: 456\n\n"), &used, out, 8) == -1);   /* 8 with the '\n' */
}

/* A stream read in two pieces (split at every offset) gives the same
 * events as read whole: what a slow network does to it. */
static void test_sse_split(void)
{
	static const char stream[] = "\xEF\xBB\xBF: hi\r\n\r\ndata: {\"status\":\"IN_QUEUE\",\"queue_position\":2}\r\n\r\n"
				     ": keepalive\n\nevent: x\ndata: {\"status\":\n"
				     "data: \"IN_PROGRESS\"}\r\rdata: {\"status\":\"COMPLETED\"}\n\n";
	size_t len = sizeof stream - 1;
	char want[8][64], got[64];
	int nwant = 0;

	for (size_t off = 0;;) {
		size_t used, n;
		int r = fal_sse_next(stream + off, len - off, &used, got, sizeof got, &n);
		if (r != 1)
			break;
		if (n)
			memcpy(want[nwant++], got, n + 1);
		off += used;
	}
	CHECK(nwant == 3);
	CHECK(!strcmp(want[2], "{\"status\":\"COMPLETED\"}"));
	CHECK(!strcmp(want[1], "{\"status\":\n\"IN_PROGRESS\"}"));
	for (size_t cut = 0; cut <= len; cut++) {
		char buf[sizeof stream];
		size_t have = cut, start = 0;
		int k = 0, ok = 1;
		memcpy(buf, stream, cut);
		for (int pass = 0; pass < 2; pass++) {
			for (;;) {
				size_t used, n;
				int r = fal_sse_next(buf + start, have - start, &used, got, sizeof got, &n);
				if (r != 1)
					break;
				if (n && (k >= nwant || strcmp(got, want[k++])))
					ok = 0;
				start += used;
			}
			if (pass == 0) {
				memcpy(buf + have, stream + cut, len - cut);
				have = len;
			}
		}
		if (!ok || k != nwant) {
			CHECK(!"split changes the events");
			break;
		}
	}
	enum fal_status_kind kd;
	int qp = -1;
	CHECK(fal_parse_status(want[0], strlen(want[0]), &kd, &qp) == 0 && kd == FAL_STATUS_IN_QUEUE && qp == 2);
	CHECK(fal_parse_status(want[1], strlen(want[1]), &kd, &qp) == 0 && kd == FAL_STATUS_IN_PROGRESS);
}

int main(void)
{
	RUN(test_submit);
	RUN(test_status);
	RUN(test_result);
	RUN(test_error_detail);
	RUN(test_sse);
	RUN(test_sse_split);
	return harness_report();
}
