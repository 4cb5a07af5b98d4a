/* l4_main: `tandem l4 -c FILE`, the front end's process. It owns the
 * control loop: cluster file -> back end slots, health checks -> Maglev
 * table -> the data path (the XDP or tc program through l4_maps.c, or the
 * user-space fallback), the VIP's BGP announcement (l4_bgp.c), SIGHUP
 * reload, SIGTERM withdraw and detach, and /metrics on [l4] admin.
 * Single-threaded except for l4_user's connection threads,
 * which only read the table and slots under l->lock. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <linux/if_link.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "dash.h"
#include "ctl.h"
#include "l4.h"
#include "log.h"
#include "maglev.h"
#include "svc.h"

static const char *l4_mode_name(enum cfg_l4_mode m)
{
	return m == CFG_L4_DR ? "dr" : m == CFG_L4_NAT ? "nat" : "user";
}

static int l4_kernel(const struct l4 *l)
{
	return l->cfg.l4.mode != CFG_L4_USER;
}

/* Checks what this process needs beyond what cfg_load checks. */
static int l4_cfg_check(const struct cfg *c)
{
	int bad = 0, fams = 0;

	if (!c->nvips) {
		log_err("%s: [cluster] vip is not set", c->file);
		bad++;
	} else if (c->nvips > 1 && c->l4.mode == CFG_L4_USER) {
		log_err("%s: [cluster] vip lists %d services; [l4] mode = user serves one "
			"(the first): list one, or use mode = dr or nat", c->file, c->nvips);
		bad++;
	}
	for (int i = 0; i < c->nvips; i++)
		fams |= c->vips[i].ss.ss_family == AF_INET6 ? 2 : 1;
	if (c->l4.mode != CFG_L4_USER && !c->l4.iface[0]) {
		log_err("%s: [l4] iface is not set", c->file);
		bad++;
	}
	for (int i = 0; i < c->nnodes; i++) {
		const struct cfg_node *n = &c->nodes[i];
		uint8_t a[16];

		if (!n->address.len) {
			log_err("%s:%d: node %s has no address", c->file, n->line, n->name);
			bad++;
			continue;
		}
		/* NAT rewrites to the node's address of the packet's family; DR
		 * only needs the node's MAC, which either address resolves */
		if (c->l4.mode != CFG_L4_NAT)
			continue;
		if (((fams & 1) && l4_node_addr_of(n, AF_INET, a)) ||
		    ((fams & 2) && l4_node_addr_of(n, AF_INET6, a))) {
			log_err("%s:%d: node %s: mode = nat needs an address of every VIP's "
				"family (address = IPv4 IPv6)", c->file, n->line, n->name);
			bad++;
		}
	}
	return bad ? -EINVAL : 0;
}

/* The VIPs as one line for messages: "198.18.0.100:80 [2001:2::100]:80". */
static const char *l4_vips_text(const struct cfg *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int i = 0; i < c->nvips && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? " " : "", c->vips[i].text);
	return buf;
}

/* A node the health check reaches but whose MAC the IPv4 neighbour file
 * (l4_check.c) does not give: one known by IPv6, whose check's connect made
 * the kernel resolve it by neighbour discovery. Returns 1 when some MAC was
 * found (the table must be rebuilt), else 0. */
static int l4_macs_resolve(struct l4 *l)
{
	int changed = 0;

	if (!l4_kernel(l))
		return 0;
	for (int s = 0; s < L4_BACKENDS_MAX; s++) {
		struct l4_slot *sl = &l->slots[s];
		static const int fam[2] = { AF_INET6, AF_INET };
		uint8_t a[16], mac[6];

		if (!sl->used || sl->has_mac || sl->node.has_mac || !sl->ok_streak)
			continue;
		for (int f = 0; f < 2 && !sl->has_mac; f++) {
			if (l4_node_addr_of(&sl->node, fam[f], a) ||
			    l4_neigh_get(l->ifindex, fam[f], a, mac))
				continue;
			memcpy(sl->mac, mac, 6);
			sl->has_mac = 1;
			changed = 1;
			log_info("node %s: MAC %02x:%02x:%02x:%02x:%02x:%02x (neighbour table, %s)",
				 sl->node.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
				 fam[f] == AF_INET6 ? "IPv6" : "IPv4");
		}
	}
	return changed;
}

