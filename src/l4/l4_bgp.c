/* l4_bgp: the front end's announcement of the VIP over BGP, so that several
 * front ends with the same cluster file can stand behind an ECMP router.
 * It owns the BIRD that announces it: the configuration written from
 * [l4] bgp_* (a static VIP route in protocol "tandem_vip", disabled at
 * start, exported to the peers and to nothing else; no kernel protocol, so
 * BIRD never touches this host's routes), BIRD itself as a child process,
 * and the control socket over which tandem_vip is enabled while the Maglev
 * table has a back end and disabled when it has none or at SIGTERM.
 *
 * Why BIRD runs as our child instead of beside us: its announcement must
 * not outlive the data path. The child gets PR_SET_PDEATHSIG, so when
 * tandem l4 dies, even by SIGKILL, BIRD gets SIGTERM, closes its sessions
 * with a Cease and the router drops the route at once instead of
 * blackholing this front end's share of the flows for a hold time.
 * Why enable/disable rather than rewriting the configuration: toggling a
 * protocol keeps the BGP sessions up (a withdrawal is one UPDATE), costs
 * no reconfiguration, and a BIRD that restarts comes back withdrawn. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "l4.h"
#include "log.h"

#define BGP_PROTO        "tandem_vip"
#define BGP_HOLD_DEFAULT 9              /* s: a silent front end is out after this */
#define BGP_WAIT_DEFAULT 1000           /* ms of forwarding after the withdrawal */
#define BGP_CMD_TIMEOUT  300            /* ms for one exchange on the control socket */
#define BGP_RETRY_MS     200            /* after a failed command */
#define BGP_BACKOFF_MAX  30000          /* ms between restarts of a BIRD that keeps dying */

static const char *bgp_bird(const struct l4 *l)
{
	return l->cfg.l4.bgp.bird[0] ? l->cfg.l4.bgp.bird : "bird";
}

/* Starts ARGV as our child: signals unblocked (tandem blocks them for its
 * signalfd, and a blocked mask survives exec), a session of its own,
 * descriptors past stderr closed (libbpf's and the checks' must not live
 * on in BIRD), SIGTERM when this thread dies. Returns the pid or -errno. */
static pid_t bgp_spawn(char *const argv[])
{
	pid_t parent = getpid(), pid;
	sigset_t none;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* a session of its own: a Ctrl-C in tandem's terminal, or a signal to
	 * tandem's process group (timeout(1) sends one), must not stop BIRD
	 * before tandem has withdrawn the VIP and stops it itself */
	setsid();
	/* the death signal follows the thread that forked: l4_main's, which
	 * lives as long as the process */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
		_exit(126);
	close_range(3, ~0u, 0);
	execvp(argv[0], argv);
	fprintf(stderr, "tandem l4: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* One command on BIRD's control socket. BIRD answers in lines "CODE-text"
 * (more follow), " text" (same code as the line before) and a last
 * "CODE text"; codes 8000 and up are errors. Writes the reply's text to
 * OUT (codes stripped) when given. Returns the first line's code (0..7999),
 * or -errno: -ENOENT/-ECONNREFUSED (no BIRD there), -EIO (an error code;
 * its text in OUT), -ETIMEDOUT. */
static int bgp_cmd(const char *sock, const char *cmd, char *out, size_t outlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 0, BGP_CMD_TIMEOUT * 1000 };
	char buf[8192];
	size_t len = 0, o = 0;
	int fd, first = -1, ret = -EPROTO, greeted = 0;

	if (out && outlen)
		out[0] = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', len))) {
			char *line = buf;
			size_t ll = nl - buf;
			int code = -1, last = 0;

			*nl = 0;
			if (ll >= 5 && line[0] >= '0' && line[0] <= '9' &&
			    (line[4] == '-' || line[4] == ' ')) {
				code = atoi(line);
				last = line[4] == ' ';
				line += 5;
			} else if (line[0] == ' ') {
				line++;
			} else if (line[0] == '+') {
				line = NULL;    /* an asynchronous message: not ours */
			}
			if (line && greeted && out && o + 1 < outlen)
				o += snprintf(out + o, outlen - o, "%s\n", line);
			if (o >= outlen)
				o = outlen - 1;
			if (code >= 0 && greeted && first < 0)
				first = code;
			memmove(buf, nl + 1, len - ll - 1);
			len -= ll + 1;
			if (!last)
				continue;
			if (!greeted) {
				/* "0001 BIRD 2.0.12 ready." */
				char req[128];
				int rl = snprintf(req, sizeof(req), "%s\n", cmd);

				greeted = 1;
				if (send(fd, req, rl, MSG_NOSIGNAL) != rl) {
					ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
					goto out;
				}
				continue;
			}
			ret = first >= 8000 ? -EIO : first;
			goto out;
		}
		if (len == sizeof(buf))
			len = 0;        /* a line longer than the buffer: drop it */
		n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0) {
			ret = n < 0 && errno != EAGAIN ? -errno : n < 0 ? -ETIMEDOUT : -EPROTO;
			goto out;
		}
		len += n;
	}
