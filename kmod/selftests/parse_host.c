// SPDX-License-Identifier: GPL-2.0
/*
 * parse_host - unit test of the module's memcached framing (records_parse.c), built
 * for the host with ASan/UBSan and run by test.sh before any guest boots.
 *
 * Each case is a byte stream and the requests it must frame into.  Every case is run
 * as the strparser would see it with the stream arriving whole, byte by byte, and
 * split at every offset, and must frame the same way each time.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../records_parse.h"

#define MAXMSG	16

struct result {
	int n;			/* requests framed */
	long len[MAXMSG];
	unsigned long discard[MAXMSG];
	long dropped;		/* bytes dropped */
	long error;		/* the error that ended framing, or 0 */
};

struct src {
	const unsigned char *buf;
};

static void copy(const struct rp_input *in, u32 off, void *to, u32 len)
{
	const struct src *s = in->priv;

	if (off + len > in->avail) {
		fprintf(stderr, "copy past the available bytes: %u + %u > %u\n", off, len, in->avail);
		abort();
	}
	memcpy(to, s->buf + in->base + off, len);
}

/* Frames @len bytes arriving in pieces that end at the offsets in @cuts. */
static void frame(const unsigned char *buf, size_t len, const size_t *cuts, int ncuts,
		  u8 proto, u32 item_size_max, struct result *r)
{
	struct src s = { .buf = buf };
	struct rp_state st;
	size_t start = 0, have = 0;
	int c = 0;

	struct rp_limits lim = { .item_size_max = item_size_max, .slab_chunk_max = item_size_max,
				 .max_line = 16384 };

	memset(r, 0, sizeof(*r));
	rp_init(&st, proto, &lim);
	for (;;) {
		struct rp_input in = { .copy = copy, .priv = &s, .base = start,
				       .avail = have - start };
		struct rp_msg msg;
		long n = rp_frame(&st, &in, &msg);

		if (n < 0) {
			r->error = n;
			return;
		}
		if (n > 0) {
			if ((size_t)n > have - start) {
				fprintf(stderr, "framed %ld bytes, only %zu there\n", n, have - start);
				abort();
			}
			if (msg.kind == RP_DROP) {
				r->dropped += n;
			} else if (r->n < MAXMSG) {
				r->len[r->n] = n;
				r->discard[r->n] = msg.discard;
				r->n++;
			}
			start += n;
			continue;
		}
		if (have == len)
			return;
		have = c < ncuts ? cuts[c++] : len;
	}
}

static int failures, cases;

static int same(const struct result *a, const struct result *b)
{
	int i;

	if (a->n != b->n || a->dropped != b->dropped || a->error != b->error)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || a->discard[i] != b->discard[i])
			return 0;
	return 1;
}

static void show(const char *what, const struct result *r)
{
	int i;

	fprintf(stderr, "  %s: %d requests [", what, r->n);
	for (i = 0; i < r->n; i++)
		fprintf(stderr, " %ld%s", r->len[i], r->discard[i] ? "+discard" : "");
	fprintf(stderr, " ] dropped %ld error %ld\n", r->dropped, r->error);
}

/*
 * @want: request lengths, 0-terminated; a negative entry -D means "the previous
 * request's data block of D bytes was dropped".  @error: the error after them.
 */
static void check(const char *name, const void *data, size_t len, u8 proto, u32 item_max,
		  const long *want, long error)
{
	const unsigned char *buf = data;
	struct result whole, r, expect = { .error = error };
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	size_t i;
	int k;

	cases++;
	for (k = 0; want[k]; k++) {
		if (want[k] < 0) {
			expect.discard[expect.n - 1] = -want[k];
			expect.dropped += -want[k];
		} else {
			expect.len[expect.n++] = want[k];
		}
	}

	frame(buf, len, NULL, 0, proto, item_max, &whole);
	if (!same(&whole, &expect)) {
		fprintf(stderr, "FAIL %s (whole)\n", name);
		show("want", &expect);
		show("got ", &whole);
		failures++;
		free(cuts);
		return;
	}
	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	frame(buf, len, cuts, (int)len, proto, item_max, &r);
	if (!same(&r, &expect)) {
		fprintf(stderr, "FAIL %s (byte by byte)\n", name);
		show("want", &expect);
		show("got ", &r);
		failures++;
	}
	for (i = 1; i < len; i++) {
		frame(buf, len, &i, 1, proto, item_max, &r);
		if (!same(&r, &expect)) {
			fprintf(stderr, "FAIL %s (split at %zu)\n", name, i);
			show("want", &expect);
			show("got ", &r);
			failures++;
			break;
		}
	}
	free(cuts);
}

