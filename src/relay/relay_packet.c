/* relay_packet: packet-level TCP splicing (`relay = packet`), the paper's
 * own module (section 3.3). The web server's segments of a response body
 * are rewritten into the client's connection by tc programs
 * (src/bpf/psplice.bpf.c) and leave toward the client without climbing
 * this node's TCP stack; the client's ACKs go back to the web server the
 * same way, so loss recovery and flow control stay end to end. The
 * sockets never see the spliced bytes: offsets kept in BPF maps for the
 * rest of both connections' lives make up for them (doc/internals/packet.md).
 *
 * The process loads the programs once and attaches them, in a chain of
 * its own priority, to the clsact hooks of every interface (or of
 * `[l7] splice_ifaces`); each worker has a ring the programs tell of its
 * ranges. A client connection gets its entry right after accept, a pooled
 * one at its first arming (its options are known then).
 *
 * One Content-Length body of kernel_min bytes or more is one arming: from
 * the first body byte user space has not read (sock U's sequence space:
 * its rcv_nxt less what waits unread, read through TCP_REPAIR), to the
 * body's end, with sock C's write_seq as where the body goes. The next
 * server segment that continues what sock U received starts the range
 * (the program deletes the arming, so it has one taker); the bytes before
 * it are in sock U and go through a pipe (splice), the rest is spliced.
 * The run ends when the client has acknowledged the whole range; until
 * then nothing else is written to it. A body that came whole through the
 * socket first ends as a plain splice, its arming taken back. Anything
 * else (chunked, close-delimited, small, options missing on either side)
 * is spliced by splice(2), counted by reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conn.h"
#include "ev.h"
#include "log.h"
#include "relay.h"
#include "psplice_abi.h"
#include "psplice.skel.h"

#define PK_SLOTS 16384                  /* runs a worker may have at once */
#define PK_GRAVE_MS 120000              /* a closed socket's entry outlives it (TIME_WAIT, a last RST) */
#define PK_CLOSE_MS 2000                /* at exit, how long the programs wait for closing handshakes */
/* A pooled socket's receive buffer, set once connected: what the server
 * can send before a range is claimed (those bytes go through the pipe),
 * and what every body left to splice(2) flows through. 256 KiB made
 * bodies left to splice faster (bench/relay on lo, 256 KiB bodies: 6,441
 * against 3,419 req/s), but a range then starts behind up to half a MiB
 * of bytes that go through user space, and its first segments outrun the
 * client's window (4 MiB: 373 against 309 req/s, but 0.48 against 0.21 s
 * of CPU per GB; 1 MiB: 1,089 against 1,406 req/s). (A body ending with
 * the server's FIN, once cut at 256 KiB in l7_faults.t, is no longer.) */
#define PK_RCVBUF (64 << 10)
_Static_assert(PK_RCVBUF >= PSP_U_WIN, "the window a range's end gives back fits the buffer (SO_RCVBUF is doubled)");
/* The same where the pool's MSS is clamped to a real interface's (G.mss,
 * at most PK_WIN_SMALL / 2): a receive buffer of PK_RCVBUF_SMALL, and sock
 * U's window clamped to PK_WIN_SMALL once connected (the uplink's u_win).
 * The buffer bounds what the server sends before a range is claimed:
 * between network namespaces, with PK_RCVBUF, about 104 KiB of every 256
 * KiB body came before its range and went through user space (sock U
 * acks each segment with a new window whether read or not, so the window
 * alone does not bound it). The clamp keeps the server's bursts small
 * enough for the smaller buffer. On loopback (MSS 65,483) a window this
 * small would hold nginx's corked sends for 200 ms (doc/internals/packet.md) */
#define PK_RCVBUF_SMALL (32 << 10)
#define PK_WIN_SMALL (16 << 10)
_Static_assert(PK_RCVBUF_SMALL >= PK_WIN_SMALL, "the small window fits the small buffer (SO_RCVBUF is doubled)");
#define PK_MAX_IFS 64
/* Armings between two looks at a pooled socket's receive sequence in
 * repair mode (pk_unread): between them, its conn's rx count says it. */
#define PK_BASE_CHECK 16
#define PK_RUN_DIR "/run/tandem"
#define PK_TC_HANDLE 0x7e5a

#ifndef TCP_REPAIR_OFF_NO_WP
#define TCP_REPAIR_OFF_NO_WP -1
#endif

/* ---- the process: programs, maps, attachments ----------------------- */

static struct {
	pthread_mutex_t mu;
	struct psplice_bpf *skel;
	int clients, uplinks, arms, rings, stats;
	int ifs[PK_MAX_IFS];
	int nifs;
	int mss;                        /* the pool's clamp (relay_packet_mss) */
	int small;                      /* pooled sockets get PK_RCVBUF_SMALL and PK_WIN_SMALL */
	int prio;                       /* ingress: prio (srv_in), prio + 1 (cli_in); egress alike */
	int next_ring;
	uint64_t next_owner;
	char att[96];                   /* the file naming our attachments */
} G = { .mu = PTHREAD_MUTEX_INITIALIZER, .clients = -1 };

struct pk_grave {
	uint8_t key[12];
	uint8_t backend;
	uint64_t owner;
	uint64_t t;
};

struct relay_pk {
	int ring_fd, ring;
	struct ring_buffer *rb;
	struct relay *runs[PK_SLOTS];
	uint32_t gen[PK_SLOTS];
	uint32_t free[PK_SLOTS];
	int nfree;
	struct pk_grave *grave;         /* a ring of closed sockets' entries, oldest first */
	int ghead, gn, gcap;
	struct relay_pk_stats st;
};

static const char *const pk_fb_names[RELAY_PK_FB_COUNT] = {
	[RELAY_PK_FB_FRAMING] = "framing", [RELAY_PK_FB_SMALL] = "small",
	[RELAY_PK_FB_OPTIONS] = "tcp_options", [RELAY_PK_FB_MSS] = "mss",
	[RELAY_PK_FB_FAMILY] = "family", [RELAY_PK_FB_STATE] = "state",
	[RELAY_PK_FB_BUSY] = "busy", [RELAY_PK_FB_UNCLAIMED] = "unclaimed",
};