/* An IPv6 VIP this host owns as a preferred address: a /128 wins source
 * address selection over the interface's /64 (longest match, RFC 6724 rule
 * 8), so the health checks and every other connection of the front end
 * would leave from the VIP, and the nodes' replies go to their own lo. */
static void l4_vips_source_warn(const struct l4 *l)
{
	for (int i = 0; i < l->cfg.nvips; i++) {
		const struct cfg_addr *v = &l->cfg.vips[i];
		const struct sockaddr_in6 *s6 = (const void *)&v->ss;
		char name[IF_NAMESIZE] = "?";
		int ifindex = 0;

		if (v->ss.ss_family != AF_INET6 || l4_addr6_preferred(&s6->sin6_addr, &ifindex) != 1)
			continue;
		if_indextoname(ifindex, name);
		log_warn("VIP %s is a preferred address on %s: the kernel may take it as the source "
			 "of this host's own connections (the health checks), whose replies then "
			 "go to a node's lo; add it deprecated: ip -6 addr change %.*s/128 dev %s "
			 "preferred_lft 0", v->text, name, (int)(strrchr(v->text, ']') - v->text - 1),
			 v->text + 1, name);
	}
}

/* Matches the file's nodes to slots by name: a node keeps its slot (flows
 * point at slot numbers), a new one takes a free slot, a vanished one frees
 * its slot. Caller holds l->lock for writing. */
static void l4_reconcile(struct l4 *l, const struct cfg *nc)
{
	for (int s = 0; s < L4_BACKENDS_MAX; s++) {
		struct l4_slot *sl = &l->slots[s];

		if (sl->used && !cfg_node_find((struct cfg *)nc, sl->node.name)) {
			log_info("node %s removed from the cluster file", sl->node.name);
			l4_check_forget(l, s);
			memset(sl, 0, sizeof(*sl));
			sl->chk.fd = -1;
		}
	}
	for (int i = 0; i < nc->nnodes; i++) {
		const struct cfg_node *n = &nc->nodes[i];
		struct l4_slot *sl = NULL;

		for (int s = 0; s < L4_BACKENDS_MAX && !sl; s++)
			if (l->slots[s].used && !strcmp(l->slots[s].node.name, n->name))
				sl = &l->slots[s];
		if (sl) {
			if (strcmp(sl->node.address.text, n->address.text) ||
			    strcmp(sl->node.address2.text, n->address2.text)) {
				log_info("node %s: address now %s%s%s, health and MAC start over",
					 n->name, n->address.text, n->address2.len ? " " : "",
					 n->address2.text);
				sl->up = sl->has_mac = sl->ok_streak = sl->fail_streak = 0;
			}
			if (sl->node.weight != n->weight)
				log_info("node %s: weight %d -> %d%s", n->name, sl->node.weight,
					 n->weight, n->weight ? "" : " (draining)");
		} else {
			for (int s = 0; s < L4_BACKENDS_MAX && !sl; s++)
				if (!l->slots[s].used)
					sl = &l->slots[s];
			memset(sl, 0, sizeof(*sl));
			sl->chk.fd = -1;
			sl->used = 1;
		}
		sl->node = *n;
		if (n->has_mac) {
			memcpy(sl->mac, n->mac, 6);
			sl->has_mac = 1;
		}
	}
}

/* Rebuilds the Maglev table from the slots and pushes the difference to the
 * data path: back ends that are alive first, then the changed slots, then
 * the dead ones, so no slot ever names a back end the program thinks dead
 * while a live one is waiting for its MAC. Returns slots changed or -errno. */
