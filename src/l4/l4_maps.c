/* l4_maps: every access to the level-1 XDP program and its maps goes through
 * this file: loading the skeleton with its knobs, pinning, attaching and
 * detaching, writing services, back ends and Maglev slots, and reading the
 * per-CPU counters. The rest of the control plane never sees a map fd. */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "l4.h"
#include "l4_xdp.skel.h"
#include "log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define L4_PIN_ROOT "/sys/fs/bpf/tandem"

static int l4_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char line[512];

	if (lvl == LIBBPF_DEBUG && log_verbosity < LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (*line)
		log_msg(lvl == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

int l4_probe(int nat)
{
	static const struct { int type; const char *name; } maps[] = {
		{ BPF_MAP_TYPE_HASH, "hash" },
		{ BPF_MAP_TYPE_ARRAY, "array" },
		{ BPF_MAP_TYPE_LRU_HASH, "LRU hash (flow table, Linux 4.10)" },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, "per-CPU array (counters, Linux 4.6)" },
	};
	int missing = 0;

	libbpf_set_print(l4_libbpf_print);
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) != 1) {
		log_err("kernel feature missing: XDP programs (Linux 4.8+, CAP_BPF/CAP_NET_ADMIN); "
			"use [l4] mode = user");
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (libbpf_probe_bpf_map_type(maps[i].type, NULL) != 1) {
			log_err("kernel feature missing: BPF map type %s", maps[i].name);
			missing++;
		}
	if (nat && libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, NULL) != 1) {
		log_err("kernel feature missing: bpf_fib_lookup in XDP (Linux 4.18), "
			"needed by mode = nat; use mode = dr or user");
		missing++;
	}
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_redirect, NULL) != 1)
		log_warn("kernel feature missing: bpf_redirect in XDP; back ends must be "
			 "on the front end's interface");
	return missing ? -EOPNOTSUPP : 0;
}

/* Pins live in one folder per interface; anything already there is from a
 * run that did not exit cleanly and is removed. bpffs may not be mounted
 * (containers, `ip netns exec` remounts /sys): mount it, else run unpinned. */
static void l4_pin(struct l4 *l)
{
	struct bpf_map *m;
	struct statfs sf;
	struct dirent *de;
	char path[sizeof(l->pin_dir) + 256 + 2];
	DIR *d;

	if (statfs("/sys/fs/bpf", &sf) || sf.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			log_warn("mount(bpf, /sys/fs/bpf) failed: %s; maps not pinned", strerror(errno));
			return;
		}
	}
	mkdir(L4_PIN_ROOT, 0700);
	snprintf(l->pin_dir, sizeof(l->pin_dir), L4_PIN_ROOT "/%s", l->cfg.l4.iface);
	if (mkdir(l->pin_dir, 0700) && errno != EEXIST) {
		log_warn("mkdir(%s) failed: %s; maps not pinned", l->pin_dir, strerror(errno));
		l->pin_dir[0] = 0;
		return;
	}
	d = opendir(l->pin_dir);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", l->pin_dir, de->d_name);
		if (!unlink(path))
			log_info("removed stale pin %s", path);
	}
	if (d)
		closedir(d);
	bpf_object__for_each_map(m, l->skel->obj) {
		if (strchr(bpf_map__name(m), '.'))
			continue;       /* .rodata: the knobs, frozen, nothing to read */
		snprintf(path, sizeof(path), "%s/%s", l->pin_dir, bpf_map__name(m));
		if (bpf_map__pin(m, path))
			log_warn("pinning %s failed: %s", path, strerror(errno));
	}
}