out:
	close(fd);
	return ret;
}

/* The first IPv4 address of IFACE that is not the VIP, as a router id. */
static int bgp_default_router_id(const struct l4 *l, char *out, size_t len)
{
	struct ifaddrs *ifa, *i;
	int ret = -ENOENT;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;

		if (!sin || sin->sin_family != AF_INET || strcmp(i->ifa_name, l->cfg.l4.iface) ||
		    sin->sin_addr.s_addr == l4_vip_addr(l))
			continue;
		inet_ntop(AF_INET, &sin->sin_addr, out, len);
		ret = 0;
		break;
	}
	freeifaddrs(ifa);
	return ret;
}

static int bgp_mkdir(const char *d, mode_t mode)
{
	return mkdir(d, mode) && errno != EEXIST ? -errno : 0;
}

/* The VIP as a host prefix: "198.18.0.100/32" (or "ADDR/128"). */
static void bgp_vip_prefix(const struct l4 *l, char *out, size_t len, int *v6)
{
	char a[INET6_ADDRSTRLEN] = "";
	const struct sockaddr_storage *ss = &l->cfg.vip.ss;

	*v6 = ss->ss_family == AF_INET6;
	if (*v6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
	snprintf(out, len, "%s/%d", a, *v6 ? 128 : 32);
}

static int bgp_write_conf(struct l4 *l)
{
	const struct cfg_l4_bgp *b = &l->cfg.l4.bgp;
	char tmp[sizeof(l->bgp.conf) + 8], prefix[64];
	int v6, hold = b->hold_time ? b->hold_time : BGP_HOLD_DEFAULT;
	const char *fam;
	FILE *f;

	bgp_vip_prefix(l, prefix, sizeof(prefix), &v6);
	fam = v6 ? "ipv6" : "ipv4";
	snprintf(tmp, sizeof(tmp), "%s.tmp", l->bgp.conf);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "# BIRD configuration of tandem l4, from [l4] bgp_* in %s.\n"
		"# Rewritten at every start: edit the cluster file, not this.\n"
		"# tandem l4 enables protocol %s (the VIP) over the control socket\n"
		"# while its Maglev table has a back end, disables it when none is\n"
		"# left and at SIGTERM, and stops BIRD when it exits. No kernel\n"
		"# protocol: BIRD announces, it does not route.\n\n",
		l->file, BGP_PROTO);
	fprintf(f, "log stderr { info, remote, warning, error, auth, fatal, bug };\n"
		"router id %s;\n\n"
		"# interfaces and addresses, for the sessions' local side\n"
		"protocol device {\n}\n\n", l->bgp.router_id);
	fprintf(f, "protocol static %s {\n\tdisabled yes;\n\t%s;\n"
		"\troute %s blackhole;\n}\n", BGP_PROTO, fam, prefix);
	for (int i = 0; i < b->npeers; i++)
		fprintf(f, "\nprotocol bgp tandem_peer%d {\n"
			"\tdescription \"%s\";\n"
			"\tlocal as %u;\n"
			"\tneighbor %s as %u;\n"
			"\thold time %d;\n"
			"\tkeepalive time %d;\n"
			"\t# first connect soon after start (BIRD's default is 5 s), and\n"
			"\t# after a failure try again within seconds, not minutes\n"
			"\tconnect delay time 1;\n"
			"\tconnect retry time 5;\n"
			"\terror wait time 1, 30;\n"
			"\t%s {\n"
			"\t\timport none;\n"
			"\t\texport where proto = \"%s\";\n"
			"\t\tnext hop self;\n"
			"\t};\n}\n",
			i + 1, b->peers[i].text, b->as, b->peers[i].text, b->peer_as, hold,
			hold / 3 ? hold / 3 : 1, fam, BGP_PROTO);
	if (fclose(f)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return rename(tmp, l->bgp.conf) ? -errno : 0;
}

/* `bird -p -c CONF`: BIRD's own verdict on the file, at start, where a
 * mistake stops tandem l4 with BIRD's message instead of a child that
 * exits later. 0, or -EINVAL / -ENOENT (no such binary) / -errno. */
static int bgp_parse_check(struct l4 *l)
{
	char *argv[] = { (char *)bgp_bird(l), "-p", "-c", l->bgp.conf, NULL };
	pid_t pid = bgp_spawn(argv);
	int st;

	if (pid < 0)
		return pid;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EINVAL;
}

static int bgp_start(struct l4 *l)
{
	char *argv[] = { (char *)bgp_bird(l), "-f", "-c", l->bgp.conf, "-s", l->bgp.sock,
			 "-P", l->bgp.pidfile, NULL };
	pid_t pid;

	unlink(l->bgp.sock);
	pid = bgp_spawn(argv);
	if (pid < 0) {
		log_err("bgp: fork for %s failed: %s", argv[0], strerror(-pid));
		return pid;
	}
	l->bgp.pid = pid;
	l->bgp.started_ms = l4_now_ms();
	l->bgp.announced = 0;   /* it starts with tandem_vip disabled */
	l->bgp.failing = 0;
	l->bgp.retry_ms = 0;
	l->bgp.bird_starts++;
	log_info("bgp: BIRD started (pid %d): %s -f -c %s -s %s", (int)pid, argv[0],
		 l->bgp.conf, l->bgp.sock);
	return 0;
}

int l4_bgp_open(struct l4 *l)
{
	const struct cfg_l4_bgp *b = &l->cfg.l4.bgp;
	struct l4_bgp *g = &l->bgp;
	const struct cfg_l4_check *ck = &l->cfg.l4.check;
	char peers[CFG_BGP_PEERS_MAX * 66] = "";
	int err, n = 0;

	g->on = b->npeers > 0;
	if (!g->on)
		return 0;
	if (b->dir[0]) {
		snprintf(g->dir, sizeof(g->dir), "%s", b->dir);
	} else {
		/* one tandem l4 per network namespace, and namespaces share
		 * /run: the namespace's inode names the folder, the same for
		 * every run in it */
		struct stat st;

		if (stat("/proc/self/ns/net", &st))
			st.st_ino = (ino_t)getpid();
		if ((err = bgp_mkdir("/run/tandem", 0755))) {
			log_err("bgp: mkdir /run/tandem failed: %s; set [l4] bgp_dir", strerror(-err));
			return err;
		}
		snprintf(g->dir, sizeof(g->dir), "/run/tandem/bgp-net%lu", (unsigned long)st.st_ino);
	}
	if ((err = bgp_mkdir(g->dir, 0700))) {
		log_err("bgp: mkdir %s failed: %s", g->dir, strerror(-err));
		return err;
	}
	snprintf(g->conf, sizeof(g->conf), "%s/bird.conf", g->dir);
	snprintf(g->sock, sizeof(g->sock), "%s/bird.ctl", g->dir);
	snprintf(g->pidfile, sizeof(g->pidfile), "%s/bird.pid", g->dir);
	if (b->router_id.len) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&b->router_id.ss)->sin_addr,
			  g->router_id, sizeof(g->router_id));
	} else if (bgp_default_router_id(l, g->router_id, sizeof(g->router_id))) {
		log_err("bgp: no IPv4 address on [l4] iface '%s' to be the router id; "
			"set [l4] bgp_router_id", l->cfg.l4.iface);
		return -EINVAL;
	}
	/* a BIRD answering here announces something already: another front
	 * end of this namespace, or one nobody stopped; never take it over */
	err = bgp_cmd(g->sock, "show status", NULL, 0);
	if (err >= 0 || err == -EIO || err == -ETIMEDOUT) {
		log_err("bgp: a BIRD already answers on %s (another tandem l4 here, or one left "
			"running): stop it first", g->sock);
		return -EEXIST;
	}
	unlink(g->sock);
	unlink(g->pidfile);
	err = bgp_write_conf(l);
	if (err) {
		log_err("bgp: writing %s failed: %s", g->conf, strerror(-err));
		return err;
	}
	err = bgp_parse_check(l);
	if (err == -ENOENT) {
		log_err("bgp: cannot run '%s' ([l4] bgp_bird; Debian: apt install bird2)",
			bgp_bird(l));
		return err;
	}
	if (err) {
		log_err("bgp: BIRD refuses %s (its message is above)", g->conf);
		return err;
	}
	if (l->cfg.l4.mode == CFG_L4_NAT)
		log_warn("bgp: mode = nat: replies return through the front end that has the "
			 "flow's NAT state, so behind ECMP a flow does not survive a move to another "
			 "front end; use mode = dr for that");
	g->backoff_ms = 1000;
	/* every node's first verdict: rise passes or fall failures, each
	 * check taking at most check_timeout; past this, announce anyway */
	g->settle_by_ms = l4_now_ms() + (uint64_t)ck->interval *
		(ck->rise > ck->fall ? ck->rise : ck->fall) + ck->timeout + 1000;
	for (int i = 0; i < b->npeers; i++)
		n += snprintf(peers + n, sizeof(peers) - n, "%s%s", i ? ", " : "", b->peers[i].text);
	log_info("bgp: VIP %s to be announced from AS %u to %s (AS %u), router id %s, hold "
		 "time %d s, once every node has had its first check", l->cfg.vip.text, b->as,
		 peers, b->peer_as, g->router_id, b->hold_time ? b->hold_time : BGP_HOLD_DEFAULT);
	return bgp_start(l);
}

