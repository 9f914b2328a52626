// SPDX-License-Identifier: GPL-2.0
/*
 * Attached TCP sockets and the per-socket send queue.
 *
 * Attaching a socket saves and replaces, under sk_callback_lock, its write-space and
 * state-change callbacks (and data-ready for receive), its proto (a copy whose close
 * detaches first, as kTLS and sockmap hook close) and its sk_user_data; a placeholder
 * ULP keeps kTLS and sockmap from stacking on top.  Detaching puts everything back.
 *
 * Each socket keeps a queue of sends ordered by priority, then by order of calls.  A
 * send that has written its first byte is finished whole before any other; one that has
 * not may still be removed (unsendRecord) or overtaken by a higher priority.  Record
 * pages are handed to TCP by reference: sendpage on 6.1, sendmsg(MSG_SPLICE_PAGES)
 * from 6.5; prefix and suffix bytes are copied.  When the socket is full the queue
 * waits for the write-space callback, which runs in softirq context and only queues
 * tx_work; the worker takes the socket lock and continues (net/kcm, net/tls).
 */

#include <linux/bitops.h>
#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <net/inet_connection_sock.h>
#include <net/tcp.h>

#include "records.h"

#define RECORDS_TX_LIMIT	65536
#define RECORDS_TX_COPY_LIMIT	(16U << 20)	/* prefix + suffix bytes queued per socket */
#define RECORDS_TX_RETRY	(HZ / 20)	/* when no ACK will call write_space */

/*
 * The one place that differs between kernels: handing record pages to TCP.
 * 6.1 has sendpage; 6.5 replaced it with sendmsg(MSG_SPLICE_PAGES), which also takes
 * several pages per call.
 */
#if RECORDS_SPLICE_PAGES
#define RECORDS_TX_PAGES	16
#define RECORDS_MSG_MORE	MSG_MORE
#else
#define RECORDS_TX_PAGES	1
#define RECORDS_MSG_MORE	(MSG_MORE | MSG_SENDPAGE_NOTLAST)
#endif
#define RECORDS_TX_SPAN		(RECORDS_TX_PAGES * PAGE_SIZE)

/* Lower sock lock held: writes @len bytes of @rec at @roff, within RECORDS_TX_SPAN. */
static int records_send_pages(struct sock *sk, struct records_record *rec, u64 roff,
			      size_t len, int flags)
{
#if RECORDS_SPLICE_PAGES
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };
	struct bio_vec bv[RECORDS_TX_PAGES];
	unsigned int n = 0;
	size_t done = 0;

	while (done < len) {
		u64 pos = roff + done;
		size_t chunk = min_t(size_t, len - done, PAGE_SIZE - offset_in_page(pos));

		bvec_set_page(&bv[n++], rec->pages[pos >> PAGE_SHIFT], chunk,
			      offset_in_page(pos));
		done += chunk;
	}
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, n, len);
	return tcp_sendmsg_locked(sk, &msg, len);
#else
	return tcp_sendpage_locked(sk, rec->pages[roff >> PAGE_SHIFT], offset_in_page(roff),
				   len, flags);
#endif
}

/* Lower sock lock held: writes (copies) @len bytes at @buf. */
static int records_send_bytes(struct sock *sk, const void *buf, size_t len, int flags)
{
	struct msghdr msg = { .msg_flags = flags };
	struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };

	iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &iov, 1, len);
	return tcp_sendmsg_locked(sk, &msg, len);
}

/* Process context, no locks. */
static void records_entry_free(struct records_entry *e)
{
	if (e->rec) {
		atomic_dec(&e->rec->queued);
		records_record_put(e->rec);
	}
	kvfree(e);
	RECORDS_STATS_DECR(entries_live);
}

/*
 * Lower sock lock held: writes what fits of @e.  Returns 0 once all of it is written,
 * -EAGAIN when the socket is full, or the socket's error.
 */
