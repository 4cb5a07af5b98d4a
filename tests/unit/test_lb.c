/* test_lb: the balancing policies (src/l7/lb*.c) and node health
 * (src/l7/check.c) without sockets on the request path: weighted rr's split
 * and smoothness, wlc's avoidance of a loaded node, chash's agreement
 * between independently built switches, movement when a node leaves, and
 * bounded load, LARD's assignment and T_low/T_high moves, drained and down
 * nodes under every policy, retries excluding a node, failure counting and
 * one real probe on loopback; LARD's targets kept by node name through a
 * reload (cfg_align, lb_rebuild). */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"
#include "check.h"
#include "l7-t.h"
#include "lb.h"
#include "log.h"
#include "tap.h"

static const char *policies[] = { "rr", "wlc", "chash", "lard" };

struct sw {                     /* one switch: its file, process and worker */
	struct cfg *c;
	struct l7_proc *p;
	struct l7_worker *w;
};

static struct cfg *cfg_text(const char *text)
{
	char path[] = "/tmp/tandem-lb-XXXXXX";
	struct cfg *c = calloc(1, sizeof(*c));
	int fd = mkstemp(path), nerr = 0;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	if (cfg_load(c, path, stdout, &nerr))
		printf("# %d errors in:\n%s", nerr, text);
	unlink(path);
	return c;
}

static struct sw sw_load(const char *text)
{
	struct sw s = { cfg_text(text), calloc(1, sizeof(*s.p)), calloc(1, sizeof(*s.w)) };

	s.p->cfg = s.c;
	s.p->workers = calloc(1, sizeof(*s.p->workers));
	s.p->workers[0] = s.w;
	s.p->nworkers = 1;
	s.w->proc = s.p;
	s.w->cfg = s.c;
	if (lb_build(s.w))
		abort();
	return s;
}

static void sw_free(struct sw *s)
{
	lb_free(s->w);
	cfg_free(s->c);         /* frees s->c too */
	free(s->p->workers);
	free(s->p);
	free(s->w);
}

/* Three nodes, weights W1 W2 W3, one group "g" of them by POLICY plus EXTRA. */
static struct sw three(int w1, int w2, int w3, const char *policy, const char *members, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "[l7]\nfail_down = 3\n"
		 "[node be1]\nweb = 127.0.0.1:18081\nweight = %d\n"
		 "[node be2]\nweb = 127.0.0.1:18082\nweight = %d\n"
		 "[node be3]\nweb = 127.0.0.1:18083\nweight = %d\n"
		 "[group g]\nnodes = %s\npolicy = %s\n%s",
		 w1, w2, w3, members ? members : "be1 be2 be3", policy, extra ? extra : "");
	return sw_load(text);
}

static uint64_t url_key(int i)
{
	char u[64];
	int n = snprintf(u, sizeof(u), "/images/%d.png", i);

	return lb_key(u, n);
}

static void test_rr(void)
{
	struct sw s = three(1, 3, 1, "rr", "be1 be2", NULL);
	int count[3] = { 0 }, run = 0, maxrun = 0, prev = -1;
	char first[9];

	for (int i = 0; i < 1000; i++) {
		int n = lb_pick(s.w, 0, 0, -1);
		if (n < 0 || n > 1)
			break;
		count[n]++;
		run = n == prev ? run + 1 : 1;
		maxrun = run > maxrun ? run : maxrun;
		prev = n;
		if (i < 8)
			first[i] = '1' + n;
	}
	first[8] = 0;
	printf("# rr 1:3 over 1000 picks: be1 %d, be2 %d; first picks %s\n", count[0], count[1], first);
	is_int(count[0], 250, "rr 1:3: be1 250 of 1000");
	is_int(count[1], 750, "rr 1:3: be2 750 of 1000");
	is_str(first, "21222122", "smooth: the light node is not left to the end of a round");
	ok(maxrun <= 3, "smooth: never more than 3 picks of be2 in a row (%d)", maxrun);
	sw_free(&s);
}

