/* h1: a strict HTTP/1.1 head parser and chunked-body decoder (RFC 9110,
 * RFC 9112). It owns no memory: every view points into the caller's buffer.
 * Heads are parsed whole once their end is in the buffer (a call on a
 * longer prefix starts again; heads are small and bounded by the caller),
 * and the result never depends on how the bytes were split. Everything a
 * request smuggler would use to make two parsers disagree is refused. */
#include <string.h>
#include <strings.h>

#include "h1.h"

/* RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
static const uint8_t h1_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

#define H1_CL_MAX (1ULL << 62)

int h1_str_ieq(struct h1_str s, const char *cstr)
{
	size_t n = strlen(cstr);

	return s.len == n && !strncasecmp(s.p, cstr, n);
}

int h1_hdr_find(const struct h1_msg *m, const char *name, unsigned from)
{
	size_t n = strlen(name);

	for (unsigned i = from; i < m->nhdrs; i++)
		if (m->hdrs[i].name.len == n && !strncasecmp(m->hdrs[i].name.p, name, n))
			return i;
	return -1;
}

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

int h1_method_idempotent(struct h1_str m)
{
	return h1_str_ieq(m, "GET") || h1_str_ieq(m, "HEAD") || h1_str_ieq(m, "PUT") ||
	       h1_str_ieq(m, "DELETE") || h1_str_ieq(m, "OPTIONS") || h1_str_ieq(m, "TRACE");
}

static int h1_fail(struct h1_msg *m, enum h1_err e, const char *at, const char *buf)
{
	m->err = e;
	m->err_off = (uint32_t)(at - buf);
	return -1;
}

/* Finds the end of the head: the offset just past CRLF CRLF, or 0. Any
 * LF not preceded by CR, any CR not followed by LF, and NUL are errors
 * found here (returned as -1 with m->err set), in byte order, so the same
 * bytes give the same first error whatever the split. */
static long h1_head_end(struct h1_msg *m, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = buf[i];

		if (c > '\r')
			continue;
		if (c == '\r') {
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return h1_fail(m, H1_E_BARE_CR, buf + i, buf);
			/* CRLF CRLF? */
			if (i + 3 < len + 0 && buf[i + 2] == '\r' && buf[i + 3] == '\n')
				return i + 4;
			if (i + 2 < len && buf[i + 2] == '\r' && i + 3 == len)
				return 0;
			i++;
			continue;
		}
		if (c == '\n')
			return h1_fail(m, H1_E_BARE_LF, buf + i, buf);
		if (c == 0)
			return h1_fail(m, H1_E_HDR_VALUE, buf + i, buf);
	}
	return 0;
}

/* Parses an unsigned decimal Content-Length value list: "N" or "N, N". */
static int h1_parse_cl(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0, first = 0;
	int have = 0;

	while (p < end) {
		int digits = 0;

		v = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			v = v * 10 + (*p++ - '0');
			if (v > H1_CL_MAX)
				return -1;
			digits++;
		}
		if (!digits)
			return -1;
		if (have && v != first)
			return -1;
		first = v;
		have = 1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		if (*p != ',')
			return -1;
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if (!have)
		return -1;
	*out = first;
	return 0;
}

/* Transfer-Encoding: only one coding, "chunked", is forwarded: anything
 * else (other codings, chunked twice, chunked not last) is refused, since
 * the two ends of the proxy could not agree on where the body ends. */
static int h1_te_is_chunked(struct h1_str v)
{
	const char *p = v.p, *end = v.p + v.len;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end - p == 7 && !strncasecmp(p, "chunked", 7);
}

/* Connection: a comma-separated list of tokens. */
static uint32_t h1_conn_flags(struct h1_str v)
{
	const char *p = v.p, *end = v.p + v.len;
	uint32_t f = 0;

	while (p < end) {
		const char *t;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (p - t == 5 && !strncasecmp(t, "close", 5))
			f |= H1_F_CONN_CLOSE;
		else if (p - t == 10 && !strncasecmp(t, "keep-alive", 10))
			f |= H1_F_CONN_KEEPALIVE;
		else if (p - t == 7 && !strncasecmp(t, "upgrade", 7))
			f |= H1_F_CONN_UPGRADE;
	}
	return f;
}

/* "HTTP/1.0" or "HTTP/1.1" at P (8 bytes available). */
static int h1_version(const char *p, int *minor)
{
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return -1;
	*minor = p[7] - '0';
	return 0;
}