static int records_tx_entry(struct sock *sk, struct records_entry *e)
{
	const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	u64 head = e->prefix_len;
	u64 body = head + e->len;
	u64 total = body + e->suffix_len;

	while (e->sent < total) {
		u64 pos = e->sent;
		size_t n;
		int ret;

		if (pos < head) {
			n = head - pos;
			ret = records_send_bytes(sk, e->bytes + pos, n,
						 flags | (pos + n < total ? RECORDS_MSG_MORE : 0));
			if (ret > 0)
				RECORDS_STATS_ADD(tx_bytes_copied, ret);
		} else if (pos < body) {
			u64 roff = e->off + (pos - head);

			n = min_t(u64, body - pos, RECORDS_TX_SPAN - offset_in_page(roff));
			ret = records_send_pages(sk, e->rec, roff, n,
						 flags | (pos + n < total ? RECORDS_MSG_MORE : 0));
			if (ret > 0)
				RECORDS_STATS_ADD(tx_bytes_zerocopy, ret);
		} else {
			n = total - pos;
			ret = records_send_bytes(sk, e->bytes + e->prefix_len + (pos - body), n,
						 flags);
			if (ret > 0)
				RECORDS_STATS_ADD(tx_bytes_copied, ret);
		}
		if (ret <= 0)
			return ret ? ret : -EAGAIN;
		e->sent += ret;
	}
	return 0;
}

/*
 * rsk->tx_lock held: queues @e after every send of its priority or higher, or, @first,
 * before every send of its priority or lower (a send put back unstarted).
 */
static void records_tx_insert(struct records_sock *rsk, struct records_entry *e, bool first)
{
	struct records_entry *pos;

	if (first) {
		list_for_each_entry(pos, &rsk->tx_queue, list) {
			if (pos->priority <= e->priority) {
				list_add_tail(&e->list, &pos->list);
				goto out;
			}
		}
		list_add_tail(&e->list, &rsk->tx_queue);
	} else {
		list_for_each_entry_reverse(pos, &rsk->tx_queue, list) {
			if (pos->priority >= e->priority) {
				list_add(&e->list, &pos->list);
				goto out;
			}
		}
		list_add(&e->list, &rsk->tx_queue);
	}
out:
	WRITE_ONCE(rsk->tx_nr, rsk->tx_nr + 1);
	rsk->tx_copied += e->prefix_len + e->suffix_len;
}

/* rsk->tx_lock held: takes @e off the queue. */
static void records_tx_unlink(struct records_sock *rsk, struct records_entry *e)
{
	list_del_init(&e->list);
	WRITE_ONCE(rsk->tx_nr, rsk->tx_nr - 1);
	rsk->tx_copied -= e->prefix_len + e->suffix_len;
}

/*
 * Process context, no locks (the sends are not in progress): drops every queued send.
 * A nonzero err is recorded in the same critical section, so whoever sees the error also
 * sees the queue empty.
 */
static void records_tx_purge(struct records_sock *rsk, int err)
{
	struct records_entry *e, *tmp;
	LIST_HEAD(gone);

	spin_lock(&rsk->tx_lock);
	if (err)
		rsk->tx_err = err;
	list_splice_init(&rsk->tx_queue, &gone);
	WRITE_ONCE(rsk->tx_nr, 0);
	rsk->tx_copied = 0;
	if (rsk->tx_cur) {
		list_add(&rsk->tx_cur->list, &gone);
		WRITE_ONCE(rsk->tx_cur, NULL);
	}
	spin_unlock(&rsk->tx_lock);

	list_for_each_entry_safe(e, tmp, &gone, list) {
		list_del(&e->list);
		records_entry_free(e);
		RECORDS_STATS_INCR(entries_dropped);
	}
}

/* Any context: is anything waiting to be written? */
static bool records_tx_pending(const struct records_sock *rsk)
{
	return READ_ONCE(rsk->tx_cur) || READ_ONCE(rsk->tx_nr);
}

/*
 * Lower sock lock held (process context: the sender, or records_wq): writes queued
 * sends until the socket is full, and reports the ones it completed.
 */
