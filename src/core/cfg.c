/* cfg: reads the cluster file, the one description shared by every tandem
 * process (front end and every back end), and checks it whole: every error is
 * reported as FILE:LINE: reason, and a file with errors is never half-applied.
 *
 * Debian's libinih is built without line numbers in the handler, so lines are
 * counted in our own reader callback: inih asks it for one line at a time and
 * calls the handler for that line before asking for the next. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "cfg.h"
#include "tls.h"

struct cfg_parse {
	struct cfg *c;
	struct cfg_group *group;        /* the [group X] being read, if any */
	struct cfg_rule *rule;
	struct cfg_class *cls;
	FILE *in;
	FILE *errs;
	int line;                       /* of the line inih is handling */
	int section_line;               /* of the last [section] header */
	int nerr;
	int new_section;                /* a [section] line was read since the last key */
	char section[96];
	struct cfg_node *node;          /* the [node X] being read, if any */
	struct cfg_cert *cert;          /* the [tls X] being read, if any */
};

static void cfg_error(struct cfg_parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_error(struct cfg_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (!p->errs)
		return;
	fprintf(p->errs, "%s:%d: ", p->c->file, line);
	va_start(ap, fmt);
	vfprintf(p->errs, fmt, ap);
	va_end(ap);
	fputc('\n', p->errs);
}

static void cfg_section_begin(struct cfg_parse *p, const char *section);

/* inih calls the handler for keys only, so a section without any key (a
 * [class NAME] content with the defaults) would never exist, and a rule
 * naming it would get "unknown class". Begin the section as soon as its
 * header is read, with the very name inih will pass (text between '[' and
 * the first ']', untrimmed, under its 50-byte MAX_SECTION); anything
 * unusual (indented: inih may take it for a continuation line; a comment
 * before ']'; too long) is left to the handler as before. */
static void cfg_section_early(struct cfg_parse *p, const char *line)
{
	const char *end = strchr(line, ']');
	char sec[50];

	if (line[0] != '[' || !end || (size_t)(end - line - 1) >= sizeof(sec))
		return;
	for (const char *q = line + 1; q < end; q++)
		if (*q == ';' && (q[-1] == ' ' || q[-1] == '\t'))
			return;
	memcpy(sec, line + 1, end - line - 1);
	sec[end - line - 1] = 0;
	cfg_section_begin(p, sec);
	p->new_section = 0;
}

static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parse *p = stream;
	const char *s;

	if (!fgets(str, num, p->in))
		return NULL;
	p->line++;
	for (s = str; *s == ' ' || *s == '\t'; s++)
		;
	if (!strchr(str, '\n')) {
		/* inih's buffer is shorter than the line: it would read the
		 * tail as a line of its own. Skip the tail; a long comment is
		 * fine, anything else is refused rather than cut. */
		int ch = fgetc(p->in);

		if (ch != EOF && ch != '\n') {
			while (ch != EOF && ch != '\n')
				ch = fgetc(p->in);
			if (*s != ';' && *s != '#') {
				cfg_error(p, p->line, "line longer than %d bytes", num - 1);
				snprintf(str, num, "\n");
			}
			return str;
		}
	}
	if (*s == '[') {
		p->section_line = p->line;
		p->new_section = 1;
		cfg_section_early(p, str);
	}
	return str;
}

const char *cfg_relay_name(enum cfg_relay r)
{
	static const char *names[] = { "copy", "splice", "sockmap", "auto", "packet" };

	return names[r];
}

int cfg_parse_addr(struct cfg_addr *a, const char *text, int port_optional)
{
	char host[64];
	const char *colon, *port = NULL;
	size_t hl;
	long pn = 0;
	char *end;

	memset(a, 0, sizeof(*a));
	if (strlen(text) >= sizeof(a->text))
		return -EINVAL;
	snprintf(a->text, sizeof(a->text), "%s", text);
	if (text[0] == '[') {
		colon = strchr(text, ']');
		if (!colon)
			return -EINVAL;
		hl = colon - text - 1;
		memcpy(host, text + 1, hl < sizeof(host) ? hl : 0);
		if (hl >= sizeof(host))
			return -EINVAL;
		host[hl] = 0;
		if (colon[1] == ':')
			port = colon + 2;
		else if (colon[1])
			return -EINVAL;
		if (inet_pton(AF_INET, host, &a->ss) == 1)
			return -EINVAL;         /* [IPv4] */
	} else {
		colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon)
			colon = NULL;           /* a bare IPv6 address */
		hl = colon ? (size_t)(colon - text) : strlen(text);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hl);
		host[hl] = 0;
		if (colon)
			port = colon + 1;
	}
	if (port) {
		errno = 0;
		pn = strtol(port, &end, 10);
		if (!*port || *end || errno || pn < 1 || pn > 65535)
			return -EINVAL;
	} else if (!port_optional) {
		return -EINVAL;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(pn);
		a->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(pn);
		a->len = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	return 0;
}

int cfg_parse_unix(struct cfg_addr *a, const char *text)
{
	struct sockaddr_un *su = (struct sockaddr_un *)&a->ss;
	const char *path = text + 5;
	size_t pl = strlen(path);

	memset(a, 0, sizeof(*a));
	if (strncmp(text, "unix:", 5) || path[0] != '/' || pl >= sizeof(su->sun_path) ||
	    strlen(text) >= sizeof(a->text))
		return -EINVAL;
	snprintf(a->text, sizeof(a->text), "%s", text);
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path, path, pl + 1);
	a->len = offsetof(struct sockaddr_un, sun_path) + pl + 1;
	return 0;
}

int cfg_parse_ms(const char *text, int *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || errno || v < 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		;
	else if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else
		return -EINVAL;
	if (!(v <= 86400000.0))         /* NaN too */
		return -EINVAL;
	*ms = (int)v;
	return 0;
}

