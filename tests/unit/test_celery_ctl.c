/* test_celery_ctl: the pidbox wire layer against the bytes a real Celery
 * 5.2.6 / kombu 5.2.4 pair wrote (redis-cli MONITOR captures in
 * shared/reference/celery-captures, pasted below still MONITOR-escaped and
 * decoded here): requests parse, replies are rebuilt from the captured
 * fields and must equal the captured envelopes byte for byte. Everything
 * else goes through celery_ctl_handle, as the worker calls it: the
 * commands with arguments in full (celery_control_cmds), the inspect
 * replies only as far as the dispatch goes (their bytes are
 * test_celery_inspect's). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "celery/celery_ctl.h"
#include "harness.h"
#include "lib/json.h"

/* MONITOR payloads, verbatim from shared/reference/celery-captures */
/* monitor7.log PUBLISH /0.celery.pidbox */
static const char req_ping[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicGluZyIsICJhcmd1bWVudHMiOiB7fS"
	"wgImRlc3RpbmF0aW9uIjogbnVsbCwgInBhdHRlcm4iOiBudWxsLCAibWF0Y2hlciI"
	"6IG51bGwsICJ0aWNrZXQiOiAiMmE2MzE1YmMtMTJmYy00NjlmLTg4ZDktM2E3YWU0"
	"YzM0MDQ0IiwgInJlcGx5X3RvIjogeyJleGNoYW5nZSI6ICJyZXBseS5jZWxlcnkuc"
	"GlkYm94IiwgInJvdXRpbmdfa2V5IjogIjU1MzcyNGEyLWI3MzktM2QzYS04YmNmLT"
	"U2ODc5Y2Y0Yzk4OCJ9fQ==\\\", \\\"content-encoding\\\": \\\"utf-8\\"
	"\", \\\"content-type\\\": \\\"application/json\\\", \\\"headers\\"
	"\": {\\\"clock\\\": 1, \\\"expires\\\": 1795677521.7987752}, \\\""
	"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_info\\\":"
	" {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key\\\": \\"
	"\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64\\"
	"\", \\\"delivery_tag\\\": \\\"bab6363d-b810-47cc-98b3-6f44691506c"
	"6\\\"}}";
/* monitor7.log PUBLISH /0.celery.pidbox */
static const char req_active[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAiYWN0aXZlIiwgImFyZ3VtZW50cyI6IH"
	"t9LCAiZGVzdGluYXRpb24iOiBudWxsLCAicGF0dGVybiI6IG51bGwsICJtYXRjaGV"
	"yIjogbnVsbCwgInRpY2tldCI6ICJjMWJmZDk2MC0xZGMyLTQwNGMtYWQ1Ni05NGUz"
	"YTQ2MmRjMmQiLCAicmVwbHlfdG8iOiB7ImV4Y2hhbmdlIjogInJlcGx5LmNlbGVye"
	"S5waWRib3giLCAicm91dGluZ19rZXkiOiAiNzUwNjkwZDktMDhmNi0zYTE4LWJjMG"
	"UtY2NmMmE1YWIyZmJkIn19\\\", \\\"content-encoding\\\": \\\"utf-8\\"
	"\", \\\"content-type\\\": \\\"application/json\\\", \\\"headers\\"
	"\": {\\\"clock\\\": 1, \\\"expires\\\": 1795677523.0544033}, \\\""
	"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_info\\\":"
	" {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key\\\": \\"
	"\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64\\"
	"\", \\\"delivery_tag\\\": \\\"c8d2e24e-2fca-44be-a941-53e8be8c6fc"
	"5\\\"}}";
/* monitor12.log PUBLISH /0.celery.pidbox */
static const char req_ping_dest[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicGluZyIsICJhcmd1bWVudHMiOiB7fS"
	"wgImRlc3RpbmF0aW9uIjogWyJ3MUB2bSJdLCAicGF0dGVybiI6IG51bGwsICJtYXR"
	"jaGVyIjogbnVsbCwgInRpY2tldCI6ICI2MmZiY2UxMC1kMDFhLTRiNTYtYjNiYy03"
	"Nzc1ZTJhYTRmMzQiLCAicmVwbHlfdG8iOiB7ImV4Y2hhbmdlIjogInJlcGx5LmNlb"
	"GVyeS5waWRib3giLCAicm91dGluZ19rZXkiOiAiOGQ0NGMwOTYtZTMwYi0zM2M2LT"
	"ljNzctNmQyZmM3ZThkNmE2In19\\\", \\\"content-encoding\\\": \\\"utf"
	"-8\\\", \\\"content-type\\\": \\\"application/json\\\", \\\"heade"
	"rs\\\": {\\\"clock\\\": 1, \\\"expires\\\": 1795677592.8813307}, "
	"\\\"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_info\\"
	"\": {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key\\\""
	": \\\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base"
	"64\\\", \\\"delivery_tag\\\": \\\"263d4c53-a23c-4987-ab40-13c3a3c"
	"c7141\\\"}}";
/* monitor12.log PUBLISH /0.celery.pidbox */
static const char req_registered[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicmVnaXN0ZXJlZCIsICJhcmd1bWVudH"
	"MiOiB7InRhc2tpbmZvaXRlbXMiOiBbXX0sICJkZXN0aW5hdGlvbiI6IG51bGwsICJ"
	"wYXR0ZXJuIjogbnVsbCwgIm1hdGNoZXIiOiBudWxsLCAidGlja2V0IjogImQ2YjY5"
	"Y2ZhLTljMTktNDcyMy05YTdlLTYyYzA3Y2YxMmMyNSIsICJyZXBseV90byI6IHsiZ"
	"XhjaGFuZ2UiOiAicmVwbHkuY2VsZXJ5LnBpZGJveCIsICJyb3V0aW5nX2tleSI6IC"
	"I0YmExMDY0Mi02ZWU4LTM0YjQtODc4OS0yNzg1N2Q5MGI3NzMifX0=\\\", \\\"c"
	"ontent-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"app"
	"lication/json\\\", \\\"headers\\\": {\\\"clock\\\": 1, \\\"expire"
	"s\\\": 1795677593.1241646}, \\\"properties\\\": {\\\"delivery_mod"
	"e\\\": 2, \\\"delivery_info\\\": {\\\"exchange\\\": \\\"celery.pi"
	"dbox\\\", \\\"routing_key\\\": \\\"\\\"}, \\\"priority\\\": 0, \\"
	"\"body_encoding\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\"bc"
	"9e8122-e99d-4a75-bd68-f1928c38517a\\\"}}";
/* monitor12.log PUBLISH /0.celery.pidbox */
static const char req_ping_nobody[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicGluZyIsICJhcmd1bWVudHMiOiB7fS"
	"wgImRlc3RpbmF0aW9uIjogWyJub2JvZHlAeCJdLCAicGF0dGVybiI6IG51bGwsICJ"
	"tYXRjaGVyIjogbnVsbCwgInRpY2tldCI6ICIwYWM1MmRhMy0yNDhmLTQ0ZTMtOTk3"
	"ZS01NDAwM2IwY2IyOWEiLCAicmVwbHlfdG8iOiB7ImV4Y2hhbmdlIjogInJlcGx5L"
	"mNlbGVyeS5waWRib3giLCAicm91dGluZ19rZXkiOiAiZDZiNzNjMTItMWVmZC0zYj"
	"M2LThkNzMtM2Q5YjM0N2FjZWEwIn19\\\", \\\"content-encoding\\\": \\\""
	"utf-8\\\", \\\"content-type\\\": \\\"application/json\\\", \\\"he"
	"aders\\\": {\\\"clock\\\": 1, \\\"expires\\\": 1795677594.3863497"
	"}, \\\"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_in"
	"fo\\\": {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key"
	"\\\": \\\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\""
	"base64\\\", \\\"delivery_tag\\\": \\\"0f2f5277-fddb-4c1e-aaf8-821"
	"68837adb9\\\"}}";
/* monitor15.log PUBLISH /0.celery.pidbox */
static const char req_revoke[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicmV2b2tlIiwgImFyZ3VtZW50cyI6IH"
	"sidGFza19pZCI6ICI3YTc1NTI1Yi01ZWY2LTQ5NmEtYjE0YS0wMGUxMmFlMWQ2ZDA"
	"iLCAidGVybWluYXRlIjogZmFsc2UsICJzaWduYWwiOiAiU0lHVEVSTSJ9LCAiZGVz"
	"dGluYXRpb24iOiBudWxsLCAicGF0dGVybiI6IG51bGwsICJtYXRjaGVyIjogbnVsb"
	"H0=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-typ"
	"e\\\": \\\"application/json\\\", \\\"headers\\\": {\\\"clock\\\":"
	" 1, \\\"expires\\\": 1795677789.1728349}, \\\"properties\\\": {\\"
	"\"delivery_mode\\\": 2, \\\"delivery_info\\\": {\\\"exchange\\\":"
	" \\\"celery.pidbox\\\", \\\"routing_key\\\": \\\"\\\"}, \\\"prior"
	"ity\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery_t"
	"ag\\\": \\\"5b2f1690-9a0f-41f5-9ad7-3d4ae3565c6e\\\"}}";
/* monitor15.log PUBLISH /0.celery.pidbox */
static const char req_revoke_term[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAicmV2b2tlIiwgImFyZ3VtZW50cyI6IH"
	"sidGFza19pZCI6ICIxYTEyODdmZi04OGY0LTRmNmMtOTlhMy00NzE2NDEzY2M0OWQ"
	"iLCAidGVybWluYXRlIjogdHJ1ZSwgInNpZ25hbCI6ICJTSUdURVJNIn0sICJkZXN0"
	"aW5hdGlvbiI6IG51bGwsICJwYXR0ZXJuIjogbnVsbCwgIm1hdGNoZXIiOiBudWxsf"
	"Q==\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-typ"
	"e\\\": \\\"application/json\\\", \\\"headers\\\": {\\\"clock\\\":"
	" 2, \\\"expires\\\": 1795677793.1761005}, \\\"properties\\\": {\\"
	"\"delivery_mode\\\": 2, \\\"delivery_info\\\": {\\\"exchange\\\":"
	" \\\"celery.pidbox\\\", \\\"routing_key\\\": \\\"\\\"}, \\\"prior"
	"ity\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery_t"
	"ag\\\": \\\"003f5976-41b6-47f1-9361-9204ab458388\\\"}}";
/* monitor19.log PUBLISH /0.celery.pidbox */
static const char req_unknown[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAibm9fc3VjaF9jbWQiLCAiYXJndW1lbn"
	"RzIjoge30sICJkZXN0aW5hdGlvbiI6IG51bGwsICJwYXR0ZXJuIjogbnVsbCwgIm1"
	"hdGNoZXIiOiBudWxsLCAidGlja2V0IjogImUyMGM0YzVmLTgyYWEtNDI5OC05NTEy"
	"LTg1MjkyZjRmN2MwNCIsICJyZXBseV90byI6IHsiZXhjaGFuZ2UiOiAicmVwbHkuY"
	"2VsZXJ5LnBpZGJveCIsICJyb3V0aW5nX2tleSI6ICI1ODY0MTAxYS04MjAxLTM1YT"
	"ctYmRkMS02ODczYjJjODVmYTUifX0=\\\", \\\"content-encoding\\\": \\\""
	"utf-8\\\", \\\"content-type\\\": \\\"application/json\\\", \\\"he"
	"aders\\\": {\\\"clock\\\": 1, \\\"expires\\\": 1795677986.6635013"
	"}, \\\"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_in"
	"fo\\\": {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key"
	"\\\": \\\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\""
	"base64\\\", \\\"delivery_tag\\\": \\\"da3bc3b8-f179-46ea-842c-af2"
	"ccbc9f77e\\\"}}";
/* monitor19.log PUBLISH /0.celery.pidbox */
static const char req_hello[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAiaGVsbG8iLCAiYXJndW1lbnRzIjogey"
	"Jmcm9tX25vZGUiOiAieEB5IiwgInJldm9rZWQiOiB7fX0sICJkZXN0aW5hdGlvbiI"
	"6IG51bGwsICJwYXR0ZXJuIjogbnVsbCwgIm1hdGNoZXIiOiBudWxsLCAidGlja2V0"
	"IjogIjYzYzAzOTk4LTBmOTktNDY4My05MjhlLTY1ZTAxM2MyNzg4MSIsICJyZXBse"
	"V90byI6IHsiZXhjaGFuZ2UiOiAicmVwbHkuY2VsZXJ5LnBpZGJveCIsICJyb3V0aW"
	"5nX2tleSI6ICIyNTM2M2ViNy1jNzgxLTMwMDEtODIwOC1kZTZjYzU3N2Y3NzgifX0"
	"=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-type\\"
	"\": \\\"application/json\\\", \\\"headers\\\": {\\\"clock\\\": 5,"
	" \\\"expires\\\": 1795677987.6721325}, \\\"properties\\\": {\\\"d"
	"elivery_mode\\\": 2, \\\"delivery_info\\\": {\\\"exchange\\\": \\"
	"\"celery.pidbox\\\", \\\"routing_key\\\": \\\"\\\"}, \\\"priority"
	"\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery_tag\\"
	"\": \\\"ba3f1fe5-0a4e-487d-ad18-8789f95435e9\\\"}}";
/* monitor19.log PUBLISH /0.celery.pidbox */
static const char req_stats[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAic3RhdHMiLCAiYXJndW1lbnRzIjoge3"
	"0sICJkZXN0aW5hdGlvbiI6IG51bGwsICJwYXR0ZXJuIjogbnVsbCwgIm1hdGNoZXI"
	"iOiBudWxsLCAidGlja2V0IjogIjM3MGVhZTQwLWQyYWMtNGJlMS1iYjk5LTIxZTZk"
	"ZjgwOTc2MyIsICJyZXBseV90byI6IHsiZXhjaGFuZ2UiOiAicmVwbHkuY2VsZXJ5L"
	"nBpZGJveCIsICJyb3V0aW5nX2tleSI6ICIyYTFhNjY0Yy0zOTZmLTM2ZTgtOWE1ZS"
	"03MTJjMTk4ZjgzMWQifX0=\\\", \\\"content-encoding\\\": \\\"utf-8\\"
	"\", \\\"content-type\\\": \\\"application/json\\\", \\\"headers\\"
	"\": {\\\"clock\\\": 9, \\\"expires\\\": 1795677988.6783926}, \\\""
	"properties\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_info\\\":"
	" {\\\"exchange\\\": \\\"celery.pidbox\\\", \\\"routing_key\\\": \\"
	"\"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64\\"
	"\", \\\"delivery_tag\\\": \\\"e0b7656e-f3af-4624-be2c-345fd700b7d"
	"0\\\"}}";
/* monitor18.log PUBLISH /0.celery.pidbox */
static const char req_heartbeat[] =
	"{\\\"body\\\": \\\"eyJtZXRob2QiOiAiaGVhcnRiZWF0IiwgImFyZ3VtZW50cy"
	"I6IHt9LCAiZGVzdGluYXRpb24iOiBudWxsLCAicGF0dGVybiI6IG51bGwsICJtYXR"
	"jaGVyIjogbnVsbH0=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\"
	"\"content-type\\\": \\\"application/json\\\", \\\"headers\\\": {\\"
	"\"clock\\\": 1, \\\"expires\\\": 1795677893.477355}, \\\"properti"
	"es\\\": {\\\"delivery_mode\\\": 2, \\\"delivery_info\\\": {\\\"ex"
	"change\\\": \\\"celery.pidbox\\\", \\\"routing_key\\\": \\\"\\\"}"
	", \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\""
	"delivery_tag\\\": \\\"12df424b-ca8b-4510-8d09-f9dad4ac0ecf\\\"}}";
/* monitor7.log LPUSH 553724a2-b739-3d3a-8bcf-56879cf4c988.reply.celery.pidbox */
static const char rep_ping[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IHsib2siOiAicG9uZyJ9fQ==\\\", \\\""
	"content-encoding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"ap"
	"plication/json\\\", \\\"headers\\\": {\\\"ticket\\\": \\\"2a6315b"
	"c-12fc-469f-88d9-3a7ae4c34044\\\", \\\"clock\\\": 3}, \\\"propert"
	"ies\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": {\\\"e"
	"xchange\\\": \\\"reply.celery.pidbox\\\", \\\"routing_key\\\": \\"
	"\"553724a2-b739-3d3a-8bcf-56879cf4c988\\\"}, \\\"priority\\\": 0,"
	" \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\""
	"f5327d5e-7af0-4c83-9bea-254ca19fc3db\\\"}}";
/* monitor7.log LPUSH 750690d9-08f6-3a18-bc0e-ccf2a5ab2fbd.reply.celery.pidbox */
static const char rep_active[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IFt7ImlkIjogIjAxOTVlNDk2LTAzODMtNG"
	"FiOS1hNjdmLWZjMjZhMjc1ZWE1MSIsICJuYW1lIjogInRhc2tzLnNsZWVwZXIiLCA"
	"iYXJncyI6IFszXSwgImt3YXJncyI6IHt9LCAidHlwZSI6ICJ0YXNrcy5zbGVlcGVy"
	"IiwgImhvc3RuYW1lIjogIncxQHZtIiwgInRpbWVfc3RhcnQiOiAxNzk1Njc3NTIwL"
	"jA2MTA2NzMsICJhY2tub3dsZWRnZWQiOiB0cnVlLCAiZGVsaXZlcnlfaW5mbyI6IH"
	"siZXhjaGFuZ2UiOiAiIiwgInJvdXRpbmdfa2V5IjogImNlbGVyeSIsICJwcmlvcml"
	"0eSI6IDAsICJyZWRlbGl2ZXJlZCI6IG51bGx9LCAid29ya2VyX3BpZCI6IDEwNTg2"
	"fV19\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-ty"
	"pe\\\": \\\"application/json\\\", \\\"headers\\\": {\\\"ticket\\\""
	": \\\"c1bfd960-1dc2-404c-ad56-94e3a462dc2d\\\", \\\"clock\\\": 5}"
	", \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_inf"
	"o\\\": {\\\"exchange\\\": \\\"reply.celery.pidbox\\\", \\\"routin"
	"g_key\\\": \\\"750690d9-08f6-3a18-bc0e-ccf2a5ab2fbd\\\"}, \\\"pri"
	"ority\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delivery"
	"_tag\\\": \\\"a7cf60aa-81a3-4561-a6a1-3ba317186944\\\"}}";
/* monitor12.log LPUSH 4ba10642-6ee8-34b4-8789-27857d90b773.reply.celery.pidbox */
static const char rep_registered[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IFsidGFza3MuYWRkIiwgInRhc2tzLmF1dG"
	"9fcmV0cnkiLCAidGFza3MuZGllX2Vhcmx5IiwgInRhc2tzLmRpZV9sYXRlIiwgInR"
	"hc2tzLmRpZV9sYXRlX25vcmVqZWN0IiwgInRhc2tzLmZhaWwiLCAidGFza3MuZmFp"
	"bF9jdXN0b20iLCAidGFza3MuaGFyZF9saW1pdGVkIiwgInRhc2tzLm5vcmVzdWx0I"
	"iwgInRhc2tzLnJldHJ5X21lIiwgInRhc2tzLnNsZWVwZXIiLCAidGFza3Muc29mdF"
	"9saW1pdGVkIiwgInRhc2tzLnNwYXduIl19\\\", \\\"content-encoding\\\":"
	" \\\"utf-8\\\", \\\"content-type\\\": \\\"application/json\\\", \\"
	"\"headers\\\": {\\\"ticket\\\": \\\"d6b69cfa-9c19-4723-9a7e-62c07"
	"cf12c25\\\", \\\"clock\\\": 5}, \\\"properties\\\": {\\\"delivery"
	"_mode\\\": 1, \\\"delivery_info\\\": {\\\"exchange\\\": \\\"reply"
	".celery.pidbox\\\", \\\"routing_key\\\": \\\"4ba10642-6ee8-34b4-8"
	"789-27857d90b773\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\""
	": \\\"base64\\\", \\\"delivery_tag\\\": \\\"b63f0213-920f-429b-ba"
	"bd-9d9b845aa436\\\"}}";
/* monitor19.log LPUSH 5864101a-8201-35a7-bdd1-6873b2c85fa5.reply.celery.pidbox */
static const char rep_unknown[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IHsiZXJyb3IiOiAiS2V5RXJyb3IoJ25vX3"
	"N1Y2hfY21kJykifX0=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", "
	"\\\"content-type\\\": \\\"application/json\\\", \\\"headers\\\": "
	"{\\\"ticket\\\": \\\"e20c4c5f-82aa-4298-9512-85292f4f7c04\\\", \\"
	"\"clock\\\": 3}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\"
	"\"delivery_info\\\": {\\\"exchange\\\": \\\"reply.celery.pidbox\\"
	"\", \\\"routing_key\\\": \\\"5864101a-8201-35a7-bdd1-6873b2c85fa5"
	"\\\"}, \\\"priority\\\": 0, \\\"body_encoding\\\": \\\"base64\\\""
	", \\\"delivery_tag\\\": \\\"be79675d-7e2f-4689-8200-20a4c7c9de06\\"
	"\"}}";
/* monitor19.log LPUSH 25363eb7-c781-3001-8208-de6cc577f778.reply.celery.pidbox */
static const char rep_hello[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IHsicmV2b2tlZCI6IHt9LCAiY2xvY2siOi"
	"A3fX0=\\\", \\\"content-encoding\\\": \\\"utf-8\\\", \\\"content-"
	"type\\\": \\\"application/json\\\", \\\"headers\\\": {\\\"ticket\\"
	"\": \\\"63c03998-0f99-4683-928e-65e013c27881\\\", \\\"clock\\\": "
	"7}, \\\"properties\\\": {\\\"delivery_mode\\\": 1, \\\"delivery_i"
	"nfo\\\": {\\\"exchange\\\": \\\"reply.celery.pidbox\\\", \\\"rout"
	"ing_key\\\": \\\"25363eb7-c781-3001-8208-de6cc577f778\\\"}, \\\"p"
	"riority\\\": 0, \\\"body_encoding\\\": \\\"base64\\\", \\\"delive"
	"ry_tag\\\": \\\"82b9821d-7fd0-4642-b6bd-8fc735a0304c\\\"}}";
/* monitor19.log LPUSH 2a1a664c-396f-36e8-9a5e-712c198f831d.reply.celery.pidbox */
static const char rep_stats[] =
	"{\\\"body\\\": \\\"eyJ3MUB2bSI6IHsidG90YWwiOiB7fSwgInBpZCI6IDMwMT"
	"I1LCAiY2xvY2siOiAiOCIsICJ1cHRpbWUiOiA4LCAicG9vbCI6IHsibWF4LWNvbmN"
	"1cnJlbmN5IjogMSwgInByb2Nlc3NlcyI6IFszMDEyOF0sICJtYXgtdGFza3MtcGVy"
	"LWNoaWxkIjogIk4vQSIsICJwdXQtZ3VhcmRlZC1ieS1zZW1hcGhvcmUiOiBmYWxzZ"
	"SwgInRpbWVvdXRzIjogWzAsIDBdLCAid3JpdGVzIjogeyJ0b3RhbCI6IDAsICJhdm"
	"ciOiAiMC4wMCIsICJhbGwiOiAiIiwgInJhdyI6ICIiLCAic3RyYXRlZ3kiOiAiZmF"
	"pciIsICJpbnF1ZXVlcyI6IHsidG90YWwiOiAxLCAiYWN0aXZlIjogMH19fSwgImJy"
	"b2tlciI6IHsiaG9zdG5hbWUiOiAiMTI3LjAuMC4xIiwgInVzZXJpZCI6IG51bGwsI"
	"CJ2aXJ0dWFsX2hvc3QiOiAiMCIsICJwb3J0IjogNjM5OSwgImluc2lzdCI6IGZhbH"
	"NlLCAic3NsIjogZmFsc2UsICJ0cmFuc3BvcnQiOiAicmVkaXMiLCAiY29ubmVjdF9"
	"0aW1lb3V0IjogNCwgInRyYW5zcG9ydF9vcHRpb25zIjoge30sICJsb2dpbl9tZXRo"
	"b2QiOiBudWxsLCAidXJpX3ByZWZpeCI6IG51bGwsICJoZWFydGJlYXQiOiAxMjAuM"
	"CwgImZhaWxvdmVyX3N0cmF0ZWd5IjogInJvdW5kLXJvYmluIiwgImFsdGVybmF0ZX"
	"MiOiBbXX0sICJwcmVmZXRjaF9jb3VudCI6IDQsICJydXNhZ2UiOiB7InV0aW1lIjo"
	"gMC4yMjMyMjEsICJzdGltZSI6IDAuMDcwMjg3LCAibWF4cnNzIjogNDUxMTIsICJp"
	"eHJzcyI6IDAsICJpZHJzcyI6IDAsICJpc3JzcyI6IDAsICJtaW5mbHQiOiAxMTgyM"
	"SwgIm1hamZsdCI6IDEzLCAibnN3YXAiOiAwLCAiaW5ibG9jayI6IDg1MjAsICJvdW"
	"Jsb2NrIjogNDAsICJtc2dzbmQiOiAwLCAibXNncmN2IjogMCwgIm5zaWduYWxzIjo"
	"gMCwgIm52Y3N3IjogNDk4LCAibml2Y3N3IjogMjR9fX0=\\\", \\\"content-en"
	"coding\\\": \\\"utf-8\\\", \\\"content-type\\\": \\\"application/"
	"json\\\", \\\"headers\\\": {\\\"ticket\\\": \\\"370eae40-d2ac-4be"
	"1-bb99-21e6df809763\\\", \\\"clock\\\": 11}, \\\"properties\\\": "
	"{\\\"delivery_mode\\\": 1, \\\"delivery_info\\\": {\\\"exchange\\"
	"\": \\\"reply.celery.pidbox\\\", \\\"routing_key\\\": \\\"2a1a664"
	"c-396f-36e8-9a5e-712c198f831d\\\"}, \\\"priority\\\": 0, \\\"body"
	"_encoding\\\": \\\"base64\\\", \\\"delivery_tag\\\": \\\"71a7e295"
	"-fb13-4505-9d56-d7be9705cfef\\\"}}";
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

static int parse_vec(const char *vec, struct celery_ctl_request *r)
{
	size_t n;
	char *env = mon(vec, &n), err[200] = "";
	int rc = celery_ctl_parse(env, n, 1 << 20, r, err, sizeof err);

	if (rc < 0)
		fprintf(stderr, "parse: %s\n", err);
	free(env);
	return rc;
}

/* A request from a decoded body, wrapped as kombu sends it without a body
 * encoding (the body a JSON string in the envelope). */
static int parse_text(const char *body, struct celery_ctl_request *r,
		      char *err, size_t errlen)
{
	struct buf env;
	int rc;

	buf_init(&env);
	buf_append_str(&env, "{\"body\": ");
	json_write_str(&env, body, strlen(body), 0);
	buf_append_str(&env, ", \"content-type\": \"application/json\", "
			     "\"properties\": {\"body_encoding\": null}}");
	rc = celery_ctl_parse(env.data, env.len, 1 << 20, r, err, errlen);
	buf_free(&env);
	return rc;
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

/* Rebuild a reply envelope for request `req_vec` from the captured reply's
 * own fields (clock, tag) and reply value, and compare whole envelopes. */
static int reply_matches(const char *req_vec, const char *rep_vec,
			 const char *value)
{
	struct celery_ctl_request r;
	struct env_parts p;
	struct buf out, list;
	char err[200] = "";
	int ok;

	if (parse_vec(req_vec, &r) < 0)
		return 0;
	parts_get(rep_vec, &p);
	buf_init(&out);
	buf_init(&list);
	ok = celery_ctl_reply_build(&out, &r, "w1@vm", value, strlen(value),
				    p.clock, p.tag, err, sizeof err) == 0;
	ok = ok && buf_is_n(&out, p.env, p.env_len);
	ok = ok && celery_ctl_reply_list(&list, &r) == 0;
	if (ok) {
		/* the LPUSH key of the capture */
		char want[200];

		snprintf(want, sizeof want, "%s.reply.celery.pidbox",
			 p.routing_key);
		ok = buf_is(&list, want);
	}
	buf_free(&out);
	buf_free(&list);
	parts_free(&p);
	celery_ctl_request_free(&r);
	return ok;
}

static const char *const no_names[] = { NULL };

static struct celery_ctl_state base_state(void)
{
	struct celery_ctl_state st;

	memset(&st, 0, sizeof st);
	st.hostname = "w1@vm";
	st.task_names = no_names;
	return st;
}

/* Run celery_ctl_handle on a body given as JSON text. */
static int handle_body(const char *body, const struct celery_ctl_state *st,
		       struct buf *out, struct celery_ctl_action *act)
{
	struct celery_ctl_request r;
	char err[200] = "";
	int rc;

	if (parse_text(body, &r, err, sizeof err) < 0) {
		fprintf(stderr, "parse: %s\n", err);
		celery_ctl_request_free(&r);
		return -1;
	}
	rc = celery_ctl_handle(&r, st, out, act, err, sizeof err);
	celery_ctl_request_free(&r);
	return rc;
}

static int handle_is(const char *body, const struct celery_ctl_state *st,
		     const char *want)
{
	struct celery_ctl_action act;
	struct buf out;
	int ok;

	buf_init(&out);
	ok = handle_body(body, st, &out, &act) == 0 && buf_is(&out, want);
	celery_ctl_action_free(&act);
	buf_free(&out);
	return ok;
}

/* ---- requests ---------------------------------------------------------- */

static void test_parse_ping(void)
{
	struct celery_ctl_request r;

	CHECK(parse_vec(req_ping, &r) == 0);
	CHECK(r.method && !strcmp(r.method, "ping"));
	CHECK(r.ticket && !strcmp(r.ticket, "2a6315bc-12fc-469f-88d9-3a7ae4c34044"));
	CHECK(r.has_reply);
	CHECK(r.reply_exchange && !strcmp(r.reply_exchange, "reply.celery.pidbox"));
	CHECK(r.reply_routing_key &&
	      !strcmp(r.reply_routing_key, "553724a2-b739-3d3a-8bcf-56879cf4c988"));
	CHECK(r.clock == 1);
	CHECK(r.has_expires && r.expires == 1795677521.7987752);
	CHECK(r.dest_tok < 0 && !r.pattern && !r.matcher);
	CHECK(r.args_tok >= 0 && !r.args_bad);
	CHECK(celery_ctl_addressed(&r, "w1@vm") == CELERY_CTL_ADDR_YES);
	CHECK(celery_ctl_addressed(&r, "anyone@else") == CELERY_CTL_ADDR_YES);
	celery_ctl_request_free(&r);
	CHECK(r.method == NULL && r.body == NULL);
	celery_ctl_request_free(&r); /* twice is fine */
}

static void test_parse_destination(void)
{
	struct celery_ctl_request r;

	CHECK(parse_vec(req_ping_dest, &r) == 0);
	CHECK(r.dest_tok >= 0);
	CHECK(celery_ctl_addressed(&r, "w1@vm") == CELERY_CTL_ADDR_YES);
	CHECK(celery_ctl_addressed(&r, "w2@vm") == CELERY_CTL_ADDR_NO);
	CHECK(celery_ctl_addressed(&r, "w1@v") == CELERY_CTL_ADDR_NO);
	celery_ctl_request_free(&r);
	CHECK(parse_vec(req_ping_nobody, &r) == 0);
	CHECK(celery_ctl_addressed(&r, "w1@vm") == CELERY_CTL_ADDR_NO);
	celery_ctl_request_free(&r);
}

static void test_parse_registered_active(void)
{
	struct celery_ctl_request r;

	CHECK(parse_vec(req_registered, &r) == 0);
	CHECK(!strcmp(r.method, "registered") && r.args_tok >= 0);
	celery_ctl_request_free(&r);
	CHECK(parse_vec(req_active, &r) == 0);
	CHECK(!strcmp(r.method, "active") && r.has_reply);
	CHECK(!strcmp(r.ticket, "c1bfd960-1dc2-404c-ad56-94e3a462dc2d"));
	celery_ctl_request_free(&r);
}

/* Run the request in capture vec against st; the reply value lands in out. */
static int handle_vec(const char *vec, const struct celery_ctl_state *st,
		      struct buf *out, struct celery_ctl_action *act)
{
	struct celery_ctl_request r;
	char err[200] = "";
	int rc;

	if (parse_vec(vec, &r) < 0)
		return -1;
	rc = celery_ctl_handle(&r, st, out, act, err, sizeof err);
	celery_ctl_request_free(&r);
	return rc;
}

static void test_parse_revoke_casts(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf b;

	/* app.control.revoke(id): a cast, no ticket, no reply_to */
	CHECK(parse_vec(req_revoke, &r) == 0);
	CHECK(!strcmp(r.method, "revoke") && !r.has_reply && !r.ticket);
	CHECK(r.clock == 1);
	celery_ctl_request_free(&r);
	buf_init(&b);
	CHECK(handle_vec(req_revoke, &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_REVOKE && !act.reply && !act.terminate);
	CHECK(act.n_ids == 1 &&
	      !strcmp(act.ids[0], "7a75525b-5ef6-496a-b14a-00e12ae1d6d0"));
	CHECK(buf_is(&b, "{\"ok\": \"tasks 7a75525b-5ef6-496a-b14a-00e12ae1d6d0 "
			 "flagged as revoked\"}"));
	celery_ctl_action_free(&act);
	buf_reset(&b);

	CHECK(parse_vec(req_revoke_term, &r) == 0);
	CHECK(r.clock == 2);
	celery_ctl_request_free(&r);
	CHECK(handle_vec(req_revoke_term, &st, &b, &act) == 0);
	CHECK(act.terminate && act.signum == SIGTERM && act.n_ids == 1);
	celery_ctl_action_free(&act);
	buf_free(&b);
}

static void test_parse_other_methods(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf b;

	buf_init(&b);
	CHECK(parse_vec(req_hello, &r) == 0);
	CHECK(!strcmp(r.method, "hello") && r.clock == 5);
	celery_ctl_request_free(&r);
	/* from_node "x@y" is a peer, so its hello is answered */
	CHECK(handle_vec(req_hello, &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_SYNC && act.clock_used);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(parse_vec(req_stats, &r) == 0);
	CHECK(!strcmp(r.method, "stats") && r.clock == 9);
	celery_ctl_request_free(&r);
	CHECK(parse_vec(req_unknown, &r) == 0);
	CHECK(!strcmp(r.method, "no_such_cmd"));
	celery_ctl_request_free(&r);
	/* `celery events` broadcasts a heartbeat cast when it connects */
	CHECK(parse_vec(req_heartbeat, &r) == 0);
	CHECK(!r.has_reply && !r.ticket);
	celery_ctl_request_free(&r);
	CHECK(handle_vec(req_heartbeat, &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_HEARTBEAT && !act.reply);
	celery_ctl_action_free(&act);
	buf_free(&b);

	/* aliases answer as their method; names are case-sensitive */
	CHECK(handle_is("{\"method\": \"dump_active\"}", &st, "[]"));
	CHECK(handle_is("{\"method\": \"dump_tasks\"}", &st, "[]"));
	CHECK(handle_is("{\"method\": \"dump_schedule\"}", &st, "[]"));
	CHECK(handle_is("{\"method\": \"dump_conf\"}", &st, "{}"));
	CHECK(handle_is("{\"method\": \"memsample\"}", &st,
			"{\"error\": \"memsample is not supported by tryon-worker\"}"));
	CHECK(handle_is("{\"method\": \"Ping\"}", &st,
			"{\"error\": \"KeyError('Ping')\"}"));
}

static void test_parse_errors(void)
{
	static const char *const bad[] = {
		"", "not json", "[]",
		/* pickle: ContentDisallowed, never run */
		"{\"body\": \"gAN9\", \"content-type\": \"application/x-python-serialize\", "
		"\"properties\": {\"body_encoding\": \"base64\"}}",
		/* bad base64 */
		"{\"body\": \"e30\", \"content-type\": \"application/json\", "
		"\"properties\": {\"body_encoding\": \"base64\"}}",
		/* {} has no method */
		"{\"body\": \"e30=\", \"content-type\": \"application/json\", "
		"\"properties\": {\"body_encoding\": \"base64\"}}",
		/* body not a string */
		"{\"body\": {}, \"content-type\": \"application/json\"}",
		/* unknown body encoding */
		"{\"body\": \"x\", \"content-type\": \"application/json\", "
		"\"properties\": {\"body_encoding\": \"rot13\"}}",
	};
	static const char *const bad_bodies[] = {
		"{\"method\": 5}", "{\"method\": null}", "[\"ping\"]",
		"{\"method\": \"ping\", \"reply_to\": {\"exchange\": \"x\"}}",
		"{\"method\": \"ping\", \"reply_to\": \"rk\"}",
		"{\"method\": \"pi\\u0000ng\"}",
		"{\"method\": \"ping\", \"pattern\": 5, \"matcher\": \"glob\"}",
	};
	struct celery_ctl_request r;
	char err[200];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK(celery_ctl_parse(bad[i], strlen(bad[i]), 1 << 20, &r, err,
				       sizeof err) == -1);
		CHECK(err[0] != '\0');
		celery_ctl_request_free(&r);
	}
	for (i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		err[0] = '\0';
		CHECK(parse_text(bad_bodies[i], &r, err, sizeof err) == -1);
		CHECK(err[0] != '\0');
		celery_ctl_request_free(&r);
	}
	/* size limit */
	{
		size_t n;
		char *env = mon(req_ping, &n);

		CHECK(celery_ctl_parse(env, n, n - 1, &r, err, sizeof err) == -1);
		celery_ctl_request_free(&r);
		CHECK(celery_ctl_parse(env, n, n, &r, err, sizeof err) == 0);
		celery_ctl_request_free(&r);
		free(env);
	}
	/* a plain (not base64) body is what kombu sends without encoding */
	{
		const char *plain =
			"{\"body\": \"{\\\"method\\\": \\\"ping\\\", \\\"reply_to\\\": "
			"null}\", \"content-type\": \"application/json\", "
			"\"headers\": {\"clock\": 1.5}, \"properties\": {}}";

		CHECK(celery_ctl_parse(plain, strlen(plain), 4096, &r, err,
				       sizeof err) == 0);
		CHECK(!strcmp(r.method, "ping") && !r.has_reply && r.clock == 0);
		celery_ctl_request_free(&r);
	}
	/* falsy reply_to is a cast; falsy arguments are {} */
	{
		const char *b = "{\"method\": \"ping\", \"reply_to\": {}, "
				"\"arguments\": []}";

		CHECK(parse_text(b, &r, err, sizeof err) == 0);
		CHECK(!r.has_reply && r.args_tok < 0 && !r.args_bad);
		celery_ctl_request_free(&r);
	}
}

static void test_addressing(void)
{
	static const struct {
		const char *body;
		const char *host;
		int want;
	} cases[] = {
		{ "{\"method\": \"ping\", \"destination\": []}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"destination\": [\"a\", \"w1@vm\"]}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"destination\": [5, null]}", "w1@vm", 0 },
		/* Python's `in` on a string is a substring test */
		{ "{\"method\": \"ping\", \"destination\": \"xw1@vmx\"}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"destination\": \"w2@vm\"}", "w1@vm", 0 },
		{ "{\"method\": \"ping\", \"destination\": {\"w1@vm\": 1}}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"destination\": 7}", "w1@vm", -1 },
		/* destination wins over a pattern */
		{ "{\"method\": \"ping\", \"destination\": [\"x\"], \"pattern\": \"*\", "
		  "\"matcher\": \"glob\"}", "w1@vm", 0 },
		{ "{\"method\": \"ping\", \"pattern\": \"w1@*\", \"matcher\": \"glob\"}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"pattern\": \"x*\", \"matcher\": \"glob\"}", "w1@vm", 0 },
		{ "{\"method\": \"ping\", \"pattern\": \"w?@v[a-m]\", \"matcher\": \"glob\"}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"pattern\": \"w[!1]@vm\", \"matcher\": \"glob\"}", "w1@vm", 0 },
		{ "{\"method\": \"ping\", \"pattern\": \"W1@VM\", \"matcher\": \"glob\"}", "w1@vm", 0 },
		{ "{\"method\": \"ping\", \"pattern\": \"[z-a]*\", \"matcher\": \"glob\"}", "w1@vm", 0 },
		/* translate() drops the reversed range b-a with its ends:
		 * [\-c] (checked against Python 3.11's fnmatch) */
		{ "{\"method\": \"ping\", \"pattern\": \"[b-a-c]\", \"matcher\": \"glob\"}", "b", 0 },
		{ "{\"method\": \"ping\", \"pattern\": \"[b-a-c]\", \"matcher\": \"glob\"}", "-", 1 },
		{ "{\"method\": \"ping\", \"pattern\": \"[b-a-a-c]\", \"matcher\": \"glob\"}", "b", 1 },
		{ "{\"method\": \"ping\", \"pattern\": \"w.@\", \"matcher\": \"pcre\"}", "w1@vm", -1 },
		/* a pattern without a matcher addresses everyone */
		{ "{\"method\": \"ping\", \"pattern\": \"x*\"}", "w1@vm", 1 },
		{ "{\"method\": \"ping\", \"pattern\": \"\", \"matcher\": \"glob\"}", "w1@vm", 1 },
	};
	struct celery_ctl_request r;
	char err[200];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got;

		CHECK(parse_text(cases[i].body, &r, err, sizeof err) == 0);
		got = celery_ctl_addressed(&r, cases[i].host);
		if (got != cases[i].want)
			fprintf(stderr, "  case %zu: got %d\n", i, got);
		CHECK(got == cases[i].want);
		celery_ctl_request_free(&r);
	}
}

/* Arguments as Celery's handlers read them (maybe_list, set(), truthiness,
 * signals.signum), seen through revoke's replies and actions. */
static void test_args(void)
{
	static const struct {
		const char *args;  /* the "arguments" object */
		const char *reply; /* the reply value */
		int terminate;
		int signum;
	} cases[] = {
		/* maybe_list + set(): order kept, duplicates dropped */
		{ "{\"task_id\": [\"a\", \"b\", \"a\"]}",
		  "{\"ok\": \"tasks a, b flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": \"a\"}",
		  "{\"ok\": \"tasks a flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": null}",
		  "{\"ok\": \"tasks  flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": [\"a\", 5]}",
		  "{\"error\": \"TypeError('sequence item 1: expected str instance, int found')\"}", 0, 0 },
		{ "{\"task_id\": [{}]}",
		  "{\"error\": \"TypeError(\\\"unhashable type: 'dict'\\\")\"}", 0, 0 },
		{ "{\"task_id\": [[]]}",
		  "{\"error\": \"TypeError(\\\"unhashable type: 'list'\\\")\"}", 0, 0 },
		{ "{\"task_id\": 2.5}",
		  "{\"error\": \"TypeError('sequence item 0: expected str instance, float found')\"}", 0, 0 },
		{ "{\"task_id\": true}",
		  "{\"error\": \"TypeError('sequence item 0: expected str instance, bool found')\"}", 0, 0 },
		{ "{\"task_id\": {\"a\": 1}}",
		  "{\"error\": \"TypeError(\\\"unhashable type: 'dict'\\\")\"}", 0, 0 },
		/* terminate is read for its truthiness */
		{ "{\"task_id\": \"t\", \"terminate\": \"\"}",
		  "{\"ok\": \"tasks t flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": {}}",
		  "{\"ok\": \"tasks t flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": 0.0}",
		  "{\"ok\": \"tasks t flagged as revoked\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": [0]}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		{ "{\"task_id\": \"t\", \"terminate\": \"no\"}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		/* signals.signum(signal or "SIGTERM"), texts as a 5.2.6 worker replied */
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"KILL\"}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGKILL },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"SIGUSR1\"}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGUSR1 },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"CLD\"}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGCHLD },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": 9}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, 9 },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": true}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, 1 },
		{ "{\"task_id\": \"t\", \"terminate\": true}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": null}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": 0}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"\"}",
		  "{\"ok\": \"terminate: tasks unknown\"}", 1, SIGTERM },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"kill\"}",
		  "{\"error\": \"TypeError('signal name must be uppercase string.')\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": \"FOO\"}",
		  "{\"error\": \"AttributeError(\\\"module 'signal' has no attribute 'SIGFOO'\\\")\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": 99}",
		  "{\"error\": \"ValueError('signal number out of range')\"}", 0, 0 },
		{ "{\"task_id\": \"t\", \"terminate\": true, \"signal\": 2.5}",
		  "{\"error\": \"TypeError('signal name must be uppercase string.')\"}", 0, 0 },
	};
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf body, b;
	size_t i;

	buf_init(&body);
	buf_init(&b);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&body);
		buf_reset(&b);
		buf_printf(&body, "{\"method\": \"revoke\", \"arguments\": %s}",
			   cases[i].args);
		CHECK(handle_body(body.data, &st, &b, &act) == 0);
		if (!buf_is(&b, cases[i].reply) ||
		    act.terminate != cases[i].terminate ||
		    (act.terminate && act.signum != cases[i].signum)) {
			fprintf(stderr, "  case %zu: %s\n", i, cases[i].args);
			CHECK(0);
		}
		celery_ctl_action_free(&act);
	}
	buf_free(&body);
	buf_free(&b);

	CHECK(celery_ctl_clock_adjust(3, 1) == 4);
	CHECK(celery_ctl_clock_adjust(3, 9) == 10);
	CHECK(celery_ctl_clock_adjust(INT64_MAX, 1) == INT64_MAX);
}

/* ---- replies, byte for byte ------------------------------------------- */

static void test_reply_ping_bytes(void)
{
	CHECK(reply_matches(req_ping, rep_ping, "{\"ok\": \"pong\"}"));
	/* and the value as celery_ctl_handle builds it */
	{
		struct celery_ctl_state st = base_state();

		CHECK(handle_is("{\"method\": \"ping\"}", &st, "{\"ok\": \"pong\"}"));
	}
}

static void test_reply_active_bytes(void)
{
	struct celery_ctl_task t;
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf body;
	char err[200];

	memset(&t, 0, sizeof t);
	t.id = "0195e496-0383-4ab9-a67f-fc26a275ea51";
	t.name = "tasks.sleeper";
	t.args_json = "[3]";
	t.kwargs_json = "{}";
	t.time_start = 1795677520.0610673;
	t.acknowledged = 1;
	t.exchange = "";
	t.routing_key = "celery";
	t.pid = 10586;
	st.active = &t;
	st.n_active = 1;
	buf_init(&body);
	CHECK(parse_vec(req_active, &r) == 0);
	CHECK(celery_ctl_handle(&r, &st, &body, &act, err, sizeof err) == 0);
	CHECK(act.reply == 1 && act.act == CELERY_CTL_ACT_NONE);
	CHECK(reply_matches(req_active, rep_active, body.data));
	celery_ctl_action_free(&act);
	celery_ctl_request_free(&r);
	buf_free(&body);
}

static void test_reply_registered_bytes(void)
{
	/* given unsorted, with a builtin that Celery leaves out */
	static const char *const names[] = {
		"tasks.spawn", "tasks.add", "tasks.soft_limited", "tasks.auto_retry",
		"tasks.sleeper", "tasks.die_early", "celery.chord_unlock",
		"tasks.retry_me", "tasks.die_late", "tasks.noresult",
		"tasks.die_late_noreject", "tasks.hard_limited", "tasks.fail",
		"tasks.fail_custom",
	};
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf body;
	char err[200];

	st.task_names = names;
	st.n_task_names = sizeof names / sizeof names[0];
	buf_init(&body);
	CHECK(parse_vec(req_registered, &r) == 0);
	CHECK(celery_ctl_handle(&r, &st, &body, &act, err, sizeof err) == 0);
	CHECK(reply_matches(req_registered, rep_registered, body.data));
	celery_ctl_action_free(&act);
	celery_ctl_request_free(&r);
	buf_free(&body);
}

static void test_reply_unknown_bytes(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf body;
	char err[200];

	buf_init(&body);
	CHECK(parse_vec(req_unknown, &r) == 0);
	CHECK(celery_ctl_addressed(&r, "w1@vm") == CELERY_CTL_ADDR_YES);
	CHECK(celery_ctl_handle(&r, &st, &body, &act, err, sizeof err) == 0);
	CHECK(buf_is(&body, "{\"error\": \"KeyError('no_such_cmd')\"}"));
	CHECK(act.reply == 1 && act.act == CELERY_CTL_ACT_NONE);
	CHECK(reply_matches(req_unknown, rep_unknown, body.data));
	celery_ctl_action_free(&act);
	celery_ctl_request_free(&r);
	buf_free(&body);
}

static void test_reply_hello_bytes(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct buf body;
	char err[200];

	/* the app clock stood at 6: forward() gives the 7 of the capture */
	st.clock = 6;
	buf_init(&body);
	CHECK(parse_vec(req_hello, &r) == 0);
	CHECK(celery_ctl_handle(&r, &st, &body, &act, err, sizeof err) == 0);
	CHECK(buf_is(&body, "{\"revoked\": {}, \"clock\": 7}"));
	CHECK(act.clock_used && act.clock_value == 7);
	CHECK(act.act == CELERY_CTL_ACT_SYNC && act.n_ids == 0);
	CHECK(reply_matches(req_hello, rep_hello, body.data));
	celery_ctl_action_free(&act);
	celery_ctl_request_free(&r);
	buf_free(&body);
}

static void test_reply_header_clock_sequence(void)
{
	/* kombu's mailbox clock: adjust(request clock) then forward() for the
	 * reply header: 1 -> 3, then 1 -> 5 (monitor7), 5 -> 7, 9 -> 11
	 * (monitor19). */
	int64_t c = 0;

	c = celery_ctl_clock_adjust(c, 1);
	CHECK(++c == 3);
	c = celery_ctl_clock_adjust(c, 1);
	CHECK(++c == 5);
	c = 3;
	c = celery_ctl_clock_adjust(c, 5);
	CHECK(++c == 7);
	c = celery_ctl_clock_adjust(c, 9);
	CHECK(++c == 11);
}

/* The keys of JSON object tok, in order, comma-joined into out. */
static void keys_of(const struct json_doc *d, int tok, struct buf *out)
{
	int i, k = tok + 1;
	char *s;

	for (i = 0; i < d->toks[tok].size; i++) {
		json_tok_strdup(d, k, &s, NULL, NULL, 0);
		buf_printf(out, "%s%s", i ? "," : "", s);
		free(s);
		k = json_skip(d, json_skip(d, k));
	}
}

static void test_reply_stats_shape(void)
{
	static const char *const tn[] = { "app.tasks.virtual_tryon" };
	static const int64_t tc[] = { 3 };
	static const int64_t procs[] = { 30128 };
	struct rusage ru;
	struct celery_ctl_stats s;
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct celery_ctl_request r;
	struct env_parts p;
	struct json_doc ours, theirs;
	struct buf body, ko, kt;
	char err[200];
	int to, tt, po, pt;

	memset(&ru, 0, sizeof ru);
	ru.ru_utime.tv_sec = 0;
	ru.ru_utime.tv_usec = 223221;
	ru.ru_stime.tv_usec = 97139;
	ru.ru_maxrss = 45112;
	ru.ru_nvcsw = 498;
	memset(&s, 0, sizeof s);
	s.total_names = tn;
	s.total_counts = tc;
	s.n_total = 1;
	s.pid = 30125;
	s.clock = 8;
	s.uptime = 8.4;
	s.max_concurrency = 1;
	s.processes = procs;
	s.n_processes = 1;
	s.soft_time_limit = 25;
	s.time_limit = 30;
	s.broker_host = "127.0.0.1";
	s.broker_port = 6399;
	s.broker_db = 0;
	s.visibility_timeout = 3600;
	s.prefetch_count = 4;
	s.rusage = &ru;
	st.stats = &s;
	buf_init(&body);
	CHECK(parse_vec(req_stats, &r) == 0);
	CHECK(celery_ctl_handle(&r, &st, &body, &act, err, sizeof err) == 0);
	CHECK(json_parse(&ours, body.data, body.len, 0, err, sizeof err) == 0);
	parts_get(rep_stats, &p);
	CHECK(json_parse(&theirs, p.body, p.body_len, 0, err, sizeof err) == 0);
	tt = json_obj_get(&theirs, 0, "w1@vm");
	/* top-level keys: exactly Celery's, in its order */
	buf_init(&ko);
	buf_init(&kt);
	keys_of(&ours, 0, &ko);
	keys_of(&theirs, tt, &kt);
	CHECK(buf_is_n(&ko, kt.data, kt.len));
	/* the rusage dict: same keys; values written like Python's */
	buf_reset(&ko);
	buf_reset(&kt);
	to = json_obj_get(&ours, 0, "rusage");
	keys_of(&ours, to, &ko);
	keys_of(&theirs, json_obj_get(&theirs, tt, "rusage"), &kt);
	CHECK(buf_is_n(&ko, kt.data, kt.len));
	CHECK(strstr(body.data, "\"utime\": 0.223221, \"stime\": 0.09713899999999999, "
				"\"maxrss\": 45112") != NULL);
	/* clock is a string, uptime an int, as in the capture */
	CHECK(strstr(body.data, "\"pid\": 30125, \"clock\": \"8\", \"uptime\": 8, ") != NULL);
	CHECK(strstr(body.data, "\"total\": {\"app.tasks.virtual_tryon\": 3}") != NULL);
	/* every pool and broker key we send is one Celery sends (plus the
	 * pool implementation name of later Celery versions) */
	po = json_obj_get(&ours, 0, "pool");
	pt = json_obj_get(&theirs, tt, "pool");
	{
		int i, k = po + 1;

		for (i = 0; i < ours.toks[po].size; i++) {
			char *key;

			json_tok_strdup(&ours, k, &key, NULL, NULL, 0);
			CHECK(!strcmp(key, "implementation") ||
			      json_obj_get(&theirs, pt, key) >= 0);
			free(key);
			k = json_skip(&ours, json_skip(&ours, k));
		}
		po = json_obj_get(&ours, 0, "broker");
		pt = json_obj_get(&theirs, tt, "broker");
		for (i = 0, k = po + 1; i < ours.toks[po].size; i++) {
			char *key;

			json_tok_strdup(&ours, k, &key, NULL, NULL, 0);
			CHECK(json_obj_get(&theirs, pt, key) >= 0);
			free(key);
			k = json_skip(&ours, json_skip(&ours, k));
		}
	}
	CHECK(strstr(body.data, "\"max-concurrency\": 1, \"processes\": [30128], "
				"\"max-tasks-per-child\": \"N/A\", "
				"\"put-guarded-by-semaphore\": false, "
				"\"timeouts\": [25, 30]") != NULL);
	CHECK(strstr(body.data, "\"virtual_host\": \"0\", \"port\": 6399") != NULL);
	CHECK(strstr(body.data, "\"transport_options\": {\"visibility_timeout\": 3600}") != NULL);
	CHECK(strstr(body.data, "\"prefetch_count\": 4, \"rusage\": {") != NULL);
	CHECK(!strstr(body.data, "password"));
	buf_free(&ko);
	buf_free(&kt);
	json_doc_free(&ours);
	json_doc_free(&theirs);
	parts_free(&p);
	celery_ctl_action_free(&act);
	celery_ctl_request_free(&r);
	buf_free(&body);

	/* no rusage, no stats */
	buf_init(&body);
	s.rusage = NULL;
	s.uptime = 2.5; /* round half to even, like Python's round() */
	CHECK(handle_body("{\"method\": \"stats\"}", &st, &body, &act) == 0);
	CHECK(body.len > 16 &&
	      !strcmp(body.data + body.len - 16, "\"rusage\": \"N/A\"}"));
	CHECK(strstr(body.data, "\"uptime\": 2, ") != NULL);
	celery_ctl_action_free(&act);
	buf_free(&body);
	st.stats = NULL;
	CHECK(handle_is("{\"method\": \"stats\"}", &st,
			"{\"error\": \"stats unavailable\"}"));
}

/* The held tasks through celery_ctl_handle: each list from its own part of
 * the state (the lists' bytes are test_celery_inspect's), query_task's
 * arguments, and a state the lists refuse failing the whole call. */
static void test_handle_held_tasks(void)
{
	struct celery_ctl_task rsv, sch, act_t;
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b, want;

	memset(&rsv, 0, sizeof rsv);
	rsv.id = "2f4c0c2e-1cb9-49d2-b932-e3f0113eacff";
	rsv.name = "tasks.sleeper";
	rsv.args_json = "[6]";
	rsv.routing_key = "celery";
	sch = rsv;
	sch.id = "23c9da25-aa82-4d7b-8a64-fa4a2fe9c5c3";
	sch.name = "tasks.add";
	sch.args_json = "[1, 2]";
	sch.eta = "2026-11-26T08:16:10.417374+00:00";
	act_t = rsv;
	act_t.id = "9a4cce90-56bd-48b9-b066-64afdc47c247";
	act_t.time_start = 1795680910.4200752;
	act_t.acknowledged = 1;
	act_t.pid = 14623;
	st.reserved = &rsv;
	st.n_reserved = 1;
	st.scheduled = &sch;
	st.n_scheduled = 1;
	st.active = &act_t;
	st.n_active = 1;
	buf_init(&b);
	buf_init(&want);
	CHECK(celery_inspect_tasks(&want, "w1@vm", &rsv, 1, 0) == 0);
	CHECK(handle_is("{\"method\": \"reserved\"}", &st, want.data));
	CHECK(handle_is("{\"method\": \"dump_reserved\"}", &st, want.data));
	buf_reset(&want);
	CHECK(celery_inspect_tasks(&want, "w1@vm", &sch, 1, 1) == 0);
	CHECK(handle_is("{\"method\": \"scheduled\"}", &st, want.data));
	CHECK(handle_is("{\"method\": \"dump_schedule\"}", &st, want.data));
	buf_reset(&want);
	CHECK(celery_inspect_tasks(&want, "w1@vm", &act_t, 1, 0) == 0);
	CHECK(handle_is("{\"method\": \"active\"}", &st, want.data));
	CHECK(handle_is("{\"method\": \"dump_active\"}", &st, want.data));
	buf_free(&want);
	/* a 5.2.6 worker's reply: active before reserved, unknown ids left
	 * out, scheduled ones not looked at */
	CHECK(handle_is("{\"method\": \"query_task\", \"arguments\": {\"ids\": "
			"[\"9a4cce90-56bd-48b9-b066-64afdc47c247\", \"nope\", "
			"\"23c9da25-aa82-4d7b-8a64-fa4a2fe9c5c3\"]}}", &st,
		"{\"9a4cce90-56bd-48b9-b066-64afdc47c247\": [\"active\", "
		"{\"id\": \"9a4cce90-56bd-48b9-b066-64afdc47c247\", \"name\": \"tasks.sleeper\", "
		"\"args\": [6], \"kwargs\": {}, \"type\": \"tasks.sleeper\", \"hostname\": \"w1@vm\", "
		"\"time_start\": 1795680910.4200752, \"acknowledged\": true, \"delivery_info\": "
		"{\"exchange\": \"\", \"routing_key\": \"celery\", \"priority\": 0, "
		"\"redelivered\": null}, \"worker_pid\": 14623}]}"));
	CHECK(handle_body("{\"method\": \"query_task\", \"arguments\": {\"ids\": "
			  "\"2f4c0c2e-1cb9-49d2-b932-e3f0113eacff\"}}", &st, &b, &act) == 0);
	{
		static const char head[] =
			"{\"2f4c0c2e-1cb9-49d2-b932-e3f0113eacff\": [\"reserved\", {\"id\": ";

		CHECK(!strncmp(b.data, head, sizeof head - 1));
	}
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"query_task\"}", &st,
		"{\"error\": \"TypeError(\\\"query_task() missing 1 required positional "
		"argument: 'ids'\\\")\"}"));
	{
		struct celery_ctl_state empty = base_state();

		CHECK(handle_is("{\"method\": \"active\"}", &empty, "[]"));
		CHECK(handle_is("{\"method\": \"dump_reserved\"}", &empty, "[]"));
		CHECK(handle_is("{\"method\": \"scheduled\"}", &empty, "[]"));
	}
	/* invalid raw JSON or no id: the call fails, buffer untouched */
	buf_append_str(&b, "keep");
	rsv.args_json = "[1,";
	CHECK(handle_body("{\"method\": \"reserved\"}", &st, &b, &act) == -1);
	CHECK(buf_is(&b, "keep") && act.act == CELERY_CTL_ACT_NONE);
	CHECK(handle_body("{\"method\": \"query_task\", \"arguments\": "
			  "{\"ids\": [\"2f4c0c2e-1cb9-49d2-b932-e3f0113eacff\"]}}", &st, &b,
			  &act) == -1);
	CHECK(buf_is(&b, "keep"));
	rsv.args_json = "[]";
	rsv.id = NULL;
	CHECK(handle_body("{\"method\": \"reserved\"}", &st, &b, &act) == -1);
	CHECK(handle_body("{\"method\": \"query_task\", \"arguments\": "
			  "{\"ids\": [\"x\"]}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "keep{}"));
	buf_free(&b);
}

static void test_handle_revoke(void)
{
	struct celery_ctl_task running;
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	memset(&running, 0, sizeof running);
	running.id = "run-1";
	running.name = "tryon.test.sleep";
	st.active = &running;
	st.n_active = 1;
	buf_init(&b);

	/* `celery control revoke abc def` sends a list */
	CHECK(handle_body("{\"method\": \"revoke\", \"arguments\": {\"task_id\": "
			  "[\"abc\", \"def\"]}, \"reply_to\": {\"exchange\": "
			  "\"reply.celery.pidbox\", \"routing_key\": \"k\"}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"tasks abc, def flagged as revoked\"}"));
	CHECK(act.act == CELERY_CTL_ACT_REVOKE && !act.terminate && act.reply);
	CHECK(act.n_ids == 2 && !strcmp(act.ids[1], "def"));
	celery_ctl_action_free(&act);
	buf_reset(&b);

	/* the cast of app.control.revoke(id): acts, no reply */
	{
		struct celery_ctl_request r;
		char err[200];

		CHECK(parse_vec(req_revoke, &r) == 0);
		CHECK(celery_ctl_handle(&r, &st, &b, &act, err, sizeof err) == 0);
		CHECK(!act.reply && act.act == CELERY_CTL_ACT_REVOKE);
		CHECK(act.n_ids == 1 && !act.terminate);
		celery_ctl_action_free(&act);
		celery_ctl_request_free(&r);
		buf_reset(&b);
		/* revoke(id, terminate=True) cast, id not held */
		CHECK(parse_vec(req_revoke_term, &r) == 0);
		CHECK(celery_ctl_handle(&r, &st, &b, &act, err, sizeof err) == 0);
		CHECK(act.terminate && act.signum == SIGTERM);
		CHECK(buf_is(&b, "{\"ok\": \"terminate: tasks unknown\"}"));
		celery_ctl_action_free(&act);
		celery_ctl_request_free(&r);
		buf_reset(&b);
	}

	/* terminate a running task: only held ids are listed */
	CHECK(handle_body("{\"method\": \"revoke\", \"arguments\": {\"task_id\": "
			  "[\"x\", \"run-1\"], \"terminate\": true, \"signal\": \"KILL\"}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"terminate: run-1\"}"));
	CHECK(act.terminate && act.signum == SIGKILL && act.n_ids == 2);
	celery_ctl_action_free(&act);
	buf_reset(&b);

	/* `celery control terminate SIGTERM <id>` */
	CHECK(handle_body("{\"method\": \"terminate\", \"arguments\": {\"signal\": "
			  "\"SIGTERM\", \"task_id\": [\"run-1\"]}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"terminate: run-1\"}"));
	CHECK(act.act == CELERY_CTL_ACT_REVOKE && act.terminate && act.signum == SIGTERM);
	celery_ctl_action_free(&act);
	buf_reset(&b);

	/* a bad signal still flags the ids revoked, terminates nothing */
	CHECK(handle_body("{\"method\": \"revoke\", \"arguments\": {\"task_id\": "
			  "\"zzz\", \"terminate\": true, \"signal\": \"kill\"}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"error\": \"TypeError('signal name must be uppercase string.')\"}"));
	CHECK(act.act == CELERY_CTL_ACT_REVOKE && !act.terminate && act.n_ids == 1);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"revoke\", \"arguments\": {\"task_id\": \"zzz\", "
			"\"terminate\": true, \"signal\": \"FOO\"}}", &st,
			"{\"error\": \"AttributeError(\\\"module 'signal' has no attribute "
			"'SIGFOO'\\\")\"}"));

	/* missing arguments: Python's TypeError, as captured */
	CHECK(handle_body("{\"method\": \"revoke\", \"arguments\": {}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"error\": \"TypeError(\\\"revoke() missing 1 required "
			 "positional argument: 'task_id'\\\")\"}"));
	CHECK(act.act == CELERY_CTL_ACT_NONE);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"terminate\"}", &st,
			"{\"error\": \"TypeError(\\\"terminate() missing 2 required positional "
			"arguments: 'signal' and 'task_id'\\\")\"}"));
	/* task_id null: an empty set */
	CHECK(handle_is("{\"method\": \"revoke\", \"arguments\": {\"task_id\": null}}", &st,
			"{\"ok\": \"tasks  flagged as revoked\"}"));
	CHECK(handle_is("{\"method\": \"revoke\", \"arguments\": {\"task_id\": [1]}}", &st,
			"{\"error\": \"TypeError('sequence item 0: expected str instance, "
			"int found')\"}"));
	buf_free(&b);
}

static void test_handle_misc(void)
{
	static const char *const rv[] = { "r1", "r2" };
	static const double rts[] = { 12.5, 13.0 };
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	buf_init(&b);
	/* shutdown: WorkerShutdown is a SystemExit, no reply */
	CHECK(handle_body("{\"method\": \"shutdown\", \"reply_to\": {\"exchange\": "
			  "\"e\", \"routing_key\": \"k\"}}", &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_SHUTDOWN && act.reply == 0 && b.len == 0);
	celery_ctl_action_free(&act);
	/* heartbeat: the handler returns None */
	CHECK(handle_body("{\"method\": \"heartbeat\"}", &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_HEARTBEAT && buf_is(&b, "null"));
	celery_ctl_action_free(&act);
	buf_reset(&b);

	CHECK(handle_body("{\"method\": \"enable_events\"}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"task events enabled\"}"));
	CHECK(act.act == CELERY_CTL_ACT_EVENTS_ON);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"disable_events\"}", &st,
			"{\"ok\": \"task events already disabled\"}"));
	st.task_events = 1;
	CHECK(handle_is("{\"method\": \"enable_events\"}", &st,
			"{\"ok\": \"task events already enabled\"}"));
	CHECK(handle_body("{\"method\": \"disable_events\"}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"task events disabled\"}"));
	CHECK(act.act == CELERY_CTL_ACT_EVENTS_OFF);
	celery_ctl_action_free(&act);
	buf_reset(&b);

	st.clock = 41;
	CHECK(handle_is("{\"method\": \"clock\"}", &st, "{\"clock\": 41}"));
	st.revoked = rv;
	st.revoked_ts = rts;
	st.n_revoked = 2;
	CHECK(handle_is("{\"method\": \"revoked\"}", &st, "[\"r1\", \"r2\"]"));
	CHECK(handle_is("{\"method\": \"dump_revoked\"}", &st, "[\"r1\", \"r2\"]"));
	/* hello from a peer carries its revoked ids: merged, returned */
	CHECK(handle_body("{\"method\": \"hello\", \"arguments\": {\"from_node\": \"p@h\", "
			  "\"revoked\": {\"r2\": [1.0, \"r2\"], \"p1\": [2.0, \"p1\"]}}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"revoked\": {\"r1\": [12.5, \"r1\"], \"r2\": [13.0, \"r2\"], "
			 "\"p1\": [2.0, \"p1\"]}, \"clock\": 42}"));
	CHECK(act.act == CELERY_CTL_ACT_SYNC && act.n_ids == 2 &&
	      !strcmp(act.ids[1], "p1") && act.clock_value == 42);
	CHECK(act.ts && act.ts[0] == 1.0 && act.ts[1] == 2.0);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* a list of ids (LimitedSet.update takes any iterable): stamped now */
	st.now = 500.25;
	CHECK(handle_body("{\"method\": \"hello\", \"arguments\": {\"from_node\": \"p@h\", "
			  "\"revoked\": [\"p9\"]}}", &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_SYNC && act.n_ids == 1 && act.ts[0] == 500.25);
	CHECK(strstr(b.data, "\"p9\": [500.25, \"p9\"]") != NULL);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* our own hello comes back as None */
	CHECK(handle_is("{\"method\": \"hello\", \"arguments\": {\"from_node\": \"w1@vm\"}}",
			&st, "null"));
	CHECK(handle_is("{\"method\": \"hello\"}", &st,
			"{\"error\": \"TypeError(\\\"hello() missing 1 required positional "
			"argument: 'from_node'\\\")\"}"));

	CHECK(handle_is("{\"method\": \"objgraph\"}", &st,
			"{\"error\": \"objgraph is not supported by tryon-worker\"}"));
	/* unknown beats bad arguments, as handlers[method] comes first */
	CHECK(handle_is("{\"method\": \"nope\", \"arguments\": [1]}", &st,
			"{\"error\": \"KeyError('nope')\"}"));
	CHECK(handle_is("{\"method\": \"ping\", \"arguments\": [1]}", &st,
			"{\"error\": \"TypeError('ping() argument after ** must be a "
			"mapping, not list')\"}"));
	/* Python's repr picks its quotes */
	CHECK(handle_is("{\"method\": \"it's\"}", &st,
			"{\"error\": \"KeyError(\\\"it's\\\")\"}"));
	CHECK(handle_is("{\"method\": \"a\\\"b'c\"}", &st,
			"{\"error\": \"KeyError('a\\\"b\\\\'c')\"}"));
	CHECK(handle_is("{\"method\": \"x\\ny\\u0001\\u00e9\\u00a0\"}", &st,
			"{\"error\": \"KeyError('x\\\\ny\\\\x01\\u00e9\\\\xa0')\"}"));
	buf_free(&b);
}

static void test_names(void)
{
	struct celery_ctl_request r;
	struct buf k, m;
	char err[200];

	buf_init(&k);
	buf_init(&m);
	CHECK(celery_ctl_channel(&k, 0) == 0 && buf_is(&k, "/0.celery.pidbox"));
	buf_reset(&k);
	CHECK(celery_ctl_channel(&k, 4) == 0 && buf_is(&k, "/4.celery.pidbox"));
	buf_reset(&k);
	/* a sentinel:// broker: kombu 5.2.4's Sentinel channel sends the
	 * prefix unformatted (seen with redis-cli MONITOR, issue 12) */
	CHECK(celery_ctl_channel(&k, -1) == 0 && buf_is(&k, "/{db}.celery.pidbox"));
	buf_reset(&k);
	/* the binding the client added in monitor7 line 109 */
	CHECK(parse_vec(req_ping, &r) == 0);
	CHECK(celery_ctl_reply_binding(&k, &m, &r) == 0);
	CHECK(buf_is(&k, "_kombu.binding.reply.celery.pidbox"));
	CHECK(buf_is(&m, "553724a2-b739-3d3a-8bcf-56879cf4c988\x06\x16\x06\x16"
			 "553724a2-b739-3d3a-8bcf-56879cf4c988.reply.celery.pidbox"));
	celery_ctl_request_free(&r);
	buf_reset(&k);
	buf_reset(&m);
	/* casts have nowhere to reply */
	CHECK(parse_vec(req_revoke, &r) == 0);
	CHECK(celery_ctl_reply_binding(&k, &m, &r) == -1 && k.len == 0);
	CHECK(celery_ctl_reply_list(&k, &r) == -1 && k.len == 0);
	CHECK(celery_ctl_reply_build(&k, &r, "w1@vm", "null", 4, 1, "t", err,
				     sizeof err) == -1 && k.len == 0);
	celery_ctl_request_free(&r);
	/* an invalid reply value is refused */
	CHECK(parse_vec(req_ping, &r) == 0);
	CHECK(celery_ctl_reply_build(&k, &r, "w1@vm", "{", 1, 1, "t", err,
				     sizeof err) == -1 && k.len == 0);
	celery_ctl_request_free(&r);
	buf_free(&k);
	buf_free(&m);
}

/* ---- the pool, queues, limits, conf and report ------------------------- */

/* The texts below are a Celery 5.2.6 worker's replies to the same commands
 * (tests/integration/test_d2_control_tools.py compares them live). */

/* What the worker describes, each from its part of the state (the bytes
 * are test_celery_inspect's). */
static void test_handle_inspect_dispatch(void)
{
	static const char *const qs[] = { "tryon_queue" };
	static const char *const names[] = { "b.task", "a.task" };
	static const char *const revoked[] = { "r1" };
	static const struct celery_ctl_setting set[] = {
		{ .key = "task_acks_late", .kind = CELERY_CTL_V_BOOL, .i = 1 },
		{ .key = "api_key", .kind = CELERY_CTL_V_STR, .str = "secret" },
	};
	static const struct celery_ctl_report rep = {
		"tryon-worker:0.1.0 (abc123)", "libcurl:8.0", "Linux", "64bit, ELF",
		"6.1.0", "C", "tryon-worker", "redis", NULL,
	};
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b, want;
	struct json_doc d;
	char err[200];
	int t;

	CHECK(handle_is("{\"method\": \"active_queues\"}", &st, "[]"));
	CHECK(handle_is("{\"method\": \"conf\"}", &st, "{}"));
	CHECK(handle_is("{\"method\": \"revoked\"}", &st, "[]"));
	st.queues = qs;
	st.n_queues = 1;
	st.task_names = names;
	st.n_task_names = 2;
	st.revoked = revoked;
	st.n_revoked = 1;
	st.settings = set;
	st.n_settings = 2;
	st.clock = 42;
	buf_init(&want);
	celery_inspect_active_queues(&want, qs, 1);
	CHECK(handle_is("{\"method\": \"active_queues\"}", &st, want.data));
	buf_reset(&want);
	celery_inspect_registered(&want, names, 2);
	CHECK(handle_is("{\"method\": \"registered\"}", &st, want.data));
	CHECK(handle_is("{\"method\": \"dump_tasks\"}", &st, want.data));
	CHECK(handle_is("{\"method\": \"dump_revoked\"}", &st, "[\"r1\"]"));
	CHECK(handle_is("{\"method\": \"clock\"}", &st, "{\"clock\": 42}"));
	/* conf's with_defaults changes nothing: we have no defaults apart */
	CHECK(handle_is("{\"method\": \"conf\", \"arguments\": {\"with_defaults\": false}}",
			&st, "{\"task_acks_late\": true, \"api_key\": \"********\"}"));
	CHECK(handle_is("{\"method\": \"dump_conf\"}", &st,
			"{\"task_acks_late\": true, \"api_key\": \"********\"}"));
	/* report: Celery's ok(bugreport()) */
	CHECK(handle_is("{\"method\": \"report\"}", &st, "{\"error\": \"report unavailable\"}"));
	st.report = &rep;
	buf_reset(&want);
	celery_inspect_report(&want, &rep, set, 2);
	buf_init(&b);
	CHECK(handle_body("{\"method\": \"report\"}", &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_NONE);
	CHECK(json_parse(&d, b.data, b.len, 0, err, sizeof err) == 0);
	CHECK(d.toks[0].size == 1);
	t = json_obj_get(&d, 0, "ok");
	CHECK(t >= 0 && json_tok_streq(&d, t, want.data));
	json_doc_free(&d);
	celery_ctl_action_free(&act);
	buf_free(&b);
	buf_free(&want);
}

static void test_handle_pool(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	st.concurrency = 4;
	st.max_concurrency = 1024;
	buf_init(&b);
	CHECK(handle_body("{\"method\": \"pool_grow\", \"arguments\": {\"n\": 2}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"pool will grow\"}"));
	CHECK(act.act == CELERY_CTL_ACT_CONCURRENCY && act.concurrency == 6 &&
	      act.autoscale_min == -1);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* n defaults to 1 */
	CHECK(handle_body("{\"method\": \"pool_shrink\"}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"pool will shrink\"}"));
	CHECK(act.act == CELERY_CTL_ACT_CONCURRENCY && act.concurrency == 3);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* true is 1 (a bool is an int); 0 changes nothing, same reply */
	CHECK(handle_body("{\"method\": \"pool_grow\", \"arguments\": {\"n\": true}}",
			  &st, &b, &act) == 0);
	CHECK(act.act == CELERY_CTL_ACT_CONCURRENCY && act.concurrency == 5);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_body("{\"method\": \"pool_grow\", \"arguments\": {\"n\": 0}}",
			  &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"pool will grow\"}") && act.act == CELERY_CTL_ACT_NONE);
	celery_ctl_action_free(&act);
	buf_free(&b);
	/* what range(n) says of other types */
	CHECK(handle_is("{\"method\": \"pool_grow\", \"arguments\": {\"n\": \"2\"}}", &st,
			"{\"error\": \"TypeError(\\\"'str' object cannot be interpreted as "
			"an integer\\\")\"}"));
	CHECK(handle_is("{\"method\": \"pool_shrink\", \"arguments\": {\"n\": 1.5}}", &st,
			"{\"error\": \"TypeError(\\\"'float' object cannot be interpreted "
			"as an integer\\\")\"}"));
	CHECK(handle_is("{\"method\": \"pool_grow\", \"arguments\": {\"n\": null}}", &st,
			"{\"error\": \"TypeError(\\\"'NoneType' object cannot be "
			"interpreted as an integer\\\")\"}"));
	/* ours: a ceiling, and never below one slot */
	CHECK(handle_is("{\"method\": \"pool_grow\", \"arguments\": {\"n\": 1021}}", &st,
			"{\"error\": \"ValueError(\\\"Can't grow pool past 1024 slots "
			"(tryon-worker's ceiling)\\\")\"}"));
	CHECK(handle_is("{\"method\": \"pool_shrink\", \"arguments\": {\"n\": 4}}", &st,
			"{\"error\": \"ValueError(\\\"Can't shrink pool below 1 slot "
			"(cancel_consumer stops consuming instead)\\\")\"}"));
	CHECK(handle_is("{\"method\": \"pool_restart\"}", &st,
			"{\"error\": \"ValueError('Pool restarts not enabled: tryon-worker "
			"forks a fresh child for every job, there is no pool to restart')\"}"));
}

static void test_handle_autoscale(void)
{
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	st.concurrency = 4;
	st.max_concurrency = 64;
	buf_init(&b);
	CHECK(handle_body("{\"method\": \"autoscale\", \"arguments\": {\"max\": 8, "
			  "\"min\": 2}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"autoscale now max=8 min=2\"}"));
	CHECK(act.act == CELERY_CTL_ACT_CONCURRENCY && act.concurrency == 8 &&
	      act.autoscale_min == 2);
	celery_ctl_action_free(&act);
	buf_free(&b);
	/* None leaves a bound as it is (Autoscaler.update) */
	st.autoscale_min = 1;
	CHECK(handle_is("{\"method\": \"autoscale\", \"arguments\": {\"max\": null, "
			"\"min\": null}}", &st, "{\"ok\": \"autoscale now max=4 min=1\"}"));
	CHECK(handle_is("{\"method\": \"autoscale\", \"arguments\": {\"max\": 3}}", &st,
			"{\"ok\": \"autoscale now max=3 min=1\"}"));
	CHECK(handle_is("{\"method\": \"autoscale\", \"arguments\": {\"max\": 0}}", &st,
			"{\"error\": \"ValueError('autoscale takes 1 <= max <= 64 and "
			"min >= 0')\"}"));
	CHECK(handle_is("{\"method\": \"autoscale\", \"arguments\": {\"max\": 65}}", &st,
			"{\"error\": \"ValueError('autoscale takes 1 <= max <= 64 and "
			"min >= 0')\"}"));
	CHECK(handle_is("{\"method\": \"autoscale\", \"arguments\": {\"max\": \"4\"}}", &st,
			"{\"error\": \"TypeError(\\\"'str' object cannot be interpreted as "
			"an integer\\\")\"}"));
}

static void test_handle_consumers(void)
{
	static const char *const qs[] = { "tryon_queue", "extra_q" };
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	st.queues = qs;
	st.n_queues = 1;
	st.max_queues = 2;
	buf_init(&b);
	/* what `celery control add_consumer extra_q` sends */
	CHECK(handle_body("{\"method\": \"add_consumer\", \"arguments\": "
			  "{\"queue\": \"extra_q\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"add consumer extra_q\"}"));
	CHECK(act.act == CELERY_CTL_ACT_ADD_QUEUE && !strcmp(act.name, "extra_q"));
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* what app.control.add_consumer('extra_q') sends */
	CHECK(handle_body("{\"method\": \"add_consumer\", \"arguments\": {\"queue\": "
			  "\"extra_q\", \"exchange\": null, \"exchange_type\": \"direct\", "
			  "\"routing_key\": null}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"add consumer extra_q\"}"));
	CHECK(act.act == CELERY_CTL_ACT_ADD_QUEUE);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* consumed already: same reply, nothing to do */
	CHECK(handle_body("{\"method\": \"add_consumer\", \"arguments\": "
			  "{\"queue\": \"tryon_queue\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"add consumer tryon_queue\"}") &&
	      act.act == CELERY_CTL_ACT_NONE && !act.name);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"add_consumer\"}", &st,
			"{\"error\": \"TypeError(\\\"add_consumer() missing 1 required "
			"positional argument: 'queue'\\\")\"}"));
	CHECK(handle_is("{\"method\": \"add_consumer\", \"arguments\": {\"queue\": "
			"\"q\", \"exchange\": \"other\"}}", &st,
			"{\"error\": \"ValueError('tryon-worker consumes a queue through "
			"the direct exchange and routing key of its name')\"}"));
	CHECK(handle_is("{\"method\": \"add_consumer\", \"arguments\": {\"queue\": \"\"}}",
			&st, "{\"error\": \"ValueError('queue must be a name of 1 to 200 "
			"bytes')\"}"));
	CHECK(handle_is("{\"method\": \"add_consumer\", \"arguments\": {\"queue\": 5}}",
			&st, "{\"error\": \"ValueError('queue must be a name of 1 to 200 "
			"bytes')\"}"));
	st.n_queues = 2;
	CHECK(handle_is("{\"method\": \"add_consumer\", \"arguments\": {\"queue\": \"q3\"}}",
			&st, "{\"error\": \"ValueError('already consuming from 2 queues, "
			"the most tryon-worker takes')\"}"));
	CHECK(handle_body("{\"method\": \"cancel_consumer\", \"arguments\": "
			  "{\"queue\": \"extra_q\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"no longer consuming from extra_q\"}"));
	CHECK(act.act == CELERY_CTL_ACT_CANCEL_QUEUE && !strcmp(act.name, "extra_q"));
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* a queue not consumed: Celery's reply all the same */
	CHECK(handle_body("{\"method\": \"cancel_consumer\", \"arguments\": "
			  "{\"queue\": \"nope_q\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"no longer consuming from nope_q\"}") &&
	      act.act == CELERY_CTL_ACT_NONE);
	celery_ctl_action_free(&act);
	buf_free(&b);
	CHECK(handle_is("{\"method\": \"cancel_consumer\"}", &st,
			"{\"error\": \"TypeError(\\\"cancel_consumer() missing 1 required "
			"positional argument: 'queue'\\\")\"}"));
}

static void test_rate_syntax(void)
{
	static const struct { const char *in; double want; } ok[] = {
		{ "10/s", 10 }, { "100/m", 100 / 60.0 }, { "1000/h", 1000 / 60.0 / 60.0 },
		{ "5", 5 }, { "5/", 5 }, { "0", 0 }, { "", 0 }, { "0/m", 0 },
		{ "  5 /s", 5 }, { "1e3", 1000 }, { "1_000/h", 1000 / 60.0 / 60.0 },
		{ ".5", 0.5 }, { "5.", 5 }, { "+5", 5 }, { "inf", 0 }, { "Infinity/m", 0 },
	};
	static const struct { const char *in, *why; } bad[] = {
		{ "abc", "Invalid rate limit string: ValueError(\"could not convert "
			 "string to float: 'abc'\")" },
		{ "0x10", "Invalid rate limit string: ValueError(\"could not convert "
			  "string to float: '0x10'\")" },
		{ "1__0/s", "Invalid rate limit string: ValueError(\"could not convert "
			    "string to float: '1__0'\")" },
		{ "_1", "Invalid rate limit string: ValueError(\"could not convert "
			"string to float: '_1'\")" },
		{ "10/x", "KeyError('x')" },
		{ "abc/S", "KeyError('S')" },   /* the unit is looked up first */
		{ "-3/s", "Invalid rate limit string: ValueError('a rate limit is a "
			  "number >= 0 of starts per s, m or h')" },
		{ "nan", "Invalid rate limit string: ValueError('a rate limit is a "
			 "number >= 0 of starts per s, m or h')" },
	};
	struct buf why;
	double v;
	size_t i;

	buf_init(&why);
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = -1;
		CHECK(celery_control_rate(ok[i].in, &v, &why) == 0 && v == ok[i].want);
		if (v != ok[i].want)
			fprintf(stderr, "  rate(%s) = %g\n", ok[i].in, v);
		CHECK(why.len == 0);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		buf_reset(&why);
		CHECK(celery_control_rate(bad[i].in, &v, &why) == -1 && buf_is(&why, bad[i].why));
		if (!buf_is(&why, bad[i].why))
			fprintf(stderr, "  rate(%s): %s\n", bad[i].in, why.data ? why.data : "");
	}
	buf_free(&why);
}

static void test_handle_rate_and_time_limits(void)
{
	static const char *const names[] = { "tryon.test.echo", "tryon.test.sleep" };
	struct celery_ctl_state st = base_state();
	struct celery_ctl_action act;
	struct buf b;

	st.task_names = names;
	st.n_task_names = 2;
	buf_init(&b);
	CHECK(handle_body("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.echo\", \"rate_limit\": \"10/s\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"new rate limit set successfully\"}"));
	CHECK(act.act == CELERY_CTL_ACT_RATE_LIMIT && !strcmp(act.name, "tryon.test.echo") &&
	      act.rate == 10);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* "0" is truthy: Celery says "set" and sets no limit */
	CHECK(handle_body("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.echo\", \"rate_limit\": \"0\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"new rate limit set successfully\"}") && act.rate == 0 &&
	      act.act == CELERY_CTL_ACT_RATE_LIMIT);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_body("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.echo\", \"rate_limit\": 0}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"rate limit disabled successfully\"}") && act.rate == 0);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_body("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.echo\", \"rate_limit\": 5}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"new rate limit set successfully\"}") && act.rate == 5);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	CHECK(handle_is("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			"\"nope\", \"rate_limit\": \"10/s\"}}", &st, "{\"error\": \"unknown task\"}"));
	/* the rate is checked before the task */
	CHECK(handle_is("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			"\"nope\", \"rate_limit\": \"abc\"}}", &st,
			"{\"error\": \"Invalid rate limit string: ValueError(\\\"could not "
			"convert string to float: 'abc'\\\")\"}"));
	CHECK(handle_is("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			"\"tryon.test.echo\", \"rate_limit\": \"10/x\"}}", &st,
			"{\"error\": \"KeyError('x')\"}"));
	CHECK(handle_is("{\"method\": \"rate_limit\", \"arguments\": {\"task_name\": "
			"\"tryon.test.echo\"}}", &st,
			"{\"error\": \"TypeError(\\\"rate_limit() missing 1 required positional "
			"argument: 'rate_limit'\\\")\"}"));
	CHECK(handle_is("{\"method\": \"rate_limit\"}", &st,
			"{\"error\": \"TypeError(\\\"rate_limit() missing 2 required positional "
			"arguments: 'task_name' and 'rate_limit'\\\")\"}"));

	/* what `celery control time_limit tryon.test.sleep 1 2` sends */
	CHECK(handle_body("{\"method\": \"time_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.sleep\", \"soft\": 1.0, \"hard\": 2.0}}", &st, &b,
			  &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"time limits set successfully\"}"));
	CHECK(act.act == CELERY_CTL_ACT_TIME_LIMIT && !strcmp(act.name, "tryon.test.sleep") &&
	      act.soft == 1 && act.hard == 2);
	celery_ctl_action_free(&act);
	buf_reset(&b);
	/* both are set from what was given: none given clears them */
	CHECK(handle_body("{\"method\": \"time_limit\", \"arguments\": {\"task_name\": "
			  "\"tryon.test.sleep\"}}", &st, &b, &act) == 0);
	CHECK(buf_is(&b, "{\"ok\": \"time limits set successfully\"}"));
	CHECK(act.act == CELERY_CTL_ACT_TIME_LIMIT && act.soft == 0 && act.hard == 0);
	celery_ctl_action_free(&act);
	buf_free(&b);
	CHECK(handle_is("{\"method\": \"time_limit\", \"arguments\": {\"task_name\": "
			"\"nope\", \"soft\": 1.0, \"hard\": 2.0}}", &st, "{\"error\": \"unknown task\"}"));
	CHECK(handle_is("{\"method\": \"time_limit\"}", &st, "{\"error\": \"unknown task\"}"));
	CHECK(handle_is("{\"method\": \"time_limit\", \"arguments\": {\"task_name\": "
			"\"tryon.test.sleep\", \"soft\": -1}}", &st,
			"{\"error\": \"ValueError('soft and hard are seconds >= 0 (or null)')\"}"));
}

int main(void)
{
	RUN(test_parse_ping);
	RUN(test_parse_destination);
	RUN(test_parse_registered_active);
	RUN(test_parse_revoke_casts);
	RUN(test_parse_other_methods);
	RUN(test_parse_errors);
	RUN(test_addressing);
	RUN(test_args);
	RUN(test_reply_ping_bytes);
	RUN(test_reply_active_bytes);
	RUN(test_reply_registered_bytes);
	RUN(test_reply_unknown_bytes);
	RUN(test_reply_hello_bytes);
	RUN(test_reply_header_clock_sequence);
	RUN(test_reply_stats_shape);
	RUN(test_handle_held_tasks);
	RUN(test_handle_revoke);
	RUN(test_handle_misc);
	RUN(test_names);
	RUN(test_handle_inspect_dispatch);
	RUN(test_handle_pool);
	RUN(test_handle_autoscale);
	RUN(test_handle_consumers);
	RUN(test_rate_syntax);
	RUN(test_handle_rate_and_time_limits);
	return harness_report();
}
