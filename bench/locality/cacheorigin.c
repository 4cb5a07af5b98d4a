/* cacheorigin: a bench helper origin for bench/locality, a web server with a
 * bounded in-memory cache in front of an emulated disk, so that locality
 * shows on one machine (where every nginx would share the kernel's page
 * cache). It owns one listening socket, one thread per connection, an LRU
 * cache of at most CACHE bytes of bodies and one "disk": reads are served
 * one at a time in arrival order, each for SEEK plus size/bandwidth (the
 * disk model of Pai et al., ASPLOS 1998). The disk is a schedule, not a
 * lock: a read ends at max(now, end of the previous read) + its time, and
 * its thread sleeps until then, so a thread that wakes late on a busy
 * machine delays its own response, not the disk. *
 * HTTP/1.1 keep-alive, GET only; every response has a Content-Length. Any
 * path is an object: its size (in [MIN, MAX]) and its bytes come from a hash
 * of the request target, so a client can recompute them (bench/locality/
 * body.py does). GET /__stats answers the counters as "name value" lines:
 * requests, hits (cached on arrival), misses, reads (disk reads: misses of
 * an object already being read wait for that read), evictions, objects,
 * bytes (cached), disk_busy_us (the disk's service time, all reads);
 * GET /__keys the cached targets, one a line (the bench counts how many
 * nodes cache each object).
 *
 *   cacheorigin -l 127.0.0.1:PORT [-n NAME] [-c CACHE_BYTES] [-s SEEK_US]
 *               [-b BYTES_PER_S] [-z MIN-MAX]
 * Sizes take a k or m suffix (KiB, MiB). SIGTERM or SIGINT end it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem, accept4; the Makefile sets it too */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define NBUCKETS (1u << 16)

static const char *opt_name = "origin";
static uint64_t opt_cache = 16u << 20;
static uint64_t opt_seek_us = 5000;
static uint64_t opt_bw = 40u << 20;
static uint64_t opt_min = 2048, opt_max = 32768;

/* A cached body. refs: one for the cache while the entry is in it, one for
 * each response being sent from it; the last one frees it. */
struct blob {
	int refs;
	size_t len;
	unsigned char data[];
};

struct ent {
	char *key;
	uint64_t h;
	struct blob *b;                 /* NULL while the disk reads it */
	struct ent *hnext;              /* bucket chain */
	struct ent *prev, *next;        /* LRU list (loaded entries only), head = most recent */
};

/* One lock for the cache and the disk's schedule: both are touched for a
 * few instructions per request. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t loaded;          /* broadcast when a read ends */
	struct ent *bucket[NBUCKETS];
	struct ent *head, *tail;
	uint64_t bytes, objects;
	uint64_t disk_free_ns;          /* when the disk ends its last scheduled read */
} cache = { .mu = PTHREAD_MUTEX_INITIALIZER, .loaded = PTHREAD_COND_INITIALIZER };

static struct {
	uint64_t requests, hits, misses, reads, evictions, disk_busy_us;
} st;

#define ADD(f, v) __atomic_add_fetch(&st.f, (v), __ATOMIC_RELAXED)
#define GET(f) __atomic_load_n(&st.f, __ATOMIC_RELAXED)

/* The object's identity: FNV-1a of the target with murmur3's full 64-bit
 * finalizer. Deliberately not tandem's lb_key (one multiply less): the
 * object's size must not follow the bits chash and lard place it by. */
static uint64_t obj_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
	h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
	h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

static size_t obj_size(uint64_t h)
{
	return opt_min + h % (opt_max - opt_min + 1);
}

/* The body: xorshift64 from the hash, 8 bytes little-endian per step. */
static void obj_fill(uint64_t h, unsigned char *d, size_t n)
{
	uint64_t x = h | 1;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (size_t k = 0; k < 8 && i + k < n; k++)
			d[i + k] = (unsigned char)(x >> (8 * k));
	}
}