static void test_wlc(void)
{
	struct sw s = three(1, 1, 1, "wlc", NULL, NULL);
	int count[3] = { 0 };

	/* be3 is slow: its requests never finish during the run, the others'
	 * finish at once */
	for (int i = 0; i < 120; i++) {
		int n = lb_pick(s.w, 0, url_key(i), -1);
		if (n < 0)
			break;
		count[n]++;
		s.w->inflight[n]++;
		if (n != 2)
			s.w->inflight[n]--;
	}
	printf("# wlc, be3 slow: be1 %d, be2 %d, be3 %d of 120\n", count[0], count[1], count[2]);
	ok(abs(count[0] - count[1]) <= 1, "wlc: equally loaded nodes take turns (%d, %d)", count[0], count[1]);
	ok(count[2] <= 1, "wlc: the slow node gets at most one request (%d)", count[2]);
	ok(count[0] > 40 && count[1] > 40, "wlc: the others share the rest (%d, %d)", count[0], count[1]);
	sw_free(&s);

	/* light load: every request done before the next; all three idle */
	s = three(1, 1, 1, "wlc", NULL, NULL);
	memset(count, 0, sizeof(count));
	for (int i = 0; i < 300; i++) {
		int n = lb_pick(s.w, 0, url_key(i), -1);
		if (n >= 0)
			count[n]++;
	}
	ok(count[0] == 100 && count[1] == 100 && count[2] == 100,
	   "wlc, idle nodes: 300 requests 100/100/100 (%d %d %d)", count[0], count[1], count[2]);
	sw_free(&s);

	s = three(2, 1, 1, "wlc", NULL, NULL);
	s.w->inflight[0] = 4;
	s.w->inflight[1] = 2;
	s.w->inflight[2] = 2;
	/* (4+1)/2 = 2.5 < (2+1)/1 = 3 */
	is_int(lb_pick(s.w, 0, 0, -1), 0, "wlc weighs load: 5/2 beats 3/1");
	s.w->inflight[0] = 6;
	ok(lb_pick(s.w, 0, 0, -1) != 0, "wlc: 7/2 loses to 3/1");
	sw_free(&s);
}

