/* test_http: the HTTP/1.1 parser against valid and hostile heads. Every
 * message is parsed from a copy that ends exactly at a PROT_NONE guard page,
 * so a read past the input crashes; every proper prefix of a valid message
 * must say "incomplete"; every refused message must name the right reason. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h1.h"
#include "tap.h"

static char *guard_base;
static size_t page;

/* A copy of S[0..N) ending right before a guard page. */
static const char *guarded(const char *s, size_t n)
{
	char *p = guard_base + 4 * page - n;

	memcpy(p, s, n);
	return p;
}

static int parse_req(struct h1_msg *m, const char *s, size_t n)
{
	m->max_hdrs = 0;
	return h1_parse_request(m, guarded(s, n), n);
}

static int parse_resp(struct h1_msg *m, const char *s, size_t n, int head)
{
	m->max_hdrs = 0;
	return h1_parse_response(m, guarded(s, n), n, head);
}

static struct h1_msg m;

/* Every proper prefix is incomplete, the whole gives LEN. */
static void check_prefixes(const char *s, int resp, const char *what)
{
	size_t n = strlen(s);
	int bad = 0, r;

	for (size_t i = 0; i < n; i++) {
		r = resp ? parse_resp(&m, s, i, 0) : parse_req(&m, s, i);
		if (r != -2) {
			bad++;
			if (bad == 1)
				printf("# prefix %zu of %s gave %d (%s)\n", i, what, r, h1_err_name(m.err));
		}
	}
	ok(!bad, "every prefix of %s is incomplete", what);
	r = resp ? parse_resp(&m, s, n, 0) : parse_req(&m, s, n);
	is_int(r, n, "%s parses whole", what);
}

#define check_refused(s, want, what) check_refused_n(s, sizeof(s) - 1, want, what)
static void check_refused_n(const char *s, size_t n, enum h1_err want, const char *what)
{
	int r = parse_req(&m, s, n);

	is_int(r, -1, "refused: %s", what);
	if (r == -1 && m.err != want)
		printf("#   reason %s, want %s\n", h1_err_name(m.err), h1_err_name(want));
	ok(r == -1 && m.err == want, "reason of %s is %s", what, h1_err_name(want));
}

