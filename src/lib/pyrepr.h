/* pyrepr: the few pieces of Python 3.11 (and of Celery's own Python code)
 * whose exact text or decision reaches the wire: repr() of a str, of an
 * exception over JSON arguments, saferepr(), round(), fnmatch, truthiness
 * and type names of decoded JSON, signals.signum(). Owns nothing: no I/O,
 * no clock, no globals, no locale; results are appended to a buffer the
 * caller owns or returned by value, JSON documents are borrowed. Knows no
 * wire format: the celery modules call in, never the other way. */
#ifndef TRYON_PYREPR_H
#define TRYON_PYREPR_H
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/json.h"

/* Longest glob pattern pyrepr_fnmatch evaluates (bytes). */
#define PYREPR_MAX_PATTERN 1024

/* ---- repr ---------------------------------------------------------------
 * Text in and out is UTF-8. A JSON string that does not decode to UTF-8 (a
 * lone surrogate escape, which json.loads accepts) is shown as '?'. All
 * return 0, or -1 when out->failed (out of memory) or the input is refused;
 * on -1 what was appended is undefined unless said otherwise. */

/* repr(s) of a str: CPython's unicode_repr (Objects/unicodeobject.c).
 * Single quotes unless s has ' and no "; \\ \t \n \r; \xhh \uhhhh
 * \Uhhhhhhhh for what str.isprintable() rejects (approximated by ranges:
 * C0/C1 controls, odd spaces, format characters, surrogates, private use;
 * unassigned code points count as printable). A byte that is not UTF-8
 * is the surrogate Python's surrogateescape makes of it: \udcff. */
int pyrepr_str(struct buf *out, const char *s, size_t n);

/* celery.utils.saferepr.saferepr(value, maxlen) (Celery 5.2.6) of the
 * value of JSON token tok, which is how a Celery client writes argsrepr /
 * kwargsrepr and a worker the "result" of task-succeeded: strings quoted
 * '...' with only ' escaped (nothing else), None/True/False, float repr,
 * [..], {'k': v}, levels deeper than 3 as [...]/{...}, and saferepr's
 * truncation: once maxlen code points are spent, ", ..." and the closers
 * of the open containers; a long token cut by celery.utils.text.truncate.
 * as_tuple renders a top-level array as a tuple: "(1,)", "()". -1 also for
 * a bad tok. */
int pyrepr_saferepr(struct buf *out, const struct json_doc *d, int tok,
		    int as_tuple, size_t maxlen);

/* repr(Type(*args)) for an exception class named type whose arguments are
 * the JSON array args_json[0..len) (len 0: strlen; NULL: no arguments):
 * CPython's BaseException_repr, Name(repr(arg)) for one argument, else
 * Name + repr(args): "ValueError('boom')", "E('a', 42)", "E()". Values
 * print as builtin repr() prints what json.loads returns (list_repr,
 * dict_repr, tuple repr, float_repr, long repr): repr(str) as pyrepr_str,
 * ints as written ("-0" is 0), floats shortest (1e400 is inf), True/False/
 * None, no depth limit. The same walk as pyrepr_saferepr without its
 * budget, depth limit and quoting. -1 (out untouched) when type is NULL or
 * args_json is not a JSON array. */
int pyrepr_exception(struct buf *out, const char *type, const char *args_json,
		     size_t len);
/* repr(Type(text)) for one str argument: "KeyError('m')". -1 when type or
 * text is NULL. */
int pyrepr_exception_str(struct buf *out, const char *type, const char *text,
			 size_t n);

/* The message of the TypeError CPython raises for a call without required
 * positional arguments (missing_arguments in Python/ceval.c): "f() missing
 * 1 required positional argument: 'a'", "... 2 ... arguments: 'a' and
 * 'b'", "... 3 ... arguments: 'a', 'b', and 'c'". n >= 1, else -1. */
int pyrepr_missing_args(struct buf *out, const char *func,
			const char *const *names, size_t n);

/* ---- values -------------------------------------------------------------- */

/* bool(value) (PyObject_IsTrue) of JSON token tok as decoded by
 * json.loads: false, null, 0, 0.0, "", [] and {} are 0; NaN, Infinity and
 * numbers that overflow to inf are 1. An invalid tok is 0. */
int pyrepr_truthy(const struct json_doc *d, int tok);
/* type(value).__name__ of JSON token tok as decoded by json.loads: "int"
 * (no fraction or exponent), "float", "bool", "NoneType", "list", "dict",
 * "str". Static string. */
const char *pyrepr_type_name(const struct json_doc *d, int tok);

/* round(x) for x >= 0 (CPython float.__round__ with no ndigits): to
 * nearest, ties to even. x <= 0 or NaN give 0; huge x gives INT64_MAX. */
int64_t pyrepr_round(double x);
/* round(x, 2) (CPython's double_round, via dtoa): the exact binary value
 * rounded to 2 decimals, exact ties to even, returned as the double nearest
 * that decimal, so its shortest repr is the 2-digit text: 0.125 -> 0.12,
 * 2.675 -> 2.67 (2.67499999...). |x| > 1e15 and NaN come back as they are. */
double pyrepr_round2(double x);

/* fnmatch.fnmatch(name, pattern) on POSIX (fnmatchcase: case-sensitive):
 * *, ?, [seq], [!seq], with the class semantics of Python 3.11's
 * fnmatch.translate() followed by re (reversed ranges dropped, '-' rules),
 * over code points (bytes that are not UTF-8 as surrogateescape's).
 * 1 match, 0 no match, -1 where Python raises (re.error, IndexError) or
 * the pattern is longer than PYREPR_MAX_PATTERN. Both NUL-terminated. */
int pyrepr_fnmatch(const char *name, const char *pattern);

/* Celery's signals.signum(name) (celery/platforms.py) for a str name: an
 * uppercase name (str.isupper(), ASCII letters deciding) with or without
 * "SIG", looked up in Python's signal module on Linux (getattr(signal,
 * "SIG..."): "TERM", "SIGCLD", "SIGPOLL", ...). name NULL stands for a
 * value that is not a str. Returns the number, or -1 with the repr of what
 * Python raises appended to why (when not NULL): TypeError('signal name
 * must be uppercase string.') or AttributeError("module 'signal' has no
 * attribute 'SIGFOO'"). SIGRTMIN/SIGRTMAX and the SIG_* handler constants
 * are not emulated (AttributeError). */
int pyrepr_signum(const char *name, struct buf *why);
#endif
