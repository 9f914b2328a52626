// SPDX-License-Identifier: GPL-2.0
/*
 * records_recv - recvRecord: sockets attached for receive are framed in the kernel
 * (memcached text, meta and binary), the session wakes only for whole requests, and
 * read(2) returns whole requests only.  Pipelined requests in one segment, one
 * request over many segments, a 1 MB value, values too large to keep, garbage and
 * oversized lines: correct requests or a clean error, never a hang.  The records
 * library's message framings (length-prefixed, lines) too.
 */

#include <pthread.h>

#include "records_test.h"

#define BUFSZ	(4 << 20)

struct got {
	struct records_msg hdr;
	unsigned char *data;
};

FIXTURE(recv) {
	int dev;
	int lfd;
	int srv;
	int cli;
	unsigned char *buf;
	struct got got[4096];
	int ngot;
};

static int attach_rx(int dev, int sock, __u32 flags, __u64 cookie, __u32 item_size_max,
		     __u32 rx_limit)
{
	struct records_attach a = {
		.sock_fd = sock, .flags = RECORDS_ATTACH_RECV | flags, .cookie = cookie,
		.item_size_max = item_size_max, .rx_limit = rx_limit,
	};

	return ioctl(dev, RECORDS_IOC_ATTACH, &a);
}

FIXTURE_SETUP(recv)
{
	int one = 1;

	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(self->lfd = rt_listen());
	ASSERT_SYS(rt_pair(self->lfd, &self->srv, &self->cli));
	setsockopt(self->cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	self->buf = malloc(BUFSZ);
	ASSERT_TRUE(self->buf != NULL);
}

FIXTURE_TEARDOWN(recv)
{
	int i;

	for (i = 0; i < self->ngot; i++)
		free(self->got[i].data);
	free(self->buf);
	close(self->srv);
	close(self->cli);
	close(self->lfd);
	close(self->dev);
}

/*
 * Reads the session until @want messages in all have arrived or @ms passed.
 * Returns the number collected so far.
 */
static int collect(struct _fixture_data_recv *self, int want, int ms)
{
	double end = __now() + ms / 1000.0;

	while (self->ngot < want && __now() < end) {
		static struct rt_msg m[4096];
		ssize_t n;
		int i, k;

		if (!rt_readable(self->dev, 50))
			continue;
		n = read(self->dev, self->buf, BUFSZ);
		if (n < 0) {
			if (errno == EAGAIN)
				continue;
			fprintf(stderr, "# read: %s\n", strerror(errno));
			break;
		}
		k = rt_split(self->buf, n, m, 4096);
		for (i = 0; i < k && self->ngot < 4096; i++) {
			struct got *g = &self->got[self->ngot++];

			g->hdr = m[i].hdr;
			g->data = malloc(m[i].hdr.len + 1);
			memcpy(g->data, m[i].data, m[i].hdr.len);
			g->data[m[i].hdr.len] = 0;
		}
	}
	return self->ngot;
}

/* Message @i must be the request @s. */
#define EXPECT_REQ(i, s) do {						\
	ASSERT_GT(self->ngot, (i));					\
	ASSERT_EQ(RECORDS_MSG_REQUEST, self->got[i].hdr.type);		\
	if (self->got[i].hdr.len != strlen(s) ||			\
	    memcmp(self->got[i].data, (s), strlen(s))) {		\
		TH_LOG("message %d: got %u bytes \"%.60s\", wanted \"%.60s\"", \
		       (i), self->got[i].hdr.len, self->got[i].data, (s)); \
		ASSERT_TRUE(0);						\
	}								\
} while (0)

static void send_all(struct __test_metadata *_metadata, int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);

		ASSERT_SYS(n);
		off += n;
	}
}