int cfg_parse_size(const char *text, int64_t *bytes)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || errno || v < 0)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case 0:   break;
	case 'k': mul = 1 << 10; end++; break;
	case 'm': mul = 1 << 20; end++; break;
	case 'g': mul = 1 << 30; end++; break;
	default:  return -EINVAL;
	}
	if (*end && strcasecmp(end, "b") && strcasecmp(end, "ib"))
		return -EINVAL;
	if (v > INT64_MAX / mul)
		return -EINVAL;
	*bytes = v * mul;
	return 0;
}

static int cfg_parse_int(const char *text, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int cfg_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nrules; i++)
		for (int k = 0; k < c->rules[i].nm; k++)
			if (c->rules[i].m[k].has_re)
				regfree(&c->rules[i].m[k].re);
	tls_free(c->tls_set);
	free(c);
}

struct cfg_node *cfg_node_find(struct cfg *c, const char *name)
{
	for (int i = 0; i < c->nnodes; i++)
		if (cfg_node_used(&c->nodes[i]) && !strcmp(c->nodes[i].name, name))
			return &c->nodes[i];
	return NULL;
}

int cfg_align(struct cfg *c, const struct cfg *old)
{
	int to[CFG_MAX_NODES], n = old->nnodes, k;
	uint8_t taken[CFG_MAX_NODES] = { 0 };
	struct cfg_node *nodes;

	for (int i = 0; i < c->nnodes; i++) {
		to[i] = -1;
		for (k = 0; k < old->nnodes && to[i] < 0; k++)
			if (cfg_node_used(&old->nodes[k]) && !strcmp(old->nodes[k].name, c->nodes[i].name))
				to[i] = k;
		if (to[i] >= 0)
			taken[to[i]] = 1;
	}
	/* a new node takes a fresh index while there is one: an index that
	 * held another node comes with whatever requests to that node are
	 * still in flight (they finish and count there) */
	for (int i = 0; i < c->nnodes; i++) {
		if (to[i] >= 0)
			continue;
		if (n < CFG_MAX_NODES) {
			to[i] = n++;
			continue;
		}
		for (k = 0; k < old->nnodes && (taken[k] || cfg_node_used(&old->nodes[k])); k++)
			;
		if (k == old->nnodes)
			return -ENOSPC;
		to[i] = k;
		taken[k] = 1;
	}
	nodes = calloc(n, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	c->epoch = old->epoch + 1;
	/* every index of OLD stays, as a tombstone unless a node takes it */
	for (k = 0; k < old->nnodes; k++)
		nodes[k].since = cfg_node_used(&old->nodes[k]) ? c->epoch : old->nodes[k].since;
	for (int i = 0; i < c->nnodes; i++) {
		int kept = to[i] < old->nnodes && !strcmp(old->nodes[to[i]].name, c->nodes[i].name);

		nodes[to[i]] = c->nodes[i];
		nodes[to[i]].since = kept ? old->nodes[to[i]].since : c->epoch;
	}
	for (int g = 0; g < c->ngroups; g++)
		for (int i = 0; i < c->groups[g].nnodes; i++)
			c->groups[g].nodes[i] = to[c->groups[g].nodes[i]];
	memcpy(c->nodes, nodes, n * sizeof(*nodes));
	c->nnodes = n;
	free(nodes);
	return 0;
}

/* "vip = ADDR:PORT [ADDR:PORT ...]": services, IPv6 in brackets, each once,
 * at most CFG_MAX_VIPS. A second vip line adds to the first (sixteen IPv6
 * services do not fit in one line). The first is also c->vip. 0 or -1. */
static int cfg_parse_vips(struct cfg *c, const char *v)
{
	char buf[CFG_MAX_VIPS * 64], *save = NULL, *tok;
	int n = c->nvips;

	if (strlen(v) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == CFG_MAX_VIPS || cfg_parse_addr(&c->vips[n], tok, 0))
			return -1;
		for (int i = 0; i < n; i++)
			if (c->vips[i].len == c->vips[n].len &&
			    !memcmp(&c->vips[i].ss, &c->vips[n].ss, c->vips[n].len))
				return -1;
		n++;
	}
	if (n == c->nvips)
		return -1;
	c->nvips = n;
	c->vip = c->vips[0];
	return 0;
}

/* A node's "address = IP [IP]": one address, or one of each family. 0 or -1. */
static int cfg_parse_node_addrs(struct cfg_node *n, const char *v)
{
	char buf[160], *save = NULL, *a, *b;

	if (strlen(v) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", v);
	memset(&n->address2, 0, sizeof(n->address2));
	a = strtok_r(buf, " \t", &save);
	b = a ? strtok_r(NULL, " \t", &save) : NULL;
	if (!a || strtok_r(NULL, " \t", &save) || cfg_parse_addr(&n->address, a, 1))
		return -1;
	if (b && (cfg_parse_addr(&n->address2, b, 1) ||
		  n->address2.ss.ss_family == n->address.ss.ss_family))
		return -1;
	return 0;
}

/* V, a path as written in C's file, into OUT (LEN bytes): relative to the
 * cluster file, so every process finds the same file whatever its working
 * directory. 0, or -1 (empty or too long). */
static int cfg_path(const struct cfg *c, const char *v, char *out, size_t len)
{
	const char *slash = strrchr(c->file, '/');
	int n;

	if (!*v)
		return -1;
	if (*v == '/' || !slash)
		n = snprintf(out, len, "%s", v);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - c->file), c->file, v);
	return n < (int)len ? 0 : -1;
}

