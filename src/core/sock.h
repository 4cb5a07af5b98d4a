/* sock: socket set-up shared by every role. */
#ifndef TANDEM_SOCK_H
#define TANDEM_SOCK_H

#include "cfg-t.h"

/* sock_listen: a non-blocking TCP listener on A, with SO_REUSEADDR and, when
 * REUSEPORT, SO_REUSEPORT (one listener per worker, the kernel spreads
 * connections). Returns the fd or -errno. */
int sock_listen(const struct cfg_addr *a, int reuseport, int backlog);

/* sock_connect: starts a non-blocking connect to A; MSS > 0 clamps the
 * connection's MSS (TCP_MAXSEG before connect: the MSS option of its SYN,
 * so the peer's segments are at most that). Returns the fd (the
 * connection may still be in progress) or -errno. */
int sock_connect(const struct cfg_addr *a, int mss);

/* Bytes a socket may hold written but not yet sent (TCP_NOTSENT_LOWAT).
 * Without a bound the kernel's send buffer takes up to 4 MiB of a body at
 * once, and the peer's ACKs then send it, in softirq on whatever CPU takes
 * them: on loopback the client's. bench/relay A/B against the build
 * without it (TANDEM_BASE, bench/results/relay_lowat_ab*.csv), 4 MiB
 * bodies, splice, the client on CPU 0 (the bottleneck there): medians 399
 * and 334 req/s against 257 and 259 (HAProxy 356 and 336), box CPU per GB
 * 1.09 and 1.26 against 1.53 and 1.52, the proxy's own 0.50 against 0.38
 * s/GB (more, smaller writes); 256 KiB 1.05x, 16 KiB 1.07x req/s. */
#define SOCK_NOTSENT_LOWAT (256 << 10)

/* sock_tune: TCP_NODELAY and SOCK_NOTSENT_LOWAT on an accepted or
 * connected socket. */
void sock_tune(int fd);

/* sock_addr_text: "IP" of a peer address, into OUT (at least 64 bytes). */
void sock_addr_text(const struct sockaddr_storage *ss, char *out, size_t cap);

#endif
