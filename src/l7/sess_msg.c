/* sess_msg: the heads the switch writes: the request head for the
 * upstream and the response head for the client, re-serialised from the
 * parsed message (never the peer's raw bytes) with the hop-by-hop fields
 * this hop owns, and the status texts of the switch's own answers. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "h1.h"
#include "sess.h"
#include "tls.h"

static int buf_putstr(struct buf *b, struct h1_str s)
{
	return buf_put(b, s.p, s.len);
}

const char *sess_status_text(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Error";
	}
}

/* ---- head serialisation ----------------------------------------------- */

/* Headers the switch owns hop by hop (RFC 9110 section 7.6.1): never copied
 * from one side to the other, re-emitted as this hop needs them. */
static int hop_by_hop(struct h1_str name)
{
	switch (name.len) {
	case 2:  return h1_str_ieq(name, "te");
	case 7:  return h1_str_ieq(name, "upgrade");
	case 10: return h1_str_ieq(name, "connection") || h1_str_ieq(name, "keep-alive");
	case 16: return h1_str_ieq(name, "proxy-connection");
	case 17: return h1_str_ieq(name, "transfer-encoding");
	default: return 0;
	}
}

/* Names listed in Connection (other than close/keep-alive/upgrade) are
 * hop-by-hop too. Collects at most 8 of them from M into NOM. */
static int nominated(const struct h1_msg *m, struct h1_str *nom, int max)
{
	int n = 0;

	for (int i = h1_hdr_find(m, "connection", 0); i >= 0; i = h1_hdr_find(m, "connection", i + 1)) {
		const char *p = m->hdrs[i].value.p, *end = p + m->hdrs[i].value.len;

		while (p < end && n < max) {
			const char *t;
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			t = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if (p > t) {
				struct h1_str tok = { t, (uint32_t)(p - t) };
				if (!h1_str_ieq(tok, "close") && !h1_str_ieq(tok, "keep-alive") &&
				    !h1_str_ieq(tok, "upgrade"))
					nom[n++] = tok;
			}
		}
	}
	return n;
}

static int is_nominated(struct h1_str name, const struct h1_str *nom, int n)
{
	for (int i = 0; i < n; i++)
		if (nom[i].len == name.len && !strncasecmp(nom[i].p, name.p, name.len))
			return 1;
	return 0;
}

/* Writes the canonical request head for the upstream into OUT. */
int sess_write_request(struct sess *s, const struct h1_msg *m, struct buf *out)
{
	struct h1_str nom[8];
	int nnom = nominated(m, nom, 8), xff = 0, e = 0;
	char line[64];

	e |= buf_putstr(out, m->method);
	e |= buf_put(out, " ", 1);
	e |= buf_putstr(out, m->target);
	/* an HTTP/1.0 client's request goes up as 1.0 too, so the server never
	 * answers it with a chunked body the client could not read */
	e |= buf_puts(out, s->client_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (hop_by_hop(h->name) || is_nominated(h->name, nom, nnom))
			continue;
		if (h->name.len == 14 && h1_str_ieq(h->name, "content-length"))
			continue;
		/* the scheme is this hop's to say: a client's would let a
		 * plain request pass for HTTPS */
		if (h->name.len == 17 && h1_str_ieq(h->name, "x-forwarded-proto"))
			continue;
		if (h->name.len == 15 && h1_str_ieq(h->name, "x-forwarded-for")) {
			e |= buf_puts(out, xff++ ? ", " : "X-Forwarded-For: ");
			e |= buf_putstr(out, h->value);
			continue;
		}
		e |= buf_putstr(out, h->name);
		e |= buf_put(out, ": ", 2);
		e |= buf_putstr(out, h->value);
		e |= buf_put(out, "\r\n", 2);
	}
	/* the X-Forwarded-For values of the client stay together, ours last */
	e |= buf_puts(out, xff ? ", " : "X-Forwarded-For: ");
	e |= buf_puts(out, s->peer);
	e |= buf_put(out, "\r\n", 2);
	e |= buf_puts(out, conn_is_tls(&s->c) ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
	if (m->body == H1_BODY_CHUNKED) {
		e |= buf_puts(out, "Transfer-Encoding: chunked\r\n");
	} else if (m->body == H1_BODY_LENGTH) {
		snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
			 (unsigned long long)m->content_length);
		e |= buf_puts(out, line);
	}
	if (s->upgrade) {
		int u = h1_hdr_find(m, "upgrade", 0);
		e |= buf_puts(out, "Connection: upgrade\r\nUpgrade: ");
		e |= buf_putstr(out, m->hdrs[u].value);
		e |= buf_put(out, "\r\n", 2);
	} else if (!s->client_minor) {
		e |= buf_puts(out, "Connection: keep-alive\r\n");
	}
	e |= buf_put(out, "\r\n", 2);
	return e ? -ENOSPC : 0;
}

/* Writes the response head for the client into OUT. */
int sess_write_response(struct sess *s, const struct h1_msg *m, struct buf *out)
{
	struct h1_str nom[8];
	int nnom = nominated(m, nom, 8), e = 0;
	char line[32];

	snprintf(line, sizeof(line), "HTTP/1.1 %03d ", m->status);
	e |= buf_puts(out, line);
	e |= buf_putstr(out, m->reason);
	e |= buf_put(out, "\r\n", 2);
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		/* Transfer-Encoding is kept: the body is relayed as framed */
		if ((hop_by_hop(h->name) && !(h->name.len == 17)) ||
		    is_nominated(h->name, nom, nnom))
			continue;
		e |= buf_putstr(out, h->name);
		e |= buf_put(out, ": ", 2);
		e |= buf_putstr(out, h->value);
		e |= buf_put(out, "\r\n", 2);
	}
	if (m->status == 101) {
		int u = h1_hdr_find(m, "upgrade", 0);
		e |= buf_puts(out, "Connection: upgrade\r\n");
		if (u >= 0) {
			e |= buf_puts(out, "Upgrade: ");
			e |= buf_putstr(out, m->hdrs[u].value);
			e |= buf_put(out, "\r\n", 2);
		}
	} else if (m->status >= 200) {
		if (!s->keepalive)
			e |= buf_puts(out, "Connection: close\r\n");
		else if (!s->client_minor)
			e |= buf_puts(out, "Connection: keep-alive\r\n");
	}
	e |= buf_put(out, "\r\n", 2);
	return e ? -ENOSPC : 0;
}
