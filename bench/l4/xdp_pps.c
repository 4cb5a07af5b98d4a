/* xdp_pps: packets per second of the level-1 data path on one core, at both
 * hooks (the l4_xdp and l4_tc programs of src/bpf/l4_fwd.bpf.c, one logic)
 * and both families, measured by the kernel's test-run hook
 * (bpf_prog_test_run_opts). The object is loaded as tests/bpf/test_l4_xdp.c
 * loads it (skeleton, knobs set before load), and its maps are filled
 * through src/l4's own code path: a cluster file read by cfg_load (an IPv4
 * and an IPv6 VIP, nodes with an address of each family), the VIPs by
 * l4_maps_set_vips, every node by l4_maps_set_backend, a 65537-slot Maglev
 * table by maglev_build and l4_maps_write_ring. Then each crafted frame is
 * run:
 *
 *   repeat  one frame, REPEAT times in one call; the kernel returns the mean
 *           time per run. The program alone on a warm cache: no driver, no
 *           DMA, no transmit; at tc one skb, built once by the test-run
 *           hook, runs REPEAT times. The frame must stay the same kind of
 *           frame after the program rewrote it, so in NAT mode every node's
 *           address is the VIP (every instruction of the rewrite runs, the
 *           values do not change); each run checks that the expected counter
 *           rose by exactly REPEAT, and a case that fails the check is not
 *           reported.
 *   single  SINGLES calls with REPEAT=1 and a fresh frame each (new flows
 *           get a new source address and port each: a real insert into the
 *           LRU flow table, not a rewrite of one entry); the median of the
 *           per-call durations minus the median of the same loop over an
 *           empty program of the same hook (l4_pass for XDP, two
 *           instructions for tc), which removes the timer's own cost. The
 *           NAT reply decrements the TTL, so it is measured this way only.
 *
 * Runs in a fresh network namespace with one veth pair, routes and
 * permanent neighbours for both families, so the NAT reply's FIB lookup
 * succeeds as on a real front end. Writes CSV on stdout:
 *   method,mode,kind,repeat,runs,ns_per_pkt,mpps,ns_min,ns_max,hook,family
 * Needs root. Usage: xdp_pps [-r REPEAT] [-n RUNS] [-s SINGLES] */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cfg.h"
#include "l4.h"
#include "l4_abi.h"
#include "l4_fwd.skel.h"
#include "l4_pass.skel.h"
#include "maglev.h"

#define VIP_S     "198.18.0.100"
#define CLIENT_S  "198.18.0.2"
#define OTHER_S   "198.18.0.200"
#define VIP6_S    "2001:2::100"
#define CLIENT6_S "2001:2::2"
#define OTHER6_S  "2001:2::200"
#define NODES     3

static const uint8_t MAC_FE[6] = { 0x02, 0, 0, 0, 0, 0xfe };
static const uint8_t MAC_CL[6] = { 0x02, 0, 0, 0, 0, 0xc1 };

/* The addresses of one family (4 or 16 bytes used). */
struct fam {
	int v;                          /* 4 or 6 */
	uint8_t vip[16], client[16], other[16];
};
static struct fam F4 = { .v = 4 }, F6 = { .v = 6 };
static int IFINDEX;

struct frame {
	uint8_t b[128];
	uint32_t len;
};

static uint16_t ip_sum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (size_t i = 0; i < n / 2; i++)
		s += w[i];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Ethernet/IP/TCP, 10 payload bytes; the IPv4 checksum is right, the TCP
 * one is not computed (the program only updates it incrementally). I
 * varies the client address (its last byte pair) for distinct new flows. */
static struct frame frame_tcp(const struct fam *fm, const uint8_t *s, uint16_t sp,
			      const uint8_t *d, uint16_t dp, int syn, uint32_t vary)
{
	struct frame f = { 0 };
	struct tcphdr *tcp;
	uint8_t *ipb = f.b + ETH_HLEN;

	memcpy(f.b, MAC_FE, 6);
	memcpy(f.b + 6, MAC_CL, 6);
	if (fm->v == 6) {
		struct ipv6hdr *ip6 = (void *)ipb;

		f.b[12] = 0x86;
		f.b[13] = 0xdd;
		ip6->version = 6;
		ip6->payload_len = htons(30);
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = 64;
		memcpy(&ip6->saddr, s, 16);
		memcpy(&ip6->daddr, d, 16);
		ip6->saddr.s6_addr[14] ^= (uint8_t)(vary >> 8);
		ip6->saddr.s6_addr[13] ^= (uint8_t)vary;
		tcp = (void *)(ip6 + 1);
		f.len = ETH_HLEN + 40 + 30;
	} else {
		struct iphdr *ip = (void *)ipb;
		uint32_t sa;

		f.b[12] = 0x08;
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(50);
		memcpy(&sa, s, 4);
		ip->saddr = htonl(ntohl(sa) + vary);
		memcpy(&ip->daddr, d, 4);
		ip->check = ip_sum(ip, 20);
		tcp = (void *)(ip + 1);
		f.len = ETH_HLEN + 20 + 30;
	}
	tcp->source = htons(sp);
	tcp->dest = htons(dp);
	tcp->doff = 5;
	tcp->syn = syn;
	tcp->ack = !syn;
	tcp->window = htons(65535);
	memcpy(tcp + 1, "0123456789", 10);
	return f;
}

