/* test_celery_msg: envelope/body decoding and the builders of
 * src/celery_msg.c, plus base64 and isotime, against messages captured from
 * Celery 5.2.6 / kombu 5.2.4 (shared/reference/celery-captures, decoded from
 * the redis-cli MONITOR escaping) and hand-made edge cases. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "celery/celery_msg.h"
#include "harness.h"
#include "lib/isotime.h"
#include "lib/json.h"

/* ---- captured vectors (monitor1/3/4/5/6/9/10/17.log) ---- */

static const char cap_add_v2[] =
	"{\"body\": \"W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJh"
	"Y2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"con"
	"tent-encoding\": \"utf-8\", \"content-type\": \"application/json\""
	", \"headers\": {\"lang\": \"py\", \"task\": \"tasks.add\", \"id\""
	": \"388f7537-745a-49df-92e7-7864c3df91d5\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"388f7537-745a-49df-92e7-7864c3df91d5\", \"parent_id\": null, \"ar"
	"gsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen64"
	"64@vm\", \"ignore_result\": false}, \"properties\": {\"correlatio"
	"n_id\": \"388f7537-745a-49df-92e7-7864c3df91d5\", \"reply_to\": \""
	"69f13f06-738c-3955-87c4-9df546077213\", \"delivery_mode\": 2, \"d"
	"elivery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\"}"
	", \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\""
	": \"c507397b-a7b0-4a25-b147-443b2528e7ef\"}}";

static const char cap_eta_prio[] =
	"{\"body\": \"W1s0LCA1XSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJh"
	"Y2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"con"
	"tent-encoding\": \"utf-8\", \"content-type\": \"application/json\""
	", \"headers\": {\"lang\": \"py\", \"task\": \"tasks.add\", \"id\""
	": \"e2f5316f-230a-453b-ba53-9a48d4194ca8\", \"shadow\": null, \"e"
	"ta\": \"2026-11-26T07:17:37.027663+00:00\", \"expires\": \"2026-1"
	"1-26T07:27:07.027663+00:00\", \"group\": null, \"group_index\": n"
	"ull, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"e2f5316f-230a-453b-ba53-9a48d4194ca8\", \"parent_id\": null, \"ar"
	"gsrepr\": \"(4, 5)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen64"
	"64@vm\", \"ignore_result\": false}, \"properties\": {\"correlatio"
	"n_id\": \"e2f5316f-230a-453b-ba53-9a48d4194ca8\", \"reply_to\": \""
	"69f13f06-738c-3955-87c4-9df546077213\", \"delivery_mode\": 2, \"e"
	"xpiration\": \"600000\", \"delivery_info\": {\"exchange\": \"\", "
	"\"routing_key\": \"celery\"}, \"priority\": 5, \"body_encoding\":"
	" \"base64\", \"delivery_tag\": \"044659db-a730-4b43-ac56-bb5fe961"
	"9131\"}}";

static const char cap_custom_hdr[] =
	"{\"body\": \"W1sxXSwgeyJ5IjogN30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVy"
	"cmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \""
	"content-encoding\": \"utf-8\", \"content-type\": \"application/js"
	"on\", \"headers\": {\"lang\": \"py\", \"task\": \"tasks.add\", \""
	"id\": \"e56226b9-dbe4-4c2e-b8b4-50a764872bb1\", \"shadow\": null,"
	" \"eta\": null, \"expires\": null, \"group\": null, \"group_index"
	"\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\""
	": \"e56226b9-dbe4-4c2e-b8b4-50a764872bb1\", \"parent_id\": null, "
	"\"argsrepr\": \"(1,)\", \"kwargsrepr\": \"{'y': 7}\", \"origin\":"
	" \"gen6464@vm\", \"ignore_result\": false, \"custom_h\": \"v\"}, "
	"\"properties\": {\"correlation_id\": \"e56226b9-dbe4-4c2e-b8b4-50"
	"a764872bb1\", \"reply_to\": \"69f13f06-738c-3955-87c4-9df54607721"
	"3\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\""
	", \"routing_key\": \"other\"}, \"priority\": 0, \"body_encoding\""
	": \"base64\", \"delivery_tag\": \"970435b9-c602-448f-af20-292ac70"
	"644d9\"}}";

static const char cap_v1[] =
	"{\"body\": \"eyJ0YXNrIjogInRhc2tzLmFkZCIsICJpZCI6ICJjNjM4NTcyNi00"
	"OWYzLTRhZjctODFiMi05NThiY2EzMzk3MzgiLCAiYXJncyI6IFsyLCAzXSwgImt3Y"
	"XJncyI6IHt9LCAiZ3JvdXAiOiBudWxsLCAiZ3JvdXBfaW5kZXgiOiBudWxsLCAicm"
	"V0cmllcyI6IDAsICJldGEiOiAiMjAyNi0xMS0yNlQwNzoxOTozNC4yOTk4MzcrMDA"
	"6MDAiLCAiZXhwaXJlcyI6ICIyMDI2LTExLTI2VDA3OjIwOjI0LjI5OTgzNyswMDow"
	"MCIsICJ1dGMiOiB0cnVlLCAiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogb"
	"nVsbCwgInRpbWVsaW1pdCI6IFtudWxsLCBudWxsXSwgInRhc2tzZXQiOiBudWxsLC"
	"AiY2hvcmQiOiBudWxsfQ==\", \"content-encoding\": \"utf-8\", \"cont"
	"ent-type\": \"application/json\", \"headers\": {}, \"properties\""
	": {\"correlation_id\": \"c6385726-49f3-4af7-81b2-958bca339738\", "
	"\"reply_to\": \"5212e273-8317-3f25-a718-72d5f6b81bb3\", \"deliver"
	"y_mode\": 2, \"expiration\": \"60000\", \"delivery_info\": {\"exc"
	"hange\": \"\", \"routing_key\": \"p1q\"}, \"priority\": 0, \"body"
	"_encoding\": \"base64\", \"delivery_tag\": \"8626109f-c04d-4715-8"
	"177-83515ed70d29\"}}";

static const char cap_meta_success[] =
	"{\"status\": \"SUCCESS\", \"result\": 5, \"traceback\": null, \"c"
	"hildren\": [], \"date_done\": \"2026-11-26T07:17:48.255917\", \"t"
	"ask_id\": \"9a621043-ada0-4e34-aa5a-84bd237d13b5\"}";

static const char cap_meta_failure[] =
	"{\"status\": \"FAILURE\", \"result\": {\"exc_type\": \"ValueError"
	"\", \"exc_message\": [\"boom value\"], \"exc_module\": \"builtins"
	"\"}, \"traceback\": \"Traceback (most recent call last):\\n  File"
	" \\\"/usr/lib/python3/dist-packages/celery/app/trace.py\\\", line"
	" 451, in trace_task\\n    R = retval = fun(*args, **kwargs)\\n   "
	"              ^^^^^^^^^^^^^^^^^^^^\\n  File \\\"/usr/lib/python3/"
	"dist-packages/celery/app/trace.py\\\", line 734, in __protected_c"
	"all__\\n    return self.run(*args, **kwargs)\\n           ^^^^^^^"
	"^^^^^^^^^^^^^^^^^^\\n  File \\\"/srv/app/tasks.py\\\", line 21, i"
	"n fail\\n    raise ValueError('boom value')\\nValueError: boom va"
	"lue\\n\", \"children\": [], \"date_done\": \"2026-11-26T07:17:48."
	"261449\", \"task_id\": \"c9d50be1-2ce5-4460-ae54-af0efa47ab94\"}";

static const char cap_meta_ext_parent[] =
	"{\"status\": \"SUCCESS\", \"result\": 3, \"traceback\": null, \"c"
	"hildren\": [], \"date_done\": \"2026-11-26T07:19:19.579150\", \"p"
	"arent_id\": \"4777c5f8-cfcc-413f-9668-fa5640d432fa\", \"name\": \""
	"tasks.add\", \"args\": [1, 2], \"kwargs\": {}, \"worker\": \"w1@v"
	"m\", \"retries\": 0, \"queue\": \"celery\", \"task_id\": \"aa4321"
	"e2-6f1b-45cd-9306-27e935a0e31a\"}";

static const char cap_meta_started[] =
	"{\"status\": \"STARTED\", \"result\": {\"pid\": 22329, \"hostname"
	"\": \"w1@vm\"}, \"traceback\": null, \"children\": [], \"date_don"
	"e\": null, \"name\": \"tasks.sleeper\", \"args\": [2], \"kwargs\""
	": {}, \"worker\": \"w1@vm\", \"retries\": 0, \"queue\": \"celery\""
	", \"task_id\": \"fa1dcc99-5220-4b06-a304-53133948c5e6\"}";

static const char cap_meta_retry[] =
	"{\"status\": \"RETRY\", \"result\": {\"exc_type\": \"KeyError\", "
	"\"exc_message\": [\"k0\"], \"exc_module\": \"builtins\"}, \"trace"
	"back\": \"Traceback (most recent call last):\\n  File \\\"/srv/ap"
	"p/tasks.py\\\", line 30, in retry_me\\n    raise KeyError('k%d' %"
	" self.request.retries)\\nKeyError: 'k0'\\n\\nDuring handling of t"
	"he above exception, another exception occurred:\\n\\nTraceback (m"
	"ost recent call last):\\n  File \\\"/usr/lib/python3/dist-package"
	"s/celery/app/trace.py\\\", line 451, in trace_task\\n    R = retv"
	"al = fun(*args, **kwargs)\\n                 ^^^^^^^^^^^^^^^^^^^^"
	"\\n  File \\\"/usr/lib/python3/dist-packages/celery/app/trace.py\\"
	"\", line 734, in __protected_call__\\n    return self.run(*args, "
	"**kwargs)\\n           ^^^^^^^^^^^^^^^^^^^^^^^^^\\n  File \\\"/sr"
	"v/app/tasks.py\\\", line 32, in retry_me\\n    raise self.retry(e"
	"xc=exc, countdown=1)\\n          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
	"\\n  File \\\"/usr/lib/python3/dist-packages/celery/app/task.py\\"
	"\", line 738, in retry\\n    raise ret\\ncelery.exceptions.Retry:"
	" Retry in 1s: KeyError('k0')\\n\", \"children\": [[[\"d2902398-89"
	"f0-4efb-a1b8-1ab7913f25be\", null], null]], \"date_done\": null, "
	"\"task_id\": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\"}";