static void records_tx(struct records_sock *rsk)
{
	struct sock *sk = rsk->sk;
	struct records_entry *e;
	bool done = false;
	int err = 0;

	if (test_bit(RSK_DEAD, &rsk->flags) || READ_ONCE(rsk->tx_err))
		return;

	WRITE_ONCE(rsk->tx_running, true);
	for (;;) {
		spin_lock(&rsk->tx_lock);
		e = rsk->tx_cur;
		if (!e) {
			e = list_first_entry_or_null(&rsk->tx_queue, struct records_entry, list);
			if (e) {
				records_tx_unlink(rsk, e);
				WRITE_ONCE(rsk->tx_cur, e);
			}
		}
		spin_unlock(&rsk->tx_lock);
		if (!e)
			break;

		err = records_tx_entry(sk, e);
		if (err)
			break;

		spin_lock(&rsk->tx_lock);
		WRITE_ONCE(rsk->tx_cur, NULL);
		rsk->tx_done++;
		spin_unlock(&rsk->tx_lock);
		records_entry_free(e);
		RECORDS_STATS_INCR(entries_done);
		done = true;
	}
	WRITE_ONCE(rsk->tx_running, false);

	if (err == -EAGAIN) {
		RECORDS_STATS_INCR(tx_partial);
		if (!e->sent) {
			/* Not started after all: it may still be unsent or overtaken. */
			spin_lock(&rsk->tx_lock);
			WRITE_ONCE(rsk->tx_cur, NULL);
			records_tx_insert(rsk, e, true);
			spin_unlock(&rsk->tx_lock);
		}
		/*
		 * write_space comes only when SOCK_NOSPACE was set and something is in
		 * flight; out of memory rather than out of buffer, nothing will call it.
		 */
		if (!sk->sk_socket || !test_bit(SOCK_NOSPACE, &sk->sk_socket->flags) ||
		    tcp_rtx_and_write_queues_empty(sk)) {
			RECORDS_STATS_INCR(tx_retries);
			queue_delayed_work(records_wq, &rsk->tx_work, RECORDS_TX_RETRY);
		}
	} else if (err) {
		/* The connection is broken (reset, shut down): nothing more can be sent. */
		RECORDS_STATS_INCR(tx_errors);
		records_tx_purge(rsk, err);
		done = true;
	}
	if (done)
		records_rx_report_tx(rsk);
}

/* Process context (records_wq); takes the lower sock lock. */
static void records_tx_work(struct work_struct *work)
{
	struct records_sock *rsk = container_of(to_delayed_work(work), struct records_sock,
						tx_work);

	RECORDS_STATS_INCR(tx_work_runs);
	lock_sock(rsk->sk);
	records_tx(rsk);
	release_sock(rsk->sk);
}

static void records_sk_write_space(struct sock *sk);

/*
 * sk_callback_lock held (either side): the records_sock of a socket this module has
 * hooked, or NULL.
 */
static struct records_sock *records_sk(const struct sock *sk)
{
	if (READ_ONCE(sk->sk_write_space) != records_sk_write_space)
		return NULL;
	return __locked_read_sk_user_data_with_flags(sk, 0);
}

/*
 * Softirq, or process context with the socket owned, bh_lock_sock held: space freed in
 * the send buffer.  Continue queued sends from the work queue; never here.
 */
static void records_sk_write_space(struct sock *sk)
{
	void (*write_space)(struct sock *sk);
	struct records_sock *rsk;

	read_lock_bh(&sk->sk_callback_lock);
	rsk = records_sk(sk);
	if (likely(rsk)) {
		write_space = rsk->saved_write_space;
		/* Inside records_tx() (tcp_sendmsg's own wakeup) the caller continues. */
		if (!READ_ONCE(rsk->tx_running) && records_tx_pending(rsk) &&
		    __sk_stream_is_writeable(sk, 1))
			mod_delayed_work(records_wq, &rsk->tx_work, 0);
	} else {
		write_space = READ_ONCE(sk->sk_write_space);
	}
	read_unlock_bh(&sk->sk_callback_lock);

	/* Poll waiters for POLLOUT, if the process has any, keep working. */
	if (write_space != records_sk_write_space)
		write_space(sk);
}

