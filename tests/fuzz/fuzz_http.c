/* fuzz_http: libFuzzer target for the HTTP/1.1 parser. The first byte picks
 * request, response or chunked body; the rest is the input. Beyond crashes
 * (ASan/UBSan), it checks the parser's own promises: views lie inside the
 * input, an accepted head's prefixes are all incomplete, and the chunked
 * decoder gives the same answer whole and fed in small pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

static struct h1_msg m, m2;

static void inside(struct h1_str s, const char *b, size_t n)
{
	if (s.len && (s.p < b || s.p + s.len > b + n))
		abort();
}

static int chunk_run(const char *p, size_t n, size_t step)
{
	struct h1_chunk c;
	size_t pos = 0;

	h1_chunk_init(&c);
	while (pos < n && !h1_chunk_done(&c)) {
		size_t avail = n - pos;

		if (step && avail > step)
			avail = step;
		if (c.state == H1_CH_DATA) {
			size_t k = c.remaining < avail ? c.remaining : avail;
			h1_chunk_data(&c, k);
			pos += k;
			continue;
		}
		ssize_t r = h1_chunk_parse(&c, p + pos, avail);
		if (r < 0)
			return -1;
		if ((size_t)r > avail)
			abort();
		pos += r;
	}
	return h1_chunk_done(&c) ? (int)pos : -2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % 3;
	char *b = malloc(size - 1 ? size - 1 : 1);
	size_t n = size - 1;
	int r;

	memcpy(b, data + 1, n);
	if (mode == 2) {
		r = chunk_run(b, n, 0);
		if (chunk_run(b, n, 1 + data[0] % 7) != r)
			abort();
		free(b);
		return 0;
	}
	m.max_hdrs = 0;
	r = mode ? h1_parse_response(&m, b, n, data[0] & 4) : h1_parse_request(&m, b, n);
	if (r > 0) {
		if ((size_t)r > n || m.nhdrs > H1_MAX_HDRS)
			abort();
		inside(m.method, b, n);
		inside(m.target, b, n);
		inside(m.reason, b, n);
		for (unsigned i = 0; i < m.nhdrs; i++) {
			inside(m.hdrs[i].name, b, n);
			inside(m.hdrs[i].value, b, n);
		}
		/* a shorter prefix of an accepted head is incomplete */
		size_t k = (size_t)r - 1 - data[0] % (size_t)r;
		m2.max_hdrs = 0;
		int r2 = mode ? h1_parse_response(&m2, b, k, data[0] & 4) : h1_parse_request(&m2, b, k);
		if (r2 != -2)
			abort();
	}
	free(b);
	return 0;
}
