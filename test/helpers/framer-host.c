// SPDX-License-Identifier: GPL-2.0
/*
 * framer-host - the records module's framer as its strparser drives it (rp_frame()
 * over a copy callback, kmod/records_parse.c), on the host, for test/framers.test.ts.
 *
 * stdin holds cases, each:
 *	u8 choice (0 auto, 1 text, 2 binary), u8 auth, u8 cas, u8 sasl,
 *	u32 item_size_max, u32 slab_chunk_max, u32 length, length bytes,
 *	u32 nsplits, nsplits x u32 split
 * (little endian).  A split of 0 delivers the stream whole, ~0 byte by byte, any
 * other value in two pieces cut there.  For each case and split, stdout has one line:
 * what was framed after each piece arrived (see transcript() in the test).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records_parse.h"

struct src {
	const u8 *buf;
};

static void copy(const struct rp_input *in, u32 off, void *to, u32 len)
{
	const struct src *s = in->priv;

	if (off + len > in->avail) {
		fprintf(stderr, "copy past the available bytes: %u + %u > %u\n",
			off, len, in->avail);
		abort();
	}
	memcpy(to, s->buf + in->base + off, len);
}

static void get(void *to, size_t len)
{
	if (fread(to, 1, len, stdin) != len) {
		fprintf(stderr, "framer-host: short input\n");
		exit(2);
	}
}

static u32 get32(void)
{
	u8 b[4];

	get(b, 4);
	return (u32)b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24;
}

/* An authentication request that carried data authenticates (the test's rule). */
static bool carried_data(const u8 *req, long len)
{
	const u8 *nl = memchr(req, '\n', len);

	return nl && nl + 1 - req < len;
}

/* Frames the stream arriving up to each offset of @ends, as records_rx.c would. */
static void run(const struct rp_limits *lim, u8 choice, bool auth, const u8 *buf,
		const u32 *ends, u32 nends)
{
	struct src s = { .buf = buf };
	struct rp_state st;
	u32 start = 0, have, i;

	rp_init(&st, choice, lim);
	st.auth = auth;
	for (i = 0; i < nends; i++) {
		have = ends[i];
		for (;;) {
			struct rp_input in = { .copy = copy, .priv = &s, .base = start,
					       .avail = have - start };
			struct rp_msg msg;
			long n = rp_frame(&st, &in, &msg);

			if (n < 0) {
				printf("%s\n", n == -EPROTO ? "X" : "C");
				return;
			}
			if (n > (long)(have - start)) {
				fprintf(stderr, "framed %ld bytes, only %u there\n",
					n, have - start);
				abort();
			}
			if (n > 0 && msg.kind == RP_DROP) {
				start += n;
				continue;
			}
			if (n > 0) {
				printf("R%ld/%u%s ", n, msg.discard, msg.split ? "+" : "");
				if (st.auth && st.proto == RP_PROTO_TEXT &&
				    carried_data(buf + start, n))
					st.auth = false;
				start += n;
				continue;
			}
			if (start < have)
				printf("N%llu ", (unsigned long long)st.need);
			else if (st.swallow)
				printf("D%llu ", (unsigned long long)st.swallow);
			else
				printf("E ");
			break;
		}
	}
	printf("\n");
}

int main(void)
{
	int c;

	while ((c = getc(stdin)) != EOF) {
		struct rp_limits lim = { .max_line = RP_GET_LINE_MAX };
		u8 head[3], choice = (u8)c;
		u32 len, nsplits, i, *ends, split;
		u8 *buf;
		bool auth;

		get(head, 3);
		auth = head[0];
		lim.cas = head[1];
		lim.sasl = head[2];
		lim.item_size_max = get32();
		lim.slab_chunk_max = get32();
		len = get32();
		buf = malloc(len ? len : 1);
		ends = malloc((len + 1) * sizeof(*ends));
		if (!buf || !ends)
			abort();
		get(buf, len);
		nsplits = get32();
		while (nsplits--) {
			split = get32();
			if (split == 0) {
				ends[0] = len;
				run(&lim, choice, auth, buf, ends, 1);
			} else if (split == ~0U) {
				for (i = 0; i < len; i++)
					ends[i] = i + 1;
				run(&lim, choice, auth, buf, ends, len);
			} else {
				ends[0] = split;
				ends[1] = len;
				run(&lim, choice, auth, buf, ends, 2);
			}
		}
		free(buf);
		free(ends);
	}
	return 0;
}
