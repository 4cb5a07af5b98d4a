/* test_sm_head: the sockmap program's response-head check (head mode: a
 * head that passes is sent to the client by the kernel as the origin wrote
 * it, so user space never parses it). Heads go through the program's
 * relay_sm_head_probe by the kernel's test-run hook. Two things must hold:
 *  - the table: what must pass, and every reason a head must go to user
 *    space (hop-by-hop fields, chunked, close, 1.0, bodiless statuses,
 *    malformed lines) does send it there;
 *  - differential: for 30,000 mutations of real heads, whatever the program
 *    passes, tandem's own parser (h1_parse_response) accepts too, with the
 *    same head length, status and framing, and with no field that user
 *    space would have stripped. A head the program takes is never one user
 *    space would have refused or rewritten beyond Connection;
 *  - the chunk framing scanner (chunked bodies in the kernel): for 20,000
 *    mutated chunked bodies, where it says the body ends, tandem's decoder
 *    (h1_chunk_parse) says so at the same byte; where it says the bytes are
 *    all inside the body, the decoder agrees and is in the same state; and
 *    a body scanned in two pieces (the state carried over, as from one skb
 *    to the next) gives what one scan gives.
 * Needs CAP_BPF and CAP_NET_ADMIN (root); says SKIP only without them:
 * with them, a program that does not load is a failure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_priv.h"
#include "h1.h"
#include "relay_sockmap_abi.h"
#include "relay_sockmap.skel.h"
#include "tap.h"

static struct relay_sockmap_bpf *skel;

/* The program's verdict on HEAD (LEN bytes): head length, 0 = user space. */
static uint32_t kchunked;

static uint32_t kcheck(const char *head, size_t len, uint32_t *status, uint64_t *cl)
{
	static char pkt[14 + 4096];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = 14 + len);

	if (len > sizeof(pkt) - 14)
		len = sizeof(pkt) - 14;
	memset(pkt, 0, 14);     /* the Ethernet header a tc program sees first */
	memcpy(pkt + 14, head, len);
	o.data_size_in = 14 + len;
	skel->bss->relay_head_out.head_len = 0xdead;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.relay_sm_head_probe), &o))
		return 0xffffffff;
	*status = skel->bss->relay_head_out.status;
	*cl = skel->bss->relay_head_out.content_length;
	kchunked = skel->bss->relay_head_out.chunked;
	return skel->bss->relay_head_out.head_len;
}

/* The chunk scanner over BODY (LEN bytes) from a fresh size line, or from
 * the state in IN. Returns 0 bad, 1 all inside the body, 2 done at *OFF. */
static int kscan(const char *body, size_t len, const struct relay_sm_slot *in, uint32_t *off)
{
	static char pkt[14 + 8192];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt);

	memset(pkt, 0, 14);
	memcpy(pkt + 14, body, len);
	o.data_size_in = 14 + len;
	skel->bss->relay_probe_fresh = !in;
	if (in)
		skel->bss->relay_probe_in = *in;
	if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.relay_sm_chunk_probe), &o))
		return -1;
	*off = skel->bss->relay_head_out.scan_off;
	return skel->bss->relay_head_out.scan;
}

/* tandem's decoder over the same bytes: 2 done after *OFF bytes, 1 all
 * inside the body (state in *C), 0 an error. */
static int uscan(const char *b, size_t len, struct h1_chunk *c, uint32_t *off)
{
	size_t i = 0;

	h1_chunk_init(c);
	while (i < len) {
		if (c->state == H1_CH_DATA) {
			uint64_t take = len - i < c->remaining ? len - i : c->remaining;

			h1_chunk_data(c, take);
			i += take;
			continue;
		}
		ssize_t r = h1_chunk_parse(c, b + i, len - i);

		if (r < 0)
			return 0;
		i += r;
		if (h1_chunk_done(c)) {
			*off = i;
			return 2;
		}
	}
	return 1;
}

