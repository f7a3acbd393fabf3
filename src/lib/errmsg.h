/* errmsg: the one helper behind every module's "return -1 with a reason in
 * err": format into a caller-provided buffer. err may be NULL (reason
 * unwanted). Pure. */
#ifndef TRYON_ERRMSG_H
#define TRYON_ERRMSG_H
#include <stddef.h>

void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#endif