const char *relay_pk_fb_name(int k)
{
	return k >= 0 && k < RELAY_PK_FB_COUNT ? pk_fb_names[k] : "?";
}

static int pk_tc(int ifindex, enum bpf_tc_attach_point where, int prio, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = ifindex, .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = PK_TC_HANDLE, .priority = prio);
	int e;

	if (prog_fd < 0)
		return bpf_tc_detach(&h, &o);
	e = bpf_tc_hook_create(&h);
	if (e && e != -EEXIST)
		return e;
	o.prog_fd = prog_fd;
	o.flags = BPF_TC_F_REPLACE;
	return bpf_tc_attach(&h, &o);
}

static void pk_detach_at(int ifindex, int prio)
{
	pk_tc(ifindex, BPF_TC_INGRESS, prio, -1);
	pk_tc(ifindex, BPF_TC_INGRESS, prio + 1, -1);
	pk_tc(ifindex, BPF_TC_EGRESS, prio, -1);
	pk_tc(ifindex, BPF_TC_EGRESS, prio + 1, -1);
}

static unsigned long pk_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (unsigned long)st.st_ino;
}

/* Programs a killed tandem left behind: each process names its
 * attachments in PK_RUN_DIR/packet-PID.att; a file whose process is gone
 * is undone and removed. */
static void pk_clean_stale(void)
{
	DIR *d = opendir(PK_RUN_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[300];
		int pid, ifindex, prio;
		FILE *f;

		unsigned long ns = 0;

		if (sscanf(de->d_name, "packet-%d.att", &pid) != 1)
			continue;
		if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), PK_RUN_DIR "/%s", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* interface indexes are a namespace's: only ours are undone */
		if (fscanf(f, "netns %lu", &ns) != 1 || ns != pk_netns()) {
			fclose(f);
			continue;
		}
		while (fscanf(f, "%d %d", &ifindex, &prio) == 2)
			pk_detach_at(ifindex, prio);
		fclose(f);
		unlink(path);
		log_info("relay packet: removed the programs of tandem %d, which is gone", pid);
	}
	closedir(d);
}

/* The interfaces: NAMES (space or comma separated), or every one that is up. */
static int pk_ifaces(const char *names, char *why, size_t whylen)
{
	G.nifs = 0;
	if (names && *names) {
		char buf[512], *save, *t;

		snprintf(buf, sizeof(buf), "%s", names);
		for (t = strtok_r(buf, " ,", &save); t && G.nifs < PK_MAX_IFS; t = strtok_r(NULL, " ,", &save)) {
			int i = if_nametoindex(t);

			if (!i) {
				snprintf(why, whylen, "splice_ifaces: no interface %s", t);
				return -ENODEV;
			}
			G.ifs[G.nifs++] = i;
		}
		return 0;
	}
	struct if_nameindex *ni = if_nameindex(), *p;

	if (!ni) {
		snprintf(why, whylen, "if_nameindex: %s", strerror(errno));
		return -errno;
	}
	for (p = ni; p->if_index && G.nifs < PK_MAX_IFS; p++) {
		struct ifreq ifr = { 0 };
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->if_name);
		if (s >= 0 && !ioctl(s, SIOCGIFFLAGS, &ifr) && (ifr.ifr_flags & IFF_UP))
			G.ifs[G.nifs++] = p->if_index;
		if (s >= 0)
			close(s);
	}
	if_freenameindex(ni);
	return 0;
}

/* The smallest MTU - 40 (IPv4 and TCP headers) of the interfaces in use
 * that are not loopback: a client's MSS is at most its path's, and the
 * web server's segments reach it as they are. 0: loopback only. */
static int pk_ifs_mss(void)
{
	int mss = 0, s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	for (int i = 0; s >= 0 && i < G.nifs; i++) {
		struct ifreq ifr = { 0 };

		if (!if_indextoname(G.ifs[i], ifr.ifr_name) || ioctl(s, SIOCGIFFLAGS, &ifr) ||
		    (ifr.ifr_flags & IFF_LOOPBACK) || ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu <= 576)
			continue;
		if (!mss || ifr.ifr_mtu - 40 < mss)
			mss = ifr.ifr_mtu - 40;
	}
	if (s >= 0)
		close(s);
	return mss;
}

int relay_packet_mss(void)
{
	return G.skel ? G.mss : 0;
}

int relay_packet_start(const char *ifaces, char *why, size_t whylen)
{
	struct psplice_bpf *s;
	FILE *f;
	int e;

	pthread_mutex_lock(&G.mu);
	if (G.skel) {
		pthread_mutex_unlock(&G.mu);
		return 0;
	}
	libbpf_set_print(relay_libbpf_print);
	mkdir(PK_RUN_DIR, 0755);
	pk_clean_stale();
	s = psplice_bpf__open_and_load();
	if (!s) {
		e = -(errno ? errno : EINVAL);
		snprintf(why, whylen, "the tc programs do not load: %s", strerror(-e));
		goto fail;
	}
	e = pk_ifaces(ifaces, why, whylen);
	if (e)
		goto fail_skel;
	G.prio = 0x100 + 2 * (getpid() % 0x7e00);
	snprintf(G.att, sizeof(G.att), PK_RUN_DIR "/packet-%d.att", (int)getpid());
	f = fopen(G.att, "w");
	if (f)
		fprintf(f, "netns %lu\n", pk_netns());
	for (int i = 0; i < G.nifs; i++) {
		if (f)
			fprintf(f, "%d %d\n", G.ifs[i], G.prio);
		if ((e = pk_tc(G.ifs[i], BPF_TC_INGRESS, G.prio, bpf_program__fd(s->progs.psp_srv_in))) ||
		    (e = pk_tc(G.ifs[i], BPF_TC_INGRESS, G.prio + 1, bpf_program__fd(s->progs.psp_cli_in))) ||
		    (e = pk_tc(G.ifs[i], BPF_TC_EGRESS, G.prio, bpf_program__fd(s->progs.psp_cli_out))) ||
		    (e = pk_tc(G.ifs[i], BPF_TC_EGRESS, G.prio + 1, bpf_program__fd(s->progs.psp_srv_out)))) {
			char name[IF_NAMESIZE] = "?";

			if_indextoname(G.ifs[i], name);
			snprintf(why, whylen, "attaching to clsact of %s: %s", name, strerror(-e));
			for (int j = 0; j <= i; j++)
				pk_detach_at(G.ifs[j], G.prio);
			if (f)
				fclose(f);
			unlink(G.att);
			goto fail_skel;
		}
	}
	if (f)
		fclose(f);
	G.mss = pk_ifs_mss();
	G.small = G.mss && G.mss <= PK_WIN_SMALL / 2;
	G.skel = s;
	G.clients = bpf_map__fd(s->maps.psp_clients);
	G.uplinks = bpf_map__fd(s->maps.psp_uplinks);
	G.arms = bpf_map__fd(s->maps.psp_arms);
	G.rings = bpf_map__fd(s->maps.psp_rings);
	G.stats = bpf_map__fd(s->maps.psp_stats);
	pthread_mutex_unlock(&G.mu);
	return 0;
fail_skel:
	psplice_bpf__destroy(s);
fail:
	pthread_mutex_unlock(&G.mu);
	return e;
}