/* Softirq, or process context with the socket owned: the TCP state changed. */
static void records_sk_state_change(struct sock *sk)
{
	void (*state_change)(struct sock *sk);
	struct records_sock *rsk;

	read_lock_bh(&sk->sk_callback_lock);
	rsk = records_sk(sk);
	if (likely(rsk)) {
		state_change = rsk->saved_state_change;
		if (test_bit(RSK_RX, &rsk->flags))
			records_rx_check_eof(rsk);
		/* Reset or shut down: let the worker find out and drop the queue. */
		if ((sk->sk_err || (sk->sk_shutdown & SEND_SHUTDOWN)) && records_tx_pending(rsk))
			mod_delayed_work(records_wq, &rsk->tx_work, 0);
	} else {
		state_change = READ_ONCE(sk->sk_state_change);
	}
	read_unlock_bh(&sk->sk_callback_lock);

	if (state_change != records_sk_state_change)
		state_change(sk);
}

/* Softirq, or process context with the socket owned, bh_lock_sock held. */
static void records_sk_data_ready(struct sock *sk)
{
	void (*data_ready)(struct sock *sk) = NULL;
	struct records_sock *rsk;

	read_lock_bh(&sk->sk_callback_lock);
	rsk = records_sk(sk);
	if (likely(rsk))
		records_rx_data_ready(rsk);
	else
		data_ready = READ_ONCE(sk->sk_data_ready);
	read_unlock_bh(&sk->sk_callback_lock);

	if (data_ready && data_ready != records_sk_data_ready)
		data_ready(sk);
}

/*
 * Process context, no locks: close(2) of an attached socket's last file reference
 * (inet_release).  Detach first, so that nothing of ours runs on an orphaned socket
 * and every queued send is returned, then close as TCP would.
 */
static void records_sk_close(struct sock *sk, long timeout)
{
	void (*close)(struct sock *sk, long timeout);
	struct records_sock *rsk;

	read_lock_bh(&sk->sk_callback_lock);
	rsk = records_sk(sk);
	if (rsk)
		refcount_inc(&rsk->ref);
	read_unlock_bh(&sk->sk_callback_lock);

	if (rsk) {
		close = rsk->saved_prot->close;
		RECORDS_STATS_INCR(socks_closed);
		records_sock_detach(rsk);
	} else {
		/*
		 * Detached between our caller reading sk_prot and here: the proto is TCP's
		 * own again.  Nothing pins the module on this path; an rmmod finishing in
		 * this window would need the session closed and every reference dropped
		 * meanwhile.  kTLS has the same window, covered by its ULP module reference.
		 */
		close = READ_ONCE(sk->sk_prot)->close;
		if (close == records_sk_close)
			close = tcp_close;
	}
	close(sk, timeout);
	/* Last: the socket's reference keeps this module loaded until here. */
	if (rsk)
		records_sock_put(rsk);
}

/*
 * Our copies of TCP's protos (IPv4, IPv6), with close hooked.  Built on first use from
 * the first plain TCP socket of each family, as kTLS builds its protos.
 */
struct records_prot {
	const struct proto *base;
	struct proto prot;
};

static struct records_prot records_prots[2];
static DEFINE_MUTEX(records_prot_mutex);

/* A placeholder ULP: while attached, TCP_ULP (kTLS) answers EEXIST. */
static struct tcp_ulp_ops records_ulp_ops = {
	.name	= "records",
	.owner	= THIS_MODULE,
};

/* Process context; takes records_prot_mutex.  NULL when @sk is not plain TCP. */
static struct records_prot *records_prot_get(struct sock *sk)
{
	struct records_prot *p = &records_prots[sk->sk_family == AF_INET6];
	const struct proto *base = READ_ONCE(sk->sk_prot);

	/* Pairs with the release below: a published base comes with its copy. */
	if (smp_load_acquire(&p->base) == base)
		return p;
	/* sockmap, kTLS or we ourselves replace close. */
	if (base->close != tcp_close)
		return NULL;
	if (sk->sk_family == AF_INET && base != &tcp_prot)
		return NULL;

	mutex_lock(&records_prot_mutex);
	if (!p->base) {
		p->prot = *base;
		p->prot.close = records_sk_close;
		/* The copy is complete before anyone sees the base it belongs to. */
		smp_store_release(&p->base, base);
	}
	mutex_unlock(&records_prot_mutex);
	return p->base == base ? p : NULL;
}