/* Header fields from P to END (END is the start of the final CRLF). */
static int h1_fields(struct h1_msg *m, const char *buf, const char *p, const char *end)
{
	unsigned max = m->max_hdrs && m->max_hdrs < H1_MAX_HDRS ? m->max_hdrs : H1_MAX_HDRS;
	int te_seen = 0, cl_seen = 0, te_chunked = 0;

	m->nhdrs = 0;
	while (p < end) {
		const char *name = p, *colon, *v, *eol;
		struct h1_hdr *h;

		if (*p == ' ' || *p == '\t')
			return h1_fail(m, H1_E_OBS_FOLD, p, buf);
		while (p < end && h1_tchar[(unsigned char)*p])
			p++;
		if (p == name)
			return h1_fail(m, H1_E_HDR_NAME, p, buf);
		if (*p == ' ' || *p == '\t')
			return h1_fail(m, H1_E_WS_COLON, p, buf);
		if (*p != ':')
			return h1_fail(m, H1_E_HDR_NAME, p, buf);
		colon = p++;
		while (*p == ' ' || *p == '\t')
			p++;
		v = p;
		/* the line ends at CR (h1_head_end proved it is CRLF) */
		while (*p != '\r') {
			unsigned char c = *p;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return h1_fail(m, H1_E_HDR_VALUE, p, buf);
			p++;
		}
		eol = p;
		while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
			eol--;
		p += 2;
		if (m->nhdrs == max)
			return h1_fail(m, H1_E_TOO_MANY_HDRS, name, buf);
		h = &m->hdrs[m->nhdrs++];
		h->name.p = name;
		h->name.len = (uint32_t)(colon - name);
		h->value.p = v;
		h->value.len = (uint32_t)(eol - v);

		switch (h->name.len) {
		case 4:
			if (!strncasecmp(name, "host", 4)) {
				if (m->host >= 0)
					return h1_fail(m, H1_E_HOST, name, buf);
				m->host = m->nhdrs - 1;
			}
			break;
		case 6:
			if (!strncasecmp(name, "expect", 6) && h1_str_ieq(h->value, "100-continue"))
				m->flags |= H1_F_EXPECT_100;
			break;
		case 7:
			if (!strncasecmp(name, "upgrade", 7))
				m->flags |= H1_F_UPGRADE;
			break;
		case 10:
			if (!strncasecmp(name, "connection", 10))
				m->flags |= h1_conn_flags(h->value);
			break;
		case 14:
			if (!strncasecmp(name, "content-length", 14)) {
				uint64_t cl;
				if (h1_parse_cl(v, eol, &cl))
					return h1_fail(m, H1_E_CL, v, buf);
				if (cl_seen && cl != m->content_length)
					return h1_fail(m, H1_E_CL, v, buf);
				m->content_length = cl;
				cl_seen = 1;
				m->flags |= H1_F_HAS_CL;
			}
			break;
		case 17:
			if (!strncasecmp(name, "transfer-encoding", 17)) {
				/* a second TE header, or anything but exactly
				 * "chunked", leaves the framing ambiguous */
				if (te_seen || !h1_te_is_chunked(h->value))
					return h1_fail(m, H1_E_TE, v, buf);
				te_seen = 1;
				te_chunked = 1;
				m->flags |= H1_F_HAS_TE;
			}
			break;
		}
	}
	if (cl_seen && te_seen)
		return h1_fail(m, H1_E_CL_TE, end, buf);
	if (te_chunked)
		m->body = H1_BODY_CHUNKED;
	else if (cl_seen)
		m->body = H1_BODY_LENGTH;
	return 0;
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

int h1_parse_request(struct h1_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end, *sp;
	long hl;

	h1_msg_reset(m);
	hl = h1_head_end(m, buf, len);
	if (hl <= 0)
		return hl < 0 ? -1 : -2;
	end = buf + hl - 2;             /* the final CRLF */
	/* method SP */
	while (h1_tchar[(unsigned char)*p])
		p++;
	if (p == buf || *p != ' ')
		return h1_fail(m, H1_E_METHOD, p, buf);
	m->method.p = buf;
	m->method.len = (uint32_t)(p - buf);
	sp = ++p;
	/* target SP: visible ASCII only */
	while ((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == sp || *p != ' ')
		return h1_fail(m, H1_E_TARGET, p, buf);
	m->target.p = sp;
	m->target.len = (uint32_t)(p - sp);
	p++;
	if (end - p < 10 || h1_version(p, &m->minor) || p[8] != '\r')
		return h1_fail(m, H1_E_VERSION, p, buf);
	p += 10;
	if (h1_str_ieq(m->method, "HEAD") && !memcmp(m->method.p, "HEAD", 4))
		m->flags |= H1_F_HEAD;
	if (m->method.len == 7 && !memcmp(m->method.p, "CONNECT", 7))
		m->flags |= H1_F_CONNECT;
	if (m->target.p[0] != '/' && !(m->flags & H1_F_CONNECT) &&
	    !(m->target.len == 1 && m->target.p[0] == '*') &&
	    !(m->target.len > 7 && (!strncasecmp(m->target.p, "http://", 7) ||
				     !strncasecmp(m->target.p, "https://", 8))))
		return h1_fail(m, H1_E_TARGET, m->target.p, buf);
	if (h1_fields(m, buf, p, end))
		return -1;
	if (m->minor == 1 && m->host < 0)
		return h1_fail(m, H1_E_HOST, end, buf);
	m->head_len = (uint32_t)hl;
	return (int)hl;
}

int h1_parse_response(struct h1_msg *m, const char *buf, size_t len, int head_req)
{
	const char *p = buf, *end;
	long hl;

	h1_msg_reset(m);
	hl = h1_head_end(m, buf, len);
	if (hl <= 0)
		return hl < 0 ? -1 : -2;
	end = buf + hl - 2;
	if (end - p < 12 || h1_version(p, &m->minor) || p[8] != ' ')
		return h1_fail(m, H1_E_VERSION, p, buf);
	p += 9;
	if (p[0] < '1' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return h1_fail(m, H1_E_STATUS, p, buf);
	m->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (*p == ' ') {
		const char *r = ++p;
		while (*p != '\r') {
			unsigned char c = *p;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return h1_fail(m, H1_E_STATUS, p, buf);
			p++;
		}
		m->reason.p = r;
		m->reason.len = (uint32_t)(p - r);
	} else if (*p != '\r') {
		return h1_fail(m, H1_E_STATUS, p, buf);
	} else {
		m->reason.p = p;
	}
	p += 2;
	if (h1_fields(m, buf, p, end))
		return -1;
	if (head_req || m->status < 200 || m->status == 204 || m->status == 304)
		m->body = H1_BODY_NONE;
	else if (m->body == H1_BODY_NONE)
		m->body = H1_BODY_CLOSE;
	m->head_len = (uint32_t)hl;
	return (int)hl;
}

/* ---- chunked bodies ---------------------------------------------------- */

#define H1_CHUNK_LINE_MAX 8192

void h1_chunk_init(struct h1_chunk *c)
{
	memset(c, 0, sizeof(*c));
	c->state = H1_CH_SIZE;
}

void h1_chunk_data(struct h1_chunk *c, uint64_t n)
{
	c->remaining -= n;
	if (!c->remaining)
		c->state = H1_CH_DATA_CR;
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
				if (++c->ndigits > 16 || (c->size << 4 | d) > H1_CL_MAX)
					return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
				c->size = c->size << 4 | d;
				break;
			}
			if (!c->ndigits)
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			if (ch == '\r')
				c->state = H1_CH_SIZE_LF;
			else if (ch == ';' || ch == ' ' || ch == '\t')
				/* BWS is tolerated only before an extension */
				c->state = H1_CH_EXT, c->linelen = ch == ';' ? 2 : 1;
			else
				return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
			break;
		case H1_CH_EXT:
			if (c->linelen == 1) {
				/* still in BWS: more blanks, or the ';' */
				if (ch == ';')
					c->linelen = 2;
				else if (ch != ' ' && ch != '\t')
					return h1_chunk_fail(c, H1_E_CHUNK_SIZE);
				break;
			}
			if (ch == '\r') {
				c->state = H1_CH_SIZE_LF;
				break;
			}
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f || ++c->linelen > H1_CHUNK_LINE_MAX)
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
		case H1_CH_TRAILER:
			if (ch == '\r') {
				c->state = H1_CH_FINAL_LF;
				break;
			}
			/* a trailer field starts with a name */
			if (!h1_tchar[ch])
				return h1_chunk_fail(c, H1_E_TRAILER);
			c->linelen = 1;
			c->ndigits = 0;         /* reused: 1 once the colon is seen */
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
			} else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				return h1_chunk_fail(c, H1_E_TRAILER);
			}
			break;
		case H1_CH_TRAILER_LF:
			if (ch != '\n')
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