/* One key of [cluster]. Returns 0, 1 for an unknown key, -1 for a bad value. */
static int cfg_key_cluster(struct cfg *c, const char *k, const char *v)
{
	if (!strcmp(k, "vip"))
		return cfg_parse_vips(c, v);
	if (!strcmp(k, "relay")) {
		static const char *names[] = { "copy", "splice", "sockmap", "auto", "packet" };
		for (int i = 0; i < 5; i++)
			if (!strcmp(v, names[i])) {
				c->relay = i;
				return 0;
			}
		return -1;
	}
	if (!strcmp(k, "admin_token_file"))
		return cfg_path(c, v, c->admin_token_file, sizeof(c->admin_token_file));
	return 1;
}

static int cfg_key_l7(struct cfg_l7 *l, const char *k, const char *v)
{
	static const struct { const char *name; size_t off; } ms[] = {
		{ "client_header_timeout", offsetof(struct cfg_l7, client_header_timeout) },
		{ "keepalive_timeout", offsetof(struct cfg_l7, keepalive_timeout) },
		{ "connect_timeout", offsetof(struct cfg_l7, connect_timeout) },
		{ "server_timeout", offsetof(struct cfg_l7, server_timeout) },
		{ "pool_idle_timeout", offsetof(struct cfg_l7, pool_idle_timeout) },
	};
	int64_t sz;

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (!strcmp(k, ms[i].name))
			return cfg_parse_ms(v, (int *)((char *)l + ms[i].off)) ? -1 : 0;
	if (!strcmp(k, "workers"))
		return cfg_parse_int(v, 0, 256, &l->workers) ? -1 : 0;
	if (!strcmp(k, "max_clients"))
		return cfg_parse_int(v, 1, 10000000, &l->max_clients) ? -1 : 0;
	if (!strcmp(k, "max_headers"))
		return cfg_parse_int(v, 8, 1000, &l->max_headers) ? -1 : 0;
	if (!strcmp(k, "pool_max_per_node"))
		return cfg_parse_int(v, 0, 100000, &l->pool_max_per_node) ? -1 : 0;
	if (!strcmp(k, "max_head")) {
		if (cfg_parse_size(v, &sz) || sz < 1024 || sz > (1 << 20))
			return -1;
		l->max_head = (int)sz;
		return 0;
	}
	if (!strcmp(k, "splice_min")) {
		if (cfg_parse_size(v, &sz) || sz > (1 << 30))
			return -1;
		l->splice_min = (int)sz;
		return 0;
	}
	if (!strcmp(k, "kernel_min")) {
		if (cfg_parse_size(v, &sz) || sz > (1 << 30))
			return -1;
		l->kernel_min = (int)sz;
		return 0;
	}
	if (!strcmp(k, "splice_ifaces")) {
		if (strlen(v) >= sizeof(l->splice_ifaces))
			return -1;
		snprintf(l->splice_ifaces, sizeof(l->splice_ifaces), "%s", v);
		return 0;
	}
	if (!strcmp(k, "client_max_body"))
		return cfg_parse_size(v, &l->client_max_body) ? -1 : 0;
	if (!strcmp(k, "max_inflight"))
		return cfg_parse_int(v, 0, 1000000, &l->max_inflight) ? -1 : 0;
	if (!strcmp(k, "fail_down"))
		return cfg_parse_int(v, 1, 1000, &l->fail_down) ? -1 : 0;
	if (!strcmp(k, "check_interval"))
		return cfg_parse_ms(v, &l->check_interval) || l->check_interval < 50 ? -1 : 0;
	if (!strcmp(k, "load_share")) {
		if (!strcmp(v, "off")) {
			l->load_share = 0;
			return 0;
		}
		return cfg_parse_ms(v, &l->load_share) || l->load_share < 20 || l->load_share > 10000 ? -1 : 0;
	}
	if (!strcmp(k, "access_log")) {
		/* a path (absolute: the process may change directory), stderr,
		 * or off */
		if (!strcmp(v, "off")) {
			l->access_log[0] = 0;
			return 0;
		}
		if ((strcmp(v, "stderr") && v[0] != '/') || strlen(v) >= sizeof(l->access_log))
			return -1;
		snprintf(l->access_log, sizeof(l->access_log), "%s", v);
		return 0;
	}
	if (!strcmp(k, "access_log_format")) {
		if (!strcmp(v, "combined"))
			l->access_log_format = CFG_LOG_COMBINED;
		else if (!strcmp(v, "json"))
			l->access_log_format = CFG_LOG_JSON;
		else
			return -1;
		return 0;
	}
	return 1;
}

/* [l4] check_status: a list of statuses ("200") and classes ("2xx"),
 * separated by commas or blanks, into the bit set SET (bit N: status N).
 * Returns 0 or -EINVAL (nothing listed, or anything outside 100..599). */
static int cfg_parse_status(const char *text, uint8_t set[75])
{
	char buf[64], *save = NULL, *tok;
	int n = 0;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", text);
	memset(set, 0, 75);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int lo, hi;

		if (strlen(tok) != 3 || tok[0] < '1' || tok[0] > '5')
			return -EINVAL;
		if (tolower((unsigned char)tok[1]) == 'x' && tolower((unsigned char)tok[2]) == 'x') {
			lo = (tok[0] - '0') * 100;
			hi = lo + 99;
		} else if (isdigit((unsigned char)tok[1]) && isdigit((unsigned char)tok[2])) {
			lo = hi = atoi(tok);
		} else {
			return -EINVAL;
		}
		for (int s = lo; s <= hi; s++)
			set[s / 8] |= 1u << (s % 8);
		n++;
	}
	return n ? 0 : -EINVAL;
}

/* The check_* keys of [l4]. Times go through cfg_parse_ms like [l7]
 * check_interval (so a bare number is seconds); the 60 s ceiling turns a
 * "500" meant as milliseconds into an error instead of an 8-minute check. */