static void test_chash(void)
{
	struct sw a = three(1, 1, 1, "chash", "be1 be2 be3", NULL);
	struct sw b = three(1, 1, 1, "chash", "be3 be1 be2", NULL);   /* another switch, listed otherwise */
	struct sw r = three(1, 1, 1, "chash", "be1 be2", NULL);       /* be3 removed from the group */
	enum { N = 3000 };
	static int where[N];
	int same = 1, count[3] = { 0 }, on3 = 0, moved_other = 0, moved3 = 0;

	for (int i = 0; i < N; i++) {
		uint64_t k = url_key(i);
		where[i] = lb_pick(a.w, 0, k, -1);
		same &= lb_pick(b.w, 0, k, -1) == where[i];
		if (where[i] >= 0)
			count[where[i]]++;
	}
	ok(same, "chash: %d URLs map to the same node on two independently built switches", N);
	printf("# chash over 3 nodes, %d URLs: %d %d %d\n", N, count[0], count[1], count[2]);
	ok(count[0] > N / 5 && count[1] > N / 5 && count[2] > N / 5, "chash: every node gets a share");
	for (int i = 0; i < N; i++) {
		int n = lb_pick(r.w, 0, url_key(i), -1);
		if (where[i] == 2) {
			on3++;
			moved3 += n != 2;
		} else {
			moved_other += n != where[i];
		}
	}
	printf("# chash, be3 removed from the group: its %d URLs moved (%d); of the other %d, %d moved (%.2f%%)\n",
	       on3, moved3, N - on3, moved_other, 100.0 * moved_other / (N - on3));
	is_int(moved3, on3, "chash: every URL of the removed node moves");
	ok(moved_other * 100 <= (N - on3) * 3, "chash: at most 3%% of the other URLs move (%d of %d)",
	   moved_other, N - on3);
	/* down, not removed: the table stays, nothing else moves at all */
	a.p->node_down[2] = 1;
	moved_other = 0;
	for (int i = 0; i < N; i++) {
		int n = lb_pick(a.w, 0, url_key(i), -1);
		moved_other += where[i] != 2 && n != where[i];
		if (n == 2)
			moved3 = -1;
	}
	is_int(moved_other, 0, "chash, be3 down: no other URL moves");
	ok(moved3 != -1, "chash, be3 down: never picked");
	a.p->node_down[2] = 0;
	sw_free(&b);
	sw_free(&r);

	/* bounded load: one hot URL, requests that never finish */
	int maxin = 0, total = 0, got[3] = { 0 };
	for (int i = 0; i < 900; i++) {
		int n = lb_pick(a.w, 0, url_key(7), -1);
		if (n < 0)
			break;
		got[n]++;
		a.w->inflight[n]++;
		total++;
		for (int j = 0; j < 3; j++) {
			long bound = (long)(1.25 * total / 3 + 0.999999);
			if (a.w->inflight[j] > bound && maxin >= 0) {
				printf("# after %d: node %d has %d > %ld\n", total, j, a.w->inflight[j], bound);
				maxin = -1;
			}
		}
	}
	/* the overflow walks the table: the URL's node and the next one fill
	 * to 1.25/3 each, the third takes the rest */
	printf("# chash bounded load 1.25, one hot URL, 900 requests in flight: %d %d %d\n",
	       got[0], got[1], got[2]);
	ok(maxin == 0, "chash: no node ever above 1.25 x its fair share of in-flight requests");
	ok(got[0] && got[1] && got[2], "chash: a hot URL spills over to every node");
	ok(got[where[7]] >= 300, "chash: its own node keeps its full share (%d)", got[where[7]]);
	sw_free(&a);

	a = three(1, 1, 1, "chash", NULL, "load_factor = 2\n");
	for (int j = 0; j < 3; j++)
		a.w->inflight[j] = 1;
	a.w->inflight[where[7]] = 2;    /* 4 in all: bound ceil(2 * 5 / 3) = 4, 2 + 1 <= 4 */
	is_int(lb_pick(a.w, 0, url_key(7), -1), where[7], "chash: under the bound the URL stays");
	a.w->inflight[where[7]] = 6;    /* 8 in all: bound ceil(2 * 9 / 3) = 6, 6 + 1 > 6 */
	ok(lb_pick(a.w, 0, url_key(7), -1) != where[7], "chash: over the bound it goes elsewhere");
	sw_free(&a);
}