static long l4_apply(struct l4 *l)
{
	struct maglev_node mn[L4_BACKENDS_MAX];
	uint32_t *t = malloc(l->ring_size * sizeof(*t));
	long moved = 0;
	int err;

	if (!t)
		return -ENOMEM;
	for (int s = 0; s < L4_BACKENDS_MAX; s++) {
		struct l4_slot *sl = &l->slots[s];
		int ready = sl->used && sl->up && (!l4_kernel(l) || sl->has_mac);

		mn[s].name = sl->used ? sl->node.name : "";
		mn[s].weight = ready ? (uint32_t)sl->node.weight : 0;
		sl->slots = 0;
	}
	err = maglev_build(t, l->ring_size, mn, L4_BACKENDS_MAX);
	if (err) {
		free(t);
		return err;
	}
	for (uint32_t i = 0; i < l->ring_size; i++)
		if (t[i] != MAGLEV_EMPTY)
			l->slots[t[i]].slots++;
	pthread_rwlock_wrlock(&l->lock);
	if (l4_kernel(l)) {
		for (int pass = 0; pass < 2 && !err; pass++)
			for (uint32_t s = 0; s < L4_BACKENDS_MAX && !err; s++)
				if ((l->slots[s].used && l->slots[s].up) == !pass)
					err = l4_maps_set_backend(l, s);
		if (!err) {
			moved = l4_maps_write_ring(l, l->table_builds ? l->table : NULL, t);
			if (moved < 0)
				err = (int)moved;
		}
	} else {
		moved = l->table_builds ? maglev_diff(l->table, t, l->ring_size) : l->ring_size;
	}
	if (!err)
		memcpy(l->table, t, l->ring_size * sizeof(*t));
	pthread_rwlock_unlock(&l->lock);
	free(t);
	if (err) {
		log_err("writing the Maglev table failed: %s", strerror(-err));
		return err;
	}
	l->table_builds++;
	l->slots_written += moved;
	if (moved) {
		char line[512];
		int n = 0;

		for (int s = 0; s < L4_BACKENDS_MAX; s++)
			if (l->slots[s].used && n < (int)sizeof(line) - 64)
				n += snprintf(line + n, sizeof(line) - n, " %s=%u%s",
					      l->slots[s].node.name, l->slots[s].slots,
					      l->slots[s].up ? "" : "(down)");
		log_info("Maglev table: %ld of %u slots changed;%s", moved, l->ring_size, line);
	}
	return moved;
}

