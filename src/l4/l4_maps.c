/* l4_maps: every access to the level-1 data path and its maps goes through
 * this file: loading the skeleton (one object, an XDP and a tc program over
 * the same maps) with its knobs, pinning, choosing the hook, attaching and
 * detaching, cleaning up after a killed run, writing services, back ends and
 * Maglev slots, and reading the per-CPU counters. The rest of the control
 * plane never sees a map fd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "l4.h"
#include "l4_fwd.skel.h"
#include "log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define L4_PIN_ROOT "/sys/fs/bpf/tandem"

/* libbpf's messages, one log line per line: the verifier's log arrives as
 * one message of many lines, and is what -v is for. */
static int l4_libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	if (lvl == LIBBPF_DEBUG && log_verbosity < LOG_DEBUG)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_msg(lvl == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "%s", line);
	free(text);
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
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) != 1 ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) != 1) {
		log_err("kernel feature missing: XDP or tc (sched_cls) BPF programs (Linux 4.8+, "
			"CAP_BPF/CAP_NET_ADMIN); use [l4] mode = user");
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		if (libbpf_probe_bpf_map_type(maps[i].type, NULL) != 1) {
			log_err("kernel feature missing: BPF map type %s", maps[i].name);
			missing++;
		}
	if (nat && (libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, NULL) != 1 ||
		    libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_fib_lookup, NULL) != 1)) {
		log_err("kernel feature missing: bpf_fib_lookup in XDP and tc (Linux 4.18), "
			"needed by mode = nat; use mode = dr or user");
		missing++;
	}
	if (nat && libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_neigh,
					   NULL) != 1) {
		log_err("kernel feature missing: bpf_redirect_neigh in tc (Linux 5.10), needed "
			"by mode = nat; use mode = dr or user");
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

/* ---- choosing the hook ------------------------------------------------ */

/* The interface's driver name (ethtool), "" when it does not say. */
static void l4_driver(const char *iface, char *out, size_t len)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	out[0] = 0;
	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, iface, strnlen(iface, sizeof(ifr.ifr_name) - 1));
	ifr.ifr_data = (void *)&di;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		snprintf(out, len, "%s", di.driver);
	close(fd);
}

/* The name of the BPF program with ID, "" if it cannot be read. */
static void l4_prog_name(uint32_t id, char *out, size_t len)
{
	struct bpf_prog_info info = { 0 };
	uint32_t il = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	out[0] = 0;
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &il))
		snprintf(out, len, "%s", info.name);
	close(fd);
}

/* ---- XDP -------------------------------------------------------------- */

/* Attach with a bpf_link first: it goes away with the process, so a crash
 * never leaves a program on the interface. Native mode first, then (only
 * when NATIVE_ONLY is 0) generic (skb) mode, which works everywhere but
 * costs an skb per packet. Kernels without XDP links (< 5.9) get the
 * netlink attach, detached explicitly at exit (and by the next start if
 * the process was killed). Returns 0 or -errno; logs failures unless
 * NATIVE_ONLY (auto then tries tc). */
static int l4_xdp_attach(struct l4 *l, int native_only)
{
	static const struct { uint32_t flags; const char *name; } modes[] = {
		{ XDP_FLAGS_DRV_MODE, "native" },
		{ XDP_FLAGS_SKB_MODE, "generic" },
	};
	int prog = bpf_program__fd(l->skel->progs.l4_xdp);
	int n = native_only ? 1 : 2, err = 0;

	for (int i = 0; i < n; i++) {
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
		if (i == 0 && !native_only)
			log_warn("native XDP on %s not available (%s); trying generic mode, "
				 "slower: every packet gets an skb first", l->cfg.l4.iface,
				 strerror(err));
	}
	for (int i = 0; i < n; i++) {
		uint32_t flags = modes[i].flags | XDP_FLAGS_UPDATE_IF_NOEXIST;
		libbpf_print_fn_t prev = NULL;

		/* auto asks, and takes no for an answer: no kernel message */
		if (native_only)
			prev = libbpf_set_print(NULL);
		err = bpf_xdp_attach(l->ifindex, prog, flags, NULL);
		if (native_only)
			libbpf_set_print(prev);
		if (!err) {
			l->link_fd = -1;
			l->xdp_flags = modes[i].flags;
			log_info("XDP attached to %s in %s mode (netlink; no bpf_link support)",
				 l->cfg.l4.iface, modes[i].name);
			return 0;
		}
	}
	if (!native_only)
		log_err("attaching XDP to %s failed: %s; use [l4] mode = user", l->cfg.l4.iface,
			strerror(-err));
	return err;
}

/* An XDP program named l4_xdp attached by netlink is ours, from a run that
 * was killed before it could detach (a bpf_link would have gone with it). */