static void test_lard(void)
{
	/* the paper's rules, on one switch's view (load_share off) */
	struct sw s = three(1, 1, 1, "lard", NULL, "lard_low = 2\nlard_high = 4\n[l7]\nload_share = off\n");
	struct l7_worker *w = s.w;
	uint64_t A = lb_key("/a", 2), B = lb_key("/b", 2), C = lb_key("/c", 2);

	w->inflight[0] = 3;
	w->inflight[1] = 4;
	w->inflight[2] = 5;
	is_int(lb_pick(w, 0, C, -1), 0, "lard: a new target goes to the least loaded node");
	w->inflight[1] = 0;
	w->inflight[2] = 2;
	is_int(lb_pick(w, 0, A, -1), 1, "lard: ... or to a node under T_low");
	w->inflight[1] = 4;
	is_int(lb_pick(w, 0, A, -1), 1, "lard: it stays there while its node is at T_high or below");
	w->inflight[1] = 5;
	w->inflight[2] = 2;
	is_int(lb_pick(w, 0, A, -1), 1, "lard: over T_high but no node under T_low: stays");
	w->inflight[2] = 1;
	is_int(lb_pick(w, 0, A, -1), 2, "lard: over T_high and a node under T_low: moves to it");
	w->inflight[1] = 0;
	is_int(lb_pick(w, 0, A, -1), 2, "lard: the move sticks (the target now belongs to be3)");
	w->inflight[0] = 3;
	w->inflight[1] = 3;
	w->inflight[2] = 7;
	is_int(lb_pick(w, 0, A, -1), 2, "lard: below 2 T_high with no node under T_low: stays");
	w->inflight[2] = 8;
	is_int(lb_pick(w, 0, A, -1), 0, "lard: at 2 T_high it moves even with no node under T_low");
	int nb = lb_pick(w, 0, B, -1);
	ok(nb == 0 || nb == 1, "lard: another target, one of the two least loaded (%d)", nb);
	s.p->node_down[nb] = 1;
	ok(lb_pick(w, 0, B, -1) != nb, "lard: its node down: reassigned");
	s.p->node_down[nb] = 0;
	sw_free(&s);

	/* idle members: new targets spread by their hash, and two switches
	 * built apart make the same first choice */
	struct sw a = three(1, 1, 1, "lard", NULL, NULL), b = three(1, 1, 1, "lard", NULL, NULL);
	int count[3] = { 0 }, agree = 1;
	for (int i = 0; i < 300; i++) {
		int n = lb_pick(a.w, 0, url_key(i), -1);
		agree &= n == lb_pick(b.w, 0, url_key(i), -1);
		if (n >= 0)
			count[n]++;
	}
	printf("# lard, idle members, 300 new targets: %d %d %d\n", count[0], count[1], count[2]);
	ok(count[0] > 60 && count[1] > 60 && count[2] > 60, "lard: idle members share new targets");
	ok(agree, "lard: two switches place new targets alike under light load");
	sw_free(&a);
	sw_free(&b);

	/* light but unequal load, seen differently by each switch (as it always
	 * is): nodes under T_low are alike, so the switches still agree; a
	 * strict least-loaded choice sent each target somewhere else from each
	 * switch (bench/locality: 1.68 copies of every cached object) */
	a = three(1, 1, 1, "lard", NULL, NULL);
	b = three(1, 1, 1, "lard", NULL, NULL);
	int la[3] = { 3, 0, 7 }, lb[3] = { 0, 5, 1 };
	memset(count, 0, sizeof(count));
	agree = 1;
	for (int j = 0; j < 3; j++) {
		a.w->inflight[j] = la[j];
		b.w->inflight[j] = lb[j];
	}
	for (int i = 0; i < 300; i++) {
		int n = lb_pick(a.w, 0, url_key(i), -1);
		agree &= n == lb_pick(b.w, 0, url_key(i), -1);
		if (n >= 0)
			count[n]++;
	}
	printf("# lard, members under T_low at unequal loads, 300 new targets: %d %d %d\n",
	       count[0], count[1], count[2]);
	ok(agree, "lard: two switches that see different loads under T_low place new targets alike");
	ok(count[0] > 60 && count[1] > 60 && count[2] > 60, "lard: ... and spread them");
	sw_free(&a);
	sw_free(&b);
}

/* lard with load_share (the default): the cluster's loads, this switch's
 * own plus what the others report, and a new target at its home unless
 * that is overloaded. */
