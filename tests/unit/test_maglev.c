/* test_maglev: the Maglev table builder. Balance with equal weights, shares
 * following weights, and how few slots move when a node leaves or joins
 * (the fraction is printed: it is the share of new connections whose node
 * changes, which the flow table then hides for established ones). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "maglev.h"
#include "tap.h"

static const char *names[] = { "be1", "be2", "be3", "be4", "be5", "be6", "be7",
			       "be8", "be9", "be10" };

static void shares(const uint32_t *t, uint32_t m, int n, uint32_t *cnt)
{
	for (int i = 0; i < n; i++)
		cnt[i] = 0;
	for (uint32_t s = 0; s < m; s++)
		if (t[s] != MAGLEV_EMPTY)
			cnt[t[s]]++;
}

static void test_balance(uint32_t m, int n)
{
	struct maglev_node nodes[10];
	uint32_t *t = malloc(m * sizeof(*t)), cnt[10], lo = m, hi = 0;

	for (int i = 0; i < n; i++)
		nodes[i] = (struct maglev_node){ names[i], 1 };
	is_int(maglev_build(t, m, nodes, n), 0, "build M=%u N=%d", m, n);
	shares(t, m, n, cnt);
	for (int i = 0; i < n; i++) {
		lo = cnt[i] < lo ? cnt[i] : lo;
		hi = cnt[i] > hi ? cnt[i] : hi;
	}
	printf("# M=%u N=%d: slots per node min %u max %u (max/min %.5f)\n", m, n, lo, hi,
	       (double)hi / lo);
	ok(lo > 0 && (double)hi / lo <= 1.01, "M=%u N=%d: max/min share within 1%%", m, n);
	free(t);
}

static void test_weights(void)
{
	uint32_t m = 65537, *t = malloc(m * sizeof(*t)), cnt[3];
	struct maglev_node nodes[3] = { { "be1", 1 }, { "be2", 2 }, { "be3", 3 } };

	is_int(maglev_build(t, m, nodes, 3), 0, "build weighted 1:2:3");
	shares(t, m, 3, cnt);
	printf("# weights 1:2:3 -> %u %u %u slots\n", cnt[0], cnt[1], cnt[2]);
	ok(abs((int)cnt[1] - 2 * (int)cnt[0]) <= 3, "weight 2 gets twice weight 1");
	ok(abs((int)cnt[2] - 3 * (int)cnt[0]) <= 3, "weight 3 gets three times weight 1");

	nodes[1].weight = 0;
	is_int(maglev_build(t, m, nodes, 3), 0, "build with a drained node");
	shares(t, m, 3, cnt);
	is_int(cnt[1], 0, "weight 0 gets no slot");
	is_int(cnt[0] + cnt[2], m, "the others get all of them");

	nodes[0].weight = nodes[2].weight = 0;
	is_int(maglev_build(t, m, nodes, 3), 0, "build with nobody");
	shares(t, m, 3, cnt);
	is_int(cnt[0] + cnt[1] + cnt[2], 0, "every slot empty");
	free(t);
}

/* Removes node K of N (and adds it back): the slots that move, as a
 * fraction of M, against the 1/N that have to. */
static void test_disruption(uint32_t m, int n, int k)
{
	struct maglev_node nodes[10];
	uint32_t *a = malloc(m * sizeof(*a)), *b = malloc(m * sizeof(*b));
	uint32_t moved = 0, own = 0;

	for (int i = 0; i < n; i++)
		nodes[i] = (struct maglev_node){ names[i], 1 };
	maglev_build(a, m, nodes, n);
	nodes[k].weight = 0;
	maglev_build(b, m, nodes, n);
	for (uint32_t s = 0; s < m; s++) {
		own += a[s] == (uint32_t)k;
		moved += a[s] != b[s] && a[s] != (uint32_t)k;
	}
	printf("# M=%u N=%d remove %s: its own %.4f of slots move (must), others %.4f "
	       "(total %.4f, ideal %.4f)\n", m, n, names[k], (double)own / m,
	       (double)moved / m, (double)(own + moved) / m, 1.0 / n);
	ok(own > 0, "the removed node had slots");
	ok((double)moved / m < 0.05, "removing a node moves few other slots (%.4f)",
	   (double)moved / m);

	/* adding it back restores the first table exactly */
	nodes[k].weight = 1;
	maglev_build(b, m, nodes, n);
	is_int(maglev_diff(a, b, m), 0, "adding it back gives the same table");

	/* a brand-new node joins: it takes about 1/(N+1), others keep theirs */
	if (n < 10) {
		uint32_t *c = malloc(m * sizeof(*c)), taken = 0, shuffled = 0;

		nodes[n] = (struct maglev_node){ names[n], 1 };
		maglev_build(c, m, nodes, n + 1);
		for (uint32_t s = 0; s < m; s++) {
			taken += c[s] == (uint32_t)n;
			shuffled += c[s] != a[s] && c[s] != (uint32_t)n;
		}
		printf("# M=%u N=%d add %s: %.4f of slots go to it, %.4f move between "
		       "old nodes (ideal %.4f, 0)\n", m, n, names[n], (double)taken / m,
		       (double)shuffled / m, 1.0 / (n + 1));
		ok((double)shuffled / m < 0.05, "adding a node moves few slots between others");
		free(c);
	}
	free(b);
	free(a);
}

/* The same nodes in another order, and spread over other indexes with
 * unused (weight 0, no name) holes, as two front ends number them when one
 * started fresh and the other reused freed slots after SIGHUPs: every slot
 * must name the same node. Several front ends behind ECMP rely on it. */
static void test_order(void)
{
	uint32_t m = 65537, *a = malloc(m * sizeof(*a)), *b = malloc(m * sizeof(*b));
	struct maglev_node x[4] = { { "be1", 1 }, { "be2", 2 }, { "be3", 1 }, { "be4", 1 } };
	/* be4, hole, be2, be1, hole, be3: index in y -> index in x */
	struct maglev_node y[6] = { { "be4", 1 }, { "", 0 }, { "be2", 2 }, { "be1", 1 },
				    { "", 0 }, { "be3", 1 } };
	static const int y2x[6] = { 3, -1, 1, 0, -1, 2 };
	uint32_t diff = 0;

	is_int(maglev_build(a, m, x, 4), 0, "build be1..be4");
	is_int(maglev_build(b, m, y, 6), 0, "build the same nodes reordered, with holes");
	for (uint32_t s = 0; s < m; s++)
		diff += b[s] == MAGLEV_EMPTY || y2x[b[s]] != (int)a[s];
	is_int(diff, 0, "every slot names the same node whatever the order of the nodes");
	free(b);
	free(a);
}

int main(void)
{
	uint32_t t[7];
	struct maglev_node one = { "be1", 1 };

	ok(maglev_is_prime(65537) && maglev_is_prime(251) && !maglev_is_prime(65536) &&
	   !maglev_is_prime(1) && !maglev_is_prime(9), "maglev_is_prime");
	is_int(maglev_build(t, 8, &one, 1), -EINVAL, "non-prime size refused");
	is_int(maglev_build(t, 7, &one, 1), 0, "tiny table");
	is_int(t[0] + t[6], 0, "one node owns every slot");

	test_balance(65537, 3);
	test_balance(65537, 10);
	test_balance(1013, 10);         /* M just over 100 N */
	test_weights();
	test_order();
	test_disruption(65537, 3, 1);
	test_disruption(65537, 10, 4);
	return done_testing();
}