/* Process context: the last reference. */
void records_sock_put(struct records_sock *rsk)
{
	if (!refcount_dec_and_test(&rsk->ref))
		return;
	/* Detach emptied both queues; a request framed while it ran may remain. */
	records_tx_purge(rsk, 0);
	records_rx_purge(rsk);
	sock_put(rsk->sk);
	records_session_put(rsk->sess);
	kfree(rsk);
	module_put(THIS_MODULE);
}

/*
 * Process context, no locks; sleeps.  Puts the socket's callbacks, proto and ULP back,
 * stops its strparser, flushes its work and returns every queued send and unread
 * request.  Safe against itself: the first caller detaches; later ones return once
 * the socket is TCP's own again (so that close(2) never runs TCP's close, and its
 * ULP cleanup, on a socket still hooked).
 */
void records_sock_detach(struct records_sock *rsk)
{
	struct records_session *sess = rsk->sess;
	bool rx = test_bit(RSK_RX, &rsk->flags);
	struct sock *sk = rsk->sk;
	bool stacked = false;

	if (test_and_set_bit(RSK_DEAD, &rsk->flags)) {
		wait_for_completion(&rsk->unhooked);
		return;
	}

	lock_sock(sk);
	write_lock_bh(&sk->sk_callback_lock);
	/*
	 * Put back only what is still ours.  If another layer has since hooked on top of
	 * us it will keep calling into this module, which must then stay loaded.
	 */
	if (rx) {
		if (sk->sk_data_ready == records_sk_data_ready)
			WRITE_ONCE(sk->sk_data_ready, rsk->saved_data_ready);
		else
			stacked = true;
	}
	if (sk->sk_write_space == records_sk_write_space)
		WRITE_ONCE(sk->sk_write_space, rsk->saved_write_space);
	else
		stacked = true;
	if (sk->sk_state_change == records_sk_state_change)
		WRITE_ONCE(sk->sk_state_change, rsk->saved_state_change);
	else
		stacked = true;
	if (sk->sk_prot == &rsk->prot->prot)
		WRITE_ONCE(sk->sk_prot, rsk->saved_prot);
	else
		stacked = true;
	if (inet_csk(sk)->icsk_ulp_ops == &records_ulp_ops)
		inet_csk(sk)->icsk_ulp_ops = NULL;
	rcu_assign_sk_user_data(sk, NULL);
	write_unlock_bh(&sk->sk_callback_lock);
	if (rx)
		strp_stop(&rsk->strp);
	release_sock(sk);
	complete_all(&rsk->unhooked);

	if (unlikely(stacked)) {
		pr_notice_once("records: a socket was hooked over ours; staying loaded\n");
		__module_get(THIS_MODULE);
	}

	/* Not under the socket lock: both wait for work that takes it. */
	if (rx)
		strp_done(&rsk->strp);
	cancel_delayed_work_sync(&rsk->tx_work);

	records_tx_purge(rsk, 0);
	records_rx_purge(rsk);

	spin_lock_bh(&sess->lock);
	list_del_init(&rsk->sess_node);
	list_del_init(&rsk->ready_node);
	spin_unlock_bh(&sess->lock);

	RECORDS_STATS_DECR(socks_live);
	RECORDS_STATS_INCR(socks_detached);
	records_sock_put(rsk);		/* attach's reference */
}

/*
 * Process context, no locks: the records_sock that @fd's socket is attached with, in
 * @sess, with a reference; NULL and *err (-EBADF, -ENOTSOCK, -ENOTCONN, -EBUSY) if none.
 */
struct records_sock *records_sock_fget(struct records_session *sess, int fd, int *err)
{
	struct records_sock *rsk;
	struct socket *sock;
	struct sock *sk;

	sock = sockfd_lookup(fd, err);
	if (!sock)
		return NULL;
	sk = sock->sk;

	read_lock_bh(&sk->sk_callback_lock);
	rsk = records_sk(sk);
	if (!rsk) {
		*err = -ENOTCONN;
	} else if (rsk->sess != sess) {
		*err = -EBUSY;
		rsk = NULL;
	} else if (test_bit(RSK_DEAD, &rsk->flags)) {
		*err = -ENOTCONN;
		rsk = NULL;
	} else {
		refcount_inc(&rsk->ref);
	}
	read_unlock_bh(&sk->sk_callback_lock);