static const char cap_meta_timelimit[] =
	"{\"status\": \"FAILURE\", \"result\": {\"exc_type\": \"TimeLimitE"
	"xceeded\", \"exc_message\": [1], \"exc_module\": \"billiard.excep"
	"tions\"}, \"traceback\": null, \"children\": [], \"date_done\": \""
	"2026-11-26T07:18:03.946848\", \"task_id\": \"e348c352-aff8-417f-8"
	"2dd-5ca467950d2b\"}";

static const char cap_die_late[] =
	"{\"body\": \"W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3Mi"
	"OiBudWxsLCAiY2hhaW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=\", \"content"
	"-encoding\": \"utf-8\", \"content-type\": \"application/json\", \""
	"headers\": {\"lang\": \"py\", \"task\": \"tasks.die_late\", \"id\""
	": \"9702a163-22c5-4602-ada0-d5136becaf2b\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"9702a163-22c5-4602-ada0-d5136becaf2b\", \"parent_id\": null, \"ar"
	"gsrepr\": \"()\", \"kwargsrepr\": \"{}\", \"origin\": \"gen9970@v"
	"m\", \"ignore_result\": false}, \"properties\": {\"correlation_id"
	"\": \"9702a163-22c5-4602-ada0-d5136becaf2b\", \"reply_to\": \"7c6"
	"4cc9a-d389-3904-b9f3-46e2c48a70b0\", \"delivery_mode\": 2, \"deli"
	"very_info\": {\"exchange\": \"\", \"routing_key\": \"celery\"}, \""
	"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \""
	"2dd67043-e25f-485e-9972-80dc9f2961ad\"}}";

static const char cap_die_late_requeued[] =
	"{\"body\": \"W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3Mi"
	"OiBudWxsLCAiY2hhaW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=\", \"content"
	"-encoding\": \"utf-8\", \"content-type\": \"application/json\", \""
	"headers\": {\"lang\": \"py\", \"task\": \"tasks.die_late\", \"id\""
	": \"9702a163-22c5-4602-ada0-d5136becaf2b\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"9702a163-22c5-4602-ada0-d5136becaf2b\", \"parent_id\": null, \"ar"
	"gsrepr\": \"()\", \"kwargsrepr\": \"{}\", \"origin\": \"gen9970@v"
	"m\", \"ignore_result\": false, \"redelivered\": true}, \"properti"
	"es\": {\"correlation_id\": \"9702a163-22c5-4602-ada0-d5136becaf2b"
	"\", \"reply_to\": \"7c64cc9a-d389-3904-b9f3-46e2c48a70b0\", \"del"
	"ivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routin"
	"g_key\": \"celery\", \"redelivered\": true}, \"priority\": 0, \"b"
	"ody_encoding\": \"base64\", \"delivery_tag\": \"2dd67043-e25f-485"
	"e-9972-80dc9f2961ad\"}}";

static const char cap_retry_orig[] =
	"{\"body\": \"W1sxXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tz"
	"IjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content"
	"-encoding\": \"utf-8\", \"content-type\": \"application/json\", \""
	"headers\": {\"lang\": \"py\", \"task\": \"tasks.retry_me\", \"id\""
	": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"d2902398-89f0-4efb-a1b8-1ab7913f25be\", \"parent_id\": null, \"ar"
	"gsrepr\": \"(1,)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen9006"
	"@vm\", \"ignore_result\": false}, \"properties\": {\"correlation_"
	"id\": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\", \"reply_to\": \"1"
	"9081ed0-3f9e-3b95-906d-8dcb1b341594\", \"delivery_mode\": 2, \"de"
	"livery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\"},"
	" \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\""
	": \"b72d32e2-75df-4d0d-810f-23879fd7d2f3\"}}";

static const char cap_retry_1[] =
	"{\"body\": \"W1sxXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tz"
	"IjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content"
	"-encoding\": \"utf-8\", \"content-type\": \"application/json\", \""
	"headers\": {\"lang\": \"py\", \"task\": \"tasks.retry_me\", \"id\""
	": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\", \"shadow\": null, \"e"
	"ta\": \"2026-11-26T07:17:53.509202+00:00\", \"expires\": null, \""
	"group\": null, \"group_index\": null, \"retries\": 1, \"timelimit"
	"\": [null, null], \"root_id\": \"d2902398-89f0-4efb-a1b8-1ab7913f"
	"25be\", \"parent_id\": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\", "
	"\"argsrepr\": \"(1,)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen"
	"6754@vm\", \"ignore_result\": false}, \"properties\": {\"correlat"
	"ion_id\": \"d2902398-89f0-4efb-a1b8-1ab7913f25be\", \"reply_to\":"
	" \"19081ed0-3f9e-3b95-906d-8dcb1b341594\", \"replaced_task_nestin"
	"g\": 0, \"origin\": \"gen9006@vm\", \"delivery_mode\": 2, \"deliv"
	"ery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\"}, \""
	"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \""
	"58304caa-c7d2-4ab4-9620-700edfd7ab58\"}}";

static const char cap_timelimit[] =
	"{\"body\": \"W1s0XSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tz"
	"IjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content"
	"-encoding\": \"utf-8\", \"content-type\": \"application/json\", \""
	"headers\": {\"lang\": \"py\", \"task\": \"tasks.sleeper\", \"id\""
	": \"0a981aa6-076a-4475-84a8-d820d70b1fe4\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [1, 0.5], \"root_id\": \"0a9"
	"81aa6-076a-4475-84a8-d820d70b1fe4\", \"parent_id\": null, \"argsr"
	"epr\": \"(4,)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen9275@vm"
	"\", \"ignore_result\": false}, \"properties\": {\"correlation_id\""
	": \"0a981aa6-076a-4475-84a8-d820d70b1fe4\", \"reply_to\": \"ff44f"
	"756-d1d4-3348-a7d0-e41b153ecb89\", \"delivery_mode\": 2, \"delive"
	"ry_info\": {\"exchange\": \"\", \"routing_key\": \"celery\"}, \"p"
	"riority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \""
	"731f8af9-c540-4a75-9ac5-58384e3036c1\"}}";

static const char cap_prio9[] =
	"{\"body\": \"W1sxLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJh"
	"Y2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"con"
	"tent-encoding\": \"utf-8\", \"content-type\": \"application/json\""
	", \"headers\": {\"lang\": \"py\", \"task\": \"tasks.add\", \"id\""
	": \"8fbc492e-86fd-468b-b299-51608a5dd55c\", \"shadow\": null, \"e"
	"ta\": null, \"expires\": null, \"group\": null, \"group_index\": "
	"null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \""
	"8fbc492e-86fd-468b-b299-51608a5dd55c\", \"parent_id\": null, \"ar"
	"gsrepr\": \"(1, 2)\", \"kwargsrepr\": \"{}\", \"origin\": \"gen25"
	"376@vm\", \"ignore_result\": false}, \"properties\": {\"correlati"
	"on_id\": \"8fbc492e-86fd-468b-b299-51608a5dd55c\", \"reply_to\": "
	"\"9ea01422-3fa0-3a9d-8e76-99161d46d2ae\", \"delivery_mode\": 2, \""
	"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\""
	"}, \"priority\": 9, \"body_encoding\": \"base64\", \"delivery_tag"
	"\": \"92988db0-b5d1-469d-a83b-b933b88b6c90\"}}";

/* ---- hand-made vectors (python3 json.dumps + base64, like kombu) ---- */

static const char syn_emoji[] =
	"{\"body\": \"W1siY2FmXHUwMGU5IFx1ZDgzZFx1ZGUwMCIsICJ4Il0sIHsibmFt"
	"ZSI6ICJcdTAwZmNcdWQ4M2RcdWRlMDAifSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZ"
	"XJyYmFja3MiOiBudWxsLCAiY2hhaW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=\""
	", \"content-encoding\": \"utf-8\", \"content-type\": \"applicatio"
	"n/json\", \"headers\": {\"lang\": \"py\", \"task\": \"tasks.echo\""
	", \"id\": \"11111111-2222-3333-4444-555555555555\", \"shadow\": n"
	"ull, \"eta\": null, \"expires\": null, \"group\": null, \"group_i"
	"ndex\": null, \"retries\": 0, \"timelimit\": [null, null], \"root"
	"_id\": \"11111111-2222-3333-4444-555555555555\", \"parent_id\": n"
	"ull, \"argsrepr\": \"()\", \"kwargsrepr\": \"{}\", \"origin\": \""
	"gen1@vm\", \"ignore_result\": false}, \"properties\": {\"correlat"
	"ion_id\": \"11111111-2222-3333-4444-555555555555\", \"reply_to\":"
	" \"r\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \""
	"\", \"routing_key\": \"celery\"}, \"priority\": 0, \"body_encodin"
	"g\": \"base64\", \"delivery_tag\": \"tag-1\"}}";