static int cfg_key_l4_check(struct cfg_l4_check *ck, const char *k, const char *v)
{
	int ms;

	if (!strcmp(k, "check_interval")) {
		if (cfg_parse_ms(v, &ms) || ms < 50 || ms > 60000)
			return -1;
		ck->interval = ms;
		return 0;
	}
	if (!strcmp(k, "check_timeout")) {
		if (cfg_parse_ms(v, &ms) || ms < 10 || ms > 60000)
			return -1;
		ck->timeout = ms;
		return 0;
	}
	if (!strcmp(k, "check_rise"))
		return cfg_parse_int(v, 1, 100, &ck->rise) ? -1 : 0;
	if (!strcmp(k, "check_fall"))
		return cfg_parse_int(v, 1, 100, &ck->fall) ? -1 : 0;
	if (!strcmp(k, "check_path")) {
		/* it goes into the request line as is */
		if (v[0] != '/' || strlen(v) >= sizeof(ck->path))
			return -1;
		for (const char *q = v; *q; q++)
			if ((unsigned char)*q <= ' ' || *q == 0x7f)
				return -1;
		snprintf(ck->path, sizeof(ck->path), "%s", v);
		return 0;
	}
	if (!strcmp(k, "check_status")) {
		if (strlen(v) >= sizeof(ck->status_text) || cfg_parse_status(v, ck->status))
			return -1;
		snprintf(ck->status_text, sizeof(ck->status_text), "%s", v);
		return 0;
	}
	return 1;
}

/* An AS number, 1 .. 4294967295 (RFC 6793 four-octet; 0 is reserved). */
static int cfg_parse_asn(const char *v, uint32_t *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > 4294967295ull)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* The bgp_* keys of [l4] (LINE: where the key is, kept for the checks
 * across keys in cfg_check_l4_bgp). 0, 1 unknown key, -1 bad value. */
static int cfg_key_l4_bgp(struct cfg_l4_bgp *b, const char *k, const char *v, int line)
{
	int ms;

	if (!strcmp(k, "bgp_peer")) {
		char buf[CFG_BGP_PEERS_MAX * 64], *save = NULL, *tok;
		int n = 0;

		if (strlen(v) >= sizeof(buf))
			return -1;
		snprintf(buf, sizeof(buf), "%s", v);
		for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
			if (n == CFG_BGP_PEERS_MAX || cfg_parse_addr(&b->peers[n], tok, 1) ||
			    ((struct sockaddr_in *)&b->peers[n].ss)->sin_port)
				return -1;
			for (int i = 0; i < n; i++)
				if (!memcmp(&b->peers[i].ss, &b->peers[n].ss, b->peers[n].len))
					return -1;
			n++;
		}
		if (!n)
			return -1;
		b->npeers = n;
		b->line = line;
		return 0;
	}
	if (!strcmp(k, "bgp_as"))
		return cfg_parse_asn(v, &b->as);
	if (!strcmp(k, "bgp_peer_as"))
		return cfg_parse_asn(v, &b->peer_as);
	if (!strcmp(k, "bgp_router_id")) {
		struct cfg_addr a;

		if (cfg_parse_addr(&a, v, 1) || a.ss.ss_family != AF_INET ||
		    ((struct sockaddr_in *)&a.ss)->sin_port)
			return -1;
		b->router_id = a;
		return 0;
	}
	if (!strcmp(k, "bgp_hold_time")) {
		/* BGP counts whole seconds; 0 (no keepalives) would let a dead
		 * front end keep its route forever */
		if (cfg_parse_ms(v, &ms) || ms % 1000 || ms < 3000 || ms > 65535000)
			return -1;
		b->hold_time = ms / 1000;
		return 0;
	}
	if (!strcmp(k, "bgp_withdraw_wait")) {
		if (cfg_parse_ms(v, &ms) || ms > 60000)
			return -1;
		b->withdraw_wait = ms;
		b->has_withdraw_wait = 1;
		return 0;
	}
	if (!strcmp(k, "bgp_bird")) {
		if (!*v || strlen(v) >= sizeof(b->bird))
			return -1;
		snprintf(b->bird, sizeof(b->bird), "%s", v);
		return 0;
	}
	if (!strcmp(k, "bgp_dir")) {
		/* the control socket's path, dir + "/bird.ctl", must fit sun_path */
		if (v[0] != '/' || strlen(v) >= sizeof(b->dir))
			return -1;
		snprintf(b->dir, sizeof(b->dir), "%s", v);
		return 0;
	}
	return 1;
}

static int cfg_key_l4(struct cfg_l4 *l, const char *k, const char *v)
{
	if (!strncmp(k, "check_", 6))
		return cfg_key_l4_check(&l->check, k, v);
	if (!strcmp(k, "hook")) {
		static const char *names[] = { "auto", "xdp", "tc" };
		for (int i = 0; i < 3; i++)
			if (!strcmp(v, names[i])) {
				l->hook = i;
				return 0;
			}
		return -1;
	}
	if (!strcmp(k, "iface")) {
		if (!*v || strlen(v) >= sizeof(l->iface))
			return -1;
		snprintf(l->iface, sizeof(l->iface), "%s", v);
		return 0;
	}
	if (!strcmp(k, "mode")) {
		if (!strcmp(v, "dr"))
			l->mode = CFG_L4_DR;
		else if (!strcmp(v, "nat"))
			l->mode = CFG_L4_NAT;
		else if (!strcmp(v, "user"))
			l->mode = CFG_L4_USER;
		else
			return -1;
		return 0;
	}
	if (!strcmp(k, "admin"))
		return cfg_parse_addr(&l->admin, v, 0) ? -1 : 0;
	return 1;
}

