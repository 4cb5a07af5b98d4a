/* tls: the TLS side of a node's L7 switch (tls.h). One configuration's
 * contexts are a struct tls_set hung on its default SSL_CTX (ex_data), so
 * OpenSSL's reference counts keep them alive for as long as a connection
 * made from them lives, whatever reloads happen meanwhile: a reload builds
 * a new set, the old one goes with its last connection.
 *
 * The transport reads and writes with non-blocking SSL_read/SSL_write. A
 * read returns at most one record, so a short read says nothing of the
 * socket (conn_tls is not `plain`); WANT_READ is EAGAIN. A read that must
 * write (or a write that must read) waits for the other direction's edge
 * (CONN_W_*, conn.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "tls.h"

#define TLS_MAX_KEYS 8

/* One session ticket key: a line of the ticket key file. */
struct tls_tkey {
	unsigned char name[16], hmac[32], aes[32];
};

struct tls_set {
	SSL_CTX *def;                   /* [tls]; owns this set (ex_data) */
	const char *def_hosts;          /* points into hosts[0] */
	char hosts[CFG_MAX_CERTS + 1][512];
	SSL_CTX *sni[CFG_MAX_CERTS];    /* [tls NAME], in file order */
	int nsni;
	int refuse_unknown;
	struct tls_tkey keys[TLS_MAX_KEYS];     /* the first encrypts, all decrypt */
	int nkeys;
};

/* A configuration error: FILE:LINE: reason on ERRS, counted in *NERR. */
#define tls_err(errs, nerr, c, line, ...) do { \
	(*(nerr))++; \
	if (errs) { \
		fprintf((errs), "%s:%d: ", (c)->file, (line)); \
		fprintf((errs), __VA_ARGS__); \
		fputc('\n', (errs)); \
	} \
} while (0)

/* A context's OCSP response (DER), stapled to every handshake that asks. */
struct tls_ocsp {
	unsigned char *der;
	long len;
};

static int tls_idx = -1;        /* the set's ex_data index on its default SSL_CTX */
static int tls_oidx = -1;       /* a context's struct tls_ocsp */
static int tls_sidx = -1;       /* ... and on each SSL made from it */

static const char *const fail_names[TLS_F_COUNT] = {
	[TLS_F_HTTP] = "http", [TLS_F_PROTOCOL] = "protocol", [TLS_F_SNI] = "sni",
	[TLS_F_CLOSED] = "closed", [TLS_F_OTHER] = "other",
};

const char *tls_fail_name(int reason)
{
	return reason >= 0 && reason < TLS_F_COUNT ? fail_names[reason] : "other";
}

/* ---- contexts ----------------------------------------------------------- */

static void tls_set_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_set *t = ptr;

	if (!t)
		return;
	for (int i = 0; i < t->nsni; i++)
		SSL_CTX_free(t->sni[i]);
	OPENSSL_cleanse(t->keys, sizeof(t->keys));
	free(t);
}

static void tls_ocsp_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_ocsp *o = ptr;

	if (o) {
		OPENSSL_free(o->der);
		free(o);
	}
}

/* OCSP stapling: the response of the context the handshake ended up with
 * (SNI may have switched it), a copy for OpenSSL to free. */
