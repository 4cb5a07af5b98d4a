/* test_adm: the admin requests' parts (src/core/adm.c): request line,
 * query and Authorization header; node verb paths and values; who may use
 * a control verb (a unix peer; an inet peer off loopback only with the
 * token from the file, compared whole). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adm.h"
#include "tap.h"

static int verb(const char *req, char *name, int *w)
{
	struct adm_req r;

	if (adm_parse(req, &r))
		return -100;
	return adm_node_verb(&r, name, 32, w);
}

int main(void)
{
	struct adm_req r;
	char name[32], tokfile[] = "/tmp/tandem-adm-XXXXXX";
	const char *why = "";
	int w = -1, fd, sv[2];

	is_int(adm_parse("POST /node/be2/weight?value=3 HTTP/1.1\r\nHost: x\r\n"
			 "authorization:  Bearer abc\r\n\r\n", &r), 0, "parse a control request");
	is_str(r.method, "POST", "method");
	is_str(r.path, "/node/be2/weight", "path without the query");
	is_str(r.query, "value=3", "query");
	is_str(r.auth, "Bearer abc", "Authorization, any case, leading blanks dropped");
	is_int(adm_parse("GET /metrics HTTP/1.0\r\n\r\nAuthorization: Bearer body\r\n", &r), 0, "GET");
	is_str(r.auth, "", "a header after the head's end is not read");
	is_int(adm_parse("garbage\r\n\r\n", &r), -EINVAL, "no request line: -EINVAL");
	is_int(adm_parse("POST /x FTP/1\r\n\r\n", &r), -EINVAL, "not HTTP: -EINVAL");

	is_int(verb("POST /node/be2/drain HTTP/1.1\r\n\r\n", name, &w), ADM_NODE_DRAIN, "drain");
	is_str(name, "be2", "its node");
	is_int(verb("POST /node/a/enable HTTP/1.1\r\n\r\n", name, &w), ADM_NODE_ENABLE, "enable");
	is_int(verb("POST /node/a/weight?value=7 HTTP/1.1\r\n\r\n", name, &w), ADM_NODE_WEIGHT, "weight");
	is_int(w, 7, "its value");
	is_int(verb("POST /node/a/weight?value=1001 HTTP/1.1\r\n\r\n", name, &w), -EINVAL, "weight > 1000");
	is_int(verb("POST /node/a/weight?value=-1 HTTP/1.1\r\n\r\n", name, &w), -EINVAL, "weight < 0");
	is_int(verb("POST /node/a/weight?value=3x HTTP/1.1\r\n\r\n", name, &w), -EINVAL, "weight 3x");
	is_int(verb("POST /node/a/weight HTTP/1.1\r\n\r\n", name, &w), -EINVAL, "weight without value");
	is_int(verb("POST /node/a/boom HTTP/1.1\r\n\r\n", name, &w), -ENOENT, "unknown verb");
	is_int(verb("POST /node//drain HTTP/1.1\r\n\r\n", name, &w), -ENOENT, "no name");
	is_int(verb("POST /reload HTTP/1.1\r\n\r\n", name, &w), -ENOENT, "not a node verb");
	is_int(verb("POST /node/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/drain HTTP/1.1\r\n\r\n", name, &w),
	       -ENOENT, "a name longer than the buffer");

	/* a unix peer may, whatever the token */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	adm_parse("POST /reload HTTP/1.1\r\n\r\n", &r);
	is_int(adm_allowed(sv[0], &r, NULL, &why), 1, "a unix socket peer may");
	close(sv[0]);
	close(sv[1]);
	/* no peer (not connected): judged as off loopback */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	is_int(adm_allowed(fd, &r, NULL, &why), 0, "off loopback, no token file: refused");
	diag(why);
	if (fd >= 0)
		close(fd);
	fd = mkstemp(tokfile);
	if (fd < 0 || write(fd, "s3cret\n", 7) != 7)
		abort();
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	adm_parse("POST /reload HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n", &r);
	is_int(adm_allowed(fd, &r, tokfile, &why), 1, "off loopback with the token: allowed");
	adm_parse("POST /reload HTTP/1.1\r\nAuthorization: Bearer s3cre\r\n\r\n", &r);
	is_int(adm_allowed(fd, &r, tokfile, &why), 0, "a prefix of the token: refused");
	adm_parse("POST /reload HTTP/1.1\r\nAuthorization: Bearer s3cretX\r\n\r\n", &r);
	is_int(adm_allowed(fd, &r, tokfile, &why), 0, "the token and more: refused");
	adm_parse("POST /reload HTTP/1.1\r\nAuthorization: Basic s3cret\r\n\r\n", &r);
	is_int(adm_allowed(fd, &r, tokfile, &why), 0, "not Bearer: refused");
	adm_parse("POST /reload HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n", &r);
	is_int(adm_allowed(fd, &r, "/nonexistent/token", &why), 0, "unreadable token file: refused");
	close(fd);
	unlink(tokfile);
	return done_testing();
}
