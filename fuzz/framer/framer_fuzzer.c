// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the memcached framer (kmod/records_parse.c), built with
 * AddressSanitizer and UndefinedBehaviorSanitizer by fuzz/framer/build.sh.
 *
 * The framer is included, not linked, so its static tokenizer and number reader are
 * checked too.  Every input is framed as text, binary and -Y authentication, under the
 * server's default limits and under small ones (so the swallow and SASL paths are
 * reached with short inputs), and these must hold:
 *
 *  - a whole request is never longer than the bytes given, and a needed length is
 *    always more than the bytes given;
 *  - measuring a prefix agrees with measuring the whole: a request decided whole stays
 *    the same with more bytes, is whole at exactly its length and not before, and
 *    nothing changes before a needed length has arrived;
 *  - contiguous input and input read through copy() in chunks frame the same;
 *  - rp_frame() frames a stream arriving whole, byte by byte, and in uneven pieces
 *    into the same requests, except that a stream arriving in pieces may be closed
 *    earlier (memcached decides on the bytes it has read);
 *  - the tokenizer splits a line as memcached's tokenize_command() does, and numbers
 *    read as memcached's safe_strtoull() (strtoull) reads them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kmod/records_parse.c"

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "framer_fuzzer: %s: ", #cond);	\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

/* Requests framed from one stream before it is given up on (the inputs are short). */
#define MAX_MSGS	4096

static const struct rp_limits default_limits = {
	.item_size_max = 1024 * 1024,
	.slab_chunk_max = 512 * 1024,
	.max_line = RP_GET_LINE_MAX,
	.cas = true,
	.sasl = false,
};

static const struct rp_limits small_limits = {
	.item_size_max = 160,
	.slab_chunk_max = 120,
	.max_line = 3000,
	.cas = false,
	.sasl = true,
};

static const u8 protos[] = { RP_PROTO_TEXT, RP_PROTO_BINARY, RP_PROTO_AUTH };

/* copy() reads the input from a buffer of exactly its length, so ASan sees any overread. */
static void copy_bytes(const struct rp_input *in, u32 off, void *to, u32 len)
{
	const u8 *bytes = in->priv;

	CHECK(off <= in->avail && len <= in->avail - off, "copy %u + %u of %u", off, len,
	      in->avail);
	memcpy(to, bytes + in->base + off, len);
}

static void measure(const struct rp_limits *lim, u8 proto, const u8 *data, u32 len,
		    bool contiguous, struct rp_extent *ex)
{
	struct rp_input in = { .copy = copy_bytes, .priv = data, .avail = len };

	if (contiguous)
		in.data = data;
	rp_measure(lim, proto, &in, ex);
}

static bool same_extent(const struct rp_extent *a, const struct rp_extent *b)
{
	return a->status == b->status && a->bad_magic == b->bad_magic &&
	       a->length == b->length && a->swallow == b->swallow && a->needed == b->needed;
}

static void check_bounds(const struct rp_extent *ex, u32 len)
{
	switch (ex->status) {
	case RP_WHOLE:
		CHECK(ex->length > 0 && ex->length <= len, "whole %u of %u", ex->length, len);
		break;
	case RP_NEED:
		CHECK(ex->needed == 0 || ex->needed > len, "needs %llu with %u in",
		      (unsigned long long)ex->needed, len);
		break;
	case RP_CLOSE:
		break;
	default:
		CHECK(0, "status %u", ex->status);
	}
}

/* The extent of @data[0, @len) against its prefix of @p bytes. */
static void check_prefix(const struct rp_limits *lim, u8 proto, const u8 *data, u32 len,
			 const struct rp_extent *full, u32 p)
{
	struct rp_extent ex;

	if (p == 0 || p > len)
		return;
	measure(lim, proto, data, p, true, &ex);
	check_bounds(&ex, p);
	if (ex.status == RP_WHOLE)
		CHECK(same_extent(&ex, full), "whole at %u of %u changed (proto %u)", p, len,
		      proto);
	if (ex.status == RP_NEED && ex.needed > len)
		CHECK(same_extent(&ex, full), "needs %llu at %u, not the same at %u",
		      (unsigned long long)ex.needed, p, len);
	/* memcached reads an authentication line only once two bytes are in */
	if (full->status == RP_WHOLE && (proto != RP_PROTO_AUTH || p >= 2)) {
		if (p < full->length)
			CHECK(ex.status != RP_WHOLE, "whole at %u before its length %u", p,
			      full->length);
		else
			CHECK(ex.status == RP_WHOLE, "not whole at %u, its length %u", p,
			      full->length);
	}
	if (ex.status == RP_NEED && ex.needed && p < len) {
		struct rp_extent later;
		u32 q = ex.needed - 1 < len ? (u32)ex.needed - 1 : len;

		/* Nothing changes before the needed bytes are in. */
		measure(lim, proto, data, q, true, &later);
		CHECK(same_extent(&ex, &later), "needs %llu at %u, changed at %u",
		      (unsigned long long)ex.needed, p, q);
	}
}

