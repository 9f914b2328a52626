// SPDX-License-Identifier: GPL-2.0
/*
 * records_priority - the per-socket queue: higher priority first, order of calls
 * within one priority, and a send that has started is finished before any other.
 *
 * A large filler is sent to a reader that does not read, so it starts and stops
 * part-way; what is queued behind it then goes out in queue order once the reader
 * drains the socket.
 */

#include "records_test.h"

#define FILLER	(256 * 1024)

FIXTURE(prio) {
	int dev;
	int lfd;
	int srv;
	int cli;
	int filler;
};

FIXTURE_SETUP(prio)
{
	static unsigned char buf[FILLER];
	struct records_sock_info info;

	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(self->lfd = rt_listen());
	/* Small buffers on both ends: the filler cannot fit. */
	ASSERT_SYS(rt_pair_bufs(self->lfd, &self->srv, &self->cli, 4096, 4096));
	ASSERT_SYS(rt_attach(self->dev, self->srv, 0, 1));

	memset(buf, 'F', sizeof(buf));
	ASSERT_SYS(self->filler = rt_init(self->dev, buf, sizeof(buf)));
	ASSERT_EQ(1, rt_send(self->dev, self->filler, 0, self->srv));
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	ASSERT_EQ(1, info.tx_started);
	ASSERT_LT(info.tx_started_sent, info.tx_started_len);
	ASSERT_GT(info.tx_started_sent, 0);
}

FIXTURE_TEARDOWN(prio)
{
	close(self->filler);
	close(self->srv);
	close(self->cli);
	close(self->lfd);
	close(self->dev);
}

/* A record of @len bytes @c. */
static int make(int dev, int c, size_t len)
{
	unsigned char *buf = malloc(len);
	int fd;

	memset(buf, c, len);
	fd = rt_init(dev, buf, len);
	free(buf);
	return fd;
}

/* Reads the filler, then expects runs of (byte, length) in this order. */
static int expect_runs(struct __test_metadata *_metadata, int cli, const char *bytes,
		       const size_t *lens, int n)
{
	static unsigned char got[FILLER];
	size_t i, j;
	int k;

	ASSERT_EQ(FILLER, rt_read_exact(cli, got, FILLER, 20000));
	for (i = 0; i < FILLER; i++)
		ASSERT_EQ('F', got[i]);
	for (k = 0; k < n; k++) {
		ASSERT_EQ(lens[k], rt_read_exact(cli, got, lens[k], 20000));
		for (j = 0; j < lens[k]; j++) {
			if (got[j] != (unsigned char)bytes[k]) {
				TH_LOG("run %d: byte %zu is '%c', wanted '%c'", k, j, got[j], bytes[k]);
				ASSERT_EQ(bytes[k], got[j]);
			}
		}
	}
	ASSERT_FALSE(rt_readable(cli, 50));
	return 0;
}

TEST_F(prio, high_overtakes_unstarted_low)
{
	struct records_stats before, after;
	struct records_sock_info info;
	size_t lens[] = { 4096, 64 * 1024 };
	int low, high;

	ASSERT_SYS(rt_stats(self->dev, &before));

	ASSERT_SYS(low = make(self->dev, 'L', 64 * 1024));
	ASSERT_SYS(high = make(self->dev, 'H', 4096));
	ASSERT_EQ(1, rt_send(self->dev, low, 1, self->srv));
	ASSERT_EQ(1, rt_send(self->dev, high, 10, self->srv));
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	ASSERT_EQ(2, info.tx_queued);
	ASSERT_EQ(1, info.tx_started);

	/* The started filler ends whole, then high, then low. */
	expect_runs(_metadata, self->cli, "HL", lens, 2);

	/* All of it after the first call was written by the work queue, on write space. */
	ASSERT_SYS(rt_stats(self->dev, &after));
	TH_LOG("%llu partial writes, continued by %llu work runs",
	       (unsigned long long)(after.tx_partial - before.tx_partial),
	       (unsigned long long)(after.tx_work_runs - before.tx_work_runs));
	ASSERT_GT(after.tx_work_runs, before.tx_work_runs);
	ASSERT_GT(after.tx_partial, before.tx_partial);
	ASSERT_EQ(before.entries_done + 3, after.entries_done);
	close(low);
	close(high);
}

TEST_F(prio, order_of_calls_within_a_priority)
{
	size_t lens[] = { 1000, 2000, 3000, 4000 };
	const char *bytes = "ABCD";
	int fds[4], i;

	for (i = 0; i < 4; i++) {
		ASSERT_SYS(fds[i] = make(self->dev, bytes[i], lens[i]));
		ASSERT_EQ(1, rt_send(self->dev, fds[i], 3, self->srv));
	}
	expect_runs(_metadata, self->cli, bytes, lens, 4);
	for (i = 0; i < 4; i++)
		close(fds[i]);
}

TEST_F(prio, mixed_priorities_stable)
{
	/* Queued as a..f with these priorities; sent f a c d b e. */
	static const int prios[] = { 5, -1, 5, 3, -1, 7 };
	size_t lens[] = { 600, 100, 300, 400, 200, 500 };
	size_t want_lens[6];
	const char *want = "facdbe";
	int fds[6], i;

	for (i = 0; i < 6; i++) {
		ASSERT_SYS(fds[i] = make(self->dev, 'a' + i, lens[i]));
		ASSERT_EQ(1, rt_send(self->dev, fds[i], prios[i], self->srv));
	}
	for (i = 0; i < 6; i++)
		want_lens[i] = lens[want[i] - 'a'];
	expect_runs(_metadata, self->cli, want, want_lens, 6);
	for (i = 0; i < 6; i++)
		close(fds[i]);
}

TEST_F(prio, bytes_keep_their_place)
{
	size_t lens[] = { 5, 1000, 5 };
	int rec;

	ASSERT_SYS(rec = make(self->dev, 'R', 1000));
	ASSERT_EQ(1, rt_send_bytes(self->dev, 0, self->srv, "hhhhh", 5));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, self->srv));
	ASSERT_EQ(1, rt_send_bytes(self->dev, 0, self->srv, "ttttt", 5));
	expect_runs(_metadata, self->cli, "hRt", lens, 3);
	close(rec);
}

TEST_HARNESS_MAIN
