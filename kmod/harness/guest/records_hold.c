// SPDX-License-Identifier: GPL-2.0
/*
 * records_hold - helper for the guest's module unload test.
 *
 *   records_hold busy   attach 32 sockets (receive too), queue 256 KiB sends on each to
 *                       readers that never read, have the peers send requests, keep
 *                       two threads sending and unsending, print "ready", then wait
 *                       to be killed: the module has work pending in every form.
 *   records_hold smoke  one record out and one request in; exit 0 when both arrive.
 */

#include <pthread.h>

#include "../../selftests/records_test.h"

#define NPAIRS	32
#define BIG	(256 * 1024)

static int dev, srv[NPAIRS], cli[NPAIRS], rec;

static void *churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	for (;;) {
		int s = srv[rand_r(&seed) % NPAIRS];

		rt_send(dev, rec, rand_r(&seed) % 3, s);
		rt_unsend(dev, rec, &s, 1);
	}
	return NULL;
}

static int busy(void)
{
	static unsigned char buf[BIG];
	pthread_t th[2];
	int lfd, i, k;

	rt_nofile(4096);
	dev = rt_open();
	lfd = rt_listen();
	if (dev < 0 || lfd < 0)
		return 2;
	memset(buf, 'b', sizeof(buf));
	rec = rt_init(dev, buf, sizeof(buf));
	if (rec < 0)
		return 3;
	for (i = 0; i < NPAIRS; i++) {
		if (rt_pair_bufs(lfd, &srv[i], &cli[i], 4096, 4096) ||
		    rt_attach(dev, srv[i], RECORDS_ATTACH_RECV, i))
			return 4;
		for (k = 0; k < 4; k++)
			rt_send(dev, rec, k, srv[i]);
		/* Requests, one of them unfinished. */
		send(cli[i], "get a\r\nset b 0 0 100\r\nxx", 24, 0);
	}
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1));
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static int smoke(void)
{
	unsigned char buf[256], got[256];
	int lfd, s, c, r;
	ssize_t n;

	dev = rt_open();
	lfd = rt_listen();
	if (dev < 0 || lfd < 0 || rt_pair(lfd, &s, &c))
		return 2;
	if (rt_attach(dev, s, RECORDS_ATTACH_RECV, 99))
		return 3;
	rt_fill(buf, sizeof(buf), 5);
	r = rt_init(dev, buf, sizeof(buf));
	if (r < 0 || rt_send(dev, r, 0, s) != 1)
		return 4;
	if (rt_read_exact(c, got, sizeof(got), 5000) != sizeof(got) ||
	    memcmp(got, buf, sizeof(buf)))
		return 5;
	send(c, "get smoke\r\n", 11, 0);
	if (!rt_readable(dev, 5000))
		return 6;
	n = read(dev, got, sizeof(got));
	if (n != (ssize_t)RECORDS_MSG_SIZE(11) || memcmp(got + sizeof(struct records_msg), "get smoke\r\n", 11))
		return 7;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "busy"))
		return busy();
	if (argc > 1 && !strcmp(argv[1], "smoke"))
		return smoke();
	fprintf(stderr, "usage: records_hold busy|smoke\n");
	return 1;
}
