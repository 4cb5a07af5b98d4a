/* h1: a strict HTTP/1.1 head parser and chunked-body decoder (RFC 9110,
 * RFC 9112). It owns no memory: every view points into the caller's buffer.
 * A head is parsed in one pass, byte after byte from the start of the buffer;
 * a call on a longer buffer starts again (heads are small and bounded by the
 * caller). Each byte is judged only from the bytes before it, and the first
 * offending byte in buffer order is the one reported, so a prefix of the input
 * says "incomplete" or gives exactly the error the whole input gives, however
 * the bytes were split. Checks that need the whole head (Host missing) come
 * last. Everything a request smuggler would use to make two parsers disagree
 * on framing is refused rather than repaired. Choices beyond the RFC: a
 * Transfer-Encoding other than exactly one "chunked" (even "gzip, chunked")
 * is refused, as is Transfer-Encoding in an HTTP/1.0 message; a response with
 * both Content-Length and Transfer-Encoding is refused like a request; empty
 * lines before a request line are not skipped; userinfo ('@') in a target's
 * authority is refused; chunk extensions must follow the RFC grammar. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "h1.h"

/* RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
static const uint8_t h1_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* Bytes allowed inside a field value or reason phrase: HTAB, SP, VCHAR,
 * obs-text. Everything else (NUL, CR, LF, other CTLs, DEL) ends the scan. */
static const uint8_t h1_vchar[256] = {
	['\t'] = 1, [0x20 ... 0x7e] = 1, [0x80 ... 0xff] = 1,
};

/* Bytes of a request-target: visible ASCII (RFC 3986 characters and a few
 * more that browsers send unescaped; the origin sees the same bytes). */
static const uint8_t h1_target[256] = {
	[0x21 ... 0x7e] = 1,
};

/* Bytes of an authority (host, ':', port, IP literal): unreserved,
 * sub-delims, '%', ':', '[', ']'. No '@': userinfo is refused. */
static const uint8_t h1_auth[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1,
	['='] = 1, ['%'] = 1, [':'] = 1, ['['] = 1, [']'] = 1,
};

#define H1_CL_MAX               (1ULL << 62)
#define H1_CHUNK_EXT_MAX        4096    /* bytes of extensions on one size line */
#define H1_CHUNK_LINE_MAX       8192    /* bytes of one trailer field line */
#define H1_CHUNK_TRAILERS_MAX   65536   /* bytes of all trailer lines */

static inline unsigned char h1_lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* N bytes at P equal the lower-case ASCII string LC, ignoring case. */
static int h1_mem_ieq(const char *p, const char *lc, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (h1_lc(p[i]) != (unsigned char)lc[i])
			return 0;
	return 1;
}

/* h1_str_ieq: 1 when S equals CSTR, ASCII case ignored (locale plays no part),
 * else 0. */