TEST_F(recv, pipelined_in_one_segment)
{
	static const char *reqs[] = {
		"get a\r\n",
		"set k 0 0 5\r\nhello\r\n",
		"mg foo v\r\n",
		"ms bar 3 T0\r\nxyz\r\n",
		"gets a b c\r\n",
		"cas k 1 0 2 77\r\nhi\r\n",
		"delete k\r\n",
		"append k 0 0 0\r\n\r\n",
		"version\n",
	};
	char all[512] = "";
	int i, n = sizeof(reqs) / sizeof(reqs[0]);

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 42, 0, 0));
	for (i = 0; i < n; i++)
		strcat(all, reqs[i]);
	send_all(_metadata, self->cli, all, strlen(all));
	ASSERT_EQ(n, collect(self, n, 5000));
	for (i = 0; i < n; i++) {
		EXPECT_REQ(i, reqs[i]);
		ASSERT_EQ(42, self->got[i].hdr.cookie);
	}
	ASSERT_FALSE(rt_readable(self->dev, 100));
}

TEST_F(recv, one_request_many_segments)
{
	const char *req = "set key 5 0 26\r\nabcdefghijklmnopqrstuvwxyz\r\n";
	size_t i, len = strlen(req);

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	for (i = 0; i < len; i++) {
		send_all(_metadata, self->cli, req + i, 1);
		usleep(2000);
		/* No wakeup for part of a request. */
		if (i + 1 < len)
			ASSERT_FALSE(rt_readable(self->dev, 0));
	}
	ASSERT_EQ(1, collect(self, 1, 5000));
	EXPECT_REQ(0, req);
}

TEST_F(recv, binary_pipelined)
{
	unsigned char req[3][64];
	size_t lens[3], total = 0;
	unsigned char all[256];
	int i;

	/* GET "abc", SET "k" with 8 bytes of extras and value "value", NOOP */
	memset(req, 0, sizeof(req));
	req[0][0] = 0x80; req[0][1] = 0x00; req[0][3] = 3; req[0][11] = 3;
	memcpy(req[0] + 24, "abc", 3);
	lens[0] = 27;
	req[1][0] = 0x80; req[1][1] = 0x01; req[1][3] = 1; req[1][4] = 8; req[1][11] = 8 + 1 + 5;
	memcpy(req[1] + 24 + 8, "k", 1);
	memcpy(req[1] + 24 + 9, "value", 5);
	lens[1] = 24 + 14;
	req[2][0] = 0x80; req[2][1] = 0x0a;
	lens[2] = 24;
	for (i = 0; i < 3; i++) {
		memcpy(all + total, req[i], lens[i]);
		total += lens[i];
	}

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 7, 0, 0));
	send_all(_metadata, self->cli, all, total);
	ASSERT_EQ(3, collect(self, 3, 5000));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(RECORDS_MSG_REQUEST, self->got[i].hdr.type);
		ASSERT_EQ(lens[i], self->got[i].hdr.len);
		ASSERT_EQ(0, memcmp(self->got[i].data, req[i], lens[i]));
	}

	/* A bad magic after binary was chosen: a clean error, after the good requests. */
	req[0][0] = 0x81;
	send_all(_metadata, self->cli, req[2], 24);
	send_all(_metadata, self->cli, req[0], 27);
	ASSERT_EQ(5, collect(self, 5, 5000));
	ASSERT_EQ(RECORDS_MSG_REQUEST, self->got[3].hdr.type);
	ASSERT_EQ(RECORDS_MSG_ERROR, self->got[4].hdr.type);
	ASSERT_EQ(-EPROTO, self->got[4].hdr.error);
}

TEST_F(recv, value_of_one_megabyte)
{
	size_t vlen = 1 << 20;
	char line[64];
	unsigned char *req;
	size_t len, llen;

	/* -I 2m, so that a 1 MiB value is an item memcached would store */
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 2 << 20, 0));
	llen = snprintf(line, sizeof(line), "set big 0 0 %zu\r\n", vlen);
	len = llen + vlen + 2;
	req = malloc(len);
	memcpy(req, line, llen);
	rt_fill(req + llen, vlen, 9);
	memcpy(req + llen + vlen, "\r\n", 2);
	send_all(_metadata, self->cli, req, len);
	send_all(_metadata, self->cli, "get big\r\n", 9);

	ASSERT_EQ(2, collect(self, 2, 20000));
	ASSERT_EQ(RECORDS_MSG_REQUEST, self->got[0].hdr.type);
	ASSERT_EQ(len, self->got[0].hdr.len);
	ASSERT_EQ(0, memcmp(self->got[0].data, req, len));
	EXPECT_REQ(1, "get big\r\n");
	free(req);
}

