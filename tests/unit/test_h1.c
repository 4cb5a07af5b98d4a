/* test_h1: the HTTP/1.1 parser (src/http/h1.c) against valid and hostile
 * heads and chunked bodies. Every input is parsed from a copy that ends
 * exactly at a PROT_NONE guard page, so a read past the input crashes. Every
 * proper prefix of a valid message must say "incomplete"; for every message,
 * valid or not, every prefix must give -2 or exactly the final answer (same
 * reason, same offset); every refused message must name the right reason. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h1.h"
#include "tap.h"

#define GUARD_PAGES 32

static char *guard_base;
static size_t page;

/* A copy of S[0..N) ending right before the guard page. */
static const char *guarded(const char *s, size_t n)
{
	char *p = guard_base + GUARD_PAGES * page - n;

	if (n > GUARD_PAGES * page)
		abort();
	memmove(p, s, n);
	return p;
}

/* S made printable for a test name: CR, LF and other bytes escaped. */
static const char *esc(const char *s, size_t n)
{
	static char out[4][160];
	static int k;
	char *o = out[k++ & 3];
	size_t j = 0;

	for (size_t i = 0; i < n && j < sizeof(out[0]) - 8; i++) {
		unsigned char c = s[i];

		if (c == '\r')
			j += sprintf(o + j, "\\r");
		else if (c == '\n')
			j += sprintf(o + j, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			j += sprintf(o + j, "\\x%02x", c);
		else
			o[j++] = c;
	}
	o[j] = 0;
	return o;
}

static struct h1_msg m, m2;

/* Kind of message: a request, a response, a response to HEAD. */
enum kind { REQ, RESP, RESP_HEAD };

static int parse(struct h1_msg *mm, enum kind k, const char *s, size_t n, unsigned max)
{
	const char *g = guarded(s, n);

	mm->max_hdrs = max;
	if (k == REQ)
		return h1_parse_request(mm, g, n);
	return h1_parse_response(mm, g, n, k == RESP_HEAD);
}

/* Parses S whole, then every prefix: each must give -2 or exactly the whole
 * answer (and with VALID, only -2). Leaves the whole's result in m. */
static int parse_split(enum kind k, const char *s, size_t n, unsigned max, int valid)
{
	int whole = parse(&m2, k, s, n, max), bad = 0;

	for (size_t i = 0; i < n; i++) {
		int r = parse(&m, k, s, i, max);

		if (r == -2)
			continue;
		if (valid || r != whole || m.err != m2.err || m.err_off != m2.err_off) {
			if (!bad++)
				printf("# prefix %zu gave %d (%s at %u), whole %d (%s at %u)\n", i, r,
				       h1_err_name(m.err), m.err_off, whole, h1_err_name(m2.err),
				       m2.err_off);
		}
	}
	ok(!bad, "every prefix of '%s' is %s", esc(s, n),
	   valid ? "incomplete" : "incomplete or the same error");
	return parse(&m, k, s, n, max);
}

/* ---- valid requests ---------------------------------------------------- */

static void valid_req(const char *s, const char *method, const char *target, int minor,
		      enum h1_body body, uint64_t cl, unsigned nhdrs)
{
	size_t n = strlen(s);
	int r = parse_split(REQ, s, n, 0, 1);

	is_int(r, n, "'%s' parses whole", esc(s, n));
	ok(h1_str_ieq(m.method, method) && !memcmp(m.method.p, method, m.method.len) &&
	   h1_str_ieq(m.target, target) && m.minor == minor && m.body == body &&
	   (body != H1_BODY_LENGTH || m.content_length == cl) && m.nhdrs == nhdrs &&
	   m.head_len == n, "'%s': method, target, version, framing, %u fields", esc(s, n), nhdrs);
}

static void test_valid_requests(void)
{
	valid_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, H1_BODY_NONE, 0, 1);
	valid_req("GET /images/x.png?q=1&r=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1.0\r\n"
		  "Accept: */*\r\nCookie: a=b; c=\"d\"\r\n\r\n",
		  "GET", "/images/x.png?q=1&r=%20", 1, H1_BODY_NONE, 0, 4);
	valid_req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
		  "POST", "/up", 1, H1_BODY_LENGTH, 5, 2);
	valid_req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		  "POST", "/up", 1, H1_BODY_LENGTH, 0, 2);
	valid_req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		  "POST", "/up", 1, H1_BODY_LENGTH, 7, 2);
	valid_req("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\n",
		  "POST", "/up", 1, H1_BODY_LENGTH, 1ULL << 62, 2);
	valid_req("PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "PUT", "/up", 1, H1_BODY_CHUNKED, 0, 2);
	valid_req("PUT /up HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  CHUNKED \t\r\n\r\n",
		  "PUT", "/up", 1, H1_BODY_CHUNKED, 0, 2);
	valid_req("GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, H1_BODY_NONE, 0, 0);
	valid_req("GET / HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
		  "GET", "/", 0, H1_BODY_LENGTH, 3, 2);
	valid_req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 1, H1_BODY_NONE, 0, 1);
	valid_req("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
		  "CONNECT", "a.example:443", 1, H1_BODY_NONE, 0, 1);
	valid_req("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n",
		  "CONNECT", "[2001:db8::1]:8443", 1, H1_BODY_NONE, 0, 1);
	valid_req("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "http://a/x", 1,
		  H1_BODY_NONE, 0, 1);
	valid_req("GET https://a.example:8443?q HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
		  "https://a.example:8443?q", 1, H1_BODY_NONE, 0, 1);
	valid_req("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
		  "GET", "/", 1, H1_BODY_NONE, 0, 3);
	valid_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 1, H1_BODY_NONE, 0, 1);
	valid_req("get / HTTP/1.1\r\nHost: a\r\n\r\n", "get", "/", 1, H1_BODY_NONE, 0, 1);
	valid_req("M-SEARCH~!#$%&'*+.^_`| / HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH~!#$%&'*+.^_`|",
		  "/", 1, H1_BODY_NONE, 0, 1);
	valid_req("GET / HTTP/1.1\r\nHost: a\r\nX-8bit: caf\xc3\xa9\r\n\r\n", "GET", "/", 1,
		  H1_BODY_NONE, 0, 2);
	valid_req("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\nHost: a\r\n\r\n", "GET", "/", 1,
		  H1_BODY_NONE, 0, 2);
	valid_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length:7\r\n\r\n",
		  "POST", "/", 1, H1_BODY_LENGTH, 7, 3);
	valid_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5 ,\t5\r\n\r\n",
		  "POST", "/", 1, H1_BODY_LENGTH, 5, 2);

	/* views, flags and what follows the head */
	const char *r1 = "GET /a HTTP/1.1\r\nHost:  h  \r\nConnection: keep-alive, Upgrade\r\n"
			 "Upgrade: websocket\r\nExpect: 100-Continue\r\n\r\nNEXT";
	int r = parse(&m, REQ, r1, strlen(r1), 0);
	is_int(r, strlen(r1) - 4, "head length excludes what follows");
	is_int(m.head_len, strlen(r1) - 4, "head_len");
	ok(h1_str_ieq(m.hdrs[m.host].value, "h") && m.hdrs[m.host].value.len == 1,
	   "Host value trimmed of OWS on both sides");
	is_int(m.host, 0, "host index");
	is_int(m.flags, H1_F_CONN_KEEPALIVE | H1_F_CONN_UPGRADE | H1_F_UPGRADE | H1_F_EXPECT_100,
	       "keep-alive, upgrade tokens, Upgrade, Expect");
	is_int(h1_hdr_find(&m, "UPGRADE", 0), 2, "h1_hdr_find is case-insensitive");
	is_int(h1_hdr_find(&m, "upgrade", 3), -1, "h1_hdr_find from an index");
	is_int(h1_hdr_find(&m, "absent", 0), -1, "h1_hdr_find: absent");
	is_int(m.err, H1_OK, "err is H1_OK after success");

	const char *r2 = "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: foo,,CLOSE , keep-alivex\r\n"
			 "Expect: 100-continuex\r\nConnection: Keep-Alive\r\n\r\n";
	r = parse(&m, REQ, r2, strlen(r2), 0);
	is_int(m.flags, H1_F_HEAD | H1_F_CONN_CLOSE | H1_F_CONN_KEEPALIVE,
	       "HEAD, Connection list over two lines, no partial token match");
	r = parse(&m, REQ, "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", 36, 0);
	is_int(m.flags, H1_F_CONNECT, "CONNECT flag");
	r = parse(&m, REQ, "connect a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", 36, 0);
	ok(r == -1 && m.err == H1_E_TARGET, "methods are case-sensitive: 'connect' is not CONNECT");
	const char *r3 = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			 "Transfer-Encodingx: chunked\r\nContent-Lengthx: 9\r\n\r\n";
	r = parse(&m, REQ, r3, strlen(r3), 0);
	ok(r == (int)strlen(r3) && m.flags == H1_F_HAS_CL && m.body == H1_BODY_LENGTH,
	   "look-alike names are not framing fields");
	r = parse(&m, REQ, "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 55, 0);
	ok(r == 55 && m.flags == H1_F_HAS_TE && m.body == H1_BODY_CHUNKED, "HAS_TE flag");

	/* max_hdrs */
	const char *many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	r = parse_split(REQ, many, strlen(many), 3, 1);
	ok(r > 0 && m.nhdrs == 3, "exactly max_hdrs fields accepted");
	r = parse_split(REQ, many, strlen(many), 2, 0);
	ok(r == -1 && m.err == H1_E_TOO_MANY_HDRS && m.err_off == 31, "max_hdrs + 1 refused at the line");
	{
		static char big[H1_MAX_HDRS * 8 + 64];
		size_t n = sprintf(big, "GET / HTTP/1.1\r\n");

		for (int i = 0; i < H1_MAX_HDRS; i++)
			n += sprintf(big + n, "H: %d\r\n", i % 10);
		strcpy(big + n, "\r\n");
		r = parse(&m, REQ, big, n + 2, 0);
		ok(r == -1 && m.err == H1_E_HOST, "H1_MAX_HDRS fields fit (then Host missing)");
		r = parse(&m, REQ, big, n + 2, 1000);
		ok(r == -1 && m.err == H1_E_HOST, "max_hdrs above H1_MAX_HDRS is H1_MAX_HDRS");
		n += sprintf(big + n, "X: y\r\n\r\n");
		r = parse(&m, REQ, big, n, 0);
		ok(r == -1 && m.err == H1_E_TOO_MANY_HDRS, "H1_MAX_HDRS + 1 refused");
	}
}