static int cfg_key_node(struct cfg_node *n, const char *k, const char *v)
{
	if (!strcmp(k, "address"))
		return cfg_parse_node_addrs(n, v);
	if (!strcmp(k, "web"))
		return cfg_parse_addr(&n->web, v, 0) ? -1 : 0;
	if (!strcmp(k, "l7"))
		return cfg_parse_addr(&n->l7, v, 0) ? -1 : 0;
	if (!strcmp(k, "admin"))
		return cfg_parse_addr(&n->admin, v, 0) ? -1 : 0;
	if (!strcmp(k, "local"))
		return (strncmp(v, "unix:", 5) ? cfg_parse_addr(&n->local, v, 0)
					       : cfg_parse_unix(&n->local, v)) ? -1 : 0;
	if (!strcmp(k, "tls"))
		return cfg_parse_addr(&n->tls, v, 0) ? -1 : 0;
	if (!strcmp(k, "weight"))
		return cfg_parse_int(v, 0, 1000, &n->weight) ? -1 : 0;
	if (!strcmp(k, "mac")) {
		if (cfg_parse_mac(v, n->mac))
			return -1;
		n->has_mac = 1;
		return 0;
	}
	return 1;
}

/* yes/no, true/false, on/off, 1/0 into *OUT. 0, or -1 for anything else. */
static int cfg_parse_bool(const char *v, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" }, *no[] = { "no", "false", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*out = !strcasecmp(v, yes[i]);
			return 0;
		}
	}
	return -1;
}

static int cfg_key_group(struct cfg_group *g, const char *k, const char *v)
{
	if (!strcmp(k, "nodes")) {
		if (strlen(v) >= sizeof(g->node_names))
			return -1;
		snprintf(g->node_names, sizeof(g->node_names), "%s", v);
		return 0;
	}
	if (!strcmp(k, "policy")) {
		static const char *names[] = { "rr", "wlc", "chash", "lard" };
		for (int i = 0; i < 4; i++)
			if (!strcmp(v, names[i])) {
				g->policy = i;
				return 0;
			}
		return -1;
	}
	if (!strcmp(k, "load_factor")) {
		char *end;
		g->load_factor = strtod(v, &end);
		return *end || g->load_factor < 1.0 || g->load_factor > 100 ? -1 : 0;
	}
	if (!strcmp(k, "lard_low"))
		return cfg_parse_int(v, 1, 100000, &g->lard_low) ? -1 : 0;
	if (!strcmp(k, "lard_high"))
		return cfg_parse_int(v, 1, 100000, &g->lard_high) ? -1 : 0;
	if (!strcmp(k, "health_path")) {
		if (v[0] != '/' || strlen(v) >= sizeof(g->health_path) || strpbrk(v, " \t\r\n"))
			return -1;
		snprintf(g->health_path, sizeof(g->health_path), "%s", v);
		return 0;
	}
	if (!strcmp(k, "prefer_local"))
		return cfg_parse_bool(v, &g->prefer_local);
	if (!strcmp(k, "spill"))
		return cfg_parse_int(v, 1, 100000, &g->spill) ? -1 : 0;
	return 1;
}

/* One matcher of a rule. Returns 0, 1 unknown key, -1 bad value, -2 bad
 * regex (message in ERR). */
static int cfg_key_rule(struct cfg_rule *r, const char *k, const char *v, char *err, size_t errlen)
{
	static const struct { const char *key; enum cfg_match_kind kind; } kinds[] = {
		{ "path_prefix", CFG_M_PATH_PREFIX }, { "path_suffix", CFG_M_PATH_SUFFIX },
		{ "path_regex", CFG_M_PATH_REGEX }, { "host", CFG_M_HOST },
		{ "method", CFG_M_METHOD }, { "header", CFG_M_HEADER },
	};
	struct cfg_match *m;
	const char *re = NULL;
	int e;

	if (!strcmp(k, "group") || !strcmp(k, "class")) {
		char *dst = k[0] == 'g' ? r->group_name : r->class_name;
		if (strlen(v) >= CFG_NAME_MAX)
			return -1;
		snprintf(dst, CFG_NAME_MAX, "%s", v);
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(k, kinds[i].key))
			continue;
		if (r->nm == CFG_MAX_MATCH || !*v || strlen(v) >= sizeof(m->text))
			return -1;
		m = &r->m[r->nm];
		m->kind = kinds[i].kind;
		if (m->kind == CFG_M_HEADER) {
			/* header = Name: regex */
			const char *colon = strchr(v, ':');
			if (!colon || colon == v || (size_t)(colon - v) >= sizeof(m->text))
				return -1;
			memcpy(m->text, v, colon - v);
			m->text[colon - v] = 0;
			for (re = colon + 1; *re == ' ' || *re == '\t'; re++)
				;
		} else if (m->kind == CFG_M_PATH_REGEX) {
			re = v;
		} else {
			snprintf(m->text, sizeof(m->text), "%s", v);
		}
		if (re) {
			e = regcomp(&m->re, re, REG_EXTENDED | REG_NOSUB);
			if (e) {
				regerror(e, &m->re, err, errlen);
				return -2;
			}
			m->has_re = 1;
		}
		r->nm++;
		return 0;
	}
	return 1;
}

static int cfg_key_class(struct cfg_class *c, const char *k, const char *v)
{
	if (!strcmp(k, "priority"))
		return cfg_parse_int(v, 0, 100, &c->priority) ? -1 : 0;
	if (!strcmp(k, "max_inflight"))
		return cfg_parse_int(v, 0, 1000000, &c->max_inflight) ? -1 : 0;
	if (!strcmp(k, "queue_timeout"))
		return cfg_parse_ms(v, &c->queue_timeout) ? -1 : 0;
	return 1;
}

/* One key of [tls] (T is the section's, TLS the whole of it; [tls NAME]
 * takes hosts, cert, key and ocsp only). Returns 0, 1 unknown, -1 bad value. */