static const char syn_nan[] =
	"{\"body\": \"W1tOYU4sIEluZmluaXR5LCAtSW5maW5pdHksIDEuNV0sIHsiYmln"
	"IjogMTE4MDU5MTYyMDcxNzQxMTMwMzQyNCwgIm5lZyI6IC05MjIzMzcyMDM2ODU0N"
	"zc1ODA4LCAibWF4IjogOTIyMzM3MjAzNjg1NDc3NTgwNywgIm92ZXIiOiA5MjIzMz"
	"cyMDM2ODU0Nzc1ODA4fSwgbnVsbF0=\", \"content-encoding\": \"utf-8\""
	", \"content-type\": \"application/json\", \"headers\": {\"lang\":"
	" \"py\", \"task\": \"tasks.echo\", \"id\": \"11111111-2222-3333-4"
	"444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\":"
	" null, \"group\": null, \"group_index\": null, \"retries\": 0, \""
	"timelimit\": [null, null], \"root_id\": \"11111111-2222-3333-4444"
	"-555555555555\", \"parent_id\": null, \"argsrepr\": \"()\", \"kwa"
	"rgsrepr\": \"{}\", \"origin\": \"gen1@vm\", \"ignore_result\": fa"
	"lse}, \"properties\": {\"correlation_id\": \"11111111-2222-3333-4"
	"444-555555555555\", \"reply_to\": \"r\", \"delivery_mode\": 2, \""
	"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\""
	"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag"
	"\": \"tag-1\"}}";

static const char syn_pickle[] =
	"{\"body\": \"eA==\", \"content-encoding\": \"utf-8\", \"content-t"
	"ype\": \"application/x-python-serialize\", \"headers\": {\"lang\""
	": \"py\", \"task\": \"tasks.echo\", \"id\": \"11111111-2222-3333-"
	"4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\""
	": null, \"group\": null, \"group_index\": null, \"retries\": 0, \""
	"timelimit\": [null, null], \"root_id\": \"11111111-2222-3333-4444"
	"-555555555555\", \"parent_id\": null, \"argsrepr\": \"()\", \"kwa"
	"rgsrepr\": \"{}\", \"origin\": \"gen1@vm\", \"ignore_result\": fa"
	"lse}, \"properties\": {\"correlation_id\": \"11111111-2222-3333-4"
	"444-555555555555\", \"reply_to\": \"r\", \"delivery_mode\": 2, \""
	"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"celery\""
	"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag"
	"\": \"tag-1\"}}";


static const char add_body[] =
	"[[2, 3], {}, {\"callbacks\": null, \"errbacks\": null, "
	"\"chain\": null, \"chord\": null}]";
static const char add_id[] = "388f7537-745a-49df-92e7-7864c3df91d5";

/* malloc'd copy of s with the first occurrence of old replaced. */
static char *replace(const char *s, const char *old, const char *new)
{
	const char *p = strstr(s, old);
	size_t a, o = strlen(old), n = strlen(new), l = strlen(s);
	char *r;

	if (!p)
		return NULL;
	a = (size_t)(p - s);
	r = malloc(l - o + n + 1);
	memcpy(r, s, a);
	memcpy(r + a, new, n);
	memcpy(r + a + n, p + o, l - a - o + 1);
	return r;
}

static int streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int buf_is(const struct buf *b, const char *want)
{
	int ok = !b->failed && b->len == strlen(want) &&
		 memcmp(b->data, want, b->len) == 0;

	if (!ok)
		fprintf(stderr, "got  [%.*s]\nwant [%s]\n", (int)b->len,
			b->data ? b->data : "", want);
	return ok;
}

static int near(double a, double b)
{
	return a - b < 1e-6 && b - a < 1e-6;
}

/* ---- base64 ---- */

static int b64_is(const char *in, const char *want)
{
	unsigned char out[256];
	size_t n = 0;
	char err[64];

	if (base64_decode(in, strlen(in), out, sizeof out, &n, err,
			  sizeof err) < 0)
		return want == NULL;
	return want && n == strlen(want) && memcmp(out, want, n) == 0;
}

static void test_base64(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
					     "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	unsigned char bin[256], out[400];
	struct buf b;
	size_t k, n;

	for (k = 0; k < 7; k++) {
		CHECK(b64_is(enc[k], plain[k]));
		buf_init(&b);
		base64_encode(&b, plain[k], strlen(plain[k]));
		CHECK(b.len == strlen(enc[k]) &&
		      (!b.len || strcmp(b.data, enc[k]) == 0));
		buf_free(&b);
	}
	CHECK(b64_is("W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tz"
		     "IjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d",
		     add_body));
	CHECK(b64_is("Zm9", NULL));       /* missing padding */
	CHECK(b64_is("Zg", NULL));
	CHECK(b64_is("Zm9v\n", NULL));
	CHECK(b64_is("Zm 9v", NULL));
	CHECK(b64_is("Zm9v Zg==", NULL));
	CHECK(b64_is("Z===", NULL));
	CHECK(b64_is("====", NULL));
	CHECK(b64_is("Zg==Zm9v", NULL));  /* padding in the middle */
	CHECK(b64_is("Zg=v", NULL));
	CHECK(b64_is("Zm-_", NULL));      /* URL-safe alphabet */
	CHECK(b64_is("Zm9!", NULL));
	/* all byte values round-trip */
	for (k = 0; k < sizeof bin; k++)
		bin[k] = (unsigned char)k;
	buf_init(&b);
	base64_encode(&b, bin, sizeof bin);
	CHECK(base64_decode(b.data, b.len, out, sizeof out, &n, NULL, 0) == 0);
	CHECK(n == sizeof bin && memcmp(out, bin, n) == 0);
	CHECK(base64_decode(b.data, b.len, out, 10, &n, NULL, 0) < 0);
	buf_free(&b);
}

/* ---- isotime ---- */

static int iso_is(const char *s, double want, int want_zone)
{
	double t;
	int zone = -1;

	if (isotime_parse(s, strlen(s), &t, &zone) < 0)
		return 0;
	if (!near(t, want) || zone != want_zone) {
		fprintf(stderr, "%s -> %.6f zone %d\n", s, t, zone);
		return 0;
	}
	return 1;
}

static int iso_bad(const char *s)
{
	double t;

	return isotime_parse(s, strlen(s), &t, NULL) < 0;
}

static void test_isotime_parse(void)
{
	CHECK(iso_is("2026-11-26T07:17:37.027663+00:00", 1795677457.027663, 1));
	CHECK(iso_is("2026-11-26T07:17:37.027663Z", 1795677457.027663, 1));
	CHECK(iso_is("2026-11-26T07:17:37.027663z", 1795677457.027663, 1));
	CHECK(iso_is("2026-11-26T07:17:37.027663", 1795677457.027663, 0));
	CHECK(iso_is("2026-11-26 07:17:37", 1795677457.0, 0));
	CHECK(iso_is("2026-11-26T07:17", 1795677420.0, 0));
	CHECK(iso_is("2026-11-26", 1795651200.0, 0));
	CHECK(iso_is("2026-11-26T12:47:37.5+05:30", 1795677457.5, 1));
	CHECK(iso_is("2026-11-26T12:47:37.5+0530", 1795677457.5, 1));
	CHECK(iso_is("2026-11-25T23:17:37-08:00", 1795677457.0, 1));
	CHECK(iso_is("2026-11-26T09:17:37+02", 1795677457.0, 1));
	CHECK(iso_is("1970-01-01T00:00:00", 0.0, 0));
	CHECK(iso_is("1969-12-31T23:59:59.5", -0.5, 0));
	CHECK(iso_is("2024-02-29T00:00:00", 1709164800.0, 0));
	CHECK(iso_is("2000-02-29T00:00:00", 951782400.0, 0));
	CHECK(iso_is("0001-01-01T00:00:00", -62135596800.0, 0));
	CHECK(iso_is("9999-12-31T23:59:59.999999", 253402300799.999999, 0));
	CHECK(iso_is("2026-11-26T07:17:37.1234567890", 1795677457.123457, 0));
	CHECK(iso_bad(""));
	CHECK(iso_bad("tomorrow"));
	CHECK(iso_bad("2026-13-01"));
	CHECK(iso_bad("2026-00-01"));
	CHECK(iso_bad("2026-02-29"));
	CHECK(iso_bad("1900-02-29"));
	CHECK(iso_bad("2026-04-31"));
	CHECK(iso_bad("0000-01-01"));
	CHECK(iso_bad("2026-11-26T24:00:00"));
	CHECK(iso_bad("2026-11-26T07:60:00"));
	CHECK(iso_bad("2026-11-26T07:17:60"));
	CHECK(iso_bad("2026-11-26T07:17:37."));
	CHECK(iso_bad("2026-11-26T07:17:37.5 "));
	CHECK(iso_bad("2026-11-26T07:17:37+00:00x"));
	CHECK(iso_bad("2026-11-26T07:17:37+00:"));
	CHECK(iso_bad("2026-11-26T07:17:37+24:00"));
	CHECK(iso_bad("2026-11-26T07:17:37+0"));
	CHECK(iso_bad("2026-11-26X07:17:37"));
	CHECK(iso_bad("2026-11-26T7:17:37"));
	CHECK(iso_bad("26-11-26"));
	CHECK(iso_bad("2026-11-26T"));
}

static int fmt_is(double t, int utc, const char *want)
{
	char out[ISOTIME_BUFSZ];
	int n = utc ? isotime_format_utc(t, out, sizeof out) :
		      isotime_format_naive(t, out, sizeof out);

	if (!want)
		return n < 0;
	if (n < 0 || (size_t)n != strlen(want) || strcmp(out, want) != 0) {
		fprintf(stderr, "fmt %.6f -> %s want %s\n", t,
			n < 0 ? "(err)" : out, want);
		return 0;
	}
	return 1;
}

