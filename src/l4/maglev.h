/* maglev: Maglev consistent hashing (Eisenbud et al., NSDI 2016), pure: no
 * BPF, no I/O, so unit tests and the user-space fallback use it as is. */
#ifndef TANDEM_MAGLEV_H
#define TANDEM_MAGLEV_H

#include <stdint.h>

#define MAGLEV_EMPTY 0xffffffffu        /* = L4_NO_BACKEND */

/* One candidate. The name seeds its permutation, so a node keeps its
 * preferences whatever its position and whoever else is in the table. */
struct maglev_node {
	const char *name;
	uint32_t weight;                /* 0: not in the table */
};

/* maglev_is_prime: 1 if M is prime. */
int maglev_is_prime(uint32_t m);

/* maglev_build: fills TABLE (M slots, M prime) with indexes into NODES. Each
 * round every node with weight w claims its next w preferred free slots, so
 * shares follow the weights; with equal weights they differ by at most one
 * slot. Turns go in name order, so the same (name, weight) set gives the
 * same table whatever the order of NODES (names must differ). When no node
 * has a weight, every slot is MAGLEV_EMPTY.
 * Returns 0, -EINVAL (M not prime or < 2, N < 0), or -ENOMEM. */
int maglev_build(uint32_t *table, uint32_t m, const struct maglev_node *nodes, int n);

/* maglev_diff: how many of the M slots differ between A and B. */
uint32_t maglev_diff(const uint32_t *a, const uint32_t *b, uint32_t m);

/* maglev_hash_name: the 64-bit string hash the permutations come from. */
uint64_t maglev_hash_name(const char *s, uint64_t seed);

#endif