TEST_F(recv, value_too_large_is_dropped)
{
	struct records_stats before, after;
	size_t vlen = (1 << 20) + 100000;
	char line[64], mline[64];
	unsigned char *val;
	size_t llen, mlen;

	ASSERT_SYS(rt_stats(self->dev, &before));
	/* -I 1m: the item cannot be stored, its data is dropped in the kernel */
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 1 << 20, 0));
	llen = snprintf(line, sizeof(line), "set big 0 0 %zu noreply\r\n", vlen);
	mlen = snprintf(mline, sizeof(mline), "ms big2 %zu T0\r\n", vlen);
	val = malloc(vlen + 2);
	memset(val, 'v', vlen);
	memcpy(val + vlen, "\r\n", 2);
	send_all(_metadata, self->cli, line, llen);
	send_all(_metadata, self->cli, val, vlen + 2);
	send_all(_metadata, self->cli, mline, mlen);
	send_all(_metadata, self->cli, val, vlen + 2);
	send_all(_metadata, self->cli, "get big\r\n", 9);

	ASSERT_EQ(3, collect(self, 3, 20000));
	EXPECT_REQ(0, line);
	ASSERT_EQ(RECORDS_MSGF_DISCARD, self->got[0].hdr.flags);
	ASSERT_EQ(vlen + 2, self->got[0].hdr.discard);
	EXPECT_REQ(1, mline);
	ASSERT_EQ(vlen + 2, self->got[1].hdr.discard);
	EXPECT_REQ(2, "get big\r\n");
	ASSERT_EQ(0, self->got[2].hdr.flags);
	ASSERT_SYS(rt_stats(self->dev, &after));
	ASSERT_EQ(2 * (vlen + 2), after.rx_discarded_bytes - before.rx_discarded_bytes);
	free(val);
}

TEST_F(recv, garbage_lines)
{
	static const char *reqs[] = {
		"foo bar\r\n",
		"\r\n",
		"\n",
		"\x01\x02\x03\xff\n",
		"set k 0 0 abc\r\n",	/* bad length: no data block, as memcached */
		"hello\r\n",
		"set k 0 0 -1\r\n",
		"set k 0 0\r\n",	/* too few tokens */
		"set k 0 0 5 noreply extra\r\n",
		"set k\t0 0 0 2\r\nab\r\n",	/* a tab is part of the key */
		"set  k  0  0  2 \r\nab\r\n",	/* runs of spaces */
		"ms k -5\r\n",
		"ms k 2 T0\r\nxy\r\n",
		"set k 0 0 2\0hidden\r\nab\r\n",	/* NUL ends the command */
	};
	size_t lens[sizeof(reqs) / sizeof(reqs[0])];
	char all[512];
	size_t off = 0;
	int i, n = sizeof(reqs) / sizeof(reqs[0]);

	for (i = 0; i < n; i++) {
		lens[i] = i == n - 1 ? 24 : strlen(reqs[i]);
		memcpy(all + off, reqs[i], lens[i]);
		off += lens[i];
	}
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	send_all(_metadata, self->cli, all, off);
	ASSERT_EQ(n, collect(self, n, 5000));
	for (i = 0; i < n - 1; i++)
		EXPECT_REQ(i, reqs[i]);
	ASSERT_EQ(lens[n - 1], self->got[n - 1].hdr.len);
	ASSERT_EQ(0, memcmp(self->got[n - 1].data, reqs[n - 1], lens[n - 1]));
}

