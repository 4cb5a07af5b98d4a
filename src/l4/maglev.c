/* maglev: builds Maglev lookup tables. Node i prefers slots in the order
 * offset_i, offset_i + skip_i, offset_i + 2 skip_i, ... (mod M); with M prime
 * and 0 < skip_i < M this visits every slot once. Nodes take turns claiming
 * their next free preferred slot until the table is full. Because the order
 * depends only on the node's name, removing a node moves its own slots and
 * only a few others: the property that keeps established flows in place.
 * The turns go in name order too, not in the caller's order, so the table
 * is a function of the set of (name, weight) alone: front ends that number
 * their nodes differently (one started fresh, one after SIGHUPs that
 * freed and reused slots) still build the same table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

int maglev_is_prime(uint32_t m)
{
	if (m < 2)
		return 0;
	if (m % 2 == 0)
		return m == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= m; d += 2)
		if (m % d == 0)
			return 0;
	return 1;
}

/* FNV-1a with a seed, then a 64-bit finalizer so short names spread well. */
uint64_t maglev_hash_name(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int maglev_build(uint32_t *table, uint32_t m, const struct maglev_node *nodes, int n)
{
	uint64_t *offset = NULL, *skip = NULL, *next = NULL;
	uint32_t filled = 0;
	int live = 0, ret = 0, *order = NULL;

	if (!maglev_is_prime(m) || n < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < m; i++)
		table[i] = MAGLEV_EMPTY;
	for (int i = 0; i < n; i++)
		live += nodes[i].weight > 0;
	if (!live)
		return 0;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	order = calloc(n, sizeof(*order));
	if (!offset || !skip || !next || !order) {
		ret = -ENOMEM;
		goto out;
	}
	/* insertion sort by name: N is at most a few dozen */
	for (int i = 0; i < n; i++) {
		int j = i;

		for (; j > 0 && strcmp(nodes[order[j - 1]].name, nodes[i].name) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	for (int i = 0; i < n; i++) {
		offset[i] = maglev_hash_name(nodes[i].name, 0x6d61676c) % m;
		skip[i] = maglev_hash_name(nodes[i].name, 0x65763031) % (m - 1) + 1;
	}
	while (filled < m) {
		for (int k = 0; k < n && filled < m; k++) {
			int i = order[k];

			for (uint32_t w = 0; w < nodes[i].weight && filled < m; w++) {
				uint32_t c;

				/* at most M tries: the permutation covers every slot */
				do {
					c = (offset[i] + next[i] * skip[i]) % m;
					next[i]++;
				} while (table[c] != MAGLEV_EMPTY);
				table[c] = (uint32_t)i;
				filled++;
			}
		}
	}
out:
	free(order);
	free(next);
	free(skip);
	free(offset);
	return ret;
}

uint32_t maglev_diff(const uint32_t *a, const uint32_t *b, uint32_t m)
{
	uint32_t d = 0;

	for (uint32_t i = 0; i < m; i++)
		d += a[i] != b[i];
	return d;
}