static int cfg_key_tls(struct cfg *c, struct cfg_cert *t, const char *k, const char *v, int line)
{
	struct cfg_tls *tls = &c->tls;

	if (!strcmp(k, "cert")) {
		t->cert_line = line;
		return cfg_path(c, v, t->cert, sizeof(t->cert));
	}
	if (!strcmp(k, "key")) {
		t->key_line = line;
		return cfg_path(c, v, t->key, sizeof(t->key));
	}
	if (!strcmp(k, "ocsp")) {
		t->ocsp_line = line;
		return cfg_path(c, v, t->ocsp, sizeof(t->ocsp));
	}
	if (!strcmp(k, "hosts")) {
		int n = snprintf(t->hosts, sizeof(t->hosts), "%s", v);

		return *v && n < (int)sizeof(t->hosts) ? 0 : -1;
	}
	if (t != &tls->def)
		return 1;
	if (!strcmp(k, "ticket_keys")) {
		tls->ticket_line = line;
		return cfg_path(c, v, tls->ticket_keys, sizeof(tls->ticket_keys));
	}
	if (!strcmp(k, "handshake_timeout"))
		return cfg_parse_ms(v, &tls->handshake_timeout) || !tls->handshake_timeout ? -1 : 0;
	if (!strcmp(k, "ciphers") || !strcmp(k, "ciphersuites")) {
		int suites = !strcmp(k, "ciphersuites");
		char *d = suites ? tls->ciphersuites : tls->ciphers;
		size_t cap = suites ? sizeof(tls->ciphersuites) : sizeof(tls->ciphers);

		*(suites ? &tls->suites_line : &tls->ciphers_line) = line;
		/* OpenSSL judges the list itself (tls_load, at -t too) */
		return *v && snprintf(d, cap, "%s", v) < (int)cap ? 0 : -1;
	}
	if (!strcmp(k, "unknown_sni")) {
		if (strcmp(v, "default") && strcmp(v, "refuse"))
			return -1;
		tls->refuse_unknown = !strcmp(v, "refuse");
		return 0;
	}
	return 1;
}

