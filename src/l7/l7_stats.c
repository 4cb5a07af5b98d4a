/* l7_stats: /metrics of one L7 switch, in Prometheus text format, served by
 * a thread of its own on the node's admin address so a busy worker never
 * delays a scrape; the dashboard's paths go to src/dash. Counters are summed over the workers at scrape time;
 * per-node ones are kept by index, which stays a node's across reloads
 * (cfg_align), so each node's series stays monotonic through them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "adm.h"
#include "cfg.h"
#include "dash.h"
#include "h1.h"
#include "l7.h"
#include "lb.h"
#include "relay.h"
#include "share.h"
#include "log.h"
#include "qos.h"
#include "sock.h"
#include "tls.h"

struct out {
	char *p;
	size_t len, cap;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= o->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

/* FIELD of struct l7_worker, summed over the workers */
#define SUM(field) ({ uint64_t s_ = 0; \
	for (int w_ = 0; w_ < p->nworkers; w_++) \
		s_ += p->workers[w_]->field; \
	s_; })

/* per-node FIELD of the workers that count node N where it is now: a
 * worker still on a file older than N's arrival at its index (since) holds
 * the counts of the node there before, which it resets when it switches */
#define NODE_SUM(field, n) ({ uint64_t s_ = 0; \
	for (int w_ = 0; w_ < p->nworkers; w_++) \
		if (__atomic_load_n(&p->workers[w_]->epoch, __ATOMIC_ACQUIRE) >= c->nodes[n].since) \
			s_ += p->workers[w_]->field; \
	s_; })

/* a counter of the workers' sockmaps (relay = sockmap), summed */
#define SM_SUM(field) ({ uint64_t s_ = 0; \
	for (int w_ = 0; w_ < p->nworkers; w_++) \
		if (relay_env_sm_stats(&p->workers[w_]->rl)) \
			s_ += relay_env_sm_stats(&p->workers[w_]->rl)->field; \
	s_; })

/* Requests forwarded, per node and status class. */
static void l7_metrics_requests(struct out *o, struct l7_proc *p, const struct cfg *c)
{
	static const char *codes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	outf(o, "# HELP tandem_requests_total Requests forwarded, by node and status class.\n"
		 "# TYPE tandem_requests_total counter\n");
	for (int n = 0; n < c->nnodes; n++) {
		if (!cfg_node_used(&c->nodes[n]))
			continue;       /* a removed node's tombstone */
		for (int k = 0; k < L7_NCODES; k++)
			outf(o, "tandem_requests_total{node=\"%s\",code=\"%s\"} %llu\n",
			     c->nodes[n].name, codes[k], (unsigned long long)NODE_SUM(st.requests[n][k], n));
	}
}

/* The relay engines' series: bytes by engine, the sockmap engine's own. */
static void l7_metrics_relay(struct out *o, struct l7_proc *p)
{
	outf(o, "# HELP tandem_relay_bytes_total Body bytes moved, by relay engine.\n"
		 "# TYPE tandem_relay_bytes_total counter\n");
	for (int e = 0; e < RELAY_NENGINES; e++)
		outf(o, "tandem_relay_bytes_total{engine=\"%s\"} %llu\n", relay_engine_name(e),
		     (unsigned long long)SUM(rl.bytes[e]));
	outf(o, "# HELP tandem_relay_sockmap_heads_total Responses taken whole into the kernel: the program checked the head and sent it with the body.\n"
		 "# TYPE tandem_relay_sockmap_heads_total counter\n"
		 "tandem_relay_sockmap_heads_total %llu\n", (unsigned long long)SM_SUM(heads));
	outf(o, "# HELP tandem_relay_sockmap_handbacks_total Bodies redirected in the kernel and handed back.\n"
		 "# TYPE tandem_relay_sockmap_handbacks_total counter\n"
		 "tandem_relay_sockmap_handbacks_total %llu\n"
		 "# HELP tandem_relay_sockmap_fallbacks_total Bodies armed in the kernel but copied: bytes reached user space first.\n"
		 "# TYPE tandem_relay_sockmap_fallbacks_total counter\n"
		 "tandem_relay_sockmap_fallbacks_total %llu\n"
		 "# HELP tandem_relay_sockmap_errors_total Redirects cut off: bytes past the framing, or the client gone.\n"
		 "# TYPE tandem_relay_sockmap_errors_total counter\n"
		 "tandem_relay_sockmap_errors_total %llu\n"
		 "# HELP tandem_relay_sockmap_unavailable 1: relay sockmap or auto was asked for, the probe failed, splice is used.\n"
		 "# TYPE tandem_relay_sockmap_unavailable gauge\n"
		 "tandem_relay_sockmap_unavailable %d\n",
		 (unsigned long long)SM_SUM(handbacks), (unsigned long long)SM_SUM(fallbacks),
		 (unsigned long long)SM_SUM(errors), p->sm_fallback);
}

