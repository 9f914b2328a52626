// SPDX-License-Identifier: GPL-2.0
/*
 * records_abuse - bad fds, closed sockets, a record closed while queued, a socket
 * closed while queued, a peer that resets, 10,000 records, concurrent callers from
 * several threads, and a process that exits with work pending.  Nothing may leak:
 * every "_live" counter returns to where it was.  The harness separately fails the
 * run on any BUG, WARNING, Oops or taint in the guest's kernel log.
 */

#include <pthread.h>
#include <sys/un.h>

#include "records_test.h"

#define FILLER	(256 * 1024)

FIXTURE(abuse) {
	int dev;
	int lfd;
	struct records_stats before;
};

FIXTURE_SETUP(abuse)
{
	rt_nofile(32768);
	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(self->lfd = rt_listen());
	ASSERT_SYS(rt_stats(self->dev, &self->before));
}

FIXTURE_TEARDOWN(abuse)
{
	close(self->lfd);
	close(self->dev);
}

/* Every gauge is back where the test started. */
static bool nothing_leaked(int dev, const struct records_stats *before)
{
	struct records_stats st;

	if (rt_stats(dev, &st))
		return false;
	return st.records_live == before->records_live &&
	       st.record_pages_live == before->record_pages_live &&
	       st.record_bytes_live == before->record_bytes_live &&
	       st.socks_live == before->socks_live &&
	       st.entries_live == before->entries_live &&
	       st.rx_msgs_live == before->rx_msgs_live;
}

#define ASSERT_NOTHING_LEAKED() do {					\
	if (!RT_WAIT(nothing_leaked(self->dev, &self->before), 30000)) {	\
		rt_dump_stats(self->dev);				\
		ASSERT_TRUE(0);						\
	}								\
} while (0)

static int make(int dev, int c, size_t len)
{
	unsigned char *buf = malloc(len);
	int fd;

	memset(buf, c, len);
	fd = rt_init(dev, buf, len);
	free(buf);
	return fd;
}

/* A pair whose sending side is attached and already full with a started filler. */
static int blocked_pair(struct __test_metadata *_metadata, int dev, int lfd, int *srv,
			int *cli, int *filler)
{
	ASSERT_SYS(rt_pair_bufs(lfd, srv, cli, 4096, 4096));
	ASSERT_SYS(rt_attach(dev, *srv, 0, 0));
	ASSERT_SYS(*filler = make(dev, 'F', FILLER));
	ASSERT_EQ(1, rt_send(dev, *filler, 0, *srv));
	return 0;
}