static void test_isotime_format(void)
{
	char small[8];

	CHECK(fmt_is(1795677468.255917, 0, "2026-11-26T07:17:48.255917"));
	CHECK(fmt_is(1795677457.027663, 1, "2026-11-26T07:17:37.027663+00:00"));
	CHECK(fmt_is(1795677457.0, 0, "2026-11-26T07:17:37"));
	CHECK(fmt_is(1795677457.0, 1, "2026-11-26T07:17:37+00:00"));
	CHECK(fmt_is(1795677457.9999996, 0, "2026-11-26T07:17:38"));
	CHECK(fmt_is(1795677457.000001, 0, "2026-11-26T07:17:37.000001"));
	CHECK(fmt_is(0, 0, "1970-01-01T00:00:00"));
	CHECK(fmt_is(-0.5, 0, "1969-12-31T23:59:59.500000"));
	CHECK(fmt_is(951782400.0, 0, "2000-02-29T00:00:00"));
	CHECK(fmt_is(-62135596800.0, 0, "0001-01-01T00:00:00"));
	CHECK(fmt_is(253402300799.0, 0, "9999-12-31T23:59:59"));
	CHECK(fmt_is(253402300800.0, 0, NULL));
	CHECK(fmt_is(-62135596801.0, 0, NULL));
	CHECK(fmt_is(NAN, 0, NULL));
	CHECK(fmt_is(INFINITY, 1, NULL));
	CHECK(isotime_format_naive(0, small, sizeof small) < 0);
}

static void test_isotime_roundtrip(void)
{
	double t;
	char s[ISOTIME_BUFSZ];
	int k;

	for (k = 0; k < 2000; k++) {
		double v = 1795677457.0 + k * 12345.678901;
		double back;

		t = (double)(int64_t)(v * 1e6 + 0.5) / 1e6; /* no libm */
		CHECK(isotime_format_utc(t, s, sizeof s) > 0);
		CHECK(isotime_parse(s, strlen(s), &back, NULL) == 0);
		CHECK(near(back, t));
	}
}

/* ---- envelope ---- */

static void test_envelope_v2_add(void)
{
	struct celery_envelope env;
	char err[256] = "";

	CHECK(celery_envelope_parse(cap_add_v2, sizeof cap_add_v2 - 1, 1 << 20,
				    &env, err, sizeof err) == 0);
	CHECK(env.protocol == 2);
	CHECK(streq(env.content_type, "application/json"));
	CHECK(streq(env.content_encoding, "utf-8"));
	CHECK(streq(env.body_encoding, "base64"));
	CHECK(streq(env.delivery_tag, "c507397b-a7b0-4a25-b147-443b2528e7ef"));
	CHECK(streq(env.exchange, ""));
	CHECK(streq(env.routing_key, "celery"));
	CHECK(streq(env.reply_to, "69f13f06-738c-3955-87c4-9df546077213"));
	CHECK(streq(env.correlation_id, add_id));
	CHECK(env.priority == 0);
	CHECK(env.redelivered == 0 && env.deliveries == 0);
	CHECK(env.body_len == sizeof add_body - 1 &&
	      memcmp(env.body, add_body, env.body_len) == 0);
	CHECK(env.body[env.body_len] == '\0');
	CHECK(streq(env.task, "tasks.add"));
	CHECK(streq(env.task_id, add_id));
	CHECK(streq(env.root_id, add_id));
	CHECK(env.parent_id == NULL && env.group == NULL &&
	      env.shadow == NULL && !env.has_group_index);
	CHECK(!env.has_eta && !env.has_expires && env.eta_str == NULL);
	CHECK(env.retries == 0);
	CHECK(!env.has_time_limit_hard && !env.has_time_limit_soft);
	CHECK(env.ignore_result == 0 && env.utc == 1);
	CHECK(streq(env.origin, "gen6464@vm"));
	CHECK(streq(env.argsrepr, "(2, 3)") && streq(env.kwargsrepr, "{}"));
	celery_envelope_free(&env);
	CHECK(env.task_id == NULL);
	celery_envelope_free(&env);
}

static void test_envelope_eta_priority(void)
{
	struct celery_envelope env;
	char err[256] = "";

	CHECK(celery_envelope_parse(cap_eta_prio, sizeof cap_eta_prio - 1,
				    1 << 20, &env, err, sizeof err) == 0);
	CHECK(env.priority == 5);
	CHECK(env.has_eta && near(env.eta, 1795677457.027663));
	CHECK(streq(env.eta_str, "2026-11-26T07:17:37.027663+00:00"));
	CHECK(!env.eta_naive);
	CHECK(env.has_expires && near(env.expires, 1795678027.027663));
	CHECK(streq(env.expires_str, "2026-11-26T07:27:07.027663+00:00"));
	CHECK(streq(env.task_id, "e2f5316f-230a-453b-ba53-9a48d4194ca8"));
	celery_envelope_free(&env);

	CHECK(celery_envelope_parse(cap_prio9, sizeof cap_prio9 - 1, 1 << 20,
				    &env, err, sizeof err) == 0);
	CHECK(env.priority == 9);
	celery_envelope_free(&env);

	CHECK(celery_envelope_parse(cap_custom_hdr, sizeof cap_custom_hdr - 1,
				    1 << 20, &env, err, sizeof err) == 0);
	CHECK(streq(env.routing_key, "other"));
	CHECK(streq(env.kwargsrepr, "{'y': 7}"));
	celery_envelope_free(&env);

	CHECK(celery_envelope_parse(cap_timelimit, sizeof cap_timelimit - 1,
				    1 << 20, &env, err, sizeof err) == 0);
	CHECK(env.has_time_limit_hard && env.time_limit_hard == 1.0);
	CHECK(env.has_time_limit_soft && env.time_limit_soft == 0.5);
	celery_envelope_free(&env);

	CHECK(celery_envelope_parse(cap_die_late_requeued,
				    sizeof cap_die_late_requeued - 1, 1 << 20,
				    &env, err, sizeof err) == 0);
	CHECK(env.redelivered == 1);
	celery_envelope_free(&env);
}

static void test_envelope_v1(void)
{
	struct celery_envelope env;
	struct celery_body b;
	char err[256] = "";
	int64_t v;

	CHECK(celery_envelope_parse(cap_v1, sizeof cap_v1 - 1, 1 << 20, &env,
				    err, sizeof err) == 0);
	CHECK(env.protocol == 1);
	CHECK(streq(env.task, "tasks.add"));
	CHECK(streq(env.task_id, "c6385726-49f3-4af7-81b2-958bca339738"));
	CHECK(streq(env.routing_key, "p1q"));
	CHECK(env.has_eta && near(env.eta, 1795677574.299837));
	CHECK(env.has_expires);
	CHECK(env.utc == 1 && env.root_id == NULL && env.argsrepr == NULL);
	CHECK(env.group == NULL && env.retries == 0);
	CHECK(celery_body_parse(&b, env.body, env.body_len, env.protocol, err,
				sizeof err) == 0);
	CHECK(celery_body_nargs(&b) == 2);
	CHECK(celery_body_int(&b, celery_body_arg(&b, 1), &v, err,
			      sizeof err) == 0 && v == 3);
	CHECK(b.args_len == 6 && memcmp(b.args_json, "[2, 3]", 6) == 0);
	CHECK(b.kwargs_len == 2 && memcmp(b.kwargs_json, "{}", 2) == 0);
	CHECK(b.embed_len == strlen(add_body) - 14 &&
	      memcmp(b.embed_json, add_body + 13, b.embed_len) == 0);
	celery_body_free(&b);
	celery_envelope_free(&env);
}

/* Parse the capture after replacing old by new; returns the rc. */
static int parse_edit(const char *cap, const char *old, const char *new,
		      struct celery_envelope *env, char *err, size_t errlen)
{
	char *m = replace(cap, old, new);
	int rc;

	if (!m) {
		fprintf(stderr, "vector edit failed: %s\n", old);
		memset(env, 0, sizeof *env);
		return -99;
	}
	rc = celery_envelope_parse(m, strlen(m), 1 << 20, env, err, errlen);
	free(m);
	return rc;
}

