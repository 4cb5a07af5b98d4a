/* adm: what the daemons' admin endpoints share: parsing the few parts of a
 * request they look at, deciding who may change state (loopback, a unix
 * socket, or the bearer token of [cluster] admin_token_file), the node
 * verbs' paths, and whole replies. No state of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "adm.h"

static void adm_copy(char *dst, size_t cap, const char *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = 0;
}

int adm_parse(const char *req, struct adm_req *r)
{
	const char *sp1, *sp2, *q, *h;

	memset(r, 0, sizeof(*r));
	sp1 = strchr(req, ' ');
	if (!sp1 || sp1 == req || sp1 - req >= (long)sizeof(r->method))
		return -EINVAL;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || strncmp(sp2 + 1, "HTTP/", 5))
		return -EINVAL;
	adm_copy(r->method, sizeof(r->method), req, sp1 - req);
	q = memchr(sp1 + 1, '?', sp2 - sp1 - 1);
	adm_copy(r->path, sizeof(r->path), sp1 + 1, (q ? q : sp2) - sp1 - 1);
	if (q)
		adm_copy(r->query, sizeof(r->query), q + 1, sp2 - q - 1);
	/* header names are case-insensitive; a line starts after \n */
	for (h = strchr(sp2, '\n'); h && h[1] && h[1] != '\r' && h[1] != '\n'; h = strchr(h + 1, '\n')) {
		if (!strncasecmp(h + 1, "Authorization:", 14)) {
			const char *v = h + 15, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = v + strcspn(v, "\r\n");
			adm_copy(r->auth, sizeof(r->auth), v, e - v);
			break;
		}
	}
	return 0;
}

int adm_node_verb(const struct adm_req *r, char *name, size_t len, int *weight)
{
	const char *p = r->path, *slash, *verb;
	char *end;
	long v;

	if (strncmp(p, "/node/", 6))
		return -ENOENT;
	p += 6;
	slash = strchr(p, '/');
	if (!slash || slash == p || (size_t)(slash - p) >= len)
		return -ENOENT;
	adm_copy(name, len, p, slash - p);
	verb = slash + 1;
	if (!strcmp(verb, "drain"))
		return ADM_NODE_DRAIN;
	if (!strcmp(verb, "enable"))
		return ADM_NODE_ENABLE;
	if (strcmp(verb, "weight"))
		return -ENOENT;
	if (strncmp(r->query, "value=", 6) || !r->query[6])
		return -EINVAL;
	errno = 0;
	v = strtol(r->query + 6, &end, 10);
	if (errno || (*end && *end != '&') || v < 0 || v > ADM_WEIGHT_MAX)
		return -EINVAL;
	*weight = (int)v;
	return ADM_NODE_WEIGHT;
}

int adm_node_request(int fd, const struct adm_req *r, char *name, size_t len, int *weight)
{
	char out[128];
	int verb = adm_node_verb(r, name, len, weight), n;

	if (verb == -ENOENT) {
		n = snprintf(out, sizeof(out), "not found: POST /node/NAME/drain|enable|weight?value=N "
			     "or POST /reload\n");
		adm_reply(fd, 404, NULL, out, n);
		return -1;
	}
	if (verb < 0) {
		n = snprintf(out, sizeof(out), "bad value: weight?value=N, N in 0..%d\n", ADM_WEIGHT_MAX);
		adm_reply(fd, 400, NULL, out, n);
		return -1;
	}
	return verb;
}

int adm_token_read(const char *file, char *buf, size_t len)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	if ((size_t)n == len)
		return -EINVAL;
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return buf[0] ? 0 : -EINVAL;
}

static int adm_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_UNIX)
		return 1;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

int adm_allowed(int fd, const struct adm_req *r, const char *token_file, const char **why)
{
	char tok[160];
	size_t n, m;
	unsigned diff = 0;

	if (adm_loopback(fd))
		return 1;
	if (!token_file || !token_file[0]) {
		*why = "control verbs are taken from loopback only ([cluster] admin_token_file is not set)";
		return 0;
	}
	if (strncmp(r->auth, "Bearer ", 7)) {
		*why = "no Authorization: Bearer token";
		return 0;
	}
	if (adm_token_read(token_file, tok, sizeof(tok))) {
		*why = "admin_token_file cannot be read";
		return 0;
	}
	/* the whole length is compared, in time independent of where the
	 * first difference is */
	n = strlen(tok);
	m = strlen(r->auth + 7);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(tok[i] ^ (i < m ? r->auth[7 + i] : 0));
	if (diff || n != m) {
		*why = "wrong token";
		return 0;
	}
	return 1;
}

int adm_reply(int fd, int status, const char *ctype, const char *body, size_t len)
{
	const char *reason;
	char head[256];
	int hl;

	switch (status) {
	case 200: reason = "OK"; break;
	case 400: reason = "Bad Request"; break;
	case 403: reason = "Forbidden"; break;
	case 404: reason = "Not Found"; break;
	case 405: reason = "Method Not Allowed"; break;
	case 409: reason = "Conflict"; break;
	case 503: reason = "Service Unavailable"; break;
	default: reason = "Internal Server Error"; break;
	}
	hl = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Connection: close\r\n\r\n", status, reason, ctype ? ctype : "text/plain", len);
	if (write(fd, head, hl) != hl)
		return -errno;
	while (len) {
		ssize_t w = write(fd, body, len);

		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		body += w;
		len -= w;
	}
	return 0;
}