/* The tracked connections still closing (FIN_WAIT1/2, CLOSING, LAST_ACK):
 * one sock_diag dump of this namespace's IPv4 TCP sockets in those states
 * (the kernel's numbers, as linux/bpf.h names them), each looked up in the
 * maps (the key is the peer's tuple). An orphan in FIN_WAIT2 whose timer
 * (set to tcp_fin_timeout when it got there) is below FRESH ms got there
 * before the stop: its peer is not closing (a web server killed, say), and
 * it is left out. Returns their number, or -1 when the dump fails; ONE:
 * the last one's peer and state, said in the log. */
static int pk_closing(uint32_t fresh, char *one, size_t onelen)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = AF_INET, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = 1 << BPF_TCP_FIN_WAIT1 | 1 << BPF_TCP_FIN_WAIT2 |
				       1 << BPF_TCP_CLOSING | 1 << BPF_TCP_LAST_ACK },
	};
	char buf[16384];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), n = 0, done = 0;

	if (fd < 0)
		return -1;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return -1;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);

		if (len <= 0) {
			n = -1;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				n = h->nlmsg_type == NLMSG_ERROR ? -1 : n;
				break;
			}
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			struct psp_key k = { m->id.idiag_dst[0], m->id.idiag_src[0],
					     m->id.idiag_dport, m->id.idiag_sport };
			union { struct psp_client c; struct psp_uplink u; } v;

			if (m->idiag_state == BPF_TCP_FIN_WAIT2 && m->idiag_timer == 3 && m->idiag_expires < fresh)
				continue;
			if (bpf_map_lookup_elem(G.uplinks, &k, &v) && bpf_map_lookup_elem(G.clients, &k, &v))
				continue;
			char ip[INET_ADDRSTRLEN];

			n++;
			inet_ntop(AF_INET, &k.saddr, ip, sizeof(ip));
			snprintf(one, onelen, "%s:%u, state %u", ip, ntohs(k.sport), m->idiag_state);
		}
	}
	close(fd);
	return n;
}

void relay_packet_stop(void)
{
	pthread_mutex_lock(&G.mu);
	if (G.skel) {
		/* The sockets are closed: their FINs went out translated, but
		 * the peers' answers (an ACK, their own FIN) are still on the
		 * way, and untranslated they would be out of window. Sock U
		 * would answer the server's FIN with an ack in its own space,
		 * far below the server's: the server, in LAST_ACK, takes that
		 * for an old ack and answers with challenge ACKs while both
		 * sides retransmit (seen in relay_packet.t at a restart, with
		 * the web server slow to answer). So the programs stay until
		 * those handshakes end, for at most PK_CLOSE_MS. */
		uint64_t t0 = ev_clock_ms(), now = t0;
		char one[64] = "";
		int n, fin = 60;
		FILE *f = fopen("/proc/sys/net/ipv4/tcp_fin_timeout", "r");

		if (f) {
			if (fscanf(f, "%d", &fin) != 1 || fin < 2)
				fin = 60;
			fclose(f);
		}
		/* FIN_WAIT2 since at most half a second before the stop: the
		 * workers closed their sockets just before */
		while ((n = pk_closing(fin * 1000 - (uint32_t)(now - t0) - 500, one, sizeof(one))) > 0 &&
		       now < t0 + PK_CLOSE_MS) {
			usleep(10000);
			now = ev_clock_ms();
		}
		if (n > 0)
			log_info("relay packet: %d connections still closing after %d ms (%s, ...); "
				 "their last segments go untranslated", n, PK_CLOSE_MS, one);
		for (int i = 0; i < G.nifs; i++)
			pk_detach_at(G.ifs[i], G.prio);
		unlink(G.att);
		psplice_bpf__destroy(G.skel);
		G.skel = NULL;
		G.clients = -1;
	}
	pthread_mutex_unlock(&G.mu);
}

int relay_packet_ifaces(char *out, size_t len)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < G.nifs && n < len; i++) {
		char name[IF_NAMESIZE] = "?";

		if_indextoname(G.ifs[i], name);
		n += snprintf(out + n, len - n, "%s%s", i ? " " : "", name);
	}
	return G.nifs;
}

static const struct { int id; const char *why; } pk_drops[RELAY_PK_DROPS] = {
	{ PSP_C_DROP_TRUNC, "truncated" }, { PSP_C_DROP_IPOPT, "ip_options" },
	{ PSP_C_DROP_FRAG, "fragment" }, { PSP_C_DROP_BADOPT, "tcp_options" },
	{ PSP_C_DROP_TS_DUP, "ts_twice" }, { PSP_C_DROP_TS_MISSING, "ts_missing" },
	{ PSP_C_DROP_TS_UNEXPECTED, "ts_unexpected" }, { PSP_C_DROP_RANGE, "range_edge" },
	{ PSP_C_DROP_FIN_RANGE, "fin_in_range" }, { PSP_C_DROP_NO_PEER, "no_peer" },
	{ PSP_C_DROP_NO_STATE, "no_state" }, { PSP_C_DROP_HELPER, "helper" },
	{ PSP_C_DROP_MOVED, "client_moved" },
};
_Static_assert(PSP_C_DROP_MOVED - PSP_C_DROP_TRUNC + 1 == RELAY_PK_DROPS,
	       "a name for every drop counter of psplice_abi.h");