static void blob_put(struct blob *b)
{
	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* cache.mu held */
static struct ent *cache_find(const char *key, size_t n, uint64_t h)
{
	for (struct ent *e = cache.bucket[h % NBUCKETS]; e; e = e->hnext)
		if (e->h == h && !strncmp(e->key, key, n) && !e->key[n])
			return e;
	return NULL;
}

static void lru_unlink(struct ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		cache.head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		cache.tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct ent *e)
{
	e->next = cache.head;
	e->prev = NULL;
	if (cache.head)
		cache.head->prev = e;
	cache.head = e;
	if (!cache.tail)
		cache.tail = e;
}

/* cache.mu held: unlink E from its bucket and free it (not in the LRU) */
static void cache_drop(struct ent *e)
{
	struct ent **pp;

	for (pp = &cache.bucket[e->h % NBUCKETS]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	free(e->key);
	free(e);
}

/* cache.mu held: drop the least recently used entry */
static void cache_evict_one(void)
{
	struct ent *e = cache.tail;

	lru_unlink(e);
	cache.bytes -= e->b->len;
	cache.objects--;
	ADD(evictions, 1);
	blob_put(e->b);
	cache_drop(e);
}

/* cache.mu held: a hit takes a reference and moves to the LRU head */
static struct blob *cache_take(struct ent *e)
{
	lru_unlink(e);
	lru_push(e);
	__atomic_add_fetch(&e->b->refs, 1, __ATOMIC_RELAXED);
	return e->b;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The body of KEY, with a reference the caller drops (blob_put); NULL when
 * out of memory. *hit says whether it was cached on arrival. */
static struct blob *obj_get(const char *key, size_t n, int *hit)
{
	uint64_t h = obj_hash(key, n);
	struct ent *e;
	struct blob *b;
	int first = 1;

	pthread_mutex_lock(&cache.mu);
	for (;;) {
		e = cache_find(key, n, h);
		if (first) {
			*hit = e && e->b;
			ADD(hits, *hit);
			ADD(misses, !*hit);
			first = 0;
		}
		if (e && e->b) {
			b = cache_take(e);
			pthread_mutex_unlock(&cache.mu);
			return b;
		}
		if (!e)
			break;
		/* being read: wait for a read to end, then look again (E may
		 * be gone by then: evicted, or its read failed) */
		pthread_cond_wait(&cache.loaded, &cache.mu);
	}

	/* ours to read: a placeholder makes other misses of it wait */
	size_t len = obj_size(h);
	uint64_t us = opt_seek_us + (opt_bw ? len * 1000000 / opt_bw : 0), t = now_ns();
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strndup(key, n))) {
		pthread_mutex_unlock(&cache.mu);
		free(e);
		return NULL;
	}
	e->h = h;
	e->hnext = cache.bucket[h % NBUCKETS];
	cache.bucket[h % NBUCKETS] = e;
	if (cache.disk_free_ns > t)
		t = cache.disk_free_ns;
	t += us * 1000;
	cache.disk_free_ns = t;
	pthread_mutex_unlock(&cache.mu);
	ADD(reads, 1);
	ADD(disk_busy_us, us);

	struct timespec ts = { t / 1000000000, t % 1000000000 };
	/* clock_nanosleep returns the error number (EINTR), not -1 */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	b = malloc(sizeof(*b) + len);
	if (b) {
		b->len = len;
		b->refs = 1;            /* the caller's */
		obj_fill(h, b->data, len);
	}

	pthread_mutex_lock(&cache.mu);
	if (b && len <= opt_cache) {
		while (cache.bytes + len > opt_cache)
			cache_evict_one();
		e->b = b;
		b->refs++;              /* the cache's */
		lru_push(e);
		cache.bytes += len;
		cache.objects++;
	} else {
		cache_drop(e);          /* the waiters read it themselves */
	}
	pthread_cond_broadcast(&cache.loaded);
	pthread_mutex_unlock(&cache.mu);
	return b;
}

/* 0 when all of IOV went out, -1 on an error (the peer went away). */
static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t w = writev(fd, iov, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

static int reply_text(int fd, int code, const char *reason, const char *body, int close_it)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			  "X-Origin: %s\r\n%s\r\n",
			  code, reason, strlen(body), opt_name, close_it ? "Connection: close\r\n" : "");
	struct iovec iov[2] = { { head, hl }, { (void *)body, strlen(body) } };

	return write_all(fd, iov, 2);
}