/* the program's framing state as h1's, for comparison */
static int same_state(const struct h1_chunk *c)
{
	static const enum h1_chunk_state map[] = {
		[RELAY_SM_CH_SIZE] = H1_CH_SIZE, [RELAY_SM_CH_SIZE_LF] = H1_CH_SIZE_LF,
		[RELAY_SM_CH_DATA] = H1_CH_DATA, [RELAY_SM_CH_DATA_CR] = H1_CH_DATA_CR,
		[RELAY_SM_CH_DATA_LF] = H1_CH_DATA_LF, [RELAY_SM_CH_FINAL_CR] = H1_CH_TRAILER,
		[RELAY_SM_CH_FINAL_LF] = H1_CH_FINAL_LF, [RELAY_SM_CH_DONE] = H1_CH_DONE,
	};
	const struct relay_head_result *k = &skel->bss->relay_head_out;

	if (k->cst > RELAY_SM_CH_DONE || map[k->cst] != c->state)
		return 0;
	if (c->state == H1_CH_DATA)
		return k->crem == c->remaining;
	if (c->state == H1_CH_SIZE)
		return k->csize == c->size && k->cndig == c->ndigits;
	return 1;
}

static int hop(struct h1_str n)
{
	/* what user space strips from a response head (Transfer-Encoding it
	 * keeps: the body goes on as framed) */
	static const char *names[] = { "connection", "keep-alive", "te", "upgrade",
				       "proxy-connection" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (h1_str_ieq(n, names[i]))
			return 1;
	return 0;
}

/* 1 when user space agrees with a head the program took: it parses, with
 * the same length, status and Content-Length framing, and its only
 * hop-by-hop field is Connection: keep-alive. */
static int user_agrees(const char *buf, size_t len, uint32_t hl, uint32_t status, uint64_t cl,
		       char *why, size_t whylen)
{
	static struct h1_msg m;
	int r;

	m.max_hdrs = 0;
	r = h1_parse_response(&m, buf, len, 0);
	if (r <= 0) {
		snprintf(why, whylen, "h1 refuses it (%d, %s at %u)", r, h1_err_name(m.err), m.err_off);
		return 0;
	}
	if ((uint32_t)r != hl || m.status != (int)status ||
	    (kchunked ? m.body != H1_BODY_CHUNKED : m.body != H1_BODY_LENGTH || m.content_length != cl)) {
		snprintf(why, whylen, "h1: len %d status %d body %d cl %llu", r, m.status, m.body,
			 (unsigned long long)m.content_length);
		return 0;
	}
	if (m.flags & H1_F_CONN_CLOSE) {
		snprintf(why, whylen, "Connection: close");
		return 0;
	}
	for (unsigned i = 0; i < m.nhdrs; i++) {
		struct h1_hdr *h = &m.hdrs[i];

		if (hop(h->name) && !(h1_str_ieq(h->name, "connection") && h1_str_ieq(h->value, "keep-alive"))) {
			snprintf(why, whylen, "hop-by-hop field %.*s", (int)h->name.len, h->name.p);
			return 0;
		}
	}
	return 1;
}

#define NGINX "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 17:00:00 GMT\r\n" \
	"Content-Type: application/octet-stream\r\nContent-Length: 4194304\r\n" \
	"Last-Modified: Sun, 29 Nov 2026 16:00:00 GMT\r\nConnection: keep-alive\r\n" \
	"ETag: \"6929a1c0-400000\"\r\nAccept-Ranges: bytes\r\n\r\n"

static const struct { const char *head; uint32_t status; uint64_t cl; const char *what; } cases[] = {
	{ NGINX "body bytes", 200, 4194304, "nginx's head, body bytes after it" },
	{ "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, 0, "no Connection field, empty body" },
	{ "HTTP/1.1 206 \r\ncontent-length:17\r\n\r\n", 206, 17, "empty reason, lower case, no blank" },
	{ "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 5  \r\nConnection: Keep-Alive\r\n\r\n", 200, 5, "upper case, blanks after the digits" },
	{ "HTTP/1.1 500 x\t\x80\xff\r\nX: \x80\t\r\nContent-Length: 1\r\n\r\n", 500, 1, "obs-text and HTAB in reason and value" },
	{ "HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 3\r\n\r\n", 200, 3, "an empty value" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", 0, 0, "Connection: close" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-A\r\n\r\n", 0, 0, "Connection naming a field" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive \r\n\r\n", 0, 0, "Connection with a trailing blank (left to user space)" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n", 200, 0, "chunked (the program frames it)" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, 0, "a coding before chunked" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, "two Transfer-Encoding lines" },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0, 0, "Transfer-Encoding with Content-Length" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, 0, "two Content-Length fields" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 0, 0, "a Content-Length list" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", 0, 0, "a signed Content-Length" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n", 0, 0, "digits after blanks" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", 0, 0, "an empty Content-Length" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1125899906842624\r\n\r\n", 0, 0, "Content-Length of 2^50" },
	{ "HTTP/1.1 200 OK\r\n\r\n", 0, 0, "no Content-Length (close-delimited)" },
	{ "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n", 0, 0, "Keep-Alive" },
	{ "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\n", 0, 0, "Upgrade" },
	{ "HTTP/1.1 200 OK\r\nTE: trailers\r\nContent-Length: 5\r\n\r\n", 0, 0, "TE" },
	{ "HTTP/1.1 200 OK\r\nProxy-Connection: x\r\nContent-Length: 5\r\n\r\n", 0, 0, "Proxy-Connection" },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 0, "HTTP/1.0" },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, 0, "204" },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 0, 0, "304" },
	{ "HTTP/1.1 100 Continue\r\n\r\n", 0, 0, "an interim response" },
	{ "HTTP/1.1 101 Switching\r\nContent-Length: 5\r\n\r\n", 0, 0, "101" },
	{ "HTTP/1.1 600 x\r\nContent-Length: 5\r\n\r\n", 0, 0, "status 600" },
	{ "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n", 0, 0, "no blank after the status (left to user space)" },
	{ "HTTP/1.1 200 OK\r\n X: folded\r\nContent-Length: 5\r\n\r\n", 0, 0, "obs-fold" },
	{ "HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n", 0, 0, "a bare LF" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\n", 0, 0, "a bare LF at the end" },
	{ "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", 0, 0, "a blank before the colon" },
	{ "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 5\r\n\r\n", 0, 0, "an empty name" },
	{ "HTTP/1.1 200 OK\r\nX@Y: 1\r\nContent-Length: 5\r\n\r\n", 0, 0, "a bad name byte" },
	{ "HTTP/1.1 200 OK\r\nX: a\x7f\r\nContent-Length: 5\r\n\r\n", 0, 0, "DEL in a value" },
	{ "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 5\r\n\r\n", 0, 0, "a lone CR in a value" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, 0, "a head that does not end" },
};