/* /metrics in the Prometheus text format. */
static void l4_metrics(struct l4 *l, FILE *f)
{
	static const char *names[] = {
#define L4_CTR_NAME(id, name) name,
		L4_COUNTERS(L4_CTR_NAME)
#undef L4_CTR_NAME
	};
	uint64_t c[L4_CTR_MAX];

	fprintf(f, "# HELP tandem_l4_up 1 while the front end runs\n# TYPE tandem_l4_up gauge\n"
		"tandem_l4_up{mode=\"%s\"} 1\n", l4_mode_name(l->cfg.l4.mode));
	if (l->skel && !l4_maps_counters(l, c)) {
		fprintf(f, "# HELP tandem_l4_packets_total data path outcomes, per reason\n"
			"# TYPE tandem_l4_packets_total counter\n");
		for (int i = 0; i < L4_CTR_MAX; i++)
			fprintf(f, "tandem_l4_packets_total{outcome=\"%s\"} %llu\n", names[i],
				(unsigned long long)c[i]);
		fprintf(f, "# HELP tandem_l4_hook where the data path is attached\n"
			"# TYPE tandem_l4_hook gauge\ntandem_l4_hook{hook=\"%s\"} 1\n",
			l->hook == CFG_L4_HOOK_TC ? "tc" : "xdp");
		fprintf(f, "# TYPE tandem_l4_xdp_native gauge\ntandem_l4_xdp_native %d\n",
			l->hook == CFG_L4_HOOK_XDP && l->xdp_flags == XDP_FLAGS_DRV_MODE);
		fprintf(f, "# HELP tandem_l4_vip_packets_total packets forwarded, per service\n"
			"# TYPE tandem_l4_vip_packets_total counter\n"
			"# TYPE tandem_l4_vip_bytes_total counter\n"
			"# HELP tandem_l4_vip_connections_total SYNs that opened a flow\n"
			"# TYPE tandem_l4_vip_connections_total counter\n");
		for (int i = 0; i < l->cfg.nvips; i++) {
			struct l4_vip_stats vs;
			const char *v = l->cfg.vips[i].text;

			l4_maps_vip_stats(l, i, &vs);
			fprintf(f, "tandem_l4_vip_packets_total{vip=\"%s\"} %llu\n"
				"tandem_l4_vip_bytes_total{vip=\"%s\"} %llu\n"
				"tandem_l4_vip_connections_total{vip=\"%s\"} %llu\n",
				v, (unsigned long long)vs.packets, v, (unsigned long long)vs.bytes,
				v, (unsigned long long)vs.conns);
		}
	}
	fprintf(f, "# TYPE tandem_l4_table_builds_total counter\ntandem_l4_table_builds_total %llu\n"
		"# TYPE tandem_l4_table_slots_written_total counter\n"
		"tandem_l4_table_slots_written_total %llu\n"
		"# TYPE tandem_l4_table_size gauge\ntandem_l4_table_size %u\n",
		(unsigned long long)l->table_builds, (unsigned long long)l->slots_written,
		l->ring_size);
	fprintf(f, "# TYPE tandem_l4_backend_up gauge\n# TYPE tandem_l4_backend_weight gauge\n"
		"# TYPE tandem_l4_backend_slots gauge\n"
		"# TYPE tandem_l4_backend_packets_total counter\n"
		"# TYPE tandem_l4_backend_bytes_total counter\n"
		"# TYPE tandem_l4_backend_connections_total counter\n");
	pthread_rwlock_rdlock(&l->lock);
	for (uint32_t s = 0; s < L4_BACKENDS_MAX; s++) {
		struct l4_slot *sl = &l->slots[s];
		struct l4_be_stats st = { 0 };
		const char *n = sl->node.name;

		if (!sl->used)
			continue;
		if (l->skel)
			l4_maps_be_stats(l, s, &st);
		else
			st = (struct l4_be_stats){ 0, sl->user_bytes };
		fprintf(f, "tandem_l4_backend_up{node=\"%s\"} %d\n", n, sl->up);
		fprintf(f, "tandem_l4_backend_weight{node=\"%s\"} %d\n", n, sl->node.weight);
		fprintf(f, "tandem_l4_backend_slots{node=\"%s\"} %u\n", n, sl->slots);
		if (l->skel)
			fprintf(f, "tandem_l4_backend_packets_total{node=\"%s\"} %llu\n", n,
				(unsigned long long)st.packets);
		else
			fprintf(f, "tandem_l4_backend_connections_total{node=\"%s\"} %llu\n", n,
				(unsigned long long)sl->user_conns);
		fprintf(f, "tandem_l4_backend_bytes_total{node=\"%s\"} %llu\n", n,
			(unsigned long long)st.bytes);
	}
	l4_check_metrics(l, f);
	if (!l->skel)
		fprintf(f, "# TYPE tandem_l4_user_refused_total counter\n"
			"tandem_l4_user_refused_total %llu\n# TYPE tandem_l4_user_active gauge\n"
			"tandem_l4_user_active %d\n", (unsigned long long)l->user_refused,
			l->user_active);
	pthread_rwlock_unlock(&l->lock);
	l4_bgp_metrics(l, f);
	l4_admin_metrics(l, f);
}

static int l4_reload(struct l4 *l, FILE *errs);

/* One admin request, answered at once: small, local, and a slow client is
 * cut off by the receive timeout rather than holding the loop. */
static void l4_admin_serve(struct l4 *l, int lfd)
{
	struct timeval tv = { 0, 300000 };
	struct adm_req r;
	char req[1024], *body = NULL;
	size_t blen = 0;
	ssize_t n;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0)
		goto out;
	req[n] = 0;
	if (l4_admin_control(l, fd, req, l4_apply, l4_reload))
		goto out;       /* a control verb (l4_admin.c) */
	if (!adm_parse(req, &r) && dash_serve(l->dash, fd, &r))
		return;         /* the dashboard's thread answers and closes FD */
	f = open_memstream(&body, &blen);
	if (!f)
		goto out;
	if (!strncmp(req, "GET /metrics", 12))
		l4_metrics(l, f);
	fclose(f);
	if (blen) {
		dprintf(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
		if (write(fd, body, blen) < 0)
			log_debug("admin: write failed: %s", strerror(errno));
	} else {
		dprintf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 48\r\n"
			"Connection: close\r\n\r\nnot found: try /metrics, or / for the dashboard\n");
	}
out:
	free(body);
	close(fd);
}