int h1_str_ieq(struct h1_str s, const char *cstr)
{
	size_t n = strlen(cstr);

	if (s.len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (h1_lc(s.p[i]) != h1_lc(cstr[i]))
			return 0;
	return 1;
}

/* h1_hdr_find: index of the first header named NAME (ASCII case ignored) at
 * index FROM or later, or -1. */
int h1_hdr_find(const struct h1_msg *m, const char *name, unsigned from)
{
	size_t n = strlen(name);

	for (unsigned i = from; i < m->nhdrs; i++) {
		struct h1_str s = m->hdrs[i].name;

		if (s.len == n && h1_lc(s.p[0]) == h1_lc(name[0]) && h1_str_ieq(s, name))
			return i;
	}
	return -1;
}

/* h1_err_name: a short snake_case name for E, stable across versions (it is a
 * metrics label); "unknown" for a value outside the enum. */
const char *h1_err_name(enum h1_err e)
{
	static const char *names[H1_E_COUNT] = {
		[H1_OK] = "ok",
		[H1_E_METHOD] = "method",
		[H1_E_TARGET] = "target",
		[H1_E_VERSION] = "version",
		[H1_E_STATUS] = "status",
		[H1_E_HDR_NAME] = "header_name",
		[H1_E_HDR_VALUE] = "header_value",
		[H1_E_WS_COLON] = "ws_before_colon",
		[H1_E_OBS_FOLD] = "obs_fold",
		[H1_E_BARE_LF] = "bare_lf",
		[H1_E_BARE_CR] = "bare_cr",
		[H1_E_TOO_MANY_HDRS] = "too_many_headers",
		[H1_E_CL] = "content_length",
		[H1_E_TE] = "transfer_encoding",
		[H1_E_CL_TE] = "cl_te",
		[H1_E_HOST] = "host",
		[H1_E_CHUNK_SIZE] = "chunk_size",
		[H1_E_CHUNK_CRLF] = "chunk_crlf",
		[H1_E_TRAILER] = "trailer",
	};

	return (unsigned)e < H1_E_COUNT && names[e] ? names[e] : "unknown";
}

/* h1_method_idempotent: 1 for GET, HEAD, PUT, DELETE, OPTIONS and TRACE
 * (RFC 9110 9.2.2), else 0. Methods are case-sensitive: "get" is not GET. */
int h1_method_idempotent(struct h1_str m)
{
	switch (m.len) {
	case 3:
		return !memcmp(m.p, "GET", 3) || !memcmp(m.p, "PUT", 3);
	case 4:
		return !memcmp(m.p, "HEAD", 4);
	case 5:
		return !memcmp(m.p, "TRACE", 5);
	case 6:
		return !memcmp(m.p, "DELETE", 6);
	case 7:
		return !memcmp(m.p, "OPTIONS", 7);
	}
	return 0;
}

/* ---- heads ------------------------------------------------------------- */

static int h1_fail(struct h1_msg *m, enum h1_err e, const char *at, const char *buf)
{
	m->err = e;
	m->err_off = (uint32_t)(at - buf);
	return -1;
}

/* At *PP a line must end with CRLF. Returns 0 with *PP past it, -2 when the
 * buffer ends first, -1 for a bare LF, a CR not followed by LF, or any other
 * byte (reason OTHER). */
static int h1_eol(struct h1_msg *m, const char *buf, const char *end, const char **pp,
		  enum h1_err other)
{
	const char *p = *pp;

	if (p == end)
		return -2;
	if (*p == '\n')
		return h1_fail(m, H1_E_BARE_LF, p, buf);
	if (*p != '\r')
		return h1_fail(m, other, p, buf);
	if (p + 1 == end)
		return -2;
	if (p[1] != '\n')
		return h1_fail(m, H1_E_BARE_CR, p, buf);
	*pp = p + 2;
	return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" at *PP, judged byte by byte. 0, -2 or -1. */
static int h1_version(struct h1_msg *m, const char *buf, const char *end, const char **pp)
{
	static const char v[] = "HTTP/1.";
	const char *p = *pp;

	for (int i = 0; i < 7; i++, p++) {
		if (p == end)
			return -2;
		if (*p != v[i])
			return h1_fail(m, H1_E_VERSION, p, buf);
	}
	if (p == end)
		return -2;
	if (*p != '0' && *p != '1')
		return h1_fail(m, H1_E_VERSION, p, buf);
	m->minor = *p - '0';
	*pp = p + 1;
	return 0;
}

/* Content-Length: 1*DIGIT, or a list of identical values ("5, 5"). Every
 * element must be there (no empty one, no trailing comma). 0 or -1. */
static int h1_parse_cl(const char *p, const char *end, uint64_t *out)
{
	uint64_t first = 0;
	int have = 0;

	for (;;) {
		uint64_t v = 0;
		const char *d = p;

		while (p < end && *p >= '0' && *p <= '9') {
			unsigned k = *p++ - '0';

			if (v > (H1_CL_MAX - k) / 10)
				return -1;
			v = v * 10 + k;
		}
		if (p == d || (have && v != first))
			return -1;
		first = v;
		have = 1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		if (*p++ != ',')
			return -1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	*out = first;
	return 0;
}

/* Connection: a comma-separated list of tokens, OWS around each. */
static uint32_t h1_conn_flags(struct h1_str v)
{
	const char *p = v.p, *end = v.p + v.len;
	uint32_t f = 0;

	while (p < end) {
		const char *t, *te;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		t = p;
		while (p < end && *p != ',')
			p++;
		te = p;
		while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		switch (te - t) {
		case 5:
			if (h1_mem_ieq(t, "close", 5))
				f |= H1_F_CONN_CLOSE;
			break;
		case 7:
			if (h1_mem_ieq(t, "upgrade", 7))
				f |= H1_F_CONN_UPGRADE;
			break;
		case 10:
			if (h1_mem_ieq(t, "keep-alive", 10))
				f |= H1_F_CONN_KEEPALIVE;
			break;
		}
	}
	return f;
}

/* An authority (host[:port]) of N bytes at P; PORT says a port is required
 * (CONNECT). An IP literal is "[...]". 1 when acceptable. */
static int h1_authority_ok(const char *p, size_t n, int port)
{
	size_t i, colon = n, hostend;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		if (!h1_auth[(unsigned char)p[i]])
			return 0;
		if (p[i] == ':')
			colon = i;
	}
	if (p[0] == '[') {
		const char *rb = memchr(p, ']', n);

		if (!rb || rb == p + 1)
			return 0;
		hostend = rb + 1 - p;
		if (hostend != n && p[hostend] != ':')
			return 0;
		colon = hostend == n ? n : hostend;
	} else {
		hostend = colon;
		for (i = 0; i < hostend; i++)
			if (p[i] == ':' || p[i] == '[' || p[i] == ']')
				return 0;
	}
	if (!hostend)
		return 0;
	if (colon == n)
		return !port;
	/* port = 1..5 digits */
	if (n - colon - 1 < 1 || n - colon - 1 > 5)
		return 0;
	for (i = colon + 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* The four request-target forms of RFC 9112 3.2: origin-form ("/..."),
 * absolute-form ("scheme://authority[/...]"), authority-form (CONNECT only)
 * and asterisk-form (OPTIONS only). Bytes are already known to be visible
 * ASCII. 1 when the target suits the method. */
static int h1_target_ok(const struct h1_msg *m)
{
	const char *t = m->target.p;
	size_t n = m->target.len, i, a;

	if (m->flags & H1_F_CONNECT)
		return h1_authority_ok(t, n, 1);
	if (t[0] == '/')
		return 1;
	if (n == 1 && t[0] == '*')
		return m->method.len == 7 && !memcmp(m->method.p, "OPTIONS", 7);
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (h1_lc(t[0]) < 'a' || h1_lc(t[0]) > 'z')
		return 0;
	for (i = 1; i < n && t[i] != ':'; i++) {
		unsigned char c = h1_lc(t[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		      c == '.'))
			return 0;
	}
	if (n - i < 3 || t[i + 1] != '/' || t[i + 2] != '/')
		return 0;
	i += 3;
	for (a = i; a < n && t[a] != '/' && t[a] != '?' && t[a] != '#'; a++)
		;
	return h1_authority_ok(t + i, a - i, 0);
}

/* Header field lines from P up to and including the empty line that ends the
 * head. REQ: the message is a request (Host is checked). Returns the head
 * length, -2 or -1. */
static int h1_fields(struct h1_msg *m, const char *buf, const char *p, const char *end, int req)
{
	unsigned max = m->max_hdrs && m->max_hdrs < H1_MAX_HDRS ? m->max_hdrs : H1_MAX_HDRS;
	int r;

	for (;;) {
		const char *name, *colon, *v, *ve;
		struct h1_hdr *h;

		if (p == end)
			return -2;
		if (*p == '\r' || *p == '\n') {
			r = h1_eol(m, buf, end, &p, H1_E_HDR_NAME);
			if (r)
				return r;
			break;
		}
		if (*p == ' ' || *p == '\t')
			return h1_fail(m, H1_E_OBS_FOLD, p, buf);
		if (m->nhdrs == max)
			return h1_fail(m, H1_E_TOO_MANY_HDRS, p, buf);
		name = p;
		while (p < end && h1_tchar[(unsigned char)*p])
			p++;
		if (p == end)
			return -2;
		if (*p != ':') {
			if (p != name && (*p == ' ' || *p == '\t'))
				return h1_fail(m, H1_E_WS_COLON, p, buf);
			return h1_fail(m, H1_E_HDR_NAME, p, buf);
		}
		if (p == name)
			return h1_fail(m, H1_E_HDR_NAME, p, buf);
		colon = p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		v = p;
		while (p < end && h1_vchar[(unsigned char)*p])
			p++;
		ve = p;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		r = h1_eol(m, buf, end, &p, H1_E_HDR_VALUE);
		if (r)
			return r;

		h = &m->hdrs[m->nhdrs++];
		h->name.p = name;
		h->name.len = (uint32_t)(colon - name);
		h->value.p = v;
		h->value.len = (uint32_t)(ve - v);

		/* the few fields the proxy acts on, by length first */
		switch (h->name.len) {
		case 4:
			if (req && h1_mem_ieq(name, "host", 4)) {
				if (m->host >= 0)
					return h1_fail(m, H1_E_HOST, name, buf);
				m->host = (int)m->nhdrs - 1;
			}
			break;
		case 6:
			if (h1_mem_ieq(name, "expect", 6) && h1_str_ieq(h->value, "100-continue"))
				m->flags |= H1_F_EXPECT_100;
			break;
		case 7:
			if (h1_mem_ieq(name, "upgrade", 7))
				m->flags |= H1_F_UPGRADE;
			break;
		case 10:
			if (h1_mem_ieq(name, "connection", 10))
				m->flags |= h1_conn_flags(h->value);
			break;
		case 14:
			if (h1_mem_ieq(name, "content-length", 14)) {
				uint64_t cl;

				if (m->flags & H1_F_HAS_TE)
					return h1_fail(m, H1_E_CL_TE, name, buf);
				if (h1_parse_cl(v, ve, &cl) ||
				    ((m->flags & H1_F_HAS_CL) && cl != m->content_length))
					return h1_fail(m, H1_E_CL, v, buf);
				m->content_length = cl;
				m->flags |= H1_F_HAS_CL;
			}
			break;
		case 17:
			if (h1_mem_ieq(name, "transfer-encoding", 17)) {
				if (m->flags & H1_F_HAS_CL)
					return h1_fail(m, H1_E_CL_TE, name, buf);
				/* a second TE line, a coding other than exactly
				 * one chunked, or TE in HTTP/1.0 (RFC 9112 6.1:
				 * "faulty framing") leave the end of the body
				 * open to interpretation */
				if ((m->flags & H1_F_HAS_TE) || m->minor == 0 ||
				    h->value.len != 7 || !h1_mem_ieq(v, "chunked", 7))
					return h1_fail(m, H1_E_TE, v, buf);
				m->flags |= H1_F_HAS_TE;
			}
			break;
		}
	}
	if (m->flags & H1_F_HAS_TE)
		m->body = H1_BODY_CHUNKED;
	else if (m->flags & H1_F_HAS_CL)
		m->body = H1_BODY_LENGTH;
	if (req && m->minor == 1 && m->host < 0)
		return h1_fail(m, H1_E_HOST, p - 2, buf);
	m->head_len = (uint32_t)(p - buf);
	return (int)m->head_len;
}

static void h1_msg_reset(struct h1_msg *m)
{
	unsigned max = m->max_hdrs;

	memset(m, 0, offsetof(struct h1_msg, hdrs));
	m->max_hdrs = max;
	m->err = H1_OK;
	m->err_off = 0;
	m->host = -1;
}

/* Heads longer than INT_MAX could not be returned: they stay incomplete and
 * the caller's own bound on a head refuses them. */
static size_t h1_cap(size_t len)
{
	return len > INT_MAX ? INT_MAX : len;
}

/* h1_parse_request: see h1.h. Returns the head length, -2 or -1. */
int h1_parse_request(struct h1_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + h1_cap(len), *t;
	int r;

	h1_msg_reset(m);
	/* method SP */
	while (p < end && h1_tchar[(unsigned char)*p])
		p++;
	if (p == end)
		return -2;
	if (p == buf || *p != ' ')
		return h1_fail(m, H1_E_METHOD, p, buf);
	m->method.p = buf;
	m->method.len = (uint32_t)(p - buf);
	if (m->method.len == 4 && !memcmp(buf, "HEAD", 4))
		m->flags |= H1_F_HEAD;
	else if (m->method.len == 7 && !memcmp(buf, "CONNECT", 7))
		m->flags |= H1_F_CONNECT;
	/* request-target SP */
	t = ++p;
	while (p < end && h1_target[(unsigned char)*p])
		p++;
	if (p == end)
		return -2;
	if (p == t)
		return h1_fail(m, H1_E_TARGET, p, buf);
	if (*p != ' ')
		return h1_fail(m, *p == '\r' || *p == '\n' ? H1_E_VERSION : H1_E_TARGET, p, buf);
	m->target.p = t;
	m->target.len = (uint32_t)(p - t);
	if (!h1_target_ok(m))
		return h1_fail(m, H1_E_TARGET, t, buf);
	p++;
	/* HTTP-version CRLF */
	r = h1_version(m, buf, end, &p);
	if (!r)
		r = h1_eol(m, buf, end, &p, H1_E_VERSION);
	if (r)
		return r;
	return h1_fields(m, buf, p, end, 1);
}

/* h1_parse_response: see h1.h. Returns the head length, -2 or -1. */
int h1_parse_response(struct h1_msg *m, const char *buf, size_t len, int head_req)
{
	const char *p = buf, *end = buf + h1_cap(len);
	int r;

	h1_msg_reset(m);
	r = h1_version(m, buf, end, &p);
	if (r)
		return r;
	if (p == end)
		return -2;
	if (*p++ != ' ')
		return h1_fail(m, H1_E_VERSION, p - 1, buf);
	/* status-code: 100..599 */
	for (int i = 0; i < 3; i++, p++) {
		if (p == end)
			return -2;
		if (*p < (i ? '0' : '1') || *p > (i ? '9' : '5'))
			return h1_fail(m, H1_E_STATUS, p, buf);
		m->status = m->status * 10 + (*p - '0');
	}
	/* [ SP reason-phrase ] CRLF; the reason may be empty or absent */
	if (p == end)
		return -2;
	m->reason.p = p;
	if (*p == ' ') {
		m->reason.p = ++p;
		while (p < end && h1_vchar[(unsigned char)*p])
			p++;
		m->reason.len = (uint32_t)(p - m->reason.p);
	}
	r = h1_eol(m, buf, end, &p, H1_E_STATUS);
	if (r)
		return r;
	r = h1_fields(m, buf, p, end, 0);
	if (r < 0)
		return r;
	if (head_req || m->status < 200 || m->status == 204 || m->status == 304)
		m->body = H1_BODY_NONE;
	else if (m->body == H1_BODY_NONE)
		m->body = H1_BODY_CLOSE;
	return r;
}

/* ---- chunked bodies ---------------------------------------------------- */

/* Sub-states of H1_CH_EXT, kept in c->ndigits (unused once the size is read):
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
enum {
	H1_X_BWS,               /* blanks after the size or a value: ';' must follow */
	H1_X_NAME0,             /* after ';': blanks, then a name */
	H1_X_NAME,              /* in a name */
	H1_X_NAME_BWS,          /* blanks after a name: ';' or '=' */
	H1_X_VAL0,              /* after '=': blanks, then a token or a quote */
	H1_X_VAL,               /* in a token value */
	H1_X_QS,                /* in a quoted string */
	H1_X_QP,                /* after a backslash in a quoted string */
	H1_X_AFTER,             /* after the closing quote */
};

/* h1_chunk_init: see h1.h. */
void h1_chunk_init(struct h1_chunk *c)
{
	memset(c, 0, sizeof(*c));
	c->state = H1_CH_SIZE;
}

void h1_chunk_resume(struct h1_chunk *c, enum h1_chunk_state st, uint64_t size, uint32_t ndigits,
		     uint64_t remaining)
{
	h1_chunk_init(c);
	c->state = st;
	c->size = size;
	c->ndigits = ndigits;
	c->remaining = remaining;
	c->last = st == H1_CH_TRAILER || st == H1_CH_FINAL_LF || st == H1_CH_DONE;
}

/* h1_chunk_data: see h1.h. Outside H1_CH_DATA it does nothing; N beyond
 * c->remaining counts as c->remaining. */
void h1_chunk_data(struct h1_chunk *c, uint64_t n)
{
	if (c->state != H1_CH_DATA)
		return;
	if (n >= c->remaining) {
		c->remaining = 0;
		c->state = H1_CH_DATA_CR;
	} else {
		c->remaining -= n;
	}
}

static ssize_t h1_chunk_fail(struct h1_chunk *c, enum h1_err e)
{
	c->state = H1_CH_ERROR;
	c->err = e;
	return -1;
}

static int h1_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* One byte of chunk extensions. 0 to go on, -1 when it is refused. */
static int h1_chunk_ext(struct h1_chunk *c, unsigned char ch)
{
	int blank = ch == ' ' || ch == '\t';

	if (++c->linelen > H1_CHUNK_EXT_MAX)
		return -1;
	switch (c->ndigits) {
	case H1_X_BWS:
		if (ch == ';')
			c->ndigits = H1_X_NAME0;
		else if (!blank)
			return -1;
		return 0;
	case H1_X_NAME0:
		if (h1_tchar[ch])
			c->ndigits = H1_X_NAME;
		else if (!blank)
			return -1;
		return 0;
	case H1_X_NAME:
	case H1_X_NAME_BWS:
		if (ch == ';')
			c->ndigits = H1_X_NAME0;
		else if (ch == '=')
			c->ndigits = H1_X_VAL0;
		else if (blank)
			c->ndigits = H1_X_NAME_BWS;
		else if (c->ndigits != H1_X_NAME || !h1_tchar[ch])
			return -1;
		return 0;
	case H1_X_VAL0:
		if (ch == '"')
			c->ndigits = H1_X_QS;
		else if (h1_tchar[ch])
			c->ndigits = H1_X_VAL;
		else if (!blank)
			return -1;
		return 0;
	case H1_X_VAL:
	case H1_X_AFTER:
		if (ch == ';')
			c->ndigits = H1_X_NAME0;
		else if (blank)
			c->ndigits = H1_X_BWS;
		else if (c->ndigits != H1_X_VAL || !h1_tchar[ch])
			return -1;
		return 0;
	case H1_X_QS:
		if (ch == '"')
			c->ndigits = H1_X_AFTER;
		else if (ch == '\\')
			c->ndigits = H1_X_QP;
		else if (!h1_vchar[ch])
			return -1;
		return 0;
	case H1_X_QP:
		if (!h1_vchar[ch])
			return -1;
		c->ndigits = H1_X_QS;
		return 0;
	}
	return -1;
}

/* h1_chunk_parse: see h1.h. Returns bytes consumed (>= 0) or -1. */
ssize_t h1_chunk_parse(struct h1_chunk *c, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = buf[i];
		int d;

		switch (c->state) {
		case H1_CH_SIZE:
			d = h1_hex(ch);
			if (d >= 0) {
				if (++c->ndigits > 16 || c->size > (H1_CL_MAX - d) >> 4)
					return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
				c->size = c->size << 4 | d;
				break;
			}
			if (!c->ndigits)
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			c->linelen = 0;
			if (ch == '\r') {
				c->state = H1_CH_SIZE_LF;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				/* blanks are tolerated only before a ';' */
				c->state = H1_CH_EXT;
				c->ndigits = ch == ';' ? H1_X_NAME0 : H1_X_BWS;
			} else {
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			}
			break;
		case H1_CH_EXT:
			if (ch == '\r' && (c->ndigits == H1_X_NAME || c->ndigits == H1_X_VAL ||
					   c->ndigits == H1_X_AFTER))
				c->state = H1_CH_SIZE_LF;
			else if (h1_chunk_ext(c, ch))
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			break;
		case H1_CH_SIZE_LF:
			if (ch != '\n')
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			c->linelen = 0;
			c->ndigits = 0;
			if (!c->size) {
				c->last = 1;
				c->state = H1_CH_TRAILER;
				break;
			}
			c->remaining = c->size;
			c->size = 0;
			c->state = H1_CH_DATA;
			return i + 1;
		case H1_CH_DATA:
			return i;
		case H1_CH_DATA_CR:
			if (ch != '\r')
				return h1_chunk_fail(c, H1_E_CHUNK_CRLF);
			c->state = H1_CH_DATA_LF;
			break;
		case H1_CH_DATA_LF:
			if (ch != '\n')
				return h1_chunk_fail(c, H1_E_CHUNK_CRLF);
			c->state = H1_CH_SIZE;
			break;
		/* After the last chunk c->size (zero) counts trailer bytes and
		 * c->ndigits says whether the colon of this line was seen. */
		case H1_CH_TRAILER:
			if (ch == '\r') {
				c->state = H1_CH_FINAL_LF;
				break;
			}
			if (!h1_tchar[ch])
				return h1_chunk_fail(c, H1_E_TRAILER);
			c->linelen = 1;
			c->ndigits = 0;
			c->state = H1_CH_TRAILER_LINE;
			break;
		case H1_CH_TRAILER_LINE:
			if (++c->linelen > H1_CHUNK_LINE_MAX)
				return h1_chunk_fail(c, H1_E_TRAILER);
			if (ch == '\r') {
				if (!c->ndigits)
					return h1_chunk_fail(c, H1_E_TRAILER);
				c->state = H1_CH_TRAILER_LF;
			} else if (!c->ndigits) {
				if (ch == ':')
					c->ndigits = 1;
				else if (!h1_tchar[ch])
					return h1_chunk_fail(c, H1_E_TRAILER);
			} else if (!h1_vchar[ch]) {
				return h1_chunk_fail(c, H1_E_TRAILER);
			}
			break;
		case H1_CH_TRAILER_LF:
			if (ch != '\n')
				return h1_chunk_fail(c, H1_E_TRAILER);
			c->size += c->linelen + 2;
			if (c->size > H1_CHUNK_TRAILERS_MAX)
				return h1_chunk_fail(c, H1_E_TRAILER);
			c->state = H1_CH_TRAILER;
			break;
		case H1_CH_FINAL_LF:
			if (ch != '\n')
				return h1_chunk_fail(c, H1_E_CHUNK_CRLF);
			c->state = H1_CH_DONE;
			return i + 1;
		case H1_CH_DONE:
			return i;
		case H1_CH_ERROR:
			return -1;
		}
	}
	return i;
}
