/* h1: strict, incremental, zero-copy HTTP/1.1 parser (RFC 9110/9112). */
#ifndef TANDEM_H1_H
#define TANDEM_H1_H

#include <sys/types.h>
#include "h1-t.h"

/* h1_parse_request: parses the request head at the start of BUF[0..LEN).
 * m->max_hdrs is read (0 means H1_MAX_HDRS); every other field is written.
 * Returns the head length (>0) when a whole head is there, -2 when more bytes
 * are needed (no error seen so far in what is there), or -1 with m->err and
 * m->err_off set. The result never depends on how the input was split: a call
 * on a longer prefix of the same bytes gives the same answer once complete.
 * Framing: a request with neither CL nor TE has body H1_BODY_NONE. Refused
 * (-1): CL with TE, malformed/conflicting CL (identical repeated values are
 * accepted), TE other than a single final "chunked", whitespace before colon,
 * obs-fold, bare CR or LF, NUL or other CTLs in the head, invalid name bytes,
 * missing or repeated Host in HTTP/1.1, a version other than HTTP/1.0 or 1.1.
 * Also refused, stricter than some parsers: "gzip, chunked" (only a lone
 * "chunked" is forwarded), any TE in an HTTP/1.0 message (RFC 9112 6.1), a
 * CL list with an empty element ("5,"), a target that is not origin-form,
 * absolute-form (scheme://authority, no userinfo), authority-form host:port
 * for CONNECT only, or "*" for OPTIONS only; empty lines before the request
 * line (H1_E_METHOD). Methods are case-sensitive ("connect" is no CONNECT).
 * err_off is the first offending byte (for CL with TE: the name of the second
 * of the two; for a missing Host: the final CRLF). Errors are found in byte
 * order, so one visible in a partial head is returned at once. */
int h1_parse_request(struct h1_msg *m, const char *buf, size_t len);

/* h1_parse_response: the same for a response head. HEAD_REQ says the request
 * was HEAD (then the body is NONE whatever the headers say); 1xx, 204 and 304
 * have no body; a response with neither CL nor chunked is H1_BODY_CLOSE.
 * Framing rules are those of requests: CL with TE is refused (H1_E_CL_TE)
 * rather than resolved in favour of TE. The status must be 100..599; the
 * reason may be empty and "SP reason" may be absent. Host is not checked and
 * m->host stays -1. */
int h1_parse_response(struct h1_msg *m, const char *buf, size_t len, int head_req);

/* h1_hdr_find: index of the first header called NAME (case-insensitive), at or
 * after index FROM, or -1. */
int h1_hdr_find(const struct h1_msg *m, const char *name, unsigned from);

/* h1_str_ieq: 1 when the view S equals CSTR, ASCII case ignored, else 0. */
int h1_str_ieq(struct h1_str s, const char *cstr);

/* h1_chunk_init: set up a decoder for a new chunked body. */
void h1_chunk_init(struct h1_chunk *c);

/* h1_chunk_parse: feeds chunk framing bytes. Consumes bytes of size lines,
 * extensions, the CRLF after data, trailers and the final CRLF, and stops
 * (without consuming) at the first byte of chunk data, or after the last byte
 * of the body. Returns the number of bytes consumed (>= 0, possibly less than
 * LEN), or -1 on an error (c->err set, c->state = H1_CH_ERROR).
 * While c->state == H1_CH_DATA the caller moves up to c->remaining data bytes
 * itself (copied or spliced) and reports them with h1_chunk_data().
 * Bad sizes: empty, non-hex, "0x" prefix, signs, spaces before the size or
 * between size and CRLF (BWS before ';' is tolerated), more than 16 hex digits
 * or a value over 2^62. Extensions must follow RFC 9112 7.1.1 (name, optional
 * "=" token or quoted-string) and fit in 4 KiB; trailer lines must be
 * "name:value" with header syntax, at most 8 KiB each and 64 KiB in all. */
ssize_t h1_chunk_parse(struct h1_chunk *c, const char *buf, size_t len);

/* h1_chunk_resume: a decoder in state ST, as another parser of the same
 * body left it: SIZE after NDIGITS digits of SIZE, SIZE_LF with SIZE read,
 * DATA with REMAINING bytes left, DATA_CR, DATA_LF, TRAILER or FINAL_LF
 * after the last chunk, DONE. */
void h1_chunk_resume(struct h1_chunk *c, enum h1_chunk_state st, uint64_t size, uint32_t ndigits,
		     uint64_t remaining);

/* h1_chunk_data: N data bytes of the current chunk were moved (N <= remaining;
 * more counts as remaining). Does nothing outside H1_CH_DATA. */
void h1_chunk_data(struct h1_chunk *c, uint64_t n);

/* h1_chunk_done: 1 when the whole body, trailers included, has been seen. */
static inline int h1_chunk_done(const struct h1_chunk *c) { return c->state == H1_CH_DONE; }

/* h1_err_name: a short stable name for a reason ("cl_te", "bare_lf", ...),
 * used in metrics labels and logs. */
const char *h1_err_name(enum h1_err e);

/* h1_method_idempotent: 1 for GET, HEAD, PUT, DELETE, OPTIONS, TRACE (exact
 * case), else 0. */
int h1_method_idempotent(struct h1_str method);

#endif