/* Reaps BIRD if it died; starts it again when due. */
static void bgp_supervise(struct l4 *l, uint64_t now)
{
	struct l4_bgp *g = &l->bgp;
	int st;

	if (g->pid > 0 && waitpid(g->pid, &st, WNOHANG) == g->pid) {
		if (now - g->started_ms > BGP_BACKOFF_MAX)
			g->backoff_ms = 1000;
		if (WIFSIGNALED(st))
			log_err("bgp: BIRD (pid %d) killed by signal %d: its sessions are gone, so is "
				"the VIP's route; starting it again in %d ms", (int)g->pid,
				WTERMSIG(st), g->backoff_ms);
		else
			log_err("bgp: BIRD (pid %d) exited with status %d: its sessions are gone, so "
				"is the VIP's route; starting it again in %d ms", (int)g->pid,
				WEXITSTATUS(st), g->backoff_ms);
		if (g->announced)
			g->withdrawals++;
		g->pid = 0;
		g->announced = 0;
		g->restart_ms = now + g->backoff_ms;
		g->backoff_ms = g->backoff_ms * 2 > BGP_BACKOFF_MAX ? BGP_BACKOFF_MAX :
			g->backoff_ms * 2;
	}
	if (!g->pid && g->restart_ms && now >= g->restart_ms && !g->stopping) {
		g->restart_ms = 0;
		if (bgp_start(l))
			g->restart_ms = now + g->backoff_ms;
	}
}