TEST_F(abuse, bad_fds_and_arguments)
{
	struct records_dest d = { .sock_fd = 12345 };
	struct records_send s = { .record_fd = -1, .ndests = 1, .dests = (uintptr_t)&d };
	struct records_record_info rinfo;
	struct records_init in = {};
	int pipefd[2], srv, cli, rec, udp;
	char big[RECORDS_AFFIX_MAX + 1];

	ASSERT_SYS(pipe(pipefd));
	ASSERT_SYS(rt_pair(self->lfd, &srv, &cli));
	ASSERT_SYS(rec = make(self->dev, 'r', 100));
	ASSERT_SYS(udp = socket(AF_INET, SOCK_DGRAM, 0));

	/* Unknown ioctls, on the device and on a record. */
	ASSERT_ERRNO(ioctl(self->dev, _IO(RECORDS_IOC_MAGIC, 99)), ENOTTY);
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_RECORD_INFO, &rinfo), ENOTTY);
	ASSERT_ERRNO(ioctl(rec, RECORDS_IOC_STATS, &rinfo), ENOTTY);

	/* initRecord */
	in.flags = 1;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_INIT, &in), EINVAL);
	in.flags = 0;
	in.len = RECORDS_RECORD_MAX + 1;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_INIT, &in), EFBIG);
	in.len = 100000;
	in.data = 4096;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_INIT, &in), EFAULT);
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_INIT, (void *)8), EFAULT);
	in.len = 0;
	in.data = 0;
	{
		int empty = ioctl(self->dev, RECORDS_IOC_INIT, &in);

		ASSERT_SYS(empty);
		ASSERT_SYS(rt_record_info(empty, &rinfo));
		ASSERT_EQ(0, rinfo.nr_pages);
		close(empty);
	}

	/* sendRecord: bad record fds */
	ASSERT_ERRNO(rt_send(self->dev, 12345, 0, srv), EBADF);
	ASSERT_ERRNO(rt_send(self->dev, -2, 0, srv), EBADF);
	ASSERT_ERRNO(rt_send(self->dev, pipefd[0], 0, srv), EINVAL);
	ASSERT_ERRNO(rt_send(self->dev, self->dev, 0, srv), EINVAL);
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, (void *)8), EFAULT);
	s.dests = 8;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, &s), EFAULT);
	s.dests = (uintptr_t)&d;
	s.ndests = RECORDS_DESTS_MAX + 1;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, &s), E2BIG);
	s.ndests = 1;
	s.flags = 1;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, &s), EINVAL);
	s.flags = 0;

	/* sendRecord: bad destinations are reported one by one */
	d.sock_fd = 12345;
	ASSERT_EQ(0, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(-EBADF, d.result);
	d.sock_fd = pipefd[1];
	ASSERT_EQ(0, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(-ENOTSOCK, d.result);
	d.sock_fd = srv;		/* not attached */
	ASSERT_EQ(0, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(-ENOTCONN, d.result);
	ASSERT_SYS(rt_attach(self->dev, srv, 0, 0));
	d.prefix_len = sizeof(big);
	d.prefix = (uintptr_t)big;
	ASSERT_EQ(0, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(-EMSGSIZE, d.result);
	d.prefix_len = 10;
	d.prefix = 8;
	ASSERT_EQ(0, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(-EFAULT, d.result);

	/* attach / detach */
	ASSERT_ERRNO(rt_attach(self->dev, 12345, 0, 0), EBADF);
	ASSERT_ERRNO(rt_attach(self->dev, pipefd[0], 0, 0), ENOTSOCK);
	ASSERT_ERRNO(rt_attach(self->dev, udp, 0, 0), EOPNOTSUPP);
	ASSERT_ERRNO(rt_attach(self->dev, self->lfd, 0, 0), ENOTCONN);
	ASSERT_ERRNO(rt_attach(self->dev, srv, 0, 0), EBUSY);
	ASSERT_ERRNO(rt_attach(self->dev, cli, 1U << 31, 0), EINVAL);
	ASSERT_ERRNO(rt_attach(self->dev, cli, RECORDS_ATTACH_RECV | RECORDS_ATTACH_TEXT |
			       RECORDS_ATTACH_BINARY, 0), EINVAL);
	ASSERT_ERRNO(rt_detach(self->dev, cli), ENOTCONN);
	ASSERT_ERRNO(rt_detach(self->dev, 12345), EBADF);
	{
		int unconnected = socket(AF_INET, SOCK_STREAM, 0);
		int un[2];

		ASSERT_ERRNO(rt_attach(self->dev, unconnected, 0, 0), ENOTCONN);
		ASSERT_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, un));
		ASSERT_ERRNO(rt_attach(self->dev, un[0], 0, 0), EOPNOTSUPP);
		close(unconnected);
		close(un[0]);
		close(un[1]);
	}
	/* Another session may not touch this one's sockets. */
	{
		int dev2 = rt_open();

		ASSERT_SYS(dev2);
		ASSERT_ERRNO(rt_attach(dev2, srv, 0, 0), EBUSY);
		ASSERT_ERRNO(rt_send(dev2, rec, 0, srv), EBUSY);
		ASSERT_ERRNO(rt_detach(dev2, srv), EBUSY);
		ASSERT_EQ(0, rt_unsend(dev2, rec, &srv, 1));
		close(dev2);
	}
	/* Attached sockets show a ULP, so kTLS cannot stack on them. */
	{
		char ulp[32] = "";
		socklen_t len = sizeof(ulp);

		ASSERT_SYS(getsockopt(srv, IPPROTO_TCP, TCP_ULP, ulp, &len));
		ASSERT_EQ(0, strcmp(ulp, "records"));
		ASSERT_SYS(rt_detach(self->dev, srv));
		len = sizeof(ulp);
		memset(ulp, 0, sizeof(ulp));
		ASSERT_SYS(getsockopt(srv, IPPROTO_TCP, TCP_ULP, ulp, &len));
		ASSERT_EQ(0, strcmp(ulp, ""));
	}

	close(udp);
	close(rec);
	close(srv);
	close(cli);
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, closed_socket)
{
	struct records_stats st;
	int srv, cli, rec;
	char got[10];

	ASSERT_SYS(rt_pair(self->lfd, &srv, &cli));
	ASSERT_SYS(rt_attach(self->dev, srv, RECORDS_ATTACH_RECV, 0));
	ASSERT_SYS(rec = make(self->dev, 'r', 10));
	close(srv);
	/* close(2) detached it: counted, and nothing of it is left. */
	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ(self->before.socks_closed + 1, st.socks_closed);
	ASSERT_EQ(self->before.socks_live, st.socks_live);
	ASSERT_ERRNO(rt_send(self->dev, rec, 0, srv), EBADF);
	/* The peer sees an ordinary close. */
	ASSERT_EQ(0, rt_read_exact(cli, got, sizeof(got), 2000));
	close(cli);
	close(rec);
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, record_closed_while_queued)
{
	unsigned char *buf = malloc(FILLER), *got = malloc(FILLER);
	struct records_stats st;
	int srv, cli, filler, rec;
	size_t i;

	blocked_pair(_metadata, self->dev, self->lfd, &srv, &cli, &filler);
	rt_fill(buf, FILLER, 3);
	ASSERT_SYS(rec = rt_init(self->dev, buf, FILLER));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	/* delRecord while queued: the queue keeps it until it is written. */
	close(rec);
	close(filler);
	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ(self->before.records_live + 2, st.records_live);

	ASSERT_EQ(FILLER, rt_read_exact(cli, got, FILLER, 20000));
	for (i = 0; i < FILLER; i++)
		ASSERT_EQ('F', got[i]);
	ASSERT_EQ(FILLER, rt_read_exact(cli, got, FILLER, 20000));
	ASSERT_EQ(0, memcmp(got, buf, FILLER));
	close(srv);
	close(cli);
	ASSERT_NOTHING_LEAKED();
	free(buf);
	free(got);
}

TEST_F(abuse, socket_closed_while_queued)
{
	struct records_stats st;
	int srv, cli, filler, rec, i;
	char *got = malloc(FILLER * 4);

	blocked_pair(_metadata, self->dev, self->lfd, &srv, &cli, &filler);
	ASSERT_SYS(rec = make(self->dev, 'X', FILLER));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	close(srv);
	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ(self->before.entries_dropped + 4, st.entries_dropped);
	ASSERT_EQ(self->before.socks_closed + 1, st.socks_closed);
	close(rec);
	close(filler);
	/* The reader gets part of the filler, then the end of the stream: no hang. */
	{
		size_t n = rt_read_exact(cli, got, FILLER * 4, 5000);

		ASSERT_LT(n, FILLER);
		ASSERT_GT(n, 0);
	}
	close(cli);
	ASSERT_NOTHING_LEAKED();
	free(got);
}

TEST_F(abuse, peer_reset_while_queued)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct records_sock_info info;
	int srv, cli, filler, rec;
	long ret;

	blocked_pair(_metadata, self->dev, self->lfd, &srv, &cli, &filler);
	ASSERT_SYS(rec = make(self->dev, 'X', 1000));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	ASSERT_SYS(setsockopt(cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(cli);
	/* The reset reaches the queue through state_change and the work queue. */
	ASSERT_TRUE(RT_WAIT(rt_sock_info(self->dev, srv, &info) == 0 && info.tx_error, 30000));
	ASSERT_EQ(0, info.tx_queued);
	ASSERT_EQ(0, info.tx_started);
	TH_LOG("send error after the reset: %s", strerror(-info.tx_error));
	ret = rt_send(self->dev, rec, 0, srv);
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(-info.tx_error, errno);
	close(rec);
	close(filler);
	close(srv);
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, detach_with_queued_sends)
{
	struct records_stats st;
	int srv, cli, filler, rec;
	char *got = malloc(FILLER * 2);
	size_t n;

	blocked_pair(_metadata, self->dev, self->lfd, &srv, &cli, &filler);
	ASSERT_SYS(rec = make(self->dev, 'X', 5000));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	ASSERT_SYS(rt_detach(self->dev, srv));
	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ(self->before.entries_dropped + 3, st.entries_dropped);
	ASSERT_EQ(self->before.socks_live, st.socks_live);
	/* The socket is plain TCP again and still works. */
	ASSERT_SYS(fcntl(srv, F_SETFL, O_NONBLOCK));
	n = rt_read_exact(cli, got, FILLER * 2, 1000);
	ASSERT_LT(n, FILLER);
	ASSERT_EQ(5, send(srv, "after", 5, 0));
	ASSERT_EQ(5, rt_read_exact(cli, got, 5, 5000));
	ASSERT_EQ(0, memcmp(got, "after", 5));
	close(rec);
	close(filler);
	close(srv);
	close(cli);
	ASSERT_NOTHING_LEAKED();
	free(got);
}

TEST_F(abuse, tx_limit)
{
	struct records_attach a = { .flags = 0, .tx_limit = 4 };
	int srv, cli, filler, rec, i;

	ASSERT_SYS(rt_pair_bufs(self->lfd, &srv, &cli, 4096, 4096));
	a.sock_fd = srv;
	ASSERT_SYS(ioctl(self->dev, RECORDS_IOC_ATTACH, &a));
	ASSERT_SYS(filler = make(self->dev, 'F', FILLER));
	ASSERT_EQ(1, rt_send(self->dev, filler, 0, srv));
	ASSERT_SYS(rec = make(self->dev, 'X', 100));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(1, rt_send(self->dev, rec, 0, srv));
	ASSERT_ERRNO(rt_send(self->dev, rec, 0, srv), ENOBUFS);
	close(rec);
	close(filler);
	close(srv);
	close(cli);
	ASSERT_NOTHING_LEAKED();
}

struct drain {
	int fd;
	size_t bytes;
	unsigned long sum;
	size_t want;
};

/* Reads everything from d->fd until EOF or d->want bytes. */
static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	unsigned char buf[65536];

	for (;;) {
		ssize_t n;
		ssize_t i;

		if (d->want && d->bytes >= d->want)
			break;
		n = read(d->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			d->sum += buf[i];
		d->bytes += n;
	}
	return NULL;
}

TEST_F_TIMEOUT(abuse, ten_thousand_records, 300)
{
	enum { N = 10000 };
	static int recs[N];
	unsigned char *buf = malloc(4096);
	unsigned long sum = 0;
	struct drain d = {};
	size_t total = 0;
	pthread_t th;
	int srv, cli, i;

	ASSERT_SYS(rt_pair(self->lfd, &srv, &cli));
	ASSERT_SYS(rt_attach(self->dev, srv, 0, 0));
	/* All 10,000 alive at once. */
	for (i = 0; i < N; i++) {
		size_t len = 1 + (i * 37) % 4000;
		size_t j;

		rt_fill(buf, len, i);
		ASSERT_SYS(recs[i] = rt_init(self->dev, buf, len));
		for (j = 0; j < len; j++)
			sum += buf[j];
		total += len;
	}
	d.fd = cli;
	d.want = total;
	ASSERT_EQ(0, pthread_create(&th, NULL, drain_thread, &d));
	for (i = 0; i < N; i++)
		ASSERT_EQ(1, rt_send(self->dev, recs[i], i % 7, srv));
	for (i = 0; i < N; i++)
		close(recs[i]);
	pthread_join(th, NULL);
	ASSERT_EQ(total, d.bytes);
	ASSERT_EQ(sum, d.sum);
	close(srv);
	close(cli);
	ASSERT_NOTHING_LEAKED();
	free(buf);
}

#define NTHREADS	8
#define NPAIRS		16

struct worker {
	int dev;
	int *srv;
	unsigned int seed;
	int iterations;
	long sent;
};

/* Random initRecord / sendRecord / unsendRecord / delRecord / detach / attach. */
static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[8192];
	int i;

	for (i = 0; i < w->iterations; i++) {
		size_t len = 1 + rand_r(&w->seed) % sizeof(buf);
		int socks[4], n = 1 + rand_r(&w->seed) % 4, k, rec;

		memset(buf, 'a' + i % 26, len);
		rec = rt_init(w->dev, buf, len);
		if (rec < 0)
			continue;
		for (k = 0; k < n; k++)
			socks[k] = w->srv[rand_r(&w->seed) % NPAIRS];
		if (rt_send_n(w->dev, rec, rand_r(&w->seed) % 5, socks, n) > 0)
			w->sent++;
		switch (rand_r(&w->seed) % 8) {
		case 0:
			rt_unsend(w->dev, rec, socks, n);
			break;
		case 1:
			/* Detach and attach again: sends in between fail cleanly. */
			rt_detach(w->dev, socks[0]);
			rt_attach(w->dev, socks[0], 0, 0);
			break;
		default:
			break;
		}
		close(rec);
	}
	return NULL;
}

TEST_F_TIMEOUT(abuse, concurrent_callers, 300)
{
	struct worker w[NTHREADS];
	struct drain d[NPAIRS];
	pthread_t wt[NTHREADS], dt[NPAIRS];
	int srv[NPAIRS], cli[NPAIRS], i;
	struct records_stats st;
	long sent = 0;

	for (i = 0; i < NPAIRS; i++) {
		ASSERT_SYS(rt_pair(self->lfd, &srv[i], &cli[i]));
		ASSERT_SYS(rt_attach(self->dev, srv[i], 0, i));
		d[i] = (struct drain){ .fd = cli[i] };
		ASSERT_EQ(0, pthread_create(&dt[i], NULL, drain_thread, &d[i]));
	}
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .dev = self->dev, .srv = srv, .seed = i + 1,
					.iterations = 400 };
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, worker_thread, &w[i]));
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(wt[i], NULL);
		sent += w[i].sent;
	}
	ASSERT_GT(sent, NTHREADS * 100);
	/* Closing the senders detaches them; the readers then see the end. */
	for (i = 0; i < NPAIRS; i++)
		close(srv[i]);
	for (i = 0; i < NPAIRS; i++) {
		pthread_join(dt[i], NULL);
		close(cli[i]);
	}
	ASSERT_SYS(rt_stats(self->dev, &st));
	TH_LOG("%ld sends by %d threads: %llu sent whole, %llu unsent, %llu dropped",
	       sent, NTHREADS,
	       (unsigned long long)(st.entries_done - self->before.entries_done),
	       (unsigned long long)(st.entries_unsent - self->before.entries_unsent),
	       (unsigned long long)(st.entries_dropped - self->before.entries_dropped));
	ASSERT_NOTHING_LEAKED();
}