static void check_measure(const struct rp_limits *lim, u8 proto, const u8 *data, u32 len)
{
	struct rp_extent full, chunked;
	u32 p, stride;

	measure(lim, proto, data, len, true, &full);
	check_bounds(&full, len);
	measure(lim, proto, data, len, false, &chunked);
	CHECK(same_extent(&full, &chunked), "contiguous and copied input differ (proto %u)",
	      proto);

	/* Every short prefix, then a sample of the rest and the points that matter. */
	for (p = 1; p <= len && p <= 64; p++)
		check_prefix(lim, proto, data, len, &full, p);
	stride = len / 16 + 1;
	for (p = 64; p <= len; p += stride)
		check_prefix(lim, proto, data, len, &full, p);
	if (full.status == RP_WHOLE) {
		check_prefix(lim, proto, data, len, &full, full.length - 1);
		check_prefix(lim, proto, data, len, &full, full.length);
	}
	check_prefix(lim, proto, data, len, &full, len - 1);
}

/* What rp_frame() made of a stream: its requests, drops summed between them, its end. */
struct framed {
	u32 n;
	u32 length[MAX_MSGS];
	u32 discard[MAX_MSGS];
	u64 dropped[MAX_MSGS + 1];	/* bytes dropped before request i, and after the last */
	long error;			/* what ended it: 0 (waiting for bytes) or an error */
	u32 consumed;
};

/*
 * Frames @data[0, @len) arriving in pieces: each piece ends @step bytes after the last
 * (the step cycling through @steps), as the strparser sees a stream.
 */
static void frame_stream(const struct rp_limits *lim, u8 choice, bool auth, const u8 *data,
			 u32 len, const u8 *steps, u32 nsteps, struct framed *f)
{
	struct rp_state st;
	u32 start = 0, have = 0, s = 0;

	memset(f, 0, sizeof(*f));
	rp_init(&st, choice, lim);
	st.auth = auth;
	while (have < len) {
		u32 step = nsteps ? steps[s++ % nsteps] % 64 + 1 : len;

		have = step > len - have ? len : have + step;
		for (;;) {
			struct rp_input in = { .copy = copy_bytes, .priv = data, .base = start,
					       .avail = have - start };
			struct rp_msg msg;
			long n;

			/* Alternate between the two ways the module sees its input. */
			if ((start + have) & 1)
				in.data = data + start;
			n = rp_frame(&st, &in, &msg);
			if (n < 0) {
				f->error = n;
				f->consumed = start;
				return;
			}
			if (n == 0)
				break;
			CHECK((u64)n <= in.avail, "framed %ld of %u", n, in.avail);
			if (msg.kind == RP_DROP) {
				f->dropped[f->n] += n;
			} else {
				CHECK(msg.kind == RP_MSG, "kind %u", msg.kind);
				if (f->n == MAX_MSGS) {
					f->consumed = start;
					return;
				}
				f->length[f->n] = (u32)n;
				f->discard[f->n] = msg.discard;
				f->n++;
			}
			start += (u32)n;
		}
	}
	f->consumed = start;
}