	sockfd_put(sock);
	return rsk;
}

/* Process context, no locks: RECORDS_IOC_ATTACH. */
int records_sock_attach(struct records_session *sess, struct records_attach __user *uarg)
{
	struct records_attach a;
	struct records_sock *rsk;
	struct records_prot *p;
	struct socket *sock;
	struct sock *sk;
	bool rx;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~RECORDS_ATTACH_FLAGS)
		return -EINVAL;
	if (hweight32(a.flags & (RECORDS_ATTACH_TEXT | RECORDS_ATTACH_BINARY |
				 RECORDS_ATTACH_LENGTH | RECORDS_ATTACH_LINE)) > 1)
		return -EINVAL;
	if (a.item_size_max > RECORDS_ITEM_MAX || a.max_line > RECORDS_ITEM_MAX)
		return -EINVAL;
	if (records_rx_check_messages(&a))
		return -EINVAL;
	rx = a.flags & RECORDS_ATTACH_RECV;

	sock = sockfd_lookup(a.sock_fd, &err);
	if (!sock)
		return err;
	sk = sock->sk;

	err = -EOPNOTSUPP;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		goto out_put;
	err = -EBUSY;
	p = records_prot_get(sk);
	if (!p)
		goto out_put;

	err = -ENOMEM;
	rsk = kzalloc(sizeof(*rsk), GFP_KERNEL_ACCOUNT);
	if (!rsk)
		goto out_put;
	refcount_set(&rsk->ref, 1);
	rsk->sk = sk;
	rsk->sess = sess;
	rsk->prot = p;
	rsk->cookie = a.cookie;
	rsk->attach_flags = a.flags;
	INIT_LIST_HEAD(&rsk->sess_node);
	INIT_LIST_HEAD(&rsk->ready_node);
	init_completion(&rsk->unhooked);
	spin_lock_init(&rsk->tx_lock);
	INIT_LIST_HEAD(&rsk->tx_queue);
	rsk->tx_limit = a.tx_limit ?: RECORDS_TX_LIMIT;
	INIT_DELAYED_WORK(&rsk->tx_work, records_tx_work);
	skb_queue_head_init(&rsk->rx_queue);
	skb_queue_head_init(&rsk->rx_hold);
	if (rx) {
		records_rx_init(rsk, &a);
		set_bit(RSK_RX, &rsk->flags);
	}

	lock_sock(sk);
	err = -ENOTCONN;
	if (!((1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT)))
		goto out_unlock;

	write_lock_bh(&sk->sk_callback_lock);
	err = -EBUSY;
	if (sk->sk_user_data || inet_csk(sk)->icsk_ulp_ops || sk->sk_prot != p->base) {
		write_unlock_bh(&sk->sk_callback_lock);
		goto out_unlock;
	}

	sock_hold(sk);
	kref_get(&sess->kref);
	__module_get(THIS_MODULE);
	spin_lock_bh(&sess->lock);
	list_add_tail(&rsk->sess_node, &sess->socks);
	spin_unlock_bh(&sess->lock);

	rsk->saved_write_space = sk->sk_write_space;
	rsk->saved_state_change = sk->sk_state_change;
	rsk->saved_prot = sk->sk_prot;
	if (rx) {
		rsk->saved_data_ready = sk->sk_data_ready;
		/* strparser refuses requests larger than the receive buffer. */
		if (sk->sk_rcvbuf < (int)records_rx_max_msg(rsk))
			WRITE_ONCE(sk->sk_rcvbuf, (int)records_rx_max_msg(rsk));
	}
	__rcu_assign_sk_user_data_with_flags(sk, rsk, SK_USER_DATA_NOCOPY);
	inet_csk(sk)->icsk_ulp_ops = &records_ulp_ops;
	WRITE_ONCE(sk->sk_prot, &p->prot);
	WRITE_ONCE(sk->sk_state_change, records_sk_state_change);
	if (rx)
		WRITE_ONCE(sk->sk_data_ready, records_sk_data_ready);
	WRITE_ONCE(sk->sk_write_space, records_sk_write_space);
	write_unlock_bh(&sk->sk_callback_lock);
	release_sock(sk);

	RECORDS_STATS_INCR(socks_live);
	RECORDS_STATS_INCR(socks_attached);
	/* Requests that arrived before the socket was attached. */
	if (rx)
		strp_check_rcv(&rsk->strp);
	sockfd_put(sock);
	return 0;