struct closer {
	int dev;
	int lfd;
	int *srv;
	int *cli;
	volatile int stop;
	int cycles;
};

/* Closes attached senders (and their readers) and replaces them with new pairs. */
static void *closer_thread(void *arg)
{
	struct closer *c = arg;
	unsigned int seed = 7;

	while (!c->stop) {
		int i = rand_r(&seed) % NPAIRS, s, r;

		if (rt_pair(c->lfd, &s, &r))
			continue;
		rt_attach(c->dev, s, rand_r(&seed) % 2 ? RECORDS_ATTACH_RECV : 0, i);
		send(r, "get x\r\n", 7, MSG_NOSIGNAL);
		/* Swap in the new pair, then close the old one under the senders' feet. */
		s = __atomic_exchange_n(&c->srv[i], s, __ATOMIC_SEQ_CST);
		r = __atomic_exchange_n(&c->cli[i], r, __ATOMIC_SEQ_CST);
		close(s);
		close(r);
		c->cycles++;
		usleep(200);
	}
	return NULL;
}

struct session_reader {
	int dev;
	volatile int stop;
	long msgs;
};

/* read(2)s the session while sockets come and go. */
static void *session_reader_thread(void *arg)
{
	struct session_reader *r = arg;
	static char buf[1 << 16];

	while (!r->stop) {
		struct rt_msg m[1024];
		ssize_t n;
		int k;

		if (!rt_readable(r->dev, 10))
			continue;
		n = read(r->dev, buf, sizeof(buf));
		if (n <= 0)
			continue;
		k = rt_split(buf, n, m, 1024);
		if (k > 0)
			r->msgs += k;
	}
	return NULL;
}