static void test_envelope_errors(void)
{
	struct celery_envelope env;
	char err[256];

	/* malformed JSON: nothing known */
	CHECK(celery_envelope_parse("{\"body\": ", 9, 1 << 20, &env, err,
				    sizeof err) < 0);
	CHECK(env.task_id == NULL && err[0]);
	celery_envelope_free(&env);
	CHECK(celery_envelope_parse("[]", 2, 1 << 20, &env, err,
				    sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(celery_envelope_parse("", 0, 1 << 20, &env, err, sizeof err) < 0);
	celery_envelope_free(&env);
	/* size limit */
	CHECK(celery_envelope_parse(cap_add_v2, sizeof cap_add_v2 - 1, 100,
				    &env, err, sizeof err) < 0);
	CHECK(strstr(err, "limit") != NULL && env.task_id == NULL);
	celery_envelope_free(&env);
	CHECK(celery_envelope_parse(cap_add_v2, sizeof cap_add_v2 - 1,
				    sizeof cap_add_v2 - 1, &env, err,
				    sizeof err) == 0);
	celery_envelope_free(&env);
	/* wrong content type: refused, but the id is known */
	CHECK(celery_envelope_parse(syn_pickle, sizeof syn_pickle - 1, 1 << 20,
				    &env, err, sizeof err) < 0);
	CHECK(strstr(err, "content type") != NULL);
	CHECK(streq(env.task_id, "11111111-2222-3333-4444-555555555555"));
	CHECK(streq(env.task, "tasks.echo"));
	CHECK(streq(env.delivery_tag, "tag-1") && env.body == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"content-type\": \"application/json\", ",
			 "", &env, err, sizeof err) < 0);
	CHECK(strstr(err, "content type") != NULL && streq(env.task_id, add_id));
	celery_envelope_free(&env);
	/* bad base64 */
	CHECK(parse_edit(cap_add_v2, "W1syLCAz", "W1s!LCAz", &env, err,
			 sizeof err) < 0);
	CHECK(strstr(err, "base64") != NULL && streq(env.task_id, add_id));
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "bnVsbH1d\"", "bnVsbH1\"", &env, err,
			 sizeof err) < 0);
	celery_envelope_free(&env);
	/* unknown body encoding */
	CHECK(parse_edit(cap_add_v2, "\"body_encoding\": \"base64\"",
			 "\"body_encoding\": \"gzip\"", &env, err,
			 sizeof err) < 0);
	CHECK(strstr(err, "gzip") != NULL && streq(env.task_id, add_id));
	celery_envelope_free(&env);
	/* body not base64-decodable as JSON still parses (body is checked by
	 * celery_body_parse later) */
	CHECK(parse_edit(cap_add_v2, "\"body\": \"W1sy", "\"body\": \"e1sy",
			 &env, err, sizeof err) == 0);
	celery_envelope_free(&env);
	/* missing / mistyped fields */
	CHECK(parse_edit(cap_add_v2,
			 "\"id\": \"388f7537-745a-49df-92e7-7864c3df91d5\", ",
			 "", &env, err, sizeof err) < 0);
	CHECK(strstr(err, "'id'") != NULL && env.task_id == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2,
			 "\"id\": \"388f7537-745a-49df-92e7-7864c3df91d5\"",
			 "\"id\": 5", &env, err, sizeof err) < 0);
	CHECK(env.task_id == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2,
			 "\"id\": \"388f7537-745a-49df-92e7-7864c3df91d5\"",
			 "\"id\": \"a\\u0000b\"", &env, err, sizeof err) < 0);
	CHECK(env.task_id == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"task\": \"tasks.add\"",
			 "\"task\": null", &env, err, sizeof err) < 0);
	CHECK(streq(env.task_id, add_id) && env.task == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "{\"body\": \"W1sy",
			 "{\"bodx\": \"W1sy", &env, err, sizeof err) < 0);
	CHECK(strstr(err, "body") != NULL && streq(env.task_id, add_id));
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"headers\": {", "\"headers\": 7, \"x\": {",
			 &env, err, sizeof err) < 0);
	celery_envelope_free(&env);
	/* bad eta / expires: refused after the id is known */
	CHECK(parse_edit(cap_add_v2, "\"eta\": null", "\"eta\": \"tomorrow\"",
			 &env, err, sizeof err) < 0);
	CHECK(strstr(err, "eta") != NULL && streq(env.task_id, add_id));
	CHECK(streq(env.routing_key, "celery") && env.body != NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"expires\": null", "\"expires\": 600",
			 &env, err, sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"eta\": null", "\"eta\": \"\"", &env,
			 err, sizeof err) == 0);
	CHECK(!env.has_eta && env.eta_str == NULL);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"eta\": null",
			 "\"eta\": \"2026-11-26T07:17:37\"", &env, err,
			 sizeof err) == 0);
	CHECK(env.has_eta && env.eta_naive && near(env.eta, 1795677457.0));
	celery_envelope_free(&env);
	/* retries, timelimit, ignore_result */
	CHECK(parse_edit(cap_add_v2, "\"retries\": 0", "\"retries\": -1", &env,
			 err, sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"retries\": 0", "\"retries\": 1.5",
			 &env, err, sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"retries\": 0", "\"retries\": 7", &env,
			 err, sizeof err) == 0 && env.retries == 7);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[1]", &env, err,
			 sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[-1, null]", &env, err,
			 sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[NaN, null]", &env, err,
			 sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[\"1\", null]", &env,
			 err, sizeof err) < 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[0, 2.5]", &env, err,
			 sizeof err) == 0);
	CHECK(!env.has_time_limit_hard && env.has_time_limit_soft &&
	      env.time_limit_soft == 2.5);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "[null, null]", "[]", &env, err,
			 sizeof err) == 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"ignore_result\": false",
			 "\"ignore_result\": true", &env, err, sizeof err) == 0);
	CHECK(env.ignore_result == 1);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"ignore_result\": false",
			 "\"ignore_result\": \"yes\"", &env, err,
			 sizeof err) < 0);
	celery_envelope_free(&env);
	/* duplicate key: the last wins, like Python */
	CHECK(parse_edit(cap_add_v2, "\"lang\": \"py\"",
			 "\"id\": \"first\", \"lang\": \"py\"", &env, err,
			 sizeof err) == 0);
	CHECK(streq(env.task_id, add_id));
	celery_envelope_free(&env);
}

static void test_envelope_props(void)
{
	struct celery_envelope env;
	char err[256];

	CHECK(parse_edit(cap_add_v2, "\"priority\": 0", "\"priority\": 12",
			 &env, err, sizeof err) == 0 && env.priority == 9);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"priority\": 0", "\"priority\": -3",
			 &env, err, sizeof err) == 0 && env.priority == 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"priority\": 0", "\"priority\": 4.7",
			 &env, err, sizeof err) == 0 && env.priority == 4);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"priority\": 0", "\"priority\": null",
			 &env, err, sizeof err) == 0 && env.priority == 0);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"priority\": 0",
			 "\"priority\": 99999999999999999999", &env, err,
			 sizeof err) == 0 && env.priority == 9);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"ignore_result\": false",
			 "\"ignore_result\": false, \"x-tryon-deliveries\": 4",
			 &env, err, sizeof err) == 0 && env.deliveries == 4);
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"ignore_result\": false",
			 "\"ignore_result\": false, \"x-tryon-deliveries\": -4",
			 &env, err, sizeof err) < 0);
	CHECK(streq(env.task_id, add_id));
	celery_envelope_free(&env);
	CHECK(parse_edit(cap_add_v2, "\"routing_key\": \"celery\"}",
			 "\"routing_key\": \"celery\", \"redelivered\": true}",
			 &env, err, sizeof err) == 0 && env.redelivered);
	celery_envelope_free(&env);
	/* no properties at all: body used as-is (no body_encoding) */
	CHECK(parse_edit(cap_add_v2, ", \"properties\": {",
			 ", \"x\": {", &env, err, sizeof err) == 0);
	CHECK(env.body_encoding == NULL && env.delivery_tag == NULL);
	CHECK(env.body && strncmp(env.body, "W1sy", 4) == 0);
	celery_envelope_free(&env);
}

static void test_envelope_raw_body(void)
{
	static const char raw[] =
		"{\"body\": \"[[1, \\\"\\u00e9\\\"], {}, null]\", "
		"\"content-type\": \"application/json\", \"headers\": "
		"{\"task\": \"t\", \"id\": \"i\"}, \"properties\": {}}";
	static const char v1_notobj[] =
		"{\"body\": \"WzFd\", \"content-type\": \"application/json\", "
		"\"headers\": {}, \"properties\": {\"body_encoding\": "
		"\"base64\"}}";
	static const char v1_noid[] =
		"{\"body\": \"eyJ0YXNrIjogInQifQ==\", \"content-type\": "
		"\"application/json\", \"properties\": {\"body_encoding\": "
		"\"base64\"}}";
	struct celery_envelope env;
	struct celery_body b;
	char err[256], *s;

	CHECK(celery_envelope_parse(raw, sizeof raw - 1, 1 << 20, &env, err,
				    sizeof err) == 0);
	CHECK(env.body_len == strlen(env.body) &&
	      strcmp(env.body, "[[1, \"\xc3\xa9\"], {}, null]") == 0);
	CHECK(env.routing_key == NULL && env.delivery_tag == NULL);
	CHECK(celery_body_parse(&b, env.body, env.body_len, 2, err,
				sizeof err) == 0);
	CHECK(celery_body_str(&b, celery_body_arg(&b, 1), &s, NULL, err,
			      sizeof err) == 0);
	CHECK(s && strcmp(s, "\xc3\xa9") == 0);
	free(s);
	CHECK(b.embed_len == strlen(add_body) - 14);
	celery_body_free(&b);
	celery_envelope_free(&env);
	/* v1 with a body that is no object */
	CHECK(celery_envelope_parse(v1_notobj, sizeof v1_notobj - 1, 1 << 20,
				    &env, err, sizeof err) < 0);
	CHECK(env.protocol == 1 && env.task_id == NULL);
	celery_envelope_free(&env);
	/* v1 without id, headers absent */
	CHECK(celery_envelope_parse(v1_noid, sizeof v1_noid - 1, 1 << 20, &env,
				    err, sizeof err) < 0);
	CHECK(strstr(err, "'id'") != NULL);
	celery_envelope_free(&env);
}

/* ---- body ---- */