static void l4_xdp_stale(struct l4 *l)
{
	static const uint32_t modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char name[BPF_OBJ_NAME_LEN];

	if (bpf_xdp_query(l->ifindex, 0, &q))
		return;
	for (size_t i = 0; i < 2; i++) {
		uint32_t id = modes[i] == XDP_FLAGS_DRV_MODE ? q.drv_prog_id : q.skb_prog_id;

		if (!id)
			continue;
		l4_prog_name(id, name, sizeof(name));
		if (strcmp(name, "l4_xdp"))
			continue;
		if (bpf_xdp_detach(l->ifindex, modes[i], NULL))
			log_warn("removing the stale XDP program %u (l4_xdp) from %s failed: %s",
				 id, l->cfg.l4.iface, strerror(errno));
		else
			log_warn("removed a stale XDP program %u (l4_xdp) from %s: an earlier "
				 "tandem l4 did not exit cleanly", id, l->cfg.l4.iface);
	}
}

/* ---- tc ------------------------------------------------------------------ */

/* Our cls_bpf filter on clsact ingress: one handle and priority, so the
 * next start finds what a killed run left, and nobody else's filter is
 * touched. Priority 1: tandem's decision comes before other filters. */
#define L4_TC_HANDLE 0x7464u
#define L4_TC_PRIO   1u

/* Whether tandem created the clsact qdisc must outlive a killed process:
 * bpffs pins may not (`ip netns exec` gives every process its own /sys),
 * so a marker file per network namespace (by inode) and interface. */
static void l4_qdisc_mark(const struct l4 *l, char *path, size_t len)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		st.st_ino = 0;
	snprintf(path, len, "/run/tandem/l4-clsact-%lu-%s", (unsigned long)st.st_ino,
		 l->cfg.l4.iface);
}

static int l4_tc_attach(struct l4 *l)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = L4_TC_HANDLE, .priority = L4_TC_PRIO);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = L4_TC_HANDLE, .priority = L4_TC_PRIO,
		    .prog_fd = bpf_program__fd(l->skel->progs.l4_tc));
	char mark[128], name[BPF_OBJ_NAME_LEN];
	libbpf_print_fn_t prev;
	int err, fd;

	l4_qdisc_mark(l, mark, sizeof(mark));
	/* EEXIST is an answer here, not a failure: libbpf would print the
	 * kernel's "Exclusivity flag on" as a warning */
	prev = libbpf_set_print(NULL);
	err = bpf_tc_hook_create(&hook);
	libbpf_set_print(prev);
	if (!err) {
		l->tc_own_qdisc = 1;
		mkdir("/run/tandem", 0700);
		fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else
			log_warn("open(%s) failed: %s; a killed run would leave the clsact "
				 "qdisc on %s", mark, strerror(errno), l->cfg.l4.iface);
		log_info("created the clsact qdisc on %s", l->cfg.l4.iface);
	} else if (err == -EEXIST) {
		/* someone's clsact, or ours from a killed run (the marker says) */
		l->tc_own_qdisc = !access(mark, F_OK);
	} else {
		log_err("creating the clsact qdisc on %s failed: %s (needs CONFIG_NET_SCH_INGRESS, "
			"CAP_NET_ADMIN)", l->cfg.l4.iface, strerror(-err));
		return err;
	}
	/* no filter there is the usual answer ("Cannot find specified filter
	 * chain"), not worth a warning either */
	prev = libbpf_set_print(NULL);
	err = bpf_tc_query(&hook, &q);
	libbpf_set_print(prev);
	if (!err) {
		l4_prog_name(q.prog_id, name, sizeof(name));
		if (strcmp(name, "l4_tc")) {
			log_err("tc filter handle 0x%x priority %u on %s ingress is someone else's "
				"(program '%s'); not touched", L4_TC_HANDLE, L4_TC_PRIO,
				l->cfg.l4.iface, name);
			return -EBUSY;
		}
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = L4_TC_HANDLE, .priority = L4_TC_PRIO);
		if (bpf_tc_detach(&hook, &d))
			log_warn("removing the stale tc filter (l4_tc) from %s failed",
				 l->cfg.l4.iface);
		else
			log_warn("removed a stale tc filter (l4_tc, program %u) from %s: an earlier "
				 "tandem l4 did not exit cleanly", q.prog_id, l->cfg.l4.iface);
	}
	err = bpf_tc_attach(&hook, &o);
	if (err) {
		log_err("attaching the tc program to %s ingress failed: %s", l->cfg.l4.iface,
			strerror(-err));
		return err;
	}
	l->tc_attached = 1;
	log_info("tc program attached to %s (clsact ingress, cls_bpf direct action, handle "
		 "0x%x prio %u%s)", l->cfg.l4.iface, L4_TC_HANDLE, L4_TC_PRIO,
		 l->tc_own_qdisc ? "; the qdisc is tandem's" : "");
	return 0;
}

