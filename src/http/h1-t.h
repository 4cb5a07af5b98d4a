/* h1-t.h: HTTP/1.1 message views and body framing state, types only, so a
 * session can embed them without including the parser's functions. Every
 * pointer in these structs points into the caller's buffer: nothing is copied
 * and nothing is allocated. */
#ifndef TANDEM_H1_T_H
#define TANDEM_H1_T_H

#include <stdint.h>
#include <stddef.h>

#define H1_MAX_HDRS 128         /* hard ceiling; callers may set a lower one */

/* A run of bytes inside the caller's buffer. */
struct h1_str {
	const char *p;
	uint32_t len;
};

struct h1_hdr {
	struct h1_str name;
	struct h1_str value;    /* leading and trailing OWS removed */
};

/* How the body of a message is delimited (RFC 9112 section 6). */
enum h1_body {
	H1_BODY_NONE,           /* no body at all (HEAD response, 1xx, 204, 304, request without CL/TE) */
	H1_BODY_LENGTH,         /* exactly content_length bytes (may be 0) */
	H1_BODY_CHUNKED,        /* final transfer coding is chunked */
	H1_BODY_CLOSE,          /* response read until the server closes */
};

/* Flags derived from the head. */
#define H1_F_CONN_CLOSE     0x0001  /* Connection: close */
#define H1_F_CONN_KEEPALIVE 0x0002  /* Connection: keep-alive */
#define H1_F_CONN_UPGRADE   0x0004  /* Connection: upgrade */
#define H1_F_UPGRADE        0x0008  /* an Upgrade header is present */
#define H1_F_EXPECT_100     0x0010  /* Expect: 100-continue */
#define H1_F_CONNECT        0x0020  /* request method is CONNECT */
#define H1_F_HEAD           0x0040  /* request method is HEAD */
#define H1_F_HAS_CL         0x0080  /* a Content-Length header was present */
#define H1_F_HAS_TE         0x0100  /* a Transfer-Encoding header was present */

/* Why a message was refused; the session maps these to a status and a metric. */
enum h1_err {
	H1_OK = 0,
	H1_E_METHOD,            /* bad or missing method token */
	H1_E_TARGET,            /* bad request-target */
	H1_E_VERSION,           /* not HTTP/1.0 or HTTP/1.1 */
	H1_E_STATUS,            /* bad status line */
	H1_E_HDR_NAME,          /* invalid byte in a header name, or empty name */
	H1_E_HDR_VALUE,         /* invalid byte in a header value (NUL, bare CR, CTLs) */
	H1_E_WS_COLON,          /* whitespace between a field name and the colon */
	H1_E_OBS_FOLD,          /* obsolete line folding */
	H1_E_BARE_LF,           /* a line ending in LF without CR */
	H1_E_BARE_CR,           /* a CR not followed by LF */
	H1_E_TOO_MANY_HDRS,     /* more header lines than the caller allows */
	H1_E_CL,                /* malformed or conflicting Content-Length */
	H1_E_TE,                /* Transfer-Encoding other than a final "chunked" */
	H1_E_CL_TE,             /* both Content-Length and Transfer-Encoding */
	H1_E_HOST,              /* missing Host in HTTP/1.1, or more than one */
	H1_E_CHUNK_SIZE,        /* bad chunk size line */
	H1_E_CHUNK_CRLF,        /* data of a chunk not followed by CRLF */
	H1_E_TRAILER,           /* bad trailer field */
	H1_E_COUNT              /* number of reasons */
};

/* A parsed request or response head. */
struct h1_msg {
	/* request line */
	struct h1_str method;
	struct h1_str target;
	/* status line */
	int status;
	struct h1_str reason;

	int minor;                      /* HTTP/1.<minor>: 0 or 1 */
	uint32_t head_len;              /* bytes of the head, final CRLF included */
	uint32_t flags;                 /* H1_F_* */
	enum h1_body body;
	uint64_t content_length;        /* valid when body == H1_BODY_LENGTH */
	int host;                       /* index in hdrs of Host, or -1 */

	unsigned nhdrs;
	unsigned max_hdrs;              /* set by the caller; 0 means H1_MAX_HDRS */
	struct h1_hdr hdrs[H1_MAX_HDRS];

	enum h1_err err;                /* why -1 was returned */
	uint32_t err_off;               /* offset in the buffer of the offending byte */
};

/* Chunked body decoder state (RFC 9112 section 7.1). */
enum h1_chunk_state {
	H1_CH_SIZE,             /* reading hex digits of a chunk size */
	H1_CH_EXT,              /* in chunk extensions, up to CRLF */
	H1_CH_SIZE_LF,          /* after CR of the size line */
	H1_CH_DATA,             /* inside chunk data: `remaining` bytes left */
	H1_CH_DATA_CR,          /* after chunk data: expect CR */
	H1_CH_DATA_LF,          /* after chunk data CR: expect LF */
	H1_CH_TRAILER,          /* at the start of a trailer line (or final CRLF) */
	H1_CH_TRAILER_LINE,     /* inside a trailer field line */
	H1_CH_TRAILER_LF,       /* after CR of a trailer line */
	H1_CH_FINAL_LF,         /* after the CR of the last empty line */
	H1_CH_DONE,             /* the whole chunked body has been seen */
	H1_CH_ERROR,
};

struct h1_chunk {
	enum h1_chunk_state state;
	uint64_t remaining;     /* data bytes left in the current chunk (state DATA) */
	uint64_t size;          /* size being accumulated */
	uint32_t ndigits;
	uint32_t linelen;       /* bytes in the current size/ext/trailer line */
	int last;               /* the zero-size chunk was seen */
	enum h1_err err;
};

#endif
