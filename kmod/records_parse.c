// SPDX-License-Identifier: GPL-2.0
/*
 * memcached request framing (text, meta, binary and -Y authentication).
 *
 * rp_measure() says how long the request at the start of a stream is, the way
 * memcached 1.6 (proto_text.c try_read_command_ascii, try_read_command_asciiauth,
 * process_update_command, process_mset_command; proto_bin.c) sees it, and exactly as
 * recordcache's TypeScript framers (server/protocol/text.ts frameText, binary.ts
 * frameBinary, auth.ts frameAuth) decide it:
 *
 *  - a text request is its line, up to and including '\n';
 *  - a storage command (set add replace append prepend cas) or a meta set (ms) whose
 *    line is valid carries a data block of <bytes> + 2;
 *  - when that item could not be stored anyway (too large), the line alone is the
 *    request and the data block is swallowed as it arrives (memcached's conn_swallow);
 *  - a line with no newline in its first 2048 bytes closes the connection, unless it
 *    is a get or gets, which may be up to max_line long;
 *  - a binary request is its 24-byte header, extras and key, and the value of the
 *    commands that read one, which is swallowed when the item is too large to store;
 *    a header without the request magic is a request of its own (memcached closes
 *    there, dropping the replies it has not written: the caller decides that);
 *  - before -Y authentication, any line is a request and only a set's data is read.
 *
 * rp_measure() is stateless: the native addon calls it over its connection buffer.
 * rp_frame() keeps the state the module's strparser needs (the connection's protocol,
 * how far a line has been scanned, the length waited for, the bytes to drop) and
 * answers 0 until a whole request has arrived, so the strparser keeps consuming the
 * socket and the TCP window stays open while a large value trickles in.  Lines are
 * read in small chunks when the input is not contiguous, never copied whole.
 *
 * Locking: none; the caller serialises calls on one rp_state (the strparser runs its
 * parse callback with the lower socket locked).
 */

#include "records_parse.h"

#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/string.h>
#else
#include <string.h>
#define fallthrough __attribute__((__fallthrough__))
#endif

#define RP_CHUNK	128
#define RP_TOKENS	23	/* memcached tokenizes 24 tokens, the last a terminator */
#define RP_INT_MAX	0x7fffffffLL

/**
 * rp_choose() - the protocol a connection speaks
 * @choice: the server's -B: RP_PROTO_AUTO, RP_PROTO_TEXT or RP_PROTO_BINARY
 * @first: the first byte the connection sent
 *
 * With -B auto the first byte chooses, 0x80 being a binary request's magic; ascii and
 * binary fix the protocol (a forced binary server closes on text's first 24 bytes).
 *
 * Return: RP_PROTO_TEXT or RP_PROTO_BINARY.
 */
u8 rp_choose(u8 choice, u8 first)
{
	if (choice == RP_PROTO_LENGTH || choice == RP_PROTO_LINE)
		return choice;
	if (choice == RP_PROTO_TEXT || (choice == RP_PROTO_AUTO && first != RP_BIN_MAGIC))
		return RP_PROTO_TEXT;
	return RP_PROTO_BINARY;
}

/* How many bytes at @off to look at in one go: the rest when contiguous, else a chunk. */
static u32 rp_span(const struct rp_input *in, u32 off, u32 end)
{
	u32 n = end - off;

	return in->data || n < RP_CHUNK ? n : RP_CHUNK;
}

/* @len bytes at @off: in place when the input is contiguous, else copied into @buf. */
static const u8 *rp_peek(const struct rp_input *in, u32 off, u32 len, u8 *buf)
{
	if (in->data)
		return in->data + off;
	in->copy(in, off, buf, len);
	return buf;
}

/* The offset of the first @c in [from, end), or @end. */
static u32 rp_find(const struct rp_input *in, u32 from, u32 end, u8 c)
{
	u8 buf[RP_CHUNK];
	u32 pos, n;

	for (pos = from; pos < end; pos += n) {
		const u8 *p, *hit;

		n = rp_span(in, pos, end);
		p = rp_peek(in, pos, n, buf);
		hit = memchr(p, c, n);
		if (hit)
			return pos + (u32)(hit - p);
	}
	return end;
}

