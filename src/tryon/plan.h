/* plan: when a try-on job calls which model, as pure functions of the
 * job's clock, the state of its requests and the latencies the parent has
 * observed. It decides the give-up point (when the backup must be submitted
 * to finish before the deadline), the hung rule for a running primary,
 * hedging and switching; docs/DESIGN.md works an example at the seed's
 * numbers. Times are seconds since the job started. No I/O, no clock. */
#ifndef TRYON_PLAN_H
#define TRYON_PLAN_H

/* The priors (TRYON_PRIMARY_LATENCY, TRYON_BACKUP_LATENCY) describe the
 * seed's 25 s soft limit; a shorter soft limit scales them down alike. */
#define PLAN_SEED_SOFT_LIMIT 25.0
/* Observations needed before a quantile may undercut its prior. */
#define PLAN_MIN_OBS 10
/* A primary running this many times its expected latency is hung. */
#define PLAN_HUNG_FACTOR 1.25

enum plan_mode {
	PLAN_COST = 0,     /* no more paid requests than the sequential plan (default) */
	PLAN_LATENCY       /* hedge a slow primary with the backup; may pay for both */
};

/* A high quantile (p90) of observed submit-to-result latencies and how many
 * observations (decayed) stand behind it. q = 0: none. */
struct plan_latency {
	double q;
	double n;
};

struct plan_params {
	enum plan_mode mode;
	double deadline;          /* soft limit (s after start) */
	double primary_prior;     /* TRYON_PRIMARY_LATENCY, for a 25 s soft limit */
	double backup_prior;      /* TRYON_BACKUP_LATENCY, likewise */
	double hedge_after;       /* s a primary may sit IN_QUEUE; 0 = never hedge/switch early */
	struct plan_latency primary, backup;
};

/* The latency to plan with for one model: the prior scaled to the soft
 * limit until PLAN_MIN_OBS observations exist (never below it before that:
 * one fast burst cannot move the plan), then the observed quantile. */
double plan_expected(const struct plan_params *p, int backup);
/* Allowance for the submit and the result fetch around a model's latency. */
double plan_margin(const struct plan_params *p);
/* When the backup must be submitted at the latest to finish in time. */
double plan_give_up_at(const struct plan_params *p);

enum plan_req {
	PLAN_REQ_NONE = 0,  /* not submitted */
	PLAN_REQ_QUEUED,    /* accepted, IN_QUEUE */
	PLAN_REQ_RUNNING,   /* IN_PROGRESS */
	PLAN_REQ_FAILED,    /* ended without a result (or refused, or skipped) */
	PLAN_REQ_DONE       /* has its result */
};

struct plan_view {
	double now;
	enum plan_req primary, backup;
	double primary_submitted; /* when the primary was accepted (may be < 0: resumed) */
	int backup_allowed;       /* the backup may still be submitted (breaker, not tried) */
};

enum plan_step {
	PLAN_WAIT = 0,            /* nothing to do before *wake */
	PLAN_SUBMIT_BACKUP,       /* the primary failed or cannot be used */
	PLAN_HEDGE,               /* submit the backup too and keep the primary */
	PLAN_SWITCH               /* cancel the primary, submit the backup */
};

/* What to do now. *wake is set to the next time the answer may change
 * (a large value when only the requests' own progress can change it). */
enum plan_step plan_next(const struct plan_params *p, const struct plan_view *v, double *wake);
/* Name for logs: "wait", "submit_backup", "hedge", "switch". */
const char *plan_step_name(enum plan_step s);
/* "cost" / "latency" -> mode; -1 if neither. */
int plan_mode_parse(const char *s);
const char *plan_mode_name(enum plan_mode m);
#endif
