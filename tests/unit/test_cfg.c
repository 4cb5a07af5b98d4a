/* test_cfg: the cluster-file reader (src/core/cfg.c). The value parsers
 * (addresses, durations, sizes) on good and bad text, and cfg_load on
 * temporary files: a valid file loads, and every error comes out as
 * "FILE:LINE: reason" with the line where the problem is written.
 * cfg_align between two loaded files: nodes keep their index by name
 * through a reorder, an addition and a removal, a removed node's index is
 * reused only once every index is in use (and never in the reload that
 * removed it), group members are renumbered in their written order, and a
 * file that would need more than CFG_MAX_NODES indexes is refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "tap.h"

/* local = unix:PATH: an absolute path that fits sun_path, whole */
static void test_unix(void)
{
	struct cfg_addr a;
	struct sockaddr_un *su = (struct sockaddr_un *)&a.ss;
	char path[120];

	is_int(cfg_parse_unix(&a, "unix:/run/nginx/http.sock"), 0, "unix:/absolute");
	ok(su->sun_family == AF_UNIX && !strcmp(su->sun_path, "/run/nginx/http.sock") &&
	   a.len == offsetof(struct sockaddr_un, sun_path) + sizeof("/run/nginx/http.sock"),
	   "unix: family, path, length with its NUL");
	is_str(a.text, "unix:/run/nginx/http.sock", "unix: text kept as written");
	char text[128];
	memset(path, 'x', sizeof(path));
	path[0] = '/';
	path[108] = 0;
	snprintf(text, sizeof(text), "unix:%s", path);
	is_int(cfg_parse_unix(&a, text), -EINVAL, "a 108-byte path: sun_path has no room for its NUL");
	path[107] = 0;
	snprintf(text, sizeof(text), "unix:%s", path);
	is_int(cfg_parse_unix(&a, text), 0, "a 107-byte path");
	ok(strlen(su->sun_path) == 107 && !strcmp(a.text, text), "a 107-byte path, whole");
	is_int(cfg_parse_unix(&a, "unix:run/http.sock"), -EINVAL, "relative path");
	is_int(cfg_parse_unix(&a, "unix:"), -EINVAL, "empty path");
	is_int(cfg_parse_unix(&a, "/run/http.sock"), -EINVAL, "no unix: prefix");
}