static void test_lard_share(void)
{
	struct sw s = three(1, 1, 1, "lard", NULL, "lard_low = 2\nlard_high = 4\n");
	struct l7_worker *w = s.w;
	uint64_t A = lb_key("/a", 2);
	int home = -1, other, count[3] = { 0 }, agree = 1;

	for (int j = 0; j < 3; j++)
		if (s.c->groups[0].nodes[A % 3] == j)
			home = j;
	other = (home + 1) % 3;
	w->inflight[home] = 3;          /* between T_low and T_high: not overloaded */
	is_int(lb_pick(w, 0, A, -1), home, "lard, shared: a new target goes to its home while it is at T_high or below");
	lb_free(w);
	lb_build(w);
	w->inflight[home] = 0;
	s.p->peer_sum[home] = 5;        /* over T_high through the other switches' requests only */
	is_int(lb_pick(w, 0, A, -1), other,
	       "lard, shared: the other switches' load at its home takes a new target to the next idle member");
	s.p->peer_sum[home] = 2;
	is_int(lb_pick(w, 0, A, -1), other, "lard, shared: the move sticks");
	s.p->peer_sum[other] = 8;       /* 2 T_high, seen through the peers */
	is_int(lb_pick(w, 0, A, -1), (home + 2) % 3,
	       "lard, shared: at 2 T_high from the peers' requests it moves again, to the idle member");
	sw_free(&s);

	/* two switches whose own counts differ but whose cluster loads are
	 * the same (what load sharing gives them), every member between T_low
	 * and T_high: the case where each switch's own view split targets
	 * (bench/locality with lard_low 4: 1.66 copies of each object) */
	struct sw a = three(1, 1, 1, "lard", NULL, "lard_low = 2\nlard_high = 9\n");
	struct sw b = three(1, 1, 1, "lard", NULL, "lard_low = 2\nlard_high = 9\n");
	int own_a[3] = { 5, 0, 4 }, own_b[3] = { 1, 6, 2 };
	for (int j = 0; j < 3; j++) {
		a.w->inflight[j] = own_a[j];
		a.p->peer_sum[j] = own_b[j];
		b.w->inflight[j] = own_b[j];
		b.p->peer_sum[j] = own_a[j];
	}
	for (int i = 0; i < 300; i++) {
		int n = lb_pick(a.w, 0, url_key(i), -1);
		agree &= n == lb_pick(b.w, 0, url_key(i), -1);
		if (n >= 0)
			count[n]++;
	}
	printf("# lard, shared loads between T_low and T_high, 300 new targets: %d %d %d\n",
	       count[0], count[1], count[2]);
	ok(agree, "lard, shared: two switches with different own loads place 300 new targets alike");
	ok(count[0] > 60 && count[1] > 60 && count[2] > 60, "lard, shared: ... and spread them by hash");
	/* the same without sharing: each switch its own view, they split */
	agree = 1;
	a.c->l7.load_share = b.c->l7.load_share = 0;
	lb_free(a.w);
	lb_build(a.w);
	lb_free(b.w);
	lb_build(b.w);
	for (int i = 0; i < 300; i++)
		agree &= lb_pick(a.w, 0, url_key(i), -1) == lb_pick(b.w, 0, url_key(i), -1);
	ok(!agree, "lard, own views only: the same two switches disagree on some targets");
	sw_free(&a);
	sw_free(&b);
}

/* Switches S to the loaded file C as a reload does: cfg_align, then
 * lb_rebuild; the old file is freed. Returns lb_rebuild's result. */
static int sw_reload(struct sw *s, struct cfg *c)
{
	struct cfg *old = s->c;
	int r;

	if (cfg_align(c, old))
		abort();
	s->c = s->p->cfg = s->w->cfg = c;
	r = lb_rebuild(s->w, old);
	cfg_free(old);
	return r;
}

/* Targets of group 0 whose lard entry names the node called NAME. */
static int lard_on(struct sw *s, const char *name, const uint64_t *keys, int nkeys)
{
	const struct lb_lard_ent *t = s->w->lb[0].lard;
	int n = 0;

	for (int i = 0; i < nkeys; i++) {
		const struct lb_lard_ent *e = &t[keys[i] % LB_LARD_SIZE];

		n += e->key == keys[i] && e->node >= 0 && !strcmp(s->c->nodes[e->node].name, name);
	}
	return n;
}

/* A reload keeps lard's targets on their nodes by name: through a
 * reorder of the [node] sections, but for a node that left the group, an
 * index that another node took, or a group renamed. */