/* a counter of the workers' packet runs (relay = packet), summed */
#define PK_SUM(field) ({ uint64_t s_ = 0; \
	for (int w_ = 0; w_ < p->nworkers; w_++) \
		if (relay_env_pk_stats(&p->workers[w_]->rl)) \
			s_ += relay_env_pk_stats(&p->workers[w_]->rl)->field; \
	s_; })

/* Packet-level splicing: the engine's runs, its fallbacks by reason, and
 * what the tc programs counted (all of the process's, every interface). */
static void l7_metrics_packet(struct out *o, struct l7_proc *p)
{
	struct relay_pk_prog k;

	relay_packet_counters(&k);
	outf(o, "# HELP tandem_relay_packet_unavailable 1: relay packet was asked for, its programs could not run, splice is used.\n"
		 "# TYPE tandem_relay_packet_unavailable gauge\ntandem_relay_packet_unavailable %d\n"
		 "# HELP tandem_relay_packet_armed_total Response bodies armed for packet-level splicing.\n"
		 "# TYPE tandem_relay_packet_armed_total counter\ntandem_relay_packet_armed_total %llu\n"
		 "# HELP tandem_relay_packet_responses_total Responses whose body the web server's packets carried to the client (the client acknowledged it whole).\n"
		 "# TYPE tandem_relay_packet_responses_total counter\ntandem_relay_packet_responses_total %llu\n"
		 "# HELP tandem_relay_packet_nudges_total ACKs a pooled socket was made to send: the client's last ack came with its next request.\n"
		 "# TYPE tandem_relay_packet_nudges_total counter\ntandem_relay_packet_nudges_total %llu\n"
		 "# HELP tandem_relay_packet_errors_total Packet runs cut: the web server went inside the body, or sent past it.\n"
		 "# TYPE tandem_relay_packet_errors_total counter\ntandem_relay_packet_errors_total %llu\n"
		 "# HELP tandem_relay_packet_rebased_total Armings whose look at a pooled socket's receive sequence found its read count off (a bug: always 0).\n"
		 "# TYPE tandem_relay_packet_rebased_total counter\ntandem_relay_packet_rebased_total %llu\n",
	     p->pk_fallback, (unsigned long long)PK_SUM(armed), (unsigned long long)PK_SUM(spliced),
	     (unsigned long long)PK_SUM(nudges), (unsigned long long)PK_SUM(errors),
	     (unsigned long long)PK_SUM(rebased));
	outf(o, "# HELP tandem_relay_packet_fallbacks_total Response bodies spliced by splice(2) instead, by reason.\n"
		 "# TYPE tandem_relay_packet_fallbacks_total counter\n");
	for (int r = 0; r < RELAY_PK_FB_COUNT; r++)
		outf(o, "tandem_relay_packet_fallbacks_total{reason=\"%s\"} %llu\n", relay_pk_fb_name(r),
		     (unsigned long long)PK_SUM(fb[r]));
	outf(o, "# HELP tandem_relay_packet_segments_total Web server segments redirected to clients by the tc programs.\n"
		 "# TYPE tandem_relay_packet_segments_total counter\ntandem_relay_packet_segments_total %llu\n"
		 "# HELP tandem_relay_packet_retransmits_total Of those, retransmissions (at or below a byte spliced before).\n"
		 "# TYPE tandem_relay_packet_retransmits_total counter\ntandem_relay_packet_retransmits_total %llu\n"
		 "# HELP tandem_relay_packet_client_acks_total Client ACKs translated and sent to the web server.\n"
		 "# TYPE tandem_relay_packet_client_acks_total counter\ntandem_relay_packet_client_acks_total %llu\n"
		 "# HELP tandem_relay_packet_sack_cut_total SACK blocks removed (they named the other connection's bytes).\n"
		 "# TYPE tandem_relay_packet_sack_cut_total counter\ntandem_relay_packet_sack_cut_total %llu\n"
		 "# HELP tandem_relay_packet_late_total Web server segments of a range the client already had whole (late retransmissions), passed to the pooled socket as old bytes so that it acks them.\n"
		 "# TYPE tandem_relay_packet_late_total counter\ntandem_relay_packet_late_total %llu\n"
		 "# HELP tandem_relay_packet_window_probes_total Web server window probes inside a range, sent on to the client (whose window stopped the server).\n"
		 "# TYPE tandem_relay_packet_window_probes_total counter\ntandem_relay_packet_window_probes_total %llu\n"
		 "# HELP tandem_relay_packet_window_clamps_total Pooled socket ACKs during a range whose window was cut to the client's.\n"
		 "# TYPE tandem_relay_packet_window_clamps_total counter\ntandem_relay_packet_window_clamps_total %llu\n"
		 "# HELP tandem_relay_packet_claim_waits_total Server segments that could have started a range the client's window could not take yet (they went to the pooled socket).\n"
		 "# TYPE tandem_relay_packet_claim_waits_total counter\ntandem_relay_packet_claim_waits_total %llu\n"
		 "# HELP tandem_relay_packet_ts_cleared_total Web server segments for the pooled socket older than the server's newest timestamp (reordered, or overtaken by their retransmission), passed without their timestamp so that PAWS does not drop them.\n"
		 "# TYPE tandem_relay_packet_ts_cleared_total counter\ntandem_relay_packet_ts_cleared_total %llu\n",
	     (unsigned long long)k.segments, (unsigned long long)k.retransmits,
	     (unsigned long long)k.client_acks, (unsigned long long)k.sack_cut,
	     (unsigned long long)k.late, (unsigned long long)k.probes,
	     (unsigned long long)k.win_clamps, (unsigned long long)k.claim_waits,
	     (unsigned long long)k.ts_cleared);
	outf(o, "# HELP tandem_relay_packet_icmp_total ICMP errors about client connections, their quote put in the L7 socket's numbers, by what they were about.\n"
		 "# TYPE tandem_relay_packet_icmp_total counter\n"
		 "tandem_relay_packet_icmp_total{about=\"spliced\"} %llu\n"
		 "tandem_relay_packet_icmp_total{about=\"socket\"} %llu\n",
	     (unsigned long long)k.icmp_range, (unsigned long long)(k.icmp - k.icmp_range));
	outf(o, "# HELP tandem_relay_packet_drops_total Segments of spliced connections the tc programs dropped, by reason (TCP retransmits them).\n"
		 "# TYPE tandem_relay_packet_drops_total counter\n");
	for (int i = 0; i < RELAY_PK_DROPS; i++)
		outf(o, "tandem_relay_packet_drops_total{reason=\"%s\"} %llu\n", relay_pk_drop_name(i),
		     (unsigned long long)k.drops[i]);
}