static void test_addr(void)
{
	struct cfg_addr a;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

	is_int(cfg_parse_addr(&a, "127.0.0.1:8080", 0), 0, "IPv4:port");
	ok(s4->sin_family == AF_INET && ntohs(s4->sin_port) == 8080 &&
	   s4->sin_addr.s_addr == htonl(0x7f000001) && a.len == sizeof(*s4), "IPv4:port resolved");
	is_str(a.text, "127.0.0.1:8080", "text kept as written");
	is_int(cfg_parse_addr(&a, "[::1]:443", 0), 0, "[IPv6]:port");
	ok(s6->sin6_family == AF_INET6 && ntohs(s6->sin6_port) == 443 && a.len == sizeof(*s6) &&
	   IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr), "[IPv6]:port resolved");
	is_int(cfg_parse_addr(&a, "10.1.2.3", 1), 0, "bare IPv4 where the port is optional");
	ok(s4->sin_family == AF_INET && s4->sin_port == 0, "bare IPv4: port 0");
	is_int(cfg_parse_addr(&a, "[fd00::5]", 1), 0, "bracketed IPv6 without port");
	is_int(cfg_parse_addr(&a, "fd00::5", 1), 0, "bare IPv6 where the port is optional");
	ok(s6->sin6_family == AF_INET6 && s6->sin6_port == 0, "bare IPv6: family, port 0");
	is_int(cfg_parse_addr(&a, "::1", 1), 0, "bare ::1");
	ok(s6->sin6_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr),
	   "bare ::1 is IPv6 loopback, not '::' port 1");
	is_int(cfg_parse_addr(&a, "1.2.3.4:65535", 0), 0, "port 65535");

	static const struct { const char *s; int opt; const char *what; } bad[] = {
		{ "10.1.2.3", 0, "port required" },
		{ "fd00::5", 0, "bare IPv6 where a port is required" },
		{ "1.2.3.4:0", 0, "port 0" },
		{ "1.2.3.4:65536", 0, "port 65536" },
		{ "1.2.3.4:", 0, "empty port" },
		{ "1.2.3.4:80x", 0, "junk after port" },
		{ "1.2.3.4:-80", 0, "negative port" },
		{ ":80", 0, "no host" },
		{ "localhost:80", 0, "a name, not an address" },
		{ "1.2.3.256:80", 0, "octet 256" },
		{ "[::1", 0, "open bracket" },
		{ "[::1]x", 1, "junk after bracket" },
		{ "[::1]:", 0, "bracket, empty port" },
		{ "[1.2.3.4]:80", 0, "IPv4 in brackets" },
		{ "", 1, "empty" },
		{ "1111111111111111111111111111111111111111111111111111111111111111111:1", 0, "too long" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(cfg_parse_addr(&a, bad[i].s, bad[i].opt), -EINVAL, "address refused: %s", bad[i].what);
}

static void test_ms(void)
{
	static const struct { const char *s; int ms; } good[] = {
		{ "250ms", 250 }, { "2s", 2000 }, { "1m", 60000 }, { "3", 3000 }, { "1.5s", 1500 },
		{ "0", 0 }, { "0ms", 0 }, { "86400s", 86400000 }, { "1440m", 86400000 },
	};
	static const char *bad[] = {
		"", "abc", "-1", "-5ms", "5h", "2d", "5 s", "5sec", "86401s", "1441m", "nan", "inf",
		"1e30", "ms",
	};
	int ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = -1;
		ok(cfg_parse_ms(good[i].s, &ms) == 0 && ms == good[i].ms, "duration '%s' is %d ms",
		   good[i].s, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(cfg_parse_ms(bad[i], &ms), -EINVAL, "duration refused: '%s'", bad[i]);
}

static void test_size(void)
{
	static const struct { const char *s; int64_t v; } good[] = {
		{ "512", 512 }, { "16k", 16384 }, { "16K", 16384 }, { "1m", 1 << 20 }, { "1g", 1 << 30 },
		{ "4kb", 4096 }, { "4KiB", 4096 }, { "0", 0 }, { "8589934591g", 8589934591LL << 30 },
	};
	static const char *bad[] = {
		"", "k", "-1", "1t", "1 k", "1kx", "1.5k", "8589934592g", "99999999999999999999",
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		ok(cfg_parse_size(good[i].s, &v) == 0 && v == good[i].v, "size '%s' is %lld", good[i].s,
		   (long long)good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(cfg_parse_size(bad[i], &v), -EINVAL, "size refused: '%s'", bad[i]);
}

static char path[64];

/* Writes TEXT to a fresh temporary file (name in path) and loads it.
 * Returns cfg_load's result; the messages land in *MSGS (caller frees). */
static int load(const char *text, struct cfg **out, char **msgs, int *nerr)
{
	size_t len;
	FILE *errs;
	struct cfg *c = calloc(1, sizeof(*c));
	int fd, r;

	snprintf(path, sizeof(path), "/tmp/tandem-cfg-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	errs = open_memstream(msgs, &len);
	*nerr = -1;
	r = cfg_load(c, path, errs, nerr);
	fclose(errs);
	unlink(path);
	*out = c;
	return r;
}

/* Loads TEXT, expects it refused with exactly the messages WANT, in which
 * each "@" stands for the file's name. */
static void refused(const char *text, const char *want, int nerr_want, const char *what)
{
	char *msgs, exp[1024];
	struct cfg *c;
	int nerr, r = load(text, &c, &msgs, &nerr);
	size_t j = 0;

	for (const char *w = want; *w && j < sizeof(exp) - 64; w++)
		if (*w == '@')
			j += sprintf(exp + j, "%s", path);
		else
			exp[j++] = *w;
	exp[j] = 0;
	is_int(r, -EINVAL, "%s: refused", what);
	is_int(nerr, nerr_want, "%s: %d error(s) counted", what, nerr_want);
	is_str(msgs, exp, "%s: messages with file and line", what);
	free(msgs);
	free(c);         /* no rules, so no regex to release */
}

#define NODE "[node a]\nweb = 127.0.0.1:8080\nl7 = 127.0.0.1:8001\n"

static void test_load(void)
{
	struct cfg *c;
	char *msgs;
	int nerr, r;

	r = load("; a comment\n"
		 "[cluster]\n"
		 "vip = 10.0.0.100:80\n"
		 "relay = copy\n"
		 "\n"
		 "[l7]\n"
		 "workers = 2\n"
		 "max_head = 32k\n"
		 "connect_timeout = 250ms   ; inline comment\n"
		 "client_max_body = 1m\n"
		 "[l4]\n"
		 "iface = eth0\n"
		 "mode = nat\n"
		 "[node a]\n"
		 "address = 10.0.0.1\n"
		 "mac = 02:00:00:00:00:01\n"
		 "web = 10.0.0.1:8080\n"
		 "l7 = 10.0.0.1:8001\n"
		 "admin = 10.0.0.1:9001\n"
		 "[node b]\n"
		 "web = 10.0.0.2:8080\n"
		 "weight = 0\n", &c, &msgs, &nerr);
	is_int(r, 0, "a valid file loads");
	is_int(nerr, 0, "no error counted");
	is_str(msgs, "", "no message");
	ok(c->relay == CFG_RELAY_COPY && c->l7.workers == 2 && c->l7.max_head == 32768 &&
	   c->l7.connect_timeout == 250 && c->l7.client_max_body == 1 << 20 &&
	   !strcmp(c->l4.iface, "eth0") && c->l4.mode == CFG_L4_NAT, "cluster, l7, l4 values");
	ok(c->l7.keepalive_timeout == 60000 && c->l7.max_headers == 100 && c->l7.kernel_min == 256 << 10,
	   "defaults kept");
	ok(c->nnodes == 2 && !strcmp(c->nodes[0].name, "a") && c->nodes[0].line == 14 &&
	   c->nodes[1].line == 20, "two nodes, each with its line");
	ok(c->nodes[0].has_mac && c->nodes[0].mac[5] == 1 && c->nodes[0].weight == 1 &&
	   c->nodes[1].weight == 0, "mac, weights");
	ok(cfg_node_find(c, "b") == &c->nodes[1] && !cfg_node_find(c, "z"), "cfg_node_find");
	is_str(cfg_relay_name(c->relay), "copy", "cfg_relay_name");
	free(msgs);
	free(c);         /* no rules, so no regex to release */

	refused("[cluster]\nrelay = copy\n" NODE "bogus = 1\n",
		"@:6: unknown key 'bogus' in [node a]\n", 1, "unknown key");
	refused(NODE "[bogus]\nx = 1\ny = 2\n",
		"@:4: unknown section [bogus]\n", 1, "unknown section, said once");
	refused(NODE "[l7]\nworkers = 1\n[node a]\nweb = 127.0.0.1:1\n",
		"@:6: node 'a' defined twice\n", 1, "duplicate node");
	refused(NODE "\n[node a]\nweb = 127.0.0.1:1\n",
		"@:5: node 'a' defined twice\n", 1, "duplicate node, adjacent sections");
	refused(NODE "[node b]\naddress = 10.0.0.2\nweb = nope\nl7 = 127.0.0.1\n",
		"@:6: bad value 'nope' for 'web' in [node b]\n"
		"@:7: bad value '127.0.0.1' for 'l7' in [node b]\n", 2, "bad addresses");
	refused("[l7]\nworkers = many\nmax_head = 100\nconnect_timeout = 5h\nmax_headers = 1001\n" NODE,
		"@:2: bad value 'many' for 'workers' in [l7]\n"
		"@:3: bad value '100' for 'max_head' in [l7]\n"
		"@:4: bad value '5h' for 'connect_timeout' in [l7]\n"
		"@:5: bad value '1001' for 'max_headers' in [l7]\n", 4, "bad [l7] values");
	refused("[cluster]\nrelay = fast\n" NODE,
		"@:2: bad value 'fast' for 'relay' in [cluster]\n", 1, "bad relay");
	refused("[l4]\nmode = magic\n" NODE,
		"@:2: bad value 'magic' for 'mode' in [l4]\n", 1, "bad l4 mode");
	refused(NODE "mac = 02:00:00\nweight = 1001\n",
		"@:4: bad value '02:00:00' for 'mac' in [node a]\n"
		"@:5: bad value '1001' for 'weight' in [node a]\n", 2, "bad mac, weight");
	refused("[cluster]\nrelay = copy\n",
		"@:1: no [node NAME] section: a cluster needs at least one node\n", 1, "no node");
	refused(NODE "this is not ini\n",
		"@:4: syntax error (expected [section] or key = value)\n", 1, "syntax error");
	r = load("[node a b]\nweb = 127.0.0.1:1\n" NODE, &c, &msgs, &nerr);
	ok(r == -EINVAL && nerr == 1 && !strncmp(msgs, path, strlen(path)) &&
	   !strncmp(msgs + strlen(path), ":1: bad ", 8) && strstr(msgs, "name 'a b'"),
	   "bad node name: refused at its line");
	free(msgs);
	free(c);
	refused("; comment\n\n  ; indented comment\n[node a]\nl7 = 127.0.0.1:1\n\n"
		"web = 127.0.0.1:99999\n",
		"@:7: bad value '127.0.0.1:99999' for 'web' in [node a]\n", 1,
		"comments and blanks counted");

	/* a group naming one node 70 times must not overflow its array */
	char big[2048];
	int n = sprintf(big, NODE "[group g]\nnodes =");
	for (int i = 0; i < 70; i++)
		n += sprintf(big + n, " a");
	sprintf(big + n, "\n");
	refused(big, "@:4: group 'g' lists more than 64 nodes\n", 1, "group with too many nodes");

	/* a line longer than libinih's buffer must not shift later line numbers */
	n = sprintf(big, ";");
	memset(big + n, 'x', 600);
	n += 600;
	sprintf(big + n, "\n" NODE "bogus = 1\n");
	refused(big, "@:5: unknown key 'bogus' in [node a]\n", 1, "line numbers after a long comment");

	n = sprintf(big, NODE "weight = 1  ;");
	memset(big + n, 'x', 300);
	n += 300;
	sprintf(big + n, "\nbogus = 2\n");
	refused(big, "@:4: line longer than 199 bytes\n"
		"@:5: unknown key 'bogus' in [node a]\n", 2, "a long key line is refused, not cut");
	for (int extra = 0; extra < 2; extra++) {
		size_t l0 = strlen(NODE);

		n = sprintf(big, NODE "weight = 1  ;");
		memset(big + n, 'x', l0 + 199 + extra - n);
		strcpy(big + l0 + 199 + extra, "\n");
		r = load(big, &c, &msgs, &nerr);
		ok(extra ? r == -EINVAL && strstr(msgs, ":4: line longer than 199 bytes") : r == 0,
		   "a line of %d bytes is %s", 199 + extra, extra ? "refused" : "fine");
		free(msgs);
		free(c);         /* no rules, so no regex to release */
	}
	is_int(cfg_parse_addr(&(struct cfg_addr){ 0 }, "[::ffff:1.2.3.4]:80", 0), 0, "IPv4-mapped IPv6");

	/* several VIPs, a node with an address of each family, the hook */
	r = load("[cluster]\nvip = 198.18.0.100:80 [2001:2::100]:80\t198.18.0.101:443\n"
		 "vip = [2001:2::101]:8080\n"
		 "[l4]\nhook = tc\n"
		 "[node a]\naddress = 198.18.0.11 2001:2::11\n"
		 "[node b]\naddress = 2001:2::12\n", &c, &msgs, &nerr);
	is_int(r, 0, "vip list, two addresses, hook: loads");
	ok(c->nvips == 4 && !strcmp(c->vips[1].text, "[2001:2::100]:80") &&
	   c->vips[1].ss.ss_family == AF_INET6 && !strcmp(c->vips[3].text, "[2001:2::101]:8080") &&
	   !strcmp(c->vip.text, "198.18.0.100:80"), "4 VIPs (a second line adds), vip is the first");
	ok(c->nodes[0].address.ss.ss_family == AF_INET && c->nodes[0].address2.ss.ss_family == AF_INET6 &&
	   !strcmp(c->nodes[0].address2.text, "2001:2::11") && !c->nodes[1].address2.len &&
	   c->nodes[1].address.ss.ss_family == AF_INET6, "node addresses of both families");
	is_int(c->l4.hook, CFG_L4_HOOK_TC, "hook = tc");
	free(msgs);
	free(c);
	r = load(NODE, &c, &msgs, &nerr);
	ok(r == 0 && c->l4.hook == CFG_L4_HOOK_AUTO && c->nvips == 0, "hook defaults to auto, no VIP");
	free(msgs);
	free(c);
	refused("[cluster]\nvip = 198.18.0.100:80 198.18.0.100:80\n" NODE,
		"@:2: bad value '198.18.0.100:80 198.18.0.100:80' for 'vip' in [cluster]\n", 1,
		"the same VIP twice");
	refused("[cluster]\nvip = 198.18.0.100:80 2001:2::100:80\n" NODE,
		"@:2: bad value '198.18.0.100:80 2001:2::100:80' for 'vip' in [cluster]\n", 1,
		"IPv6 VIP without brackets");
	refused("[cluster]\nvip = 198.18.0.100\n" NODE,
		"@:2: bad value '198.18.0.100' for 'vip' in [cluster]\n", 1, "VIP without port");
	n = sprintf(big, "[cluster]\n");
	for (int i = 0; i < 17; i++)
		n += sprintf(big + n, "vip = 198.18.1.%d:80\n", i);
	sprintf(big + n, NODE);
	refused(big, "@:18: bad value '198.18.1.16:80' for 'vip' in [cluster]\n", 1,
		"a 17th VIP");
	refused(NODE "address = 198.18.0.11 198.18.0.12\n",
		"@:4: bad value '198.18.0.11 198.18.0.12' for 'address' in [node a]\n", 1,
		"two addresses of one family");
	refused(NODE "address = 198.18.0.11 2001:2::11 2001:2::12\n",
		"@:4: bad value '198.18.0.11 2001:2::11 2001:2::12' for 'address' in [node a]\n", 1,
		"three addresses");
	refused("[l4]\nhook = ebpf\n" NODE,
		"@:2: bad value 'ebpf' for 'hook' in [l4]\n", 1, "bad hook");

	/* no messages asked for: still counted */
	c = calloc(1, sizeof(*c));
	r = cfg_load(c, "/nonexistent/tandem.ini", NULL, &nerr);
	is_int(r, -ENOENT, "missing file: -ENOENT");
	free(c);         /* no rules, so no regex to release */
	size_t len;
	FILE *errs = open_memstream(&msgs, &len);
	c = calloc(1, sizeof(*c));
	r = cfg_load(c, "/nonexistent/tandem.ini", errs, &nerr);
	fclose(errs);
	ok(r == -ENOENT && strstr(msgs, "/nonexistent/tandem.ini: cannot open: "), "missing file: message");
	free(msgs);
	free(c);         /* no rules, so no regex to release */
}

/* A file of one [node X] per name in NAMES (space separated), in that
 * order, each with a web port of its own name's, then EXTRA. */
static struct cfg *nodes_cfg(const char *names, const char *extra)
{
	char text[8192], list[1024], *save = NULL, *tok, *msgs;
	struct cfg *c;
	int n = 0, nerr;

	snprintf(list, sizeof(list), "%s", names);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		unsigned port = 9000;

		for (const char *q = tok; *q; q++)
			port = port * 31 + (unsigned char)*q;
		n += snprintf(text + n, sizeof(text) - n, "[node %s]\nweb = 127.0.0.1:%u\n", tok,
			      port % 50000 + 10000);
	}
	snprintf(text + n, sizeof(text) - n, "%s", extra ? extra : "");
	if (load(text, &c, &msgs, &nerr))
		printf("# %d error(s) in the test's own file:\n%s", nerr, msgs);
	free(msgs);
	return c;
}

/* The names by index, "-" for a tombstone. */
static const char *slots(const struct cfg *c)
{
	static char out[2048];
	int n = 0;

	out[0] = 0;
	for (int i = 0; i < c->nnodes; i++)
		n += snprintf(out + n, sizeof(out) - n, "%s%s", i ? " " : "",
			      cfg_node_used(&c->nodes[i]) ? c->nodes[i].name : "-");
	return out;
}

/* The members of group G as indexes, "2 0". */
static const char *members(const struct cfg *c, int g)
{
	static char out[512];
	int n = 0;

	out[0] = 0;
	for (int i = 0; i < c->groups[g].nnodes; i++)
		n += snprintf(out + n, sizeof(out) - n, "%s%d", i ? " " : "", c->groups[g].nodes[i]);
	return out;
}

static int status_in(const struct cfg_l4_check *ck, int st)
{
	return !!(ck->status[st / 8] & (1u << (st % 8)));
}

/* [l4] check_*: defaults, good values, and every bad one at its line. */
static void test_l4_check(void)
{
	const struct cfg_l4_check *ck;
	struct cfg *c;
	char *msgs;
	int nerr, r, all;

	r = load(NODE, &c, &msgs, &nerr);
	ck = &c->l4.check;
	ok(r == 0 && ck->interval == 500 && ck->timeout == 1000 && ck->rise == 2 && ck->fall == 2 &&
	   !strcmp(ck->path, "/"), "check defaults: 500 ms, 1000 ms, rise 2, fall 2, GET /");
	ok(!status_in(ck, 199) && status_in(ck, 200) && status_in(ck, 302) && status_in(ck, 399) &&
	   !status_in(ck, 400) && !status_in(ck, 404) && !status_in(ck, 500),
	   "default check_status: 2xx and 3xx pass, 199 4xx 5xx do not");
	is_str(ck->status_text, "2xx,3xx", "default check_status text");
	free(msgs);
	free(c);

	r = load("[l4]\ncheck_interval = 200ms\ncheck_timeout = 0.3\ncheck_rise = 3\n"
		 "check_fall = 1\ncheck_path = /health?from=l4\ncheck_status = 200\n" NODE,
		 &c, &msgs, &nerr);
	ck = &c->l4.check;
	ok(r == 0 && nerr == 0 && ck->interval == 200 && ck->timeout == 300 && ck->rise == 3 &&
	   ck->fall == 1 && !strcmp(ck->path, "/health?from=l4"), "check keys read");
	ok(status_in(ck, 200) && !status_in(ck, 201) && !status_in(ck, 301) && !status_in(ck, 500),
	   "check_status = 200: only 200");
	free(msgs);
	free(c);

	r = load("[l4]\ncheck_status = 2XX, 404 301\n" NODE, &c, &msgs, &nerr);
	ck = &c->l4.check;
	all = 1;
	for (int st = 200; st < 300; st++)
		all &= status_in(ck, st);
	ok(r == 0 && all && status_in(ck, 404) && status_in(ck, 301) && !status_in(ck, 300) &&
	   !status_in(ck, 403) && !status_in(ck, 500) && !strcmp(ck->status_text, "2XX, 404 301"),
	   "check_status: a class and codes, commas or blanks");
	free(msgs);
	free(c);

	refused("[l4]\ncheck_interval = 500\n" NODE,
		"@:2: bad value '500' for 'check_interval' in [l4]\n", 1,
		"check_interval = 500 is seconds (as in [l7]): over 60 s");
	refused("[l4]\n"
		"check_interval = 10ms\n"
		"check_timeout = 5ms\n"
		"check_timeout = 2m\n"
		"check_rise = 0\n"
		"check_fall = 101\n"
		"check_rise = two\n"
		"check_path = health\n"
		"check_path = /a b\n"
		"check_status = 600\n"
		"check_status = 2x0\n"
		"check_status = 099\n"
		"check_status = ,\n"
		"check_status = 200x\n"
		"check_bogus = 1\n" NODE,
		"@:2: bad value '10ms' for 'check_interval' in [l4]\n"
		"@:3: bad value '5ms' for 'check_timeout' in [l4]\n"
		"@:4: bad value '2m' for 'check_timeout' in [l4]\n"
		"@:5: bad value '0' for 'check_rise' in [l4]\n"
		"@:6: bad value '101' for 'check_fall' in [l4]\n"
		"@:7: bad value 'two' for 'check_rise' in [l4]\n"
		"@:8: bad value 'health' for 'check_path' in [l4]\n"
		"@:9: bad value '/a b' for 'check_path' in [l4]\n"
		"@:10: bad value '600' for 'check_status' in [l4]\n"
		"@:11: bad value '2x0' for 'check_status' in [l4]\n"
		"@:12: bad value '099' for 'check_status' in [l4]\n"
		"@:13: bad value ',' for 'check_status' in [l4]\n"
		"@:14: bad value '200x' for 'check_status' in [l4]\n"
		"@:15: unknown key 'check_bogus' in [l4]\n", 14, "bad [l4] check values");
}

/* [l4] bgp_*: off by default, good values, bad ones at their line, and
 * the checks across keys. */
static void test_l4_bgp(void)
{
	const struct cfg_l4_bgp *b;
	struct cfg *c;
	char *msgs;
	int nerr, r;

	r = load(NODE, &c, &msgs, &nerr);
	is_int(r, 0, "no bgp keys: loads");
	is_int(c->l4.bgp.npeers, 0, "no bgp keys: no BGP");
	free(msgs);
	free(c);

	r = load("[cluster]\nvip = 198.18.0.100:80\n[l4]\nbgp_peer = 198.18.0.254 198.18.0.253\n"
		 "bgp_as = 4200000001\nbgp_peer_as = 65000\nbgp_router_id = 198.18.0.221\n"
		 "bgp_hold_time = 6s\nbgp_withdraw_wait = 0\nbgp_bird = /usr/sbin/bird\n"
		 "bgp_dir = /run/tandem/fe1\n" NODE, &c, &msgs, &nerr);
	is_int(r, 0, "bgp keys load");
	is_str(msgs, "", "... without a message");
	b = &c->l4.bgp;
	ok(b->npeers == 2 && !strcmp(b->peers[1].text, "198.18.0.253") && b->line == 4 &&
	   b->as == 4200000001u && b->peer_as == 65000 &&
	   !strcmp(b->router_id.text, "198.18.0.221") && b->hold_time == 6 &&
	   b->has_withdraw_wait && b->withdraw_wait == 0 && !strcmp(b->bird, "/usr/sbin/bird") &&
	   !strcmp(b->dir, "/run/tandem/fe1"), "bgp values read");
	free(msgs);
	free(c);

	refused("[l4]\n"
		"bgp_peer = 198.18.0.254:179\n"
		"bgp_peer = 198.18.0.1 198.18.0.1\n"
		"bgp_peer = a b c d e\n"
		"bgp_as = 0\n"
		"bgp_as = 4294967296\n"
		"bgp_peer_as = -1\n"
		"bgp_router_id = 2001:2::1\n"
		"bgp_hold_time = 2\n"
		"bgp_hold_time = 1500ms\n"
		"bgp_withdraw_wait = 2m\n"
		"bgp_dir = run/tandem\n"
		"bgp_bogus = 1\n" NODE,
		"@:2: bad value '198.18.0.254:179' for 'bgp_peer' in [l4]\n"
		"@:3: bad value '198.18.0.1 198.18.0.1' for 'bgp_peer' in [l4]\n"
		"@:4: bad value 'a b c d e' for 'bgp_peer' in [l4]\n"
		"@:5: bad value '0' for 'bgp_as' in [l4]\n"
		"@:6: bad value '4294967296' for 'bgp_as' in [l4]\n"
		"@:7: bad value '-1' for 'bgp_peer_as' in [l4]\n"
		"@:8: bad value '2001:2::1' for 'bgp_router_id' in [l4]\n"
		"@:9: bad value '2' for 'bgp_hold_time' in [l4]\n"
		"@:10: bad value '1500ms' for 'bgp_hold_time' in [l4]\n"
		"@:11: bad value '2m' for 'bgp_withdraw_wait' in [l4]\n"
		"@:12: bad value 'run/tandem' for 'bgp_dir' in [l4]\n"
		"@:13: unknown key 'bgp_bogus' in [l4]\n", 12, "bad [l4] bgp values");
	refused("[cluster]\nvip = 198.18.0.100:80\n[l4]\nbgp_peer = 198.18.0.254 2001:2::1\n"
		"bgp_as = 65001\n" NODE,
		"@:4: [l4] bgp_peer needs bgp_as (this front end's AS) and bgp_peer_as (the router's)\n"
		"@:4: [l4] bgp_peer 2001:2::1: not of the VIP's address family (the route is "
		"announced on a session of its family)\n", 2, "bgp_peer without bgp_peer_as, "
		"a peer of the other family");
	refused("[l4]\nbgp_as = 65001\n" NODE,
		"@:1: [l4] bgp_as, bgp_peer_as or bgp_router_id without bgp_peer: no BGP session "
		"to use them\n", 1, "bgp_as without bgp_peer");
}

static void test_align(void)
{
	struct cfg *old, *c, *ref;
	char names[1024], more[1100];
	int n;

	/* reorder: every node keeps its index, its own values, and its
	 * groups list it where the file writes it */
	old = nodes_cfg("a b c", "[group g]\nnodes = a b c\n");
	c = nodes_cfg("c a b", "[group g]\nnodes = c a\n[group h]\nnodes = b b a\n");
	ref = nodes_cfg("a b c", NULL);
	is_int(cfg_align(c, old), 0, "reorder: aligned");
	is_str(slots(c), "a b c", "reorder: every node at its old index");
	ok(!strcmp(c->nodes[2].web.text, ref->nodes[2].web.text) && c->nodes[2].line == 1 &&
	   !strcmp(c->nodes[0].web.text, ref->nodes[0].web.text) && c->nodes[0].line == 3,
	   "reorder: each node's own address and line moved with it");
	is_str(members(c, 0), "2 0", "reorder: group members renumbered, in the file's order");
	is_str(members(c, 1), "1 1 0", "reorder: a repeated member stays repeated");
	ok(cfg_node_find(c, "c") == &c->nodes[2] && cfg_node_find(c, "a") == &c->nodes[0],
	   "reorder: cfg_node_find finds the moved nodes");
	ok(c->epoch == 1 && c->nodes[0].since == 0 && c->nodes[1].since == 0 && c->nodes[2].since == 0,
	   "reorder: epoch 1, no index changed holder");
	cfg_free(old);
	cfg_free(ref);

	/* add: a new node takes a new index at the end */
	old = c;
	c = nodes_cfg("d a b c", "[group g]\nnodes = d b\n");
	is_int(cfg_align(c, old), 0, "add: aligned");
	is_str(slots(c), "a b c d", "add: old nodes stay, d at the end");
	is_str(members(c, 0), "3 1", "add: group members renumbered");
	ok(c->epoch == 2 && c->nodes[3].since == 2 && c->nodes[0].since == 0, "add: d's index is new since epoch 2");
	cfg_free(old);

	/* remove: a tombstone keeps the index */
	old = c;
	c = nodes_cfg("d c a", "[group g]\nnodes = a d\n");
	is_int(cfg_align(c, old), 0, "remove: aligned");
	is_str(slots(c), "a - c d", "remove: b leaves a tombstone");
	ok(c->nnodes == 4 && !c->nodes[1].web.len && !c->nodes[1].l7.len && !c->nodes[1].address.len &&
	   c->nodes[1].weight == 0 && c->nodes[1].since == 3, "remove: the tombstone: no address, weight 0, since 3");
	ok(!cfg_node_find(c, "b") && !cfg_node_find(c, ""), "remove: cfg_node_find finds neither b nor the tombstone");
	is_str(members(c, 0), "0 3", "remove: group members renumbered");
	cfg_free(old);

	/* a new node while indexes are free at the end: not the tombstone */
	old = c;
	c = nodes_cfg("a c d e", NULL);
	is_int(cfg_align(c, old), 0, "add after a removal: aligned");
	is_str(slots(c), "a - c d e", "add after a removal: e at the end, the tombstone stays");
	ok(c->nodes[1].since == 3 && c->nodes[4].since == 4, "add after a removal: the tombstone keeps its since");
	cfg_free(old);
	cfg_free(c);

	/* every index in use: a removed node's index is reused, but not in
	 * the reload that removes it */
	n = 0;
	for (int i = 0; i < CFG_MAX_NODES; i++)
		n += sprintf(names + n, "%sn%d", i ? " " : "", i);
	old = nodes_cfg(names, NULL);
	is_int(old->nnodes, CFG_MAX_NODES, "full: %d nodes loaded", CFG_MAX_NODES);
	snprintf(more, sizeof(more), "%s x", strchr(names, ' ') + 1);   /* n1..n63 x */
	c = nodes_cfg(more, NULL);
	is_int(cfg_align(c, old), -ENOSPC, "full: removing n0 and adding x at once needs %d indexes: refused",
	       CFG_MAX_NODES + 1);
	ok(c->epoch == 0 && !strcmp(c->nodes[0].name, "n1") && !strcmp(c->nodes[63].name, "x"),
	   "full: a refused file is left as loaded");
	cfg_free(c);
	c = nodes_cfg(strchr(names, ' ') + 1, NULL);                       /* n1..n63 */
	is_int(cfg_align(c, old), 0, "full: removing n0 alone: aligned");
	ok(!cfg_node_used(&c->nodes[0]) && !strcmp(c->nodes[1].name, "n1") && c->nnodes == CFG_MAX_NODES,
	   "full: n0 leaves a tombstone at index 0");
	cfg_free(old);
	old = c;
	n = 0;
	for (int i = 1; i < CFG_MAX_NODES - 2; i++)
		n += sprintf(more + n, "n%d ", i);
	sprintf(more + n, "x y");                                          /* n62, n63 go */
	c = nodes_cfg(more, NULL);
	is_int(cfg_align(c, old), -ENOSPC, "full: two removed, two added, one free index: refused");
	cfg_free(c);
	snprintf(more, sizeof(more), "x %s", strchr(names, ' ') + 1);     /* x n1..n63 */
	c = nodes_cfg(more, "[group g]\nnodes = n63 x n5\n");
	is_int(cfg_align(c, old), 0, "full: the next reload adds x: aligned");
	ok(!strcmp(c->nodes[0].name, "x") && c->nodes[0].since == 2 && !strcmp(c->nodes[63].name, "n63") &&
	   c->nodes[63].since == 0 && c->nnodes == CFG_MAX_NODES, "full: x takes n0's index, since epoch 2");
	is_str(members(c, 0), "63 0 5", "full: group members renumbered");
	cfg_free(old);
	cfg_free(c);
}

int main(void)
{
	test_addr();
	test_unix();
	test_ms();
	test_size();
	test_load();
	test_l4_check();
	test_l4_bgp();
	test_align();
	return done_testing();
}