/* One test run: the kernel's mean ns per run, or -1. At tc the frame
 * arrives on v0, so the NAT reply's FIB lookup has an ingress device. */
static double run(int fd, int tc, struct frame *f, uint32_t repeat, uint32_t *retval)
{
	uint8_t out[sizeof(f->b)];
	struct __sk_buff sctx = { .ingress_ifindex = IFINDEX, .ifindex = IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

	if (tc) {
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	}
	if (bpf_prog_test_run_opts(fd, &o))
		return -1;
	if (retval)
		*retval = o.retval;
	return o.duration;
}

static uint64_t counter(struct l4 *l, uint32_t id)
{
	uint64_t c[L4_CTR_MAX];

	return l4_maps_counters(l, c) ? 0 : c[id];
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void row(const char *method, const char *mode, const char *kind, uint32_t repeat,
		double *v, int n, double sub, const char *hook, int family)
{
	double med = median(v, n) - sub;

	printf("%s,%s,%s,%u,%d,%.1f,%.2f,%.1f,%.1f,%s,%d\n", method, mode, kind, repeat, n, med,
	       med > 0 ? 1000.0 / med : 0, v[0] - sub, v[n - 1] - sub, hook, family);
	fflush(stdout);
}

/* The cluster file of one mode, read back by cfg_load as tandem l4 reads
 * it. NAT: every node's addresses are the VIPs, see the head of this file. */
static int load_cfg(struct l4 *l, int nat)
{
	char path[] = "/tmp/tandem-xdp-pps.XXXXXX";
	int fd = mkstemp(path), nerr = 0, err;
	FILE *f;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	fprintf(f, "[cluster]\nvip = %s:80 [%s]:80\n[l4]\niface = v0\nmode = %s\n", VIP_S, VIP6_S,
		nat ? "nat" : "dr");
	for (int i = 1; i <= NODES; i++) {
		if (nat)
			fprintf(f, "[node be%d]\naddress = %s %s\n", i, VIP_S, VIP6_S);
		else
			fprintf(f, "[node be%d]\naddress = 198.18.0.%d 2001:2::1:%d\n", i, 10 + i, i);
		fprintf(f, "mac = 02:00:00:00:00:b%d\n", i);
	}
	fclose(f);
	err = cfg_load(&l->cfg, path, stderr, &nerr);
	unlink(path);
	return err;
}

/* Loads the object like tests/bpf/test_l4_xdp.c and fills its maps like
 * tandem l4 does (l4_main.c's l4_apply, every node up). 0 or -errno. */
static int setup(struct l4 *l, int nat)
{
	struct maglev_node mn[L4_BACKENDS_MAX];
	struct l4_fwd_bpf *s;
	long moved;
	int err;

	memset(l, 0, sizeof(*l));
	l->link_fd = l->user_fd = -1;
	err = load_cfg(l, nat);
	if (err)
		return err;
	l->ring_size = L4_RING_DEFAULT;
	l->table = calloc(l->ring_size, sizeof(*l->table));
	if (!l->table)
		return -ENOMEM;
	for (int i = 0; i < l->cfg.nnodes; i++) {
		l->slots[i].used = l->slots[i].up = l->slots[i].has_mac = 1;
		l->slots[i].node = l->cfg.nodes[i];
		memcpy(l->slots[i].mac, l->cfg.nodes[i].mac, 6);
	}
	s = l4_fwd_bpf__open();
	if (!s)
		return -errno;
	s->rodata->l4_mode = nat ? L4_MODE_NAT : L4_MODE_DR;
	s->rodata->l4_ring_size = l->ring_size;
	bpf_map__set_max_entries(s->maps.l4_ring, l->ring_size);
	err = l4_fwd_bpf__load(s);
	if (err) {
		l4_fwd_bpf__destroy(s);
		return err;
	}
	l->skel = s;
	err = l4_maps_set_vips(l);
	for (uint32_t i = 0; !err && i < L4_BACKENDS_MAX; i++)
		err = l4_maps_set_backend(l, i);
	for (int i = 0; i < L4_BACKENDS_MAX; i++) {
		mn[i].name = l->slots[i].used ? l->slots[i].node.name : "";
		mn[i].weight = l->slots[i].used ? (uint32_t)l->slots[i].node.weight : 0;
	}
	if (!err)
		err = maglev_build(l->table, l->ring_size, mn, L4_BACKENDS_MAX);
	if (!err && (moved = l4_maps_write_ring(l, NULL, l->table)) < 0)
		err = (int)moved;
	return err;
}

static void teardown(struct l4 *l)
{
	if (l->skel)
		l4_fwd_bpf__destroy(l->skel);
	free(l->table);
	l->skel = NULL;
	l->table = NULL;
}

struct kind {
	const char *name;
	int syn, reply;                 /* a new flow; a back end's reply (NAT) */
	int other;                      /* to OTHER, not to the VIP */
	uint32_t ctr;                   /* the counter that must rise */
};

/* The frame of kind K; new flows use flow number I for a distinct tuple. */
static struct frame frame_of(const struct fam *fm, const struct kind *k, uint32_t i)
{
	if (k->reply)
		return frame_tcp(fm, fm->vip, 80, fm->client, 40000, 0, 0);
	if (k->syn)
		return frame_tcp(fm, fm->client, 20000 + (i & 0x3fff), fm->vip, 80, 1, i >> 14);
	return frame_tcp(fm, fm->client, 40000, k->other ? fm->other : fm->vip, 80, 0, 0);
}

/* An empty tc program (r0 = TC_ACT_OK; exit): the tc baseline. */
static int tc_pass_load(void)
{
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tc_pass", "GPL", insns, 2, NULL);
}

/* The empty program's per-call median (single) and its repeat rows. */
static double baseline(int fd, int tc, const char *hook, double *v, uint32_t singles,
		       uint32_t repeat, int runs)
{
	double base;

	for (uint32_t i = 0; i < singles; i++) {
		struct frame f = frame_tcp(&F4, F4.client, 40000, F4.vip, 80, 0, 0);

		v[i] = run(fd, tc, &f, 1, NULL);
	}
	base = median(v, singles);
	row("single", "empty", "pass", 1, v, singles, 0, hook, 4);
	for (int i = 0; i < runs; i++) {
		struct frame f = frame_tcp(&F4, F4.client, 40000, F4.vip, 80, 0, 0);

		v[i] = run(fd, tc, &f, repeat, NULL);
	}
	row("repeat", "empty", "pass", repeat, v, runs, 0, hook, 4);
	return base;
}

int main(int argc, char **argv)
{
	uint32_t repeat = 10000000, singles = 200000;
	int runs = 5, opt, fails = 0;
	struct l4_pass_bpf *pass;
	static struct l4 l4;
	double *v, base[2];
	int tc_pass;

	while ((opt = getopt(argc, argv, "r:n:s:")) != -1) {
		switch (opt) {
		case 'r': repeat = strtoul(optarg, NULL, 10); break;
		case 'n': runs = atoi(optarg); break;
		case 's': singles = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: xdp_pps [-r REPEAT] [-n RUNS] [-s SINGLES]\n");
			return 2;
		}
	}
	if (runs < 1 || !repeat || singles < 1) {
		fprintf(stderr, "xdp_pps: REPEAT, RUNS and SINGLES must be >= 1\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "xdp_pps: needs root (CAP_BPF, CAP_NET_ADMIN)\n");
		return 1;
	}
	/* a namespace of our own: the veth, routes and neighbours below are
	 * gone with the process, whatever happens */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "xdp_pps: unshare(CLONE_NEWNET) failed: %s\n", strerror(errno));
		return 1;
	}
	if (system("ip link set lo up && ip link add v0 type veth peer name v1 &&"
		   " ip link set v1 up && ip link set v0 up &&"
		   " ip addr add 198.18.0.1/24 dev v0 && ip -6 addr add 2001:2::1/64 dev v0 nodad &&"
		   " ip neigh replace " CLIENT_S " lladdr 02:00:00:00:00:c1 dev v0 nud permanent &&"
		   " ip -6 neigh replace " CLIENT6_S " lladdr 02:00:00:00:00:c1 dev v0 nud permanent &&"
		   " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")) {
		fprintf(stderr, "xdp_pps: setting up veth v0, its routes and neighbours failed\n");
		return 1;
	}
	IFINDEX = if_nametoindex("v0");
	inet_pton(AF_INET, VIP_S, F4.vip);
	inet_pton(AF_INET, CLIENT_S, F4.client);
	inet_pton(AF_INET, OTHER_S, F4.other);
	inet_pton(AF_INET6, VIP6_S, F6.vip);
	inet_pton(AF_INET6, CLIENT6_S, F6.client);
	inet_pton(AF_INET6, OTHER6_S, F6.other);
	libbpf_set_print(NULL);
	v = calloc(singles > (uint32_t)runs ? singles : (uint32_t)runs, sizeof(*v));
	pass = l4_pass_bpf__open_and_load();
	tc_pass = tc_pass_load();
	if (!v || !pass || tc_pass < 0) {
		fprintf(stderr, "xdp_pps: loading the empty programs failed: %s\n", strerror(errno));
		return 1;
	}
	printf("method,mode,kind,repeat,runs,ns_per_pkt,mpps,ns_min,ns_max,hook,family\n");
	/* the timer's own cost, per call, for the single method */
	base[0] = baseline(bpf_program__fd(pass->progs.l4_pass), 0, "xdp", v, singles, repeat, runs);
	base[1] = baseline(tc_pass, 1, "tc", v, singles, repeat, runs);
	l4_pass_bpf__destroy(pass);
	close(tc_pass);

	for (int tc = 0; tc < 2; tc++)
	for (int six = 0; six < 2; six++)
	for (int nat = 0; nat < 2; nat++) {
		const char *mode = nat ? "nat" : "dr", *hook = tc ? "tc" : "xdp";
		const struct fam *fm = six ? &F6 : &F4;
		const struct kind kinds[] = {
			{ "syn", 1, 0, 0, L4_CTR_FLOW_NEW },
			{ "established", 0, 0, 0, L4_CTR_FLOW_HIT },
			{ "not_vip", 0, 0, 1, L4_CTR_PASS_NOT_VIP },
			{ "nat_reply", 0, 1, 0, L4_CTR_TX_NAT_REPLY },
		};
		int err = setup(&l4, nat), fd;

		if (err) {
			fprintf(stderr, "xdp_pps: %s %s: loading or filling the program failed: %s\n",
				hook, mode, strerror(-err));
			return 1;
		}
		fd = tc ? bpf_program__fd(l4.skel->progs.l4_tc) : bpf_program__fd(l4.skel->progs.l4_xdp);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			const struct kind *kd = &kinds[k];
			struct frame f;
			uint32_t rv;
			int bad = 0;

			if (kd->reply && !nat)
				continue;
			/* the flow the established packet and the reply belong to */
			f = frame_tcp(fm, fm->client, 40000, fm->vip, 80, 1, 0);
			run(fd, tc, &f, 1, NULL);
			if (!kd->reply) {
				for (int i = 0; i < runs; i++) {
					uint64_t c0 = counter(&l4, kd->ctr);

					f = frame_of(fm, kd, 0);
					v[i] = run(fd, tc, &f, repeat, &rv);
					bad |= v[i] < 0 || counter(&l4, kd->ctr) - c0 != repeat;
				}
				if (bad) {
					fprintf(stderr, "xdp_pps: %s v%d %s %s: the frame changed kind "
						"under repeat (counter check), not reported\n", hook,
						fm->v, mode, kd->name);
					fails++;
				} else {
					row("repeat", mode, kd->name, repeat, v, runs, 0, hook, fm->v);
				}
			}
			bad = 0;
			for (uint32_t i = 0; i < singles; i++) {
				/* a counter read is a syscall: check one call in 64 */
				uint64_t c0 = i & 63 ? 0 : counter(&l4, kd->ctr);

				f = frame_of(fm, kd, i + 1);
				v[i] = run(fd, tc, &f, 1, &rv);
				if (!(i & 63))
					bad |= v[i] < 0 || counter(&l4, kd->ctr) - c0 != 1;
			}
			if (bad) {
				fprintf(stderr, "xdp_pps: %s v%d %s %s: single runs took another path\n",
					hook, fm->v, mode, kd->name);
				fails++;
			} else {
				row("single", mode, kd->name, 1, v, singles, base[tc], hook, fm->v);
			}
		}
		teardown(&l4);
	}
	free(v);
	return fails ? 1 : 0;
}