#define TEXT(name, s, ...) do {						\
	static const long w[] = { __VA_ARGS__, 0 };			\
	check(name, s, sizeof(s) - 1, RP_PROTO_AUTO, 1 << 20, w, 0);	\
} while (0)

int main(void)
{
	static unsigned char big[20000];
	static unsigned char bin[256];
	size_t n;

	TEXT("get", "get a\r\n", 7);
	TEXT("bare newline", "get a\nget b\n", 6, 6);
	TEXT("set", "set k 0 0 5\r\nhello\r\n", 20);
	TEXT("set noreply", "set k 0 0 5 noreply\r\nhello\r\nget k\r\n", 28, 7);
	TEXT("cas", "cas k 0 0 2 99\r\nhi\r\n", 20);
	TEXT("cas bad unique", "cas k 0 0 2 x9\r\nhi\r\n", 16, 4);
	TEXT("cas missing unique", "cas k 0 0 2\r\nhi\r\n", 13, 4);
	TEXT("append/prepend/replace/add",
	     "append k 0 0 1\r\na\r\nprepend k 0 0 1\r\nb\r\nreplace k 0 0 1\r\nc\r\nadd k 0 0 1\r\nd\r\n",
	     19, 20, 20, 16);
	TEXT("bad length", "set k 0 0 abc\r\nhello\r\n", 15, 7);
	TEXT("negative length", "set k 0 0 -1\r\n", 14);
	TEXT("length trailing garbage", "set k 0 0 5x\r\n", 14);
	TEXT("length with sign", "set k 0 0 +5\r\nhello\r\n", 21);
	TEXT("length leading zeros", "set k 0 0 0005\r\nhello\r\n", 23);
	TEXT("length wraps to 32 bits", "set k 0 0 4294967298\r\nab\r\n", 26);
	TEXT("length out of range", "set k 0 0 99999999999999999999\r\n", 32);
	TEXT("flags wrap", "set k 4294967296 0 1\r\nx\r\n", 25);
	TEXT("negative flags", "set k -1 0 1\r\nx\r\n", 14, 3);
	TEXT("negative exptime", "set k 0 -1 1\r\nx\r\n", 17);
	TEXT("too few tokens", "set k 0 0\r\n", 11);
	TEXT("too many tokens", "set k 0 0 1 noreply x\r\nx\r\n", 23, 3);
	TEXT("runs of spaces", "  set  k  0  0  1  \r\nx\r\n", 24);
	TEXT("tab inside a token", "set k\t0 0 1\r\nx\r\n", 13, 3);
	TEXT("NUL ends the command", "set k 0 0 1\0zzz\r\nx\r\n", 20);
	TEXT("lone CR LF", "\r\n", 2);
	TEXT("lone CR", "\r\r\n", 3);
	TEXT("CR inside", "set k 0 0 1\r \r\nx\r\n", 18);
	TEXT("garbage", "\x01\x02\xff\n", 4);
	TEXT("unknown command", "foo bar baz\r\n", 13);
	TEXT("meta set", "ms k 2 T0 F5\r\nhi\r\nmg k v\r\n", 18, 8);
	TEXT("meta set bad length", "ms k xx\r\nhi\r\n", 9, 4);
	TEXT("meta set missing length", "ms k\r\n", 6);
	TEXT("meta set too many tokens",
	     "ms k 1 a b c d e f g h i j k l m n o p q r\r\nx\r\n", 44, 3);
	{
		/* a 251-byte key: no data block, as memcached */
		static const long w[] = { 263, 3, 0 };
		char line[300];

		memset(line, 'k', sizeof(line));
		memcpy(line, "set ", 4);
		memcpy(line + 4 + 251, " 0 0 1\r\nx\r\n", 11);
		check("key too long for set", line, 266, RP_PROTO_AUTO, 1 << 20, w, 0);
	}

	/* Items too large for -I: the line alone, the data dropped. */
	{
		static const long w[] = { 15, -202, 7, 0 };
		unsigned char st[15 + 202 + 7];

		memcpy(st, "set k 0 0 200\r\n", 15);
		memset(st + 15, 'v', 200);
		memcpy(st + 215, "\r\n", 2);
		memcpy(st + 217, "get k\r\n", 7);
		check("too large (item size)", st, sizeof(st), RP_PROTO_AUTO, 200, w, 0);
	}
	{
		static const long w[] = { 14, -102, 7, 0 };
		unsigned char s[14 + 102 + 7];

		memcpy(s, "ms k 100 T0 \r\n", 14);
		memset(s + 14, 'v', 100);
		memcpy(s + 114, "\r\n", 2);
		memcpy(s + 116, "get k\r\n", 7);
		check("too large (ms)", s, sizeof(s), RP_PROTO_AUTO, 100, w, 0);
	}

	/* Long lines (max_line is 16384 here). */
	memset(big, 'x', sizeof(big));
	{
		static const long w[] = { 0 };

		check("no newline in 2048 bytes", big, 3000, RP_PROTO_AUTO, 1 << 20, w, -EMSGSIZE);
	}
	memcpy(big, "get ", 4);
	big[5999] = '\n';
	{
		static const long w[] = { 6000, 0 };

		check("long get line", big, 6000, RP_PROTO_AUTO, 1 << 20, w, 0);
	}
	big[5999] = 'x';
	{
		static const long w[] = { 0 };

		check("get line longer than max_line", big, sizeof(big), RP_PROTO_AUTO, 1 << 20, w,
		      -EMSGSIZE);
	}
	memset(big, ' ', 200);
	memcpy(big + 200, "get ", 4);
	{
		static const long w[] = { 0 };

		check("get after 200 spaces is not a get", big, 3000, RP_PROTO_AUTO, 1 << 20, w,
		      -EMSGSIZE);
	}

	/* Binary. */
	memset(bin, 0, sizeof(bin));
	bin[0] = 0x80;			/* GET "abc" */
	bin[3] = 3;
	bin[11] = 3;
	memcpy(bin + 24, "abc", 3);
	bin[27] = 0x80;			/* SET, extras 8, key "k", value "value" */
	bin[28] = 0x01;
	bin[30] = 1;
	bin[31] = 8;
	bin[38] = 14;
	memcpy(bin + 27 + 32, "k", 1);
	memcpy(bin + 27 + 33, "value", 5);
	n = 27 + 38;
	bin[n] = 0x80;			/* NOOP */
	bin[n + 1] = 0x0a;
	n += 24;
	{
		static const long w[] = { 27, 38, 24, 0 };

		check("binary pipelined", bin, n, RP_PROTO_AUTO, 1 << 20, w, 0);
	}
	bin[n] = 0x81;			/* a response magic: not a request */
	{
		static const long w[] = { 27, 38, 24, 0 };

		check("binary bad magic", bin, n + 24, RP_PROTO_AUTO, 1 << 20, w, -EPROTO);
	}
	{
		/*
		 * body of 5000 > item_size_max 100 + RP_BIN_SLACK: header, extras (8) and
		 * key (3) kept, the value dropped
		 */
		unsigned char *s = calloc(1, 24 + 5000 + 24);
		static const long w[] = { 24 + 8 + 3, -(5000 - 8 - 3), 24, 0 };

		s[0] = 0x80;
		s[1] = 0x01;
		s[3] = 3;
		s[4] = 8;
		s[10] = 5000 >> 8;
		s[11] = 5000 & 0xff;
		s[24 + 5000] = 0x80;
		s[24 + 5000 + 1] = 0x0a;
		check("binary too large", s, 24 + 5000 + 24, RP_PROTO_AUTO, 100, w, 0);
		free(s);
	}
	{
		/*
		 * a key of 20000 bytes: memcached's 16 KiB read buffer fills before the key
		 * is in, and the connection closes then, however the bytes arrive
		 */
		unsigned char *s = calloc(1, 24 + 16500);
		static const long w[] = { 0 };

		s[0] = 0x80;
		s[2] = 20000 >> 8;
		s[3] = 20000 & 0xff;
		s[10] = 20000 >> 8;
		s[11] = 20000 & 0xff;
		check("binary key past the read buffer", s, 24 + 16500, RP_PROTO_AUTO, 1 << 20, w,
		      -EMSGSIZE);
		free(s);
	}
	{
		/* text forced: a 0x80 byte is just a byte of a line */
		static const long w[] = { 5, 0 };

		check("text forced", "\x80" "abc\n", 5, RP_PROTO_TEXT, 1 << 20, w, 0);
	}

	printf("%d cases, %d failures\n", cases, failures);
	return failures ? 1 : 0;
}
