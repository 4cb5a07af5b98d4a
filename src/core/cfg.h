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

/* cfg_node_find: the node called NAME, or NULL. */
struct cfg_node *cfg_node_find(struct cfg *c, const char *name);

/* cfg_parse_addr: "IP:PORT", "[IPv6]:PORT" or, with port_optional, a bare IP.
 * Returns 0 or -EINVAL. */
int cfg_parse_addr(struct cfg_addr *a, const char *text, int port_optional);

/* cfg_parse_ms: "250ms", "2s", "1m" or a bare number of seconds. Returns 0 or -EINVAL. */
int cfg_parse_ms(const char *text, int *ms);

/* cfg_parse_size: "512", "16k", "1m", "1g". Returns 0 or -EINVAL. */
int cfg_parse_size(const char *text, int64_t *bytes);

const char *cfg_relay_name(enum cfg_relay r);

#endif
