/* psplice_abi.h: what the packet-level splicing data path
 * (src/bpf/psplice.bpf.c) and whoever arms it (today tests/bpf/test_psplice.c;
 * the packet engine once it exists) both see: the two connection maps'
 * keys and values, the refusal reasons and the counters.
 *
 * Two TCP connections meet on the L7 switch: the client connection C (the
 * L7's socket "sock C" <-> the client) and the upstream connection U (the
 * L7's pooled socket "sock U" <-> the web server). A spliced response body
 * is sent by the server on U and reaches the client on C without climbing
 * the L7's stack. Each connection has an entry for its whole life, keyed by
 * its 4-tuple as it arrives at the L7 (saddr = the peer), in network order.
 *
 * Sequence spaces ("wire" is what the peer sees, "sock" what the socket
 * sees), seqadj style (netfilter's nf_conntrack_seqadj): one correction
 * position per connection, an offset before it and one after it.
 *  - C, L7 -> client: wire = sock + off (off_b below pos, off_a from pos);
 *    the spliced bytes are wire [c_start, c_start + len), with
 *    c_start = pos + off_b and off_a = off_b + len.
 *  - U, server -> L7: sock = wire - off (off_b below u_start, off_a from
 *    u_start + len); wire [u_start, u_start + len) goes to the client.
 *  - The other directions (client -> L7, L7 -> server) are never shifted.
 * Timestamps (RFC 7323): every TSval a peer receives passes a high-water
 * mark kept per connection, so PAWS never fires; see doc/internals/packet.md. */
#ifndef TANDEM_PSPLICE_ABI_H
#define TANDEM_PSPLICE_ABI_H

#include <linux/types.h>

#define PSP_CONNS 65536                 /* entries per map */

/* A connection as its packets arrive at the L7 switch; network order. */
struct psp_key {
	__u32 saddr;                    /* the peer (client or server) */
	__u32 daddr;                    /* the L7 switch's address */
	__u16 sport;                    /* the peer's port */
	__u16 dport;                    /* the L7 socket's port */
};

/* flags of both entries (user space sets them when it creates the entry) */
#define PSP_F_TS        1               /* both connections negotiated timestamps */
#define PSP_F_NEIGH     2               /* redirect with bpf_redirect_neigh (else bpf_redirect) */

/* The entries' lock: a bpf_spin_lock for the program (its BTF type is
 * what the verifier asks for), 4 bytes user space never touches. */
#if defined(__bpf__)
#define psp_lock bpf_spin_lock
#else
struct psp_lock {
	__u32 val;
};
#endif

/* The client connection C, key as its packets arrive from the client. */
struct psp_client {
	struct psp_lock lock;
	__u32 flags;                    /* PSP_F_* */
	struct psp_key up;              /* the U it is spliced with (armed: valid) */
	__u32 ifindex;                  /* where spliced packets leave for the client */
	__u8 snd_wscale;                /* the client's window scale (sock C's tcpi_snd_wscale) */
	__u8 armed;                     /* 1: [c_start, c_end) is a splice (current or last) */
	__u8 ack_valid;                 /* ack and win below are set */
	__u8 pad;
	/* seqadj of L7 -> client, sock space position */
	__u32 pos, off_b, off_a;
	__u32 c_start, c_end;           /* wire */
	/* sock C's latest ack and raw window (H3 keeps them; the arm seeds them) */
	__u32 ack;
	__u16 win;
	__u16 pad2;
	/* timestamps toward the client */
	__u32 tsoff;                    /* added to sock C's TSval */
	__u32 s2c;                      /* added to the server's TSval (per splice) */
	__u32 hc;                       /* the highest TSval sent to the client */
	__u32 sock_ts;                  /* sock C's latest raw TSval */
	__u32 cli_ts;                   /* the client's latest TSval */
	__u32 cli_ts_lo;                /* the client's TSval when the splice began */
	__u8 hc_valid, s2c_valid, cli_valid, sock_valid;
	/* ack clamp: the highest ack passed to sock C (sock space) */
	__u32 sock_acked;
	__u8 sock_acked_valid, nxt_valid, pad4[2];
	__u32 snd_nxt;                  /* sock C's next sequence number, sock space (H3 keeps it) */
	__u32 clk;                      /* sock C's timestamp clock: its TSval - CLOCK_MONOTONIC ms */
	__u8 clk_valid, pad5[3];
	/* the engine's: who armed the splice, and whether it heard the end */
	__u64 cookie;                   /* the arming's, from its psp_arm */
	__u32 wid;                      /* the worker whose ring hears of it */
	__u32 cli_ack;                  /* the client's highest ack (wire), with cli_ack_valid */
	__u8 done;                      /* the client acknowledged c_end: PSP_EV_DONE sent */
	__u8 cli_ack_valid;
	__u8 reset;                     /* sock C reset during a range: the client's next segment is answered with a RST */
	__u8 pad6;
	__u64 owner;                    /* user space's id of the socket (a reused tuple is another) */
	__u32 up_start;                 /* the range's u_start, set with c_start (one view of both) */
	__u32 ack_ms;                   /* CLOCK_MONOTONIC ms of the client's last new ack */
	__u16 cli_win;                  /* the client's latest raw window (its scale: snd_wscale) */
	__u16 pad7;
};