const char *relay_pk_drop_name(int k)
{
	return k >= 0 && k < RELAY_PK_DROPS ? pk_drops[k].why : "?";
}

void relay_packet_counters(struct relay_pk_prog *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v, k[PSP_C_COUNT] = { 0 };

	memset(out, 0, sizeof(*out));
	if (G.clients < 0 || ncpu <= 0)
		return;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return;
	for (uint32_t i = 0; i < PSP_C_COUNT; i++)
		if (!bpf_map_lookup_elem(G.stats, &i, v))
			for (int c = 0; c < ncpu; c++)
				k[i] += v[c];
	free(v);
	out->segments = k[PSP_C_SPLICED];
	out->bytes = k[PSP_C_SPLICED_BYTES];
	out->retransmits = k[PSP_C_RETRANS];
	out->client_acks = k[PSP_C_ACK_TO_SRV];
	out->sack_cut = k[PSP_C_SACK_CUT];
	out->icmp = k[PSP_C_ICMP_TO_SOCK];
	out->icmp_range = k[PSP_C_ICMP_RANGE];
	out->late = k[PSP_C_LATE];
	out->probes = k[PSP_C_PROBE_CLI];
	out->win_clamps = k[PSP_C_WIN_CLAMP];
	out->claim_waits = k[PSP_C_CLAIM_WAIT];
	out->ts_cleared = k[PSP_C_TS_CLEARED];
	for (int i = 0; i < RELAY_PK_DROPS; i++)
		out->drops[i] = k[pk_drops[i].id];
}

/* ---- a worker --------------------------------------------------------- */

static int pk_ring_cb(void *ctx, void *data, size_t len)
{
	struct relay_pk *pk = ctx;
	struct psp_event ev;
	uint32_t slot;
	struct relay *r;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	slot = (uint32_t)ev.cookie;
	if (slot >= PK_SLOTS || !(r = pk->runs[slot]) || pk->gen[slot] != (uint32_t)(ev.cookie >> 32))
		return 0;       /* a run that ended already */
	if (ev.type == PSP_EV_CLAIM) {
		r->kclaimed = 1;
		r->kpre = ev.arg;
		pk->st.claimed++;
	} else if (ev.type == PSP_EV_DONE) {
		r->kdone = 1;
	} else if (ev.type == PSP_EV_SHORT) {
		r->kshort = ev.arg ? 2 : 1;
	}
	/* the owner runs: no events, the engine's news */
	if (r->src->cb)
		r->src->cb(r->src, 0);
	return 0;
}

static void pk_env_close(struct relay_env *e)
{
	struct relay_pk *pk = e->pk;

	if (!pk)
		return;
	/* the entries of sockets still open go with the process's maps */
	ring_buffer__free(pk->rb);
	if (pk->ring >= 0 && G.rings >= 0) {
		uint32_t k = pk->ring;

		bpf_map_delete_elem(G.rings, &k);
	}
	if (pk->ring_fd >= 0)
		close(pk->ring_fd);
	free(pk->grave);
	free(pk);
	e->pk = NULL;
}

static int pk_env_open(struct relay_env *e)
{
	struct relay_pk *pk;
	uint32_t k;
	int err;

	if (!G.skel)
		return -ENODEV;
	pk = calloc(1, sizeof(*pk));
	if (!pk)
		return -ENOMEM;
	e->pk = pk;
	pk->ring = -1;
	pk->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "psp_ring", 0, 0, PSP_RING_BYTES, NULL);
	if (pk->ring_fd < 0) {
		err = -errno;
		goto fail;
	}
	k = __atomic_fetch_add(&G.next_ring, 1, __ATOMIC_SEQ_CST);
	if (k >= PSP_RINGS) {
		err = -ENOSPC;
		goto fail;
	}
	if (bpf_map_update_elem(G.rings, &k, &pk->ring_fd, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	pk->ring = k;
	pk->rb = ring_buffer__new(pk->ring_fd, pk_ring_cb, pk, NULL);
	if (!pk->rb) {
		err = -errno;
		goto fail;
	}
	for (int i = PK_SLOTS - 1; i >= 0; i--)
		pk->free[pk->nfree++] = i;
	pk->gcap = 4096;
	pk->grave = calloc(pk->gcap, sizeof(*pk->grave));
	if (!pk->grave) {
		err = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	pk_env_close(e);
	return err;
}

static int pk_event_fd(const struct relay_env *e)
{
	return e->pk->ring_fd;
}

static void pk_events(struct relay_env *e)
{
	ring_buffer__consume(e->pk->rb);
}

const struct relay_pk_stats *relay_env_pk_stats(const struct relay_env *e)
{
	return e->pk ? &e->pk->st : NULL;
}

/* ---- sockets ---------------------------------------------------------- */

static int pk_tuple(int fd, struct psp_key *k)
{
	struct sockaddr_in me, peer;
	socklen_t l = sizeof(me), lp = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *)&me, &l) || getpeername(fd, (struct sockaddr *)&peer, &lp))
		return -errno;
	if (me.sin_family != AF_INET || peer.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	k->saddr = peer.sin_addr.s_addr;
	k->daddr = me.sin_addr.s_addr;
	k->sport = peer.sin_port;
	k->dport = me.sin_port;
	return 0;
}

/* One look at FD in repair mode: with QUEUE selected (-1: none),
 * getsockopt OPT (0: none) into the int *OUT; then repair mode is left with
 * LEAVE (TCP_REPAIR_OFF_NO_WP, or TCP_REPAIR_OFF: a window probe goes out).
 * Only the receive queue is ever selected: with the send queue, a
 * transmission in between would be taken as sent and not go out. Repair
 * mode drops SO_REUSEADDR; it is put back. Returns 0 or -errno. */