static bool rp_is_space(u8 c)
{
	/* isspace() in the C locale */
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * A number token scanned the way strtoll()/strtoull() and memcached's safe_strto*()
 * read it: leading white space, a sign, digits, and then only white space or the end.
 */
struct rp_num {
	u8 phase;		/* 0 leading space, 1 after the sign, 2 digits, 3 after */
	bool neg;
	bool digits;
	bool clean;		/* the digits ended at white space or the token's end */
	bool minus;		/* a '-' anywhere in the token */
	bool overflow;		/* the magnitude does not fit 64 bits */
	u64 mag;
};

static void rp_num_feed(struct rp_num *n, u8 c)
{
	bool digit = c >= '0' && c <= '9';

	if (c == '-')
		n->minus = true;
	switch (n->phase) {
	case 0:
		if (rp_is_space(c))
			return;
		if (c == '+' || c == '-') {
			n->neg = c == '-';
			n->phase = 1;
			return;
		}
		fallthrough;
	case 1:
	case 2:
		if (!digit) {
			if (n->phase == 2)
				n->clean = rp_is_space(c);
			n->phase = 3;
			return;
		}
		n->phase = 2;
		n->digits = true;
		if (n->mag > (~0ULL - (c - '0')) / 10)
			n->overflow = true;
		n->mag = n->mag * 10 + (c - '0');
		return;
	default:
		return;
	}
}

static void rp_num_end(struct rp_num *n)
{
	if (n->phase == 2)
		n->clean = true;
}

/* safe_strtol() on a 64-bit long, truncated to 32 bits as memcached stores it. */
static bool rp_num_i32(const struct rp_num *n, s32 *out)
{
	s64 v;

	if (!n->digits || !n->clean || n->overflow)
		return false;
	if (n->neg) {
		if (n->mag > (1ULL << 63))
			return false;
		v = (s64)(0 - n->mag);
	} else {
		if (n->mag >= (1ULL << 63))
			return false;
		v = (s64)n->mag;
	}
	*out = (s32)(u32)(u64)v;
	return true;
}

/* safe_strtoull(). */
static bool rp_num_u64(const struct rp_num *n, u64 *out)
{
	u64 v;

	if (!n->digits || !n->clean || n->overflow)
		return false;
	v = n->neg ? 0 - n->mag : n->mag;
	if ((v >> 63) && n->minus)
		return false;
	*out = v;
	return true;
}

/* safe_strtoul() on a 64-bit long, truncated to 32 bits. */
static bool rp_num_u32(const struct rp_num *n, u32 *out)
{
	u64 v;

	if (!rp_num_u64(n, &v))
		return false;
	*out = (u32)v;
	return true;
}

/* The tokens of a command line that framing needs, read in one pass. */
struct rp_tokens {
	u32 n;			/* tokens, at most RP_TOKENS */
	u32 len[8];		/* lengths of the first 8 */
	u8 cmd[8];		/* the first 8 bytes of token 0 */
	struct rp_num num[8];	/* tokens 2..5 read as numbers */
};

/* Splits line[0, end) on spaces as memcached's tokenize_command() does. */
static void rp_tokenize(const struct rp_input *in, u32 end, struct rp_tokens *t)
{
	u8 buf[RP_CHUNK];
	bool in_tok = false;
	u32 pos, i, n;

	memset(t, 0, sizeof(*t));
	for (pos = 0; pos < end; pos += n) {
		const u8 *p;

		n = rp_span(in, pos, end);
		p = rp_peek(in, pos, n, buf);
		for (i = 0; i < n; i++) {
			u8 c = p[i];

			if (c == ' ') {
				if (in_tok) {
					if (t->n < 8)
						rp_num_end(&t->num[t->n]);
					in_tok = false;
					if (++t->n == RP_TOKENS)
						return;
				}
				continue;
			}
			in_tok = true;
			if (t->n >= 8)
				continue;
			if (t->len[t->n] < 8 && t->n == 0)
				t->cmd[t->len[0]] = c;
			if (t->len[t->n] != ~0U)
				t->len[t->n]++;
			if (t->n >= 2 && t->n <= 5)
				rp_num_feed(&t->num[t->n], c);
		}
	}
	if (in_tok) {
		if (t->n < 8)
			rp_num_end(&t->num[t->n]);
		t->n++;
	}
}

static bool rp_token_is(const struct rp_tokens *t, const char *s, u32 len)
{
	return t->len[0] == len && !memcmp(t->cmd, s, len);
}

enum rp_store { RP_NOT_STORE, RP_STORE, RP_STORE_CAS };

static int rp_store_command(const struct rp_tokens *t)
{
	switch (t->len[0]) {
	case 3:
		if (rp_token_is(t, "set", 3) || rp_token_is(t, "add", 3))
			return RP_STORE;
		if (rp_token_is(t, "cas", 3))
			return RP_STORE_CAS;
		return RP_NOT_STORE;
	case 6:
		return rp_token_is(t, "append", 6) ? RP_STORE : RP_NOT_STORE;
	case 7:
		return rp_token_is(t, "replace", 7) || rp_token_is(t, "prepend", 7) ?
		       RP_STORE : RP_NOT_STORE;
	default:
		return RP_NOT_STORE;
	}
}

/* memcached's item size (store/item.ts itemTotal): header, key + NUL, flags, data, CAS. */
static u64 rp_item_total(const struct rp_limits *lim, u64 nkey, u32 flags, u64 nbytes)
{
	return 48 + nkey + 1 + (flags ? 4 : 0) + nbytes + (lim->cas ? 8 : 0);
}

/*
 * The data block of the text line whose newline is at @nl: added to ex->length, or
 * swallowed when the item is too large to store.  An invalid line carries none.
 */
static void rp_text_block(const struct rp_limits *lim, const struct rp_input *in, u32 nl,
			  struct rp_extent *ex)
{
	struct rp_tokens t;
	u32 ntokens, flags, end, p;
	s32 exptime, vlen;
	u64 cas, data, total;
	u8 c[RP_CHUNK];
	int mode;

	/* Only storage commands carry a data block; look for one before tokenizing. */
	p = 0;
	for (;;) {
		u32 n = rp_span(in, p, nl + 1);
		const u8 *b = rp_peek(in, p, n, c);
		u32 i = 0;

		while (i < n && b[i] == ' ')
			i++;
		if (i < n) {
			if (!memchr("sarpcm", b[i], 6))
				return;
			break;
		}
		p += n;
	}

	/* The command ends before CR LF, and at a NUL byte (memcached's tokenizer stops). */
	end = nl;
	if (end > 1 && *rp_peek(in, end - 1, 1, c) == '\r')
		end--;
	end = rp_find(in, 0, end, 0);

	rp_tokenize(in, end, &t);
	ntokens = t.n + 1;
	if (ntokens < 2)
		return;

	if (rp_token_is(&t, "ms", 2)) {
		if (ntokens < 4 || t.len[1] > RP_KEY_MAX || ntokens > RP_META_MAX_TOKENS)
			return;
		if (!rp_num_i32(&t.num[2], &vlen) || vlen < 0 || vlen > RP_INT_MAX - 2)
			return;
		data = (u64)vlen + 2;
		/* Certainly too large to store: dropped as it arrives, never buffered. */
		if (data > lim->item_size_max) {
			ex->swallow = (u32)data;
			return;
		}
	} else {
		mode = rp_store_command(&t);
		if (mode == RP_NOT_STORE)
			return;
		if (mode == RP_STORE_CAS ? ntokens != 7 && ntokens != 8 :
		    ntokens != 6 && ntokens != 7)
			return;
		if (t.len[1] > RP_KEY_MAX)
			return;
		if (!rp_num_u32(&t.num[2], &flags) || !rp_num_i32(&t.num[3], &exptime) ||
		    !rp_num_i32(&t.num[4], &vlen))
			return;
		if (mode == RP_STORE_CAS && !rp_num_u64(&t.num[5], &cas))
			return;
		if (vlen < 0 || vlen > RP_INT_MAX - 2)
			return;
		data = (u64)vlen + 2;
		if (rp_item_total(lim, t.len[1], flags, data) > lim->item_size_max) {
			ex->swallow = (u32)data;
			return;
		}
	}
	total = ex->length + data;
	if (in->avail < total) {
		/* memcached reads such a block straight into the item (conn_nread) */
		ex->status = RP_NEED;
		ex->needed = total;
		return;
	}
	ex->length = (u32)total;
}

/* A line too long for its newline to be waited for: only get and gets may be. */
static bool rp_is_get(const struct rp_input *in)
{
	u8 buf[RP_CHUNK];
	u32 n = in->avail < RP_CHUNK ? in->avail : RP_CHUNK;
	const u8 *c = rp_peek(in, 0, n, buf);
	u32 p = 0;

	while (p < n && c[p] == ' ')
		p++;
	if (p > 100 || p + 5 > n)
		return false;
	return !memcmp(c + p, "get ", 4) || !memcmp(c + p, "gets ", 5);
}

static void rp_text(const struct rp_limits *lim, const struct rp_input *in, u32 from,
		    struct rp_extent *ex)
{
	u32 nl = rp_find(in, from, in->avail, '\n');

	if (nl == in->avail) {
		ex->status = RP_NEED;
		if (in->avail > RP_LINE_MAX && (!rp_is_get(in) || in->avail > lim->max_line))
			ex->status = RP_CLOSE;
		return;
	}
	ex->status = RP_WHOLE;
	ex->length = nl + 1;
	rp_text_block(lim, in, nl, ex);
}

/*
 * -Y: the data length an authentication line ("set <any> <any> <any> <bytes>") announces,
 * or -1.  Tokens are split on spaces only, so the line's CR stays in its last token, and
 * the length is read as memcached's safe_strtoul reads it, truncated to 32 bits.
 */
static s64 rp_auth_length(const struct rp_input *in, u32 nl)
{
	struct rp_tokens t;
	const struct rp_num *n = &t.num[4];

	rp_tokenize(in, nl, &t);
	if (!rp_token_is(&t, "set", 3) || t.n < 5)
		return -1;
	if (!n->digits || !n->clean || n->overflow || (n->neg && n->mag))
		return -1;
	return (s64)(n->mag & 0xffffffffULL);
}

/* A request of a text connection that has not authenticated (proto_text.c asciiauth). */
static void rp_auth(const struct rp_input *in, u32 from, struct rp_extent *ex)
{
	u32 nl, line, avail;
	s64 size;
	u64 data;

	ex->status = RP_NEED;
	/* memcached waits for at least two bytes before it looks for a line. */
	if (in->avail < 2)
		return;
	nl = rp_find(in, from, in->avail, '\n');
	if (nl == in->avail) {
		if (in->avail > RP_LINE_MAX)
			ex->status = RP_CLOSE;
		return;
	}
	line = nl + 1;
	size = rp_auth_length(in, nl);
	if (size < 0) {
		ex->status = RP_WHOLE;
		ex->length = line;
		return;
	}
	data = (u64)size + 2;
	avail = in->avail - line;
	if (data > RP_AUTH_MAX) {
		/* The token fills memcached's read buffer; the next bytes close. */
		if (avail > RP_AUTH_MAX)
			ex->status = RP_CLOSE;
		else
			ex->needed = line + RP_AUTH_MAX + 1;
		return;
	}
	if (avail < data) {
		ex->needed = line + data;
		return;
	}
	ex->status = RP_WHOLE;
	ex->length = line + (u32)data;
}

/* memcached keeps binary lengths in C ints: a u32 above INT_MAX is negative there. */
static s32 rp_bin_int(s64 n)
{
	return (s32)(u32)n;
}

/* A swallow count as memcached passes it: nothing unless positive. */
static u32 rp_bin_swallow(s64 n)
{
	s32 v = rp_bin_int(n);

	return v > 0 ? (u32)v : 0;
}

/* Value bytes read after the key, and bytes swallowed after the request. */
struct rp_bin_value {
	u32 value;
	u32 swallow;
};

/* A storage command's value, or its swallow when the item cannot hold it (item_alloc). */
static void rp_bin_store(const struct rp_limits *lim, u32 keylen, u32 flags, s32 vlen,
			 struct rp_bin_value *v)
{
	s32 nbytes = rp_bin_int((s64)vlen + 2);

	if (nbytes < 2 || rp_item_total(lim, keylen, flags, (u64)nbytes) > lim->item_size_max)
		v->swallow = vlen > 0 ? (u32)vlen : 0;
	else
		v->value = (u32)vlen;
}

/* process_bin_sasl_auth: the data is read into an item, which must fit one slab chunk. */
static void rp_bin_sasl(const struct rp_limits *lim, u32 keylen, u32 body,
			struct rp_bin_value *v)
{
	s32 vlen, nbytes;
	u64 total;

	if (!lim->sasl) {
		/* an unknown command then */
		v->swallow = rp_bin_swallow((s64)body - keylen);
		return;
	}
	vlen = rp_bin_int((s64)body - keylen);
	nbytes = rp_bin_int((s64)vlen + 2);
	total = rp_item_total(lim, keylen, 0, nbytes < 0 ? 0 : (u64)nbytes);
	if (keylen > RP_SASL_MECH_MAX || nbytes < 2 || total > lim->item_size_max ||
	    total > lim->slab_chunk_max)
		v->swallow = vlen > 0 ? (u32)vlen : 0;
	else
		v->value = (u32)vlen;
}

/*
 * What memcached reads of a binary request whose header, extras and key are in @h
 * (try_read_command_binary, dispatch_bin_command and the process_bin_* functions up to
 * where they read a value): a value only for the commands that have one and only when
 * the request's shape is valid; a command it does not know has its body length
 * swallowed after the key.  Anything else in a body is the next request, as it is to
 * memcached.
 */
static void rp_bin_classify(const struct rp_limits *lim, const u8 *h, u32 extlen,
			    struct rp_bin_value *v)
{
	u32 keylen = (u32)h[2] << 8 | h[3];
	u32 body = (u32)h[8] << 24 | (u32)h[9] << 16 | (u32)h[10] << 8 | h[11];
	u32 flags = 0;

	v->value = 0;
	v->swallow = 0;
	if (keylen > body || (u64)keylen + extlen > body || keylen > RP_KEY_MAX)
		return;
	if (extlen >= 4)
		flags = (u32)h[24] << 24 | (u32)h[25] << 16 | (u32)h[26] << 8 | h[27];

	switch (h[1]) {
	case 0x01: case 0x02: case 0x03:	/* set add replace */
	case 0x11: case 0x12: case 0x13:	/* and their quiet forms */
		if (extlen == 8 && keylen && body >= (u64)keylen + 8)
			rp_bin_store(lim, keylen, flags,
				     rp_bin_int((s64)body - keylen - extlen), v);
		return;
	case 0x0e: case 0x0f:			/* append prepend */
	case 0x19: case 0x1a:
		if (keylen && !extlen)
			rp_bin_store(lim, keylen, 0, rp_bin_int((s64)body - keylen), v);
		return;
	case 0x21: case 0x22:			/* SASL auth and step */
		if (!extlen && keylen)
			rp_bin_sasl(lim, keylen, body, v);
		return;
	case 0x00: case 0x04: case 0x05: case 0x06: case 0x07: case 0x08: case 0x09:
	case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x10: case 0x14: case 0x15:
	case 0x16: case 0x17: case 0x18: case 0x1c: case 0x1d: case 0x1e: case 0x20:
	case 0x23: case 0x24:
		/* no value, whatever the body length says, whether the shape is valid or not */
		return;
	default:
		v->swallow = rp_bin_swallow(body);
		return;
	}
}

static void rp_binary(const struct rp_limits *lim, const struct rp_input *in,
		      struct rp_extent *ex)
{
	u8 buf[RP_BIN_HEADER + 4];
	struct rp_bin_value v;
	u32 extlen, head;
	const u8 *h;
	u64 total;

	ex->status = RP_NEED;
	if (in->avail < RP_BIN_HEADER) {
		ex->needed = RP_BIN_HEADER;
		return;
	}
	h = rp_peek(in, 0, RP_BIN_HEADER, buf);
	if (h[0] != RP_BIN_MAGIC) {
		ex->status = RP_WHOLE;
		ex->bad_magic = true;
		ex->length = RP_BIN_HEADER;
		return;
	}
	extlen = h[4];
	head = RP_BIN_HEADER + extlen + ((u32)h[2] << 8 | h[3]);
	if (in->avail < head) {
		if (head <= RP_BIN_HEAD_MAX)
			ex->needed = head;
		else if (in->avail > RP_BIN_HEAD_MAX)
			/* memcached's read buffer is full and the key is still not in it */
			ex->status = RP_CLOSE;
		else
			ex->needed = RP_BIN_HEAD_MAX + 1;
		return;
	}
	if (extlen >= 4)
		h = rp_peek(in, 0, RP_BIN_HEADER + 4, buf);
	rp_bin_classify(lim, h, extlen, &v);
	total = (u64)head + v.value;
	if (in->avail < total) {
		ex->needed = total;
		return;
	}
	ex->status = RP_WHOLE;
	ex->length = (u32)total;
	ex->swallow = v.swallow;
}

/* rp_measure(), with a text line known to hold no newline in [0, from). */
/*
 * A length-prefixed message: prefix_offset bytes, a prefix_width-byte length, then that
 * many bytes; all of it is the message.
 */
static void rp_length(const struct rp_limits *lim, const struct rp_input *in,
		      struct rp_extent *ex)
{
	u32 head = lim->prefix_offset + lim->prefix_width;
	u8 buf[8];
	const u8 *field;
	u64 body = 0;
	u32 i;

	if (in->avail < head) {
		ex->status = RP_NEED;
		ex->needed = head;
		return;
	}
	field = rp_peek(in, lim->prefix_offset, lim->prefix_width, buf);
	for (i = 0; i < lim->prefix_width; i++) {
		u32 at = lim->prefix_le ? lim->prefix_width - 1 - i : i;

		body = body << 8 | field[at];
	}
	if (body > (u64)lim->message_max - head) {
		ex->status = RP_CLOSE;
		return;
	}
	if (in->avail < head + body) {
		ex->status = RP_NEED;
		ex->needed = head + body;
		return;
	}
	ex->status = RP_WHOLE;
	ex->length = (u32)(head + body);
}

/* A line message: up to and including its newline. */
static void rp_line(const struct rp_limits *lim, const struct rp_input *in, u32 from,
		    struct rp_extent *ex)
{
	u32 end = in->avail < lim->message_max ? in->avail : lim->message_max;
	u32 nl = from < end ? rp_find(in, from, end, '\n') : end;

	if (nl < end) {
		ex->status = RP_WHOLE;
		ex->length = nl + 1;
		return;
	}
	ex->status = in->avail >= lim->message_max ? RP_CLOSE : RP_NEED;
	ex->length = in->avail;
}

static void rp_measure_from(const struct rp_limits *lim, u8 proto, const struct rp_input *in,
			    u32 from, struct rp_extent *ex)
{
	memset(ex, 0, sizeof(*ex));
	switch (proto) {
	case RP_PROTO_BINARY:
		rp_binary(lim, in, ex);
		break;
	case RP_PROTO_AUTH:
		rp_auth(in, from, ex);
		break;
	case RP_PROTO_LENGTH:
		rp_length(lim, in, ex);
		break;
	case RP_PROTO_LINE:
		rp_line(lim, in, from, ex);
		break;
	default:
		rp_text(lim, in, from, ex);
		break;
	}
}

/**
 * rp_measure() - how long the request at the start of @in is
 * @lim: the server's limits
 * @proto: RP_PROTO_TEXT, RP_PROTO_BINARY or RP_PROTO_AUTH (see rp_choose())
 * @in: the bytes received from the request's start on
 * @ex: the decision
 *
 * RP_WHOLE: the request is @ex->length bytes, and @ex->swallow bytes after it are to
 * be dropped as they arrive.  RP_NEED: more bytes are needed; when @ex->needed is not
 * 0, nothing changes before that many are in.  RP_CLOSE: memcached closes here.
 */
void rp_measure(const struct rp_limits *lim, u8 proto, const struct rp_input *in,
		struct rp_extent *ex)
{
	rp_measure_from(lim, proto, in, 0, ex);
}

void rp_init(struct rp_state *st, u8 choice, const struct rp_limits *lim)
{
	memset(st, 0, sizeof(*st));
	st->lim = *lim;
	st->choice = choice;
	st->proto = choice;
}

/**
 * rp_frame() - frame the message at the start of @in
 * @st: the connection's framing state
 * @in: the bytes received for this message so far
 * @msg: filled in when a message is returned
 *
 * Return: the message's length when all of it has arrived, 0 when more bytes are
 * needed, or -EMSGSIZE (memcached closes: a line or binary key too long, an
 * authentication token too large) / -EPROTO (not a binary request).
 */
long rp_frame(struct rp_state *st, const struct rp_input *in, struct rp_msg *msg)
{
	struct rp_extent ex;
	u8 proto;
	u64 len;

	if (st->swallow) {
		len = st->swallow < in->avail ? st->swallow : in->avail;
		if (!len)
			return 0;
		st->swallow -= len;
		msg->kind = RP_DROP;
		msg->discard = 0;
		msg->split = false;
		return (long)len;
	}
	if (!in->avail || in->avail < st->need)
		return 0;

	if (st->proto == RP_PROTO_AUTO) {
		u8 first;

		st->proto = rp_choose(st->choice, *rp_peek(in, 0, 1, &first));
	}
	proto = st->proto == RP_PROTO_TEXT && st->auth ? RP_PROTO_AUTH : st->proto;
	rp_measure_from(&st->lim, proto, in, st->scanned, &ex);
	switch (ex.status) {
	case RP_NEED:
		st->need = ex.needed;
		if (ex.needed)
			st->waited = true;
		else if (proto == RP_PROTO_TEXT || proto == RP_PROTO_LINE)
			st->scanned = in->avail;
		return 0;
	case RP_CLOSE:
		return -EMSGSIZE;
	}
	if (ex.bad_magic)
		return -EPROTO;

	msg->kind = RP_MSG;
	msg->split = st->waited;
	msg->discard = ex.swallow;
	st->swallow = ex.swallow;
	st->waited = false;
	st->need = 0;
	st->scanned = 0;
	return (long)ex.length;
}