/* The upstream connection U, key as its packets arrive from the server. */
struct psp_uplink {
	struct psp_lock lock;
	__u32 flags;
	struct psp_key cl;              /* the C it is spliced with */
	__u32 ifindex;                  /* where translated client ACKs leave for the server */
	__u8 rcv_wscale;                /* sock U's own window scale (tcpi_rcv_wscale) */
	__u8 armed;
	__u8 pad[2];
	/* seqadj of server -> L7 */
	__u32 u_start, u_end;           /* wire */
	__u32 off_b, off_a;
	__u32 fwd_hi;                   /* wire end of the highest spliced byte */
	__u32 cli_acked;                /* the highest client ack passed to the server (wire) */
	__u32 snd_nxt;                  /* sock U's next sequence number (H4 keeps it) */
	/* timestamps toward the server */
	__u32 tsoff;                    /* added to sock U's TSval */
	__u32 c2s;                      /* added to the client's TSval (per splice) */
	__u32 hu;                       /* the highest TSval sent to the server */
	__u32 sock_ts;                  /* sock U's latest raw TSval */
	__u32 srv_ts;                   /* the server's newest TSval (the highest seen) */
	__u32 srv_ts_lo;                /* the server's TSval at the splice's first byte */
	__u8 hu_valid, c2s_valid, srv_valid, lo_valid;
	__u8 fwd_valid, acked_valid, nxt_valid, sock_valid;
	__u32 rcv_end;                  /* wire end of the highest server byte passed to sock U (H1) */
	__u8 rcv_valid, clk_valid, pad4[2];
	__u32 clk;                      /* sock U's timestamp clock, as the client's clk */
	__u8 cli_done;                  /* the client has the whole range: sock U's acks go up to u_end */
	__u8 claiming;                  /* a segment is starting a range (the program's, under the lock) */
	__u8 pad5[2];
	__u64 owner;                    /* as the client's */
	__u32 cli_win;                  /* the window the client's last translated ACK gave the server (sock U's scale) */
	__u8 cli_win_valid, pad6[3];
	__u32 u_win;                    /* bytes sock U's empty buffer surely takes (0: PSP_U_WIN) */
};

/* An arming the engine asks for (psp_arms, keyed by U): the next server
 * segment that continues what sock U already received, whose bytes lie in
 * [body0, body_end) of sock U's space, starts the range; the range runs
 * to body_end. The program that takes it deletes it first (one taker: the
 * engine's own delete then fails with ENOENT). Sock spaces: body0 and
 * body_end are sock U's, cpos0 is sock C's sequence number of the body's
 * first byte (the one after the head). */
struct psp_arm {
	__u64 cookie;                   /* the engine's handle of the response */
	__u32 wid;                      /* its worker: the ring PSP_EV_* go to */
	__u32 body0, body_end;          /* sock U space */
	__u32 cpos0;                    /* sock C space */
	struct psp_key cl;              /* the client connection */
};

/* Ring events (psp_rings[wid]). */
#define PSP_EV_CLAIM    1               /* the range began: arg = body bytes sock U has before it */
#define PSP_EV_DONE     2               /* the client acknowledged the whole range */
#define PSP_EV_SHORT    3               /* the body cannot end: arg 0 the server's stream ended inside
                                         * the range, 1 it sent bytes past it in one segment */
struct psp_event {
	__u64 cookie;
	__u32 type;
	__u32 arg;
};

#define PSP_RINGS       256             /* workers with a ring */
#define PSP_RING_BYTES  (256 * 1024)

_Static_assert(__builtin_offsetof(struct psp_client, flags) ==
	       __builtin_offsetof(struct psp_uplink, flags), "flags: one offset in both entries");

/* The window, in bytes, a pooled socket's empty receive buffer surely
 * takes: what the ack of a range's end tells the server (psp_cli_in), and
 * how far past a range's first segment the server may send. An uplink's
 * u_win says it for its socket; this is the value of an entry without
 * (0), and the engine's on loopback (relay_packet.c sizes the buffer). */
#define PSP_U_WIN       (64u << 10)

/* Marks a clone re-entering client ingress carries (bpf_clone_redirect
 * with BPF_F_INGRESS; skb_scrub_packet keeps the mark within a netns). */
