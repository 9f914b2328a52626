/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of the records module.
 *
 * Objects and their lifetimes:
 *
 *  records_record   immutable bytes in pages.  Referenced by its fd and by every
 *                   queued send; freed (its page references dropped) by the last.
 *                   Sockets' skbs hold their own page references, so bytes in flight
 *                   outlive the record.
 *  records_session  an open /dev/records.  Owns the sockets attached through it and
 *                   the requests they received; closing it detaches them all.
 *  records_sock     one attached TCP socket: saved callbacks, the send queue, the
 *                   strparser and the requests waiting for read(2).  Referenced by
 *                   the session (while attached) and briefly by ioctls and readers;
 *                   it holds the sock, the session and the module.
 *  records_entry    one queued send: [prefix][record slice][suffix].
 *
 * The code is split by object: records_main.c (device, sessions, counters),
 * records_record.c, records_sock.c (attach, callbacks, sending), records_rx.c
 * (strparser, read(2)) and records_parse.c (memcached framing).
 *
 * Locks, outermost first:
 *
 *  session->read_mutex  serialises readers of one session
 *  lock_sock(sk)        the lower socket: sending, strparser, attach/detach
 *  sk->sk_callback_lock callbacks vs. attach/detach (read side in the callbacks)
 *  rsk->tx_lock         the send queue
 *  session->lock        the session's socket and ready lists (BH-safe)
 *
 * Never hold two sockets' locks at once.
 */
#ifndef _RECORDS_H
#define _RECORDS_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/strparser.h>

#include "include/uapi/records.h"
#include "records_parse.h"

/* Counters: RECORDS_STAT_<name> indexes records_stats[]. */
enum records_stat {
#define RECORDS_STATS_ENUM(name) RECORDS_STAT_##name,
	RECORDS_STATS(RECORDS_STATS_ENUM)
#undef RECORDS_STATS_ENUM
	RECORDS_NR_STATS
};

extern atomic64_t records_stats[RECORDS_NR_STATS];

/*
 * The kernel-version switch: 6.5 replaced sendpage with sendmsg(MSG_SPLICE_PAGES).
 * Debian 12's own kernel is 6.1; bookworm-security also carries 6.12.
 */
#define RECORDS_SPLICE_PAGES	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0))

/* item_size_max and max_line: their sum must fit the socket's int sk_rcvbuf. */
#define RECORDS_ITEM_MAX	(512U << 20)

#define RECORDS_STATS_ADD(name, n) \
	atomic64_add((n), &records_stats[RECORDS_STAT_##name])
#define RECORDS_STATS_INCR(name) RECORDS_STATS_ADD(name, 1)
#define RECORDS_STATS_DECR(name) RECORDS_STATS_ADD(name, -1)

struct records_record {
	refcount_t ref;
	atomic_t queued;		/* entries referring to it */
	u64 len;
	unsigned int nr_pages;
	struct page *pages[];
};

struct records_prot;

struct records_session {
	struct kref kref;
	spinlock_t lock;		/* socks, ready */
	struct list_head socks;		/* attached records_sock */
	struct list_head ready;		/* records_sock with something to read */
	wait_queue_head_t wait;		/* readers, woken when ready gains a socket */
	struct mutex read_mutex;	/* one read(2) at a time: keeps requests in order */
};

struct records_entry {
	struct list_head list;		/* on rsk->tx_queue */
	struct records_record *rec;	/* NULL: prefix and suffix only */
	u64 off;			/* slice of rec */
	u64 len;
	u64 sent;			/* bytes of prefix + slice + suffix written */
	int priority;
	u32 prefix_len;
	u32 suffix_len;
	u8 bytes[];			/* prefix, then suffix */
};

/* records_sock flags */
enum {
	RSK_DEAD,			/* detached, or detaching */
	RSK_RX,				/* attached for receive (strparser running) */
	RSK_RX_EOF,			/* the peer is done sending */
	RSK_RX_ERR,			/* framing failed */
	RSK_RX_REPORTED,		/* EOF or error handed to the reader */
	RSK_TX_REPORT,			/* completed sends not yet reported (TX_REPORT) */
};

struct records_sock {
	refcount_t ref;
	unsigned long flags;		/* RSK_* */
	struct sock *sk;
	struct records_session *sess;
	struct list_head sess_node;	/* on sess->socks (sess->lock) */
	struct list_head ready_node;	/* on sess->ready (sess->lock) */
	u64 cookie;
	u32 attach_flags;

	/* Completed once detach has put the socket back as it found it. */
	struct completion unhooked;

	/* What attach replaced, put back by detach (sk_callback_lock). */
	struct records_prot *prot;	/* the proto installed in its place */
	void (*saved_data_ready)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	struct proto *saved_prot;

	/* Sending. */
	spinlock_t tx_lock;		/* tx_queue, tx_nr, tx_cur */
	struct list_head tx_queue;	/* by priority, then order of calls */
	unsigned int tx_nr;
	unsigned int tx_limit;
	size_t tx_copied;		/* prefix and suffix bytes on tx_queue */
	struct records_entry *tx_cur;	/* started: written whole before any other */
	bool tx_running;		/* in records_tx() (lower sock lock) */
	int tx_err;
	u64 tx_done;			/* reported by RECORDS_MSG_SENT */
	struct delayed_work tx_work;

	/* Receiving (lower sock lock, except the queue and counters). */
	struct strparser strp;
	struct rp_state parser;
	struct rp_msg rx_last;		/* what parse_msg framed, for rcv_msg */
	struct sk_buff_head rx_queue;	/* whole requests for read(2) */
	struct sk_buff_head rx_hold;	/* framed in the strparser's pass under way */
	atomic_t rx_msgs;
	atomic_t rx_bytes;
	u32 rx_limit;
	bool rx_paused;
	int rx_err;
};

extern struct workqueue_struct *records_wq;

/* records_record.c */
extern const struct file_operations records_record_fops;
long records_record_init(struct records_init __user *uarg);
struct records_record *records_record_fget(int fd);
void records_record_put(struct records_record *rec);

/* records_sock.c */
int records_sock_attach(struct records_session *sess, struct records_attach __user *uarg);
int records_sock_detach_fd(struct records_session *sess, int __user *ufd);
void records_sock_detach(struct records_sock *rsk);
void records_sock_put(struct records_sock *rsk);
struct records_sock *records_sock_fget(struct records_session *sess, int fd, int *err);
long records_send(struct records_session *sess, struct records_send __user *uarg);
long records_unsend(struct records_session *sess, struct records_unsend __user *uarg);
long records_sock_info(struct records_session *sess, struct records_sock_info __user *uarg);

/* records_rx.c */
extern const struct strp_callbacks records_strp_cb;
void records_rx_init(struct records_sock *rsk, const struct records_attach *a);
u32 records_rx_max_msg(const struct records_sock *rsk);
bool records_rx_check_messages(const struct records_attach *a);
void records_rx_data_ready(struct records_sock *rsk);
void records_rx_check_eof(struct records_sock *rsk);
void records_rx_purge(struct records_sock *rsk);
void records_rx_report_tx(struct records_sock *rsk);
ssize_t records_session_read(struct records_session *sess, struct iov_iter *to, bool nonblock);
bool records_session_readable(struct records_session *sess);

/* records_main.c */
void records_session_put(struct records_session *sess);

#endif /* _RECORDS_H */