static int reply_stats(int fd, int close_it)
{
	char body[512];
	uint64_t objects, bytes;

	pthread_mutex_lock(&cache.mu);
	objects = cache.objects;
	bytes = cache.bytes;
	pthread_mutex_unlock(&cache.mu);
	snprintf(body, sizeof(body),
		 "name %s\nrequests %llu\nhits %llu\nmisses %llu\nreads %llu\nevictions %llu\n"
		 "objects %llu\nbytes %llu\ncache_bytes %llu\ndisk_busy_us %llu\n",
		 opt_name, (unsigned long long)GET(requests), (unsigned long long)GET(hits),
		 (unsigned long long)GET(misses), (unsigned long long)GET(reads),
		 (unsigned long long)GET(evictions), (unsigned long long)objects,
		 (unsigned long long)bytes, (unsigned long long)opt_cache,
		 (unsigned long long)GET(disk_busy_us));
	return reply_text(fd, 200, "OK", body, close_it);
}

static int reply_keys(int fd, int close_it)
{
	size_t cap = 4096, len = 0;
	char *body = malloc(cap);
	int r;

	pthread_mutex_lock(&cache.mu);
	for (struct ent *e = cache.head; e && body; e = e->next) {
		size_t k = strlen(e->key);
		if (len + k + 2 > cap) {
			char *nb = realloc(body, cap = 2 * cap + k);
			if (!nb) {
				free(body);
				body = NULL;
				break;
			}
			body = nb;
		}
		memcpy(body + len, e->key, k);
		body[len + k] = '\n';
		len += k + 1;
	}
	pthread_mutex_unlock(&cache.mu);
	if (!body)
		return reply_text(fd, 503, "Service Unavailable", "out of memory\n", 1), -1;
	body[len] = 0;
	r = reply_text(fd, 200, "OK", body, close_it);
	free(body);
	return r;
}

/* Case-insensitive: does header line [P, END) have name NAME? Sets *V to
 * its value (leading blanks skipped). */
static int header_is(const char *p, const char *end, const char *name, const char **v)
{
	size_t n = strlen(name);

	if ((size_t)(end - p) <= n || strncasecmp(p, name, n) || p[n] != ':')
		return 0;
	p += n + 1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*v = p;
	return 1;
}

static int value_has(const char *v, const char *end, const char *word)
{
	size_t n = strlen(word);

	for (; v + n <= end; v++)
		if (!strncasecmp(v, word, n))
			return 1;
	return 0;
}

/* One request head in BUF (ending with the blank line): answers it. Returns
 * 1 to keep the connection, 0 to close it. */
