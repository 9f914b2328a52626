/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where one memcached request ends, for the strparser.
 *
 * Pure framing over a byte source: no skbs, no locks, no allocation, so the same
 * code also builds in user space for selftests/parse_host.c.
 */
#ifndef _RECORDS_PARSE_H
#define _RECORDS_PARSE_H

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/types.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;
#endif

/* memcached closes a connection whose line has no newline in its first 2048 bytes. */
#define RP_LINE_MAX		2048
#define RP_KEY_MAX		250
#define RP_META_MAX_TOKENS	20
#define RP_BIN_HEADER		24
/* memcached's binary read buffer: a header, extras and key longer than this close. */
#define RP_BIN_HEAD_MAX		16384

enum rp_proto {
	RP_PROTO_AUTO,		/* chosen by the connection's first byte */
	RP_PROTO_TEXT,		/* text and meta commands */
	RP_PROTO_BINARY,
};

/* The bytes of the message being framed. */
struct rp_input {
	/* Copy @len bytes at @off (off + len <= avail) of the message into @to. */
	void (*copy)(const struct rp_input *in, u32 off, void *to, u32 len);
	const void *priv;
	u32 base;		/* offset of the message in priv (for copy) */
	u32 avail;		/* bytes of the message received so far */
};

/* Per-connection framing state. */
struct rp_state {
	u8 proto;		/* enum rp_proto */
	bool cas;		/* item sizes count a CAS */
	u32 item_size_max;
	u32 max_line;		/* longest get/gets line */

	u32 scanned;		/* text: bytes of the line known to hold no newline */
	u64 total;		/* the current message's length once known, else 0 */
	u32 discard;		/* with total: data bytes to drop after it */
	bool waited;		/* the message's length was known before all of it came */
	u64 swallow;		/* bytes still to drop before the next message */
};

enum rp_kind {
	RP_MSG,			/* a request */
	RP_DROP,		/* part of a discarded data block */
};

/* What rp_frame() framed. */
struct rp_msg {
	u8 kind;		/* enum rp_kind */
	u32 discard;		/* RP_MSG: bytes dropped after it (a data block too large) */
	bool split;		/* RP_MSG: its data came after its line, in later segments */
};

void rp_init(struct rp_state *st, u8 proto, bool cas, u32 item_size_max, u32 max_line);
long rp_frame(struct rp_state *st, const struct rp_input *in, struct rp_msg *msg);

#endif /* _RECORDS_PARSE_H */