TEST_F(recv, oversized_line_is_an_error)
{
	char junk[3000];

	memset(junk, 'x', sizeof(junk));
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	send_all(_metadata, self->cli, "get a\r\n", 7);
	send_all(_metadata, self->cli, junk, sizeof(junk));
	ASSERT_EQ(2, collect(self, 2, 5000));
	EXPECT_REQ(0, "get a\r\n");
	ASSERT_EQ(RECORDS_MSG_ERROR, self->got[1].hdr.type);
	ASSERT_EQ(-EMSGSIZE, self->got[1].hdr.error);
	/* Then nothing: the server closes such a connection. */
	send_all(_metadata, self->cli, "get b\r\n", 7);
	ASSERT_EQ(2, collect(self, 3, 300));
}

static int attach_messages(int dev, int sock, __u32 flags, __u32 message_max, __u32 offset,
			   __u32 width)
{
	struct records_attach a = {
		.sock_fd = sock, .flags = RECORDS_ATTACH_RECV | flags, .cookie = 7,
		.message_max = message_max, .prefix_offset = offset, .prefix_width = width,
	};

	return ioctl(dev, RECORDS_IOC_ATTACH, &a);
}

/* The records library's framing: a type byte, a 2-byte little-endian length, then the bytes. */
TEST_F(recv, length_prefixed_messages_byte_by_byte)
{
	static const unsigned char stream[] = {
		'B', 3, 0, 'a', 'b', 'c',
		'V', 0, 0,
		'C', 1, 0, 'z',
	};
	size_t i;

	ASSERT_SYS(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH | RECORDS_ATTACH_LE,
				   300, 1, 2));
	for (i = 0; i < sizeof(stream); i++) {
		send_all(_metadata, self->cli, stream + i, 1);
		usleep(2000);
	}
	ASSERT_EQ(3, collect(self, 3, 5000));
	ASSERT_EQ(6, self->got[0].hdr.len);
	ASSERT_EQ(0, memcmp(self->got[0].data, stream, 6));
	ASSERT_EQ(3, self->got[1].hdr.len);
	ASSERT_EQ(0, memcmp(self->got[1].data, stream + 6, 3));
	ASSERT_EQ(4, self->got[2].hdr.len);
	ASSERT_EQ(0, memcmp(self->got[2].data, stream + 9, 4));
	ASSERT_EQ(7, self->got[2].hdr.cookie);
}

TEST_F(recv, message_longer_than_message_max_is_an_error)
{
	static const unsigned char stream[] = { 0, 0, 0, 2, 'h', 'i', 0, 0, 1, 0, 'x' };

	ASSERT_SYS(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH, 100, 0, 4));
	send_all(_metadata, self->cli, stream, sizeof(stream));
	ASSERT_EQ(2, collect(self, 2, 5000));
	ASSERT_EQ(RECORDS_MSG_REQUEST, self->got[0].hdr.type);
	ASSERT_EQ(6, self->got[0].hdr.len);
	ASSERT_EQ(RECORDS_MSG_ERROR, self->got[1].hdr.type);
	ASSERT_EQ(-EMSGSIZE, self->got[1].hdr.error);
}

TEST_F(recv, lines)
{
	ASSERT_SYS(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LINE, 0, 0, 0));
	send_all(_metadata, self->cli, "vote 1\nvote", 11);
	usleep(20000);
	send_all(_metadata, self->cli, " 2\n\n", 4);
	ASSERT_EQ(3, collect(self, 3, 5000));
	EXPECT_REQ(0, "vote 1\n");
	EXPECT_REQ(1, "vote 2\n");
	EXPECT_REQ(2, "\n");
}

TEST_F(recv, impossible_message_framings_are_refused)
{
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH, 0, 0, 3), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH, 10, 8, 4), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH | RECORDS_ATTACH_LINE,
				     0, 0, 4), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LINE | RECORDS_ATTACH_TEXT,
				     0, 0, 0), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LINE, 0, 0, 4), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, 0, 100, 0, 0), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LE, 0, 0, 0), EINVAL);
	ASSERT_ERRNO(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH, 1U << 30, 0, 4),
		     EINVAL);
	/* And the socket is still free to attach. */
	ASSERT_SYS(attach_messages(self->dev, self->srv, RECORDS_ATTACH_LENGTH, 0, 0, 8));
}

