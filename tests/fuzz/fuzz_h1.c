/* fuzz_h1: libFuzzer target for the HTTP/1.1 head parser. The first byte
 * picks request, response or response to HEAD and a max_hdrs; the rest is
 * the input, copied to a buffer of exactly its size so ASan sees any read
 * past it. Beyond crashes it checks the parser's promises: the result is
 * -2, -1 with a reason and an offset inside the input, or a head length
 * within the input; views lie inside the head; every prefix gives -2 or the
 * very same answer (a prefix shorter than an accepted head gives -2); the
 * framing agrees with the flags. */
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

static int run(struct h1_msg *mm, int mode, unsigned max, const char *b, size_t n)
{
	mm->max_hdrs = max;
	if (mode == 0)
		return h1_parse_request(mm, b, n);
	return h1_parse_response(mm, b, n, mode == 2);
}

static void check_msg(int mode, int r, const char *b, size_t n)
{
	unsigned max = m.max_hdrs && m.max_hdrs < H1_MAX_HDRS ? m.max_hdrs : H1_MAX_HDRS;

	if (r == -2)
		return;
	if (r == -1) {
		if (m.err <= H1_OK || m.err >= H1_E_COUNT || m.err_off >= n)
			abort();
		return;
	}
	if (r <= 0 || (size_t)r > n || m.head_len != (uint32_t)r || m.nhdrs > max || m.err != H1_OK)
		abort();
	if (r < 4 || memcmp(b + r - 4, "\r\n\r\n", 4))
		abort();
	inside(m.method, b, r);
	inside(m.target, b, r);
	inside(m.reason, b, r);
	for (unsigned i = 0; i < m.nhdrs; i++) {
		if (!m.hdrs[i].name.len)
			abort();
		inside(m.hdrs[i].name, b, r);
		inside(m.hdrs[i].value, b, r);
	}
	if ((m.flags & H1_F_HAS_CL) && (m.flags & H1_F_HAS_TE))
		abort();
	if (m.minor != 0 && m.minor != 1)
		abort();
	if (mode == 0) {
		if (!m.method.len || !m.target.len || m.status)
			abort();
		if (m.host >= (int)m.nhdrs || (m.minor == 1 && m.host < 0))
			abort();
		if (m.body != ((m.flags & H1_F_HAS_TE) ? H1_BODY_CHUNKED :
			       (m.flags & H1_F_HAS_CL) ? H1_BODY_LENGTH : H1_BODY_NONE))
			abort();
	} else {
		if (m.status < 100 || m.status > 599 || m.host != -1)
			abort();
		if (m.body == H1_BODY_LENGTH && !(m.flags & H1_F_HAS_CL))
			abort();
		if (m.body == H1_BODY_CHUNKED && !(m.flags & H1_F_HAS_TE))
			abort();
		if (m.body != H1_BODY_NONE &&
		    (mode == 2 || m.status < 200 || m.status == 204 || m.status == 304))
			abort();
	}
	if ((m.flags & H1_F_HAS_CL) && m.content_length > (1ULL << 62))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int mode = data[0] % 3;
	unsigned max = (data[0] >> 2) & 7;     /* 0 (default) or 1..7 */
	size_t n = size - 1;
	char *b = malloc(n ? n : 1);
	int r;

	memcpy(b, data + 1, n);
	r = run(&m, mode, max, b, n);
	check_msg(mode, r, b, n);

	/* every prefix: -2 or the same answer; the parse of a prefix is a
	 * fresh parse of a shorter buffer, so give it its own exact copy */
	size_t stride = n > 1024 ? n / 256 : 1;
	for (size_t k = 0; k < n; k += stride) {
		char *pb = malloc(k ? k : 1);
		int r2;

		memcpy(pb, b, k);
		r2 = run(&m2, mode, max, pb, k);
		if (r > 0 && (size_t)r <= k) {
			if (r2 != r || m2.nhdrs != m.nhdrs || m2.flags != m.flags || m2.body != m.body)
				abort();
		} else if (r2 != -2) {
			if (r2 != r || r != -1 || m2.err != m.err || m2.err_off != m.err_off)
				abort();
		}
		free(pb);
	}
	free(b);
	return 0;
}
