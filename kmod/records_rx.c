// SPDX-License-Identifier: GPL-2.0
/*
 * Whole requests: a strparser per attached socket, and read(2) on the session.
 *
 * The socket's data-ready callback runs the strparser, which asks rp_frame() where each
 * memcached request ends and hands over one skb per whole request (rcv_msg).  Those
 * wait on the socket's rx_queue; the session is woken only when a socket gains
 * something to read, and read(2) returns whole requests of any number of sockets.
 * The requests of one pass of the strparser over the socket become readable together,
 * at its end (read_sock_done), with a framing error or the end of stream it met: the
 * reader sees at once all that arrived together, as memcached sees one read(2).
 *
 * Backpressure: past rx_limit bytes (or RECORDS_RX_MSGS requests) unread, the
 * strparser is paused, the socket's receive queue fills and TCP closes the window.
 * read(2) resumes it below half of that.
 *
 * A socket attached with RECORDS_ATTACH_TX_REPORT also reports its completed sends
 * here: records_tx() marks a report pending (RSK_TX_REPORT) and readies the socket, and
 * the next read carries one RECORDS_MSG_SENT with the running total, ahead of the
 * socket's requests.
 */

#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>
#include <net/tcp.h>

#include "records.h"

#define RECORDS_ITEM_DEFAULT	(1U << 20)
#define RECORDS_LINE_DEFAULT	(1U << 20)
#define RECORDS_MESSAGE_DEFAULT	(1U << 20)
#define RECORDS_RX_LIMIT	(4U << 20)
#define RECORDS_RX_MSGS		4096

/* Per-request data kept in the skb's control block, beside strparser's own. */
struct records_rx_cb {
	u32 discard;
	bool split;
};

static struct records_rx_cb *records_rx_cb(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct records_rx_cb) > offsetof(struct sk_skb_cb, strp));
	return (struct records_rx_cb *)skb->cb;
}

/* Any context: the largest request the parser can frame, which sk_rcvbuf must allow. */
u32 records_rx_max_msg(const struct records_sock *rsk)
{
	u32 body = max(rsk->parser.lim.item_size_max, rsk->parser.lim.message_max);

	return body + rsk->parser.lim.max_line + RP_BIN_HEAD_MAX + 65536;
}

/* Any context: whether @a's message framing settings are impossible (-EINVAL). */
bool records_rx_check_messages(const struct records_attach *a)
{
	u32 max_msg = a->message_max ?: RECORDS_MESSAGE_DEFAULT;
	u32 w = a->prefix_width;

	if (a->reserved)
		return true;
	if (!(a->flags & (RECORDS_ATTACH_LENGTH | RECORDS_ATTACH_LINE)))
		return a->message_max || a->prefix_offset || w || (a->flags & RECORDS_ATTACH_LE);
	if (max_msg > RECORDS_ITEM_MAX)
		return true;
	if (a->flags & RECORDS_ATTACH_LINE)
		return a->prefix_offset || w || (a->flags & RECORDS_ATTACH_LE);
	return (w != 1 && w != 2 && w != 4 && w != 8) || a->prefix_offset > max_msg - w;
}

/* Process context, before the socket is hooked. */
void records_rx_init(struct records_sock *rsk, const struct records_attach *a)
{
	/*
	 * The interface carries neither -S nor slab_chunk_max: frame binary SASL as served
	 * with no chunk limit, so a SASL value is dropped here only where memcached swallows
	 * it whatever those settings are.
	 */
	struct rp_limits lim = {
		.item_size_max	= a->item_size_max ?: RECORDS_ITEM_DEFAULT,
		.slab_chunk_max	= ~0U,
		.max_line	= a->max_line ?: RECORDS_LINE_DEFAULT,
		.cas		= a->flags & RECORDS_ATTACH_CAS,
		.sasl		= true,
	};
	u8 choice = RP_PROTO_AUTO;

	if (a->flags & RECORDS_ATTACH_TEXT)
		choice = RP_PROTO_TEXT;
	else if (a->flags & RECORDS_ATTACH_BINARY)
		choice = RP_PROTO_BINARY;
	if (a->flags & (RECORDS_ATTACH_LENGTH | RECORDS_ATTACH_LINE)) {
		/* Application messages: memcached's limits do not apply. */
		choice = a->flags & RECORDS_ATTACH_LENGTH ? RP_PROTO_LENGTH : RP_PROTO_LINE;
		lim.item_size_max = 0;
		lim.max_line = 0;
		lim.message_max = a->message_max ?: RECORDS_MESSAGE_DEFAULT;
		lim.prefix_offset = a->prefix_offset;
		lim.prefix_width = a->prefix_width;
		lim.prefix_le = a->flags & RECORDS_ATTACH_LE;
	}
	rp_init(&rsk->parser, choice, &lim);
	rsk->rx_limit = a->rx_limit ?: RECORDS_RX_LIMIT;
	atomic_set(&rsk->rx_msgs, 0);
	atomic_set(&rsk->rx_bytes, 0);
	strp_init(&rsk->strp, rsk->sk, &records_strp_cb);
}

