/* cfg-t.h: the cluster description every tandem process reads, as types only,
 * so other parts can embed these without pulling in the parser. */
#ifndef TANDEM_CFG_T_H
#define TANDEM_CFG_T_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <regex.h>

struct tls_set;

#define CFG_MAX_NODES   64
#define CFG_NAME_MAX    32
#define CFG_MAX_GROUPS  32
#define CFG_MAX_RULES   64
#define CFG_MAX_CLASSES 8
#define CFG_MAX_MATCH   8
#define CFG_MAX_VIPS    16

/* An address as written in the file, resolved once at load. */
struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;                  /* 0: not set */
	char text[120];                 /* as written, for messages (a unix: path fits) */
};

enum cfg_relay { CFG_RELAY_COPY, CFG_RELAY_SPLICE, CFG_RELAY_SOCKMAP, CFG_RELAY_AUTO, CFG_RELAY_PACKET };
enum cfg_l4_mode { CFG_L4_DR, CFG_L4_NAT, CFG_L4_USER };
enum cfg_l4_hook { CFG_L4_HOOK_AUTO, CFG_L4_HOOK_XDP, CFG_L4_HOOK_TC };

struct cfg_node {
	char name[CFG_NAME_MAX];
	int line;                       /* where its section starts */
	struct cfg_addr address;        /* on the front end's network, no port */
	struct cfg_addr address2;       /* its second address, of the other family;
					 * len 0: none ("address = IPv4 IPv6") */
	uint8_t mac[6];
	int has_mac;
	struct cfg_addr web;            /* its web server, as every node reaches it */
	struct cfg_addr l7;             /* where its L7 switch listens */
	struct cfg_addr admin;          /* its /metrics */
	struct cfg_addr local;          /* how its own L7 switch reaches its web server
					 * (loopback shortcut, or AF_UNIX: "unix:/path");
					 * unset: web */
	struct cfg_addr tls;            /* its L7 switch's HTTPS listener; len 0: none */
	int tls_line;
	int weight;                     /* 0 drains */
	unsigned since;                 /* cfg_align: the epoch from which this node holds its index */
};

enum cfg_policy { CFG_LB_RR, CFG_LB_WLC, CFG_LB_CHASH, CFG_LB_LARD };

/* A set of nodes and how requests are spread over them. */
struct cfg_group {
	char name[CFG_NAME_MAX];
	int line;
	char node_names[512];           /* as written, resolved after the file */
	int nodes[CFG_MAX_NODES];       /* indexes in cfg.nodes */
	int nnodes;
	enum cfg_policy policy;
	double load_factor;             /* chash: at most this times the fair share */
	int lard_low, lard_high;        /* lard: T_low, T_high in-flight requests */
	char health_path[128];
	int prefer_local;               /* this node's own web server first, while below spill */
	int spill;                      /* in-flight requests at the local web server past which others take new ones */
};

/* spill's default: nginx with one worker on this box (1 KiB, loopback) stops
 * gaining throughput at 8 requests in flight (26k req/s at 1, 68k at 8, 66k at
 * 16 and 32, while the median latency doubles with each doubling); twice the
 * knee keeps the local server busy without queueing much behind it. */
#define CFG_SPILL_DEFAULT 16

enum cfg_match_kind {
	CFG_M_PATH_PREFIX, CFG_M_PATH_SUFFIX, CFG_M_PATH_REGEX, CFG_M_HOST, CFG_M_METHOD, CFG_M_HEADER,
};

struct cfg_match {
	enum cfg_match_kind kind;
	char text[256];                 /* prefix, suffix, host, method, header name */
	regex_t re;                     /* path_regex, header value */
	int has_re;
};

/* First matching rule wins; its matchers are ANDed. */
struct cfg_rule {
	char name[CFG_NAME_MAX];
	int line;
	struct cfg_match m[CFG_MAX_MATCH];
	int nm;
	char group_name[CFG_NAME_MAX], class_name[CFG_NAME_MAX];
	int group_line, class_line;
	int group;                      /* index in cfg.groups; -1: none (the default group) */
	int cls;                        /* index in cfg.classes, -1: none */
};

/* A Web-QoS class. */
struct cfg_class {
	char name[CFG_NAME_MAX];
	int line;
	int priority;                   /* lower is served first */
	int max_inflight;               /* per worker; 0: no limit */
	int queue_timeout;              /* ms, then 503 */
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
	int kernel_min;                 /* sockmap, packet: bodies this big run in the kernel */
	char splice_ifaces[256];        /* packet: the interfaces its programs go on ("": all that are up) */
	int64_t client_max_body;        /* 413 beyond; 0: unlimited */
	int max_inflight;               /* all classes together, per worker; 0: none */
	int fail_down;                  /* consecutive failures that mark a node down */
	int check_interval;             /* ms between probes of a down node */
	int load_share;                 /* ms between polls of the other L7 switches'
					 * loads, for lard (share.c); 0: off */
	char access_log[256];           /* a path, "stderr", or "" (off) */
	enum cfg_log_format { CFG_LOG_COMBINED, CFG_LOG_JSON } access_log_format;
};

