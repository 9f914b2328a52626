// SPDX-License-Identifier: GPL-2.0
/*
 * memcached request framing (text, meta and binary) for the strparser.
 *
 * rp_frame() says how long the request at the start of a stream is, the way
 * memcached 1.6 (proto_text.c try_read_command_ascii, process_update_command,
 * process_mset_command; proto_bin.c) and recordcache's server/protocol/text.ts
 * frameText() see it:
 *
 *  - a text request is its line, up to and including '\n';
 *  - a storage command (set add replace append prepend cas) or a meta set (ms) whose
 *    line is valid carries a data block of <bytes> + 2;
 *  - when that item could not be stored anyway (too large), the line alone is the
 *    request and the data block is dropped as it arrives (memcached's conn_swallow);
 *  - a line with no newline in its first 2048 bytes is an error, unless it is a get or
 *    gets, which may be up to max_line long;
 *  - a binary request is its 24-byte header, extras and key, and the value of a
 *    storage command, which is dropped when the item is too large to store; a first
 *    byte other than 0x80 is an error (rp_frame_binary has memcached's details).
 *
 * rp_frame() answers 0 (need more bytes) until the whole request has arrived, so the
 * strparser keeps consuming the socket and the TCP window stays open while a large
 * value trickles in.  Lines are read in small chunks, never copied whole.
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
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define fallthrough __attribute__((__fallthrough__))
#endif

#define RP_CHUNK	128
#define RP_TOKENS	23	/* memcached tokenizes 24 tokens, the last a terminator */
#define RP_INT_MAX	0x7fffffffLL