static void check_streams(const struct rp_limits *lim, u8 choice, bool auth, const u8 *data,
			  u32 len)
{
	static struct framed whole, pieces;
	static const u8 one = 0;
	const struct framed *early;
	u32 i, n;

	frame_stream(lim, choice, auth, data, len, NULL, 0, &whole);
	for (i = 0; i < 2; i++) {
		/* byte by byte, then pieces sized by the input's own bytes */
		if (i == 0)
			frame_stream(lim, choice, auth, data, len, &one, 1, &pieces);
		else
			frame_stream(lim, choice, auth, data, len, data, len, &pieces);
		n = whole.n < pieces.n ? whole.n : pieces.n;
		if (n == MAX_MSGS)
			continue;
		for (u32 k = 0; k < n; k++) {
			CHECK(whole.length[k] == pieces.length[k] &&
			      whole.discard[k] == pieces.discard[k],
			      "request %u: %u (discard %u) whole, %u (discard %u) in pieces", k,
			      whole.length[k], whole.discard[k], pieces.length[k],
			      pieces.discard[k]);
			CHECK(whole.dropped[k] == pieces.dropped[k], "drops before request %u",
			      k);
		}
		if (whole.n == pieces.n && whole.error == pieces.error) {
			CHECK(whole.consumed == pieces.consumed, "consumed %u whole, %u in pieces",
			      whole.consumed, pieces.consumed);
			continue;
		}
		/* Only a close may cut a stream short, and only the one arriving in pieces. */
		early = whole.n < pieces.n || (whole.n == pieces.n && whole.error) ?
			&whole : &pieces;
		CHECK(early == &pieces && pieces.error == -EMSGSIZE,
		      "whole: %u requests, end %ld; in pieces (%u): %u requests, end %ld",
		      whole.n, whole.error, i, pieces.n, pieces.error);
	}
}

/* memcached's tokenize_command(): tokens split on ' ', at most RP_TOKENS before the rest. */
static void check_tokens(const u8 *data, u32 len)
{
	struct rp_input in = { .copy = copy_bytes, .priv = data, .avail = len };
	struct rp_tokens t;
	u32 count = 0, tok_len[8] = { 0 }, i = 0;

	rp_tokenize(&in, len, &t);
	while (i < len && count < RP_TOKENS) {
		u32 start;

		while (i < len && data[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && data[i] != ' ')
			i++;
		if (count < 8)
			tok_len[count] = i - start;
		if (count == 0)
			CHECK(!memcmp(t.cmd, data + start, i - start < 8 ? i - start : 8),
			      "command bytes");
		count++;
	}
	CHECK(t.n == count, "%u tokens, memcached has %u", t.n, count);
	for (i = 0; i < count && i < 8; i++)
		CHECK(t.len[i] == tok_len[i], "token %u: %u bytes, memcached has %u", i, t.len[i],
		      tok_len[i]);
}

/*
 * memcached's safe_strtoull() over one NUL-terminated token.  Debian 12's memcached (1.6.18)
 * looks for a '-' in the whole token (strchr), not only before the number's end.
 */
static bool safe_strtoull(const char *str, u64 *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno == ERANGE || end == str)
		return false;
	if (rp_is_space((u8)*end) || *end == '\0') {
		if ((long long)v < 0 && strchr(str, '-'))
			return false;
		*out = v;
		return true;
	}
	return false;
}

/* The number reader against strtoull, over each space-free token of the input. */
static void check_numbers(const u8 *data, u32 len)
{
	char token[64];
	u32 i = 0;

	while (i < len) {
		struct rp_num num = { 0 };
		u32 start = i, n;
		u64 ours = 0, theirs = 0;
		bool ok_ours, ok_theirs;

		while (i < len && data[i] != ' ' && data[i] != '\0')
			i++;
		n = i - start;
		if (n > 0 && n < sizeof(token)) {
			memcpy(token, data + start, n);
			token[n] = '\0';
			for (u32 k = 0; k < n; k++)
				rp_num_feed(&num, data[start + k]);
			rp_num_end(&num);
			ok_ours = rp_num_u64(&num, &ours);
			ok_theirs = safe_strtoull(token, &theirs);
			CHECK(ok_ours == ok_theirs && ours == theirs,
			      "\"%s\": %d %llu, strtoull %d %llu", token, ok_ours,
			      (unsigned long long)ours, ok_theirs, (unsigned long long)theirs);
		}
		i++;
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	const struct rp_limits *limits[] = { &default_limits, &small_limits };
	u32 len = size > 65536 ? 65536 : (u32)size;
	u8 *copy;

	if (len == 0)
		return 0;
	/* An allocation of exactly the input's length: ASan catches a read past its end. */
	copy = malloc(len);
	memcpy(copy, data, len);

	CHECK(rp_choose(RP_PROTO_AUTO, copy[0]) == (copy[0] == RP_BIN_MAGIC ?
						    RP_PROTO_BINARY : RP_PROTO_TEXT), "choose");
	for (u32 l = 0; l < 2; l++) {
		for (u32 p = 0; p < sizeof(protos); p++)
			check_measure(limits[l], protos[p], copy, len);
		check_streams(limits[l], RP_PROTO_AUTO, false, copy, len);
		check_streams(limits[l], RP_PROTO_TEXT, true, copy, len);
	}
	check_tokens(copy, len);
	check_numbers(copy, len);
	free(copy);
	return 0;
}
