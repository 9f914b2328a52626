// SPDX-License-Identifier: GPL-2.0
/*
 * records_txreport - RECORDS_ATTACH_TX_REPORT: read(2) on the session says how many
 * sends of a socket have completed (RECORDS_MSG_SENT), once they have and not
 * before, coalesced into one message per socket per read, ahead of the socket's
 * requests, with the send error that broke the socket; sockets attached without the
 * flag never report, and a detached socket reports nothing more.
 */

#include <sys/epoll.h>

#include "records_test.h"

#define RECLEN	(64 * 1024)
#define NSENDS	8

FIXTURE(txreport) {
	int dev;
	int lfd;
	int srv;
	int cli;
	int rec;
	int small;
};

FIXTURE_SETUP(txreport)
{
	static unsigned char buf[RECLEN];

	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(fcntl(self->dev, F_SETFL, O_NONBLOCK));
	ASSERT_SYS(self->lfd = rt_listen());
	/* Small buffers: one record fills the socket until the peer reads. */
	ASSERT_SYS(rt_pair_bufs(self->lfd, &self->srv, &self->cli, 4096, 4096));
	rt_fill(buf, sizeof(buf), 3);
	ASSERT_SYS(self->rec = rt_init(self->dev, buf, sizeof(buf)));
	ASSERT_SYS(self->small = rt_init(self->dev, buf, 100));
}

FIXTURE_TEARDOWN(txreport)
{
	close(self->srv);
	close(self->cli);
	close(self->small);
	close(self->rec);
	close(self->lfd);
	close(self->dev);
}

/* What the reports of some reads of a session said. */
struct reports {
	int sent;		/* SENT messages */
	int other;		/* other messages */
	__u64 total;		/* the latest SENT total */
	int error;		/* the latest SENT error */
};

/*
 * Reads the session (non-blocking) once into @buf of @size; adds what came to @r.  Fails
 * the test on a SENT that is malformed, for another socket, or not alone in its read.
 * Returns read(2)'s result.
 */
static ssize_t read_once(struct __test_metadata *_metadata, int dev, __u64 cookie, void *buf,
			 size_t size, struct reports *r)
{
	struct rt_msg m[256];
	int i, k, sent = 0;
	ssize_t n;

	n = read(dev, buf, size);
	if (n <= 0)
		return n;
	k = rt_split(buf, n, m, 256);
	EXPECT_GE(k, 1);
	for (i = 0; i < k; i++) {
		if (m[i].hdr.type != RECORDS_MSG_SENT) {
			r->other++;
			continue;
		}
		EXPECT_EQ(cookie, m[i].hdr.cookie);
		EXPECT_EQ(sizeof(__u64), m[i].hdr.len);
		/* Ahead of the socket's requests. */
		EXPECT_EQ(0, i);
		memcpy(&r->total, m[i].data, sizeof(r->total));
		r->error = m[i].hdr.error;
		r->sent++;
		sent++;
	}
	/* Coalesced: one per socket per read. */
	EXPECT_LE(sent, 1);
	return n;
}

/* Reads reports until the total reaches @want or @ms pass; true if it did. */
static bool wait_total(struct __test_metadata *_metadata, int dev, __u64 cookie,
		       struct reports *r, __u64 want, int ms)
{
	static unsigned char buf[1 << 16];
	double end = __now() + ms / 1000.0;

	while (r->total < want && __now() < end) {
		if (!rt_readable(dev, 50))
			continue;
		read_once(_metadata, dev, cookie, buf, sizeof(buf), r);
	}
	return r->total >= want;
}

static int attach(int dev, int sock, __u32 flags, __u64 cookie)
{
	return rt_attach(dev, sock, flags, cookie);
}

