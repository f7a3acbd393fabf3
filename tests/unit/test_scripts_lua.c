/* The SHA-1 constants in scripts_lua.c match their texts: a script edited
 * without its SHA-1 would make every EVALSHA answer NOSCRIPT. The SHA-1 is
 * computed by coreutils' sha1sum, an implementation independent of ours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "redis/scripts_lua.h"

static int sha1sum(const char *text, char out[41])
{
	char cmd[] = "sha1sum > /tmp/test_scripts_lua.XXXXXX";
	char path[] = "/tmp/test_scripts_lua.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(cmd, sizeof cmd, "sha1sum > %s", path);
	FILE *p = popen(cmd, "w");
	if (!p)
		return -1;
	fwrite(text, 1, strlen(text), p);
	int rc = pclose(p);
	FILE *f = fopen(path, "r");
	int ok = f && rc == 0 && fread(out, 1, 40, f) == 40;
	if (f)
		fclose(f);
	unlink(path);
	out[40] = 0;
	return ok ? 0 : -1;
}

static void test_every_sha_matches_its_text(void)
{
	for (int id = 0; id < SCRIPT_COUNT; id++) {
		char want[41];
		const char *text = scripts_text((enum script_id)id), *sha = scripts_sha((enum script_id)id);
		CHECK(text && sha);
		if (!text || !sha)
			continue;
		CHECK(sha1sum(text, want) == 0);
		if (strcmp(sha, want)) {
			fprintf(stderr, "script %d: scripts_lua.c says \"%s\", its text hashes to \"%s\"\n",
				id, sha, want);
			CHECK(!"SHA-1 constant out of date");
		}
	}
}

static void test_out_of_range_is_null(void)
{
	CHECK(scripts_text(SCRIPT_COUNT) == NULL && scripts_sha(SCRIPT_COUNT) == NULL);
	CHECK(scripts_text((enum script_id)-1) == NULL);
}

int main(void)
{
	RUN(test_every_sha_matches_its_text);
	RUN(test_out_of_range_is_null);
	return harness_report();
}