void rp_init(struct rp_state *st, u8 proto, bool cas, u32 item_size_max, u32 max_line)
{
	memset(st, 0, sizeof(*st));
	st->proto = proto;
	st->cas = cas;
	st->item_size_max = item_size_max;
	st->max_line = max_line;
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
		n = min_t(u32, end - pos, RP_CHUNK);
		in->copy(in, pos, buf, n);
		for (i = 0; i < n; i++) {
			u8 c = buf[i];

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

/*
 * The data block announced by the text line [0, line): sets st->total to the whole
 * request, or st->discard when the block is dropped.  An invalid line carries none.
 */
static void rp_text_block(struct rp_state *st, const struct rp_input *in, u32 line)
{
	struct rp_tokens t;
	u32 end = line - 1;	/* the newline */
	u32 ntokens, flags;
	s32 exptime, vlen;
	u64 cas, item;
	u8 c[RP_CHUNK];
	u32 i, n;
	int mode;

	if (end > 1) {
		in->copy(in, end - 1, c, 1);
		if (c[0] == '\r')
			end--;
	}
	/* A NUL byte ends the command (memcached's tokenizer stops at it). */
	for (i = 0; i < end; i += n) {
		u8 *nul;

		n = min_t(u32, end - i, RP_CHUNK);
		in->copy(in, i, c, n);
		nul = memchr(c, 0, n);
		if (nul) {
			end = i + (u32)(nul - c);
			break;
		}
	}

	rp_tokenize(in, end, &t);
	ntokens = t.n + 1;
	if (ntokens < 2)
		return;

	if (rp_token_is(&t, "ms", 2)) {
		if (ntokens < 4 || t.len[1] > RP_KEY_MAX || ntokens > RP_META_MAX_TOKENS)
			return;
		if (!rp_num_i32(&t.num[2], &vlen) || vlen < 0 || vlen > RP_INT_MAX - 2)
			return;
		if ((u64)vlen + 2 > st->item_size_max)
			st->discard = (u32)vlen + 2;
		else
			st->total += (u64)vlen + 2;
		return;
	}

	mode = rp_store_command(&t);
	if (mode == RP_NOT_STORE)
		return;
	if (mode == RP_STORE_CAS ? ntokens != 7 && ntokens != 8 : ntokens != 6 && ntokens != 7)
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
	/* memcached's item size: header, key + NUL, flags, data + CRLF, CAS */
	item = 48 + (u64)t.len[1] + 1 + (flags ? 4 : 0) + (u64)vlen + 2 + (st->cas ? 8 : 0);
	if (item > st->item_size_max)
		st->discard = (u32)vlen + 2;
	else
		st->total += (u64)vlen + 2;
}

/* A line too long for its newline to be waited for: only get and gets may be. */
static bool rp_is_get(const struct rp_input *in)
{
	u8 c[RP_CHUNK];
	u32 n = min_t(u32, in->avail, RP_CHUNK);
	u32 p = 0;

	in->copy(in, 0, c, n);
	while (p < n && c[p] == ' ')
		p++;
	if (p > 100 || p + 5 > n)
		return false;
	return !memcmp(c + p, "get ", 4) || !memcmp(c + p, "gets ", 5);
}

static long rp_frame_text(struct rp_state *st, const struct rp_input *in)
{
	u8 c[RP_CHUNK];
	u32 pos, n;

	for (pos = st->scanned; pos < in->avail; pos += n) {
		u8 *nl;

		n = min_t(u32, in->avail - pos, RP_CHUNK);
		in->copy(in, pos, c, n);
		nl = memchr(c, '\n', n);
		if (nl) {
			st->total = pos + (u32)(nl - c) + 1;
			st->discard = 0;
			rp_text_block(st, in, (u32)st->total);
			return 1;
		}
	}
	st->scanned = in->avail;
	if (in->avail > RP_LINE_MAX && (!rp_is_get(in) || in->avail > st->max_line))
		return -EMSGSIZE;
	return 0;
}

/* memcached keeps binary lengths in C ints: a u32 above INT_MAX is negative there. */
static s32 rp_bin_int(s64 n)
{
	return (s32)(u32)n;
}

/*
 * The value a binary storage request carries: read as part of the request when the
 * item can be stored, else dropped (memcached swallows it after the header, extras and
 * key).  Item size as for text storage commands.
 */
static void rp_bin_value(struct rp_state *st, u32 keylen, u32 flags, s32 vlen)
{
	u64 item;

	if (vlen <= 0)
		return;
	item = 48 + (u64)keylen + 1 + (flags ? 4 : 0) + (u64)vlen + 2 + (st->cas ? 8 : 0);
	if (item > st->item_size_max)
		st->discard = (u32)vlen;
	else
		st->total += (u64)vlen;
}

/*
 * A binary request is read as memcached's proto_bin.c reads it: the header, then the
 * extras and key (whatever the body length says), then a value only for the commands
 * that have one and only when the request's shape is valid; a command memcached does
 * not know has its body length swallowed after the key.  Anything else in a body is
 * the next request, as it is to memcached.
 */
static long rp_frame_binary(struct rp_state *st, const struct rp_input *in)
{
	u8 h[RP_BIN_HEADER + 4];
	u32 body, keylen, extlen, flags = 0;
	u8 opcode;

	if (in->avail < RP_BIN_HEADER) {
		st->waited = true;
		return 0;
	}
	in->copy(in, 0, h, RP_BIN_HEADER);
	if (h[0] != 0x80)
		return -EPROTO;
	opcode = h[1];
	keylen = (u32)h[2] << 8 | h[3];
	extlen = h[4];
	body = (u32)h[8] << 24 | (u32)h[9] << 16 | (u32)h[10] << 8 | h[11];
	/* memcached closes a connection whose header, extras and key overflow its buffer. */
	if (RP_BIN_HEADER + extlen + keylen > RP_BIN_HEAD_MAX)
		return -EMSGSIZE;
	/* A set's item size counts its flags, the first 4 bytes of its extras. */
	if (extlen >= 4) {
		if (in->avail < RP_BIN_HEADER + 4) {
			st->waited = true;
			return 0;
		}
		in->copy(in, RP_BIN_HEADER, h + RP_BIN_HEADER, 4);
		flags = (u32)h[24] << 24 | (u32)h[25] << 16 | (u32)h[26] << 8 | h[27];
	}
	st->total = RP_BIN_HEADER + extlen + keylen;
	st->discard = 0;
	if ((u64)keylen + extlen > body || keylen > RP_KEY_MAX)
		return 1;

	switch (opcode) {
	case 0x01: case 0x02: case 0x03:	/* set add replace */
	case 0x11: case 0x12: case 0x13:	/* and their quiet forms */
		if (extlen != 8 || !keylen || body < keylen + 8)
			break;
		rp_bin_value(st, keylen, flags, rp_bin_int((s64)body - keylen - extlen));
		break;
	case 0x0e: case 0x0f:			/* append prepend */
	case 0x19: case 0x1a:
		if (keylen && !extlen)
			rp_bin_value(st, keylen, 0, rp_bin_int((s64)body - keylen));
		break;
	case 0x21: case 0x22:			/* SASL auth and step */
		if (!extlen && keylen)
			rp_bin_value(st, keylen, 0, rp_bin_int((s64)body - keylen));
		break;
	case 0x00: case 0x04: case 0x05: case 0x06: case 0x07: case 0x08: case 0x09:
	case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x10: case 0x14: case 0x15:
	case 0x16: case 0x17: case 0x18: case 0x1c: case 0x1d: case 0x1e: case 0x20:
	case 0x23: case 0x24:
		/* no value, whatever the body length says */
		break;
	default:
		if (rp_bin_int(body) > 0)
			st->discard = (u32)rp_bin_int(body);
		break;
	}
	return 1;
}

/**
 * rp_frame() - frame the message at the start of @in
 * @st: the connection's framing state
 * @in: the bytes received for this message so far
 * @msg: filled in when a message is returned
 *
 * Return: the message's length when all of it has arrived, 0 when more bytes are
 * needed, or -EMSGSIZE (line too long) / -EPROTO (not a binary request).
 */
long rp_frame(struct rp_state *st, const struct rp_input *in, struct rp_msg *msg)
{
	long ret;
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
	if (!in->avail)
		return 0;

	if (!st->total) {
		if (st->proto == RP_PROTO_AUTO) {
			u8 first;

			in->copy(in, 0, &first, 1);
			st->proto = first == 0x80 ? RP_PROTO_BINARY : RP_PROTO_TEXT;
		}
		if (st->proto == RP_PROTO_BINARY)
			ret = rp_frame_binary(st, in);
		else
			ret = rp_frame_text(st, in);
		if (ret <= 0)
			return ret;
	}
	if (in->avail < st->total) {
		/* memcached reads such a block straight into the item (conn_nread) */
		st->waited = true;
		return 0;
	}

	len = st->total;
	msg->kind = RP_MSG;
	msg->split = st->waited;
	st->waited = false;
	msg->discard = st->discard;
	st->swallow = st->discard;
	st->total = 0;
	st->discard = 0;
	st->scanned = 0;
	return (long)len;
}