static void test_body_v2(void)
{
	struct celery_body b;
	char err[256], *s;
	int64_t v;
	double f;
	size_t n;
	const char *p;

	CHECK(celery_body_parse(&b, add_body, sizeof add_body - 1, 2, err,
				sizeof err) == 0);
	CHECK(celery_body_nargs(&b) == 2);
	CHECK(celery_body_int(&b, celery_body_arg(&b, 0), &v, err,
			      sizeof err) == 0 && v == 2);
	CHECK(celery_body_double(&b, celery_body_arg(&b, 1), &f, err,
				 sizeof err) == 0 && f == 3.0);
	CHECK(celery_body_int(&b, celery_body_arg(&b, 2), &v, err,
			      sizeof err) == -2);
	CHECK(celery_body_str(&b, celery_body_arg(&b, 0), &s, NULL, err,
			      sizeof err) == -1 && s == NULL);
	CHECK(celery_body_str(&b, celery_body_kwarg(&b, "x"), &s, NULL, err,
			      sizeof err) == -2);
	CHECK(celery_body_raw(&b, celery_body_arg(&b, 1), &p, &n) == 0 &&
	      n == 1 && *p == '3');
	CHECK(b.args_len == 6 && memcmp(b.args_json, "[2, 3]", 6) == 0);
	CHECK(b.kwargs_len == 2 && memcmp(b.kwargs_json, "{}", 2) == 0);
	CHECK(b.embed_len == sizeof add_body - 1 - 14 &&
	      memcmp(b.embed_json, add_body + 13, b.embed_len) == 0);
	celery_body_free(&b);
	celery_body_free(&b);

	CHECK(celery_body_parse(&b, "[[], {}]", 8, 2, err, sizeof err) < 0);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "[{}, {}, {}]", 12, 2, err,
				sizeof err) < 0);
	CHECK(strstr(err, "list") != NULL);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "[[], [], {}]", 12, 2, err,
				sizeof err) < 0);
	CHECK(strstr(err, "mapping") != NULL);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "[[], {}, 5]", 11, 2, err,
				sizeof err) < 0);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "[[], {}, {}", 11, 2, err,
				sizeof err) < 0);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "{}", 2, 3, err, sizeof err) < 0);
	celery_body_free(&b);
	CHECK(celery_body_parse(&b, "[]", 2, 1, err, sizeof err) < 0);
	celery_body_free(&b);
}

static void test_body_unicode(void)
{
	struct celery_envelope env;
	struct celery_body b;
	char err[256], *s = NULL;
	size_t n = 0;

	CHECK(celery_envelope_parse(syn_emoji, sizeof syn_emoji - 1, 1 << 20,
				    &env, err, sizeof err) == 0);
	CHECK(celery_body_parse(&b, env.body, env.body_len, env.protocol, err,
				sizeof err) == 0);
	CHECK(celery_body_str(&b, celery_body_arg(&b, 0), &s, &n, err,
			      sizeof err) == 0);
	CHECK(s && n == 10 &&
	      strcmp(s, "caf\xc3\xa9 \xf0\x9f\x98\x80") == 0);
	free(s);
	CHECK(celery_body_str(&b, celery_body_kwarg(&b, "name"), &s, &n, err,
			      sizeof err) == 0);
	CHECK(s && strcmp(s, "\xc3\xbc\xf0\x9f\x98\x80") == 0);
	free(s);
	celery_body_free(&b);
	/* lone surrogate in an argument: refused when read */
	CHECK(celery_body_parse(&b, "[[\"\\ud83d\"], {}, null]", 22, 2, err,
				sizeof err) == 0);
	CHECK(celery_body_str(&b, celery_body_arg(&b, 0), &s, &n, err,
			      sizeof err) == -1 && s == NULL);
	CHECK(strstr(err, "surrogate") != NULL);
	celery_body_free(&b);
	celery_envelope_free(&env);
}

static void test_body_numbers(void)
{
	struct celery_envelope env;
	struct celery_body b;
	char err[256];
	int64_t v;
	double f;

	CHECK(celery_envelope_parse(syn_nan, sizeof syn_nan - 1, 1 << 20, &env,
				    err, sizeof err) == 0);
	CHECK(celery_body_parse(&b, env.body, env.body_len, env.protocol, err,
				sizeof err) == 0);
	CHECK(celery_body_nargs(&b) == 4);
	CHECK(celery_body_double(&b, celery_body_arg(&b, 0), &f, err,
				 sizeof err) == -1);
	CHECK(strstr(err, "NaN") != NULL);
	CHECK(celery_body_double(&b, celery_body_arg(&b, 1), &f, err,
				 sizeof err) == -1);
	CHECK(celery_body_double(&b, celery_body_arg(&b, 2), &f, err,
				 sizeof err) == -1);
	CHECK(json_kind(&b.doc, celery_body_arg(&b, 2)) == JSON_K_NONFINITE);
	CHECK(celery_body_double(&b, celery_body_arg(&b, 3), &f, err,
				 sizeof err) == 0 && f == 1.5);
	CHECK(celery_body_int(&b, celery_body_arg(&b, 3), &v, err,
			      sizeof err) == -1);
	CHECK(celery_body_int(&b, celery_body_kwarg(&b, "big"), &v, err,
			      sizeof err) == -1);
	CHECK(strstr(err, "range") != NULL);
	CHECK(celery_body_double(&b, celery_body_kwarg(&b, "big"), &f, err,
				 sizeof err) == 0 && f == 1180591620717411303424.0);
	CHECK(celery_body_int(&b, celery_body_kwarg(&b, "neg"), &v, err,
			      sizeof err) == 0 && v == INT64_MIN);
	CHECK(celery_body_int(&b, celery_body_kwarg(&b, "max"), &v, err,
			      sizeof err) == 0 && v == INT64_MAX);
	CHECK(celery_body_int(&b, celery_body_kwarg(&b, "over"), &v, err,
			      sizeof err) == -1);
	/* embed null -> the default embed for re-publishing */
	CHECK(b.embed_len == strlen(add_body) - 14);
	celery_body_free(&b);
	celery_envelope_free(&env);
}

/* ---- builders ---- */

static char *dupspan(const struct json_doc *d, int t)
{
	size_t s, e;
	char *r;

	if (t < 0)
		return NULL;
	json_tok_span(d, t, &s, &e);
	r = malloc(e - s + 1);
	memcpy(r, d->js + s, e - s);
	r[e - s] = '\0';
	return r;
}

static char *dupstr(const struct json_doc *d, int t)
{
	char *s = NULL;

	if (json_kind(d, t) == JSON_K_STRING)
		json_tok_strdup(d, t, &s, NULL, NULL, 0);
	return s;
}

/* Take a captured meta apart and build it again: must be byte-identical.
 * The exception dict in "result" is rebuilt with celery_exc_build too. */
static int meta_roundtrip(const char *cap)
{
	struct json_doc d;
	struct celery_meta m;
	struct buf b;
	char err[256] = "", *date;
	char *strs[12] = { 0 };
	int ok, r, k;
	int64_t retries = 0;

	if (json_parse(&d, cap, strlen(cap), 0, err, sizeof err) < 0)
		return 0;
	memset(&m, 0, sizeof m);
	m.status = strs[0] = dupstr(&d, json_obj_get(&d, 0, "status"));
	m.result_json = strs[1] = dupspan(&d, json_obj_get(&d, 0, "result"));
	m.traceback = strs[2] = dupstr(&d, json_obj_get(&d, 0, "traceback"));
	m.children_json = strs[3] =
		dupspan(&d, json_obj_get(&d, 0, "children"));
	date = strs[4] = dupstr(&d, json_obj_get(&d, 0, "date_done"));
	if (date) {
		m.has_date_done = 1;
		isotime_parse(date, strlen(date), &m.date_done, NULL);
	}
	m.group_id = strs[5] = dupstr(&d, json_obj_get(&d, 0, "group_id"));
	m.parent_id = strs[6] = dupstr(&d, json_obj_get(&d, 0, "parent_id"));
	if (json_obj_get(&d, 0, "name") >= 0) {
		m.extended = 1;
		m.name = strs[7] = dupstr(&d, json_obj_get(&d, 0, "name"));
		m.args_json = strs[8] =
			dupspan(&d, json_obj_get(&d, 0, "args"));
		m.kwargs_json = strs[9] =
			dupspan(&d, json_obj_get(&d, 0, "kwargs"));
		m.worker = strs[10] = dupstr(&d, json_obj_get(&d, 0, "worker"));
		json_tok_int64(&d, json_obj_get(&d, 0, "retries"), &retries,
			       NULL, 0);
		m.retries = retries;
		m.queue = strs[11] = dupstr(&d, json_obj_get(&d, 0, "queue"));
	}
	m.task_id = dupstr(&d, json_obj_get(&d, 0, "task_id"));
	buf_init(&b);
	buf_append_str(&b, "x");
	ok = celery_meta_build(&b, &m, err, sizeof err) == 0;
	if (!ok)
		fprintf(stderr, "meta build: %s\n", err);
	ok = ok && b.data[0] == 'x' && strcmp(b.data + 1, cap) == 0;
	if (!ok)
		fprintf(stderr, "got  %s\nwant %s\n", b.data + 1, cap);
	/* the exception dict */
	r = json_obj_get(&d, 0, "result");
	if (json_kind(&d, r) == JSON_K_OBJECT &&
	    json_obj_get(&d, r, "exc_type") >= 0) {
		char *t = dupstr(&d, json_obj_get(&d, r, "exc_type"));
		char *mod = dupstr(&d, json_obj_get(&d, r, "exc_module"));
		char *raw = dupspan(&d, json_obj_get(&d, r, "exc_message"));
		int msgs = json_obj_get(&d, r, "exc_message");
		int all_str = 1, n = d.toks[msgs].size;
		char *ms[8] = { 0 };

		buf_reset(&b);
		ok = ok && celery_exc_build_raw(&b, t, mod, raw, err,
						sizeof err) == 0 &&
		     strcmp(b.data, strs[1]) == 0;
		for (k = 0; k < n && k < 8; k++) {
			ms[k] = dupstr(&d, json_arr_get(&d, msgs, k));
			all_str = all_str && ms[k];
		}
		if (all_str && n <= 8) {
			buf_reset(&b);
			ok = ok && celery_exc_build(&b, t, mod,
						    (const char *const *)ms,
						    (size_t)n) == 0 &&
			     strcmp(b.data, strs[1]) == 0;
		}
		for (k = 0; k < 8; k++)
			free(ms[k]);
		free(t);
		free(mod);
		free(raw);
	}
	for (k = 0; k < 12; k++)
		free(strs[k]);
	free((char *)m.task_id);
	buf_free(&b);
	json_doc_free(&d);
	return ok;
}