static int pk_repair(int fd, int queue, int opt, void *out, int leave)
{
	int on = 1, reuse = 0, r = 0;
	socklen_t l = sizeof(reuse);

	getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &l);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		return -errno;
	l = sizeof(int);
	if ((queue >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue))) ||
	    (opt && getsockopt(fd, IPPROTO_TCP, opt, out, &l)))
		r = -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &leave, sizeof(leave));
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	return r;
}

#define PK_OPTS (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE)

/* The entry of socket FD (BACKEND: a pooled one), made when its options
 * allow a splice at all. Returns 0, or the fallback reason (+1). */
static int pk_entry_add(struct relay_end *x, int fd, int backend)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	struct psp_key k;
	int r;

	r = pk_tuple(fd, &k);
	if (r)
		return 1 + (r == -EAFNOSUPPORT ? RELAY_PK_FB_FAMILY : RELAY_PK_FB_STATE);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		return 1 + RELAY_PK_FB_STATE;
	if ((ti.tcpi_options & PK_OPTS) != PK_OPTS)
		return 1 + RELAY_PK_FB_OPTIONS;
	memcpy(x->pkey, &k, sizeof(k));
	x->pkback = !!backend;
	x->pkadv = (uint16_t)ti.tcpi_advmss;
	if (backend) {
		struct psp_uplink u = { 0 };

		u.flags = PSP_F_TS | PSP_F_NEIGH;
		u.rcv_wscale = ti.tcpi_rcv_wscale;
		u.owner = __atomic_add_fetch(&G.next_owner, 1, __ATOMIC_RELAXED);
		int win = G.small ? PK_WIN_SMALL : (int)PSP_U_WIN;

		/* after the handshake: connecting, the kernel sets the clamp
		 * to the whole buffer's window (tcp_init_buffer_space) */
		if (G.small && setsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &win, sizeof(win)))
			return 1 + RELAY_PK_FB_STATE;
		u.u_win = (uint32_t)win;
		r = bpf_map_update_elem(G.uplinks, &k, &u, BPF_ANY);
	} else {
		struct psp_client c = { 0 };

		c.flags = PSP_F_TS | PSP_F_NEIGH;
		c.snd_wscale = ti.tcpi_snd_wscale;
		c.owner = __atomic_add_fetch(&G.next_owner, 1, __ATOMIC_RELAXED);
		r = bpf_map_update_elem(G.clients, &k, &c, BPF_ANY);
	}
	if (r)
		return 1 + RELAY_PK_FB_BUSY;
	x->idx = 1;
	if (!backend) {
		/* the client's own MSS: TCP_MAXSEG reads the peer's clamp in
		 * repair mode (safe here: nothing is queued to send yet) */
		int mss = 0;

		pk_repair(fd, -1, TCP_MAXSEG, &mss, TCP_REPAIR_OFF_NO_WP);
		x->pkmss = mss > 0 && mss < 65536 ? (uint16_t)mss : (uint16_t)ti.tcpi_advmss;
	}
	return 0;
}