/*
 * Softirq or process context (under a lower sock lock, or with the socket owned): puts
 * @rsk on the session's ready list and wakes the readers if it was not there, or
 * always with @wake (something new that a reader holding requests back still wants).
 */
static void records_rx_ready(struct records_sock *rsk, bool wake)
{
	struct records_session *sess = rsk->sess;

	spin_lock_bh(&sess->lock);
	if (test_bit(RSK_DEAD, &rsk->flags)) {
		wake = false;
	} else if (list_empty(&rsk->ready_node)) {
		list_add_tail(&rsk->ready_node, &sess->ready);
		wake = true;
	}
	spin_unlock_bh(&sess->lock);
	if (wake)
		wake_up_interruptible_poll(&sess->wait, EPOLLIN | EPOLLRDNORM);
}

/*
 * Process context, lower sock lock held (records_tx): sends completed, or the queue was
 * dropped on an error.  One pending report stands for any number of them, so a reader
 * is woken once per report it takes, not once per send.
 */
void records_rx_report_tx(struct records_sock *rsk)
{
	if (!(rsk->attach_flags & RECORDS_ATTACH_TX_REPORT))
		return;
	/* Fully ordered: the tx_done it reports was updated before (under tx_lock). */
	if (test_and_set_bit(RSK_TX_REPORT, &rsk->flags))
		return;
	records_rx_ready(rsk, true);
}

/* skb_copy_bits() for rp_frame(); the strparser's head skb holds the message. */
static void records_rx_copy_bits(const struct rp_input *in, u32 off, void *to, u32 len)
{
	if (WARN_ON_ONCE(skb_copy_bits(in->priv, in->base + off, to, len)))
		memset(to, 0, len);
}

/* Lower sock lock held: where the request at the head skb's offset ends. */
static int records_rx_parse_msg(struct strparser *strp, struct sk_buff *skb)
{
	struct records_sock *rsk = container_of(strp, struct records_sock, strp);
	struct rp_input in = {
		.copy	= records_rx_copy_bits,
		.priv	= skb,
		.base	= strp_msg(skb)->offset,
		.avail	= skb->len - strp_msg(skb)->offset,
	};

	return rp_frame(&rsk->parser, &in, &rsk->rx_last);
}

/* Lower sock lock held: one whole request (or a piece of a dropped data block). */
static void records_rx_rcv_msg(struct strparser *strp, struct sk_buff *skb)
{
	struct records_sock *rsk = container_of(strp, struct records_sock, strp);
	u32 len = strp_msg(skb)->full_len;

	if (rsk->rx_last.kind == RP_DROP) {
		RECORDS_STATS_ADD(rx_discarded_bytes, len);
		consume_skb(skb);
		return;
	}

	records_rx_cb(skb)->discard = rsk->rx_last.discard;
	records_rx_cb(skb)->split = rsk->rx_last.split;
	if (rsk->rx_last.discard)
		RECORDS_STATS_INCR(rx_discarded);
	skb_queue_tail(&rsk->rx_hold, skb);
	atomic_inc(&rsk->rx_msgs);
	atomic_add(len, &rsk->rx_bytes);
	RECORDS_STATS_INCR(rx_msgs);
	RECORDS_STATS_INCR(rx_msgs_live);
	RECORDS_STATS_ADD(rx_bytes, len);

	if (atomic_read(&rsk->rx_bytes) >= rsk->rx_limit ||
	    atomic_read(&rsk->rx_msgs) >= RECORDS_RX_MSGS) {
		WRITE_ONCE(rsk->rx_paused, true);
		strp_pause(strp);
		RECORDS_STATS_INCR(rx_pauses);
	}
}