static void test_meta_captured(void)
{
	CHECK(meta_roundtrip(cap_meta_success));
	CHECK(meta_roundtrip(cap_meta_failure));
	CHECK(meta_roundtrip(cap_meta_ext_parent));
	CHECK(meta_roundtrip(cap_meta_started));
	CHECK(meta_roundtrip(cap_meta_retry));
	CHECK(meta_roundtrip(cap_meta_timelimit));
}

static void test_meta_direct(void)
{
	struct celery_meta m;
	struct buf b;
	char err[128];

	memset(&m, 0, sizeof m);
	m.status = "SUCCESS";
	m.result_json = "5";
	m.has_date_done = 1;
	m.date_done = 1795677468.255917;
	m.task_id = "9a621043-ada0-4e34-aa5a-84bd237d13b5";
	buf_init(&b);
	CHECK(celery_meta_build(&b, &m, err, sizeof err) == 0);
	CHECK(buf_is(&b, cap_meta_success));
	/* group_id before parent_id; unicode result passes; traceback text
	 * escaped ASCII-only */
	buf_reset(&b);
	m.status = "FAILURE";
	m.result_json = "\"caf\xc3\xa9\"";
	m.traceback = "line1\n\"q\" \xc3\xa9";
	m.has_date_done = 0;
	m.group_id = "g";
	m.parent_id = "p";
	m.task_id = "t";
	CHECK(celery_meta_build(&b, &m, err, sizeof err) == 0);
	CHECK(buf_is(&b, "{\"status\": \"FAILURE\", \"result\": \"caf\xc3\xa9\", "
			 "\"traceback\": \"line1\\n\\\"q\\\" \\u00e9\", "
			 "\"children\": [], \"date_done\": null, "
			 "\"group_id\": \"g\", \"parent_id\": \"p\", "
			 "\"task_id\": \"t\"}"));
	/* errors leave the buffer as it was */
	buf_reset(&b);
	buf_append_str(&b, "keep");
	m.result_json = "{\"a\": }";
	CHECK(celery_meta_build(&b, &m, err, sizeof err) < 0);
	m.result_json = NULL;
	m.children_json = "{}";
	CHECK(celery_meta_build(&b, &m, err, sizeof err) < 0);
	m.children_json = NULL;
	m.task_id = NULL;
	CHECK(celery_meta_build(&b, &m, err, sizeof err) < 0);
	m.task_id = "t";
	m.has_date_done = 1;
	m.date_done = NAN;
	CHECK(celery_meta_build(&b, &m, err, sizeof err) < 0);
	CHECK(buf_is(&b, "keep"));
	buf_free(&b);
}

static void test_exc(void)
{
	static const char *const one[] = { "boom value" };
	static const char *const two[] = { "a\"b", NULL };
	struct buf b;
	char err[128];

	buf_init(&b);
	CHECK(celery_exc_build(&b, "ValueError", "builtins", one, 1) == 0);
	CHECK(buf_is(&b, "{\"exc_type\": \"ValueError\", \"exc_message\": "
			 "[\"boom value\"], \"exc_module\": \"builtins\"}"));
	buf_reset(&b);
	CHECK(celery_exc_build(&b, "SoftTimeLimitExceeded",
			       "billiard.exceptions", NULL, 0) == 0);
	CHECK(buf_is(&b, "{\"exc_type\": \"SoftTimeLimitExceeded\", "
			 "\"exc_message\": [], \"exc_module\": "
			 "\"billiard.exceptions\"}"));
	buf_reset(&b);
	CHECK(celery_exc_build(&b, "E", NULL, two, 2) == 0);
	CHECK(buf_is(&b, "{\"exc_type\": \"E\", \"exc_message\": "
			 "[\"a\\\"b\", null], \"exc_module\": null}"));
	buf_reset(&b);
	CHECK(celery_exc_build_raw(&b, "TimeLimitExceeded",
				   "billiard.exceptions", "[1]", err,
				   sizeof err) == 0);
	CHECK(buf_is(&b, "{\"exc_type\": \"TimeLimitExceeded\", "
			 "\"exc_message\": [1], \"exc_module\": "
			 "\"billiard.exceptions\"}"));
	buf_reset(&b);
	CHECK(celery_exc_build_raw(&b, "E", "m", "[1", err, sizeof err) < 0);
	CHECK(celery_exc_build_raw(&b, "E", "m", "{}", err, sizeof err) < 0);
	CHECK(celery_exc_build_raw(&b, NULL, "m", "[]", err, sizeof err) < 0);
	CHECK(celery_exc_build(&b, NULL, "m", NULL, 0) < 0);
	CHECK(b.len == 0);
	buf_free(&b);
}

/* Rebuild a captured client message from its parsed fields. */
static int task_roundtrip(const char *cap)
{
	struct celery_envelope env;
	struct celery_body body;
	struct celery_task_spec s;
	struct buf b;
	char err[256] = "";
	int ok;

	if (celery_envelope_parse(cap, strlen(cap), 1 << 20, &env, err,
				  sizeof err) < 0 ||
	    celery_body_parse(&body, env.body, env.body_len, 2, err,
			      sizeof err) < 0) {
		fprintf(stderr, "parse: %s\n", err);
		return 0;
	}
	memset(&s, 0, sizeof s);
	s.task = env.task;
	s.id = env.task_id;
	s.root_id = env.root_id;
	s.parent_id = env.parent_id;
	s.eta = env.eta_str;
	s.expires = env.expires_str;
	s.retries = env.retries;
	s.has_time_limit_hard = env.has_time_limit_hard;
	s.time_limit_hard = env.time_limit_hard;
	s.has_time_limit_soft = env.has_time_limit_soft;
	s.time_limit_soft = env.time_limit_soft;
	s.args_json = body.args_json;
	s.args_len = body.args_len;
	s.kwargs_json = body.kwargs_json;
	s.kwargs_len = body.kwargs_len;
	s.origin = env.origin; /* argsrepr/kwargsrepr computed */
	s.reply_to = env.reply_to;
	s.routing_key = env.routing_key;
	s.exchange = env.exchange;
	s.priority = env.priority;
	s.delivery_tag = env.delivery_tag;
	buf_init(&b);
	ok = celery_task_build(&b, &s, err, sizeof err) == 0 && buf_is(&b, cap);
	buf_free(&b);
	celery_body_free(&body);
	celery_envelope_free(&env);
	return ok;
}

static void test_task_build(void)
{
	struct celery_task_spec s;
	struct celery_envelope env;
	struct buf b;
	char err[256];

	CHECK(task_roundtrip(cap_add_v2));
	CHECK(task_roundtrip(cap_timelimit));
	CHECK(task_roundtrip(cap_retry_orig));
	CHECK(task_roundtrip(cap_die_late));

	memset(&s, 0, sizeof s);
	s.task = "tasks.echo";
	s.id = "id1";
	s.routing_key = "q";
	s.delivery_tag = "tag";
	s.args_json = "[\"caf\xc3\xa9\", {\"k\": null}]";
	s.kwargs_json = "{\"n\": 1}";
	s.deliveries = 2;
	s.has_time_limit_hard = 1;
	s.time_limit_hard = 30;
	s.priority = 3;
	buf_init(&b);
	CHECK(celery_task_build(&b, &s, err, sizeof err) == 0);
	CHECK(strstr(b.data, "\"argsrepr\": \"('caf\\u00e9', {'k': None})\"") !=
	      NULL);
	CHECK(strstr(b.data, "\"kwargsrepr\": \"{'n': 1}\"") != NULL);
	CHECK(strstr(b.data, "\"timelimit\": [30, null]") != NULL);
	CHECK(strstr(b.data, "\"root_id\": \"id1\"") != NULL);
	CHECK(strstr(b.data, "\"reply_to\": \"\"") != NULL);
	CHECK(strstr(b.data, "\"ignore_result\": false, "
			     "\"x-tryon-deliveries\": 2}") != NULL);
	CHECK(celery_envelope_parse(b.data, b.len, 1 << 20, &env, err,
				    sizeof err) == 0);
	CHECK(env.deliveries == 2 && env.priority == 3 &&
	      env.time_limit_hard == 30 && streq(env.task_id, "id1"));
	celery_envelope_free(&env);
	/* errors leave out alone */
	buf_reset(&b);
	s.args_json = "{}";
	CHECK(celery_task_build(&b, &s, err, sizeof err) < 0);
	s.args_json = NULL;
	s.kwargs_json = "[]";
	CHECK(celery_task_build(&b, &s, err, sizeof err) < 0);
	s.kwargs_json = NULL;
	s.embed_json = "{";
	CHECK(celery_task_build(&b, &s, err, sizeof err) < 0);
	s.embed_json = NULL;
	s.routing_key = NULL;
	CHECK(celery_task_build(&b, &s, err, sizeof err) < 0);
	CHECK(b.len == 0);
	buf_free(&b);
}

