/* log: leveled messages to stderr, one line each, prefixed with the process
 * role and worker so interleaved output from several workers stays readable. */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_verbosity;       /* messages above this level are dropped */

/* log_setrole: the tag printed before every line, e.g. "l7[be1]". */
void log_setrole(const char *role);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_verbosity >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
