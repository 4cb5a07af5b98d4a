/* svc: the sd_notify(3) messages of a process that systemd started with
 * Type=notify (READY, RELOADING, STOPPING, STATUS). libsystemd does the
 * socket work: it reads NOTIFY_SOCKET, and without it sends nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "svc.h"

/* Sends MSG, with "STATUS=STATUS" when STATUS is set. A failed send is
 * said once: systemd then times the start or stop out, and the log says
 * why (a missing socket, a NotifyAccess= that refuses us). */
static int svc_send(const char *msg, const char *status)
{
	static int warned;
	char buf[512];
	int r;

	snprintf(buf, sizeof(buf), "%s%s%s", msg, status ? "\nSTATUS=" : "", status ? status : "");
	/* unset_environment 0: later messages need NOTIFY_SOCKET too */
	r = sd_notify(0, buf);
	if (r < 0 && !warned) {
		warned = 1;
		log_warn("sd_notify(%s) failed: %s; the service manager may time us out", msg,
			 strerror(-r));
	}
	return r;
}

int svc_ready(const char *fmt, ...)
{
	char status[256];
	va_list ap;

	if (!fmt)
		return svc_send("READY=1", NULL);
	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	return svc_send("READY=1", status);
}

int svc_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* systemd >= 253 (Type=notify-reload) ignores a RELOADING=1 without
	 * the CLOCK_MONOTONIC time it was sent at; older ones ignore the stamp */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	return svc_send(msg, NULL);
}

int svc_stopping(const char *fmt, ...)
{
	char status[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	return svc_send("STOPPING=1", status);
}