static void l4_tc_detach(struct l4 *l)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, d, .handle = L4_TC_HANDLE, .priority = L4_TC_PRIO);
	char mark[128];

	if (l->tc_attached) {
		if (bpf_tc_detach(&hook, &d))
			log_warn("bpf_tc_detach(%s ingress) failed", l->cfg.l4.iface);
		else
			log_info("tc program detached from %s", l->cfg.l4.iface);
	}
	l->tc_attached = 0;
	if (l->tc_own_qdisc) {
		/* both attach points: that is what removes the qdisc itself */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		if (bpf_tc_hook_destroy(&hook))
			log_warn("removing the clsact qdisc from %s failed", l->cfg.l4.iface);
		else
			log_info("removed the clsact qdisc tandem created on %s", l->cfg.l4.iface);
		l4_qdisc_mark(l, mark, sizeof(mark));
		unlink(mark);
	}
	l->tc_own_qdisc = 0;
}

/* ---- the choice ----------------------------------------------------------- */

/* hook = xdp on a veth works only with both lab workarounds: say so. */
static void l4_veth_warn(const struct l4 *l)
{
	log_warn("hook = xdp on the veth %s: native XDP_TX there is dropped unless the peer has "
		 "an XDP program, and frames sent from this host (checksum partial) leave with "
		 "a wrong checksum unless their sender has TX checksum offload off; hook = tc "
		 "(or auto) has neither problem", l->cfg.l4.iface);
}

static int l4_attach(struct l4 *l)
{
	char drv[32];
	int err;

	l4_driver(l->cfg.l4.iface, drv, sizeof(drv));
	l4_xdp_stale(l);
	switch (l->cfg.l4.hook) {
	case CFG_L4_HOOK_XDP:
		if (!strcmp(drv, "veth"))
			l4_veth_warn(l);
		err = l4_xdp_attach(l, 0);
		if (!err)
			l->hook = CFG_L4_HOOK_XDP;
		return err;
	case CFG_L4_HOOK_TC:
		err = l4_tc_attach(l);
		if (!err)
			l->hook = CFG_L4_HOOK_TC;
		return err;
	case CFG_L4_HOOK_AUTO:
		break;
	}
	if (!strcmp(drv, "veth")) {
		/* Two kernel quirks, either of which loses traffic: a veth drops
		 * frames sent with XDP_TX or XDP_REDIRECT unless its peer has an
		 * XDP program (that sets up the peer's NAPI queue), and it hands
		 * XDP frames whose checksum a sender on this host left "partial"
		 * (TX offload), a mark XDP cannot see and XDP_TX drops, so the
		 * next host sees a bad checksum. tc keeps the skb and its marks. */
		snprintf(l->hook_why, sizeof(l->hook_why),
			 "%s is a veth: native XDP_TX there drops frames unless the peer has an "
			 "XDP program, and loses the partial checksums of senders on this host",
			 l->cfg.l4.iface);
	} else {
		err = l4_xdp_attach(l, 1);
		if (!err) {
			l->hook = CFG_L4_HOOK_XDP;
			log_warn("hook auto: xdp on %s: native XDP (driver %s)", l->cfg.l4.iface,
				 drv[0] ? drv : "unknown");
			return 0;
		}
		if (err == -EBUSY || err == -EEXIST)
			return err;
		snprintf(l->hook_why, sizeof(l->hook_why),
			 "native XDP is not available on %s (driver %s: %s), and generic XDP "
			 "costs an skb anyway", l->cfg.l4.iface, drv[0] ? drv : "unknown",
			 strerror(-err));
	}
	err = l4_tc_attach(l);
	if (err)
		return err;
	l->hook = CFG_L4_HOOK_TC;
	log_warn("hook auto: tc on %s: %s", l->cfg.l4.iface, l->hook_why);
	return 0;
}

int l4_maps_open(struct l4 *l)
{
	struct l4_fwd_bpf *s;
	int err;

	l->link_fd = -1;
	l->ifindex = if_nametoindex(l->cfg.l4.iface);
	if (!l->ifindex) {
		log_err("if_nametoindex(%s) failed: %s", l->cfg.l4.iface, strerror(errno));
		return -ENODEV;
	}
	s = l4_fwd_bpf__open();
	if (!s) {
		err = -errno;
		log_err("opening the data path's skeleton failed: %s", strerror(errno));
		return err;
	}
	s->rodata->l4_mode = l->cfg.l4.mode == CFG_L4_NAT ? L4_MODE_NAT : L4_MODE_DR;
	s->rodata->l4_ring_size = l->ring_size;
	bpf_map__set_max_entries(s->maps.l4_ring, l->ring_size);
	/* one program is attached; the other is not worth a verifier run */
	if (l->cfg.l4.hook == CFG_L4_HOOK_XDP)
		bpf_program__set_autoload(s->progs.l4_tc, false);
	if (l->cfg.l4.hook == CFG_L4_HOOK_TC)
		bpf_program__set_autoload(s->progs.l4_xdp, false);
	err = l4_fwd_bpf__load(s);
	if (err) {
		log_err("loading the data path failed: %s (run with -v for the verifier log)",
			strerror(-err));
		l4_fwd_bpf__destroy(s);
		return err;
	}
	l->skel = s;
	l4_pin(l);
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
	l4_tc_detach(l);
	l4_unpin(l);
	if (l->skel)
		l4_fwd_bpf__destroy(l->skel);
	l->skel = NULL;
}