/*
 * Lower sock lock held: the requests this pass framed become readable, all at once, and
 * with them the end of the stream (@end_bit RSK_RX_ERR or RSK_RX_EOF, else -1) that
 * followed them: under the queue's lock, so that a reader emptying the queue either
 * takes none of them or sees the end too.
 */
static void records_rx_publish(struct records_sock *rsk, int end_bit, int err)
{
	unsigned long flags;

	if (skb_queue_empty(&rsk->rx_hold) && end_bit < 0)
		return;
	spin_lock_irqsave(&rsk->rx_queue.lock, flags);
	skb_queue_splice_tail_init(&rsk->rx_hold, &rsk->rx_queue);
	if (end_bit >= 0) {
		WRITE_ONCE(rsk->rx_err, err);
		/* The requests queued before it, and rx_err, are seen before the flag. */
		smp_mb__before_atomic();
		set_bit(end_bit, &rsk->flags);
	}
	spin_unlock_irqrestore(&rsk->rx_queue.lock, flags);
	records_rx_ready(rsk, false);
}

/* Lower sock lock held: framing failed (or the assembly timer, SO_RCVTIMEO, fired). */
static void records_rx_abort(struct strparser *strp, int err)
{
	struct records_sock *rsk = container_of(strp, struct records_sock, strp);

	strp_stop(strp);
	records_rx_publish(rsk, RSK_RX_ERR, err);
	RECORDS_STATS_INCR(rx_errors);
}

/*
 * Lower sock lock held, or from the socket's callbacks: once the peer has finished
 * sending and every byte it sent has been framed, the reader is told, after the last
 * request.  A partial request left in the strparser is dropped with the connection.
 */