static void test_requeue(void)
{
	struct celery_envelope env;
	struct buf b, b2;
	char err[256];
	const char *p;
	int n;

	/* deliveries < 0: exactly kombu's requeue */
	buf_init(&b);
	CHECK(celery_requeue_rewrite(cap_die_late, sizeof cap_die_late - 1, -1,
				     &b, err, sizeof err) == 0);
	CHECK(buf_is(&b, cap_die_late_requeued));
	/* again: idempotent */
	buf_init(&b2);
	CHECK(celery_requeue_rewrite(b.data, b.len, -1, &b2, err,
				     sizeof err) == 0);
	CHECK(buf_is(&b2, cap_die_late_requeued));
	buf_reset(&b);
	buf_reset(&b2);
	/* with our counter, twice: replaced in place */
	CHECK(celery_requeue_rewrite(cap_die_late, sizeof cap_die_late - 1, 1,
				     &b, err, sizeof err) == 0);
	CHECK(strstr(b.data, "\"ignore_result\": false, \"redelivered\": true, "
			     "\"x-tryon-deliveries\": 1}") != NULL);
	CHECK(celery_requeue_rewrite(b.data, b.len, 2, &b2, err,
				     sizeof err) == 0);
	for (n = 0, p = b2.data; (p = strstr(p, "x-tryon-deliveries")); p++)
		n++;
	CHECK(n == 1);
	CHECK(b2.len == b.len);
	CHECK(celery_envelope_parse(b2.data, b2.len, 1 << 20, &env, err,
				    sizeof err) == 0);
	CHECK(env.redelivered && env.deliveries == 2);
	CHECK(streq(env.task_id, "9702a163-22c5-4602-ada0-d5136becaf2b"));
	CHECK(streq(env.delivery_tag, "2dd67043-e25f-485e-9972-80dc9f2961ad"));
	celery_envelope_free(&env);
	/* v1 message: headers {} get the members, the body stays */
	buf_reset(&b);
	CHECK(celery_requeue_rewrite(cap_v1, sizeof cap_v1 - 1, 3, &b, err,
				     sizeof err) == 0);
	CHECK(strstr(b.data, "\"headers\": {\"redelivered\": true, "
			     "\"x-tryon-deliveries\": 3}") != NULL);
	CHECK(celery_envelope_parse(b.data, b.len, 1 << 20, &env, err,
				    sizeof err) == 0);
	CHECK(env.protocol == 1 && env.deliveries == 3 && env.redelivered);
	CHECK(streq(env.task_id, "c6385726-49f3-4af7-81b2-958bca339738"));
	celery_envelope_free(&env);
	/* missing headers and delivery_info are created */
	buf_reset(&b);
	CHECK(celery_requeue_rewrite("{\"properties\": {}}", 18, 0, &b, err,
				     sizeof err) == 0);
	CHECK(buf_is(&b, "{\"properties\": {\"delivery_info\": "
			 "{\"redelivered\": true}}, \"headers\": "
			 "{\"redelivered\": true, \"x-tryon-deliveries\": 0}}"));
	buf_reset(&b);
	CHECK(celery_requeue_rewrite("[1]", 3, 0, &b, err, sizeof err) < 0);
	CHECK(celery_requeue_rewrite("{\"headers\": 1}", 14, 0, &b, err,
				     sizeof err) < 0);
	CHECK(b.len == 0);
	buf_free(&b);
	buf_free(&b2);
}

/* Python's retry message minus the two properties it adds on retry
 * (replaced_task_nesting, origin) which a 5.2.6 worker never reads. */
static void test_retry_captured(void)
{
	struct celery_envelope env;
	struct celery_body body;
	struct buf b;
	char err[256] = "";
	char *want = replace(cap_retry_1,
			     "\"replaced_task_nesting\": 0, \"origin\": "
			     "\"gen9006@vm\", ",
			     "");

	CHECK(want != NULL);
	CHECK(celery_envelope_parse(cap_retry_orig, sizeof cap_retry_orig - 1,
				    1 << 20, &env, err, sizeof err) == 0);
	CHECK(celery_body_parse(&body, env.body, env.body_len, env.protocol,
				err, sizeof err) == 0);
	buf_init(&b);
	CHECK(celery_retry_build(&b, &env, &body,
				 "2026-11-26T07:17:53.509202+00:00",
				 "58304caa-c7d2-4ab4-9620-700edfd7ab58",
				 "gen6754@vm", err, sizeof err) == 0);
	CHECK(want && buf_is(&b, want));
	buf_free(&b);
	celery_body_free(&body);
	celery_envelope_free(&env);
	free(want);
}

static void test_retry_v1_and_fields(void)
{
	struct celery_envelope env, out;
	struct celery_body body, ob;
	struct buf b;
	char err[256] = "";
	char *m;

	CHECK(celery_envelope_parse(cap_v1, sizeof cap_v1 - 1, 1 << 20, &env,
				    err, sizeof err) == 0);
	CHECK(celery_body_parse(&body, env.body, env.body_len, env.protocol,
				err, sizeof err) == 0);
	buf_init(&b);
	CHECK(celery_retry_build(&b, &env, &body, NULL, "tag2", "me@host", err,
				 sizeof err) == 0);
	CHECK(celery_envelope_parse(b.data, b.len, 1 << 20, &out, err,
				    sizeof err) == 0);
	CHECK(out.protocol == 2 && out.retries == 1 && !out.has_eta);
	CHECK(streq(out.task_id, env.task_id) && streq(out.task, "tasks.add"));
	CHECK(streq(out.root_id, env.task_id) &&
	      streq(out.parent_id, env.task_id));
	CHECK(streq(out.correlation_id, env.task_id));
	CHECK(streq(out.expires_str, env.expires_str));
	CHECK(streq(out.routing_key, "p1q") && streq(out.exchange, ""));
	CHECK(streq(out.delivery_tag, "tag2") && streq(out.origin, "me@host"));
	CHECK(streq(out.argsrepr, "(2, 3)") && streq(out.kwargsrepr, "{}"));
	CHECK(celery_body_parse(&ob, out.body, out.body_len, 2, err,
				sizeof err) == 0);
	CHECK(out.body_len == sizeof add_body - 1 &&
	      memcmp(out.body, add_body, out.body_len) == 0);
	celery_body_free(&ob);
	celery_envelope_free(&out);
	celery_body_free(&body);
	celery_envelope_free(&env);

	/* priority and timelimit carried over; our counter and redelivered
	 * dropped */
	m = replace(cap_timelimit, "\"priority\": 0", "\"priority\": 6");
	buf_reset(&b);
	CHECK(celery_requeue_rewrite(m, strlen(m), 5, &b, err, sizeof err) ==
	      0);
	free(m);
	CHECK(celery_envelope_parse(b.data, b.len, 1 << 20, &env, err,
				    sizeof err) == 0);
	CHECK(env.deliveries == 5 && env.priority == 6);
	CHECK(celery_body_parse(&body, env.body, env.body_len, 2, err,
				sizeof err) == 0);
	buf_reset(&b);
	CHECK(celery_retry_build(&b, &env, &body, "2030-01-01T00:00:00+00:00",
				 "t3", "o", err, sizeof err) == 0);
	CHECK(celery_envelope_parse(b.data, b.len, 1 << 20, &out, err,
				    sizeof err) == 0);
	CHECK(out.priority == 6 && out.deliveries == 0 && !out.redelivered);
	CHECK(out.time_limit_hard == 1 && out.time_limit_soft == 0.5);
	CHECK(strstr(b.data, "\"timelimit\": [1, 0.5]") != NULL);
	CHECK(out.has_eta && streq(out.eta_str, "2030-01-01T00:00:00+00:00"));
	CHECK(out.retries == env.retries + 1);
	celery_envelope_free(&out);
	/* missing routing key: refused */
	free(env.routing_key);
	env.routing_key = NULL;
	buf_reset(&b);
	CHECK(celery_retry_build(&b, &env, &body, NULL, "t", "o", err,
				 sizeof err) < 0);
	CHECK(b.len == 0);
	celery_body_free(&body);
	celery_envelope_free(&env);
	buf_free(&b);
}

static void test_deadletter(void)
{
	struct buf b;
	struct json_doc d;
	static const char msg[] = "{\"a\": \"\xc3\xa9\xff\"}\n";

	buf_init(&b);
	CHECK(celery_deadletter_build(&b, "bad json", "celery",
				      1795677427.024088, msg,
				      sizeof msg - 1) == 0);
	CHECK(buf_is(&b, "{\"reason\": \"bad json\", \"queue\": \"celery\", "
			 "\"received_at\": 1795677427.024088, \"message\": "
			 "\"{\\\"a\\\": \\\"\\u00e9\\udcff\\\"}\\n\"}"));
	CHECK(json_parse(&d, b.data, b.len, 0, NULL, 0) == 0);
	json_doc_free(&d);
	buf_reset(&b);
	CHECK(celery_deadletter_build(&b, NULL, NULL, NAN, NULL, 0) == 0);
	CHECK(buf_is(&b, "{\"reason\": null, \"queue\": null, "
			 "\"received_at\": null, \"message\": \"\"}"));
	buf_free(&b);
}

int main(void)
{
	RUN(test_base64);
	RUN(test_isotime_parse);
	RUN(test_isotime_format);
	RUN(test_isotime_roundtrip);
	RUN(test_envelope_v2_add);
	RUN(test_envelope_eta_priority);
	RUN(test_envelope_v1);
	RUN(test_envelope_errors);
	RUN(test_envelope_props);
	RUN(test_envelope_raw_body);
	RUN(test_body_v2);
	RUN(test_body_unicode);
	RUN(test_body_numbers);
	RUN(test_meta_captured);
	RUN(test_meta_direct);
	RUN(test_exc);
	RUN(test_task_build);
	RUN(test_requeue);
	RUN(test_retry_captured);
	RUN(test_retry_v1_and_fields);
	RUN(test_deadletter);
	return harness_report();
}