static int pk_sock_add(struct relay_env *e, struct relay_end *x, struct conn *c, int backend)
{
	if (backend) {
		/* its entry comes at its first arming, once connected */
		int rb = G.small ? PK_RCVBUF_SMALL : PK_RCVBUF;

		setsockopt(c->io.fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
		x->idx = 0;
		return 0;
	}
	int r = pk_entry_add(x, c->io.fd, 0);

	if (r) {
		e->pk->st.fb[r - 1]++;
		x->idx = -1;
	}
	return 0;
}

/* The entry outlives the socket: its FIN, a last RST and TIME_WAIT's
 * segments are still translated. A new connection's SYN on the tuple
 * removes it earlier (the program); the grave only removes an entry that
 * is still the same socket's. */
static void pk_bury(struct relay_pk *pk, struct relay_end *x, int backend)
{
	int map = backend ? G.uplinks : G.clients;
	struct pk_grave *g;
	union { struct psp_client c; struct psp_uplink u; } v;

	if (x->idx != 1)
		return;
	if (bpf_map_lookup_elem(map, x->pkey, &v))
		return;
	if (pk->gn == pk->gcap) {
		/* full: the oldest goes now */
		g = &pk->grave[pk->ghead];
		bpf_map_delete_elem(g->backend ? G.uplinks : G.clients, g->key);
		pk->ghead = (pk->ghead + 1) % pk->gcap;
		pk->gn--;
	}
	g = &pk->grave[(pk->ghead + pk->gn) % pk->gcap];
	memcpy(g->key, x->pkey, sizeof(g->key));
	g->backend = backend;
	g->owner = backend ? v.u.owner : v.c.owner;
	g->t = ev_clock_ms();
	pk->gn++;
}

static void pk_sweep(struct relay_pk *pk)
{
	uint64_t now = ev_clock_ms();

	while (pk->gn) {
		struct pk_grave *g = &pk->grave[pk->ghead];
		union { struct psp_client c; struct psp_uplink u; } v;
		int map = g->backend ? G.uplinks : G.clients;

		if (now - g->t < PK_GRAVE_MS)
			break;
		if (!bpf_map_lookup_elem(map, g->key, &v) &&
		    (g->backend ? v.u.owner : v.c.owner) == g->owner)
			bpf_map_delete_elem(map, g->key);
		pk->ghead = (pk->ghead + 1) % pk->gcap;
		pk->gn--;
	}
}

static void pk_sock_del(struct relay_env *e, struct relay_end *x)
{
	pk_bury(e->pk, x, x->pkback);
	pk_sweep(e->pk);
}

static int pk_sock_clean(const struct relay_env *e, const struct relay_end *x, const struct conn *c)
{
	return !x->busy;
}

/* ---- one run ---------------------------------------------------------- */

/* Sock U sends an ACK now: leaving repair mode sends a window probe
 * (snd_una - 1), which the program moves to snd_nxt (PROBE_FIX). */
static void pk_nudge(int fd)
{
	pk_repair(fd, -1, 0, NULL, TCP_REPAIR_OFF);
}

static void pk_slot_free(struct relay *r)
{
	struct relay_pk *pk = r->env->pk;
	uint32_t slot = r->kslot - 1;

	if (!r->kslot)
		return;
	pk->runs[slot] = NULL;
	pk->gen[slot]++;
	pk->free[pk->nfree++] = slot;
	r->kslot = 0;
	r->se->busy = 0;
}

/* Sock U's first unread byte, in its own numbers: what its conn has read
 * (rx, which every engine and the head reads count) on from a base found
 * in repair mode at its first arming, and looked at there again every
 * PK_BASE_CHECK armings. A look costs five syscalls and two ioctls, more
 * than the rest of an arming. Returns 0, or -1 when the look cannot say
 * (bytes arrived in between). */
static int pk_unread(struct relay *r, uint32_t *seq)
{
	struct relay_end *x = r->se;
	int u = r->src->io.fd, q1, q2;
	uint32_t rcv, base;

	if (x->pkbase_ok && ++x->pkchecks < PK_BASE_CHECK) {
		*seq = x->pkbase + (uint32_t)r->src->rx;
		return 0;
	}
	/* rcv_nxt less what waits, with nothing arriving in between (the
	 * queue did not grow) */
	if (ioctl(u, SIOCINQ, &q1) || pk_repair(u, TCP_RECV_QUEUE, TCP_QUEUE_SEQ, &rcv, TCP_REPAIR_OFF_NO_WP) ||
	    ioctl(u, SIOCINQ, &q2) || q1 != q2)
		return -1;
	*seq = rcv - (uint32_t)q1;
	base = *seq - (uint32_t)r->src->rx;
	if (x->pkbase_ok && base != x->pkbase) {
		/* a read that rx did not count: a bug, said loudly; the
		 * arming goes by the socket's own numbers */
		log_err("packet: sock U's read count is %d bytes off its receive sequence; re-based",
			  (int32_t)(base - x->pkbase));
		r->env->pk->st.rebased++;
	}
	x->pkbase = base;
	x->pkbase_ok = 1;
	x->pkchecks = 0;
	return 0;
}

/* Arms a run of MAX body bytes from the first one user space has not read.
 * Returns 0, or the fallback reason + 1 (the run is spliced by splice(2)). */
static int pk_arm(struct relay *r, size_t max)
{
	struct relay_env *e = r->env;
	struct relay_pk *pk = e->pk;
	int u = r->src->io.fd, c = r->dst->io.fd, nsd, k;
	struct tcp_info tc;
	socklen_t l = sizeof(tc);
	uint32_t body0, slot, adv;
	struct psp_client ce;
	struct psp_arm a;

	/* the body's Content-Length decides (issue 12: bodies of kernel_min
	 * or more), not what is left of it once user space has read what
	 * came with the head; a remainder too short to be worth a range is
	 * left to splice */
	if (r->clen < e->kernel_min || max < e->splice_min || max >= (1u << 30))
		return 1 + RELAY_PK_FB_SMALL;
	/* sock U's options and MSS are its handshake's: read once, when its
	 * entry is made */
	if (!r->se->idx && (k = pk_entry_add(r->se, u, 1)))
		return k;
	if (r->se->idx != 1)
		return 1 + RELAY_PK_FB_STATE;
	if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &tc, &l))
		return 1 + RELAY_PK_FB_STATE;
	if ((tc.tcpi_options & PK_OPTS) != PK_OPTS)
		return 1 + RELAY_PK_FB_OPTIONS;
	/* the server's segments are sized for sock U (at most what it
	 * announced): they must fit the client's MSS and the path toward it
	 * as they are */
	adv = r->se->pkadv;
	if (adv > r->de->pkmss || adv > tc.tcpi_advmss || (tc.tcpi_pmtu && adv + 40 > tc.tcpi_pmtu))
		return 1 + RELAY_PK_FB_MSS;     /* (the path's MTU: ICMP told sock C, icmp_in) */
	if (!pk->nfree)
		return 1 + RELAY_PK_FB_BUSY;
	if (r->pfd[0] < 0 && relay_pipe_get(&e->pipes, r->pfd))
		return 1 + RELAY_PK_FB_BUSY;
	/* where the body goes in sock C: everything written to it has been
	 * sent (write_seq - snd_nxt 0: TCP_INFO's notsent bytes, read above,
	 * as only this worker writes to sock C; SIOCOUTQNSD where the kernel's
	 * tcp_info is older than 4.6's), so the program saw its last segment
	 * pass, and its snd_nxt is sock C's write_seq */
	if (l >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(tc.tcpi_notsent_bytes))
		nsd = (int)tc.tcpi_notsent_bytes;
	else if (ioctl(c, SIOCOUTQNSD, &nsd))
		return 1 + RELAY_PK_FB_STATE;
	if (nsd || bpf_map_lookup_elem(G.clients, r->de->pkey, &ce) || !ce.nxt_valid)
		return 1 + RELAY_PK_FB_STATE;
	if (pk_unread(r, &body0))
		return 1 + RELAY_PK_FB_STATE;
	slot = pk->free[--pk->nfree];
	memset(&a, 0, sizeof(a));
	a.cookie = ((uint64_t)pk->gen[slot] << 32) | slot;
	a.wid = pk->ring;
	a.body0 = body0;
	a.body_end = a.body0 + (uint32_t)max;
	a.cpos0 = ce.snd_nxt;
	memcpy(&a.cl, r->de->pkey, sizeof(a.cl));
	if (bpf_map_update_elem(G.arms, r->se->pkey, &a, BPF_ANY)) {
		pk->free[pk->nfree++] = slot;
		return 1 + RELAY_PK_FB_BUSY;
	}
	pk->runs[slot] = r;
	r->kslot = slot + 1;
	r->armed = 1;
	r->kended = 0;
	r->kclaimed = r->kdone = r->kshort = r->ksrvack = 0;
	r->kpass = 1;
	r->kpre = r->kcopied = r->kdelivered = r->fwd_seen = 0;
	r->arm_len = max;
	r->arm_start = a.body0;
	r->se->busy = 1;
	pk->st.armed++;
	log_debug("packet: armed slot %u: %zu bytes from %u (sock U), to %u (sock C)",
		  slot, max, a.body0, a.cpos0);
	return 0;
}