#define PSP_MARK_SOCK   0x7e5a0001u      /* the copy for sock C: ack clamped to c_start */
/* Marks a segment the programs redirected: a redirect to a device's egress
 * passes that device's clsact egress too (dev_queue_xmit), where
 * psp_cli_out / psp_srv_out would take it for the L7 socket's own. */
#define PSP_MARK_OUT    0x7e5a0002u

/* Per-CPU counters, indexes of psp_stats. DROP_* are TC_ACT_SHOT, PASS_*
 * went to the stack untouched, the rest are what happened to a packet. */
enum {
	PSP_C_SPLICED,                  /* server data segments redirected to a client */
	PSP_C_SPLICED_BYTES,
	PSP_C_RETRANS,                  /* of those, at or below a byte spliced before */
	PSP_C_ACK_TO_SRV,               /* client ACKs translated and redirected to the server */
	PSP_C_ACK_CLONE,                /* ... that also newly acked sock C's bytes: a clone for it */
	PSP_C_ACK_UNFWD,                /* client segments to sock C whose ack covered spliced bytes the server was not told */
	PSP_C_TO_SOCK,                  /* segments translated for an L7 socket (H1, H2) */
	PSP_C_FROM_SOCK,                /* segments of an L7 socket translated for its peer (H3, H4) */
	PSP_C_SACK_CUT,                 /* SACK blocks removed (they named the other connection's bytes) */
	PSP_C_PASS_OURS,                /* a segment redirected here, seen again at egress: untouched */
	PSP_C_PASS_UNTRACKED,           /* not a tracked connection */
	PSP_C_PASS_NOT_TCP,             /* not IPv4 TCP */
	PSP_C_PASS_LATER_FRAG,          /* an IPv4 fragment without ports: cannot be matched */
	PSP_C_PASS_SYN,                 /* a SYN on a tracked tuple: a new connection, untouched */
	PSP_C_PASS_RST_SRV,             /* a server RST: to sock U (translated), never to the client */
	PSP_C_DROP_TRUNC,               /* headers cut short or a bad data offset */
	PSP_C_DROP_IPOPT,               /* IPv4 options (ihl != 5) on a tracked connection */
	PSP_C_DROP_FRAG,                /* the first fragment of a tracked connection's segment */
	PSP_C_DROP_BADOPT,              /* malformed TCP options */
	PSP_C_DROP_TS_DUP,              /* two timestamp options */
	PSP_C_DROP_TS_MISSING,          /* no timestamp option where the pair uses them */
	PSP_C_DROP_TS_UNEXPECTED,       /* a timestamp option where the pair does not use them */
	PSP_C_DROP_RANGE,               /* server data crossing an edge of the armed range */
	PSP_C_DROP_FIN_RANGE,           /* a server FIN inside the armed range */
	PSP_C_DROP_NO_PEER,             /* the other connection's entry is missing */
	PSP_C_DROP_NO_STATE,            /* the socket whose numbers a translation needs has sent nothing yet */
	PSP_C_DROP_HELPER,              /* a helper failed (load, store, checksum, redirect) */
	PSP_C_DROP_MOVED,               /* range data whose client has gone on to another range */
	PSP_C_CLAIMED,                  /* armings a server segment started */
	PSP_C_DONE,                     /* ranges the client acknowledged whole */
	PSP_C_RST_CLI,                  /* sock C's RSTs moved to the client's next byte */
	PSP_C_PROBE_FIX,                /* sock U's window probes turned into ACKs at its snd_nxt */
	PSP_C_FIN_CLEARED,              /* server FINs taken off the range's last segment (the FIN comes again, to sock U) */
	PSP_C_FIN_SHORT,                /* server FINs inside a range: the body ends short (to sock U, the engine told) */
	PSP_C_RST_REFLECT,              /* client segments answered with a RST after sock C's reset */
	PSP_C_WIN_BACK,                 /* acks of a range's end that gave the server sock U's window back */
	PSP_C_ICMP_TO_SOCK,             /* ICMP errors about a client connection, the quote put in sock C's numbers */
	PSP_C_ICMP_RANGE,               /* ... of those, about a spliced segment (quoted seq moved to pos) */
	PSP_C_LATE,                     /* range data the client has whole (late retransmissions): to sock U as old bytes */
	PSP_C_PROBE_CLI,                /* server window probes (snd_una - 1) inside a range: to the client */
	PSP_C_WIN_CLAMP,                /* sock U's windows during a range cut to the client's */
	PSP_C_CLAIM_WAIT,               /* segments that could start a range the client's window could not take yet: to sock U */
	PSP_C_TS_CLEARED,               /* server segments to sock U older than its newest TSval: their timestamp cleared */
	PSP_C_COUNT,
};

#endif
