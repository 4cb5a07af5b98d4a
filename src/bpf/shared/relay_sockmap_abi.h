/* relay_sockmap_abi.h: what the sockmap relay program (src/bpf/relay_sockmap.bpf.c)
 * and its engine (src/relay/relay_sockmap.c) both see: the per-connection
 * slot that arms a redirect, its results and the counters. A slot lives in
 * the program's .bss, which user space maps (skeleton), so both sides read
 * and write single fields in place: each field has one writer, named below.
 *
 * Stream offsets count the bytes of one backend socket that the verdict
 * program has been given since the socket entered the map (it enters before
 * the first request is sent, so offset 0 is the first response byte). */
#ifndef TANDEM_RELAY_SOCKMAP_ABI_H
#define TANDEM_RELAY_SOCKMAP_ABI_H

#include <linux/types.h>

#define RELAY_SM_SLOTS  8192            /* sockets per worker in the map */

/* res: how an arming ended (written with res_gen = the arming's gen) */
#define RELAY_SM_DONE   1               /* every armed byte was redirected */
#define RELAY_SM_MISSED 2               /* bytes went to user space after it armed: nothing redirected */
#define RELAY_SM_ERR    3               /* bytes past the armed end, or no peer: skb dropped */

/* mode: what an arming redirects */
#define RELAY_SM_RANGE  0               /* exactly [arm_start, arm_end) */
#define RELAY_SM_HEAD   1               /* a whole response from arm_start, if its head passes the checks */
#define RELAY_SM_HEAD_MAX 1024          /* head mode: the head must end within this many bytes of its skb */
#define RELAY_SM_HEAD_LINES 100         /* and have at most this many header lines */

struct relay_sm_slot {
	/* written by user space; gen last (the program reads it first) */
	__u64 cookie;                   /* socket cookie of the backend socket in this slot */
	__u64 arm_start;                /* stream offset of the first byte to redirect */
	__u64 arm_end;                  /* offset just past the last one */
	__u32 peer;                     /* map index of the client socket */
	__u32 mode;                     /* RELAY_SM_RANGE or RELAY_SM_HEAD */
	__u64 min_body;                 /* head mode: smaller Content-Length bodies go to user space */
	__u32 gen;                      /* arming generation; 0: never armed */
	__u32 pad0;
	/* written by the program */
	__u64 seen;                     /* stream offset: bytes given to the program */
	__u64 fwd;                      /* bytes redirected under cur_gen */
	__u64 self_end;                 /* offset just past the last byte passed to user space */
	__u32 cur_gen;                  /* the arming fwd belongs to */
	__u32 res_gen;                  /* the arming res belongs to */
	__u32 res;
	/* head mode, written before the first redirect (fwd > 0 shows them) */
	__u32 kstatus;                  /* the response's status code */
	__u64 kend;                     /* offset just past its body; RELAY_SM_OPEN: chunked, end not seen yet */
	__u32 kchunked;                 /* 1: a chunked body, framed by the program */
	/* head mode, chunked: the framing state just after the last redirected
	 * skb (when an arming stops early, that is where user space goes on) */
	__u32 cst;                      /* RELAY_SM_CH_* */
	__u32 cndig;                    /* size digits read (C_SIZE) */
	__u64 csize;                    /* size read so far (C_SIZE, C_SIZE_LF) */
	__u64 crem;                     /* data bytes left in the chunk (C_DATA) */
};

#define RELAY_SM_OPEN (~0ULL)

/* The program's chunk framing states: only the plain grammar (hex size,
 * CRLF, data, CRLF; the last chunk with no trailer). Anything else (chunk
 * extensions, trailers, a bad byte) stops the arming before the skb that
 * holds it, and user space parses from there. */
enum {
	RELAY_SM_CH_SIZE,               /* hex digits of a size */
	RELAY_SM_CH_SIZE_LF,            /* after the size line's CR */
	RELAY_SM_CH_DATA,               /* crem data bytes left */
	RELAY_SM_CH_DATA_CR,            /* after the data: CR */
	RELAY_SM_CH_DATA_LF,
	RELAY_SM_CH_FINAL_CR,           /* after "0" CRLF: the empty line's CR */
	RELAY_SM_CH_FINAL_LF,
	RELAY_SM_CH_DONE,
};

/* What relay_sm_head_probe says of one head: head_len 0 when it would go to
 * user space. */
struct relay_head_result {
	__u32 head_len;
	__u32 status;
	__u64 content_length;
	__u32 chunked;
	/* relay_sm_chunk_probe: how far the chunk scanner got, and its state */
	__u32 scan;                     /* 0 bad, 1 consumed all, 2 done */
	__u32 scan_off;                 /* done: bytes up to the end of the body */
	__u32 cst, cndig;
	__u64 csize, crem;
};

/* Per-CPU counters of the program, indexes of relay_sm_stats. */
enum {
	RELAY_SM_C_REDIR_BYTES,         /* bytes redirected to a client */
	RELAY_SM_C_PASS_BYTES,          /* bytes passed to user space */
	RELAY_SM_C_DONE,                /* armings that ended with every byte redirected */
	RELAY_SM_C_MISSED,
	RELAY_SM_C_ERR,
	RELAY_SM_C_HEADS,               /* head mode: responses taken whole into the kernel */
	RELAY_SM_C_HEADS_PASSED,        /* head mode: heads that failed a check, passed to user space */
	RELAY_SM_C_TRIMMED,             /* skbs cut at an arming's end: the bytes after it were dropped */
	RELAY_SM_C_COUNT,
};

#endif