TEST_F(txreport, after_the_peer_reads)
{
	static unsigned char got[RECLEN * NSENDS];
	struct records_stats before, after;
	struct records_sock_info info;
	struct reports r = { 0 };
	int i;

	ASSERT_SYS(rt_stats(self->dev, &before));
	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_TX_REPORT, 7));
	for (i = 0; i < NSENDS; i++)
		ASSERT_EQ(1, rt_send(self->dev, self->rec, 0, self->srv));
	/* The socket is full and the peer does not read: nothing has completed. */
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	ASSERT_EQ(0, info.tx_done);
	ASSERT_FALSE(rt_readable(self->dev, 300));

	ASSERT_EQ(sizeof(got), rt_read_exact(self->cli, got, sizeof(got), 30000));
	ASSERT_TRUE(wait_total(_metadata, self->dev, 7, &r, NSENDS, 10000));
	EXPECT_EQ(NSENDS, r.total);
	EXPECT_EQ(0, r.error);
	EXPECT_EQ(0, r.other);
	EXPECT_GE(r.sent, 1);
	EXPECT_LE(r.sent, NSENDS);
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	EXPECT_EQ(NSENDS, info.tx_done);
	/* Everything reported: at most the same total again. */
	while (rt_readable(self->dev, 100)) {
		static unsigned char buf[4096];

		ASSERT_GT(read_once(_metadata, self->dev, 7, buf, sizeof(buf), &r), 0);
		EXPECT_EQ(NSENDS, r.total);
	}
	ASSERT_SYS(rt_stats(self->dev, &after));
	EXPECT_EQ(r.sent, after.tx_reports - before.tx_reports);
}

TEST_F(txreport, coalesced)
{
	static unsigned char buf[4096];
	struct reports r = { 0 };
	int i;

	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_TX_REPORT, 9));
	/* Small sends complete at once, each in its own call; one read reports them all. */
	for (i = 0; i < 5; i++)
		ASSERT_EQ(1, rt_send(self->dev, self->small, 0, self->srv));
	ASSERT_TRUE(rt_readable(self->dev, 1000));
	ASSERT_EQ(RECORDS_MSG_SIZE(sizeof(__u64)),
		  read_once(_metadata, self->dev, 9, buf, sizeof(buf), &r));
	EXPECT_EQ(1, r.sent);
	EXPECT_EQ(5, r.total);
	ASSERT_ERRNO(read(self->dev, buf, sizeof(buf)), EAGAIN);
}

TEST_F(txreport, not_without_the_flag)
{
	static unsigned char got[RECLEN * 2];
	struct records_sock_info info;

	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_RECV, 1));
	ASSERT_EQ(1, rt_send(self->dev, self->rec, 0, self->srv));
	ASSERT_EQ(1, rt_send(self->dev, self->rec, 0, self->srv));
	ASSERT_EQ(sizeof(got), rt_read_exact(self->cli, got, sizeof(got), 30000));
	ASSERT_TRUE(RT_WAIT(!rt_sock_info(self->dev, self->srv, &info) && info.tx_done == 2, 5000));
	EXPECT_FALSE(rt_readable(self->dev, 300));
}

TEST_F(txreport, ahead_of_requests)
{
	static const char req[] = "get a_key_longer_than_8\r\n";
	unsigned char buf[4096];
	struct records_sock_info info;
	struct reports r = { 0 };
	struct rt_msg m[4];

	ASSERT_SYS(attach(self->dev, self->srv,
			  RECORDS_ATTACH_RECV | RECORDS_ATTACH_TEXT | RECORDS_ATTACH_TX_REPORT, 5));
	ASSERT_EQ(sizeof(req) - 1, write(self->cli, req, sizeof(req) - 1));
	ASSERT_TRUE(RT_WAIT(!rt_sock_info(self->dev, self->srv, &info) && info.rx_msgs == 1, 5000));
	ASSERT_EQ(1, rt_send(self->dev, self->small, 0, self->srv));

	/* A read with room for the report alone takes it and leaves the request. */
	ASSERT_EQ(RECORDS_MSG_SIZE(sizeof(__u64)),
		  read_once(_metadata, self->dev, 5, buf, RECORDS_MSG_SIZE(sizeof(__u64)), &r));
	EXPECT_EQ(1, r.sent);
	EXPECT_EQ(1, r.total);
	ASSERT_ERRNO(read(self->dev, buf, RECORDS_MSG_SIZE(sizeof(__u64))), EMSGSIZE);
	ASSERT_EQ(RECORDS_MSG_SIZE(sizeof(req) - 1), read(self->dev, buf, sizeof(buf)));
	ASSERT_EQ(1, rt_split(buf, RECORDS_MSG_SIZE(sizeof(req) - 1), m, 4));
	EXPECT_EQ(RECORDS_MSG_REQUEST, m[0].hdr.type);

	/* Both at once: the report first. */
	ASSERT_EQ(sizeof(req) - 1, write(self->cli, req, sizeof(req) - 1));
	ASSERT_TRUE(RT_WAIT(!rt_sock_info(self->dev, self->srv, &info) && info.rx_msgs == 1, 5000));
	ASSERT_EQ(1, rt_send(self->dev, self->small, 0, self->srv));
	memset(&r, 0, sizeof(r));
	read_once(_metadata, self->dev, 5, buf, sizeof(buf), &r);
	EXPECT_EQ(1, r.sent);
	EXPECT_EQ(2, r.total);
	EXPECT_EQ(1, r.other);
}