/* Nodes in the table now (l4_apply counts their Maglev slots). */
static int bgp_live(const struct l4 *l)
{
	int n = 0;

	for (int s = 0; s < L4_BACKENDS_MAX; s++)
		n += l->slots[s].used && l->slots[s].slots > 0;
	return n;
}

/* Until every node has had its first verdict, this front end's table may
 * lack nodes the others have: flows that ECMP moves here would then go to
 * another node than the one their connection is on. */
static void bgp_settle(struct l4 *l, uint64_t now)
{
	const struct cfg_l4_check *ck = &l->cfg.l4.check;
	int all = 1, up = 0, nodes = 0;

	if (l->bgp.settled)
		return;
	for (int s = 0; s < L4_BACKENDS_MAX; s++) {
		const struct l4_slot *sl = &l->slots[s];

		if (!sl->used)
			continue;
		nodes++;
		up += sl->up;
		if (!sl->up && sl->fail_streak < ck->fall)
			all = 0;
	}
	if (!all && now < l->bgp.settle_by_ms)
		return;
	l->bgp.settled = 1;
	log_info("bgp: %s: %d of %d nodes up", all ? "every node checked" :
		 "not every node has a verdict yet, going on", up, nodes);
}

/* Enables or disables tandem_vip. 0 or -errno (logged once per streak). */
static int bgp_set(struct l4 *l, int on, int live, uint64_t now)
{
	struct l4_bgp *g = &l->bgp;
	char reply[256];
	int r = bgp_cmd(g->sock, on ? "enable " BGP_PROTO : "disable " BGP_PROTO, reply,
			sizeof(reply));

	reply[strcspn(reply, "\n")] = 0;
	if (r < 0) {
		/* BIRD opens its socket a few ms after the start: quiet then */
		if (!g->failing && now - g->started_ms > 2000) {
			log_warn("bgp: '%s %s' on %s failed: %s%s%s; trying again every %d ms",
				 on ? "enable" : "disable", BGP_PROTO, g->sock, strerror(-r),
				 *reply ? ": " : "", reply, BGP_RETRY_MS);
			g->failing = 1;
		}
		g->retry_ms = now + BGP_RETRY_MS;
		return r;
	}
	g->failing = 0;
	g->announced = on;
	if (on) {
		g->announces++;
		log_info("bgp: VIP %s announced (%d nodes in the table)", l->cfg.vip.text, live);
	} else {
		g->withdrawals++;
		log_info("bgp: VIP %s withdrawn (%s)", l->cfg.vip.text,
			 g->stopping ? "stopping" : "no node in the table");
	}
	return 0;
}

