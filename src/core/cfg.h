/* cfg: loads and checks the cluster file (INI, read with libinih). */
#ifndef TANDEM_CFG_H
#define TANDEM_CFG_H

#include <stdio.h>
#include "cfg-t.h"

/* cfg_load: parses and checks FILE into *c. Every problem is written to ERRS
 * as "FILE:LINE: reason" (NULL: not written). Returns 0, or -EINVAL when the
 * file has errors (count in *nerr if not NULL), or -errno when it can't be read. */
int cfg_load(struct cfg *c, const char *file, FILE *errs, int *nerr);

/* cfg_free: releases what cfg_load compiled (regexes) and C itself. */
void cfg_free(struct cfg *c);

/* cfg_node_find: the node called NAME, or NULL (never a tombstone). */
struct cfg_node *cfg_node_find(struct cfg *c, const char *name);

/* cfg_node_used: 0 for the tombstone a removed node left (cfg_align). */
static inline int cfg_node_used(const struct cfg_node *n)
{
	return n->name[0] != 0;
}

/* cfg_align: gives C's nodes the indexes they have in OLD, the running
 * configuration C replaces, so that state kept by index follows each node
 * by name: a node of both keeps its index; a node only in C takes a new
 * index at the end, or, once all CFG_MAX_NODES are in use, the index of
 * a node removed by an earlier alignment (never one removed by this one:
 * requests to it may still be in flight); a node only in OLD leaves a
 * tombstone. Group members are renumbered and keep their order. Sets
 * C->epoch to OLD's + 1, and `since` of every index whose holder changed
 * (a node new to it, or a new tombstone) to that epoch, OLD's elsewhere:
 * whoever keeps state by index resets it where `since` is newer than the
 * configuration that state was kept for. Returns 0; -ENOSPC when C needs
 * more than CFG_MAX_NODES indexes; -ENOMEM (C unchanged on error). */
int cfg_align(struct cfg *c, const struct cfg *old);

/* cfg_parse_addr: "IP:PORT", "[IPv6]:PORT" or, with port_optional, a bare IP.
 * Returns 0 or -EINVAL. */
int cfg_parse_addr(struct cfg_addr *a, const char *text, int port_optional);

/* cfg_parse_unix: "unix:/ABSOLUTE/PATH" (a stream socket's path, at most
 * 107 bytes). Returns 0 or -EINVAL. */
int cfg_parse_unix(struct cfg_addr *a, const char *text);

/* cfg_parse_ms: "250ms", "2s", "1m" or a bare number of seconds. Returns 0 or -EINVAL. */
int cfg_parse_ms(const char *text, int *ms);

/* cfg_parse_size: "512", "16k", "1m", "1g". Returns 0 or -EINVAL. */
int cfg_parse_size(const char *text, int64_t *bytes);

const char *cfg_relay_name(enum cfg_relay r);

#endif