out_unlock:
	release_sock(sk);
	kfree(rsk);
out_put:
	sockfd_put(sock);
	return err;
}

/* Process context, no locks: RECORDS_IOC_DETACH. */
int records_sock_detach_fd(struct records_session *sess, int __user *ufd)
{
	struct records_sock *rsk;
	int fd, err;

	if (get_user(fd, ufd))
		return -EFAULT;
	rsk = records_sock_fget(sess, fd, &err);
	if (!rsk)
		return err;
	records_sock_detach(rsk);
	records_sock_put(rsk);
	return 0;
}

/*
 * Process context, no locks; takes the socket lock to start writing.  Queues
 * [prefix][rec slice][suffix] on the socket of @d.  Returns 0 or -errno.
 */
static int records_send_one(struct records_session *sess, struct records_record *rec,
			    u64 off, u64 len, int priority, const struct records_dest *d)
{
	size_t affix = (size_t)d->prefix_len + d->suffix_len;
	struct records_sock *rsk;
	struct records_entry *e;
	bool idle;
	int err;

	if (affix > RECORDS_AFFIX_MAX)
		return -EMSGSIZE;
	rsk = records_sock_fget(sess, d->sock_fd, &err);
	if (!rsk)
		return err;

	err = -ENOMEM;
	e = kvmalloc(struct_size(e, bytes, affix), GFP_KERNEL_ACCOUNT);
	if (!e)
		goto out;
	RECORDS_STATS_INCR(entries_live);
	e->rec = NULL;
	if (copy_from_user(e->bytes, u64_to_user_ptr(d->prefix), d->prefix_len) ||
	    copy_from_user(e->bytes + d->prefix_len, u64_to_user_ptr(d->suffix),
			   d->suffix_len)) {
		err = -EFAULT;
		goto out_free;
	}
	e->prefix_len = d->prefix_len;
	e->suffix_len = d->suffix_len;
	e->off = off;
	e->len = len;
	e->sent = 0;
	e->priority = priority;
	if (rec) {
		refcount_inc(&rec->ref);
		atomic_inc(&rec->queued);
		e->rec = rec;
	}

	spin_lock(&rsk->tx_lock);
	idle = !rsk->tx_cur && list_empty(&rsk->tx_queue);
	if (test_bit(RSK_DEAD, &rsk->flags))
		err = -EPIPE;
	else if (rsk->tx_err)
		err = rsk->tx_err;
	else if (rsk->tx_nr >= rsk->tx_limit ||
		 rsk->tx_copied + affix > RECORDS_TX_COPY_LIMIT)
		err = -ENOBUFS;
	else
		err = 0;
	if (!err)
		records_tx_insert(rsk, e, false);
	spin_unlock(&rsk->tx_lock);
	if (err)
		goto out_free;
	RECORDS_STATS_INCR(entries_queued);

	/*
	 * An idle socket starts writing now, in the caller's context.  A busy one is
	 * continued by write_space (or the retry) of the send that made it busy.
	 */
	if (idle) {
		lock_sock(rsk->sk);
		records_tx(rsk);
		release_sock(rsk->sk);
	}
	goto out;

out_free:
	records_entry_free(e);
out:
	records_sock_put(rsk);
	return err;
}