static void test_reload(void)
{
#define NODES3(a, b, c) "[node " a "]\nweb = 127.0.0.1:18081\n[node " b "]\nweb = 127.0.0.1:18082\n" \
	"[node " c "]\nweb = 127.0.0.1:18083\n"
	struct sw s = sw_load(NODES3("be1", "be2", "be3") "[group g]\nnodes = be1 be2 be3\npolicy = lard\n");
	uint64_t keys[300];
	int before[3] = { 0 }, nk = 0;

	/* keys that share no lard slot, so every entry is its own */
	for (int i = 0; nk < 300; i++) {
		uint64_t k = url_key(i);
		int clash = 0;

		for (int j = 0; j < nk; j++)
			clash |= keys[j] % LB_LARD_SIZE == k % LB_LARD_SIZE;
		if (!clash)
			keys[nk++] = k;
	}
	for (int i = 0; i < nk; i++)
		lb_pick(s.w, 0, keys[i], -1);
	before[0] = lard_on(&s, "be1", keys, nk);
	before[1] = lard_on(&s, "be2", keys, nk);
	before[2] = lard_on(&s, "be3", keys, nk);
	ok(before[0] > 0 && before[1] > 0 && before[2] > 0 && before[0] + before[1] + before[2] == nk,
	   "reload: lard placed %d targets (%d %d %d)", nk, before[0], before[1], before[2]);
	is_int(sw_reload(&s, cfg_text(NODES3("be3", "be2", "be1") "[group g]\nnodes = be3 be2\npolicy = lard\n")), 0,
	       "reload: sections reordered, be1 out of the group: rebuilt");
	ok(lard_on(&s, "be2", keys, nk) == before[1] && lard_on(&s, "be3", keys, nk) == before[2],
	   "reload: be2's and be3's targets stay theirs, by name");
	is_int(lard_on(&s, "be1", keys, nk), 0, "reload: be1 left the group: none of its targets stays");
	int same = 1;
	for (int i = 0; i < nk; i++) {
		const struct lb_lard_ent *e = &s.w->lb[0].lard[keys[i] % LB_LARD_SIZE];
		int had = e->node >= 0 && e->key == keys[i] ? e->node : -1;

		same &= had < 0 || lb_pick(s.w, 0, keys[i], -1) == had;
	}
	ok(same, "reload: lb_pick sends each kept target to its node");

	/* what cfg_align does to an index a new node takes (only once every
	 * index is in use): its since is the new epoch */
	struct cfg *c = cfg_text(NODES3("be1", "be2", "be3") "[group g]\nnodes = be3 be2\npolicy = lard\n");
	struct cfg *old = s.c;
	int be2;

	is_int(cfg_align(c, old), 0, "reload: aligned");
	be2 = cfg_node_find(c, "be2") - c->nodes;
	c->nodes[be2].since = c->epoch;
	s.c = s.p->cfg = s.w->cfg = c;
	is_int(lb_rebuild(s.w, old), 0, "reload: be2's index taken by a new node: rebuilt");
	cfg_free(old);
	ok(lard_on(&s, "be2", keys, nk) == 0 && lard_on(&s, "be3", keys, nk) == before[2],
	   "reload: the targets of that index are dropped, be3's stay");

	is_int(sw_reload(&s, cfg_text(NODES3("be1", "be2", "be3") "[group h]\nnodes = be3 be2\npolicy = lard\n")), 0,
	       "reload: the group renamed: rebuilt");
	is_int(lard_on(&s, "be3", keys, nk), 0, "reload: a group of another name starts empty");
	is_int(sw_reload(&s, cfg_text(NODES3("be1", "be2", "be3") "[group h]\nnodes = be3 be2\npolicy = rr\n")), 0,
	       "reload: the group's policy changed: rebuilt");
	ok(!s.w->lb[0].lard, "reload: rr has no lard table");
	sw_free(&s);
#undef NODES3
}

/* Drained (weight 0) and down nodes, and retries, under every policy. */
static void test_usable(void)
{
	for (int p = 0; p < 4; p++) {
		struct sw s = three(0, 1, 1, policies[p], NULL, NULL);
		int picked1 = 0, picked2 = 0, picked3 = 0, none = 0, exclude_ok = 1;

		for (int i = 0; i < 300; i++) {
			int n = lb_pick(s.w, 0, url_key(i), -1);
			picked1 += n == 0;
			none += n < 0;
		}
		is_int(picked1, 0, "%s: a drained node (weight 0) is never picked", policies[p]);
		is_int(none, 0, "%s: the others take everything", policies[p]);
		s.p->node_down[1] = 1;
		for (int i = 0; i < 300; i++) {
			int n = lb_pick(s.w, 0, url_key(i), -1);
			picked1 += n == 0;
			picked2 += n == 1;
			picked3 += n == 2;
		}
		ok(!picked1 && !picked2 && picked3 == 300, "%s: a down node is skipped", policies[p]);
		is_int(lb_pick(s.w, 0, url_key(1), 2), -1, "%s: the only usable node excluded: none", policies[p]);
		s.p->node_down[2] = 1;
		is_int(lb_pick(s.w, 0, url_key(1), -1), -1, "%s: every node drained or down: -1", policies[p]);
		s.p->node_down[1] = s.p->node_down[2] = 0;
		for (int i = 0; i < 300; i++) {
			uint64_t k = url_key(i);
			int first = lb_pick(s.w, 0, k, -1), retry = lb_pick(s.w, 0, k, first);
			exclude_ok &= retry >= 0 && retry != first && retry != 0;
		}
		ok(exclude_ok, "%s: a retry never goes back to the node that failed", policies[p]);
		sw_free(&s);
	}
}

