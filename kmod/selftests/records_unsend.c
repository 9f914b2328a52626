// SPDX-License-Identifier: GPL-2.0
/*
 * records_unsend - unsendRecord removes queued sends that have not started and
 * leaves a started one to complete whole.
 */

#include "records_test.h"

#define FILLER	(256 * 1024)

FIXTURE(unsend) {
	int dev;
	int lfd;
	int srv[2];
	int cli[2];
	int filler;
};

FIXTURE_SETUP(unsend)
{
	static unsigned char buf[FILLER];
	int i;

	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(self->lfd = rt_listen());
	memset(buf, 'F', sizeof(buf));
	ASSERT_SYS(self->filler = rt_init(self->dev, buf, sizeof(buf)));
	for (i = 0; i < 2; i++) {
		ASSERT_SYS(rt_pair_bufs(self->lfd, &self->srv[i], &self->cli[i], 4096, 4096));
		ASSERT_SYS(rt_attach(self->dev, self->srv[i], 0, i));
		/* Started, stopped part-way: the socket is full. */
		ASSERT_EQ(1, rt_send(self->dev, self->filler, 0, self->srv[i]));
	}
}

FIXTURE_TEARDOWN(unsend)
{
	int i;

	for (i = 0; i < 2; i++) {
		close(self->srv[i]);
		close(self->cli[i]);
	}
	close(self->filler);
	close(self->lfd);
	close(self->dev);
}

static int make(int dev, int c, size_t len)
{
	unsigned char *buf = malloc(len);
	int fd;

	memset(buf, c, len);
	fd = rt_init(dev, buf, len);
	free(buf);
	return fd;
}

/* Reads @len bytes that must all be @c. */
static void expect_run(struct __test_metadata *_metadata, int fd, int c, size_t len)
{
	static unsigned char got[FILLER];
	size_t i;

	ASSERT_EQ(len, rt_read_exact(fd, got, len, 20000));
	for (i = 0; i < len; i++)
		if (got[i] != c) {
			TH_LOG("byte %zu is '%c', wanted '%c'", i, got[i], c);
			ASSERT_EQ(c, got[i]);
		}
}

TEST_F(unsend, removes_unstarted)
{
	struct records_stats before, after;
	struct records_sock_info info;
	int x, y;

	ASSERT_SYS(x = make(self->dev, 'X', 5000));
	ASSERT_SYS(y = make(self->dev, 'Y', 6000));
	ASSERT_EQ(1, rt_send(self->dev, x, 0, self->srv[0]));
	ASSERT_EQ(1, rt_send(self->dev, y, 0, self->srv[0]));
	ASSERT_EQ(1, rt_send(self->dev, x, 0, self->srv[0]));
	ASSERT_SYS(rt_sock_info(self->dev, self->srv[0], &info));
	ASSERT_EQ(3, info.tx_queued);

	ASSERT_SYS(rt_stats(self->dev, &before));
	ASSERT_EQ(2, rt_unsend(self->dev, x, self->srv, 1));
	ASSERT_SYS(rt_stats(self->dev, &after));
	ASSERT_EQ(2, after.entries_unsent - before.entries_unsent);
	ASSERT_EQ(before.entries_live - 2, after.entries_live);
	ASSERT_SYS(rt_sock_info(self->dev, self->srv[0], &info));
	ASSERT_EQ(1, info.tx_queued);

	expect_run(_metadata, self->cli[0], 'F', FILLER);
	expect_run(_metadata, self->cli[0], 'Y', 6000);
	ASSERT_FALSE(rt_readable(self->cli[0], 100));
	/* Nothing left to remove. */
	ASSERT_EQ(0, rt_unsend(self->dev, x, self->srv, 1));
	close(x);
	close(y);
}

TEST_F(unsend, leaves_started_whole)
{
	struct records_sock_info info;

	ASSERT_SYS(rt_sock_info(self->dev, self->srv[0], &info));
	ASSERT_EQ(1, info.tx_started);
	ASSERT_GT(info.tx_started_sent, 0);
	/* The filler has started on both sockets: nothing to remove, it completes. */
	ASSERT_EQ(0, rt_unsend(self->dev, self->filler, self->srv, 2));
	expect_run(_metadata, self->cli[0], 'F', FILLER);
	expect_run(_metadata, self->cli[1], 'F', FILLER);
	ASSERT_FALSE(rt_readable(self->cli[0], 100));
}

TEST_F(unsend, only_the_named_sockets)
{
	int x;

	ASSERT_SYS(x = make(self->dev, 'X', 3000));
	ASSERT_EQ(2, rt_send_n(self->dev, x, 0, self->srv, 2));
	ASSERT_EQ(1, rt_unsend(self->dev, x, &self->srv[1], 1));
	expect_run(_metadata, self->cli[0], 'F', FILLER);
	expect_run(_metadata, self->cli[0], 'X', 3000);
	expect_run(_metadata, self->cli[1], 'F', FILLER);
	ASSERT_FALSE(rt_readable(self->cli[1], 100));
	close(x);
}

TEST_F(unsend, bad_arguments)
{
	int pipefd[2], other, x, bad[3];

	ASSERT_SYS(x = make(self->dev, 'X', 10));
	ASSERT_SYS(pipe(pipefd));
	ASSERT_SYS(other = socket(AF_INET, SOCK_STREAM, 0));
	ASSERT_ERRNO(rt_unsend(self->dev, 12345, self->srv, 1), EBADF);
	ASSERT_ERRNO(rt_unsend(self->dev, pipefd[0], self->srv, 1), EINVAL);
	ASSERT_ERRNO(rt_unsend(self->dev, x, (int *)8, 1), EFAULT);
	/* Sockets that are not attached, or not sockets: nothing to remove there. */
	bad[0] = 12345;
	bad[1] = pipefd[1];
	bad[2] = other;
	ASSERT_EQ(0, rt_unsend(self->dev, x, bad, 3));
	close(other);
	close(pipefd[0]);
	close(pipefd[1]);
	close(x);
}

TEST_HARNESS_MAIN