void l4_bgp_run(struct l4 *l, int *timeout_ms)
{
	struct l4_bgp *g = &l->bgp;
	uint64_t now = l4_now_ms(), due = 0;
	int want, live;

	if (!g->on)
		return;
	bgp_supervise(l, now);
	bgp_settle(l, now);
	live = bgp_live(l);
	want = !g->stopping && g->settled && live > 0;
	if (g->pid > 0 && want != g->announced && now >= g->retry_ms)
		bgp_set(l, want, live, now);
	if (g->pid > 0 && want != g->announced)
		due = g->retry_ms > now ? g->retry_ms : now + BGP_RETRY_MS;
	if (!g->settled && (!due || g->settle_by_ms < due))
		due = g->settle_by_ms;
	if (!g->pid && g->restart_ms && (!due || g->restart_ms < due))
		due = g->restart_ms;
	if (due) {
		uint64_t d = due > now ? due - now : 0;

		if (d < (uint64_t)*timeout_ms)
			*timeout_ms = (int)d;
	}
}

int l4_bgp_withdraw(struct l4 *l)
{
	struct l4_bgp *g = &l->bgp;
	const struct cfg_l4_bgp *b = &l->cfg.l4.bgp;
	int was = g->announced;

	if (!g->on)
		return 0;
	g->stopping = 1;
	if (!was)
		return 0;
	if (bgp_set(l, 0, 0, l4_now_ms())) {
		/* no control socket: closing BIRD's sessions withdraws too */
		log_warn("bgp: stopping BIRD to withdraw the VIP instead");
		l4_bgp_close(l);
	}
	return b->has_withdraw_wait ? b->withdraw_wait : BGP_WAIT_DEFAULT;
}

