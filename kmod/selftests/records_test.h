/* SPDX-License-Identifier: GPL-2.0 */
/*
 * records_test.h - helpers shared by the records selftests: loopback TCP pairs, thin
 * wrappers of the /dev/records ioctls, exact reads, counters.
 */
#ifndef _RECORDS_TEST_H
#define _RECORDS_TEST_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "harness.h"
#include "../include/uapi/records.h"

static inline int rt_open(void)
{
	return open(RECORDS_DEVICE, O_RDWR | O_CLOEXEC);
}

static inline void rt_nofile(unsigned long n)
{
	struct rlimit rl = { n, n };

	setrlimit(RLIMIT_NOFILE, &rl);
}

/* A listening socket on 127.0.0.1, any port. */
static inline int rt_listen(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A connected pair through @lfd: *srv (accepted, the side the module sends on) and
 * *cli (the reader).  @cli_rcvbuf/@srv_sndbuf, when nonzero, are set before connecting.
 */
static inline int rt_pair_bufs(int lfd, int *srv, int *cli, int cli_rcvbuf, int srv_sndbuf)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int c;

	if (getsockname(lfd, (struct sockaddr *)&a, &alen))
		return -1;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	if (cli_rcvbuf)
		setsockopt(c, SOL_SOCKET, SO_RCVBUF, &cli_rcvbuf, sizeof(cli_rcvbuf));
	if (connect(c, (struct sockaddr *)&a, sizeof(a))) {
		close(c);
		return -1;
	}
	*srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*srv < 0) {
		close(c);
		return -1;
	}
	if (srv_sndbuf)
		setsockopt(*srv, SOL_SOCKET, SO_SNDBUF, &srv_sndbuf, sizeof(srv_sndbuf));
	*cli = c;
	return 0;
}

static inline int rt_pair(int lfd, int *srv, int *cli)
{
	return rt_pair_bufs(lfd, srv, cli, 0, 0);
}

static inline int rt_attach(int dev, int sock, __u32 flags, __u64 cookie)
{
	struct records_attach a = { .sock_fd = sock, .flags = flags, .cookie = cookie };

	return ioctl(dev, RECORDS_IOC_ATTACH, &a);
}

static inline int rt_detach(int dev, int sock)
{
	__s32 fd = sock;

	return ioctl(dev, RECORDS_IOC_DETACH, &fd);
}

static inline int rt_init(int dev, const void *buf, size_t len)
{
	struct records_init in = { .data = (uintptr_t)buf, .len = len };

	return ioctl(dev, RECORDS_IOC_INIT, &in);
}

/* sendRecord of a whole record (or -1: bytes only) to @n sockets, no prefix/suffix. */
static inline long rt_send_n(int dev, int rec, int prio, const int *socks, int n)
{
	struct records_dest d[n];
	struct records_send s = {
		.record_fd = rec, .priority = prio, .length = RECORDS_WHOLE,
		.ndests = n, .dests = (uintptr_t)d,
	};
	int i;

	long ret;

	memset(d, 0, sizeof(d));
	for (i = 0; i < n; i++)
		d[i].sock_fd = socks[i];
	ret = ioctl(dev, RECORDS_IOC_SEND, &s);
	/* One destination: its failure is the call's. */
	if (n == 1 && ret == 0 && d[0].result) {
		errno = -d[0].result;
		return -1;
	}
	return ret;
}

static inline long rt_send(int dev, int rec, int prio, int sock)
{
	return rt_send_n(dev, rec, prio, &sock, 1);
}

/* Bytes only, through the queue: keeps their order with the records around them. */
static inline long rt_send_bytes(int dev, int prio, int sock, const void *buf, size_t len)
{
	struct records_dest d = {
		.sock_fd = sock, .prefix_len = len, .prefix = (uintptr_t)buf,
	};
	struct records_send s = {
		.record_fd = -1, .priority = prio, .ndests = 1, .dests = (uintptr_t)&d,
	};
	long ret = ioctl(dev, RECORDS_IOC_SEND, &s);

	if (ret == 0 && d.result) {
		errno = -d.result;
		return -1;
	}
	return ret;
}

static inline long rt_unsend(int dev, int rec, const int *socks, int n)
{
	struct records_unsend u = { .record_fd = rec, .nsocks = n, .socks = (uintptr_t)socks };

	return ioctl(dev, RECORDS_IOC_UNSEND, &u);
}

static inline int rt_stats(int dev, struct records_stats *st)
{
	return ioctl(dev, RECORDS_IOC_STATS, st);
}

static inline int rt_sock_info(int dev, int sock, struct records_sock_info *info)
{
	memset(info, 0, sizeof(*info));
	info->sock_fd = sock;
	return ioctl(dev, RECORDS_IOC_SOCK_INFO, info);
}

static inline int rt_record_info(int rec, struct records_record_info *info)
{
	return ioctl(rec, RECORDS_IOC_RECORD_INFO, info);
}

/* Prints every counter, for the log. */
static inline void rt_dump_stats(int dev)
{
	struct records_stats st;

	if (rt_stats(dev, &st))
		return;
#define RT_PRINT(name) fprintf(stderr, "#   %-20s %llu\n", #name, (unsigned long long)st.name);
	RECORDS_STATS(RT_PRINT)
#undef RT_PRINT
}

/* Reads exactly @len bytes, waiting at most @ms in total; returns bytes read. */
static inline size_t rt_read_exact(int fd, void *buf, size_t len, int ms)
{
	double end = __now() + ms / 1000.0;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((end - __now()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		got += n;
	}
	return got;
}

/* Is there anything (or EOF) to read on @fd within @ms? */
static inline bool rt_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Bytes that depend on their offset and @seed, so misplaced bytes show. */
static inline void rt_fill(void *buf, size_t len, unsigned int seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + (i >> 12) * 7 + seed * 17) % 251);
}

static inline long rt_meminfo(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(field);

		if (!strncmp(line, field, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Polls @cond every 5 ms for @ms; true once it holds. */
#define RT_WAIT(cond, ms) ({						\
	double __end = __now() + (ms) / 1000.0;				\
	bool __ok;							\
	while (!(__ok = (cond)) && __now() < __end)			\
		usleep(5000);						\
	__ok;								\
})

/* Messages of one read(2) of a session. */
struct rt_msg {
	struct records_msg hdr;
	const unsigned char *data;
};

/* Splits @n bytes of a session read into @out (at most @max); returns how many. */
static inline int rt_split(const void *buf, size_t n, struct rt_msg *out, int max)
{
	const unsigned char *p = buf;
	size_t off = 0;
	int i = 0;

	while (off + sizeof(struct records_msg) <= n && i < max) {
		memcpy(&out[i].hdr, p + off, sizeof(struct records_msg));
		out[i].data = p + off + sizeof(struct records_msg);
		off += RECORDS_MSG_SIZE(out[i].hdr.len);
		i++;
	}
	/* More messages than @out holds: a test bug, not a kernel one. */
	if (off + sizeof(struct records_msg) <= n) {
		fprintf(stderr, "# rt_split: more than %d messages\n", max);
		return -1;
	}
	return i;
}

#endif /* _RECORDS_TEST_H */
