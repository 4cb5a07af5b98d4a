/* log: leveled, line-buffered messages to stderr. A single write(2) per line
 * keeps lines from several worker threads from interleaving mid-line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_verbosity = LOG_INFO;
static char log_role[48] = "tandem";

void log_setrole(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n, m;

	if ((int)lvl > log_verbosity)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%ld.%03ld %s %s: ", (long)ts.tv_sec,
		     ts.tv_nsec / 1000000, log_role, names[lvl]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* one write per line: stderr is shared by every worker thread */
	if (write(2, line, n) < 0)
		return;
}
