/* test_router: content rules (src/l7/router.c, and lb_route over it): file
 * order and first match, matchers ANDed, the default group with and without
 * [group default], every matcher kind on edge cases (query strings,
 * absolute-form targets, Host with a port, repeated headers), the cost of a
 * match, and the cluster-file errors of groups, rules and classes with
 * their FILE:LINE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "h1.h"
#include "l7-t.h"
#include "lb.h"
#include "router.h"
#include "tap.h"

static char path[64];

/* Writes TEXT to a temporary file and loads it; messages in *MSGS. */
static int load(const char *text, struct cfg **out, char **msgs, int *nerr)
{
	size_t len;
	FILE *errs;
	struct cfg *c = calloc(1, sizeof(*c));
	int fd, r;

	snprintf(path, sizeof(path), "/tmp/tandem-router-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	errs = open_memstream(msgs, &len);
	r = cfg_load(c, path, errs, nerr);
	fclose(errs);
	unlink(path);
	*out = c;
	return r;
}

static struct cfg *load_ok(const char *text)
{
	struct cfg *c;
	char *msgs;
	int nerr = -1;

	if (load(text, &c, &msgs, &nerr))
		printf("# unexpected errors:\n%s", msgs);
	free(msgs);
	return c;
}

#define NODES "[node be1]\nweb = 127.0.0.1:18081\n" \
	      "[node be2]\nweb = 127.0.0.1:18082\n" \
	      "[node be3]\nweb = 127.0.0.1:18083\n"

static const char *rules_ini =
	NODES
	"[group images]\nnodes = be1 be2\npolicy = chash\n"
	"[group cgi]\nnodes = be3\npolicy = wlc\n"
	"[class interactive]\npriority = 0\n"
	"[class bulk]\npriority = 2\nmax_inflight = 64\nqueue_timeout = 2s\n"
	"[rule post-cgi]\npath_prefix = /cgi/\nmethod = POST\ngroup = images\n"
	"[rule cgi]\npath_prefix = /cgi/\ngroup = cgi\nclass = interactive\n"
	"[rule images]\npath_prefix = /images/\ngroup = images\nclass = bulk\n"
	"[rule iso]\npath_suffix = .iso\ngroup = cgi\n"
	"[rule api]\npath_regex = ^/v[0-9]+/api$\ngroup = cgi\n"
	"[rule static]\nhost = static.example\ngroup = images\n"
	"[rule gold]\nheader = X-Tier: ^gold$\ngroup = cgi\nclass = interactive\n";

enum { R_POST_CGI, R_CGI, R_IMAGES, R_ISO, R_API, R_STATIC, R_GOLD };

static struct h1_msg msg;

static const struct h1_msg *req(const char *text)
{
	if (h1_parse_request(&msg, text, strlen(text)) <= 0) {
		printf("# request not parsed: %s\n", text);
		abort();
	}
	return &msg;
}

static void test_match(void)
{
	struct cfg *c = load_ok(rules_ini);
	static const struct { const char *req; int rule; const char *what; } t[] = {
		{ "GET /cgi/run HTTP/1.1\r\nHost: a\r\n\r\n", R_CGI, "prefix; earlier rule fails its AND" },
		{ "POST /cgi/run HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", R_POST_CGI,
		  "prefix AND method: the earlier rule wins" },
		{ "POST /images/a.png HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", R_IMAGES,
		  "method alone does not make the AND" },
		{ "GET /images HTTP/1.1\r\nHost: a\r\n\r\n", -1, "prefix /images/ needs the slash" },
		{ "GET /images/x.iso HTTP/1.1\r\nHost: a\r\n\r\n", R_IMAGES, "first match wins over a later one" },
		{ "GET /dl/a.iso?x=1.zip HTTP/1.1\r\nHost: a\r\n\r\n", R_ISO, "suffix ignores the query" },
		{ "GET /dl/a.iso.txt HTTP/1.1\r\nHost: a\r\n\r\n", -1, "suffix must end the path" },
		{ "GET /v2/api HTTP/1.1\r\nHost: a\r\n\r\n", R_API, "regex" },
		{ "GET /v2/api?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", R_API, "regex on the path, not the query" },
		{ "GET /v2/api/x HTTP/1.1\r\nHost: a\r\n\r\n", -1, "regex anchored" },
		{ "GET / HTTP/1.1\r\nHost: STATIC.example:8080\r\n\r\n", R_STATIC, "host: case, port ignored" },
		{ "GET / HTTP/1.1\r\nHost: static.example.org\r\n\r\n", -1, "host is whole" },
		{ "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", -1, "IPv6 host" },
		{ "GET / HTTP/1.0\r\n\r\n", -1, "no Host at all" },
		{ "GET http://static.example/cgi/run HTTP/1.1\r\nHost: static.example\r\n\r\n", R_CGI,
		  "absolute-form: path rules see the path" },
		{ "GET http://static.example:81?a HTTP/1.1\r\nHost: x\r\n\r\n", R_STATIC,
		  "absolute-form: host from the target, not the Host header" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX-Tier: silver\r\nx-tier: gold\r\n\r\n", R_GOLD,
		  "header: any of the repeated values, name case ignored" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX-Tier: golden\r\n\r\n", -1, "header regex anchored" },
		{ "GET /other HTTP/1.1\r\nHost: a\r\n\r\n", -1, "no rule" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(router_match(c, req(t[i].req)), t[i].rule, "%s", t[i].what);
	cfg_free(c);
}

static void test_default_group(void)
{
	struct cfg *c = load_ok(rules_ini);
	struct l7_proc *p = calloc(1, sizeof(*p));
	struct l7_worker *w = calloc(1, sizeof(*w));
	int g = -2, cls = -2;

	p->cfg = c;
	w->proc = p;
	w->cfg = c;
	is_int(lb_build(w), 0, "lb_build");
	is_int(w->nlb, 3, "two groups and the implicit one");
	is_int(lb_route(w, req("GET /images/a HTTP/1.1\r\nHost: a\r\n\r\n"), &g, &cls), R_IMAGES, "lb_route: rule");
	is_int(g, 0, "lb_route: the rule's group");
	is_int(cls, 1, "lb_route: the rule's class");
	is_int(lb_route(w, req("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), &g, &cls), -1, "lb_route: no rule");
	is_int(g, w->default_lb, "no rule: the default group");
	is_int(cls, -1, "no rule: no class");
	is_str(w->lb[g].g->name, "all", "no [group default]: every node");
	is_int(w->lb[g].g->nnodes, 3, "all three nodes");
	is_str(w->lb[g].ops->name, "rr", "by rr");
	lb_free(w);
	cfg_free(c);

	c = load_ok(NODES "[group default]\nnodes = be2 be3\npolicy = wlc\n"
		    "[group images]\nnodes = be1\n[rule images]\npath_prefix = /i/\ngroup = images\n");
	w->cfg = p->cfg = c;
	is_int(lb_build(w), 0, "lb_build with [group default]");
	is_int(w->nlb, 2, "no implicit group");
	lb_route(w, req("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), &g, &cls);
	is_str(w->lb[g].g->name, "default", "no rule: [group default]");
	is_str(w->lb[g].ops->name, "wlc", "with its policy");
	lb_free(w);
	cfg_free(c);

	/* a rule with no matcher matches everything: a catch-all */
	c = load_ok(NODES "[group a]\nnodes = be1\n[rule all]\ngroup = a\n");
	is_int(router_match(c, req("DELETE /z HTTP/1.1\r\nHost: a\r\n\r\n")), 0, "rule without matcher: catch-all");
	cfg_free(c);
	free(w);
	free(p);
}

static double ns_per_match(const struct cfg *c, const struct h1_msg *m, int n)
{
	struct timespec a, b;
	volatile int sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		sink += router_match(c, m);
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)sink;
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
}

static void test_cost(void)
{
	struct cfg *none = load_ok(NODES);
	struct cfg *prefixes = load_ok(NODES "[group a]\nnodes = be1\n"
				       "[rule a]\npath_prefix = /a/\ngroup = a\n"
				       "[rule b]\npath_prefix = /b/\nmethod = GET\ngroup = a\n"
				       "[rule c]\npath_suffix = .php\ngroup = a\n"
				       "[rule d]\nhost = d.example\ngroup = a\n");
	struct cfg *all = load_ok(rules_ini);
	const struct h1_msg *m = req("GET /some/where/index.html?x=1 HTTP/1.1\r\nHost: www.example\r\n"
				     "User-Agent: curl\r\nAccept: */*\r\nX-Tier: silver\r\n\r\n");
	double t0 = ns_per_match(none, m, 1000000), t1 = ns_per_match(prefixes, m, 1000000),
	       t2 = ns_per_match(all, m, 100000);

	printf("# router_match, no rule matching: %.1f ns with no rules, %.1f ns with 4 prefix/suffix/host "
	       "rules, %.1f ns with 7 rules (2 regexes)\n", t0, t1, t2);
	ok(t0 < 100, "no rules: %.1f ns per request", t0);
	ok(t1 < 1000, "4 plain rules: %.1f ns per request", t1);
	cfg_free(none);
	cfg_free(prefixes);
	cfg_free(all);
}

/* Loads TEXT, expects it refused with each of WANT (NULL-terminated) among
 * its messages, "@" standing for the file's name, and NERR errors. */
static void refused(const char *text, int nerr_want, const char *const *want, const char *what)
{
	struct cfg *c;
	char *msgs, exp[512];
	int nerr = -1, r = load(text, &c, &msgs, &nerr);

	is_int(r, -EINVAL, "%s: refused", what);
	is_int(nerr, nerr_want, "%s: %d errors", what, nerr_want);
	for (; *want; want++) {
		size_t j = 0;
		for (const char *s = *want; *s && j < sizeof(exp) - 80; s++)
			j += *s == '@' ? (size_t)sprintf(exp + j, "%s", path) : (exp[j] = *s, 1);
		exp[j] = 0;
		if (!ok(strstr(msgs, exp) != NULL, "%s: '%.*s'", what, (int)strcspn(*want, "\n"), *want))
			printf("# messages:\n%s", msgs);
	}
	free(msgs);
	cfg_free(c);
}

static void test_errors(void)
{
	static const char *const refs[] = {
		"@:5: group 'g' names unknown node 'nosuch'\n",
		"@:7: group 'empty' has no node (nodes = NAME ...)\n",
		"@:9: group 'lard': lard_low must be below lard_high\n",
		"@:17: bad regex '([a-z' for 'path_regex' in [rule r1]: ",
		"@:18: rule 'r1' names unknown group 'nogroup'\n",
		"@:21: rule 'r2' names unknown class 'noclass'\n",
		"@:23: rule 'r3' has neither group nor class\n",
		"@:26: bad value 'NoColon' for 'header' in [rule r4]\n",
		"@:30: bad value 'random' for 'policy' in [group p]\n",
		"@:32: bad value '-1' for 'priority' in [class c]\n",
		"@:33: bad value 'soon' for 'queue_timeout' in [class c]\n",
		NULL,
	};
	refused("[node be1]\n"                  /* 1 */
		"web = 127.0.0.1:18081\n"       /* 2 */
		"[node noweb]\n"                /* 3 */
		"l7 = 127.0.0.1:18001\n"        /* 4 */
		"[group g]\nnodes = be1 nosuch\n"       /* 5, 6 */
		"[group empty]\n"               /* 7 */
		"policy = rr\n"                 /* 8: reported at its header, 7 */
		"[group lard]\nnodes = be1\npolicy = lard\nlard_low = 50\nlard_high = 10\n" /* 9..13 */
		"[rule r1]\n"                   /* 14 */
		"path_prefix = /a/\n"           /* 15 */
		"method = GET\n"                /* 16 */
		"path_regex = ([a-z\n"          /* 17 */
		"group = nogroup\n"             /* 18 */
		"[rule r2]\npath_prefix = /x\nclass = noclass\ngroup = g\n" /* 19..22 */
		"[rule r3]\npath_prefix = /y\n" /* 23, 24 */
		"[rule r4]\nheader = NoColon\ngroup = g\n"       /* 25..27 */
		"[group p]\nnodes = be1\npolicy = random\n"      /* 28..30 */
		"[class c]\npriority = -1\nqueue_timeout = soon\n", /* 31..33 */
		11, refs, "references, regex, values");
	static const char *const noweb[] = {
		"@:1: group 'g': node 'x' has no web server\n", "@:1: group 'g' has no node", NULL,
	};
	refused("[group g]\nnodes = x\n[node x]\nl7 = 127.0.0.1:18001\n", 2, noweb, "group node without web server");
	static const char *const dup[] = {
		"@:5: group 'g' defined twice\n", "@:7: class 'k' defined twice\n",
		"@:10: rule 'r' defined twice\n", NULL,
	};
	refused("[node a]\nweb = 127.0.0.1:1\n[group g]\nnodes = a\n[group g]\n[class k]\n[class k]\n"
		"[rule r]\ngroup = g\n[rule r]\ngroup = g\n", 3, dup,
		"groups, classes and rules defined twice, keys or not");
	/* a section with no key at all still exists: a class with defaults */
	struct cfg *c = load_ok("[node a]\nweb = 127.0.0.1:1\n[group g]\nnodes = a\n[class k]\n"
				"[rule r]\ngroup = g\nclass = k\n");
	is_int(c->nclasses, 1, "[class k] without keys exists");
	is_int(c->rules[0].cls, 0, "and a rule may name it");
	is_int(c->classes[0].priority, 1, "default priority 1");
	is_int(c->classes[0].queue_timeout, 2000, "default queue_timeout 2 s");
	cfg_free(c);
	/* a rule may set only the class: its requests stay in the default group */
	c = load_ok("[node a]\nweb = 127.0.0.1:1\n[class k]\n[rule r]\npath_prefix = /\nclass = k\n");
	is_int(c->rules[0].group, -1, "a rule with a class and no group: group -1 (the default)");
	cfg_free(c);
}

/* chash and lard hash one URL the same whatever form its target takes */
static void test_key(void)
{
	uint64_t k;

	k = lb_key_msg(req("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"));
	is_int(lb_key_msg(req("GET http://h/a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")) == k, 1,
	       "key: absolute-form target hashes like its origin-form");
	is_int(lb_key_msg(req("GET http://other:8080/a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")) == k, 1,
	       "key: the authority is not part of it");
	is_int(lb_key_msg(req("GET /a/b?x=2 HTTP/1.1\r\nHost: h\r\n\r\n")) != k, 1,
	       "key: the query is");
	k = lb_key_msg(req("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	is_int(lb_key_msg(req("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n")) == k, 1, "key: http://h is /");
}

int main(void)
{
	test_key();
	test_match();
	test_default_group();
	test_cost();
	test_errors();
	return done_testing();
}