static void mutate(char *b, size_t *len, unsigned *seed)
{
	static const char alpha[] = "\r\n: \t,aZ0-9xX\x7f\x80";
	int n = 1 + rand_r(seed) % 3;

	while (n--) {
		size_t at = *len ? rand_r(seed) % *len : 0;
		char c = alpha[rand_r(seed) % (sizeof(alpha) - 1)];

		switch (rand_r(seed) % 3) {
		case 0:
			b[at] = c;
			break;
		case 1:         /* insert */
			if (*len < 1000) {
				memmove(b + at + 1, b + at, *len - at);
				b[at] = c;
				(*len)++;
			}
			break;
		case 2:         /* delete */
			if (*len > 1) {
				memmove(b + at, b + at + 1, *len - at - 1);
				(*len)--;
			}
			break;
		}
	}
}

int main(void)
{
	static const char *seeds[] = {
		NGINX,
		"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 12\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: close\r\nContent-Length: 7\r\n\r\n",
	};
	unsigned seed = 20261129, taken = 0, agreed = 0;
	char buf[1100], why[128];
	uint32_t st, hl;
	uint64_t cl;
	const char *missing = priv_missing_bpf();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (missing) {
		printf("1..0 # SKIP needs %s for BPF (root)\n", missing);
		return 0;
	}
	libbpf_set_print(priv_libbpf_print);
	skel = relay_sockmap_bpf__open_and_load();
	if (!ok(skel != NULL, "the sockmap program loads and passes the verifier (%s)",
		skel ? "loaded" : strerror(errno)))
		return done_testing();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *h = cases[i].head;

		st = 0;
		cl = 0;
		hl = kcheck(h, strlen(h), &st, &cl);
		if (cases[i].status) {
			const char *end = strstr(h, "\r\n\r\n");
			ok(hl == (uint32_t)(end + 4 - h) && st == cases[i].status && cl == cases[i].cl,
			   "kernel takes: %s", cases[i].what);
			if (!user_agrees(h, strlen(h), hl, st, cl, why, sizeof(why)))
				ok(0, "user space agrees: %s (%s)", cases[i].what, why);
		} else {
			is_int(hl, 0, "to user space: %s", cases[i].what);
		}
	}
	/* a head past the program's window goes to user space */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: ");
	memset(buf + strlen(buf), 'a', RELAY_SM_HEAD_MAX);
	strcpy(buf + RELAY_SM_HEAD_MAX + 30, "\r\n\r\n");
	is_int(kcheck(buf, strlen(buf), &st, &cl), 0, "a head longer than %d bytes: user space", RELAY_SM_HEAD_MAX);

	/* chunk framing: the scanner against h1_chunk_parse */
	{
		static const char data_bytes[] = "\r\n0;a\t xyz";  /* framing look-alikes */
		static char body[8192];
		unsigned scanned[3] = { 0 }, bad = 0;
		struct h1_chunk c;

		for (int i = 0; i < 20000 && !bad; i++) {
			size_t len = 0;
			uint32_t koff = 0, uoff = 0, k2off = 0;
			int nch = rand_r(&seed) % 5, kr, ur;

			for (int j = 0; j < nch; j++) {
				int n = 1 + rand_r(&seed) % 700;

				len += sprintf(body + len, rand_r(&seed) % 4 ? "%x\r\n" : "%X\r\n", n);
				for (int q = 0; q < n; q++)
					body[len++] = data_bytes[rand_r(&seed) % (sizeof(data_bytes) - 1)];
				len += sprintf(body + len, "\r\n");
			}
			len += sprintf(body + len, rand_r(&seed) % 8 ? "0\r\n\r\n" : rand_r(&seed) % 2 ?
				       "0;x=y\r\n\r\n" : "0\r\nT: v\r\n\r\n");
			if (rand_r(&seed) % 3 == 0 && len < sizeof(body) - 2000)
				mutate(body, &len, &seed);
			if (rand_r(&seed) % 4 == 0)
				len -= rand_r(&seed) % (len + 1);       /* cut: the rest in a later skb */
			kr = kscan(body, len, NULL, &koff);
			ur = uscan(body, len, &c, &uoff);
			if (kr < 0) {
				ok(0, "chunk test run failed: %s", strerror(errno));
				break;
			}
			scanned[kr]++;
			if ((kr == 2 && (ur != 2 || uoff != koff || koff != len)) ||
			    (kr == 1 && (ur != 1 || !same_state(&c)))) {
				ok(0, "chunk scan %d: kernel %d at %u, h1 %d at %u (state %d)", i, kr, koff, ur, uoff, c.state);
				bad = 1;
				break;
			}
			if (kr && len > 1) {
				/* the same bytes in two skbs, the state carried */
				size_t cut = 1 + rand_r(&seed) % (len - 1);
				struct relay_sm_slot in = { 0 };
				int k1 = kscan(body, cut, NULL, &k2off), k2;

				if (k1 != 1)
					continue;       /* the first piece ended it, or failed */
				in.cst = skel->bss->relay_head_out.cst;
				in.cndig = skel->bss->relay_head_out.cndig;
				in.csize = skel->bss->relay_head_out.csize;
				in.crem = skel->bss->relay_head_out.crem;
				k2 = kscan(body + cut, len - cut, &in, &k2off);
				if (k2 != kr || (kr == 2 && k2off != len - cut) || (kr == 1 && !same_state(&c))) {
					ok(0, "chunk scan %d split at %zu: %d then %d, one scan %d", i, cut, k1, k2, kr);
					bad = 1;
				}
			}
		}
		printf("# chunk scans: %u bad (user space's), %u inside the body, %u ending it\n",
		       scanned[0], scanned[1], scanned[2]);
		ok(!bad && scanned[1] > 1000 && scanned[2] > 1000,
		   "the chunk scanner agrees with h1_chunk_parse, in one piece and in two");
	}

	for (int i = 0; i < 30000; i++) {
		const char *s0 = seeds[i % 4];
		size_t len = strlen(s0);

		memcpy(buf, s0, len);
		mutate(buf, &len, &seed);
		hl = kcheck(buf, len, &st, &cl);
		if (hl == 0xffffffff) {
			ok(0, "test run failed: %s", strerror(errno));
			break;
		}
		if (!hl)
			continue;
		taken++;
		if (user_agrees(buf, len, hl, st, cl, why, sizeof(why))) {
			agreed++;
			continue;
		}
		ok(0, "mutation %d taken by the kernel but not by user space: %s", i, why);
		printf("#   head: ");
		for (size_t k = 0; k < len && k < 300; k++)
			printf(buf[k] >= 32 && buf[k] < 127 ? "%c" : "\\x%02x", (unsigned char)buf[k]);
		printf("\n");
		break;
	}
	printf("# mutations: %u taken by the kernel, %u of them agreed with h1_parse_response\n", taken, agreed);
	ok(taken > 1000 && taken == agreed, "every mutated head the kernel takes, user space takes alike");
	relay_sockmap_bpf__destroy(skel);
	return done_testing();
}