/* The run ends: user space accounts for every byte of it now. */
static void pk_end(struct relay *r)
{
	log_debug("packet: slot %u ends: claimed %d pre %llu copied %llu done %d", r->kslot - 1,
		  r->kclaimed, (unsigned long long)r->kpre, (unsigned long long)r->kcopied, r->kdone);
	pk_slot_free(r);
	r->armed = 0;
	r->kended = 1;
}

/* Did the server send the whole range (so an end of stream after it is
 * the server's close, not a cut body)? */
static int pk_sent_all(const struct relay *r)
{
	struct psp_uplink u;

	return !bpf_map_lookup_elem_flags(G.uplinks, r->se->pkey, &u, BPF_F_LOCK) && u.armed && u.fwd_valid &&
	       u.fwd_hi == u.u_end;
}

/* What the ring would have said, from the maps, when the run waits on
 * it: the arming was taken (the uplink's entry holds a range that starts
 * inside it), the client has the whole range. The entries are read under
 * their locks (BPF_F_LOCK): the program writes a claim's fields, and a
 * range's end, in one locked section, and a torn copy could pair a new
 * cookie with the last range's done, or a new armed with old offsets. */
static uint64_t pk_look(struct relay *r)
{
	struct relay_pk *pk = r->env->pk;
	uint64_t cookie = ((uint64_t)pk->gen[r->kslot - 1] << 32) | (r->kslot - 1), acked, d = 0;
	struct psp_uplink u;
	struct psp_client c;
	uint32_t pre;

	if (r->staged || (r->src->rd && !r->kclaimed))
		return 0;       /* bytes to move first */
	/* the range's start in sock U's space is u_start - off_b; an earlier
	 * range's lies before this arming's start, so it fails the test */
	if (!r->kclaimed && !bpf_map_lookup_elem_flags(G.uplinks, r->se->pkey, &u, BPF_F_LOCK) &&
	    u.armed && (pre = u.u_start - u.off_b - (uint32_t)r->arm_start) < r->arm_len) {
		r->kclaimed = 1;
		r->kpre = pre;
		/* once there, it stays (cli_acked only grows within a range):
		 * the end need not look again */
		r->ksrvack = u.acked_valid && u.cli_acked == u.u_end;
	}
	if (!r->kclaimed || r->kdone || bpf_map_lookup_elem_flags(G.clients, r->de->pkey, &c, BPF_F_LOCK) ||
	    c.cookie != cookie)
		return 0;
	if (c.done && r->kcopied == r->kpre)
		r->kdone = 1;
	/* progress: what the client acknowledged of the range, reported as
	 * it comes (server_timeout counts from the last of it) */
	acked = c.cli_ack_valid && (int32_t)(c.cli_ack - c.c_start) > 0
		? (uint64_t)(uint32_t)(c.cli_ack - c.c_start) : 0;
	if (acked > r->arm_len - r->kpre)
		acked = r->arm_len - r->kpre;
	if (acked > r->fwd_seen) {
		uint64_t now = ev_clock_ms();

		d = acked - r->fwd_seen;
		r->fwd_seen = acked;
		/* looked at late (a sweep), the progress is as old as the ack */
		int32_t age = (int32_t)((uint32_t)now - c.ack_ms);   /* COARSE may lag */

		r->kprog_ms = age > 0 && (uint64_t)age < now ? now - (uint64_t)age : now;
	}
	return d;
}

/* The body bytes sock U got before the range, to sock C in order: peeked,
 * sent, and only then taken off sock U. Taking them is what opens sock U's
 * window, so the server's next segment, which starts the range or goes on
 * with it, leaves after them. Moved by splice(2) instead, the window
 * opened as the pipe filled, before the pipe was written out: on loopback
 * the range's first segments reached the client ahead of these bytes, and
 * every body cost the client an out-of-order queue, SACKs and their
 * clones. Returns the bytes moved, 0 (wait for an edge), or -errno. */
static ssize_t pk_pass(struct relay *r, uint64_t want)
{
	struct conn *src = r->src, *dst = r->dst;
	ssize_t n, w, d;
	char *b;

	if (!dst->wr)
		return 0;
	b = relay_buf_get(r->env);
	if (!b)
		return -ENOMEM;
	if (want > RELAY_COPY_BUF)
		want = RELAY_COPY_BUF;
	n = recv(src->io.fd, b, want, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0) {
		relay_buf_put(r->env, b);
		if (n == 0) {
			r->eof = 1;
			return 0;
		}
		if (errno == EAGAIN) {
			src->rd = 0;
			return 0;
		}
		return -errno;
	}
	w = conn_send(dst, b, (size_t)n);
	if (w <= 0) {
		relay_buf_put(r->env, b);
		return w;
	}
	d = recv(src->io.fd, b, (size_t)w, MSG_TRUNC | MSG_DONTWAIT);
	relay_buf_put(r->env, b);
	if (d != w)
		return d < 0 ? -errno : -EIO;   /* peeked bytes are there to take */
	src->rx += w;
	if (w == n && (uint64_t)n < want && src->rd == 1)
		src->rd = 0;    /* drained: see conn_read */
	return w;
}

/* An armed run: the bytes before the range go to sock C first (pk_pass);
 * the run ends once they are written and the client has acknowledged the
 * range. Returns the body bytes accounted for by this call, or -errno. */
