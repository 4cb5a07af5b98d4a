/* ctl_main: the one tandem binary and its subcommands. It owns argument
 * dispatch and the config check (-t); each role lives in its own part. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "tls.h"

static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem COMMAND [OPTIONS]\n"
		"\n"
		"  tandem l7 -c FILE --node NAME   run the level-2 (L7) switch of node NAME\n"
		"  tandem l4 -c FILE               run the level-1 (L4) front end\n"
		"  tandem ctl -c FILE status | node NAME drain|enable|weight N | reload\n"
		"                                  see and steer the running cluster through\n"
		"                                  the daemons' admin addresses\n"
		"  tandem -t -c FILE               check a cluster file: exit 0, or 1 with\n"
		"                                  FILE:LINE: reason for each error\n"
		"  tandem --version\n"
		"\n"
		"Each command takes --help.\n");
}

/* ctl_check: `tandem -t -c FILE`. */
static int ctl_check(int argc, char **argv)
{
	const char *file = NULL;
	struct cfg *c;
	int nerr = 0, r, tls = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t"))
			continue;
		if (!strcmp(argv[i], "--no-tls")) {
			tls = 0;
			continue;
		}
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: tandem -t -c FILE [--no-tls]\n"
			       "Checks the cluster FILE; prints FILE:LINE: reason for each error.\n"
			       "The [tls] certificates and keys are read too, unless --no-tls\n"
			       "(a front end, which has none of them).\n"
			       "Exit status: 0 valid, 1 errors, 2 usage.\n");
			return 0;
		} else {
			fprintf(stderr, "tandem -t: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!file) {
		fprintf(stderr, "tandem -t: missing -c FILE\n");
		return 2;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "tandem -t: out of memory\n");
		return 1;
	}
	r = cfg_load(c, file, stderr, &nerr);
	/* the certificates and keys of every node with a tls listener */
	if (!r && tls)
		r = tls_load(c, NULL, stderr, &nerr);
	if (!r)
		printf("%s: ok (%d nodes, %d groups, %d rules, %d classes, relay %s)\n", file,
		       c->nnodes, c->ngroups, c->nrules, c->nclasses, cfg_relay_name(c->relay));
	else if (nerr)
		fprintf(stderr, "%s: %d error%s\n", file, nerr, nerr == 1 ? "" : "s");
	cfg_free(c);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		ctl_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		ctl_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("tandem %s\n", TANDEM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-t"))
			return ctl_check(argc, argv);
	if (!strcmp(argv[1], "l7"))
		return l7_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "l4"))
		return l4_main(argc - 1, argv + 1);
	fprintf(stderr, "tandem: unknown command '%s'\n", argv[1]);
	ctl_usage(stderr);
	return 2;
}