/* ---- refused requests and responses ------------------------------------ */

struct bad {
	enum kind k;
	const char *s;
	size_t n;               /* 0: strlen */
	enum h1_err err;
	int off;                /* expected err_off, or -1: not checked */
	const char *what;
};

#define B(k, s, e, off, what) { k, s, sizeof(s) - 1, e, off, what }

static const struct bad bads[] = {
	/* framing: the smuggling cases */
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	  H1_E_CL_TE, 45, "CL then TE"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	  H1_E_CL_TE, 54, "TE then CL"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: gzip\r\n\r\n",
	  H1_E_CL_TE, -1, "CL then a bad TE is still CL+TE"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	  H1_E_CL, 61, "conflicting CL lines"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", H1_E_CL, 42, "CL list 5, 6"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", H1_E_CL, -1, "CL list 5,"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n", H1_E_CL, -1, "CL list ,5"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n", H1_E_CL, -1, "CL list 5,,5"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", H1_E_CL, -1, "CL +5"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", H1_E_CL, -1, "CL -1"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", H1_E_CL, -1, "CL 0x10"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", H1_E_CL, -1, "CL 1 0"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", H1_E_CL, -1, "CL 1.0"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", H1_E_CL, -1, "CL 5a"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", H1_E_CL, -1, "empty CL"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  \r\n\r\n", H1_E_CL, -1, "blank CL"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387905\r\n\r\n",
	  H1_E_CL, -1, "CL 2^62 + 1"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
	  H1_E_CL, -1, "CL 20 nines"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 19000000000000000000\r\n\r\n",
	  H1_E_CL, -1, "CL that wraps 2^64 to a small value"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n",
	  H1_E_CL, -1, "CL 2^64 + 5"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", H1_E_TE, 45, "TE gzip"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", H1_E_TE, -1,
	  "TE gzip, chunked (refused: one coding only)"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", H1_E_TE, -1,
	  "TE chunked, gzip"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", H1_E_TE, -1,
	  "TE chunked, chunked"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	  H1_E_TE, -1, "TE twice"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", H1_E_TE, -1, "TE xchunked"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", H1_E_TE, -1, "TE chunkedx"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", H1_E_TE, -1,
	  "TE chunked;q=1"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", H1_E_TE, -1,
	  "TE quoted"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", H1_E_TE, -1, "empty TE"),
	B(REQ, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", H1_E_TE, -1, "TE in HTTP/1.0"),
	/* field syntax */
	B(REQ, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", H1_E_WS_COLON, 20, "space before colon"),
	B(REQ, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", H1_E_WS_COLON, 20, "tab before colon"),
	B(REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", H1_E_WS_COLON, 43,
	  "space before colon of TE"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", H1_E_OBS_FOLD, 31, "obs-fold SP"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", H1_E_OBS_FOLD, 31, "obs-fold HTAB"),
	B(REQ, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", H1_E_OBS_FOLD, 16, "blank before the first field"),
	B(REQ, "GET / HTTP/1.1\nHost: a\r\n\r\n", H1_E_BARE_LF, 14, "bare LF after request line"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\n\r\n", H1_E_BARE_LF, 23, "bare LF after a field"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\n\n", H1_E_BARE_LF, 25, "bare LF as the last line"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", H1_E_BARE_CR, 23, "bare CR in a field"),
	B(REQ, "GET / HTTP/1.1\rHost: a\r\n\r\n", H1_E_BARE_CR, 14, "bare CR after the version"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", H1_E_BARE_CR, 25, "bare CR as the last line"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", H1_E_HDR_VALUE, 23, "NUL in a value"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", H1_E_HDR_VALUE, 29, "SOH in a value"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", H1_E_HDR_VALUE, 29, "DEL in a value"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b\r\n\r\n", H1_E_HDR_VALUE, 29, "VT in a value"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", H1_E_HDR_NAME, 26, "( in a name"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", H1_E_HDR_NAME, 25, "empty name"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX\x80: 1\r\n\r\n", H1_E_HDR_NAME, 26, "8-bit byte in a name"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", H1_E_HDR_NAME, 26, "NUL in a name"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", H1_E_HDR_NAME, 32, "line without colon"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\n\x01X: 1\r\n\r\n", H1_E_HDR_NAME, 25, "CTL at a line start"),
	/* Host */
	B(REQ, "GET / HTTP/1.1\r\n\r\n", H1_E_HOST, 16, "no Host in 1.1"),
	B(REQ, "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", H1_E_HOST, 25, "two Host lines"),
	B(REQ, "GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", H1_E_HOST, 25, "two Host lines in 1.0"),
	/* request line */
	B(REQ, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", H1_E_VERSION, 13, "HTTP/1.2"),
	B(REQ, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", H1_E_VERSION, 11, "HTTP/2.0"),
	B(REQ, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", H1_E_VERSION, 11, "HTTP/0.9"),
	B(REQ, "GET / http/1.1\r\nHost: a\r\n\r\n", H1_E_VERSION, 6, "lower-case version"),
	B(REQ, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", H1_E_VERSION, 14, "SP after the version"),
	B(REQ, "GET / HTTP/1.10\r\nHost: a\r\n\r\n", H1_E_VERSION, 14, "HTTP/1.10"),
	B(REQ, "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", H1_E_VERSION, 14, "junk after the version"),
	B(REQ, "GET /\r\nHost: a\r\n\r\n", H1_E_VERSION, 5, "no version (HTTP/0.9 style)"),
	B(REQ, "GET / \r\nHost: a\r\n\r\n", H1_E_VERSION, 6, "empty version"),
	B(REQ, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, 1, "( in the method"),
	B(REQ, " GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, 0, "leading space"),
	B(REQ, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, 0, "empty line before the request"),
	B(REQ, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, 3, "HTAB after the method"),
	B(REQ, "\0GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, 0, "NUL first"),
	B(REQ, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "two spaces"),
	B(REQ, "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 6, "CTL in the target"),
	B(REQ, "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 5, "8-bit byte in the target"),
	B(REQ, "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 6, "HTAB in the target"),
	B(REQ, "GET x HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "target of no form"),
	B(REQ, "GET * HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "* with GET"),
	B(REQ, "GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "http:/a"),
	B(REQ, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "absolute-form, empty host"),
	B(REQ, "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "userinfo"),
	B(REQ, "GET 1ttp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 4, "scheme starting with a digit"),
	B(REQ, "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT without port"),
	B(REQ, "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT origin-form"),
	B(REQ, "CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT empty host"),
	B(REQ, "CONNECT a:b:443 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT two colons"),
	B(REQ, "CONNECT a:443x HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT bad port"),
	B(REQ, "CONNECT a:123456 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT long port"),
	B(REQ, "CONNECT [::1 HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, 8, "CONNECT open bracket"),
	/* responses */
	B(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", H1_E_CL_TE, 36,
	  "response with CL and TE"),
	B(RESP_HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", H1_E_CL_TE,
	  -1, "response to HEAD with TE and CL"),
	B(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", H1_E_CL, -1,
	  "response with conflicting CL"),
	B(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", H1_E_TE, -1, "response TE gzip"),
	B(RESP, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_E_TE, -1, "1.0 response with TE"),
	B(RESP, "HTTP/1.1 2000 OK\r\n\r\n", H1_E_STATUS, 12, "four-digit status"),
	B(RESP, "HTTP/1.1 20 OK\r\n\r\n", H1_E_STATUS, 11, "two-digit status"),
	B(RESP, "HTTP/1.1 099 OK\r\n\r\n", H1_E_STATUS, 9, "status 099"),
	B(RESP, "HTTP/1.1 600 OK\r\n\r\n", H1_E_STATUS, 9, "status 600"),
	B(RESP, "HTTP/1.1 2x0 OK\r\n\r\n", H1_E_STATUS, 10, "status with a letter"),
	B(RESP, "HTTP/1.1 200 O\x01K\r\n\r\n", H1_E_STATUS, 14, "CTL in the reason"),
	B(RESP, "HTTP/1.1 200 OK\nA: b\r\n\r\n", H1_E_BARE_LF, 15, "response bare LF"),
	B(RESP, "HTTP/1.1 200 OK\r\nA: b\r\r\n", H1_E_BARE_CR, 21, "response bare CR"),
	B(RESP, "HTTX/1.1 200 OK\r\n\r\n", H1_E_VERSION, 3, "HTTX"),
	B(RESP, "HTTP/1.1  200 OK\r\n\r\n", H1_E_STATUS, 9, "two spaces before the status"),
	B(RESP, "HTTP/1.1\t200 OK\r\n\r\n", H1_E_VERSION, 8, "HTAB after the version"),
	B(RESP, "HTTP/2 200 OK\r\n\r\n", H1_E_VERSION, 5, "HTTP/2"),
	B(RESP, "HTTP/1.1 200 OK\r\nA : b\r\n\r\n", H1_E_WS_COLON, 18, "response space before colon"),
	B(RESP, "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", H1_E_OBS_FOLD, 23, "response obs-fold"),
};

static void test_refused(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		int r = parse_split(b->k, b->s, b->n, 0, 0);

		if (r != -1 || m.err != b->err || (b->off >= 0 && m.err_off != (uint32_t)b->off))
			printf("#   got %d, %s at %u\n", r, h1_err_name(m.err), m.err_off);
		ok(r == -1 && m.err == b->err && (b->off < 0 || m.err_off == (uint32_t)b->off),
		   "refused: %s: %s%s", b->what, h1_err_name(b->err), b->off >= 0 ? " at its byte" : "");
	}

	/* an error visible early is reported without waiting for the head's end */
	static const char *early[] = {
		"GET / HTTP/1.1\nHost:", "G(T /", "GET / HTTP/2", "GET / HTTP/1.1\r\nX\x01",
		"GET / HTTP/1.1\r\nHost: a\r\nA : ", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n 2",
		"GET / HTTP/1.1\r\nHost: a\rX",
	};
	for (size_t i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		is_int(parse(&m, REQ, early[i], strlen(early[i]), 0), -1, "refused early: '%s'",
		       esc(early[i], strlen(early[i])));
	is_int(parse(&m, RESP, "HTTP/1.1 20x", 12, 0), -1, "response refused early");
}

/* ---- responses and their framing --------------------------------------- */

static void resp(enum kind k, const char *s, int status, enum h1_body body, uint64_t cl,
		 const char *reason)
{
	size_t n = strlen(s);
	int r = parse_split(k, s, n, 0, 1);

	is_int(r, n, "'%s' parses whole", esc(s, n));
	ok(m.status == status && m.body == body && (body != H1_BODY_LENGTH || m.content_length == cl) &&
	   h1_str_ieq(m.reason, reason) && m.host == -1,
	   "'%s'%s: status %d, framing %d, reason '%s'", esc(s, n), k == RESP_HEAD ? " to HEAD" : "",
	   status, body, reason);
}

static void test_responses(void)
{
	resp(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 200, H1_BODY_LENGTH, 3, "OK");
	resp(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, H1_BODY_LENGTH, 0, "OK");
	resp(RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, H1_BODY_CHUNKED, 0, "OK");
	resp(RESP, "HTTP/1.1 200 OK\r\n\r\n", 200, H1_BODY_CLOSE, 0, "OK");
	resp(RESP, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", 200, H1_BODY_CLOSE, 0, "OK");
	resp(RESP, "HTTP/1.1 404 Not Found Here\r\nContent-Length: 9\r\n\r\n", 404, H1_BODY_LENGTH, 9,
	     "Not Found Here");
	resp(RESP, "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", 200, H1_BODY_LENGTH, 1, "");
	resp(RESP, "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", 200, H1_BODY_LENGTH, 1, "");
	resp(RESP, "HTTP/1.1 200 caf\xc3\xa9\t!\r\n\r\n", 200, H1_BODY_CLOSE, 0, "caf\xc3\xa9\t!");
	resp(RESP_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 200, H1_BODY_NONE, 0, "OK");
	resp(RESP_HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, H1_BODY_NONE, 0, "OK");
	resp(RESP_HEAD, "HTTP/1.1 200 OK\r\n\r\n", 200, H1_BODY_NONE, 0, "OK");
	resp(RESP, "HTTP/1.1 100 Continue\r\n\r\n", 100, H1_BODY_NONE, 0, "Continue");
	resp(RESP, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	     101, H1_BODY_NONE, 0, "Switching Protocols");
	resp(RESP, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 103, H1_BODY_NONE, 0, "Early Hints");
	resp(RESP, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, H1_BODY_NONE, 0, "No Content");
	resp(RESP, "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", 304, H1_BODY_NONE, 0,
	     "Not Modified");
	resp(RESP, "HTTP/1.1 205 Reset\r\n\r\n", 205, H1_BODY_CLOSE, 0, "Reset");
	resp(RESP, "HTTP/1.1 599 x\r\nContent-Length: 2, 2\r\n\r\n", 599, H1_BODY_LENGTH, 2, "x");
	resp(RESP, "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n", 200, H1_BODY_CLOSE, 0, "OK");

	int r = parse(&m, RESP, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 62, 0);
	ok(r == 62 && m.minor == 0 && m.flags == (H1_F_CONN_KEEPALIVE | H1_F_HAS_CL), "1.0 keep-alive, CL 0");
	r = parse(&m, RESP, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody", 42, 0);
	ok(r == 38 && m.flags == H1_F_CONN_CLOSE && m.body == H1_BODY_CLOSE, "close, body follows the head");
	r = parse(&m, RESP, "HTTP/1.1 200\r\n\r\n", 16, 0);
	ok(r == 16 && m.reason.len == 0 && m.reason.p, "absent reason is an empty view");
}

/* ---- guard page -------------------------------------------------------- */

/* Each valid head cut at every length, each copy against the guard page,
 * parsed as request and response: nothing may read past the end (the test
 * would crash). Bytes ending in CR are the interesting ones. */
static void test_guard(void)
{
	static const char *s[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: \t\r\n\r\n",
		"CONNECT [::1]:1 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET http://a:8/ HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	int n = 0;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (size_t k = 0; k <= strlen(s[i]); k++) {
			parse(&m, REQ, s[i], k, 0);
			parse(&m, RESP, s[i], k, 0);
			parse(&m, RESP_HEAD, s[i], k, 0);
			n++;
		}
	ok(n > 0, "%d cuts parsed against the guard page without a fault", n);
	ok(parse(&m, REQ, "", 0, 0) == -2 && parse(&m, RESP, "", 0, 0) == -2, "empty input is incomplete");
}

/* ---- chunked bodies ---------------------------------------------------- */

/* Feeds S to a decoder in pieces of STEP bytes (0: whole), moving data
 * bytes as the session does: each piece is a fresh guarded copy. Returns 1
 * done, 0 incomplete, -1 error (*ERR set); data is appended to OUT and
 * *USED says how many input bytes the decoder took. */
static int chunk_feed(const char *s, size_t n, size_t step, char *out, size_t *outlen,
		      size_t *used, enum h1_err *err)
{
	struct h1_chunk c;
	size_t pos = 0;

	h1_chunk_init(&c);
	*outlen = 0;
	while (pos < n && !h1_chunk_done(&c)) {
		size_t avail = n - pos;

		if (step && avail > step)
			avail = step;
		if (c.state == H1_CH_DATA) {
			size_t k = c.remaining < avail ? c.remaining : avail;

			memcpy(out + *outlen, s + pos, k);
			*outlen += k;
			h1_chunk_data(&c, k);
			pos += k;
			continue;
		}
		ssize_t r = h1_chunk_parse(&c, guarded(s + pos, avail), avail);
		if (r < 0) {
			if (c.state != H1_CH_ERROR || h1_chunk_parse(&c, "0", 1) != -1)
				return -3;      /* the error must stick */
			*err = c.err;
			return -1;
		}
		if ((size_t)r > avail)
			return -3;
		pos += r;
	}
	*used = pos;
	return h1_chunk_done(&c) ? 1 : 0;
}

struct chunk_case {
	const char *s;
	int want;               /* 1 done, -1 refused */
	const char *data;       /* done: the data; refused: NULL */
	enum h1_err err;
	const char *what;
};

static const struct chunk_case chunks[] = {
	{ "5\r\nhello\r\n0\r\n\r\n", 1, "hello", 0, "one chunk" },
	{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, "hello world", 0, "two chunks" },
	{ "0\r\n\r\n", 1, "", 0, "empty body" },
	{ "000\r\n\r\n", 1, "", 0, "zero with leading zeros" },
	{ "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", 1, "01234567890123456789", 0, "hex both cases" },
	{ "0000000000000005\r\nhello\r\n0\r\n\r\n", 1, "hello", 0, "16 hex digits" },
	{ "5;ext=1\r\nhello\r\n0\r\n\r\n", 1, "hello", 0, "extension" },
	{ "5;a\r\nhello\r\n0;b;c=d\r\n\r\n", 1, "hello", 0, "name-only extensions" },
	{ "5 ; a=b\r\nhello\r\n0\t;\tz = \"q\\\"x y\" ;k\r\n\r\n", 1, "hello", 0, "BWS and quoted strings" },
	{ "A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY:2\r\nZ:\r\n\r\n", 1, "0123456789", 0, "trailers" },
	{ "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 1, "hello", 0, "stops after the body" },
	{ "0x5\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "0x prefix" },
	{ "-5\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "minus sign" },
	{ "+5\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "plus sign" },
	{ " 5\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "space before size" },
	{ "\t5\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "HTAB before size" },
	{ "5 \r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "space between size and CRLF" },
	{ "5\t\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "HTAB between size and CRLF" },
	{ "\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "empty size" },
	{ ";a\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "extension without size" },
	{ "g\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "non-hex size" },
	{ "5g\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "junk after size" },
	{ "00000000000000005\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "17 hex digits" },
	{ "ffffffffffffffff\r\n", -1, NULL, H1_E_CHUNK_SIZE, "2^64 - 1" },
	{ "4000000000000001\r\n", -1, NULL, H1_E_CHUNK_SIZE, "2^62 + 1" },
	{ "5\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "bare LF after size" },
	{ "5\rhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "bare CR after size" },
	{ "5;a\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "bare LF after extension" },
	{ "5;\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "empty extension" },
	{ "5;a=\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "extension without value" },
	{ "5;a \r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "blank after extension" },
	{ "5;a=\"b\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "unterminated quoted string" },
	{ "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "junk after a quoted string" },
	{ "5;a=b c\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "two values" },
	{ "5;a(=b\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "( in an extension name" },
	{ "5;a=b\x01\r\nhello\r\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_SIZE, "CTL in an extension" },
	{ "5\r\nhelloXX0\r\n\r\n", -1, NULL, H1_E_CHUNK_CRLF, "missing CRLF after data" },
	{ "5\r\nhello\n0\r\n\r\n", -1, NULL, H1_E_CHUNK_CRLF, "bare LF after data" },
	{ "5\r\nhello\rX0\r\n\r\n", -1, NULL, H1_E_CHUNK_CRLF, "bare CR after data" },
	{ "0\r\n\rX", -1, NULL, H1_E_CHUNK_CRLF, "bad final CRLF" },
	{ "0\r\n\n", -1, NULL, H1_E_TRAILER, "bare LF as the final line" },
	{ "0\r\nX y: 1\r\n\r\n", -1, NULL, H1_E_TRAILER, "space in a trailer name" },
	{ "0\r\nX : 1\r\n\r\n", -1, NULL, H1_E_TRAILER, "space before a trailer colon" },
	{ "0\r\nnocolon\r\n\r\n", -1, NULL, H1_E_TRAILER, "trailer without colon" },
	{ "0\r\n: v\r\n\r\n", -1, NULL, H1_E_TRAILER, "trailer with empty name" },
	{ "0\r\nA: 1\r\n 2\r\n\r\n", -1, NULL, H1_E_TRAILER, "folded trailer" },
	{ "0\r\nA: 1\n\r\n", -1, NULL, H1_E_TRAILER, "bare LF in trailers" },
	{ "0\r\nA: 1\rB: 2\r\n\r\n", -1, NULL, H1_E_TRAILER, "bare CR in trailers" },
	{ "0\r\nA: \x01\r\n\r\n", -1, NULL, H1_E_TRAILER, "CTL in a trailer" },
};

static void test_chunks(void)
{
	static char out[4096];
	size_t outlen, used;
	enum h1_err err;

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		const struct chunk_case *t = &chunks[i];
		size_t n = strlen(t->s);
		int whole = chunk_feed(t->s, n, 0, out, &outlen, &used, &err), same = 1;
		enum h1_err err1 = err;
		size_t used1 = used;

		if (t->want == 1) {
			ok(whole == 1 && outlen == strlen(t->data) && !memcmp(out, t->data, outlen) &&
			   (strstr(t->s, "GET") ? used == (size_t)(strstr(t->s, "GET") - t->s) : used == n),
			   "chunked: %s: data and length", t->what);
		} else {
			ok(whole == -1 && err == t->err, "chunked: %s: refused, %s", t->what,
			   h1_err_name(t->err));
		}
		for (size_t step = 1; step < 9; step++) {
			int r = chunk_feed(t->s, n, step, out, &outlen, &used, &err);

			if (r != whole || (r == -1 && err != err1) || (r == 1 && used != used1))
				same = 0;
		}
		ok(same, "chunked: %s: same outcome fed 1..8 bytes at a time", t->what);
		if (whole == 1) {
			int inc = 1;

			for (size_t k = 0; k < used1; k++)
				if (chunk_feed(t->s, k, 0, out, &outlen, &used, &err) != 0)
					inc = 0;
			ok(inc, "chunked: %s: every prefix incomplete", t->what);
		}
	}

	/* bounds: extensions 4 KiB, a trailer line 8 KiB, all trailers 64 KiB */
	static char big[80000];
	size_t n;

	n = sprintf(big, "1;a=");
	memset(big + n, 'x', 4090);
	n += 4090;
	n += sprintf(big + n, "\r\nz\r\n0\r\n\r\n");
	ok(chunk_feed(big, n, 0, out, &outlen, &used, &err) == 1, "4 KiB of extensions accepted");
	n = sprintf(big, "1;a=");
	memset(big + n, 'x', 5000);
	n += 5000;
	n += sprintf(big + n, "\r\nz\r\n0\r\n\r\n");
	ok(chunk_feed(big, n, 0, out, &outlen, &used, &err) == -1 && err == H1_E_CHUNK_SIZE,
	   "5 KB of extensions refused");
	n = sprintf(big, "0\r\nA: ");
	memset(big + n, 'x', 9000);
	n += 9000;
	n += sprintf(big + n, "\r\n\r\n");
	ok(chunk_feed(big, n, 0, out, &outlen, &used, &err) == -1 && err == H1_E_TRAILER,
	   "a 9 KB trailer line refused");
	n = sprintf(big, "0\r\n");
	for (int i = 0; i < 100; i++)
		n += sprintf(big + n, "A: %0500d\r\n", i);
	n += sprintf(big + n, "\r\n");
	ok(chunk_feed(big, n, 0, out, &outlen, &used, &err) == 1, "50 KB of trailers accepted");
	n = sprintf(big, "0\r\n");
	for (int i = 0; i < 140; i++)
		n += sprintf(big + n, "A: %0500d\r\n", i);
	n += sprintf(big + n, "\r\n");
	ok(chunk_feed(big, n, 0, out, &outlen, &used, &err) == -1 && err == H1_E_TRAILER,
	   "70 KB of trailers refused");

	/* the decoder's own contract */
	struct h1_chunk c;
	h1_chunk_init(&c);
	is_int(h1_chunk_parse(&c, "4\r\nabcd\r\n", 9), 3, "stops before chunk data");
	ok(c.state == H1_CH_DATA && c.remaining == 4, "state DATA, remaining 4");
	is_int(h1_chunk_parse(&c, "abcd", 4), 0, "consumes no data bytes");
	h1_chunk_data(&c, 1);
	ok(c.state == H1_CH_DATA && c.remaining == 3, "h1_chunk_data counts down");
	h1_chunk_data(&c, 3);
	is_int(c.state, H1_CH_DATA_CR, "then expects CRLF");
	h1_chunk_data(&c, 5);
	is_int(c.state, H1_CH_DATA_CR, "h1_chunk_data outside DATA does nothing");
	is_int(h1_chunk_parse(&c, "\r\n0\r\n\r\nrest", 11), 7, "stops after the body");
	ok(h1_chunk_done(&c) && c.last, "done, last chunk seen");
	is_int(h1_chunk_parse(&c, "rest", 4), 0, "consumes nothing once done");
	is_int(h1_chunk_parse(&c, "", 0), 0, "empty input");
	h1_chunk_init(&c);
	is_int(h1_chunk_parse(&c, "3fffffffffffffff\r\n", 18), 18, "2^62 - 1 accepted");
	ok(c.remaining == (1ULL << 62) - 1, "remaining 2^62 - 1");
	h1_chunk_init(&c);
	is_int(h1_chunk_parse(&c, "4000000000000000\r\n", 18), 18, "2^62 accepted");
}

static void test_misc(void)
{
	struct h1_str get = { "GET", 3 }, post = { "POST", 4 }, put = { "PUT", 3 }, lget = { "get", 3 },
		      del = { "DELETE", 6 }, opt = { "OPTIONS", 7 }, tr = { "TRACE", 5 }, hd = { "HEAD", 4 },
		      pat = { "PATCH", 5 }, con = { "CONNECT", 7 }, empty = { "", 0 };

	ok(h1_method_idempotent(get) && h1_method_idempotent(put) && h1_method_idempotent(del) &&
	   h1_method_idempotent(opt) && h1_method_idempotent(tr) && h1_method_idempotent(hd),
	   "GET PUT DELETE OPTIONS TRACE HEAD are idempotent");
	ok(!h1_method_idempotent(post) && !h1_method_idempotent(pat) && !h1_method_idempotent(con) &&
	   !h1_method_idempotent(lget) && !h1_method_idempotent(empty),
	   "POST PATCH CONNECT 'get' '' are not");
	ok(h1_str_ieq(get, "get") && h1_str_ieq(get, "GET") && !h1_str_ieq(get, "GE") &&
	   !h1_str_ieq(get, "GETS") && h1_str_ieq(empty, ""), "h1_str_ieq");
	is_str(h1_err_name(H1_E_CL_TE), "cl_te", "error name cl_te");
	is_str(h1_err_name(H1_E_BARE_LF), "bare_lf", "error name bare_lf");
	is_str(h1_err_name(H1_OK), "ok", "error name ok");
	is_str(h1_err_name(H1_E_COUNT), "unknown", "out of range: unknown");
	is_str(h1_err_name((enum h1_err)-1), "unknown", "negative: unknown");
	int named = 1;
	for (int e = 0; e < H1_E_COUNT; e++) {
		const char *s = h1_err_name(e);

		if (!strcmp(s, "unknown") || strspn(s, "abcdefghijklmnopqrstuvwxyz_") != strlen(s))
			named = 0;
		for (int f = 0; f < e; f++)
			if (!strcmp(s, h1_err_name(f)))
				named = 0;
	}
	ok(named, "every reason has a distinct snake_case name");
}

int main(void)
{
	page = sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, (GUARD_PAGES + 1) * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED || mprotect(guard_base + GUARD_PAGES * page, page, PROT_NONE)) {
		printf("Bail out! cannot set up the guard page\n");
		return 1;
	}
	test_valid_requests();
	test_refused();
	test_responses();
	test_guard();
	test_chunks();
	test_misc();
	return done_testing();
}