static void test_requests(void)
{
	static const char *valid[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /images/x.png?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
		"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
		"PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_prefixes(valid[i], 0, valid[i]);

	const char *r1 = "GET /a HTTP/1.1\r\nHost:  h  \r\nConnection: keep-alive, Upgrade\r\n"
			 "Upgrade: ws\r\nExpect: 100-continue\r\n\r\nNEXT";
	int r = parse_req(&m, r1, strlen(r1));
	is_int(r, strlen(r1) - 4, "head length excludes what follows");
	ok(h1_str_ieq(m.method, "GET") && h1_str_ieq(m.target, "/a"), "method and target views");
	is_int(m.minor, 1, "HTTP/1.1");
	ok(m.host >= 0 && h1_str_ieq(m.hdrs[m.host].value, "h"), "Host value trimmed of OWS");
	ok(m.flags & H1_F_CONN_KEEPALIVE, "Connection keep-alive token");
	ok(m.flags & H1_F_CONN_UPGRADE, "Connection upgrade token");
	ok(m.flags & H1_F_UPGRADE, "Upgrade header");
	ok(m.flags & H1_F_EXPECT_100, "Expect: 100-continue");
	is_int(m.body, H1_BODY_NONE, "no CL, no TE: no body");
	is_int(h1_hdr_find(&m, "UPGRADE", 0), 2, "h1_hdr_find is case-insensitive");
	is_int(h1_hdr_find(&m, "absent", 0), -1, "h1_hdr_find: absent");

	r = parse_req(&m, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", sizeof("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n") - 1);
	ok(r > 0 && m.body == H1_BODY_LENGTH && m.content_length == 42, "Content-Length framing");
	r = parse_req(&m, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n", sizeof("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n") - 1);
	ok(r > 0 && m.content_length == 7, "repeated equal Content-Length accepted");
	r = parse_req(&m, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", sizeof("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n") - 1);
	ok(r > 0 && m.body == H1_BODY_CHUNKED, "chunked framing (case-insensitive)");
	r = parse_req(&m, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", sizeof("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n") - 1);
	ok(r > 0 && (m.flags & H1_F_HEAD), "HEAD flag");
	r = parse_req(&m, "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", sizeof("GET / HTTP/1.0\r\nConnection: close\r\n\r\n") - 1);
	ok(r > 0 && m.minor == 0 && (m.flags & H1_F_CONN_CLOSE), "HTTP/1.0 without Host, close");

	m.max_hdrs = 3;
	const char *many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	r = h1_parse_request(&m, guarded(many, strlen(many)), strlen(many));
	ok(r == -1 && m.err == H1_E_TOO_MANY_HDRS, "max_hdrs enforced");

	/* request smuggling and malformed heads */
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		      H1_E_CL_TE, "CL with TE");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		      H1_E_CL_TE, "TE with CL");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		      H1_E_CL, "conflicting CL");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", H1_E_CL, "CL list 5, 6");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", H1_E_CL, "CL +5");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", H1_E_CL, "CL -1");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", H1_E_CL, "CL 0x10");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", H1_E_CL, "CL with a space");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", H1_E_CL, "empty CL");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		      H1_E_CL, "CL overflow");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", H1_E_TE, "TE gzip");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", H1_E_TE,
		      "TE chunked, gzip");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		      H1_E_TE, "TE twice");
	check_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", H1_E_TE, "TE xchunked");
	check_refused("GET / HTTP/1.1\r\nHost : a\r\n\r\n", H1_E_WS_COLON, "space before colon");
	check_refused("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", H1_E_WS_COLON, "tab before colon");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", H1_E_OBS_FOLD, "obs-fold");
	check_refused("GET / HTTP/1.1\nHost: a\r\n\r\n", H1_E_BARE_LF, "bare LF after request line");
	check_refused("GET / HTTP/1.1\r\nHost: a\n\r\n", H1_E_BARE_LF, "bare LF after a field");
	check_refused("GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", H1_E_BARE_CR, "bare CR");
	check_refused("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", H1_E_HDR_VALUE, "NUL in a value");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", H1_E_HDR_VALUE, "CTL in a value");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", H1_E_HDR_NAME, "( in a name");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", H1_E_HDR_NAME, "empty name");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\nX\x80: 1\r\n\r\n", H1_E_HDR_NAME, "8-bit byte in a name");
	check_refused("GET / HTTP/1.1\r\n\r\n", H1_E_HOST, "no Host in 1.1");
	check_refused("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", H1_E_HOST, "two Host");
	check_refused("GET / HTTP/1.2\r\nHost: a\r\n\r\n", H1_E_VERSION, "HTTP/1.2");
	check_refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", H1_E_VERSION, "HTTP/2.0");
	check_refused("GET / http/1.1\r\nHost: a\r\n\r\n", H1_E_VERSION, "lower-case version");
	check_refused("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", H1_E_VERSION, "junk after version");
	check_refused("GET /\r\nHost: a\r\n\r\n", H1_E_VERSION, "no version");
	check_refused("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, "bad method byte");
	check_refused(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_METHOD, "leading space");
	check_refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, "two spaces");
	check_refused("GET x HTTP/1.1\r\nHost: a\r\n\r\n", H1_E_TARGET, "target not origin-form");

	/* the same refused bytes give the same answer whatever arrives after */
	const char *lf = "GET / HTTP/1.1\nHost: a\r\n\r\n";
	for (size_t i = 15; i <= strlen(lf); i++)
		if (parse_req(&m, lf, i) != -1)
			break;
	ok(parse_req(&m, lf, 15) == -1, "bare LF seen as soon as it arrives");
}