/* A one-shot HTTP server on loopback answering STATUS; returns its port. */
static int serve_once(const char *status, pid_t *pid)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		abort();
	*pid = fork();
	if (*pid == 0) {
		char buf[512];
		int c = accept(fd, NULL, NULL);
		ssize_t n = read(c, buf, sizeof(buf) - 1);
		/* the status line in two writes: the probe must read on */
		if (n > 0 && write(c, "HTTP/1.1 ", 9) == 9) {
			usleep(20000);
			if (write(c, status, strlen(status)) < 0)
				_exit(1);
		}
		buf[n > 0 ? n : 0] = 0;
		_exit(strncmp(buf, "GET /health HTTP/1.1\r\n", 22) ? 2 : 0);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void test_check(void)
{
	struct sw s = three(1, 1, 1, "rr", NULL, "health_path = /health\n");
	struct cfg_addr ad;
	char text[64];
	pid_t pid;
	int st, port;

	check_report_failure(s.p, s.c, 0);
	check_report_failure(s.p, s.c, 0);
	ok(check_up(s.p, 0), "2 failures of 3: still up");
	check_report_success(s.p, 0);
	check_report_failure(s.p, s.c, 0);
	check_report_failure(s.p, s.c, 0);
	ok(check_up(s.p, 0), "a success starts the count again");
	check_report_failure(s.p, s.c, 0);
	ok(!check_up(s.p, 0), "3 consecutive failures: down");
	ok(!lb_usable(s.w, 0), "a down node is not usable");
	lb_report(s.w, 1, 0);
	is_int(s.p->node_fails[1], 1, "lb_report(0) counts a failure");
	lb_report(s.w, 1, 1);
	is_int(s.p->node_fails[1], 0, "lb_report(1) clears it");
	is_str(check_health_path(s.c, 0), "/health", "health path of the node's group");

	port = serve_once("200 OK\r\nContent-Length: 0\r\n\r\n", &pid);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	cfg_parse_addr(&ad, text, 0);
	is_int(check_probe(&ad, "/health", 1000), 1, "probe: 200 in two pieces is up");
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "probe sent GET <health_path> HTTP/1.1");
	port = serve_once("503 Busy\r\n\r\n", &pid);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	cfg_parse_addr(&ad, text, 0);
	is_int(check_probe(&ad, "/health", 1000), 0, "probe: 503 is not up");
	waitpid(pid, &st, 0);
	is_int(check_probe(&ad, "/health", 200), 0, "probe: refused connection is not up");
	sw_free(&s);
}

/* lb_key: every switch of a cluster, whatever its version, must map a URL
 * to the same node, so the hash is pinned to known answers (FNV-1a 64 then
 * a final mix, computed apart from this code); it reads exactly N bytes of
 * the caller's buffer wherever the buffer is; and it tells URLs apart. */