static int tls_status(SSL *s, void *arg)
{
	struct tls_ocsp *o = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), tls_oidx);
	unsigned char *copy;

	if (!o)
		return SSL_TLSEXT_ERR_NOACK;
	copy = OPENSSL_memdup(o->der, o->len);
	if (!copy || SSL_set_tlsext_status_ocsp_resp(s, copy, o->len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* K's OCSP response file into context X: a DER OCSP response (as `openssl
 * ocsp -respout` writes it), at most 64 KiB. 0, or -1 with the error
 * reported. */
static int tls_ocsp_load(const struct cfg *c, const struct cfg_cert *k, SSL_CTX *x, FILE *errs, int *nerr)
{
	struct tls_ocsp *o = calloc(1, sizeof(*o));
	FILE *f = fopen(k->ocsp, "rb");
	OCSP_RESPONSE *r = NULL;
	const unsigned char *p;

	if (!o || !f) {
		tls_err(errs, nerr, c, k->ocsp_line, "ocsp %s: %s", k->ocsp, f ? "out of memory" : strerror(errno));
		goto fail;
	}
	o->der = OPENSSL_malloc(65536);
	o->len = o->der ? (long)fread(o->der, 1, 65536, f) : 0;
	p = o->der;
	if (o->len > 0 && o->len < 65536)
		r = d2i_OCSP_RESPONSE(NULL, &p, o->len);
	if (!r) {
		tls_err(errs, nerr, c, k->ocsp_line, "ocsp %s: not a DER OCSP response", k->ocsp);
		goto fail;
	}
	OCSP_RESPONSE_free(r);
	fclose(f);
	SSL_CTX_set_ex_data(x, tls_oidx, o);
	SSL_CTX_set_tlsext_status_cb(x, tls_status);
	return 0;
fail:
	if (f)
		fclose(f);
	if (o)
		OPENSSL_free(o->der);
	free(o);
	return -1;
}

void tls_free(struct tls_set *t)
{
	if (t)
		SSL_CTX_free(t->def);   /* the set goes with the context's last reference */
}

/* NAME against one hosts list: exact names, and `*.domain` for one label
 * more than domain. Case-insensitive (DNS). */
static int tls_hosts_match(const char *hosts, const char *name)
{
	size_t nl = strlen(name);
	const char *p = hosts;

	while (*p) {
		const char *e;
		size_t l;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != ','; e++)
			;
		l = e - p;
		if (l && l == nl && !strncasecmp(p, name, l))
			return 1;
		if (l > 2 && p[0] == '*' && p[1] == '.' && nl > l - 1) {
			const char *dot = strchr(name, '.');

			/* the wildcard stands for exactly one label */
			if (dot && (size_t)(dot - name) == nl - (l - 1) && !strncasecmp(dot, p + 1, l - 1))
				return 1;
		}
		p = e;
	}
	return 0;
}

/* SNI: the certificate whose hosts name the client asked for. */
static int tls_servername(SSL *s, int *alert, void *arg)
{
	struct tls_set *t = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	struct conn *c = SSL_get_app_data(s);

	if (!name)
		return SSL_TLSEXT_ERR_OK;       /* no SNI: the default certificate */
	for (int i = 0; i < t->nsni; i++)
		if (tls_hosts_match(t->hosts[i + 1], name)) {
			SSL_set_SSL_CTX(s, t->sni[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	if (!t->refuse_unknown || (t->def_hosts[0] && tls_hosts_match(t->def_hosts, name)))
		return SSL_TLSEXT_ERR_OK;
	if (c)
		c->why = TLS_F_SNI + 1;
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ALPN: http/1.1 when offered; a client offering only others goes on
 * without ALPN (and may close). */
static int tls_alpn(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		    unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, h1, sizeof(h1) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Session tickets with the shared keys (OpenSSL 3's EVP callback):
 * AES-256-CBC and HMAC-SHA256, as OpenSSL's own tickets. A ticket that
 * decrypts, under any key of the file, is renewed under the current one. */
static int tls_ticket(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
		      EVP_MAC_CTX *hctx, int enc)
{
	struct tls_set *t = SSL_get_ex_data(s, tls_sidx);
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	const struct tls_tkey *k;
	int i;

	if (!t || !t->nkeys)
		return -1;
	if (enc) {
		k = &t->keys[0];
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(name, k->name, 16);
		if (EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
		    EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1)
			return -1;
		return 1;
	}
	for (i = 0; i < t->nkeys && memcmp(name, t->keys[i].name, 16); i++)
		;
	if (i == t->nkeys)
		return 0;               /* not ours (any more): a full handshake */
	k = &t->keys[i];
	if (EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1 ||
	    EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
		return -1;
	/* 2, a new ticket on every resumption, under the current key: in TLS
	 * 1.3 OpenSSL sends none after a resumed handshake otherwise, and a
	 * client that uses a ticket once (RFC 8446, C.4) then needs a full
	 * handshake every other connection; a client with Nagle on also waits
	 * a delayed ACK for its request, which no ticket flight carried
	 * (bench/tls: 82 resumptions a second, 54 ms p99, against 450) */
	return 2;
}

/* What OpenSSL said last, for a message. */
static const char *tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

#define TLS_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* A context for the certificate K, or NULL with the errors reported. */
static SSL_CTX *tls_ctx_new(const struct cfg *c, const struct cfg_cert *k, FILE *errs, int *nerr)
{
	static const unsigned char sid[] = "tandem";
	SSL_CTX *x = SSL_CTX_new(TLS_server_method());
	const char *sec = k->name[0] ? k->name : NULL;
	X509 *crt;

	if (!x) {
		tls_err(errs, nerr, c, k->line, "SSL_CTX_new: %s", tls_reason());
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
	/* TLS 1.2: forward secret AEAD suites only (TLS 1.3 has nothing else),
	 * unless [tls] ciphers says otherwise; TLS 1.3: OpenSSL's three unless
	 * [tls] ciphersuites names some. A list OpenSSL takes nothing from is
	 * an error at its line. */
	if (SSL_CTX_set_cipher_list(x, c->tls.ciphers[0] ? c->tls.ciphers : TLS_CIPHERS) != 1) {
		tls_err(errs, nerr, c, c->tls.ciphers_line, "[tls] ciphers %s: %s", c->tls.ciphers,
			tls_reason());
		goto fail;
	}
	if (c->tls.ciphersuites[0] && SSL_CTX_set_ciphersuites(x, c->tls.ciphersuites) != 1) {
		tls_err(errs, nerr, c, c->tls.suites_line, "[tls] ciphersuites %s: %s",
			c->tls.ciphersuites, tls_reason());
		goto fail;
	}
	/* no renegotiation (a client could make us do handshakes at will);
	 * an EOF without close_notify ends the stream as clients of HTTP/1.1
	 * do it (a request's length is always framed) */
	SSL_CTX_set_options(x, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
			    SSL_OP_NO_COMPRESSION);
	/* partial writes, and a retried write from a buffer that moved
	 * (compaction) with the same bytes */
	SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_RELEASE_BUFFERS);
	/* resumption by tickets only: a session cache is per process, a
	 * ticket is good on every node that has the key */
	SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(x, sid, sizeof(sid) - 1);
	SSL_CTX_set_alpn_select_cb(x, tls_alpn, NULL);
	if (SSL_CTX_use_certificate_chain_file(x, k->cert) != 1) {
		tls_err(errs, nerr, c, k->cert_line, "[tls%s%s] cert %s: %s", sec ? " " : "", sec ? sec : "",
			k->cert, tls_reason());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(x, k->key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		tls_err(errs, nerr, c, k->key_line, "[tls%s%s] key %s: %s", sec ? " " : "", sec ? sec : "",
			k->key, tls_reason());
		goto fail;
	}
	/* a key of another certificate: use_PrivateKey says "key values
	 * mismatch", check_private_key catches the rest */
	if (ERR_peek_last_error() || SSL_CTX_check_private_key(x) != 1) {
		tls_err(errs, nerr, c, k->key_line, "[tls%s%s] key %s does not match cert %s",
			sec ? " " : "", sec ? sec : "", k->key, k->cert);
		goto fail;
	}
	crt = SSL_CTX_get0_certificate(x);
	if (crt && X509_cmp_current_time(X509_get0_notAfter(crt)) < 0) {
		tls_err(errs, nerr, c, k->cert_line, "[tls%s%s] cert %s has expired", sec ? " " : "",
			sec ? sec : "", k->cert);
		goto fail;
	}
	if (k->ocsp[0] && tls_ocsp_load(c, k, x, errs, nerr))
		goto fail;
	return x;
fail:
	ERR_clear_error();
	SSL_CTX_free(x);
	return NULL;
}

static int tls_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* The ticket key file: one key a line, 160 hex digits (80 bytes: a 16-byte
 * name, the 32-byte HMAC key, the 32-byte AES key: `openssl rand -hex 80`),
 * the first line the key new tickets get, the others still accepted;
 * blank lines and lines starting with # are skipped. */
static void tls_keys_load(const struct cfg *c, struct tls_set *t, FILE *errs, int *nerr)
{
	const char *path = c->tls.ticket_keys;
	int line = 0, bad = 0;
	char l[512];
	FILE *f = fopen(path, "r");

	if (!f) {
		tls_err(errs, nerr, c, c->tls.ticket_line, "ticket_keys %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(l, sizeof(l), f)) {
		unsigned char raw[80];
		size_t n = strcspn(l, "\r\n");
		char *p = l;

		line++;
		l[n] = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		n = strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = 0;
		if (!n || *p == '#')
			continue;
		if (t->nkeys == TLS_MAX_KEYS) {
			tls_err(errs, nerr, c, c->tls.ticket_line, "ticket_keys %s:%d: more than %d keys",
				path, line, TLS_MAX_KEYS);
			bad = 1;
			break;
		}
		for (size_t i = 0; n == 160 && i < 80; i++) {
			int hi = tls_hex(p[2 * i]), lo = tls_hex(p[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				n = 0;
				break;
			}
			raw[i] = hi << 4 | lo;
		}
		if (n != 160) {
			tls_err(errs, nerr, c, c->tls.ticket_line, "ticket_keys %s:%d: not a key (160 hex "
				"digits: openssl rand -hex 80)", path, line);
			bad = 1;
			continue;
		}
		memcpy(t->keys[t->nkeys].name, raw, 16);
		memcpy(t->keys[t->nkeys].hmac, raw + 16, 32);
		memcpy(t->keys[t->nkeys].aes, raw + 48, 32);
		t->nkeys++;
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	OPENSSL_cleanse(l, sizeof(l));
	fclose(f);
	if (!t->nkeys && !bad)
		tls_err(errs, nerr, c, c->tls.ticket_line, "ticket_keys %s: no key in it", path);
}

int tls_load(struct cfg *c, const struct cfg_node *self, FILE *errs, int *nerr)
{
	struct tls_set *t;
	int before = *nerr, any = 0;

	for (int i = 0; i < c->nnodes; i++)
		any |= c->nodes[i].tls.len && (!self || !strcmp(self->name, c->nodes[i].name));
	if (!any)
		return 0;
	if (!c->tls.def.cert[0]) {
		/* a reload that dropped [tls] under a running listener */
		tls_err(errs, nerr, c, 1, "node '%s' listens for TLS (until a restart) but [tls] names "
			"no cert and key", self ? self->name : "?");
		return -EINVAL;
	}
	if (tls_idx < 0) {
		tls_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_set_free);
		tls_sidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		tls_oidx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_ocsp_free);
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		tls_err(errs, nerr, c, c->tls.line, "out of memory");
		return -EINVAL;
	}
	t->def = tls_ctx_new(c, &c->tls.def, errs, nerr);
	if (!t->def) {
		free(t);
		return -EINVAL;
	}
	/* from here on the context owns T */
	SSL_CTX_set_ex_data(t->def, tls_idx, t);
	snprintf(t->hosts[0], sizeof(t->hosts[0]), "%s", c->tls.def.hosts);
	t->def_hosts = t->hosts[0];
	t->refuse_unknown = c->tls.refuse_unknown;
	for (int i = 0; i < c->tls.nsni; i++) {
		SSL_CTX *x = tls_ctx_new(c, &c->tls.sni[i], errs, nerr);

		if (!x)
			continue;
		t->sni[t->nsni] = x;
		snprintf(t->hosts[t->nsni + 1], sizeof(t->hosts[0]), "%s", c->tls.sni[i].hosts);
		t->nsni++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->def, tls_servername);
	SSL_CTX_set_tlsext_servername_arg(t->def, t);
	if (c->tls.ticket_keys[0]) {
		tls_keys_load(c, t, errs, nerr);
		/* tickets are made and read by the context the handshake
		 * began with (the default one, whatever SNI chose) */
		SSL_CTX_set_tlsext_ticket_key_evp_cb(t->def, tls_ticket);
	}
	if (*nerr != before) {
		SSL_CTX_free(t->def);
		return -EINVAL;
	}
	c->tls_set = t;
	return 0;
}

int tls_probe_ktls(char *why, size_t whylen)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = -1, s = -1, r = 0;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || s < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len) || connect(s, (struct sockaddr *)&a, len)) {
		r = -errno;
		snprintf(why, whylen, "a loopback connection to probe with: %s", strerror(errno));
		goto out;
	}
	/* the ULP needs an established socket; ENOENT: no tls module */
	if (setsockopt(s, SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		r = -errno;
		snprintf(why, whylen, "setsockopt(TCP_ULP, \"tls\") failed: %s", strerror(errno));
	}
out:
	if (s >= 0)
		close(s);
	if (l >= 0)
		close(l);
	return r;
}

/* ---- the transport ------------------------------------------------------ */

int conn_tls_start(struct conn *c, struct tls_set *t)
{
	SSL *s = SSL_new(t->def);

	if (!s)
		return -ENOMEM;
	if (SSL_set_fd(s, c->io.fd) != 1) {
		SSL_free(s);
		return -ENOMEM;
	}
	SSL_set_accept_state(s);
	SSL_set_app_data(s, c);
	SSL_set_ex_data(s, tls_sidx, t);  /* alive as long as S: S holds t->def */
	c->ssl = s;
	c->xp = &conn_tls;
	return 0;
}

/* What SSL_get_error says of a read (WRITE 0) or write that returned K:
 * -1 with errno set (EAGAIN for the wants, CONN_W_* noted), or 0 at the
 * end of stream. */
static ssize_t tls_result(struct conn *c, int k, int write)
{
	int e = SSL_get_error(c->ssl, k);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (write)              /* wait for the peer's bytes */
			c->want |= CONN_W_WR_RD;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (!write)             /* wait for room */
			c->want |= CONN_W_RD_WR;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		c->fatal = 1;
		ERR_clear_error();
		if (!errno)
			return 0;       /* EOF */
		return -1;
	default:
		c->fatal = 1;
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

static ssize_t tls_recv(struct conn *c, void *p, size_t n)
{
	int k;

	ERR_clear_error();
	errno = 0;
	k = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (k > 0)
		return k;
	return tls_result(c, k, 0);
}

static ssize_t tls_send(struct conn *c, const void *p, size_t n)
{
	int k;

	ERR_clear_error();
	errno = 0;
	k = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
	if (k > 0)
		return k;
	if (tls_result(c, k, 1) == 0) {
		errno = EPIPE;
		return -1;
	}
	return -1;
}

/* close_notify (best effort: never waits), then the TCP write side */
static void tls_shutw(struct conn *c)
{
	if (!c->fatal && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	shutdown(c->io.fd, SHUT_WR);
}

static void tls_close(struct conn *c)
{
	if (!c->fatal && SSL_is_init_finished(c->ssl) && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->io.fd);
}

const struct conn_xprt conn_tls = {
	.name = "tls",
	.plain = 0,
	.recv = tls_recv,
	.send = tls_send,
	.shutw = tls_shutw,
	.close = tls_close,
};

/* A TLS client begins with a handshake record (0x16); a browser or curl
 * sent to the wrong scheme begins with "METHOD ". The longest method this
 * waits for: WebDAV's BASELINE-CONTROL. */
#define TLS_SNIFF_METHOD 16

/* RFC 9110's tchar: what a method token is made of. */
static int tls_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Looks at C's first bytes, leaving them in the socket for OpenSSL or for
 * the answer's lingering read. Returns 1 when they are plain HTTP (a
 * method token and a space), 0 when they are anything else (TLS, or what
 * OpenSSL refuses as today), -EAGAIN while too few have come to tell. */
static int tls_sniff(struct conn *c)
{
	unsigned char p[TLS_SNIFF_METHOD + 1];
	ssize_t n;
	int i;

	/* MSG_PEEK leaves the bytes queued: the next edge comes with the
	 * next segment, so waiting for more never spins */
	n = recv(c->io.fd, p, sizeof(p), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->rd = 0;
		return -EAGAIN;
	}
	if (n <= 0 || p[0] == 0x16)
		return 0;       /* an error or the end for OpenSSL to classify, or TLS */
	for (i = 0; i < n && tls_tchar(p[i]); i++)
		;
	if (i < n)
		return i > 0 && p[i] == ' ';
	if (n == (ssize_t)sizeof(p) || c->rd == 2)
		return 0;       /* too long for a method, or no more bytes will come */
	c->rd = 0;
	return -EAGAIN;
}

/* C leaves TLS: its SSL freed before it wrote a byte, a plain TCP
 * connection from now on. */
static void tls_to_plain(struct conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->xp = &conn_tcp;
	c->want = c->fatal = 0;
}

int conn_handshake(struct conn *c, int *why)
{
	unsigned long e;
	int k, err;

	if (!c->sniffed) {
		k = tls_sniff(c);
		if (k == -EAGAIN)
			return 0;
		c->sniffed = 1;
		if (k == 1) {
			tls_to_plain(c);
			*why = TLS_F_HTTP;
			return -1;
		}
	}
	ERR_clear_error();
	errno = 0;
	k = SSL_do_handshake(c->ssl);
	if (k == 1)
		return 1;
	err = SSL_get_error(c->ssl, k);
	if (err == SSL_ERROR_WANT_READ) {
		c->rd = 0;
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		c->wr = 0;
		return 0;
	}
	c->fatal = 1;
	e = ERR_peek_error();
	if (c->why)
		*why = c->why - 1;
	else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN ||
		 (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		*why = TLS_F_CLOSED;
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
		*why = TLS_F_PROTOCOL;  /* "GET " etc. past what tls_sniff saw */
	else if (err == SSL_ERROR_SSL)
		*why = TLS_F_PROTOCOL;
	else
		*why = TLS_F_OTHER;
	ERR_clear_error();
	return -1;
}

int conn_tls_resumed(const struct conn *c)
{
	return c->ssl && SSL_session_reused(c->ssl);
}