TEST_F(txreport, wakes_with_requests_unread)
{
	static const char req[] = "get k\r\n";
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	struct records_sock_info info;
	int ep;

	ASSERT_SYS(attach(self->dev, self->srv,
			  RECORDS_ATTACH_RECV | RECORDS_ATTACH_TEXT | RECORDS_ATTACH_TX_REPORT, 3));
	ASSERT_SYS(ep = epoll_create1(EPOLL_CLOEXEC));
	ASSERT_SYS(epoll_ctl(ep, EPOLL_CTL_ADD, self->dev, &ev));
	ASSERT_EQ(sizeof(req) - 1, write(self->cli, req, sizeof(req) - 1));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 5000));
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	ASSERT_EQ(1, info.rx_msgs);
	/* Edge-triggered, the request left unread: no second edge for it ... */
	ASSERT_EQ(0, epoll_wait(ep, &ev, 1, 100));
	/* ... but one for a report. */
	ASSERT_EQ(1, rt_send(self->dev, self->small, 0, self->srv));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 5000));
	close(ep);
}

TEST_F(txreport, send_error)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct records_sock_info info;
	struct reports r = { 0 };
	double end;
	int i;

	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_TX_REPORT, 11));
	for (i = 0; i < NSENDS; i++)
		ASSERT_EQ(1, rt_send(self->dev, self->rec, 0, self->srv));
	ASSERT_FALSE(rt_readable(self->dev, 200));
	/* The peer resets without reading: the queue is dropped and the error reported. */
	ASSERT_SYS(setsockopt(self->cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(self->cli);
	self->cli = -1;
	end = __now() + 10;
	while (!r.error && __now() < end) {
		static unsigned char buf[4096];

		if (rt_readable(self->dev, 50))
			read_once(_metadata, self->dev, 11, buf, sizeof(buf), &r);
	}
	EXPECT_TRUE(r.error == -ECONNRESET || r.error == -EPIPE);
	EXPECT_LT(r.total, NSENDS);
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	EXPECT_EQ(r.error, info.tx_error);
	EXPECT_EQ(r.total, info.tx_done);
	EXPECT_EQ(0, info.tx_queued);
	/* Sends after the error fail, and report nothing more. */
	ASSERT_ERRNO(rt_send(self->dev, self->small, 0, self->srv), -r.error);
	EXPECT_FALSE(rt_readable(self->dev, 100));
}

TEST_F(txreport, none_once_detached)
{
	struct records_stats before, after;

	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_TX_REPORT, 13));
	ASSERT_EQ(1, rt_send(self->dev, self->small, 0, self->srv));
	ASSERT_TRUE(rt_readable(self->dev, 1000));
	ASSERT_SYS(rt_stats(self->dev, &before));
	/* The pending report goes with the socket. */
	ASSERT_SYS(rt_detach(self->dev, self->srv));
	EXPECT_FALSE(rt_readable(self->dev, 100));
	ASSERT_SYS(rt_stats(self->dev, &after));
	EXPECT_EQ(before.tx_reports, after.tx_reports);
}

TEST_F(txreport, unknown_flag)
{
	ASSERT_ERRNO(attach(self->dev, self->srv, RECORDS_ATTACH_FLAGS + 1, 1), EINVAL);
	ASSERT_SYS(attach(self->dev, self->srv, RECORDS_ATTACH_RECV | RECORDS_ATTACH_TX_REPORT, 1));
}

TEST_HARNESS_MAIN