static void test_responses(void)
{
	int r;

	check_prefixes("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 1, "200 with CL");
	check_prefixes("HTTP/1.1 204 No Content\r\n\r\n", 1, "204");
	check_prefixes("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n", 1, "200 without reason");

	r = parse_resp(&m, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", sizeof("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n") - 1, 0);
	ok(r > 0 && m.status == 200 && m.body == H1_BODY_LENGTH && m.content_length == 3, "200 CL");
	ok(h1_str_ieq(m.reason, "OK"), "reason phrase view");
	r = parse_resp(&m, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", sizeof("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n") - 1, 1);
	ok(r > 0 && m.body == H1_BODY_NONE, "response to HEAD has no body");
	r = parse_resp(&m, "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", sizeof("HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n") - 1, 0);
	ok(r > 0 && m.body == H1_BODY_NONE, "304 has no body");
	r = parse_resp(&m, "HTTP/1.1 100 Continue\r\n\r\n", sizeof("HTTP/1.1 100 Continue\r\n\r\n") - 1, 0);
	ok(r > 0 && m.status == 100 && m.body == H1_BODY_NONE, "100 has no body");
	r = parse_resp(&m, "HTTP/1.1 200 OK\r\n\r\n", sizeof("HTTP/1.1 200 OK\r\n\r\n") - 1, 0);
	ok(r > 0 && m.body == H1_BODY_CLOSE, "no CL, no TE: until close");
	r = parse_resp(&m, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", sizeof("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n") - 1, 0);
	ok(r > 0 && m.minor == 0 && (m.flags & H1_F_CONN_KEEPALIVE) && m.body == H1_BODY_LENGTH,
	   "1.0 keep-alive, CL 0");
	r = parse_resp(&m, "HTTP/1.1 2000 OK\r\n\r\n", sizeof("HTTP/1.1 2000 OK\r\n\r\n") - 1, 0);
	ok(r == -1 && m.err == H1_E_STATUS, "four-digit status refused");
	r = parse_resp(&m, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", sizeof("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") - 1, 0);
	ok(r == -1 && m.err == H1_E_CL_TE, "response with CL and TE refused");
	r = parse_resp(&m, "HTTX/1.1 200 OK\r\n\r\n", sizeof("HTTX/1.1 200 OK\r\n\r\n") - 1, 0);
	ok(r == -1 && m.err == H1_E_VERSION, "bad response version");
}

/* Feeds S to a decoder in pieces of STEP bytes (0: whole), moving data
 * bytes as the session does. Returns 1 done, 0 incomplete, -1 error; the
 * data bytes are appended to OUT. */
static int chunk_feed(const char *s, size_t n, size_t step, char *out, size_t *outlen)
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
		if (r < 0)
			return -1;
		pos += r;
	}
	return h1_chunk_done(&c) ? 1 : 0;
}

static void test_chunks(void)
{
	static const struct { const char *s; int want; const char *data; const char *what; } cases[] = {
		{ "5\r\nhello\r\n0\r\n\r\n", 1, "hello", "one chunk" },
		{ "5;ext=1\r\nhello\r\n6 ; a=b\r\n world\r\n0\r\n\r\n", 1, "hello world", "extensions, BWS before ;" },
		{ "A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", 1, "0123456789", "trailers" },
		{ "0\r\n\r\n", 1, "", "empty body" },
		{ "0x5\r\nhello\r\n0\r\n\r\n", -1, "", "0x prefix" },
		{ "-5\r\nhello\r\n0\r\n\r\n", -1, "", "sign" },
		{ "+5\r\nhello\r\n0\r\n\r\n", -1, "", "plus sign" },
		{ " 5\r\nhello\r\n0\r\n\r\n", -1, "", "space before size" },
		{ "5 \r\nhello\r\n0\r\n\r\n", -1, "", "space between size and CRLF" },
		{ "\r\nhello\r\n0\r\n\r\n", -1, "", "empty size" },
		{ "g\r\nhello\r\n0\r\n\r\n", -1, "", "non-hex size" },
		{ "10000000000000000\r\n", -1, "", "17 hex digits" },
		{ "ffffffffffffffff\r\n", -1, "", "over 2^62" },
		{ "5\r\nhelloXX0\r\n\r\n", -1, "", "missing CRLF after data" },
		{ "5\nhello\r\n0\r\n\r\n", -1, "", "bare LF after size" },
		{ "0\r\nX y: 1\r\n\r\n", -1, "", "bad trailer name" },
		{ "0\r\nnocolon\r\n\r\n", -1, "", "trailer without colon" },
	};
	char out[64];
	size_t outlen;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].s);
		int whole = chunk_feed(cases[i].s, n, 0, out, &outlen), same = 1;

		is_int(whole, cases[i].want, "chunked: %s", cases[i].what);
		if (whole == 1)
			ok(outlen == strlen(cases[i].data) && !memcmp(out, cases[i].data, outlen),
			   "chunked: %s: data", cases[i].what);
		for (size_t step = 1; step < 8; step++)
			if (chunk_feed(cases[i].s, n, step, out, &outlen) != whole)
				same = 0;
		ok(same, "chunked: %s: same result fed 1..7 bytes at a time", cases[i].what);
		if (whole == 1) {
			int inc = 1;
			for (size_t k = 0; k < n; k++)
				if (chunk_feed(cases[i].s, k, 0, out, &outlen) != 0)
					inc = 0;
			ok(inc, "chunked: %s: every prefix incomplete", cases[i].what);
		}
	}
}

static void test_misc(void)
{
	struct h1_str get = { "GET", 3 }, post = { "POST", 4 }, put = { "PUT", 3 };

	ok(h1_method_idempotent(get) && h1_method_idempotent(put), "GET, PUT idempotent");
	ok(!h1_method_idempotent(post), "POST not idempotent");
	is_str(h1_err_name(H1_E_CL_TE), "cl_te", "error names are stable");
	for (int e = 0; e < H1_E_COUNT; e++)
		if (!strcmp(h1_err_name(e), "unknown"))
			ok(0, "error %d has a name", e);
}

int main(void)
{
	page = sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED || mprotect(guard_base + 4 * page, page, PROT_NONE)) {
		printf("Bail out! cannot set up the guard page\n");
		return 1;
	}
	test_requests();
	test_responses();
	test_chunks();
	test_misc();
	return done_testing();
}