void l4_bgp_close(struct l4 *l)
{
	struct l4_bgp *g = &l->bgp;
	int st = 0;

	if (!g->on)
		return;
	g->stopping = 1;
	/* nothing of ours to stop or remove: the files may be another BIRD's
	 * (l4_bgp_open refused them), or the configuration BIRD refused */
	if (!g->bird_starts)
		return;
	if (g->pid > 0) {
		pid_t r = 0;

		kill(g->pid, SIGTERM);
		for (int i = 0; i < 300 && (r = waitpid(g->pid, &st, WNOHANG)) == 0; i++)
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		if (r == 0) {
			log_warn("bgp: BIRD (pid %d) still runs 3 s after SIGTERM: SIGKILL",
				 (int)g->pid);
			kill(g->pid, SIGKILL);
			waitpid(g->pid, &st, 0);
		}
		log_info("bgp: BIRD (pid %d) stopped, its sessions closed", (int)g->pid);
		if (g->announced)
			g->withdrawals++;
		g->pid = 0;
		g->announced = 0;
	}
	unlink(g->sock);
	unlink(g->pidfile);
	unlink(g->conf);
	rmdir(g->dir);          /* fails, and stays, where other files are in it */
}

void l4_bgp_metrics(struct l4 *l, FILE *f)
{
	const struct cfg_l4_bgp *b = &l->cfg.l4.bgp;
	struct l4_bgp *g = &l->bgp;
	char reply[4096];
	int est[CFG_BGP_PEERS_MAX] = { 0 };

	if (!g->on)
		return;
	if (g->pid > 0 && bgp_cmd(g->sock, "show protocols", reply, sizeof(reply)) >= 0) {
		/* "tandem_peer1 BGP --- up 10:09:14.579 Established" */
		char *save = NULL;

		for (char *line = strtok_r(reply, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char name[32], proto[16], table[32], state[16], since[32], info[32] = "";
			int i;

			if (sscanf(line, "%31s %15s %31s %15s %31s %31s", name, proto, table, state,
				   since, info) < 5 || sscanf(name, "tandem_peer%d", &i) != 1 ||
			    i < 1 || i > b->npeers)
				continue;
			est[i - 1] = !strcmp(state, "up") && !strcmp(info, "Established");
		}
	}
	fprintf(f, "# HELP tandem_l4_bgp_announced 1 while the VIP is announced to the peers\n"
		"# TYPE tandem_l4_bgp_announced gauge\ntandem_l4_bgp_announced %d\n"
		"# TYPE tandem_l4_bgp_bird_running gauge\ntandem_l4_bgp_bird_running %d\n"
		"# HELP tandem_l4_bgp_session_up 1 while the session to the peer is established\n"
		"# TYPE tandem_l4_bgp_session_up gauge\n", g->announced, g->pid > 0);
	for (int i = 0; i < b->npeers; i++)
		fprintf(f, "tandem_l4_bgp_session_up{peer=\"%s\"} %d\n", b->peers[i].text, est[i]);
	fprintf(f, "# TYPE tandem_l4_bgp_announcements_total counter\n"
		"tandem_l4_bgp_announcements_total %llu\n"
		"# TYPE tandem_l4_bgp_withdrawals_total counter\n"
		"tandem_l4_bgp_withdrawals_total %llu\n"
		"# TYPE tandem_l4_bgp_bird_starts_total counter\n"
		"tandem_l4_bgp_bird_starts_total %llu\n",
		(unsigned long long)g->announces, (unsigned long long)g->withdrawals,
		(unsigned long long)g->bird_starts);
}