int l4_node_addr_of(const struct cfg_node *n, int family, void *out)
{
	const struct cfg_addr *a[2] = { &n->address, &n->address2 };

	for (int i = 0; i < 2; i++) {
		if (!a[i]->len || a[i]->ss.ss_family != family)
			continue;
		if (family == AF_INET)
			memcpy(out, &((const struct sockaddr_in *)&a[i]->ss)->sin_addr, 4);
		else
			memcpy(out, &((const struct sockaddr_in6 *)&a[i]->ss)->sin6_addr, 16);
		return 0;
	}
	return -ENOENT;
}

/* The map key of a VIP (the address marker when MARKER). */
static int l4_vip_key_of(const struct cfg_addr *a, int marker, struct l4_vip_key *k)
{
	memset(k, 0, sizeof(*k));
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		k->addr.v4 = s4->sin_addr.s_addr;
		k->port = s4->sin_port;
		k->family = L4_AF_INET;
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;

		memcpy(k->addr.b, &s6->sin6_addr, 16);
		k->port = s6->sin6_port;
		k->family = L4_AF_INET6;
	} else {
		return -EAFNOSUPPORT;
	}
	k->proto = IPPROTO_TCP;
	if (marker)
		k->port = k->proto = 0;
	return 0;
}

int l4_maps_set_vips(struct l4 *l)
{
	int fd = bpf_map__fd(l->skel->maps.l4_vips);

	for (int i = 0; i < l->cfg.nvips; i++) {
		struct l4_vip_key k;
		struct l4_vip v = { .id = (uint32_t)i }, old;

		if (l4_vip_key_of(&l->cfg.vips[i], 0, &k))
			return -EAFNOSUPPORT;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
		l4_vip_key_of(&l->cfg.vips[i], 1, &k);
		if (!bpf_map_lookup_elem(fd, &k, &old))
			continue;       /* another port of the same address */
		v.flags = L4_VIP_F_ADDR_ONLY;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

int l4_maps_set_backend(struct l4 *l, uint32_t idx)
{
	struct l4_slot *s = &l->slots[idx];
	struct l4_backend b = { 0 };

	if (s->used) {
		/* no address of a family: 0, which NAT refuses (drop_no_addr) */
		l4_node_addr_of(&s->node, AF_INET, &b.addr);
		l4_node_addr_of(&s->node, AF_INET6, b.addr6);
		b.port = 0;             /* nodes serve each VIP on its own port */
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

/* The sum over every CPU of the NWORDS 64-bit words at KEY of the per-CPU
 * map FD into OUT (zero when the lookup fails). 0 or -errno. */
static int maps_percpu_sum(int fd, uint32_t key, uint64_t *out, size_t nwords)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	uint64_t *v;

	memset(out, 0, nwords * sizeof(*out));
	if (ncpu <= 0)
		return -ENODEV;
	v = calloc((size_t)ncpu * nwords, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, v))
		err = -errno;
	for (int c = 0; !err && c < ncpu; c++)
		for (size_t w = 0; w < nwords; w++)
			out[w] += v[c * nwords + w];
	free(v);
	return err;
}

int l4_maps_counters(struct l4 *l, uint64_t out[L4_CTR_MAX])
{
	if (!l->skel)
		return -ENODEV;
	for (uint32_t id = 0; id < L4_CTR_MAX; id++) {
		int err = maps_percpu_sum(bpf_map__fd(l->skel->maps.l4_counters), id, &out[id], 1);

		if (err == -ENOMEM || err == -ENODEV)
			return err;
	}
	return 0;
}

int l4_maps_be_stats(struct l4 *l, uint32_t idx, struct l4_be_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!l->skel)
		return -ENODEV;
	return maps_percpu_sum(bpf_map__fd(l->skel->maps.l4_be_stats), idx, (uint64_t *)out,
			       sizeof(*out) / sizeof(uint64_t));
}

int l4_maps_vip_stats(struct l4 *l, uint32_t idx, struct l4_vip_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!l->skel)
		return -ENODEV;
	return maps_percpu_sum(bpf_map__fd(l->skel->maps.l4_vip_stats), idx, (uint64_t *)out,
			       sizeof(*out) / sizeof(uint64_t));
}
