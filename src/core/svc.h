/* svc: what a tandem process tells the service manager that started it
 * (systemd's Type=notify, through sd_notify(3)). Every call is a no-op
 * returning 0 when the process was not started that way (no NOTIFY_SOCKET
 * in the environment), so the roles call them unconditionally. */
#ifndef TANDEM_SVC_H
#define TANDEM_SVC_H

/* svc_ready: READY=1, once the role serves (listeners bound, XDP
 * attached), and again after each reload; with STATUS=FMT... (the line
 * `systemctl status` shows) unless FMT is NULL.
 * Returns >0 sent, 0 no service manager, -errno (logged) if sending failed. */
int svc_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* svc_reloading: RELOADING=1 with the MONOTONIC_USEC stamp systemd 253 and
 * later ask for, before a SIGHUP reload; svc_ready() follows it whatever
 * the reload's outcome. Same returns. */
int svc_reloading(void);

/* svc_stopping: STOPPING=1 with STATUS=FMT..., when a drain or a stop
 * begins. Same returns. */
int svc_stopping(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
