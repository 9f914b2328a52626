/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * records: one buffer sent to many TCP sockets, whole requests received.
 *
 * The user-space interface of the records module (kmod/records_*.c), shared with the
 * selftests and with recordcache's kmod backend.
 *
 * Every call goes through an open /dev/records file, a *session*:
 *
 *   initRecord    RECORDS_IOC_INIT   bytes are copied once into pages owned by a new
 *                                    record; the ioctl returns the record's fd.
 *   sendRecord    RECORDS_IOC_SEND   queue a record (or a slice of it) on every socket of
 *                                    a group, each with its own prefix and suffix bytes.
 *   unsendRecord  RECORDS_IOC_UNSEND drop queued sends of a record that have not started.
 *   recvRecord    RECORDS_IOC_ATTACH with RECORDS_ATTACH_RECV, then read(2) or poll(2)
 *                                    the session: whole requests only.
 *   (progress)    RECORDS_ATTACH_TX_REPORT: read(2) also says how many sends of the
 *                                    socket have completed (RECORDS_MSG_SENT).
 *   delRecord     close(2) on the record fd; queued and in-flight sends keep their pages.
 *
 * A socket is attached to one session (RECORDS_IOC_ATTACH) before anything is sent to
 * it; closing the socket, RECORDS_IOC_DETACH, or closing the session detaches it.
 */
#ifndef _UAPI_LINUX_RECORDS_H
#define _UAPI_LINUX_RECORDS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RECORDS_DEVICE		"/dev/records"
#define RECORDS_IOC_MAGIC	0xB7

/* Limits. */
#define RECORDS_RECORD_MAX	(1ULL << 30)	/* bytes in one record */
#define RECORDS_AFFIX_MAX	65536		/* prefix + suffix bytes of one destination */
#define RECORDS_DESTS_MAX	65536		/* destinations in one RECORDS_IOC_SEND */

/*
 * RECORDS_IOC_INIT: copy @len bytes at @data into a new record.
 * Returns the record's file descriptor (close-on-exec).
 */
struct records_init {
	__u64 data;		/* user pointer */
	__u64 len;		/* at most RECORDS_RECORD_MAX */
	__u32 flags;		/* 0 */
	__u32 reserved;		/* 0 */
};

/* One destination of RECORDS_IOC_SEND. */
struct records_dest {
	__s32 sock_fd;		/* a socket attached to this session */
	__u32 prefix_len;	/* bytes sent before the record ... */
	__u32 suffix_len;	/* ... and after it; prefix + suffix <= RECORDS_AFFIX_MAX */
	__s32 result;		/* out: 0 when queued, else -errno */
	__u64 prefix;		/* user pointer */
	__u64 suffix;		/* user pointer */
};

#define RECORDS_WHOLE	(~0ULL)

/*
 * RECORDS_IOC_SEND: queue [prefix][record slice][suffix] on each destination's socket.
 * Sends on one socket go out in order of priority (higher first), and in the order of
 * the calls within one priority; a send that has started is always finished whole.
 * Returns how many destinations were queued; each destination's result says why not.
 */
struct records_send {
	__s32 record_fd;	/* -1: send only the prefix and suffix bytes */
	__s32 priority;
	__u64 offset;		/* slice of the record to send ... */
	__u64 length;		/* ... RECORDS_WHOLE for the rest of it */
	__u32 flags;		/* 0 */
	__u32 ndests;
	__u64 dests;		/* user pointer to ndests struct records_dest */
};

/*
 * RECORDS_IOC_UNSEND: remove the sends of a record queued on the given sockets that
 * have not started.  Sockets not attached to this session are skipped.
 * Returns the number of sends removed.
 */
struct records_unsend {
	__s32 record_fd;
	__u32 nsocks;
	__u64 socks;		/* user pointer to nsocks __s32 socket fds */
};

/* struct records_attach flags */
#define RECORDS_ATTACH_RECV	(1U << 0)	/* frame incoming requests for read(2) */
#define RECORDS_ATTACH_TEXT	(1U << 1)	/* memcached text/meta protocol only */
#define RECORDS_ATTACH_BINARY	(1U << 2)	/* memcached binary protocol only */
#define RECORDS_ATTACH_CAS	(1U << 3)	/* items carry a CAS (memcached without -C) */
/* Application messages instead of memcached requests (at most one of TEXT, BINARY, these): */
#define RECORDS_ATTACH_LENGTH	(1U << 4)	/* a length field, then that many bytes */
#define RECORDS_ATTACH_LINE	(1U << 5)	/* bytes up to and including a newline */
#define RECORDS_ATTACH_LE	(1U << 6)	/* LENGTH: the field is little-endian */
#define RECORDS_ATTACH_TX_REPORT (1U << 7)	/* report completed sends (RECORDS_MSG_SENT) */
#define RECORDS_ATTACH_FLAGS	0xffU