static int l4_admin_listen(const struct cfg_addr *a)
{
	int one = 1, fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) || listen(fd, 64)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* SIGHUP or POST /reload: the new file replaces the nodes; what needs a
 * restart (VIP, interface, mode, admin address) is kept, with a warning.
 * cfg_load's FILE:LINE errors go to ERRS. Returns 0 when taken, -errno. */
static int l4_reload(struct l4 *l, FILE *errs)
{
	struct cfg *nc = calloc(1, sizeof(*nc));
	char a[CFG_MAX_VIPS * 64], b[CFG_MAX_VIPS * 64];
	int nerr = 0, r = -EINVAL;

	if (!nc)
		return -ENOMEM;
	if (cfg_load(nc, l->file, errs, &nerr) || l4_cfg_check(nc)) {
		log_err("reload of %s failed (%d errors): running configuration kept", l->file, nerr);
		if (errs != stderr && !nerr)
			fprintf(errs, "%s: refused by the front end's own checks (see its log)\n", l->file);
		goto out;
	}
	if (strcmp(l4_vips_text(nc, a, sizeof(a)), l4_vips_text(&l->cfg, b, sizeof(b))) ||
	    strcmp(nc->l4.iface, l->cfg.l4.iface) || nc->l4.mode != l->cfg.l4.mode ||
	    nc->l4.hook != l->cfg.l4.hook || strcmp(nc->l4.admin.text, l->cfg.l4.admin.text))
		log_warn("reload: vip, [l4] iface, mode, hook and admin need a restart; kept as "
			 "they were");
	if (memcmp(&nc->l4.bgp, &l->cfg.l4.bgp, sizeof(nc->l4.bgp)))
		log_warn("reload: [l4] bgp_* need a restart; kept as they were");
	pthread_rwlock_wrlock(&l->lock);
	l->cfg.l4.check = nc->l4.check;         /* the next check of each node uses it */
	l4_reconcile(l, nc);
	memcpy(l->cfg.nodes, nc->nodes, sizeof(nc->nodes));
	l->cfg.nnodes = nc->nnodes;
	pthread_rwlock_unlock(&l->lock);
	l4_admin_reapply(l);    /* tandem ctl's runtime weights */
	dash_config(l->dash, nc);       /* the dashboard gathers from the new file's daemons */
	log_info("reloaded %s: %d nodes", l->file, nc->nnodes);
	l4_apply(l);
	r = 0;
out:
	free(nc);
	return r;
}

static void l4_usage(FILE *f)
{
	fprintf(f, "usage: tandem l4 -c FILE [-v]\n"
		"  -c, --config FILE   the cluster file; -v, --verbose: debug messages\n"
		"  the level-1 front end: the L4 switch in the kernel ([l4] mode = dr | nat,\n"
		"  hook = auto | xdp | tc) or the user-space fallback (mode = user).\n"
		"  SIGHUP reloads FILE, SIGTERM stops and detaches everything.\n");
}