static void l4_unpin(struct l4 *l)
{
	struct bpf_map *m;
	char path[256];

	if (!l->pin_dir[0] || !l->skel)
		return;
	bpf_object__for_each_map(m, l->skel->obj) {
		if (strchr(bpf_map__name(m), '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", l->pin_dir, bpf_map__name(m));
		unlink(path);
	}
	rmdir(l->pin_dir);
	l->pin_dir[0] = 0;
}

/* Attach with a bpf_link first: it goes away with the process, so a crash
 * never leaves a program on the interface. Native mode first; veth, most
 * NIC drivers since 4.x have it, others fall back to generic (skb) mode,
 * which works everywhere but costs an skb per packet. Kernels without XDP
 * links (< 5.9) get the netlink attach, detached explicitly at exit. */
static int l4_attach(struct l4 *l)
{
	static const struct { uint32_t flags; const char *name; } modes[] = {
		{ XDP_FLAGS_DRV_MODE, "native" },
		{ XDP_FLAGS_SKB_MODE, "generic" },
	};
	int prog = bpf_program__fd(l->skel->progs.l4_xdp);
	int err = 0;

	for (size_t i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = modes[i].flags);
		int fd = bpf_link_create(prog, l->ifindex, BPF_XDP, &lo);

		if (fd >= 0) {
			l->link_fd = fd;
			l->xdp_flags = modes[i].flags;
			log_info("XDP attached to %s in %s mode (bpf_link)", l->cfg.l4.iface,
				 modes[i].name);
			return 0;
		}
		err = errno;
		if (err == EBUSY || err == EEXIST) {
			log_err("bpf_link_create(XDP, %s) failed: %s: another XDP program is "
				"attached (ip link set dev %s xdp off)", l->cfg.l4.iface,
				strerror(err), l->cfg.l4.iface);
			return -err;
		}
		if (i == 0)
			log_warn("native XDP on %s not available (%s); trying generic mode, "
				 "slower: every packet gets an skb first", l->cfg.l4.iface,
				 strerror(err));
	}
	for (size_t i = 0; i < 2; i++) {
		uint32_t flags = modes[i].flags | XDP_FLAGS_UPDATE_IF_NOEXIST;

		err = bpf_xdp_attach(l->ifindex, prog, flags, NULL);
		if (!err) {
			l->link_fd = -1;
			l->xdp_flags = modes[i].flags;
			log_info("XDP attached to %s in %s mode (netlink; no bpf_link support)",
				 l->cfg.l4.iface, modes[i].name);
			return 0;
		}
	}
	log_err("attaching XDP to %s failed: %s; use [l4] mode = user", l->cfg.l4.iface,
		strerror(-err));
	return err;
}

int l4_maps_open(struct l4 *l)
{
	struct l4_xdp_bpf *s;
	int err;

	l->link_fd = -1;
	l->ifindex = if_nametoindex(l->cfg.l4.iface);
	if (!l->ifindex) {
		log_err("if_nametoindex(%s) failed: %s", l->cfg.l4.iface, strerror(errno));
		return -ENODEV;
	}
	s = l4_xdp_bpf__open();
	if (!s) {
		err = -errno;
		log_err("opening the XDP skeleton failed: %s", strerror(errno));
		return err;
	}
	s->rodata->l4_mode = l->cfg.l4.mode == CFG_L4_NAT ? L4_MODE_NAT : L4_MODE_DR;
	s->rodata->l4_ring_size = l->ring_size;
	bpf_map__set_max_entries(s->maps.l4_ring, l->ring_size);
	err = l4_xdp_bpf__load(s);
	if (err) {
		log_err("loading the XDP program failed: %s (run with -v for the verifier log)",
			strerror(-err));
		l4_xdp_bpf__destroy(s);
		return err;
	}
	l->skel = s;
	l4_pin(l);
	{
		/* veth quirk: frames sent with XDP_TX are dropped unless the peer
		 * has an XDP program too. A veth's iflink names its peer; we cannot
		 * look into the peer's namespace, so say it. */
		char p[128];
		int iflink = 0;
		FILE *f;

		snprintf(p, sizeof(p), "/sys/class/net/%s/iflink", l->cfg.l4.iface);
		f = fopen(p, "r");
		if (f) {
			if (fscanf(f, "%d", &iflink) != 1)
				iflink = 0;
			fclose(f);
		}
		if (iflink && iflink != l->ifindex)
			log_info("%s has a peer (ifindex %d, veth?): native XDP_TX needs an XDP "
				 "program on the peer (lab/lab.sh attaches one)", l->cfg.l4.iface, iflink);
	}
	err = l4_attach(l);
	if (err) {
		l4_maps_close(l);
		return err;
	}
	return 0;
}

void l4_maps_close(struct l4 *l)
{
	if (l->link_fd >= 0) {
		close(l->link_fd);
		l->link_fd = -1;
		log_info("XDP detached from %s", l->cfg.l4.iface);
	} else if (l->skel && l->xdp_flags) {
		int prog = bpf_program__fd(l->skel->progs.l4_xdp);
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = prog);

		if (bpf_xdp_detach(l->ifindex, l->xdp_flags | XDP_FLAGS_REPLACE, &o))
			log_warn("bpf_xdp_detach(%s) failed: %s", l->cfg.l4.iface, strerror(errno));
		else
			log_info("XDP detached from %s", l->cfg.l4.iface);
	}
	l->xdp_flags = 0;
	l4_unpin(l);
	if (l->skel)
		l4_xdp_bpf__destroy(l->skel);
	l->skel = NULL;
}

int l4_maps_set_vip(struct l4 *l)
{
	int fd = bpf_map__fd(l->skel->maps.l4_vips);
	struct l4_vip_key k = { .addr = l4_vip_addr(l), .port = l4_vip_port(l),
				.proto = IPPROTO_TCP };
	struct l4_vip v = { 0 };

	if (!k.addr)
		return -EAFNOSUPPORT;
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return -errno;
	k = (struct l4_vip_key){ .addr = l4_vip_addr(l) };
	v.flags = L4_VIP_F_ADDR_ONLY;
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

int l4_maps_set_backend(struct l4 *l, uint32_t idx)
{
	struct l4_slot *s = &l->slots[idx];
	struct l4_backend b = { 0 };

	if (s->used) {
		b.addr = l4_node_addr(l, idx);
		b.port = l4_vip_port(l);
		memcpy(b.mac, s->mac, 6);
		b.flags = s->up ? L4_BE_F_ALIVE : 0;
	}
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.l4_backends), &idx, &b, BPF_ANY))
		return -errno;
	return 0;
}

long l4_maps_write_ring(struct l4 *l, const uint32_t *old, const uint32_t *new_)
{
	int fd = bpf_map__fd(l->skel->maps.l4_ring);
	long n = 0;

	for (uint32_t i = 0; i < l->ring_size; i++) {
		if (old && old[i] == new_[i])
			continue;
		if (bpf_map_update_elem(fd, &i, &new_[i], BPF_ANY))
			return -errno;
		n++;
	}
	return n;
}

int l4_maps_counters(struct l4 *l, uint64_t out[L4_CTR_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd;
	uint64_t *v;

	if (!l->skel || ncpu <= 0)
		return -ENODEV;
	fd = bpf_map__fd(l->skel->maps.l4_counters);
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t id = 0; id < L4_CTR_MAX; id++) {
		out[id] = 0;
		if (bpf_map_lookup_elem(fd, &id, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[id] += v[c];
	}
	free(v);
	return 0;
}

int l4_maps_be_stats(struct l4 *l, uint32_t idx, struct l4_be_stats *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct l4_be_stats *v;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!l->skel || ncpu <= 0)
		return -ENODEV;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.l4_be_stats), &idx, v))
		err = -errno;
	for (int c = 0; !err && c < ncpu; c++) {
		out->packets += v[c].packets;
		out->bytes += v[c].bytes;
	}
	free(v);
	return err;
}