/* What one blocked reader's first read(2) returned: messages and whether an error ended it. */
struct first_read {
	int dev;
	int msgs;
	bool error;
	unsigned char buf[8192];
};

static void *read_once(void *arg)
{
	struct first_read *r = arg;
	struct rt_msg m[16];
	ssize_t n;
	int i, k;

	if (!rt_readable(r->dev, 5000))
		return NULL;
	n = read(r->dev, r->buf, sizeof(r->buf));
	k = n > 0 ? rt_split(r->buf, n, m, 16) : 0;
	for (i = 0; i < k; i++) {
		if (m[i].hdr.type == RECORDS_MSG_REQUEST)
			r->msgs++;
		else
			r->error = true;
	}
	return NULL;
}

/*
 * Requests that arrive in one segment become readable together, with the framing error
 * that ends them: a reader already waiting wakes to all of them, never to the first alone
 * (memcached answers what one read(2) brought, so a part would change its replies).
 */
TEST_F(recv, one_segment_is_read_whole)
{
	char seg[16 + 3000];
	int i, srv, cli;

	memcpy(seg, "version\r\nmn\r\n", 13);
	memset(seg + 13, 'x', sizeof(seg) - 13);
	for (i = 0; i < 200; i++) {
		struct first_read r = { .dev = self->dev };
		pthread_t th;

		ASSERT_SYS(rt_pair(self->lfd, &srv, &cli));
		ASSERT_SYS(attach_rx(self->dev, srv, 0, i, 0, 0));
		ASSERT_EQ(0, pthread_create(&th, NULL, read_once, &r));
		usleep(500);
		send_all(_metadata, cli, seg, sizeof(seg));
		pthread_join(th, NULL);
		if (r.msgs != 2 || !r.error)
			TH_LOG("round %d: the first read had %d requests%s", i, r.msgs,
			       r.error ? " and the error" : ", no error");
		ASSERT_EQ(2, r.msgs);
		ASSERT_TRUE(r.error);
		close(cli);
		close(srv);
	}
}

TEST_F(recv, long_get_line)
{
	char *line = malloc(20000);
	size_t len = 0, i;

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	len += sprintf(line, "get");
	for (i = 0; len < 19000; i++)
		len += sprintf(line + len, " key%zu", i);
	len += sprintf(line + len, "\r\n");
	/* In pieces, so the kernel sees more than 2048 bytes without a newline. */
	for (i = 0; i < len; i += 1000) {
		send_all(_metadata, self->cli, line + i, len - i < 1000 ? len - i : 1000);
		usleep(1000);
	}
	ASSERT_EQ(1, collect(self, 1, 5000));
	EXPECT_REQ(0, line);
	free(line);
}

TEST_F(recv, eof_after_the_requests)
{
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 5, 0, 0));
	send_all(_metadata, self->cli, "get a\r\nget b\r\nset c 0 0 1\r\n", 27);
	/* The last request is cut short by the end of the stream. */
	ASSERT_SYS(shutdown(self->cli, SHUT_WR));
	ASSERT_EQ(3, collect(self, 3, 5000));
	EXPECT_REQ(0, "get a\r\n");
	EXPECT_REQ(1, "get b\r\n");
	ASSERT_EQ(RECORDS_MSG_EOF, self->got[2].hdr.type);
	ASSERT_EQ(0, self->got[2].hdr.error);
	ASSERT_EQ(5, self->got[2].hdr.cookie);
	/* Reported once. */
	ASSERT_EQ(3, collect(self, 4, 300));
}