int l4_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct l4 l4;
	struct l4 *l = &l4;
	const char *file = NULL;
	int opt, sfd = -1, afd = -1, ret = 1, nerr = 0;
	uint64_t stop_ms = 0;           /* SIGTERM with the VIP withdrawn: stop then */
	char vips[CFG_MAX_VIPS * 64];
	sigset_t ss;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': file = optarg; break;
		case 'v': log_verbosity = LOG_DEBUG; break;
		case 'h': l4_usage(stdout); return 0;
		default:  l4_usage(stderr); return 2;
		}
	}
	if (!file) {
		l4_usage(stderr);
		return 2;
	}
	log_setrole("l4");
	l->file = file;
	l->link_fd = l->user_fd = l->route.fd = -1;
	pthread_rwlock_init(&l->lock, NULL);
	for (int s = 0; s < L4_BACKENDS_MAX; s++)
		l->slots[s].chk.fd = -1;
	if (cfg_load(&l->cfg, file, stderr, &nerr) || l4_cfg_check(&l->cfg))
		return 1;
	l->ring_size = L4_RING_DEFAULT;
	l->table = calloc(l->ring_size, sizeof(*l->table));
	if (!l->table)
		return 1;
	for (uint32_t i = 0; i < l->ring_size; i++)
		l->table[i] = L4_NO_BACKEND;
	l4_reconcile(l, &l->cfg);

	sigemptyset(&ss);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd failed: %s", strerror(errno));
		goto out;
	}

	if (l4_kernel(l)) {
		if (l4_probe(l->cfg.l4.mode == CFG_L4_NAT)) {
			log_err("the kernel data path cannot run on this kernel; the fallback is "
				"[l4] mode = user (same Maglev choice, splice relay)");
			goto out;
		}
		if (l4_maps_open(l))
			goto out;
		if (l4_maps_set_vips(l)) {
			log_err("writing the VIPs %s to l4_vips failed",
				l4_vips_text(&l->cfg, vips, sizeof(vips)));
			goto out;
		}
	} else if (l4_user_start(l)) {
		goto out;
	}
	if (l4_check_open(l))
		goto out;
	if (l->cfg.l4.admin.len) {
		afd = l4_admin_listen(&l->cfg.l4.admin);
		if (afd < 0) {
			log_err("admin listener on %s failed: %s", l->cfg.l4.admin.text, strerror(-afd));
			goto out;
		}
		l->dash = dash_new("l4");
		if (!l->dash)
			log_warn("dashboard: cannot start its thread, GET / answers 404");
		dash_config(l->dash, &l->cfg);
	}
	if (l4_kernel(l))
		l4_vips_source_warn(l);
	l4_apply(l);
	if (l4_bgp_open(l))
		goto out;
	log_info("front end up: vip %s, mode %s%s, %d nodes, Maglev table %u slots%s%s",
		 l4_vips_text(&l->cfg, vips, sizeof(vips)), l4_mode_name(l->cfg.l4.mode),
		 !l4_kernel(l) ? "" : l->hook == CFG_L4_HOOK_TC ? ", hook tc" : ", hook xdp",
		 l->cfg.nnodes, l->ring_size, afd >= 0 ? ", /metrics on " : "",
		 afd >= 0 ? l->cfg.l4.admin.text : "");
	svc_ready("vip %s, mode %s, %d nodes", vips, l4_mode_name(l->cfg.l4.mode), l->cfg.nnodes);

	for (;;) {
		struct pollfd pfd[2 + L4_BACKENDS_MAX];
		int n = 0, timeout = 1000;

		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = afd, .events = POLLIN };
		n += l4_check_poll(l, pfd + n, L4_BACKENDS_MAX, &timeout);
		l4_bgp_run(l, &timeout);
		if (stop_ms) {
			uint64_t now = l4_now_ms();

			if (now >= stop_ms) {
				log_info("stopping");
				ret = 0;
				break;
			}
			if (stop_ms - now < (uint64_t)timeout)
				timeout = (int)(stop_ms - now);
		}
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			log_err("poll failed: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				int wait_ms;

				if (si.ssi_signo == SIGHUP) {
					svc_reloading();
					l4_reload(l, stderr);
					svc_ready(NULL);
				} else if (!stop_ms && (wait_ms = l4_bgp_withdraw(l)) > 0) {
					/* the router still sends flows here until it has
					 * the withdrawal: keep forwarding them meanwhile */
					log_info("signal %d: VIP withdrawn, forwarding %d ms more, "
						 "then stopping (again to stop now)",
						 (int)si.ssi_signo, wait_ms);
					svc_stopping("signal %d: VIP withdrawn, stopping in %d ms",
						     (int)si.ssi_signo, wait_ms);
					stop_ms = l4_now_ms() + wait_ms;
				} else {
					log_info("signal %d: stopping", (int)si.ssi_signo);
					svc_stopping("signal %d: stopping", (int)si.ssi_signo);
					ret = 0;
					break;
				}
			}
		}
		if (afd >= 0 && (pfd[1].revents & POLLIN))
			l4_admin_serve(l, afd);
		if (l4_check_run(l) | l4_macs_resolve(l))
			l4_apply(l);
	}
out:
	/* BIRD first: no announcement may outlive the data path */
	l4_bgp_close(l);
	l4_check_stop(l);
	l4_user_stop(l);
	l4_maps_close(l);
	if (afd >= 0)
		close(afd);
	dash_free(l->dash);
	l->dash = NULL;
	if (sfd >= 0)
		close(sfd);
	free(l->table);
	l->table = NULL;
	return ret;
}