static void test_key(void)
{
	static const struct { const char *s; uint64_t key; } kat[] = {
		{ "", 0xecba3df2c3383c52ULL },
		{ "/", 0xdd5b2165bc28d44aULL },
		{ "/images/1.png", 0xb31d08a2d459915bULL },
		{ "/a/b?x=1", 0x3003189dae8a08a2ULL },
	};
	char buf[64], *heap;
	uint64_t keys[2000];
	int same = 0, dup = 0;

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		uint64_t k = lb_key(kat[i].s, strlen(kat[i].s));
		if (!ok(k == kat[i].key, "lb_key(\"%s\") is the known answer", kat[i].s))
			printf("#   got 0x%016llx, want 0x%016llx\n", (unsigned long long)k,
			       (unsigned long long)kat[i].key);
	}
	/* the same 13 bytes at other addresses, with other bytes around them */
	heap = malloc(64);
	for (int off = 0; off < 8; off++) {
		memset(buf, 'x', sizeof(buf));
		memcpy(buf + off, "/images/1.png", 13);
		memset(heap, off, 64);
		memcpy(heap + 1 + off, "/images/1.png?tail", 18);
		same += lb_key(buf + off, 13) == 0xb31d08a2d459915bULL &&
			lb_key(heap + 1 + off, 13) == 0xb31d08a2d459915bULL;
	}
	free(heap);
	is_int(same, 8, "lb_key reads N bytes only, at any address: one key for one URL in 16 buffers");
	ok(lb_key("/images/1.png", 12) != lb_key("/images/1.png", 13), "a prefix is another key");
	ok(lb_key("/a", 2) != lb_key("/b", 2) && lb_key("/ab", 3) != lb_key("/ba", 3),
	   "one byte changed, two bytes swapped: other keys");
	for (int i = 0; i < 2000; i++) {
		keys[i] = url_key(i);
		for (int j = 0; j < i; j++)
			dup += keys[j] == keys[i];
	}
	is_int(dup, 0, "2000 image URLs, 2000 different keys");
}

/* tandem ctl's runtime weights (l7_proc wt_ovr: 0 none, else 1 + weight):
 * rr reads them live; chash counts them in its table, rebuilt on a change;
 * weight 0 drains. */
static void test_runtime_weight(void)
{
	struct sw s = three(1, 1, 1, "rr", NULL, NULL);
	enum { N = 3000 };
	int count[3] = { 0 }, bad = 0;

	s.p->wt_ovr[1] = 1 + 3;
	for (int i = 0; i < 500; i++) {
		int n = lb_pick(s.w, 0, 0, -1);
		if (n >= 0 && n < 3)
			count[n]++;
	}
	printf("# rr 1:1:1, be2 at runtime weight 3: %d %d %d of 500\n", count[0], count[1], count[2]);
	ok(count[0] == 100 && count[1] == 300 && count[2] == 100, "rr: a runtime weight 3 takes 3/5");
	s.p->wt_ovr[0] = 1 + 0;
	for (int i = 0; i < 100; i++)
		bad += lb_pick(s.w, 0, 0, -1) == 0;
	is_int(bad, 0, "rr: runtime weight 0 (drain): never picked");
	is_int(lb_usable(s.w, 0), 0, "lb_usable: a drained node is not usable");
	is_int(lb_weight(s.w, 2), 1, "lb_weight: no override, the file's");
	sw_free(&s);

	s = three(1, 1, 1, "chash", NULL, NULL);
	s.p->wt_ovr[1] = 1 + 3;
	s.p->wt_gen++;
	if (lb_rebuild(s.w, s.c))
		abort();
	is_int(s.w->wt_gen, s.p->wt_gen, "lb_rebuild records the runtime weights' generation");
	memset(count, 0, sizeof(count));
	for (int i = 0; i < N; i++) {
		int n = lb_pick(s.w, 0, url_key(i), -1);
		if (n >= 0 && n < 3)
			count[n]++;
	}
	printf("# chash, be2 at runtime weight 3: %d %d %d of %d URLs\n", count[0], count[1], count[2], N);
	ok(count[1] > N / 2 && count[0] > N / 10 && count[2] > N / 10,
	   "chash: the rebuilt table gives a runtime weight 3 about 3/5");
	sw_free(&s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_verbosity = LOG_ERR;        /* "marked down" is expected here */
	test_key();
	test_rr();
	test_wlc();
	test_chash();
	test_lard();
	test_lard_share();
	test_reload();
	test_usable();
	test_check();
	test_runtime_weight();
	return done_testing();
}