/*
 * RECORDS_IOC_ATTACH: attach a connected TCP socket to the session.  The socket may
 * not be used by another session, kTLS, a BPF sockmap or another sk_user_data user.
 * With RECORDS_ATTACH_RECV the module frames memcached requests in the kernel (the
 * protocol is chosen by the connection's first byte unless TEXT or BINARY is given)
 * and read(2) on the session returns them whole; read(2) on the socket itself then
 * returns nothing.
 *
 * Limits, 0 for the default:
 *   item_size_max  memcached's -I (1 MiB): the data of larger items is dropped in the
 *                  kernel (RECORDS_MSGF_DISCARD)
 *   max_line       the longest get/gets line (1 MiB); other lines end within 2048 bytes
 *   rx_limit       request bytes held for read(2) before the socket stops being read
 *                  (4 MiB): TCP's window then closes on the client
 *   tx_limit       sends queued on the socket before RECORDS_IOC_SEND answers -ENOBUFS
 *                  for it (65536; also past 16 MiB of queued prefix and suffix bytes)
 *
 * With RECORDS_ATTACH_LENGTH or RECORDS_ATTACH_LINE, messages are framed instead: a
 * message is @prefix_offset bytes, a @prefix_width byte length field (1, 2, 4 or 8;
 * big-endian unless RECORDS_ATTACH_LE) and that many bytes, or a line; one longer than
 * @message_max (default 1 MiB, at most 512 MiB) ends the stream with -EMSGSIZE.
 * item_size_max and max_line do not apply.
 *
 * With RECORDS_ATTACH_TX_REPORT (with or without RECV) read(2) on the session also
 * tells when the socket's sends complete, so that a caller need not ask
 * RECORDS_IOC_SOCK_INFO: see RECORDS_MSG_SENT.
 */
struct records_attach {
	__s32 sock_fd;
	__u32 flags;		/* RECORDS_ATTACH_* */
	__u64 cookie;		/* reported with each of this socket's messages */
	__u32 item_size_max;
	__u32 max_line;
	__u32 rx_limit;
	__u32 tx_limit;
	__u32 message_max;	/* LENGTH, LINE */
	__u32 prefix_offset;	/* LENGTH */
	__u32 prefix_width;	/* LENGTH */
	__u32 reserved;		/* 0 */
};

/*
 * read(2) on a session returns a sequence of messages, each a struct records_msg
 * followed by @len bytes and padded to RECORDS_MSG_ALIGN.  A buffer too small for the
 * first message fails with EMSGSIZE: offer at least max_line + item_size_max + 4 KiB.
 */
struct records_msg {
	__u64 cookie;		/* the socket's struct records_attach cookie */
	__u32 len;		/* bytes following this header */
	__u16 type;		/* RECORDS_MSG_* */
	__u16 flags;		/* RECORDS_MSGF_* */
	__s32 error;		/* 0 or -errno (RECORDS_MSG_EOF, _ERROR, _SENT) */
	__u32 discard;		/* RECORDS_MSGF_DISCARD: data bytes dropped in the kernel */
};

/*
 * Message types.  EOF: the peer closed (error 0, or -ECONNRESET ...); the socket's last
 * message.  ERROR: framing failed and nothing more will be read from the socket
 * (-EMSGSIZE: a line too long; -EPROTO: not a binary request).
 */
#define RECORDS_MSG_REQUEST	1	/* one whole request */
#define RECORDS_MSG_EOF		2
#define RECORDS_MSG_ERROR	3

/*
 * SENT (sockets attached with RECORDS_ATTACH_TX_REPORT): the payload is a __u64, the
 * number of sends completed on the socket since it was attached (records_sock_info's
 * tx_done); sends complete in the order the socket writes them.  @error is the send
 * error that broke the socket and dropped its queue (-EPIPE, -ECONNRESET ...), else 0.
 * Reports coalesce: a read returns at most one SENT per socket, with the latest total,
 * however many sends completed since the last (a total may also come twice).  A
 * socket's SENT comes before its requests, so a read(2) of RECORDS_MSG_SIZE(8) bytes
 * takes the report without taking requests longer than 8 bytes (it fails with
 * EMSGSIZE when there is no report and the first request is longer).  A new report
 * wakes poll(2) even while requests wait unread.
 */