TEST_F_TIMEOUT(abuse, sockets_closed_under_concurrent_senders, 300)
{
	struct session_reader sr = { .dev = self->dev };
	struct worker w[4];
	pthread_t wt[4], ct, rt;
	int srv[NPAIRS], cli[NPAIRS], i, fl;
	struct closer c = { .dev = self->dev, .lfd = self->lfd, .srv = srv, .cli = cli };
	char buf[65536];

	for (i = 0; i < NPAIRS; i++) {
		ASSERT_SYS(rt_pair(self->lfd, &srv[i], &cli[i]));
		ASSERT_SYS(rt_attach(self->dev, srv[i], 0, i));
	}
	ASSERT_EQ(0, pthread_create(&ct, NULL, closer_thread, &c));
	ASSERT_EQ(0, pthread_create(&rt, NULL, session_reader_thread, &sr));
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ .dev = self->dev, .srv = srv, .seed = 100 + i,
					.iterations = 1500 };
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, worker_thread, &w[i]));
	}
	/* Readers that read now and then, so sends stop and resume. */
	for (fl = 0; fl < 200; fl++) {
		for (i = 0; i < NPAIRS; i++)
			recv(__atomic_load_n(&cli[i], __ATOMIC_SEQ_CST), buf, sizeof(buf), MSG_DONTWAIT);
		usleep(1000);
	}
	for (i = 0; i < 4; i++)
		pthread_join(wt[i], NULL);
	c.stop = 1;
	pthread_join(ct, NULL);
	sr.stop = 1;
	pthread_join(rt, NULL);
	TH_LOG("%d sockets closed and replaced under 4 sending threads, %ld requests read meanwhile",
	       c.cycles, sr.msgs);
	ASSERT_GT(c.cycles, 10);
	for (i = 0; i < NPAIRS; i++) {
		close(srv[i]);
		close(cli[i]);
	}
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, ipv6)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t alen = sizeof(a);
	int l, c, s, rec, one = 1;
	char got[64], req[] = "get six\r\n";

	l = socket(AF_INET6, SOCK_STREAM, 0);
	ASSERT_SYS(l);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)))
		SKIP(return, "no IPv6 loopback: %s", strerror(errno));
	ASSERT_SYS(listen(l, 8));
	ASSERT_SYS(getsockname(l, (struct sockaddr *)&a, &alen));
	ASSERT_SYS(c = socket(AF_INET6, SOCK_STREAM, 0));
	ASSERT_SYS(connect(c, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_SYS(s = accept(l, NULL, NULL));

	ASSERT_SYS(rt_attach(self->dev, s, RECORDS_ATTACH_RECV, 6));
	ASSERT_SYS(rec = make(self->dev, '6', 40));
	ASSERT_EQ(1, rt_send(self->dev, rec, 0, s));
	ASSERT_EQ(40, rt_read_exact(c, got, 40, 5000));
	ASSERT_EQ('6', got[39]);
	ASSERT_EQ((ssize_t)strlen(req), send(c, req, strlen(req), 0));
	ASSERT_TRUE(rt_readable(self->dev, 5000));
	{
		char buf[256];
		struct rt_msg m[4];
		ssize_t n = read(self->dev, buf, sizeof(buf));

		ASSERT_EQ(1, rt_split(buf, n, m, 4));
		ASSERT_EQ(6, m[0].hdr.cookie);
		ASSERT_EQ(strlen(req), m[0].hdr.len);
		ASSERT_EQ(0, memcmp(m[0].data, req, strlen(req)));
	}
	close(s);
	close(c);
	close(l);
	close(rec);
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, process_exits_with_work_pending)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_SYS(pid);
	if (pid == 0) {
		int dev = rt_open(), lfd = rt_listen(), srv, cli, rec, i, k;
		unsigned char *buf = malloc(FILLER);

		if (dev < 0 || lfd < 0 || !buf)
			_exit(2);
		memset(buf, 'x', FILLER);
		rec = rt_init(dev, buf, FILLER);
		for (i = 0; i < 20; i++) {
			if (rt_pair_bufs(lfd, &srv, &cli, 4096, 4096) ||
			    rt_attach(dev, srv, RECORDS_ATTACH_RECV, i))
				_exit(3);
			for (k = 0; k < 4; k++)
				rt_send(dev, rec, k, srv);
			send(cli, "get a\r\nget b\r\n", 14, 0);
		}
		/* Exit with everything queued and unread: a crash, as far as the kernel knows. */
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_NOTHING_LEAKED();
}

TEST_F(abuse, everything_returned)
{
	struct records_stats st;

	/* Run last: after every test above, nothing of them is left in the kernel. */
	ASSERT_SYS(rt_stats(self->dev, &st));
	rt_dump_stats(self->dev);
	ASSERT_EQ(0, st.records_live);
	ASSERT_EQ(0, st.record_pages_live);
	ASSERT_EQ(0, st.socks_live);
	ASSERT_EQ(0, st.entries_live);
	ASSERT_EQ(0, st.rx_msgs_live);
	ASSERT_EQ(1, st.sessions_live);
}

TEST_HARNESS_MAIN
