/* tls: HTTPS termination with OpenSSL 3: the contexts one configuration
 * needs (the default certificate, more chosen by SNI, the session ticket
 * keys every node shares) and the TLS transport of the connection layer,
 * so that sessions read and write a TLS client as they do a plain one. */
#ifndef TANDEM_TLS_H
#define TANDEM_TLS_H

#include <stddef.h>
#include <stdio.h>

#include "cfg-t.h"
#include "conn-t.h"

extern const struct conn_xprt conn_tls;

/* Why a handshake failed (tandem_tls_handshake_failures_total{reason}). */
enum tls_fail {
	TLS_F_HTTP,             /* plain HTTP on the TLS port (answered 400) */
	TLS_F_PROTOCOL,         /* a malformed or unacceptable ClientHello, no shared version or cipher */
	TLS_F_SNI,              /* a name no certificate is for, with unknown_sni = refuse */
	TLS_F_CLOSED,           /* the client closed or reset inside the handshake */
	TLS_F_OTHER,
	TLS_F_COUNT
};

const char *tls_fail_name(int reason);

/* tls_load: builds the contexts of C's [tls] sections into c->tls_set when
 * its node SELF (NULL: any node) has a tls listener: certificates and keys
 * read and matched, SNI names, the ticket key file. Every problem goes to
 * ERRS as FILE:LINE: reason and counts in *NERR. Returns 0 (also when no
 * TLS is configured), or -EINVAL. */
int tls_load(struct cfg *c, const struct cfg_node *self, FILE *errs, int *nerr);

/* tls_free: drops the configuration's reference to its contexts; a
 * connection still in a handshake or a session keeps them alive. */
void tls_free(struct tls_set *t);

/* tls_probe_ktls: 0 when the kernel's `tls` ULP can be set on a connected
 * loopback TCP socket, else -errno with a reason in WHY. */
int tls_probe_ktls(char *why, size_t whylen);

/* conn_tls_start: C, an accepted socket, becomes a TLS server connection of
 * the contexts T (conn_init's C, before conn_add). 0 or -ENOMEM. */
int conn_tls_start(struct conn *c, struct tls_set *t);

/* conn_handshake: runs C's TLS handshake on. First it peeks at the
 * client's first bytes: a plain HTTP request (a method token and a space,
 * no TLS record) fails with TLS_F_HTTP, and C is a plain TCP connection
 * from then on, its bytes still unread, for an answer in clear. Returns 1
 * once it is done, 0 when it waits for the socket (also for enough bytes
 * to tell), -1 when it failed (*WHY: TLS_F_*). */
int conn_handshake(struct conn *c, int *why);

/* conn_tls_resumed: 1 when C's handshake resumed a session (a ticket). */
int conn_tls_resumed(const struct conn *c);

static inline int conn_is_tls(const struct conn *c)
{
	return c->xp == &conn_tls;
}

#endif