#define RECORDS_MSG_SENT	4

/*
 * The request's data block was too large to store (memcached's "SERVER_ERROR object
 * too large for cache"): the message carries only the command line (text) or the
 * header with its extras and key (binary), and the @discard bytes that followed
 * were dropped.
 */
#define RECORDS_MSGF_DISCARD	(1U << 0)

/*
 * The request's length was known (its line, or its binary header, was in) before all of
 * its bytes had arrived: memcached reads such a data block straight into the item and
 * writes out the replies it holds once the block is complete.
 */
#define RECORDS_MSGF_SPLIT	(1U << 1)

#define RECORDS_MSG_ALIGN	8
#define RECORDS_MSG_SIZE(len) \
	(((sizeof(struct records_msg) + (len)) + RECORDS_MSG_ALIGN - 1) & \
	 ~(__u64)(RECORDS_MSG_ALIGN - 1))

/* RECORDS_IOC_SOCK_INFO: the state of one attached socket (@sock_fd in, rest out). */
struct records_sock_info {
	__s32 sock_fd;
	__u32 flags;		/* attach flags */
	__u64 cookie;
	__u32 tx_queued;	/* sends queued, not started */
	__u32 tx_started;	/* 1 while a send is partly written */
	__u64 tx_started_sent;	/* bytes of it written */
	__u64 tx_started_len;	/* its length */
	__u64 tx_done;		/* sends completed on this socket */
	__u32 rx_msgs;		/* requests waiting for read(2) */
	__u32 rx_bytes;		/* their bytes */
	__u32 rx_paused;	/* 1 while rx_limit stops reading the socket */
	__s32 tx_error;		/* the send error that broke this socket, or 0 */
};

/*
 * RECORDS_IOC_RECORD_INFO, on a record fd.  page_refs is the sum of its pages'
 * reference counts: nr_pages when no socket buffer holds any of them, and one more
 * per page for every socket buffer that does.
 */
struct records_record_info {
	__u64 len;
	__u32 nr_pages;
	__u32 queued;		/* sends of it queued or in progress */
	__u64 page_refs;
};

/*
 * Counters, in RECORDS_IOC_STATS and one file each in
 * /sys/class/misc/records/stats/.  "_live" values are gauges, the rest only grow.
 */
#define RECORDS_STATS(X)	\
	X(records_live)		\
	X(record_pages_live)	\
	X(record_bytes_live)	\
	X(records_created)	\
	X(sessions_live)	\
	X(socks_live)		\
	X(socks_attached)	\
	X(socks_detached)	\
	X(socks_closed)		\
	X(sends)		\
	X(entries_live)		\
	X(entries_queued)	\
	X(entries_done)		\
	X(entries_unsent)	\
	X(entries_dropped)	\
	X(tx_bytes_zerocopy)	\
	X(tx_bytes_copied)	\
	X(tx_partial)		\
	X(tx_work_runs)		\
	X(tx_retries)		\
	X(tx_errors)		\
	X(rx_msgs)		\
	X(rx_bytes)		\
	X(rx_msgs_live)		\
	X(rx_discarded)		\
	X(rx_discarded_bytes)	\
	X(rx_errors)		\
	X(rx_eofs)		\
	X(rx_pauses)		\
	X(tx_reports)

struct records_stats {
#define RECORDS_STATS_FIELD(name) __u64 name;
	RECORDS_STATS(RECORDS_STATS_FIELD)
#undef RECORDS_STATS_FIELD
};

#define RECORDS_IOC_INIT	_IOW(RECORDS_IOC_MAGIC, 1, struct records_init)
#define RECORDS_IOC_SEND	_IOWR(RECORDS_IOC_MAGIC, 2, struct records_send)
#define RECORDS_IOC_UNSEND	_IOW(RECORDS_IOC_MAGIC, 3, struct records_unsend)
#define RECORDS_IOC_ATTACH	_IOW(RECORDS_IOC_MAGIC, 4, struct records_attach)
#define RECORDS_IOC_DETACH	_IOW(RECORDS_IOC_MAGIC, 5, __s32)
#define RECORDS_IOC_STATS	_IOR(RECORDS_IOC_MAGIC, 6, struct records_stats)
#define RECORDS_IOC_SOCK_INFO	_IOWR(RECORDS_IOC_MAGIC, 7, struct records_sock_info)
#define RECORDS_IOC_RECORD_INFO	_IOR(RECORDS_IOC_MAGIC, 8, struct records_record_info)

#endif /* _UAPI_LINUX_RECORDS_H */
