/* adm: the admin interface's requests, shared by the L7 switch's admin
 * thread, the L4 front end's admin socket and tandem ctl: a request line
 * and the one header that matters (Authorization) parsed from a buffer,
 * who may use a control verb, the node verbs' paths, plain replies. */
#ifndef TANDEM_ADM_H
#define TANDEM_ADM_H

#include <stddef.h>

struct adm_req {
	char method[8];
	char path[192];                 /* without the query */
	char query[192];                /* after '?', "" when none */
	char auth[160];                 /* the Authorization header's value, "" when none */
};

/* the node verbs: POST /node/NAME/drain | enable | weight?value=N */
enum { ADM_NODE_DRAIN, ADM_NODE_ENABLE, ADM_NODE_WEIGHT };

#define ADM_WEIGHT_MAX 1000

/* adm_parse: the request line and Authorization header of the request
 * head in REQ (NUL-terminated). Returns 0, or -EINVAL when the request
 * line is not METHOD SP TARGET SP HTTP/x. */
int adm_parse(const char *req, struct adm_req *r);

/* adm_node_verb: R's path as a node verb: NAME (up to len - 1 bytes) and
 * *weight (the value for ADM_NODE_WEIGHT, 0..ADM_WEIGHT_MAX). Returns
 * ADM_NODE_*, -ENOENT when the path is not /node/NAME/VERB, -EINVAL for a
 * missing or bad value. */
int adm_node_verb(const struct adm_req *r, char *name, size_t len, int *weight);

/* adm_node_request: adm_node_verb, and the answer to FD when the path is
 * not a node verb (404) or its value is bad (400). Returns ADM_NODE_*, or
 * -1 once answered. */
int adm_node_request(int fd, const struct adm_req *r, char *name, size_t len, int *weight);

/* adm_allowed: 1 when the peer of FD may use a control verb: it comes
 * over a unix socket or from loopback, or R carries "Bearer TOKEN" with
 * the token in TOKEN_FILE (its first line; "" or NULL: no token set). 0
 * otherwise, with the reason in WHY. */
int adm_allowed(int fd, const struct adm_req *r, const char *token_file, const char **why);

/* adm_token_read: the first line of FILE into BUF. 0 or -errno (-EINVAL:
 * empty, or longer than LEN - 1). */
int adm_token_read(const char *file, char *buf, size_t len);

/* adm_reply: writes a whole HTTP/1.1 response with BODY (LEN bytes) and
 * Connection: close to FD. STATUS 200, 400, 403, 404, 405, 409, 500 or 503.
 * Returns 0 or -errno. */
int adm_reply(int fd, int status, const char *ctype, const char *body, size_t len);

#endif
