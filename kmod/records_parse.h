/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where one memcached request ends: recordcache's one C framer.
 *
 * The module's strparser (records_rx.c) and the native addon's I/O thread
 * (native/src/connection.cc, through native/src/framer.h) both frame with this code, and
 * both must decide exactly what the TypeScript framers decide (server/protocol/text.ts
 * frameText, binary-frame.ts frameBinary, auth.ts frameAuth); test/framers.test.ts holds the
 * three to the same boundaries.
 *
 * Pure framing over a byte source: no skbs, no locks, no allocation, so the same
 * code also builds in user space (the addon, and selftests/parse_host.c).
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
/* The longest get/gets line buffered before the connection is closed (text.ts GET_LINE_LIMIT). */
#define RP_GET_LINE_MAX		(16U << 20)
#define RP_KEY_MAX		250
#define RP_META_MAX_TOKENS	20
#define RP_BIN_MAGIC		0x80
#define RP_BIN_HEADER		24
/* memcached's read buffer: a binary header, extras and key longer than this close. */
#define RP_BIN_HEAD_MAX		16384
/* -Y: an authentication token that does not fit memcached's read buffer closes. */
#define RP_AUTH_MAX		16384
#define RP_SASL_MECH_MAX	32

/* The protocol a connection speaks, and how its next request is framed. */
enum rp_proto {
	RP_PROTO_AUTO,		/* -B auto: chosen by the connection's first byte */
	RP_PROTO_TEXT,		/* text and meta commands */
	RP_PROTO_BINARY,
	RP_PROTO_AUTH,		/* text before -Y authentication (framing only) */
	/* Application messages (the records library), not memcached's: */
	RP_PROTO_LENGTH,	/* a length field, then that many bytes (rp_limits prefix_*) */
	RP_PROTO_LINE,		/* bytes up to and including a newline */
};

/* The server settings framing depends on. */
struct rp_limits {
	u32 item_size_max;	/* -I */
	u32 slab_chunk_max;	/* binary SASL data must fit one slab chunk */
	u32 max_line;		/* longest get/gets line */
	bool cas;		/* item sizes count a CAS (memcached without -C) */
	bool sasl;		/* -S: binary SASL commands are served */
	/* RP_PROTO_LENGTH and RP_PROTO_LINE: */
	u32 message_max;	/* a longer message (or line) closes the connection */
	u32 prefix_offset;	/* bytes before the length field, part of the message */
	u8 prefix_width;	/* the length field's bytes: 1, 2, 4 or 8 */
	bool prefix_le;		/* the length field is little-endian (else big-endian) */
};

/* The bytes of the message being framed. */
struct rp_input {
	/* Copy @len bytes at @off (off + len <= avail) of the message into @to. */
	void (*copy)(const struct rp_input *in, u32 off, void *to, u32 len);
	const void *priv;
	const u8 *data;		/* the message's bytes if contiguous (no copy), or NULL */
	u32 base;		/* offset of the message in priv (for copy) */
	u32 avail;		/* bytes of the message received so far */
};

enum rp_status {
	RP_WHOLE = 1,		/* a whole request of @length bytes */
	RP_NEED,		/* more bytes are needed */
	RP_CLOSE,		/* memcached closes the connection here */
};

/* What rp_measure() decided about the request at the start of the input. */
struct rp_extent {
	u8 status;		/* enum rp_status */
	bool bad_magic;		/* RP_WHOLE: a binary header without the request magic */
	u32 length;		/* RP_WHOLE: the request's bytes (RP_NEED: a text line's) */
	u32 swallow;		/* RP_WHOLE: bytes after it to drop (a value too large) */
	u64 needed;		/* RP_NEED: the length to wait for, when known, else 0 */
};

u8 rp_choose(u8 choice, u8 first);
void rp_measure(const struct rp_limits *lim, u8 proto, const struct rp_input *in,
		struct rp_extent *ex);

/* Per-connection framing state of rp_frame(). */
struct rp_state {
	struct rp_limits lim;
	u8 choice;		/* -B: RP_PROTO_AUTO, RP_PROTO_TEXT or RP_PROTO_BINARY */
	u8 proto;		/* the connection's protocol, RP_PROTO_AUTO until chosen */
	bool auth;		/* text requests are -Y authentication requests */

	u32 scanned;		/* text: bytes of the line known to hold no newline */
	u64 need;		/* bytes to wait for before measuring again, or 0 */
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
	bool split;		/* RP_MSG: its length was known before all of it came */
};

void rp_init(struct rp_state *st, u8 choice, const struct rp_limits *lim);
long rp_frame(struct rp_state *st, const struct rp_input *in, struct rp_msg *msg);

#endif /* _RECORDS_PARSE_H */
