/* test_fal_parse: the model API's answers (src/tryon/fal_parse.c): submit,
 * status, result and error bodies, including the hostile shapes a queue
 * server could send (wrong types, empty strings, huge positions, HTML). */
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

int main(void)
{
	RUN(test_submit);
	RUN(test_status);
	RUN(test_result);
	RUN(test_error_detail);
	return harness_report();
}
