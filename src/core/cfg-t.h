/* cfg-t.h: the cluster description every tandem process reads, as types only,
 * so other parts can embed these without pulling in the parser. */
#ifndef TANDEM_CFG_T_H
#define TANDEM_CFG_T_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define CFG_MAX_NODES 64
#define CFG_NAME_MAX  32

/* An address as written in the file, resolved once at load. */
struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;                  /* 0: not set */
	char text[64];                  /* as written, for messages */
};

enum cfg_relay { CFG_RELAY_COPY, CFG_RELAY_SPLICE, CFG_RELAY_SOCKMAP, CFG_RELAY_AUTO };
enum cfg_l4_mode { CFG_L4_DR, CFG_L4_NAT, CFG_L4_USER };

struct cfg_node {
	char name[CFG_NAME_MAX];
	int line;                       /* where its section starts */
	struct cfg_addr address;        /* on the front end's network, no port */
	uint8_t mac[6];
	int has_mac;
	struct cfg_addr web;            /* its web server, as every node reaches it */
	struct cfg_addr l7;             /* where its L7 switch listens */
	struct cfg_addr admin;          /* its /metrics */
	int weight;                     /* 0 drains */
};

/* Tunables of every L7 switch; times in milliseconds, sizes in bytes. */
struct cfg_l7 {
	int workers;                    /* 0: one per online CPU */
	int max_clients;                /* per process */
	int max_head;                   /* request head bytes before 431 */
	int max_headers;                /* header lines before 431 */
	int client_header_timeout;      /* 408 after this */
	int keepalive_timeout;          /* idle client connection closed */
	int connect_timeout;            /* 504 after this */
	int server_timeout;             /* 504 (or close) after this */
	int pool_idle_timeout;          /* idle upstream connection closed */
	int pool_max_per_node;          /* per worker */
	int splice_min;                 /* bodies below this are copied */
	int64_t client_max_body;        /* 413 beyond; 0: unlimited */
};

struct cfg_l4 {
	char iface[32];
	enum cfg_l4_mode mode;
	struct cfg_addr admin;
};

struct cfg {
	char file[256];
	struct cfg_addr vip;
	enum cfg_relay relay;
	struct cfg_l7 l7;
	struct cfg_l4 l4;
	struct cfg_node nodes[CFG_MAX_NODES];
	int nnodes;
};

#endif
