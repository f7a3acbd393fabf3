/* test_celery_ctl: the pidbox and event wire layer against the bytes a real
 * Celery 5.2.6 / kombu 5.2.4 pair wrote (redis-cli MONITOR captures in
 * shared/reference/celery-captures, pasted below still MONITOR-escaped and
 * decoded here): requests parse, replies and events are rebuilt from the
 * captured fields and must equal the captured envelopes byte for byte. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "celery_ctl.h"
#include "harness.h"
#include "json.h"

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