void records_rx_check_eof(struct records_sock *rsk)
{
	struct sock *sk = rsk->sk;
	int err = READ_ONCE(sk->sk_err);

	if (test_bit(RSK_RX_EOF, &rsk->flags) || test_bit(RSK_RX_ERR, &rsk->flags))
		return;
	if (!err) {
		if (!(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
		    READ_ONCE(sk->sk_state) != TCP_CLOSE)
			return;
		if (tcp_inq(sk))
			return;
	}
	records_rx_publish(rsk, RSK_RX_EOF, -err);
	RECORDS_STATS_INCR(rx_eofs);
}

/* Lower sock lock held: after each pass of the strparser over the socket. */
static int records_rx_read_sock_done(struct strparser *strp, int err)
{
	struct records_sock *rsk = container_of(strp, struct records_sock, strp);

	records_rx_publish(rsk, -1, 0);
	records_rx_check_eof(rsk);
	return err;
}

const struct strp_callbacks records_strp_cb = {
	.parse_msg	= records_rx_parse_msg,
	.rcv_msg	= records_rx_rcv_msg,
	.read_sock_done	= records_rx_read_sock_done,
	.abort_parser	= records_rx_abort,
};

/* Softirq, or process context with the socket owned; sk_callback_lock read-held. */
void records_rx_data_ready(struct records_sock *rsk)
{
	if (!test_bit(RSK_RX, &rsk->flags))
		return;
	strp_data_ready(&rsk->strp);
	records_rx_check_eof(rsk);
}

/* Process context, no locks: drops every request not yet read. */
void records_rx_purge(struct records_sock *rsk)
{
	struct sk_buff *skb;

	skb_queue_splice_tail_init(&rsk->rx_hold, &rsk->rx_queue);
	while ((skb = skb_dequeue(&rsk->rx_queue))) {
		atomic_dec(&rsk->rx_msgs);
		atomic_sub(strp_msg(skb)->full_len, &rsk->rx_bytes);
		RECORDS_STATS_DECR(rx_msgs_live);
		kfree_skb(skb);
	}
}

/* Any context: does @rsk have something for the reader? */
static bool records_rx_pending(struct records_sock *rsk)
{
	if (!skb_queue_empty_lockless(&rsk->rx_queue))
		return true;
	if (test_bit(RSK_TX_REPORT, &rsk->flags) && !test_bit(RSK_DEAD, &rsk->flags))
		return true;
	return (test_bit(RSK_RX_EOF, &rsk->flags) || test_bit(RSK_RX_ERR, &rsk->flags)) &&
	       !test_bit(RSK_RX_REPORTED, &rsk->flags);
}

/*
 * Process context, session->read_mutex held; takes rsk->tx_lock: copies @rsk's pending
 * RECORDS_MSG_SENT into @to.  Returns the bytes copied (0 when none is pending), or
 * -errno; *@full when @to has no room for it.
 */
static ssize_t records_rx_copy_report(struct records_sock *rsk, struct iov_iter *to, bool *full)
{
	struct records_msg hdr = {
		.cookie	= rsk->cookie,
		.len	= sizeof(u64),
		.type	= RECORDS_MSG_SENT,
	};
	const size_t size = RECORDS_MSG_SIZE(sizeof(u64));
	u64 done;

	BUILD_BUG_ON(RECORDS_MSG_SIZE(sizeof(done)) != sizeof(hdr) + sizeof(done));
	if (!test_bit(RSK_TX_REPORT, &rsk->flags))
		return 0;
	if (size > iov_iter_count(to)) {
		*full = true;
		return -EMSGSIZE;
	}
	/* Fully ordered: a send completed after this sets the bit again. */
	if (!test_and_clear_bit(RSK_TX_REPORT, &rsk->flags))
		return 0;
	/* Detach dropped the queue: nothing is reported of a dead socket. */
	if (test_bit(RSK_DEAD, &rsk->flags))
		return 0;

	spin_lock(&rsk->tx_lock);
	done = rsk->tx_done;
	hdr.error = rsk->tx_err;
	spin_unlock(&rsk->tx_lock);
	if (copy_to_iter(&hdr, sizeof(hdr), to) != sizeof(hdr) ||
	    copy_to_iter(&done, sizeof(done), to) != sizeof(done)) {
		set_bit(RSK_TX_REPORT, &rsk->flags);
		return -EFAULT;
	}
	RECORDS_STATS_INCR(tx_reports);
	return size;
}

/*
 * Process context, session->read_mutex held: copies @rsk's report of completed sends,
 * then its requests, then its end of stream, into @to.  Returns the bytes copied, or
 * -errno when nothing was; *@full when @to ran out of room.
 */
static ssize_t records_rx_copy(struct records_sock *rsk, struct iov_iter *to, bool *full)
{
	struct records_msg hdr = { .cookie = rsk->cookie };
	struct sk_buff *skb;
	size_t copied;
	ssize_t ret;

	/* First, so that a reader holding requests back can still take it. */
	ret = records_rx_copy_report(rsk, to, full);
	if (ret < 0)
		return ret;
	copied = ret;

again:
	while ((skb = skb_dequeue(&rsk->rx_queue))) {
		u32 len = strp_msg(skb)->full_len;
		size_t size = RECORDS_MSG_SIZE(len);
		u32 discard = records_rx_cb(skb)->discard;
		bool split = records_rx_cb(skb)->split;

		if (size > iov_iter_count(to)) {
			skb_queue_head(&rsk->rx_queue, skb);
			*full = true;
			return copied ?: -EMSGSIZE;
		}
		hdr.len = len;
		hdr.type = RECORDS_MSG_REQUEST;
		hdr.flags = (discard ? RECORDS_MSGF_DISCARD : 0) | (split ? RECORDS_MSGF_SPLIT : 0);
		hdr.error = 0;
		hdr.discard = discard;
		if (copy_to_iter(&hdr, sizeof(hdr), to) != sizeof(hdr) ||
		    skb_copy_datagram_iter(skb, strp_msg(skb)->offset, to, len) ||
		    iov_iter_zero(size - sizeof(hdr) - len, to) != size - sizeof(hdr) - len) {
			skb_queue_head(&rsk->rx_queue, skb);
			return copied ?: -EFAULT;
		}
		atomic_dec(&rsk->rx_msgs);
		atomic_sub(len, &rsk->rx_bytes);
		RECORDS_STATS_DECR(rx_msgs_live);
		consume_skb(skb);
		copied += size;
	}

	if ((test_bit(RSK_RX_EOF, &rsk->flags) || test_bit(RSK_RX_ERR, &rsk->flags)) &&
	    !test_bit(RSK_RX_REPORTED, &rsk->flags)) {
		/* Pairs with smp_mb__before_atomic() before the flag was set. */
		smp_mb__after_atomic();
		if (!skb_queue_empty_lockless(&rsk->rx_queue))
			goto again;
		if (sizeof(hdr) > iov_iter_count(to)) {
			*full = true;
			return copied ?: -EMSGSIZE;
		}
		hdr.len = 0;
		hdr.type = test_bit(RSK_RX_ERR, &rsk->flags) ? RECORDS_MSG_ERROR :
							      RECORDS_MSG_EOF;
		hdr.flags = 0;
		hdr.error = READ_ONCE(rsk->rx_err);
		hdr.discard = 0;
		if (copy_to_iter(&hdr, sizeof(hdr), to) != sizeof(hdr))
			return copied ?: -EFAULT;
		set_bit(RSK_RX_REPORTED, &rsk->flags);
		copied += RECORDS_MSG_SIZE(0);
	}
	return copied;
}

/* Process context, no locks but the reader's; takes the lower sock lock. */
static void records_rx_maybe_unpause(struct records_sock *rsk)
{
	if (!READ_ONCE(rsk->rx_paused) ||
	    atomic_read(&rsk->rx_bytes) > rsk->rx_limit / 2 ||
	    atomic_read(&rsk->rx_msgs) > RECORDS_RX_MSGS / 2)
		return;

	lock_sock(rsk->sk);
	/* Detach stops the strparser under this lock: never resume one after that. */
	if (rsk->rx_paused && !test_bit(RSK_DEAD, &rsk->flags) && !rsk->strp.stopped) {
		WRITE_ONCE(rsk->rx_paused, false);
		__strp_unpause(&rsk->strp);
		records_rx_check_eof(rsk);
	}
	release_sock(rsk->sk);
}

/* Process context, session->read_mutex held: one pass over the ready sockets. */
static ssize_t records_session_read_ready(struct records_session *sess, struct iov_iter *to)
{
	ssize_t copied = 0;

	for (;;) {
		struct records_sock *rsk;
		bool full = false;
		ssize_t ret;

		spin_lock_bh(&sess->lock);
		rsk = list_first_entry_or_null(&sess->ready, struct records_sock, ready_node);
		if (rsk)
			refcount_inc(&rsk->ref);
		spin_unlock_bh(&sess->lock);
		if (!rsk)
			break;

		ret = records_rx_copy(rsk, to, &full);
		if (ret > 0)
			copied += ret;

		spin_lock_bh(&sess->lock);
		if (!list_empty(&rsk->ready_node)) {
			/* Out of room: the others go first next time. */
			if (full || records_rx_pending(rsk))
				list_move_tail(&rsk->ready_node, &sess->ready);
			else
				list_del_init(&rsk->ready_node);
		}
		spin_unlock_bh(&sess->lock);

		records_rx_maybe_unpause(rsk);
		records_sock_put(rsk);
		if (ret < 0 || full) {
			if (!copied)
				copied = ret;
			break;
		}
	}
	return copied;
}

/* Any context: does a read(2) of @sess have something to return? */
bool records_session_readable(struct records_session *sess)
{
	return !list_empty(&sess->ready);
}

/*
 * Process context, no locks: read(2) on a session.  Blocks (unless @nonblock) until a
 * socket has a whole request, an end of stream or an error for the reader.
 */
ssize_t records_session_read(struct records_session *sess, struct iov_iter *to, bool nonblock)
{
	ssize_t ret;

	if (iov_iter_count(to) < sizeof(struct records_msg))
		return -EINVAL;
	if (mutex_lock_interruptible(&sess->read_mutex))
		return -ERESTARTSYS;
	for (;;) {
		ret = records_session_read_ready(sess, to);
		if (ret)
			break;
		if (nonblock) {
			ret = -EAGAIN;
			break;
		}
		mutex_unlock(&sess->read_mutex);
		ret = wait_event_interruptible(sess->wait, records_session_readable(sess));
		if (ret)
			return ret;
		if (mutex_lock_interruptible(&sess->read_mutex))
			return -ERESTARTSYS;
	}
	mutex_unlock(&sess->read_mutex);
	return ret;
}