/* TLS on this node: handshakes by kind, failures by reason, timeouts; the
 * relay's directions copied for want of kernel TLS. */
_Static_assert(TLS_F_COUNT <= sizeof(((struct l7_stats *)0)->tls_fail) / sizeof(uint64_t),
	       "l7_stats.tls_fail has a counter for every TLS_F_*");

static void l7_metrics_tls(struct out *o, struct l7_proc *p, const struct cfg *c)
{
	const char *node = c->nodes[p->self_idx].name;

	outf(o, "# HELP tandem_tls_handshakes_total TLS handshakes completed, full or resumed (a session ticket).\n"
		 "# TYPE tandem_tls_handshakes_total counter\n"
		 "tandem_tls_handshakes_total{node=\"%s\",kind=\"full\"} %llu\n"
		 "tandem_tls_handshakes_total{node=\"%s\",kind=\"resumed\"} %llu\n",
	     node, (unsigned long long)SUM(st.tls_full), node, (unsigned long long)SUM(st.tls_resumed));
	outf(o, "# HELP tandem_tls_handshake_failures_total TLS handshakes that failed, by reason.\n"
		 "# TYPE tandem_tls_handshake_failures_total counter\n");
	for (int k = 0; k < TLS_F_COUNT; k++)
		outf(o, "tandem_tls_handshake_failures_total{node=\"%s\",reason=\"%s\"} %llu\n", node,
		     tls_fail_name(k), (unsigned long long)SUM(st.tls_fail[k]));
	outf(o, "# HELP tandem_tls_handshake_timeouts_total TLS handshakes closed at handshake_timeout.\n"
		 "# TYPE tandem_tls_handshake_timeouts_total counter\n"
		 "tandem_tls_handshake_timeouts_total{node=\"%s\"} %llu\n"
		 "# HELP tandem_tls_kernel 1 when the kernel has the tls ULP (kernel TLS; not used yet).\n"
		 "# TYPE tandem_tls_kernel gauge\ntandem_tls_kernel %d\n"
		 "# HELP tandem_relay_fallback_total Not moved by the relay engine, by reason (tls: exchange directions of a TLS client, copied: no kernel TLS; unix: web server connections over AF_UNIX, which the kernel engines do not take: their bodies go as the engine's others left to user space, spliced with packet, copied with sockmap).\n"
		 "# TYPE tandem_relay_fallback_total counter\ntandem_relay_fallback_total{reason=\"tls\"} %llu\n"
		 "tandem_relay_fallback_total{reason=\"unix\"} %llu\n",
	     node, (unsigned long long)SUM(st.tls_timeout), p->ktls, (unsigned long long)SUM(rl.user_tls),
	     (unsigned long long)SUM(rl.user_unix));
}