/* The front end's health checks of its nodes ([l4] check_*); times in ms. */
struct cfg_l4_check {
	int interval;                   /* between the starts of two checks of a node */
	int timeout;                    /* connect, request and status line, in all */
	int rise, fall;                 /* passes that bring a node up, failures that take it out */
	char path[128];                 /* GET PATH */
	uint8_t status[75];             /* bit N set: status N passes (100..599) */
	char status_text[48];           /* as written, for messages */
};

#define CFG_BGP_PEERS_MAX 4

/* The front end's announcement of the VIP over BGP ([l4] bgp_*): tandem l4
 * writes a BIRD configuration from these and runs BIRD (src/l4/l4_bgp.c).
 * Zero is "not set" everywhere; npeers 0: no BGP. */
struct cfg_l4_bgp {
	struct cfg_addr peers[CFG_BGP_PEERS_MAX];       /* bgp_peer: routers, no port */
	int npeers;
	int line;                       /* of bgp_peer, for cross-key errors */
	uint32_t as, peer_as;           /* bgp_as (ours), bgp_peer_as */
	struct cfg_addr router_id;      /* IPv4; unset: the first address of [l4] iface */
	int hold_time;                  /* seconds, 3..65535; 0: 9 */
	int withdraw_wait;              /* ms between withdrawal and exit at SIGTERM */
	int has_withdraw_wait;          /* else 1000 */
	char bird[128];                 /* the BIRD binary; "": bird from PATH */
	char dir[92];                   /* its config, socket, pid; "": /run/tandem/bgp-net<inode> */
};

struct cfg_l4 {
	enum cfg_l4_hook hook;          /* where the data path attaches */
	char iface[32];
	enum cfg_l4_mode mode;
	struct cfg_addr admin;
	struct cfg_l4_check check;
	struct cfg_l4_bgp bgp;
};

#define CFG_MAX_CERTS 16

/* A certificate and its key, PEM paths as resolved (relative to the file). */
struct cfg_cert {
	char name[CFG_NAME_MAX];        /* [tls NAME]; "" for [tls] */
	int line;                       /* its section */
	char hosts[512];                /* names it answers SNI for: exact or *.domain */
	char cert[256], key[256];
	int cert_line, key_line;
	char ocsp[256];                 /* a DER OCSP response to staple; "": none */
	int ocsp_line;
};

/* [tls] and [tls NAME]: HTTPS termination on the L7 switches. */
struct cfg_tls {
	struct cfg_cert def;            /* [tls]: the default certificate */
	struct cfg_cert sni[CFG_MAX_CERTS];     /* [tls NAME], chosen by SNI */
	int nsni;
	char ticket_keys[256];          /* "": tickets with a key of this process only */
	int ticket_line;
	int handshake_timeout;          /* ms */
	int refuse_unknown;             /* unknown_sni = refuse: a name no hosts list matches */
	char ciphers[512];              /* TLS 1.2 suites, OpenSSL's list syntax ("": tandem's) */
	char ciphersuites[256];         /* TLS 1.3 suites ("": OpenSSL's default) */
	int ciphers_line, suites_line;
	int line;                       /* of [tls]; 0: no such section */
};

/* Every index into nodes[] (groups' members, the L7 switch's per-node
 * state) names one node for as long as it is in the file: cfg_align keeps
 * a node's index across reloads, and a removed node leaves a tombstone
 * there (empty name, no address, weight 0, in no group) that a later node
 * may take; code that walks nodes[] skips tombstones (cfg_node_used). */
struct cfg {
	char file[256];
	unsigned epoch;                 /* 0 as loaded; cfg_align: the old one's + 1 */
	struct cfg_addr vip;            /* the first of vips */
	struct cfg_addr vips[CFG_MAX_VIPS];     /* "vip = ADDR:PORT ..." */
	int nvips;
	enum cfg_relay relay;
	char admin_token_file[256];     /* [cluster]: the bearer token for control verbs
					 * from off the box ("": none); relative to the file */
	struct cfg_l7 l7;
	struct cfg_l4 l4;
	struct cfg_node nodes[CFG_MAX_NODES];
	int nnodes;
	struct cfg_group groups[CFG_MAX_GROUPS];
	int ngroups;
	int default_group;              /* [group default], or -1: every node, rr */
	struct cfg_rule rules[CFG_MAX_RULES];
	int nrules;
	struct cfg_class classes[CFG_MAX_CLASSES];
	int nclasses;
	struct cfg_tls tls;
	struct tls_set *tls_set;        /* the contexts tls_load built (tls.h); NULL: none */
};

#endif
