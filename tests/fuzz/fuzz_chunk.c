/* fuzz_chunk: libFuzzer target for the chunked-body decoder. The first byte
 * seeds the cut points; the rest is a body. The decoder is run on the body
 * whole and again in pieces cut at pseudo-random points (each piece its own
 * exact-size allocation, so ASan sees any read past it), moving data bytes
 * as a session does; both runs must agree on the outcome, the reason, the
 * bytes taken and the data seen. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

struct outcome {
	int res;                /* 1 done, 0 incomplete, -1 error */
	enum h1_err err;
	size_t used;            /* input bytes taken */
	size_t data;            /* of which chunk data */
	uint64_t sum;           /* a hash of the data bytes */
};

static size_t next_cut(uint32_t *seed, size_t left)
{
	*seed = *seed * 1103515245u + 12345u;
	if (!*seed)
		return left;
	return 1 + (*seed >> 16) % (left < 17 ? left : 17);
}

static void run(const char *p, size_t n, uint32_t seed, struct outcome *o)
{
	struct h1_chunk c;
	size_t pos = 0;

	memset(o, 0, sizeof(*o));
	h1_chunk_init(&c);
	while (pos < n && !h1_chunk_done(&c)) {
		size_t avail = seed ? next_cut(&seed, n - pos) : n - pos;

		if (avail > n - pos)
			avail = n - pos;
		if (c.state == H1_CH_DATA) {
			size_t k = c.remaining < avail ? c.remaining : avail;

			if (!c.remaining)
				abort();
			for (size_t i = 0; i < k; i++)
				o->sum = o->sum * 31 + (unsigned char)p[pos + i];
			h1_chunk_data(&c, k);
			o->data += k;
			pos += k;
			continue;
		}
		char *piece = malloc(avail);
		memcpy(piece, p + pos, avail);
		ssize_t r = h1_chunk_parse(&c, piece, avail);
		free(piece);
		if (r < 0) {
			if (c.state != H1_CH_ERROR || c.err <= H1_OK || c.err >= H1_E_COUNT)
				abort();
			o->res = -1;
			o->err = c.err;
			o->used = pos;
			return;
		}
		if ((size_t)r > avail || c.state == H1_CH_ERROR)
			abort();
		pos += r;
	}
	o->res = h1_chunk_done(&c) ? 1 : 0;
	o->used = pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, cut;

	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;

	run(p, n, 0, &whole);
	for (uint32_t s = 1; s <= 3; s++) {
		run(p, n, data[0] * 2654435761u + s, &cut);
		if (cut.res != whole.res || cut.err != whole.err || cut.data != whole.data ||
		    cut.sum != whole.sum || (whole.res == 1 && cut.used != whole.used))
			abort();
	}
	return 0;
}
