// SPDX-License-Identifier: GPL-2.0
/*
 * records_fanout - one record sent to 500 loopback sockets.
 *
 * Every reader gets the exact bytes (its own prefix, the record, its own suffix); the
 * record's pages are shared by every socket (their reference counts grow by one per
 * socket and the guest's free memory barely moves), and are released after the
 * readers have read and the record fd is closed.
 */

#include "records_test.h"

#define NSOCK		500
#define REC_LEN		(64 * 1024 + 123)

FIXTURE(fanout) {
	int dev;
	int lfd;
	int srv[NSOCK];
	int cli[NSOCK];
};

FIXTURE_SETUP(fanout)
{
	int i;

	rt_nofile(8192);
	ASSERT_SYS(self->dev = rt_open());
	ASSERT_SYS(self->lfd = rt_listen());
	for (i = 0; i < NSOCK; i++) {
		/* Room for the whole reply in each reader, so all of it gets sent. */
		ASSERT_SYS(rt_pair_bufs(self->lfd, &self->srv[i], &self->cli[i], 256 * 1024, 0));
		ASSERT_SYS(rt_attach(self->dev, self->srv[i], 0, i));
	}
}

FIXTURE_TEARDOWN(fanout)
{
	int i;

	for (i = 0; i < NSOCK; i++) {
		close(self->srv[i]);
		close(self->cli[i]);
	}
	close(self->lfd);
	close(self->dev);
}

/* Has every socket written everything queued on it? */
static bool all_sent(int dev, const int *srv, int n)
{
	struct records_sock_info info;
	int i;

	for (i = 0; i < n; i++) {
		if (rt_sock_info(dev, srv[i], &info) || info.tx_queued || info.tx_started)
			return false;
	}
	return true;
}

