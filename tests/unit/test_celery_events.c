/* test_celery_events: worker and task events against the bytes a real
 * Celery 5.2.6 worker published (redis-cli MONITOR captures in
 * shared/reference/celery-captures, pasted below still MONITOR-escaped and
 * decoded here): each event is rebuilt from the captured fields and must
 * equal the captured envelope byte for byte, on the captured channel. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "celery/celery_events.h"
#include "harness.h"
#include "lib/base64.h"
#include "lib/json.h"

/* MONITOR payloads, verbatim from shared/reference/celery-captures */
/* monitor7.log PUBLISH /0.celeryev/worker.online */
static const char ev_online[] =
	"{\\\"body\\\": \\\"eyJob3N0bmFtZSI6ICJ3MUB2bSIsICJ1dGNvZmZzZXQiOi"
	"AwLCAicGlkIjogMTA1ODIsICJjbG9jayI6IDEsICJmcmVxIjogMi4wLCAiYWN0aXZ"
	"lIjogMCwgInByb2Nlc3NlZCI6IDAsICJsb2FkYXZnIjogWzAuMjksIDAuMTQsIDAu"
	"MDVdLCAic3dfaWRlbnQiOiAicHktY2VsZXJ5IiwgInN3X3ZlciI6ICI1LjIuNiIsI"
	"CJzd19zeXMiOiAiTGludXgiLCAidGltZXN0YW1wIjogMTc5NTY3NzUxNC4xNTY2Nz"
	"gyLCAidHlwZSI6ICJ3b3JrZXItb25saW5lIn0=\\\", \\\"content-encoding\\"
	"\": \\\"utf-8\\\", \\\"content-type\\\": \\\"application/json\\\""
	", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\"}, \\\"propert"
	"ies\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": {\\\"e"
	"xchange\\\": \\\"celeryev\\\", \\\"routing_key\\\": \\\"worker.on"
	"line\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64"
	"\\\", \\\"delivery_tag\\\": \\\"12ab90b7-6e40-468e-872a-07890da2f"
	"339\\\"}}";
/* monitor7.log PUBLISH /0.celeryev/worker.heartbeat */
static const char ev_heartbeat[] =
	"{\\\"body\\\": \\\"eyJob3N0bmFtZSI6ICJ3MUB2bSIsICJ1dGNvZmZzZXQiOi"
	"AwLCAicGlkIjogMTA1ODIsICJjbG9jayI6IDgsICJmcmVxIjogMi4wLCAiYWN0aXZ"
	"lIjogMSwgInByb2Nlc3NlZCI6IDEsICJsb2FkYXZnIjogWzAuMjcsIDAuMTMsIDAu"
	"MDVdLCAic3dfaWRlbnQiOiAicHktY2VsZXJ5IiwgInN3X3ZlciI6ICI1LjIuNiIsI"
	"CJzd19zeXMiOiAiTGludXgiLCAidGltZXN0YW1wIjogMTc5NTY3NzUyMC4xNjYwOT"
	"g2LCAidHlwZSI6ICJ3b3JrZXItaGVhcnRiZWF0In0=\\\", \\\"content-encod"
	"ing\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"application/jso"
	"n\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\"}, \\\"pr"
	"operties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": {"
	"\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_key\\\": \\\"work"
	"er.heartbeat\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\"
	"\"base64\\\", \\\"delivery_tag\\\": \\\"7747bead-25e9-462e-96b0-0"
	"6d1169cf2df\\\"}}";
/* monitor19.log PUBLISH /0.celeryev/worker.offline */
static const char ev_offline[] =
	"{\\\"body\\\": \\\"eyJob3N0bmFtZSI6ICJ3MUB2bSIsICJ1dGNvZmZzZXQiOi"
	"AwLCAicGlkIjogMzAxMjUsICJjbG9jayI6IDEwLCAiZnJlcSI6IDIuMCwgImFjdGl"
	"2ZSI6IDAsICJwcm9jZXNzZWQiOiAwLCAibG9hZGF2ZyI6IFswLjk5LCAwLjUyLCAw"
	"LjI1XSwgInN3X2lkZW50IjogInB5LWNlbGVyeSIsICJzd192ZXIiOiAiNS4yLjYiL"
	"CAic3dfc3lzIjogIkxpbnV4IiwgInRpbWVzdGFtcCI6IDE3OTU2Nzc5ODguNzE3Nz"
	"g4LCAidHlwZSI6ICJ3b3JrZXItb2ZmbGluZSJ9\\\", \\\"content-encoding\\"
	"\": \\\"utf-8\\\", \\\"content-type\\\": \\\"application/json\\\""
	", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\"}, \\\"propert"
	"ies\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": {\\\"e"
	"xchange\\\": \\\"celeryev\\\", \\\"routing_key\\\": \\\"worker.of"
	"fline\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base6"
	"4\\\", \\\"delivery_tag\\\": \\\"a69046b7-43e9-4ddb-876b-243791ce"
	"7472\\\"}}";
/* monitor7.log PUBLISH /0.celeryev/task.multi */
static const char ev_received[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiA2LCAidXVpZCI6ICIwMTk1ZTQ5Ni0"
	"wMzgzLTRhYjktYTY3Zi1mYzI2YTI3NWVhNTEiLCAibmFtZSI6ICJ0YXNrcy5zbGVl"
	"cGVyIiwgImFyZ3MiOiAiKDMsKSIsICJrd2FyZ3MiOiAie30iLCAicm9vdF9pZCI6I"
	"CIwMTk1ZTQ5Ni0wMzgzLTRhYjktYTY3Zi1mYzI2YTI3NWVhNTEiLCAicGFyZW50X2"
	"lkIjogbnVsbCwgInJldHJpZXMiOiAwLCAiZXRhIjogbnVsbCwgImV4cGlyZXMiOiB"
	"udWxsLCAidGltZXN0YW1wIjogMTc5NTY3NzUyMC4wNTk1OTY1LCAidHlwZSI6ICJ0"
	"YXNrLXJlY2VpdmVkIn1d\\\", \\\"content-encoding\\\": \\\"utf-8\\\""
	", \\\"content-type\\\": \\\"application/json\\\", \\\"headers\\\""
	": {\\\"hostname\\\": \\\"w1@vm\\\"}, \\\"properties\\\": {\\\"del"
	"ivery_mode\\\": 1, \\\"delivery_info\\\": {\\\"exchange\\\": \\\""
	"celeryev\\\", \\\"routing_key\\\": \\\"task.multi\\\"}, \\\"prior"
	"ity\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery_t"
	"ag\\\": \\\"c7d00d50-1b74-43be-8f7d-4200675a8708\\\"}}";
/* monitor7.log PUBLISH /0.celeryev/task.multi */
static const char ev_started[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiA3LCAidXVpZCI6ICIwMTk1ZTQ5Ni0"
	"wMzgzLTRhYjktYTY3Zi1mYzI2YTI3NWVhNTEiLCAidGltZXN0YW1wIjogMTc5NTY3"
	"NzUyMC4wNjEzODA5LCAidHlwZSI6ICJ0YXNrLXN0YXJ0ZWQifV0=\\\", \\\"con"
	"tent-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"appli"
	"cation/json\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\""
	"}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_in"
	"fo\\\": {\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_key\\\":"
	" \\\"task.multi\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\":"
	" \\\"base64\\\", \\\"delivery_tag\\\": \\\"7a5b2add-6a64-4c5e-afc"
	"c-965d2b961eec\\\"}}";
/* monitor7.log PUBLISH /0.celeryev/task.multi */
static const char ev_succeeded[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiAxNCwgInV1aWQiOiAiMDE5NWU0OTY"
	"tMDM4My00YWI5LWE2N2YtZmMyNmEyNzVlYTUxIiwgInJlc3VsdCI6ICIzIiwgInJ1"
	"bnRpbWUiOiAzLjAwNzc3OTc4ODk5OTk4MywgInRpbWVzdGFtcCI6IDE3OTU2Nzc1M"
	"jMuMDcwNTUxMiwgInR5cGUiOiAidGFzay1zdWNjZWVkZWQifV0=\\\", \\\"cont"
	"ent-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"applic"
	"ation/json\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\""
	"}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_in"
	"fo\\\": {\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_key\\\":"
	" \\\"task.multi\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\":"
	" \\\"base64\\\", \\\"delivery_tag\\\": \\\"11b09b0c-2715-49a9-82c"
	"4-246d89d67654\\\"}}";
/* monitor8.log PUBLISH /0.celeryev/task.multi */
static const char ev_failed[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiAzMywgInV1aWQiOiAiODNmNDllOTI"
	"tMzM2My00YzE4LTkyNGEtOTMwZjllYzNiY2FlIiwgImV4Y2VwdGlvbiI6ICJWYWx1"
	"ZUVycm9yKCdib29tIHZhbHVlJykiLCAidHJhY2ViYWNrIjogIlRyYWNlYmFjayAob"
	"W9zdCByZWNlbnQgY2FsbCBsYXN0KTpcbiAgRmlsZSBcIi91c3IvbGliL3B5dGhvbj"
	"MvZGlzdC1wYWNrYWdlcy9jZWxlcnkvYXBwL3RyYWNlLnB5XCIsIGxpbmUgNDUxLCB"
	"pbiB0cmFjZV90YXNrXG4gICAgUiA9IHJldHZhbCA9IGZ1bigqYXJncywgKiprd2Fy"
	"Z3MpXG4gICAgICAgICAgICAgICAgIF5eXl5eXl5eXl5eXl5eXl5eXl5eXG4gIEZpb"
	"GUgXCIvdXNyL2xpYi9weXRob24zL2Rpc3QtcGFja2FnZXMvY2VsZXJ5L2FwcC90cm"
	"FjZS5weVwiLCBsaW5lIDczNCwgaW4gX19wcm90ZWN0ZWRfY2FsbF9fXG4gICAgcmV"
	"0dXJuIHNlbGYucnVuKCphcmdzLCAqKmt3YXJncylcbiAgICAgICAgICAgXl5eXl5e"
	"Xl5eXl5eXl5eXl5eXl5eXl5eXlxuICBGaWxlIFwiL3Nydi9hcHAvdGFza3MucHlcI"
	"iwgbGluZSAyMSwgaW4gZmFpbFxuICAgIHJhaXNlIFZhbHVlRXJyb3IoJ2Jvb20gdm"
	"FsdWUnKVxuVmFsdWVFcnJvcjogYm9vbSB2YWx1ZVxuIiwgInRpbWVzdGFtcCI6IDE"
	"3OTU2Nzc1MzguOTg2NzIyLCAidHlwZSI6ICJ0YXNrLWZhaWxlZCJ9XQ==\\\", \\"
	"\"content-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\""
	"application/json\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@"
	"vm\\\"}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"deliv"
	"ery_info\\\": {\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_ke"
	"y\\\": \\\"task.multi\\\"}, \\\"priority\\\": 0, \\\"body_encodin"
	"g\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\"6369bc95-352a-48"
	"cd-bd6e-d27b61f34908\\\"}}";
/* monitor8.log PUBLISH /0.celeryev/task.multi */
static const char ev_retry_received[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiAzNiwgInV1aWQiOiAiODFiNjJlMDE"
	"tOTA3Mi00YzNkLWJhZWEtM2EwMDNhYjQ5MzJiIiwgIm5hbWUiOiAidGFza3MucmV0"
	"cnlfbWUiLCAiYXJncyI6ICIoMSwpIiwgImt3YXJncyI6ICJ7fSIsICJyb290X2lkI"
	"jogIjgxYjYyZTAxLTkwNzItNGMzZC1iYWVhLTNhMDAzYWI0OTMyYiIsICJwYXJlbn"
	"RfaWQiOiAiODFiNjJlMDEtOTA3Mi00YzNkLWJhZWEtM2EwMDNhYjQ5MzJiIiwgInJ"
	"ldHJpZXMiOiAxLCAiZXRhIjogIjIwMjYtMTEtMjZUMDc6MTg6NTkuOTg5MjAyKzAw"
	"OjAwIiwgImV4cGlyZXMiOiBudWxsLCAidGltZXN0YW1wIjogMTc5NTY3NzUzOC45O"
	"TUxMDAzLCAidHlwZSI6ICJ0YXNrLXJlY2VpdmVkIn1d\\\", \\\"content-enco"
	"ding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"application/js"
	"on\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w1@vm\\\"}, \\\"p"
	"roperties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": "
	"{\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_key\\\": \\\"tas"
	"k.multi\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"bas"
	"e64\\\", \\\"delivery_tag\\\": \\\"d710c1d2-1525-442b-bd17-c0bbd7"
	"494fa7\\\"}}";
/* monitor8.log PUBLISH /0.celeryev/task.multi */
static const char ev_retried[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiAzNywgInV1aWQiOiAiODFiNjJlMDE"
	"tOTA3Mi00YzNkLWJhZWEtM2EwMDNhYjQ5MzJiIiwgImV4Y2VwdGlvbiI6ICJLZXlF"
	"cnJvcignazAnKSIsICJ0cmFjZWJhY2siOiAiVHJhY2ViYWNrIChtb3N0IHJlY2Vud"
	"CBjYWxsIGxhc3QpOlxuICBGaWxlIFwiL3Nydi9hcHAvdGFza3MucHlcIiwgbGluZS"
	"AzMCwgaW4gcmV0cnlfbWVcbiAgICByYWlzZSBLZXlFcnJvcignayVkJyAlIHNlbGY"
	"ucmVxdWVzdC5yZXRyaWVzKVxuS2V5RXJyb3I6ICdrMCdcblxuRHVyaW5nIGhhbmRs"
	"aW5nIG9mIHRoZSBhYm92ZSBleGNlcHRpb24sIGFub3RoZXIgZXhjZXB0aW9uIG9jY"
	"3VycmVkOlxuXG5UcmFjZWJhY2sgKG1vc3QgcmVjZW50IGNhbGwgbGFzdCk6XG4gIE"
	"ZpbGUgXCIvdXNyL2xpYi9weXRob24zL2Rpc3QtcGFja2FnZXMvY2VsZXJ5L2FwcC9"
	"0cmFjZS5weVwiLCBsaW5lIDQ1MSwgaW4gdHJhY2VfdGFza1xuICAgIFIgPSByZXR2"
	"YWwgPSBmdW4oKmFyZ3MsICoqa3dhcmdzKVxuICAgICAgICAgICAgICAgICBeXl5eX"
	"l5eXl5eXl5eXl5eXl5eXlxuICBGaWxlIFwiL3Vzci9saWIvcHl0aG9uMy9kaXN0LX"
	"BhY2thZ2VzL2NlbGVyeS9hcHAvdHJhY2UucHlcIiwgbGluZSA3MzQsIGluIF9fcHJ"
	"vdGVjdGVkX2NhbGxfX1xuICAgIHJldHVybiBzZWxmLnJ1bigqYXJncywgKiprd2Fy"
	"Z3MpXG4gICAgICAgICAgIF5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5cbiAgRmlsZ"
	"SBcIi9zcnYvYXBwL3Rhc2tzLnB5XCIsIGxpbmUgMzIsIGluIHJldHJ5X21lXG4gIC"
	"AgcmFpc2Ugc2VsZi5yZXRyeShleGM9ZXhjLCBjb3VudGRvd249MSlcbiAgICAgICA"
	"gICBeXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXlxuICBGaWxlIFwiL3Vz"
	"ci9saWIvcHl0aG9uMy9kaXN0LXBhY2thZ2VzL2NlbGVyeS9hcHAvdGFzay5weVwiL"
	"CBsaW5lIDczOCwgaW4gcmV0cnlcbiAgICByYWlzZSByZXRcbmNlbGVyeS5leGNlcH"
	"Rpb25zLlJldHJ5OiBSZXRyeSBpbiAxczogS2V5RXJyb3IoJ2swJylcbiIsICJ0aW1"
	"lc3RhbXAiOiAxNzk1Njc3NTM4Ljk5Nzc2LCAidHlwZSI6ICJ0YXNrLXJldHJpZWQi"
	"fV0=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-ty"
	"pe\\\": \\\"application/json\\\", \\\"headers\\\": {\\\"hostname\\"
	"\": \\\"w1@vm\\\"}, \\\"properties\\\": {\\\"delivery_mode\\\": 1"
	", \\\"delivery_info\\\": {\\\"exchange\\\": \\\"celeryev\\\", \\\""
	"routing_key\\\": \\\"task.multi\\\"}, \\\"priority\\\": 0, \\\"bo"
	"dy_encoding\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\"78dc4a"
	"d5-f731-4332-812f-5a08c697c56d\\\"}}";
/* monitor8.log PUBLISH /0.celeryev/task.multi */
static const char ev_revoked[] =
	"{\\\"body\\\": \\\"W3siaG9zdG5hbWUiOiAidzFAdm0iLCAidXRjb2Zmc2V0Ij"
	"ogMCwgInBpZCI6IDEwNTgyLCAiY2xvY2siOiA0OCwgInV1aWQiOiAiYTZjZDEwMmQ"
	"tZDEzZS00NWRhLTg5ZjktZTIwZjhiODUyYjFhIiwgInRlcm1pbmF0ZWQiOiBmYWxz"
	"ZSwgInNpZ251bSI6IG51bGwsICJleHBpcmVkIjogdHJ1ZSwgInRpbWVzdGFtcCI6I"
	"DE3OTU2Nzc1NDIuMTgwOTg2NCwgInR5cGUiOiAidGFzay1yZXZva2VkIn1d\\\", "
	"\\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\"
	"\"application/json\\\", \\\"headers\\\": {\\\"hostname\\\": \\\"w"
	"1@vm\\\"}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"del"
	"ivery_info\\\": {\\\"exchange\\\": \\\"celeryev\\\", \\\"routing_"
	"key\\\": \\\"task.multi\\\"}, \\\"priority\\\": 0, \\\"body_encod"
	"ing\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\"f42321de-7ef5-"
	"4815-8c66-ffa04f979432\\\"}}";

/* ---- helpers ----------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo redis-cli MONITOR's quoting (sdscatrepr): \" \\ \n \r \t \a \b and
 * \xHH. Returns a malloc'd NUL-terminated copy; *n its length. */
static char *mon(const char *in, size_t *n)
{
	size_t len = strlen(in), i, k = 0;
	char *out = malloc(len + 1);

	for (i = 0; i < len; i++) {
		if (in[i] != '\\' || i + 1 == len) {
			out[k++] = in[i];
			continue;
		}
		switch (in[++i]) {
		case 'n': out[k++] = '\n'; break;
		case 'r': out[k++] = '\r'; break;
		case 't': out[k++] = '\t'; break;
		case 'a': out[k++] = '\a'; break;
		case 'b': out[k++] = '\b'; break;
		case 'x':
			out[k++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			i += 2;
			break;
		default: out[k++] = in[i]; break;
		}
	}
	out[k] = '\0';
	if (n)
		*n = k;
	return out;
}

/* Fields of a captured envelope (all malloc'd; body base64-decoded). */
struct env_parts {
	char *env;
	size_t env_len;
	char *body;
	size_t body_len;
	char *ticket;
	char *hostname_hdr;
	int64_t clock;
	char *exchange;
	char *routing_key;
	char *tag;
};

static char *str_at(const struct json_doc *d, int obj, const char *key)
{
	int t = json_obj_get(d, obj, key);
	char *s = NULL;

	if (t >= 0 && json_kind(d, t) == JSON_K_STRING)
		json_tok_strdup(d, t, &s, NULL, NULL, 0);
	return s;
}

static void parts_get(const char *vec, struct env_parts *p)
{
	struct json_doc d;
	struct buf b64;
	int h, pr, di, t;

	memset(p, 0, sizeof *p);
	p->env = mon(vec, &p->env_len);
	if (json_parse(&d, p->env, p->env_len, 0, NULL, 0) < 0)
		return;
	h = json_obj_get(&d, 0, "headers");
	pr = json_obj_get(&d, 0, "properties");
	di = json_obj_get(&d, pr, "delivery_info");
	p->ticket = str_at(&d, h, "ticket");
	p->hostname_hdr = str_at(&d, h, "hostname");
	t = json_obj_get(&d, h, "clock");
	if (t >= 0)
		json_tok_int64(&d, t, &p->clock, NULL, 0);
	p->exchange = str_at(&d, di, "exchange");
	p->routing_key = str_at(&d, di, "routing_key");
	p->tag = str_at(&d, pr, "delivery_tag");
	buf_init(&b64);
	json_tok_unescape(&d, json_obj_get(&d, 0, "body"), &b64, NULL, 0);
	p->body = malloc(base64_decoded_max(b64.len) + 1);
	base64_decode(b64.data, b64.len, (unsigned char *)p->body,
		      base64_decoded_max(b64.len) + 1, &p->body_len, NULL, 0);
	p->body[p->body_len] = '\0';
	buf_free(&b64);
	json_doc_free(&d);
}

static void parts_free(struct env_parts *p)
{
	free(p->env);
	free(p->body);
	free(p->ticket);
	free(p->hostname_hdr);
	free(p->exchange);
	free(p->routing_key);
	free(p->tag);
}

static int buf_is(const struct buf *b, const char *s)
{
	size_t n = strlen(s);
	int ok = b->len == n && memcmp(b->data, s, n) == 0;

	if (!ok)
		fprintf(stderr, "  got:  %.*s\n  want: %s\n", (int)b->len,
			b->data ? b->data : "", s);
	return ok;
}

static int buf_is_n(const struct buf *b, const char *s, size_t n)
{
	int ok = b->len == n && memcmp(b->data, s, n) == 0;

	if (!ok)
		fprintf(stderr, "  got:  %.*s\n  want: %.*s\n", (int)b->len,
			b->data ? b->data : "", (int)n, s);
	return ok;
}

/* ---- events, byte for byte -------------------------------------------- */

static int num_at(const char *js, size_t n, const char *key, double *v)
{
	struct json_doc d;
	int t, base, rc = -1;

	if (json_parse(&d, js, n, 0, NULL, 0) < 0)
		return -1;
	base = json_kind(&d, 0) == JSON_K_ARRAY ? 1 : 0;
	t = json_obj_get(&d, base, key);
	if (t >= 0 && json_tok_double(&d, t, v, NULL, 0) == 0)
		rc = 0;
	json_doc_free(&d);
	return rc;
}

static char *text_at(const char *js, size_t n, const char *key)
{
	struct json_doc d;
	char *s = NULL;
	int base;

	if (json_parse(&d, js, n, 0, NULL, 0) < 0)
		return NULL;
	base = json_kind(&d, 0) == JSON_K_ARRAY ? 1 : 0;
	s = str_at(&d, base, key);
	json_doc_free(&d);
	return s;
}

static void fill_base(const struct env_parts *p, struct celery_events_base *b)
{
	double v = 0;

	memset(b, 0, sizeof *b);
	b->hostname = "w1@vm";
	b->delivery_tag = p->tag;
	num_at(p->body, p->body_len, "pid", &v);
	b->pid = (int64_t)v;
	num_at(p->body, p->body_len, "clock", &v);
	b->clock = (int64_t)v;
	num_at(p->body, p->body_len, "timestamp", &b->timestamp);
}

static void check_worker_event(const char *vec, const char *type,
			       const char *channel)
{
	struct env_parts p;
	struct celery_events_base b;
	struct celery_events_worker w;
	struct buf ch, out;
	double v = 0;
	char err[200];

	parts_get(vec, &p);
	fill_base(&p, &b);
	memset(&w, 0, sizeof w);
	num_at(p.body, p.body_len, "active", &v);
	w.active = (int64_t)v;
	num_at(p.body, p.body_len, "processed", &v);
	w.processed = (int64_t)v;
	{
		/* loadavg: the capture's values, with float noise added to
		 * show the 2-digit rounding */
		struct json_doc d;
		int t, i;

		json_parse(&d, p.body, p.body_len, 0, NULL, 0);
		t = json_obj_get(&d, 0, "loadavg");
		for (i = 0; i < 3; i++) {
			json_tok_double(&d, json_arr_get(&d, t, i), &w.loadavg[i],
					NULL, 0);
			w.loadavg[i] += 0.0012;
		}
		json_doc_free(&d);
	}
	w.sw_ident = "py-celery";
	w.sw_ver = "5.2.6";
	buf_init(&ch);
	buf_init(&out);
	CHECK(celery_events_worker_build(&ch, &out, 0, type, &b, &w, err,
				      sizeof err) == 0);
	CHECK(buf_is(&ch, channel));
	CHECK(buf_is_n(&out, p.env, p.env_len));
	buf_free(&ch);
	buf_free(&out);
	parts_free(&p);
}

static void test_worker_events_bytes(void)
{
	struct celery_events_base b;
	struct celery_events_worker w;
	struct buf ch, out;
	char err[200];

	check_worker_event(ev_online, "worker-online", "/0.celeryev/worker.online");
	check_worker_event(ev_heartbeat, "worker-heartbeat",
			   "/0.celeryev/worker.heartbeat");
	check_worker_event(ev_offline, "worker-offline", "/0.celeryev/worker.offline");

	/* our defaults: sw_ident tryon-worker, freq 2.0, other db */
	memset(&b, 0, sizeof b);
	memset(&w, 0, sizeof w);
	b.hostname = "celery@h";
	b.delivery_tag = "tag";
	b.timestamp = 1.5;
	w.loadavg[0] = 0.125;
	w.loadavg[1] = 0.135;
	w.loadavg[2] = 2.675;
	buf_init(&ch);
	buf_init(&out);
	CHECK(celery_events_worker_build(&ch, &out, 4, "worker-heartbeat", &b, &w,
				      err, sizeof err) == 0);
	CHECK(buf_is(&ch, "/4.celeryev/worker.heartbeat"));
	buf_reset(&ch);
	buf_reset(&out);
	CHECK(celery_events_worker_build(&ch, &out, -1, "worker-heartbeat", &b, &w,
				      err, sizeof err) == 0);
	CHECK(buf_is(&ch, "/{db}.celeryev/worker.heartbeat"));   /* sentinel:// */
	CHECK(strstr(out.data, "\"headers\": {\"hostname\": \"celery@h\"}") != NULL);
	CHECK(strstr(out.data, "\"delivery_info\": {\"exchange\": \"celeryev\", "
			       "\"routing_key\": \"worker.heartbeat\"}") != NULL);
	/* missing tag or hostname: refused, nothing appended */
	b.delivery_tag = NULL;
	buf_reset(&ch);
	buf_reset(&out);
	CHECK(celery_events_worker_build(&ch, &out, 0, "worker-online", &b, &w, err,
				      sizeof err) == -1);
	CHECK(ch.len == 0 && out.len == 0);
	buf_free(&ch);
	buf_free(&out);
}

/* Decode our envelope's body for field checks. */
static char *our_body(const struct buf *env)
{
	struct json_doc d;
	struct buf b64;
	unsigned char *raw;
	size_t n = 0;

	json_parse(&d, env->data, env->len, 0, NULL, 0);
	buf_init(&b64);
	json_tok_unescape(&d, json_obj_get(&d, 0, "body"), &b64, NULL, 0);
	raw = malloc(base64_decoded_max(b64.len) + 1);
	base64_decode(b64.data, b64.len, raw, base64_decoded_max(b64.len) + 1, &n,
		      NULL, 0);
	raw[n] = '\0';
	buf_free(&b64);
	json_doc_free(&d);
	return (char *)raw;
}

static void test_worker_event_defaults(void)
{
	struct celery_events_base b;
	struct celery_events_worker w;
	struct buf ch, out;
	char err[200], *body;

	memset(&b, 0, sizeof b);
	memset(&w, 0, sizeof w);
	b.hostname = "celery@h";
	b.delivery_tag = "tag";
	b.timestamp = 1.5;
	b.utcoffset = -1;
	b.pid = 7;
	b.clock = 9;
	w.loadavg[0] = 0.125;
	w.loadavg[1] = 0.135;
	w.loadavg[2] = 2.675;
	w.sw_ver = "0.1.0";
	buf_init(&ch);
	buf_init(&out);
	CHECK(celery_events_worker_build(&ch, &out, 0, "worker-online", &b, &w, err,
				      sizeof err) == 0);
	body = our_body(&out);
	/* round(x, 2) as Python: 0.12, 0.14, 2.67 */
	CHECK(!strcmp(body, "{\"hostname\": \"celery@h\", \"utcoffset\": -1, \"pid\": 7, "
			    "\"clock\": 9, \"freq\": 2.0, \"active\": 0, \"processed\": 0, "
			    "\"loadavg\": [0.12, 0.14, 2.67], \"sw_ident\": \"tryon-worker\", "
			    "\"sw_ver\": \"0.1.0\", \"sw_sys\": \"Linux\", \"timestamp\": 1.5, "
			    "\"type\": \"worker-online\"}"));
	free(body);
	buf_free(&ch);
	buf_free(&out);
}

static void check_task_event(const char *vec, int type)
{
	struct env_parts p;
	struct celery_events_base b;
	struct celery_events_task t;
	struct buf ch, out;
	char err[200], *f[12];
	double v = 0;
	size_t i;

	parts_get(vec, &p);
	fill_base(&p, &b);
	memset(&t, 0, sizeof t);
	memset(f, 0, sizeof f);
	t.type = type;
	t.multi = 1;
	t.uuid = f[0] = text_at(p.body, p.body_len, "uuid");
	t.name = f[1] = text_at(p.body, p.body_len, "name");
	t.args_repr = f[2] = text_at(p.body, p.body_len, "args");
	t.kwargs_repr = f[3] = text_at(p.body, p.body_len, "kwargs");
	t.root_id = f[4] = text_at(p.body, p.body_len, "root_id");
	t.parent_id = f[5] = text_at(p.body, p.body_len, "parent_id");
	t.eta = f[6] = text_at(p.body, p.body_len, "eta");
	t.expires = f[7] = text_at(p.body, p.body_len, "expires");
	t.result_repr = f[8] = text_at(p.body, p.body_len, "result");
	t.exception_repr = f[9] = text_at(p.body, p.body_len, "exception");
	t.traceback = f[10] = text_at(p.body, p.body_len, "traceback");
	if (num_at(p.body, p.body_len, "retries", &v) == 0)
		t.retries = (int64_t)v;
	num_at(p.body, p.body_len, "runtime", &t.runtime);
	if (type == CELERY_EVENTS_TASK_REVOKED)
		t.expired = strstr(p.body, "\"expired\": true") != NULL;
	buf_init(&ch);
	buf_init(&out);
	CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == 0);
	CHECK(buf_is(&ch, "/0.celeryev/task.multi"));
	CHECK(buf_is_n(&out, p.env, p.env_len));
	for (i = 0; i < sizeof f / sizeof f[0]; i++)
		free(f[i]);
	buf_free(&ch);
	buf_free(&out);
	parts_free(&p);
}

static void test_task_events_bytes(void)
{
	check_task_event(ev_received, CELERY_EVENTS_TASK_RECEIVED);
	check_task_event(ev_started, CELERY_EVENTS_TASK_STARTED);
	check_task_event(ev_succeeded, CELERY_EVENTS_TASK_SUCCEEDED);
	check_task_event(ev_failed, CELERY_EVENTS_TASK_FAILED);
	check_task_event(ev_retry_received, CELERY_EVENTS_TASK_RECEIVED);
	check_task_event(ev_retried, CELERY_EVENTS_TASK_RETRIED);
	check_task_event(ev_revoked, CELERY_EVENTS_TASK_REVOKED);
}

static void test_task_events_single(void)
{
	static const struct {
		int type;
		const char *channel;
		const char *fields;
		const char *tail;
	} cases[] = {
		{ CELERY_EVENTS_TASK_STARTED, "/0.celeryev/task.started", "\"uuid\": \"u\", \"timestamp\"",
		  "\"timestamp\": 2.0, \"type\": \"task-started\"}" },
		{ CELERY_EVENTS_TASK_SUCCEEDED, "/0.celeryev/task.succeeded",
		  "\"uuid\": \"u\", \"result\": \"'https://x/y.png'\", \"runtime\": 1.25, ",
		  "\"timestamp\": 2.0, \"type\": \"task-succeeded\"}" },
		{ CELERY_EVENTS_TASK_REJECTED, "/0.celeryev/task.rejected",
		  "\"uuid\": \"u\", \"requeue\": true, ",
		  "\"timestamp\": 2.0, \"type\": \"task-rejected\"}" },
		{ CELERY_EVENTS_TASK_REVOKED, "/0.celeryev/task.revoked",
		  "\"uuid\": \"u\", \"terminated\": true, \"signum\": 15, \"expired\": false, ",
		  "\"timestamp\": 2.0, \"type\": \"task-revoked\"}" },
		{ CELERY_EVENTS_TASK_FAILED, "/0.celeryev/task.failed",
		  "\"uuid\": \"u\", \"exception\": \"ValueError('boom')\", "
		  "\"traceback\": \"Traceback\\n\\u00e9\", ",
		  "\"timestamp\": 2.0, \"type\": \"task-failed\"}" },
		{ CELERY_EVENTS_TASK_RETRIED, "/0.celeryev/task.retried",
		  "\"uuid\": \"u\", \"exception\": \"ValueError('boom')\", ",
		  "\"timestamp\": 2.0, \"type\": \"task-retried\"}" },
	};
	struct celery_events_base b;
	struct celery_events_task t;
	struct buf ch, out;
	char err[200], *body;
	size_t i;

	memset(&b, 0, sizeof b);
	b.hostname = "h";
	b.delivery_tag = "tag";
	b.timestamp = 2.0;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&t, 0, sizeof t);
		t.type = cases[i].type;
		t.uuid = "u";
		t.result_repr = "'https://x/y.png'";
		t.runtime = 1.25;
		t.requeue = 1;
		t.terminated = 1;
		t.signum = SIGTERM;
		t.exception_repr = "ValueError('boom')";
		t.traceback = "Traceback\n\xc3\xa9";
		buf_init(&ch);
		buf_init(&out);
		CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == 0);
		CHECK(buf_is(&ch, cases[i].channel));
		body = our_body(&out);
		CHECK(body[0] == '{' && strstr(body, cases[i].fields) != NULL);
		CHECK(strlen(body) > strlen(cases[i].tail) &&
		      !strcmp(body + strlen(body) - strlen(cases[i].tail), cases[i].tail));
		free(body);
		buf_free(&ch);
		buf_free(&out);
	}
	/* refused: no uuid, a type out of range; nothing appended */
	buf_init(&ch);
	buf_init(&out);
	memset(&t, 0, sizeof t);
	CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == -1);
	t.uuid = "u";
	t.type = 99;
	CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == -1);
	t.type = -1;
	CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == -1);
	t.type = CELERY_EVENTS_TASK_RECEIVED;
	b.delivery_tag = NULL;
	CHECK(celery_events_task_build(&ch, &out, 0, &b, &t, err, sizeof err) == -1);
	CHECK(ch.len == 0 && out.len == 0);
	/* a NULL channel is allowed: only the envelope */
	b.delivery_tag = "tag";
	CHECK(celery_events_task_build(NULL, &out, 0, &b, &t, err, sizeof err) == 0);
	CHECK(out.len > 0);
	buf_free(&ch);
	buf_free(&out);
}

int main(void)
{
	RUN(test_worker_events_bytes);
	RUN(test_worker_event_defaults);
	RUN(test_task_events_bytes);
	RUN(test_task_events_single);
	return harness_report();
}
