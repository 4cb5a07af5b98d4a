/* test_ev: the event loop's batch marks (src/core/ev.c). Three socket pairs
 * made readable at once come back in one batch; each callback sees the
 * edges still to come in that batch as pending (ev_pending) and its own and
 * those already run as not; after the batch nothing is pending, and an io
 * added again starts with no mark (the pool trusts this to skip its peek). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "tap.h"

#define N 3

static struct ev_io ios[N];
static int order[N], nrun;
static int pend_seen[N][N];     /* [run][io]: ev_pending in that callback */

static void cb(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	char b[8];

	(void)events;
	while (read(io->fd, b, sizeof(b)) > 0)
		;
	order[nrun] = (int)(io - ios);
	for (int i = 0; i < N; i++)
		pend_seen[nrun][i] = ev_pending(l, &ios[i]);
	nrun++;
}

int main(void)
{
	struct ev_loop l;
	int sv[N][2], n;

	ok(!ev_init(&l), "ev_init");
	for (int i = 0; i < N; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]))
			return 1;
		ios[i].fd = sv[i][0];
		ios[i].cb = cb;
		ios[i].batch = 77;      /* garbage: ev_add must clear it */
		ok(!ev_add(&l, &ios[i], EPOLLIN), "ev_add %d", i);
		ok(!ev_pending(&l, &ios[i]), "io %d: no mark before any batch", i);
	}
	for (int i = 0; i < N; i++)
		if (write(sv[i][1], "x", 1) != 1)
			return 1;
	n = ev_run_once(&l, 1000);
	is_int(n, N, "one batch holds all three edges");
	is_int(nrun, N, "every callback ran");
	for (int r = 0; r < nrun; r++) {
		for (int s = 0; s < nrun; s++) {
			int io = order[s];

			if (s < r)
				ok(!pend_seen[r][io], "run %d: io %d, run before it, not pending", r, io);
			else if (s == r)
				ok(!pend_seen[r][io], "run %d: its own io %d not pending", r, io);
			else
				ok(pend_seen[r][io], "run %d: io %d, still to run, pending", r, io);
		}
	}
	for (int i = 0; i < N; i++)
		ok(!ev_pending(&l, &ios[i]), "io %d: nothing pending after the batch", i);

	/* a second batch with one edge: the others' old marks stay void */
	nrun = 0;
	if (write(sv[1][1], "y", 1) != 1)
		return 1;
	n = ev_run_once(&l, 1000);
	is_int(n, 1, "second batch: one edge");
	is_int(order[0], 1, "second batch: io 1");
	for (int i = 0; i < N; i++)
		ok(!pend_seen[0][i], "second batch: io %d not pending in io 1's callback", i);

	/* removed and added again (a reused ev_io): no mark carried over */
	ev_del(&l, &ios[2]);
	ios[2].batch = l.batch;
	ok(!ev_add(&l, &ios[2], EPOLLIN), "ev_add again");
	ok(!ev_pending(&l, &ios[2]), "an io added again has no mark");

	for (int i = 0; i < N; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	ev_close(&l);
	return done_testing();
}