/* The pools and the upstream side, per node, and why connections were not
 * pooled. */
static void l7_metrics_pool(struct out *o, struct l7_proc *p, const struct cfg *c)
{
	static const char *pool_reasons[L7_POOL_NREASONS] = {
		[L7_POOL_CLOSE] = "server_close", [L7_POOL_UNFINISHED] = "unfinished",
		[L7_POOL_EXTRA] = "extra_bytes", [L7_POOL_HANGUP] = "hangup", [L7_POOL_IDLE] = "idle_input",
	};

	outf(o, "# HELP tandem_pool_reused_total Requests sent on a pooled connection.\n"
		 "# TYPE tandem_pool_reused_total counter\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(o, "tandem_pool_reused_total{node=\"%s\"} %llu\n", c->nodes[n].name,
			     (unsigned long long)NODE_SUM(st.pool_reused[n], n));
	outf(o, "# HELP tandem_pool_opened_total Connections opened to web servers.\n"
		 "# TYPE tandem_pool_opened_total counter\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(o, "tandem_pool_opened_total{node=\"%s\"} %llu\n", c->nodes[n].name,
			     (unsigned long long)NODE_SUM(st.pool_opened[n], n));
	outf(o, "# HELP tandem_upstream_failures_total Connects refused or timed out, bad or cut responses.\n"
		 "# TYPE tandem_upstream_failures_total counter\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(o, "tandem_upstream_failures_total{node=\"%s\"} %llu\n", c->nodes[n].name,
			     (unsigned long long)NODE_SUM(st.upstream_fail[n], n));
	outf(o, "# TYPE tandem_retries_total counter\ntandem_retries_total %llu\n",
	     (unsigned long long)SUM(st.retries));
	outf(o, "# HELP tandem_pool_refused_total Upstream connections closed instead of pooled, by reason.\n"
		 "# TYPE tandem_pool_refused_total counter\n");
	for (int k = 0; k < L7_POOL_NREASONS; k++)
		outf(o, "tandem_pool_refused_total{reason=\"%s\"} %llu\n", pool_reasons[k],
		     (unsigned long long)SUM(st.pool_refused[k]));
	outf(o, "# HELP tandem_access_log_lines_total Access log lines put in the workers' rings.\n"
		 "# TYPE tandem_access_log_lines_total counter\ntandem_access_log_lines_total %llu\n"
		 "# HELP tandem_access_log_dropped_total Access log lines dropped: a worker's ring was full (the disk is slow, full or read-only).\n"
		 "# TYPE tandem_access_log_dropped_total counter\ntandem_access_log_dropped_total %llu\n"
		 "# HELP tandem_access_log_write_errors_total Writes to the access log that failed (their lines are lost).\n"
		 "# TYPE tandem_access_log_write_errors_total counter\ntandem_access_log_write_errors_total %llu\n",
	     (unsigned long long)SUM(alog.lines), (unsigned long long)SUM(alog.dropped),
	     (unsigned long long)__atomic_load_n(&p->alog.errors, __ATOMIC_RELAXED));
	outf(o, "# HELP tandem_accept_paused_total Times a listener paused for want of file descriptors.\n"
		 "# TYPE tandem_accept_paused_total counter\ntandem_accept_paused_total %llu\n",
	     (unsigned long long)SUM(st.accept_paused));
}

size_t l7_metrics_write(struct l7_proc *p, char *buf, size_t cap)
{
	struct cfg *c = l7_cfg_enter(p, &p->admin_gen);
	struct out o = { buf, 0, cap };

	l7_metrics_requests(&o, p, c);
	outf(&o, "# HELP tandem_local_responses_total Responses made by tandem itself.\n"
		 "# TYPE tandem_local_responses_total counter\n");
	for (int code = 400; code < 600; code++) {
		uint64_t v = SUM(st.local[code]);
		if (v || code == 400 || code == 502 || code == 503 || code == 504)
			outf(&o, "tandem_local_responses_total{code=\"%d\"} %llu\n", code,
			     (unsigned long long)v);
	}
	outf(&o, "# HELP tandem_parse_errors_total Requests refused by the parser, by reason.\n"
		 "# TYPE tandem_parse_errors_total counter\n");
	for (int e = 1; e < H1_E_COUNT; e++)
		outf(&o, "tandem_parse_errors_total{reason=\"%s\"} %llu\n", h1_err_name(e),
		     (unsigned long long)SUM(st.parse_err[e]));
	l7_metrics_relay(&o, p);
	l7_metrics_packet(&o, p);
	l7_metrics_pool(&o, p, c);
	l7_metrics_tls(&o, p, c);
	outf(&o, "# TYPE tandem_aborted_total counter\ntandem_aborted_total %llu\n",
	     (unsigned long long)SUM(st.aborted));
	outf(&o, "# TYPE tandem_accepted_total counter\ntandem_accepted_total %llu\n",
	     (unsigned long long)SUM(st.accepted));
	outf(&o, "# TYPE tandem_client_connections gauge\ntandem_client_connections %lld\n",
	     (long long)SUM(st.clients));
	outf(&o, "# TYPE tandem_upstream_connections gauge\ntandem_upstream_connections %lld\n",
	     (long long)SUM(st.upstreams));
	outf(&o, "# TYPE tandem_workers gauge\ntandem_workers %d\n", p->nworkers);

	outf(&o, "# HELP tandem_node_up 1 when the node takes requests (weight > 0, not marked down).\n"
		 "# TYPE tandem_node_up gauge\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(&o, "tandem_node_up{node=\"%s\"} %d\n", c->nodes[n].name,
			     lb_weight_of(p->wt_ovr, c, n) > 0 &&
			     !__atomic_load_n(&p->node_down[n], __ATOMIC_RELAXED));
	outf(&o, "# HELP tandem_node_weight The weight the policies use: the file's, or tandem ctl's.\n"
		 "# TYPE tandem_node_weight gauge\n"
		 "# HELP tandem_node_weight_runtime 1 when tandem ctl set the weight (drain, enable, weight).\n"
		 "# TYPE tandem_node_weight_runtime gauge\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n])) {
			outf(&o, "tandem_node_weight{node=\"%s\"} %d\n", c->nodes[n].name,
			     lb_weight_of(p->wt_ovr, c, n));
			outf(&o, "tandem_node_weight_runtime{node=\"%s\"} %d\n", c->nodes[n].name,
			     __atomic_load_n(&p->wt_ovr[n], __ATOMIC_RELAXED) != 0);
		}
	outf(&o, "# HELP tandem_pool_idle Idle pooled connections to the node's web server.\n"
		 "# TYPE tandem_pool_idle gauge\n"
		 "# HELP tandem_pool_open Open connections to the node's web server (idle and in use).\n"
		 "# TYPE tandem_pool_open gauge\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n])) {
			outf(&o, "tandem_pool_idle{node=\"%s\"} %lld\n", c->nodes[n].name,
			     (long long)SUM(pool[n].nidle));
			outf(&o, "tandem_pool_open{node=\"%s\"} %lld\n", c->nodes[n].name,
			     (long long)SUM(pool[n].nopen));
		}
	outf(&o, "# HELP tandem_admin_refused_total Control requests refused (403): not from loopback, no or a wrong token.\n"
		 "# TYPE tandem_admin_refused_total counter\ntandem_admin_refused_total %llu\n",
	     (unsigned long long)__atomic_load_n(&p->admin_refused, __ATOMIC_RELAXED));
	outf(&o, "# TYPE tandem_node_inflight gauge\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(&o, "tandem_node_inflight{node=\"%s\"} %lld\n", c->nodes[n].name,
			     (long long)SUM(inflight[n]));
	outf(&o, "# HELP tandem_peer_inflight Requests the other L7 switches had in flight at the node, at their last answer to this switch's load polls (lard, [l7] load_share).\n"
		 "# TYPE tandem_peer_inflight gauge\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]))
			outf(&o, "tandem_peer_inflight{node=\"%s\"} %ld\n", c->nodes[n].name, share_peers(p, n));
	outf(&o, "# HELP tandem_load_share_polls_total Polls of another switch's GET /load, by switch and outcome.\n"
		 "# TYPE tandem_load_share_polls_total counter\n");
	for (int n = 0; n < c->nnodes; n++)
		if (cfg_node_used(&c->nodes[n]) && (p->share_ok[n] || p->share_failed[n]))
			outf(&o, "tandem_load_share_polls_total{switch=\"%s\",result=\"ok\"} %llu\n"
				 "tandem_load_share_polls_total{switch=\"%s\",result=\"failed\"} %llu\n",
			     c->nodes[n].name,
			     (unsigned long long)__atomic_load_n(&p->share_ok[n], __ATOMIC_RELAXED),
			     c->nodes[n].name,
			     (unsigned long long)__atomic_load_n(&p->share_failed[n], __ATOMIC_RELAXED));
	outf(&o, "# HELP tandem_rule_requests_total Requests matched, by rule (\"-\": none).\n"
		 "# TYPE tandem_rule_requests_total counter\n");
	for (int r = 0; r < c->nrules; r++)
		outf(&o, "tandem_rule_requests_total{rule=\"%s\"} %llu\n", c->rules[r].name,
		     (unsigned long long)SUM(st.rule_hits[r]));
	outf(&o, "tandem_rule_requests_total{rule=\"-\"} %llu\n",
	     (unsigned long long)SUM(st.rule_hits[CFG_MAX_RULES]));
	outf(&o, "# TYPE tandem_group_requests_total counter\n# TYPE tandem_group_unavailable_total counter\n"
		 "# HELP tandem_group_local_total prefer_local groups: requests sent to this node's own web server.\n"
		 "# TYPE tandem_group_local_total counter\n"
		 "# HELP tandem_group_spilled_total prefer_local groups: requests sent to another node, the local one being past spill.\n"
		 "# TYPE tandem_group_spilled_total counter\n");
	for (int g = 0; g < p->workers[0]->nlb; g++) {
		const char *name = p->workers[0]->lb[g].g->name;
		outf(&o, "tandem_group_requests_total{group=\"%s\"} %llu\n", name,
		     (unsigned long long)SUM(st.group_req[g]));
		outf(&o, "tandem_group_unavailable_total{group=\"%s\"} %llu\n", name,
		     (unsigned long long)SUM(st.group_503[g]));
		outf(&o, "tandem_group_local_total{group=\"%s\"} %llu\n", name,
		     (unsigned long long)SUM(st.group_local[g]));
		outf(&o, "tandem_group_spilled_total{group=\"%s\"} %llu\n", name,
		     (unsigned long long)SUM(st.group_spill[g]));
	}
	{
		const struct qos *qs[p->nworkers];

		for (int i = 0; i < p->nworkers; i++)
			qs[i] = &p->workers[i]->qos;
		if (o.len < o.cap)
			o.len += qos_metrics_write(qs, p->nworkers, c, o.p + o.len, o.cap - o.len);
		if (o.len >= o.cap)
			o.len = o.cap - 1;
	}
	l7_cfg_leave(&p->admin_gen);
	return o.len;
}

static void l7_admin_serve(struct l7_proc *p, int fd)
{
	static char body[256 * 1024];
	char req[2048], head[256];
	struct adm_req r;
	struct timeval tv = { .tv_sec = 2 };
	ssize_t n, got = 0;
	size_t len;
	int hl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < (ssize_t)sizeof(req) - 1) {
		n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = 0;
	if (!adm_parse(req, &r) && strcmp(r.method, "GET") && strcmp(r.method, "HEAD")) {
		l7_admin_control(p, fd, &r);
		close(fd);
		return;
	}
	if (r.method[0] && dash_serve(p->dash, fd, &r))
		return;         /* the dashboard's thread answers and closes FD */
	if (!strncmp(req, "GET /load ", 10)) {
		/* the other switches' lard polls (share.c) */
		struct cfg *c = l7_cfg_enter(p, &p->admin_gen);

		len = share_load_text(p, c, body, sizeof(body));
		l7_cfg_leave(&p->admin_gen);
		hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	} else if (!strncmp(req, "GET /metrics", 12)) {
		len = l7_metrics_write(p, body, sizeof(body));
		hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	} else {
		len = snprintf(body, sizeof(body), "not found: try /metrics, or / for the dashboard\n");
		hl = snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\n\r\n", len);
	}
	if (write(fd, head, hl) == hl && write(fd, body, len) < 0)
		log_debug("admin: write failed: %s", strerror(errno));
	close(fd);
}

static void *l7_admin_main(void *arg)
{
	struct l7_proc *p = arg;

	while (!p->stop) {
		struct pollfd pfd[2] = { { .fd = p->admin_fd, .events = POLLIN },
					 { .fd = p->stop_efd, .events = POLLIN } };
		int fd;

		/* a stop makes stop_efd readable (l7_halt); without it, a
		 * timeout lets the flag be seen */
		if (poll(pfd, 2, p->stop_efd >= 0 ? -1 : 200) <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(p->admin_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000);
			continue;
		}
		l7_admin_serve(p, fd);
	}
	return NULL;
}

int l7_admin_start(struct l7_proc *p)
{
	int fd, r;

	/* SO_REUSEPORT: during a binary upgrade the old and the new process
	 * both serve /metrics until the old one exits */
	fd = sock_listen(&p->self->admin, 1, 64);
	if (fd < 0)
		return fd;
	/* the admin thread blocks in accept: a plain blocking socket */
	r = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, r & ~O_NONBLOCK);
	p->admin_fd = fd;
	r = pthread_create(&p->admin_thread, NULL, l7_admin_main, p);
	if (r)
		return -r;
	p->has_admin_thread = 1;
	return 0;
}