TEST_F(recv, reset_is_an_eof)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 5, 0, 0));
	send_all(_metadata, self->cli, "get a\r\n", 7);
	ASSERT_EQ(1, collect(self, 1, 5000));
	ASSERT_SYS(setsockopt(self->cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(self->cli);
	self->cli = -1;
	ASSERT_EQ(2, collect(self, 2, 5000));
	ASSERT_EQ(RECORDS_MSG_EOF, self->got[1].hdr.type);
	ASSERT_EQ(-ECONNRESET, self->got[1].hdr.error);
}

TEST_F(recv, requests_sent_before_attach)
{
	send_all(_metadata, self->cli, "get early\r\n", 11);
	usleep(50000);
	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	ASSERT_EQ(1, collect(self, 1, 5000));
	EXPECT_REQ(0, "get early\r\n");
}

TEST_F(recv, many_sockets_one_read)
{
	int srv[50], cli[50], i, seen[50] = { 0 };
	char req[32];

	for (i = 0; i < 50; i++) {
		ASSERT_SYS(rt_pair(self->lfd, &srv[i], &cli[i]));
		ASSERT_SYS(attach_rx(self->dev, srv[i], 0, 1000 + i, 0, 0));
	}
	for (i = 0; i < 50; i++) {
		int n = snprintf(req, sizeof(req), "get key%d\r\n", i);

		send_all(_metadata, cli[i], req, n);
	}
	usleep(200000);
	/* One read returns requests of many sockets. */
	ASSERT_EQ(50, collect(self, 50, 5000));
	for (i = 0; i < 50; i++) {
		int k = (int)self->got[i].hdr.cookie - 1000;

		ASSERT_TRUE(k >= 0 && k < 50);
		snprintf(req, sizeof(req), "get key%d\r\n", k);
		ASSERT_EQ(0, strcmp((char *)self->got[i].data, req));
		seen[k]++;
	}
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(1, seen[i]);
		close(srv[i]);
		close(cli[i]);
	}
}

TEST_F(recv, backpressure_pauses_and_resumes)
{
	struct records_sock_info info;
	bool paused = false;
	char *all = malloc(2000 * 32);
	size_t off = 0;
	int i;

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 2048));
	for (i = 0; i < 2000; i++)
		off += sprintf(all + off, "get key%06d\r\n", i);
	send_all(_metadata, self->cli, all, off);
	usleep(200000);
	ASSERT_SYS(rt_sock_info(self->dev, self->srv, &info));
	paused = info.rx_paused;
	ASSERT_TRUE(paused);
	ASSERT_LE(info.rx_bytes, 2048 + 16);
	/* Reading resumes the socket until every request has come, in order. */
	ASSERT_EQ(2000, collect(self, 2000, 20000));
	for (i = 0; i < 2000; i++) {
		char want[32];

		snprintf(want, sizeof(want), "get key%06d\r\n", i);
		EXPECT_REQ(i, want);
	}
	free(all);
}

TEST_F(recv, small_buffers)
{
	char small[100];

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	send_all(_metadata, self->cli, "get aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 120);
	ASSERT_TRUE(rt_readable(self->dev, 5000));
	ASSERT_ERRNO(read(self->dev, small, 16), EINVAL);
	ASSERT_ERRNO(read(self->dev, small, sizeof(small)), EMSGSIZE);
	ASSERT_EQ(1, collect(self, 1, 5000));
	/* Non-blocking when empty. */
	ASSERT_SYS(fcntl(self->dev, F_SETFL, O_NONBLOCK));
	ASSERT_ERRNO(read(self->dev, self->buf, BUFSZ), EAGAIN);
}

TEST_F(recv, detach_returns_the_socket)
{
	char got[16];

	ASSERT_SYS(attach_rx(self->dev, self->srv, 0, 1, 0, 0));
	send_all(_metadata, self->cli, "get a\r\n", 7);
	ASSERT_EQ(1, collect(self, 1, 5000));
	ASSERT_SYS(rt_detach(self->dev, self->srv));
	ASSERT_ERRNO(rt_detach(self->dev, self->srv), ENOTCONN);
	/* Plain TCP again. */
	send_all(_metadata, self->cli, "get b\r\n", 7);
	ASSERT_EQ(7, rt_read_exact(self->srv, got, 7, 5000));
	ASSERT_EQ(0, memcmp(got, "get b\r\n", 7));
	ASSERT_FALSE(rt_readable(self->dev, 100));
}

TEST_HARNESS_MAIN