/* Process context, no locks: RECORDS_IOC_SEND. */
long records_send(struct records_session *sess, struct records_send __user *uarg)
{
	struct records_dest __user *udests;
	struct records_record *rec = NULL;
	struct records_send s;
	u64 off = 0, len = 0;
	long queued = 0;
	long err = 0;
	u32 i;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	if (s.flags)
		return -EINVAL;
	if (s.ndests > RECORDS_DESTS_MAX)
		return -E2BIG;

	if (s.record_fd >= 0) {
		rec = records_record_fget(s.record_fd);
		if (IS_ERR(rec))
			return PTR_ERR(rec);
		err = -EINVAL;
		if (s.offset > rec->len)
			goto out;
		len = s.length == RECORDS_WHOLE ? rec->len - s.offset : s.length;
		if (len > rec->len - s.offset)
			goto out;
		off = s.offset;
		err = 0;
	} else if (s.record_fd != -1) {
		return -EBADF;
	} else if (s.offset || (s.length && s.length != RECORDS_WHOLE)) {
		return -EINVAL;
	}

	RECORDS_STATS_INCR(sends);
	udests = u64_to_user_ptr(s.dests);
	for (i = 0; i < s.ndests; i++) {
		struct records_dest d;
		int res;

		if (copy_from_user(&d, &udests[i], sizeof(d))) {
			err = -EFAULT;
			break;
		}
		res = records_send_one(sess, rec, off, len, s.priority, &d);
		if (put_user(res, &udests[i].result)) {
			err = -EFAULT;
			break;
		}
		if (!res)
			queued++;
		cond_resched();
	}
out:
	records_record_put(rec);
	return err ?: queued;
}

/* Process context, no locks: RECORDS_IOC_UNSEND. */
long records_unsend(struct records_session *sess, struct records_unsend __user *uarg)
{
	struct records_record *rec;
	struct records_unsend u;
	s32 __user *usocks;
	long removed = 0;
	long err = 0;
	int ignored;
	u32 i;

	if (copy_from_user(&u, uarg, sizeof(u)))
		return -EFAULT;
	if (u.nsocks > RECORDS_DESTS_MAX)
		return -E2BIG;
	rec = records_record_fget(u.record_fd);
	if (IS_ERR(rec))
		return PTR_ERR(rec);

	usocks = u64_to_user_ptr(u.socks);
	for (i = 0; i < u.nsocks; i++) {
		struct records_entry *e, *tmp;
		struct records_sock *rsk;
		LIST_HEAD(gone);
		int fd;

		if (get_user(fd, &usocks[i])) {
			err = -EFAULT;
			break;
		}
		/* Best effort: sockets not attached here have nothing to remove. */
		rsk = records_sock_fget(sess, fd, &ignored);
		if (!rsk)
			continue;

		/* The started send is rsk->tx_cur, never on the queue: it finishes whole. */
		spin_lock(&rsk->tx_lock);
		list_for_each_entry_safe(e, tmp, &rsk->tx_queue, list) {
			if (e->rec == rec) {
				records_tx_unlink(rsk, e);
				list_add_tail(&e->list, &gone);
			}
		}
		spin_unlock(&rsk->tx_lock);

		list_for_each_entry_safe(e, tmp, &gone, list) {
			list_del(&e->list);
			records_entry_free(e);
			RECORDS_STATS_INCR(entries_unsent);
			removed++;
		}
		records_sock_put(rsk);
		cond_resched();
	}
	records_record_put(rec);
	return err ?: removed;
}

/* Process context, no locks: RECORDS_IOC_SOCK_INFO. */
long records_sock_info(struct records_session *sess, struct records_sock_info __user *uarg)
{
	struct records_sock_info info;
	struct records_sock *rsk;
	int err;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	rsk = records_sock_fget(sess, info.sock_fd, &err);
	if (!rsk)
		return err;

	info.flags = rsk->attach_flags;
	info.cookie = rsk->cookie;
	spin_lock(&rsk->tx_lock);
	info.tx_queued = rsk->tx_nr;
	info.tx_started = !!rsk->tx_cur;
	info.tx_started_sent = rsk->tx_cur ? rsk->tx_cur->sent : 0;
	info.tx_started_len = rsk->tx_cur ? rsk->tx_cur->prefix_len + rsk->tx_cur->len +
					    rsk->tx_cur->suffix_len : 0;
	info.tx_done = rsk->tx_done;
	info.tx_error = rsk->tx_err;
	spin_unlock(&rsk->tx_lock);
	info.rx_msgs = atomic_read(&rsk->rx_msgs);
	info.rx_bytes = atomic_read(&rsk->rx_bytes);
	info.rx_paused = READ_ONCE(rsk->rx_paused);
	records_sock_put(rsk);

	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}
