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

/* sock_tune: TCP_NODELAY on an accepted or connected socket. */
void sock_tune(int fd);

/* sock_addr_text: "IP" of a peer address, into OUT (at least 64 bytes). */
void sock_addr_text(const struct sockaddr_storage *ss, char *out, size_t cap);

#endif