static int cfg_valid_name(const char *s)
{
	if (!*s || strlen(s) >= CFG_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return 0;
	return 1;
}

/* A new section header was read: set up what its keys go to. */
static void cfg_section_begin(struct cfg_parse *p, const char *section)
{
	struct cfg *c = p->c;
	const char *name;

	snprintf(p->section, sizeof(p->section), "%s", section);
	p->node = NULL;
	p->group = NULL;
	p->rule = NULL;
	p->cls = NULL;
	p->cert = NULL;
	if (!strcmp(section, "tls") && !c->tls.line) {
		c->tls.line = p->section_line;
		c->tls.def.line = p->section_line;
	}
	name = strpbrk(section, " \t");
	if (!name)
		return;
	for (; *name == ' ' || *name == '\t'; name++)
		;
	if (!cfg_valid_name(name)) {
		cfg_error(p, p->section_line, "bad name '%s' (letters, digits, - _ . ; at most %d)",
			  name, CFG_NAME_MAX - 1);
		return;
	}
	if (!strncmp(section, "group", 5) && (section[5] == ' ' || section[5] == '\t')) {
		for (int i = 0; i < c->ngroups; i++)
			if (!strcmp(c->groups[i].name, name)) {
				cfg_error(p, p->section_line, "group '%s' defined twice", name);
				return;
			}
		if (c->ngroups == CFG_MAX_GROUPS) {
			cfg_error(p, p->section_line, "too many groups (at most %d)", CFG_MAX_GROUPS);
			return;
		}
		p->group = &c->groups[c->ngroups++];
		snprintf(p->group->name, sizeof(p->group->name), "%s", name);
		p->group->line = p->section_line;
		p->group->load_factor = 1.25;
		p->group->lard_low = 25;
		p->group->spill = CFG_SPILL_DEFAULT;
		p->group->lard_high = 65;
		snprintf(p->group->health_path, sizeof(p->group->health_path), "/");
		return;
	}
	if (!strncmp(section, "rule", 4) && (section[4] == ' ' || section[4] == '\t')) {
		if (c->nrules == CFG_MAX_RULES) {
			cfg_error(p, p->section_line, "too many rules (at most %d)", CFG_MAX_RULES);
			return;
		}
		for (int i = 0; i < c->nrules; i++)
			if (!strcmp(c->rules[i].name, name)) {
				cfg_error(p, p->section_line, "rule '%s' defined twice", name);
				return;
			}
		p->rule = &c->rules[c->nrules++];
		snprintf(p->rule->name, sizeof(p->rule->name), "%s", name);
		p->rule->line = p->section_line;
		p->rule->cls = -1;
		return;
	}
	if (!strncmp(section, "class", 5) && (section[5] == ' ' || section[5] == '\t')) {
		for (int i = 0; i < c->nclasses; i++)
			if (!strcmp(c->classes[i].name, name)) {
				cfg_error(p, p->section_line, "class '%s' defined twice", name);
				return;
			}
		if (c->nclasses == CFG_MAX_CLASSES) {
			cfg_error(p, p->section_line, "too many classes (at most %d)", CFG_MAX_CLASSES);
			return;
		}
		p->cls = &c->classes[c->nclasses++];
		snprintf(p->cls->name, sizeof(p->cls->name), "%s", name);
		p->cls->line = p->section_line;
		p->cls->priority = 1;
		p->cls->queue_timeout = 2000;
		return;
	}
	if (!strncmp(section, "tls", 3) && (section[3] == ' ' || section[3] == '\t')) {
		struct cfg_tls *t = &c->tls;

		for (int i = 0; i < t->nsni; i++)
			if (!strcmp(t->sni[i].name, name)) {
				cfg_error(p, p->section_line, "tls '%s' defined twice", name);
				return;
			}
		if (t->nsni == CFG_MAX_CERTS) {
			cfg_error(p, p->section_line, "too many [tls NAME] sections (at most %d)",
				  CFG_MAX_CERTS);
			return;
		}
		p->cert = &t->sni[t->nsni++];
		snprintf(p->cert->name, sizeof(p->cert->name), "%s", name);
		p->cert->line = p->section_line;
		return;
	}
	if (strncmp(section, "node", 4) || (section[4] != ' ' && section[4] != '\t'))
		return;
	if (cfg_node_find(c, name)) {
		cfg_error(p, p->section_line, "node '%s' defined twice", name);
		return;
	}
	if (c->nnodes == CFG_MAX_NODES) {
		cfg_error(p, p->section_line, "too many nodes (at most %d)", CFG_MAX_NODES);
		return;
	}
	p->node = &c->nodes[c->nnodes++];
	snprintf(p->node->name, sizeof(p->node->name), "%s", name);
	p->node->line = p->section_line;
	p->node->weight = 1;
}

static int cfg_handler(void *user, const char *section, const char *key, const char *value)
{
	struct cfg_parse *p = user;
	int r;

	/* a new header, even with the same name: a node written twice in a
	 * row must not merge into one */
	if (p->new_section || strcmp(section, p->section))
		cfg_section_begin(p, section);
	p->new_section = 0;
	if (!strcmp(section, "cluster"))
		r = cfg_key_cluster(p->c, key, value);
	else if (!strcmp(section, "l7"))
		r = cfg_key_l7(&p->c->l7, key, value);
	else if (!strcmp(section, "tls"))
		r = cfg_key_tls(p->c, &p->c->tls.def, key, value, p->line);
	else if (!strncmp(section, "tls", 3) && (section[3] == ' ' || section[3] == '\t')) {
		if (!p->cert)
			return 1;
		r = cfg_key_tls(p->c, p->cert, key, value, p->line);
	} else if (!strcmp(section, "l4") && !strncmp(key, "bgp_", 4))
		r = cfg_key_l4_bgp(&p->c->l4.bgp, key, value, p->line);
	else if (!strcmp(section, "l4"))
		r = cfg_key_l4(&p->c->l4, key, value);
	else if (!strncmp(section, "node", 4) && (section[4] == ' ' || section[4] == '\t')) {
		if (!p->node)
			return 1;       /* its header was already reported */
		if (!strcmp(key, "tls"))
			p->node->tls_line = p->line;
		r = cfg_key_node(p->node, key, value);
	} else if (!strncmp(section, "group", 5) && (section[5] == ' ' || section[5] == '\t')) {
		if (!p->group)
			return 1;
		r = cfg_key_group(p->group, key, value);
	} else if (!strncmp(section, "class", 5) && (section[5] == ' ' || section[5] == '\t')) {
		if (!p->cls)
			return 1;
		r = cfg_key_class(p->cls, key, value);
	} else if (!strncmp(section, "rule", 4) && (section[4] == ' ' || section[4] == '\t')) {
		char err[128];

		if (!p->rule)
			return 1;
		if (!strcmp(key, "group"))
			p->rule->group_line = p->line;
		if (!strcmp(key, "class"))
			p->rule->class_line = p->line;
		r = cfg_key_rule(p->rule, key, value, err, sizeof(err));
		if (r == -2) {
			cfg_error(p, p->line, "bad regex '%s' for '%s' in [%s]: %s", value, key, section, err);
			return 1;
		}
	} else {
		if (p->section_line != -1)
			cfg_error(p, p->section_line, "unknown section [%s]", section);
		p->section_line = -1;   /* say it once, not once per key */
		return 1;
	}
	if (r > 0)
		cfg_error(p, p->line, "unknown key '%s' in [%s]", key, section);
	else if (r < 0)
		cfg_error(p, p->line, "bad value '%s' for '%s' in [%s]", value, key, section);
	return 1;
}

static void cfg_defaults(struct cfg *c)
{
	c->relay = CFG_RELAY_SPLICE;
	c->l7.workers = 0;
	c->l7.max_clients = 100000;
	c->l7.max_head = 16384;
	c->l7.max_headers = 100;
	c->l7.client_header_timeout = 10000;
	c->l7.keepalive_timeout = 60000;
	c->l7.connect_timeout = 3000;
	c->l7.server_timeout = 30000;
	/* nginx closes idle keep-alive connections after 75 s by default: ours
	 * must give up first, or we would send a request into a closing socket */
	c->l7.pool_idle_timeout = 30000;
	c->l7.pool_max_per_node = 256;
	c->l7.splice_min = 16384;
	/* bench/relay: below a few hundred KiB the psock backlog's per-skb
	 * work costs more than copying the few skbs a body has */
	c->l7.kernel_min = 256 << 10;
	c->l7.client_max_body = 0;
	c->l4.mode = CFG_L4_DR;
	c->l4.check.interval = 500;
	c->l4.check.timeout = 1000;
	c->l4.check.rise = 2;
	c->l4.check.fall = 2;
	snprintf(c->l4.check.path, sizeof(c->l4.check.path), "/");
	cfg_parse_status("2xx,3xx", c->l4.check.status);
	snprintf(c->l4.check.status_text, sizeof(c->l4.check.status_text), "2xx,3xx");
	c->l7.fail_down = 3;
	c->l7.check_interval = 1000;
	c->l7.load_share = 100;
	c->default_group = -1;
	c->tls.handshake_timeout = 10000;
}

/* [tls] and [tls NAME]: what only the whole file tells (the files
 * themselves are read by tls_load, which only the L7 switch needs). */
static void cfg_check_tls(struct cfg_parse *p)
{
	struct cfg_tls *t = &p->c->tls;
	int listeners = 0;

	for (int i = 0; i < p->c->nnodes; i++)
		if (p->c->nodes[i].tls.len && !listeners++ && !t->def.cert[0])
			cfg_error(p, p->c->nodes[i].tls_line, "node '%s' has a tls listener but [tls] "
				  "names no cert and key", p->c->nodes[i].name);
	if (t->line && (!t->def.cert[0] || !t->def.key[0]))
		cfg_error(p, t->line, "[tls] needs both cert and key (PEM files)");
	for (int i = 0; i < t->nsni; i++) {
		struct cfg_cert *k = &t->sni[i];

		if (!k->cert[0] || !k->key[0] || !k->hosts[0])
			cfg_error(p, k->line, "[tls %s] needs hosts, cert and key", k->name);
		if (!t->line)
			cfg_error(p, k->line, "[tls %s] without [tls]: the default certificate is missing",
				  k->name);
	}
}

/* [l4] bgp_*: what only the whole file tells. */
static void cfg_check_l4_bgp(struct cfg_parse *p)
{
	const struct cfg_l4_bgp *b = &p->c->l4.bgp;

	if (!b->npeers) {
		if (b->as || b->peer_as || b->router_id.len)
			cfg_error(p, 1, "[l4] bgp_as, bgp_peer_as or bgp_router_id without bgp_peer: "
				  "no BGP session to use them");
		return;
	}
	if (!b->as || !b->peer_as)
		cfg_error(p, b->line, "[l4] bgp_peer needs bgp_as (this front end's AS) and "
			  "bgp_peer_as (the router's)");
	for (int i = 0; i < b->npeers; i++)
		if (p->c->vip.len && b->peers[i].ss.ss_family != p->c->vip.ss.ss_family)
			cfg_error(p, b->line, "[l4] bgp_peer %s: not of the VIP's address family "
				  "(the route is announced on a session of its family)",
				  b->peers[i].text);
}

/* Checks across sections, once the whole file is read. */
static void cfg_check(struct cfg_parse *p)
{
	struct cfg *c = p->c;

	if (c->nnodes == 0)
		cfg_error(p, 1, "no [node NAME] section: a cluster needs at least one node");
	for (int i = 0; i < c->nnodes; i++) {
		struct cfg_node *n = &c->nodes[i];

		if (!n->web.len && !n->l7.len && !n->address.len)
			cfg_error(p, n->line, "node '%s' has neither web, l7 nor address", n->name);
		/* no check that l7/admin addresses differ between nodes: in a
		 * real cluster every node listens on the same 0.0.0.0:80 (or
		 * the VIP) of its own host */
	}
	c->default_group = -1;
	for (int i = 0; i < c->ngroups; i++) {
		struct cfg_group *g = &c->groups[i];
		char names[512], *save = NULL, *tok;

		if (!strcmp(g->name, "default"))
			c->default_group = i;
		snprintf(names, sizeof(names), "%s", g->node_names);
		for (tok = strtok_r(names, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
			struct cfg_node *n = cfg_node_find(c, tok);
			if (!n) {
				cfg_error(p, g->line, "group '%s' names unknown node '%s'", g->name, tok);
				continue;
			}
			if (!n->web.len) {
				cfg_error(p, g->line, "group '%s': node '%s' has no web server", g->name, tok);
				continue;
			}
			if (g->nnodes == CFG_MAX_NODES) {
				/* a name may be repeated: bound the array, not the nodes */
				cfg_error(p, g->line, "group '%s' lists more than %d nodes", g->name,
					  CFG_MAX_NODES);
				break;
			}
			g->nodes[g->nnodes++] = n - c->nodes;
		}
		if (!g->nnodes)
			cfg_error(p, g->line, "group '%s' has no node (nodes = NAME ...)", g->name);
		if (g->lard_low >= g->lard_high)
			cfg_error(p, g->line, "group '%s': lard_low must be below lard_high", g->name);
	}
	for (int i = 0; i < c->nrules; i++) {
		struct cfg_rule *r = &c->rules[i];
		int found = -1;

		/* a rule without group keeps the default group and only sets
		 * the class; a rule with neither would do nothing */
		if (!r->group_name[0] && !r->class_name[0])
			cfg_error(p, r->line, "rule '%s' has neither group nor class", r->name);
		for (int g = 0; g < c->ngroups; g++)
			if (!strcmp(c->groups[g].name, r->group_name))
				found = g;
		if (found < 0 && r->group_name[0])
			cfg_error(p, r->group_line, "rule '%s' names unknown group '%s'", r->name, r->group_name);
		r->group = found;
		if (r->class_name[0]) {
			r->cls = -1;
			for (int k = 0; k < c->nclasses; k++)
				if (!strcmp(c->classes[k].name, r->class_name))
					r->cls = k;
			if (r->cls < 0)
				cfg_error(p, r->class_line, "rule '%s' names unknown class '%s'", r->name, r->class_name);
		}
	}
	if (c->l7.pool_idle_timeout >= 75000)
		cfg_error(p, 1, "[l7] pool_idle_timeout must stay below nginx's keepalive_timeout (75s)");
	cfg_check_l4_bgp(p);
	cfg_check_tls(p);
}

int cfg_load(struct cfg *c, const char *file, FILE *errs, int *nerr)
{
	struct cfg_parse p = { .c = c, .errs = errs };
	int r;

	memset(c, 0, sizeof(*c));
	cfg_defaults(c);
	snprintf(c->file, sizeof(c->file), "%s", file);
	p.in = fopen(file, "r");
	if (!p.in) {
		r = -errno;
		if (errs)
			fprintf(errs, "%s: cannot open: %s\n", file, strerror(errno));
		return r;
	}
	r = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
	fclose(p.in);
	if (r > 0)
		cfg_error(&p, r, "syntax error (expected [section] or key = value)");
	else if (r < 0)
		cfg_error(&p, 1, "cannot parse (out of memory)");
	cfg_check(&p);
	if (nerr)
		*nerr = p.nerr;
	return p.nerr ? -EINVAL : 0;
}
