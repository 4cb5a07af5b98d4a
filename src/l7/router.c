/* router: matches a parsed request head against the cluster file's rules.
 * Stateless: the rules, their regexes included, are compiled once by
 * cfg_load and only read here, so every worker shares them without locks
 * (regexec on a compiled regex_t is thread-safe in glibc). */
#include <string.h>
#include <strings.h>

#include "h1.h"
#include "router.h"

const char *router_path(const struct h1_msg *m, size_t *len)
{
	const char *p = m->target.p, *end = p + m->target.len, *q;

	if (m->target.len && p[0] != '/') {
		/* absolute-form scheme://authority/path: skip to the path;
		 * authority-form (CONNECT) and "*" have none */
		const char *s = memmem(p, m->target.len, "://", 3);
		if (!s) {
			*len = 0;
			return p;
		}
		p = memchr(s + 3, '/', end - (s + 3));
		if (!p) {
			*len = 0;
			return end;
		}
	}
	q = memchr(p, '?', end - p);
	*len = (q ? q : end) - p;
	return p;
}

const char *router_host(const struct h1_msg *m, size_t *len)
{
	const char *p, *end, *c;

	if (m->target.len && m->target.p[0] != '/' && (p = memmem(m->target.p, m->target.len, "://", 3))) {
		/* RFC 9112 3.2.2: absolute-form's authority replaces Host */
		p += 3;
		end = m->target.p + m->target.len;
		for (c = p; c < end && *c != '/' && *c != '?'; c++)
			;
		end = c;
	} else if (m->host >= 0) {
		p = m->hdrs[m->host].value.p;
		end = p + m->hdrs[m->host].value.len;
	} else {
		return NULL;
	}
	if (p < end && *p == '[') {
		/* [IPv6]:port: the port is after the bracket, not the first colon */
		c = memchr(p, ']', end - p);
		end = c ? c + 1 : end;
	} else if ((c = memchr(p, ':', end - p))) {
		end = c;
	}
	*len = end - p;
	return p;
}

/* regexec wants a C string; views into the request buffer are not. */
static int router_regex(const regex_t *re, const char *p, size_t n)
{
	char tmp[4096];

	if (n >= sizeof(tmp))
		return 0;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	return !regexec(re, tmp, 0, NULL, 0);
}

static int router_match_one(const struct cfg_match *mt, const struct h1_msg *m)
{
	const char *p;
	size_t n, k = strlen(mt->text);
	int i;

	switch (mt->kind) {
	case CFG_M_PATH_PREFIX:
		p = router_path(m, &n);
		return n >= k && !memcmp(p, mt->text, k);
	case CFG_M_PATH_SUFFIX:
		p = router_path(m, &n);
		return n >= k && !memcmp(p + n - k, mt->text, k);
	case CFG_M_PATH_REGEX:
		p = router_path(m, &n);
		return router_regex(&mt->re, p, n);
	case CFG_M_HOST:
		p = router_host(m, &n);
		return p && n == k && !strncasecmp(p, mt->text, k);
	case CFG_M_METHOD:
		return m->method.len == k && !memcmp(m->method.p, mt->text, k);
	case CFG_M_HEADER:
		for (i = h1_hdr_find(m, mt->text, 0); i >= 0; i = h1_hdr_find(m, mt->text, i + 1))
			if (router_regex(&mt->re, m->hdrs[i].value.p, m->hdrs[i].value.len))
				return 1;
		return 0;
	}
	return 0;
}

int router_match(const struct cfg *c, const struct h1_msg *m)
{
	for (int r = 0; r < c->nrules; r++) {
		const struct cfg_rule *rl = &c->rules[r];
		int k;

		for (k = 0; k < rl->nm; k++)
			if (!router_match_one(&rl->m[k], m))
				break;
		if (k == rl->nm)
			return r;
	}
	return -1;
}