static int serve_one(int fd, char *buf, size_t len)
{
	char *eol = memmem(buf, len, "\r\n", 2), *sp1, *sp2, *p, *end = buf + len;
	const char *v;
	int close_it = 0, has_body = 0;

	if (!eol)
		return 0;
	sp1 = memchr(buf, ' ', eol - buf);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', eol - sp1 - 1) : NULL;
	if (!sp1 || !sp2 || sp2 == sp1 + 1 || sp1[1] != '/' || eol - sp2 - 1 != 8 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7)) {
		reply_text(fd, 400, "Bad Request", "bad request line\n", 1);
		return 0;
	}
	if (sp2[8] == '0')
		close_it = 1;
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		eol = memmem(p, end - p, "\r\n", 2);
		if (!eol || eol == p)
			break;
		if (header_is(p, eol, "connection", &v) && value_has(v, eol, "close"))
			close_it = 1;
		if (header_is(p, eol, "content-length", &v) && strtoul(v, NULL, 10) != 0)
			has_body = 1;
		if (header_is(p, eol, "transfer-encoding", &v))
			has_body = 1;
	}
	if (has_body) {
		reply_text(fd, 413, "Payload Too Large", "no request bodies here\n", 1);
		return 0;
	}
	if (sp1 - buf != 3 || strncmp(buf, "GET", 3)) {
		reply_text(fd, 405, "Method Not Allowed", "GET only\n", 1);
		return 0;
	}
	const char *key = sp1 + 1;
	size_t klen = sp2 - key;

	if (klen == 8 && !strncmp(key, "/__stats", 8))
		return reply_stats(fd, close_it) == 0 && !close_it;
	if (klen == 7 && !strncmp(key, "/__keys", 7))
		return reply_keys(fd, close_it) == 0 && !close_it;
	ADD(requests, 1);

	int hit;
	struct blob *b = obj_get(key, klen, &hit);
	if (!b) {
		reply_text(fd, 503, "Service Unavailable", "out of memory\n", 1);
		return 0;
	}
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			  "Content-Length: %zu\r\nX-Origin: %s\r\nX-Cache: %s\r\n%s\r\n",
			  b->len, opt_name, hit ? "HIT" : "MISS", close_it ? "Connection: close\r\n" : "");
	struct iovec iov[2] = { { head, hl }, { b->data, b->len } };
	int r = write_all(fd, iov, 2);

	blob_put(b);
	return r == 0 && !close_it;
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(HEAD_MAX);
	size_t have = 0;

	while (buf) {
		char *e = memmem(buf, have, "\r\n\r\n", 4);
		if (e) {
			size_t n = e + 4 - buf;
			if (!serve_one(fd, buf, n))
				break;
			memmove(buf, buf + n, have - n);
			have -= n;
			continue;
		}
		if (have == HEAD_MAX) {
			reply_text(fd, 431, "Request Header Fields Too Large", "head too large\n", 1);
			break;
		}
		ssize_t r = read(fd, buf + have, HEAD_MAX - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += r;
	}
	free(buf);
	close(fd);
	return NULL;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: cacheorigin -l ADDR:PORT [-n NAME] [-c CACHE_BYTES] [-s SEEK_US]\n"
			"                   [-b DISK_BYTES_PER_S] [-z MIN-MAX]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *listen_at = NULL;
	int c, fd, one = 1;

	while ((c = getopt(argc, argv, "l:n:c:s:b:z:")) != -1) {
		switch (c) {
		case 'l': listen_at = optarg; break;
		case 'n': opt_name = optarg; break;
		case 'c': opt_cache = parse_size(optarg); break;
		case 's': opt_seek_us = strtoull(optarg, NULL, 10); break;
		case 'b': opt_bw = parse_size(optarg); break;
		case 'z': {
			char *dash = strchr(optarg, '-');
			if (!dash)
				usage();
			*dash = 0;
			opt_min = parse_size(optarg);
			opt_max = parse_size(dash + 1);
			break;
		}
		default: usage();
		}
	}
	char *colon = listen_at ? strrchr(listen_at, ':') : NULL;
	if (!colon || opt_min > opt_max)
		usage();
	*colon = 0;
	sa.sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, listen_at, &sa.sin_addr) != 1)
		usage();

	/* a client that goes away mid-body must not kill the server */
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		fprintf(stderr, "cacheorigin: listen on %s:%s failed: %s\n", listen_at, colon + 1,
			strerror(errno));
		return 1;
	}

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EMFILE and the like: wait and go on, the bench sees errors */
			fprintf(stderr, "cacheorigin: accept failed: %s\n", strerror(errno));
			usleep(10000);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, &attr, conn_main, (void *)(intptr_t)cfd)) {
			fprintf(stderr, "cacheorigin: pthread_create failed, connection closed\n");
			close(cfd);
		}
	}
}
