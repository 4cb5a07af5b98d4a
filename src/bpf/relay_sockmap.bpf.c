/* relay_sockmap: the sk_skb verdict program of the sockmap relay engine. Every
 * socket of a worker's relay (clients and backends) sits in one sockmap with
 * this program, attached as BPF_SK_SKB_VERDICT (no stream parser: the kernel
 * gives it whole skbs, in stream order, one socket at a time under the socket
 * lock). For a backend socket it keeps the stream offset of the bytes it has
 * seen and redirects an skb to the client's egress only when user space armed
 * exactly the range it starts: [arm_start, arm_end), contiguous with what was
 * redirected before. Everything else passes to the socket's own receive queue
 * (psock ingress), where user space reads it: response heads, chunked bodies,
 * bytes that arrived before the arming. An skb that would cross arm_end
 * carries bytes beyond the response's framing: an origin error, dropped, and
 * user space closes both sides. See doc/internals/sockmap.md. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "relay_sockmap_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, RELAY_SM_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} relay_socks SEC(".maps");

/* socket cookie of a backend socket -> its slot (= its sockmap index) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RELAY_SM_SLOTS);
	__type(key, __u64);
	__type(value, __u32);
} relay_slot_of SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RELAY_SM_C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} relay_sm_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} relay_sm_events SEC(".maps");

struct relay_sm_slot relay_slots[RELAY_SM_SLOTS];

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&relay_sm_stats, &idx);

	if (c)
		*c += n;
}

/* An arming ended: tell the worker (its epoll watches the ring). */
static __always_inline void finish(struct relay_sm_slot *s, __u32 idx, __u32 gen, __u32 res, __u32 c)
{
	__u32 ev = idx;

	WRITE_ONCE(s->res, res);
	WRITE_ONCE(s->res_gen, gen);
	count(c, 1);
	bpf_ringbuf_output(&relay_sm_events, &ev, sizeof(ev), 0);
}

SEC("sk_skb")
int relay_sm_verdict(struct __sk_buff *skb)
{
	__u64 ck = bpf_get_socket_cookie(skb), a, start, end, fwd;
	__u32 len = skb->len, *ix, idx, gen, peer;
	struct relay_sm_slot *s;

	ix = bpf_map_lookup_elem(&relay_slot_of, &ck);
	if (!ix)
		return SK_PASS;         /* a client socket: its bytes are requests */
	idx = *ix;
	if (idx >= RELAY_SM_SLOTS)
		return SK_PASS;
	s = &relay_slots[idx];
	/* a zero-length skb (a bare FIN) must never be redirected: the psock
	 * backlog takes a send of 0 bytes for a broken pipe */
	if (!len || READ_ONCE(s->cookie) != ck) {
		count(RELAY_SM_C_PASS_BYTES, len);
		return SK_PASS;
	}
	a = s->seen;
	WRITE_ONCE(s->seen, a + len);
	/* gen first: user space writes the range before it, in program order
	 * (x86-64 keeps stores and loads in order) */
	gen = READ_ONCE(s->gen);
	if (!gen || READ_ONCE(s->res_gen) == gen)
		goto pass;
	start = READ_ONCE(s->arm_start);
	end = READ_ONCE(s->arm_end);
	peer = READ_ONCE(s->peer);
	if (s->cur_gen != gen) {
		s->cur_gen = gen;
		WRITE_ONCE(s->fwd, 0);
	}
	fwd = s->fwd;
	if (a != start + fwd) {
		/* bytes between the arming's start and this skb went to user
		 * space: redirecting now would put these ahead of them */
		finish(s, idx, gen, RELAY_SM_MISSED, RELAY_SM_C_MISSED);
		goto pass;
	}
	if (a + len > end) {
		finish(s, idx, gen, RELAY_SM_ERR, RELAY_SM_C_ERR);
		return SK_DROP;
	}
	if (bpf_sk_redirect_map(skb, &relay_socks, peer, 0) != SK_PASS) {
		finish(s, idx, gen, RELAY_SM_ERR, RELAY_SM_C_ERR);
		return SK_DROP;
	}
	WRITE_ONCE(s->fwd, fwd + len);
	count(RELAY_SM_C_REDIR_BYTES, len);
	if (a + len == end)
		finish(s, idx, gen, RELAY_SM_DONE, RELAY_SM_C_DONE);
	return SK_PASS;
pass:
	/* user space reads these bytes; an arming whose start lies before
	 * self_end can no longer redirect anything (see the engine) */
	WRITE_ONCE(s->self_end, a + len);
	count(RELAY_SM_C_PASS_BYTES, len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