static ssize_t pk_run(struct relay *r)
{
	struct relay_env *e = r->env;
	struct relay_pk *pk = e->pk;
	ssize_t got = 0, n;

	for (;;) {
		if (r->staged) {
			n = relay_splice_ops.flush(r);
			if (n < 0)
				return n;
			if (!n)
				break;
			r->kdelivered += n;
			e->bytes[RELAY_SPLICE] += n;
			got += n;
			continue;
		}
		uint64_t want = (r->kclaimed ? r->kpre : r->arm_len) - r->kcopied;

		if (!want || !r->src->rd)
			break;
		if (r->kpass) {
			n = pk_pass(r, want);
			if (n < 0)
				return n;
			if (n > 0) {
				r->kcopied += n;
				r->kdelivered += n;
				e->bytes[RELAY_COPY] += n;
				got += n;
				if (!r->src->rd)
					r->kpass = 0;   /* what sock U held is out */
				continue;
			}
			r->kpass = 0;
			if (r->dst->wr || !r->src->rd || r->eof)
				break;
			/* sock C is full: the pipe takes sock U's bytes
			 * meanwhile, so its window opens and the server is
			 * not held to the client's pace (they still reach sock
			 * C first, in order) */
		}
		/* bytes that came later: the range did not start at once
		 * (the client's window had no room for it, PSP_C_CLAIM_WAIT),
		 * and the body flows through sock U as in the splice engine
		 * until a later segment starts it. Peeked and sent 64 KiB at a
		 * time, sock U's small buffer overflowed between reads on
		 * loopback (the server's tail loss probes, then sock U's
		 * delayed ACKs: 4 MiB bodies took over a second) */
		n = relay_splice_ops.fill(r, want);
		if (n < 0)
			return n;
		if (!n)
			break;
		r->kcopied += n;
	}
	if (r->kslot) {
		uint64_t d = pk_look(r);

		e->bytes[RELAY_PACKET] += d;
		pk->st.bytes += d;
		got += d;
	}
	if (!r->kclaimed && r->kcopied == r->arm_len && !r->staged) {
		/* it all came through the socket: the arming is taken back
		 * (the program can no longer take it: no byte of the body is
		 * left to start a range) */
		bpf_map_delete_elem(G.arms, r->se->pkey);
		pk->st.fb[RELAY_PK_FB_UNCLAIMED]++;
		pk_end(r);
		return got;
	}
	if (r->kclaimed && r->kdone && r->kcopied == r->kpre && !r->staged) {
		struct psp_uplink u;
		uint64_t sp = r->arm_len - r->kpre - r->fwd_seen;       /* not reported yet */

		e->bytes[RELAY_PACKET] += sp;
		r->kused = 1;
		pk->st.bytes += sp;
		pk->st.spliced++;
		/* the client acked it all with a segment that went to sock C
		 * only (its next request): sock U tells the server */
		if (!r->ksrvack && !bpf_map_lookup_elem_flags(G.uplinks, r->se->pkey, &u, BPF_F_LOCK) &&
		    (!u.acked_valid || u.cli_acked != u.u_end)) {
			pk_nudge(r->src->io.fd);
			pk->st.nudges++;
		}
		pk_end(r);
		return got + sp;
	}
	if (r->kshort) {
		/* the server's stream ended inside the body, or it sent bytes
		 * past the body in one segment with its end */
		pk->st.errors++;
		return r->kshort == 2 ? -EPROTO : -EPIPE;
	}
	if (r->src->rd == 2 && (!r->kclaimed || r->kcopied == r->kpre)) {
		char ch;
		ssize_t k = recv(r->src->io.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);

		if ((k == 0 || (k < 0 && errno != EAGAIN)) && !(r->kclaimed && pk_sent_all(r))) {
			pk->st.errors++;
			return -EPIPE;  /* the server went inside the body */
		}
		if (k > 0 && r->kclaimed) {
			pk->st.errors++;
			return -EPROTO; /* bytes past the body */
		}
	}
	return got;
}

static ssize_t pk_fill(struct relay *r, size_t max)
{
	int k;

	if (r->armed)
		return pk_run(r);
	if (!r->kstop) {
		k = pk_arm(r, max);
		if (!k)
			return 0;       /* owned now: the pump collects the run's progress */
		/* one try per body, but sock C still sending (or sock U's
		 * numbers moving) passes: the next fill tries again */
		if (k - 1 != RELAY_PK_FB_STATE || ++r->ktries >= 8) {
			r->kstop = 1;
			r->env->pk->st.fb[k - 1]++;
			log_debug("packet: %zu body bytes left to splice(2): %s", max,
				  relay_pk_fb_name(k - 1));
		}
	}
	ssize_t n = relay_splice_ops.fill(r, max);

	if (n > 0)
		r->env->bytes[r->ops == &relay_copy_ops ? RELAY_COPY : RELAY_SPLICE] += n;
	return n;
}

static ssize_t pk_flush(struct relay *r)
{
	return r->armed ? 0 : relay_splice_ops.flush(r);
}

static void pk_release(struct relay *r)
{
	if (r->kslot) {
		log_debug("packet: slot %u released: claimed %d pre %llu copied %llu delivered %llu done %d",
			  r->kslot - 1, r->kclaimed, (unsigned long long)r->kpre,
			  (unsigned long long)r->kcopied, (unsigned long long)r->kdelivered, r->kdone);
		/* a run cut short (the session is closing both sockets): the
		 * arming goes, and both sockets reset: the client must not take
		 * a close after a hole for the end of the body */
		struct linger lg = { 1, 0 };

		bpf_map_delete_elem(G.arms, r->se->pkey);
		if (r->kclaimed && !r->kdone) {
			setsockopt(r->dst->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			setsockopt(r->src->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		pk_slot_free(r);
	}
	r->armed = r->kended = r->kstop = 0;
	relay_splice_ops.release(r);
}

static int pk_takes(const struct relay *r, uint64_t raw)
{
	return raw >= r->env->splice_min;
}

static int pk_frame(struct relay *r, enum h1_body kind)
{
	r->kstop = 0;
	if (kind != H1_BODY_LENGTH) {
		r->env->pk->st.fb[RELAY_PK_FB_FRAMING]++;
		return 0;
	}
	return 1;
}

const struct relay_ops relay_packet_ops = {
	.name = "packet",
	.id = RELAY_PACKET,
	.kernel = 1,
	.takes = pk_takes,
	.fill = pk_fill,
	.flush = pk_flush,
	.release = pk_release,
	.env_open = pk_env_open,
	.env_close = pk_env_close,
	.event_fd = pk_event_fd,
	.events = pk_events,
	.sock_add = pk_sock_add,
	.sock_del = pk_sock_del,
	.sock_clean = pk_sock_clean,
	.frame = pk_frame,
};
