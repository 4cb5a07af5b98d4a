/* bpf_priv.h: when a BPF data-path test may skip, and what it prints when a
 * program does not load. A test skips only when this process lacks a
 * capability the kernel asks for (CAP_BPF, or CAP_SYS_ADMIN on kernels
 * before 5.8, CAP_NET_ADMIN for networking program types, CAP_SYS_ADMIN for
 * a new network namespace). With them, a program that does not load (a
 * verifier rejection, a missing helper) is a failure, and the verifier's log
 * goes into the TAP stream as comments so the failure can be read. */
#ifndef TANDEM_BPF_PRIV_H
#define TANDEM_BPF_PRIV_H

#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define PRIV_NET_ADMIN 12
#define PRIV_SYS_ADMIN 21
#define PRIV_BPF 39

/* The process's effective capability set, from /proc/self/status (no
 * libcap); 0 when it cannot be read. */
static inline uint64_t priv_caps(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

static inline int priv_has(int cap)
{
	return (priv_caps() >> cap) & 1;
}

/* NULL when this process may load BPF programs of a networking type (the
 * ones these tests load), else the name of the capability it lacks. CAP_BPF
 * exists since 5.8; before it CAP_SYS_ADMIN was what the kernel asked for,
 * so either is enough. */
static inline const char *priv_missing_bpf(void)
{
	if (!priv_has(PRIV_BPF) && !priv_has(PRIV_SYS_ADMIN))
		return "CAP_BPF";
	if (!priv_has(PRIV_NET_ADMIN))
		return "CAP_NET_ADMIN";
	return NULL;
}

/* The start of a test that runs in a network namespace of its own: stdout
 * line-buffered, the capabilities checked, the namespace entered. Returns
 * 0 inside it; 1 when the test must skip (its "1..0 # SKIP" printed);
 * -1 when unshare(CLONE_NEWNET) failed although every capability was held,
 * a failure (errno set). From 0 on, whatever does not work is a failure,
 * never a skip. */
static inline int priv_netns_enter(void)
{
	const char *missing = priv_missing_bpf();

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!missing && !priv_has(PRIV_SYS_ADMIN))
		missing = "CAP_SYS_ADMIN (a network namespace of its own)";
	if (missing) {
		printf("1..0 # SKIP needs %s for BPF (root)\n", missing);
		return 1;
	}
	return unshare(CLONE_NEWNET) ? -1 : 0;
}

/* Entry ID of the per-CPU u64 array map FD, summed over the CPUs; ~0 when
 * it cannot be read. */
static inline uint64_t priv_percpu_sum(int fd, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(fd, &id, v))
		return ~0ull;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return sum;
}

/* libbpf's messages (WARN and above: a failed load's verifier log among
 * them) as TAP comments, so prove shows them with the failure. */
static inline int priv_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static int bol = 1;
	char buf[4096], *p, *nl;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (p = buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (bol)
			fputs("# ", stdout);
		if (!nl) {
			fputs(p, stdout);
			bol = 0;
			break;
		}
		fwrite(p, 1, nl - p + 1, stdout);
		bol = 1;
	}
	return 0;
}

#endif