TEST_F(fanout, one_record_500_sockets)
{
	static char prefix[NSOCK][64], suffix[] = "\r\nEND\r\n";
	static struct records_dest d[NSOCK];
	struct records_stats before, st;
	struct records_record_info info;
	long avail_before, avail_sent, avail_after;
	unsigned char *value, *got;
	struct records_send s;
	int rec, i;

	value = malloc(REC_LEN);
	got = malloc(REC_LEN + 128);
	ASSERT_TRUE(value && got);
	rt_fill(value, REC_LEN, 1);
	ASSERT_SYS(rt_stats(self->dev, &before));

	avail_before = rt_meminfo("MemAvailable");
	ASSERT_SYS(rec = rt_init(self->dev, value, REC_LEN));
	ASSERT_SYS(rt_record_info(rec, &info));
	ASSERT_EQ(REC_LEN, info.len);
	ASSERT_EQ((REC_LEN + 4095) / 4096, info.nr_pages);
	ASSERT_EQ(info.nr_pages, info.page_refs);

	for (i = 0; i < NSOCK; i++) {
		snprintf(prefix[i], sizeof(prefix[i]), "VALUE key%d 0 %d\r\n", i, REC_LEN);
		d[i].sock_fd = self->srv[i];
		d[i].prefix = (uintptr_t)prefix[i];
		d[i].prefix_len = strlen(prefix[i]);
		d[i].suffix = (uintptr_t)suffix;
		d[i].suffix_len = strlen(suffix);
		d[i].result = 1;
	}
	s = (struct records_send){
		.record_fd = rec, .length = RECORDS_WHOLE, .ndests = NSOCK, .dests = (uintptr_t)d,
	};
	/* sendRecord: one call for the whole group. */
	ASSERT_EQ(NSOCK, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	for (i = 0; i < NSOCK; i++)
		ASSERT_EQ(0, d[i].result);

	ASSERT_TRUE(RT_WAIT(all_sent(self->dev, self->srv, NSOCK), 30000));
	avail_sent = rt_meminfo("MemAvailable");

	/* Each socket's skbs hold references to the record's own pages: not copies. */
	ASSERT_SYS(rt_record_info(rec, &info));
	TH_LOG("record %u pages, page references %llu with %d readers not reading",
	       info.nr_pages, (unsigned long long)info.page_refs, NSOCK);
	ASSERT_GE(info.page_refs, (__u64)info.nr_pages * (NSOCK + 1));
	TH_LOG("MemAvailable %ld kB before, %ld kB with %d x %d bytes in flight (a copy each would be %d kB)",
	       avail_before, avail_sent, NSOCK, REC_LEN, NSOCK * (REC_LEN / 1024));
	/* Copies would take over 32 MB; references take skb headers only. */
	ASSERT_LT(avail_before - avail_sent, 16 * 1024);

	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ((__u64)NSOCK * REC_LEN, st.tx_bytes_zerocopy - before.tx_bytes_zerocopy);
	ASSERT_EQ(NSOCK, st.entries_done - before.entries_done);

	/* Every reader gets exactly its prefix, the record and the suffix. */
	for (i = 0; i < NSOCK; i++) {
		size_t plen = strlen(prefix[i]);
		size_t total = plen + REC_LEN + strlen(suffix);

		ASSERT_EQ(total, rt_read_exact(self->cli[i], got, total, 10000));
		ASSERT_EQ(0, memcmp(got, prefix[i], plen));
		ASSERT_EQ(0, memcmp(got + plen, value, REC_LEN));
		ASSERT_EQ(0, memcmp(got + plen + REC_LEN, suffix, strlen(suffix)));
		ASSERT_FALSE(rt_readable(self->cli[i], 0));
	}

	/* Read: the sockets let go of the pages; the record still holds them. */
	ASSERT_TRUE(RT_WAIT(rt_record_info(rec, &info) == 0 && info.page_refs == info.nr_pages,
			    30000));
	ASSERT_EQ(0, info.queued);

	/* delRecord: the pages are freed. */
	close(rec);
	ASSERT_SYS(rt_stats(self->dev, &st));
	ASSERT_EQ(before.records_live, st.records_live);
	ASSERT_EQ(before.record_pages_live, st.record_pages_live);
	ASSERT_EQ(before.entries_live, st.entries_live);
	avail_after = rt_meminfo("MemAvailable");
	TH_LOG("MemAvailable %ld kB after the readers read and the record was closed", avail_after);
	free(value);
	free(got);
}

TEST_F(fanout, slices_and_bytes)
{
	unsigned char *value, got[20000];
	struct records_dest d[NSOCK];
	struct records_send s;
	int rec, i;

	value = malloc(REC_LEN);
	ASSERT_TRUE(value != NULL);
	rt_fill(value, REC_LEN, 2);
	ASSERT_SYS(rec = rt_init(self->dev, value, REC_LEN));

	/* A slice crossing page boundaries, to the first 100 sockets. */
	memset(d, 0, sizeof(d));
	for (i = 0; i < 100; i++)
		d[i].sock_fd = self->srv[i];
	s = (struct records_send){
		.record_fd = rec, .offset = 4000, .length = 9000, .ndests = 100,
		.dests = (uintptr_t)d,
	};
	ASSERT_EQ(100, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	/* Then bytes only, through the same queues. */
	for (i = 0; i < 100; i++) {
		d[i].prefix = (uintptr_t)"tail";
		d[i].prefix_len = 4;
	}
	s = (struct records_send){ .record_fd = -1, .ndests = 100, .dests = (uintptr_t)d };
	ASSERT_EQ(100, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	close(rec);

	for (i = 0; i < 100; i++) {
		ASSERT_EQ(9004, rt_read_exact(self->cli[i], got, 9004, 10000));
		ASSERT_EQ(0, memcmp(got, value + 4000, 9000));
		ASSERT_EQ(0, memcmp(got + 9000, "tail", 4));
	}

	/* Out of range slices. */
	d[0].prefix_len = 0;
	ASSERT_SYS(rec = rt_init(self->dev, value, 100));
	s = (struct records_send){ .record_fd = rec, .offset = 101, .length = 0, .ndests = 1,
				   .dests = (uintptr_t)d };
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, &s), EINVAL);
	s.offset = 50;
	s.length = 51;
	ASSERT_ERRNO(ioctl(self->dev, RECORDS_IOC_SEND, &s), EINVAL);
	s.length = 50;
	ASSERT_EQ(1, ioctl(self->dev, RECORDS_IOC_SEND, &s));
	ASSERT_EQ(50, rt_read_exact(self->cli[0], got, 50, 5000));
	ASSERT_EQ(0, memcmp(got, value + 50, 50));
	close(rec);
	free(value);
}

TEST_HARNESS_MAIN
