// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/records misc device: sessions, ioctls, counters.
 *
 * records: one buffer sent to many TCP sockets by page reference, queued per socket by
 * priority, continued from the socket's write-space callback; incoming memcached
 * requests framed in the kernel and delivered whole.  See include/uapi/records.h for
 * the interface and README.md for how it is used and tested.
 *
 * Every object holds a reference on this module (sessions and records through their
 * files, attached sockets directly), so it unloads only when none is left.
 */

#include <linux/device.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "records.h"

atomic64_t records_stats[RECORDS_NR_STATS];
struct workqueue_struct *records_wq;

/* Process context, no locks: the last reference (its file and every socket gone). */
static void records_session_free(struct kref *kref)
{
	struct records_session *sess = container_of(kref, struct records_session, kref);

	WARN_ON_ONCE(!list_empty(&sess->socks));
	kfree(sess);
	RECORDS_STATS_DECR(sessions_live);
}

/* Process context, no locks. */
void records_session_put(struct records_session *sess)
{
	kref_put(&sess->kref, records_session_free);
}

/* Process context: open(2) of /dev/records. */
static int records_open(struct inode *inode, struct file *file)
{
	struct records_session *sess;

	sess = kzalloc(sizeof(*sess), GFP_KERNEL_ACCOUNT);
	if (!sess)
		return -ENOMEM;
	kref_init(&sess->kref);
	spin_lock_init(&sess->lock);
	INIT_LIST_HEAD(&sess->socks);
	INIT_LIST_HEAD(&sess->ready);
	init_waitqueue_head(&sess->wait);
	mutex_init(&sess->read_mutex);
	file->private_data = sess;
	RECORDS_STATS_INCR(sessions_live);
	return stream_open(inode, file);
}

/*
 * Process context, no locks: the last close of a session, a process exit included.
 * Detaches every socket attached through it, waiting for their work.
 */
static int records_release(struct inode *inode, struct file *file)
{
	struct records_session *sess = file->private_data;
	struct records_sock *rsk;

	for (;;) {
		spin_lock_bh(&sess->lock);
		rsk = list_first_entry_or_null(&sess->socks, struct records_sock, sess_node);
		if (rsk) {
			refcount_inc(&rsk->ref);
			list_del_init(&rsk->sess_node);
		}
		spin_unlock_bh(&sess->lock);
		if (!rsk)
			break;
		records_sock_detach(rsk);
		records_sock_put(rsk);
	}
	records_session_put(sess);
	return 0;
}

/* Process context, no locks. */
static long records_stats_copy(struct records_stats __user *ustats)
{
	u64 v[RECORDS_NR_STATS];
	int i;

	BUILD_BUG_ON(sizeof(struct records_stats) != sizeof(v));
	for (i = 0; i < RECORDS_NR_STATS; i++)
		v[i] = atomic64_read(&records_stats[i]);
	return copy_to_user(ustats, v, sizeof(v)) ? -EFAULT : 0;
}

/* Process context, no locks. */
static long records_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct records_session *sess = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case RECORDS_IOC_INIT:
		return records_record_init(uarg);
	case RECORDS_IOC_SEND:
		return records_send(sess, uarg);
	case RECORDS_IOC_UNSEND:
		return records_unsend(sess, uarg);
	case RECORDS_IOC_ATTACH:
		return records_sock_attach(sess, uarg);
	case RECORDS_IOC_DETACH:
		return records_sock_detach_fd(sess, uarg);
	case RECORDS_IOC_STATS:
		return records_stats_copy(uarg);
	case RECORDS_IOC_SOCK_INFO:
		return records_sock_info(sess, uarg);
	default:
		return -ENOTTY;
	}
}

/* Process context, no locks: read(2), whole requests. */
static ssize_t records_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;

	return records_session_read(file->private_data, to,
				    (file->f_flags & O_NONBLOCK) ||
				    (iocb->ki_flags & IOCB_NOWAIT));
}

/* Process context, no locks. */
static __poll_t records_poll(struct file *file, poll_table *wait)
{
	struct records_session *sess = file->private_data;

	poll_wait(file, &sess->wait, wait);
	return records_session_readable(sess) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations records_fops = {
	.owner		= THIS_MODULE,
	.open		= records_open,
	.release	= records_release,
	.read_iter	= records_read_iter,
	.poll		= records_poll,
	.unlocked_ioctl	= records_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* /sys/class/misc/records/stats/<counter>, process context. */
#define RECORDS_STATS_ATTR(name)						\
static ssize_t name##_show(struct device *dev, struct device_attribute *attr,	\
			   char *buf)						\
{										\
	return sysfs_emit(buf, "%lld\n",					\
			  atomic64_read(&records_stats[RECORDS_STAT_##name]));	\
}										\
static DEVICE_ATTR_RO(name);
RECORDS_STATS(RECORDS_STATS_ATTR)
#undef RECORDS_STATS_ATTR

static struct attribute *records_stats_attrs[] = {
#define RECORDS_STATS_ATTR_PTR(name) &dev_attr_##name.attr,
	RECORDS_STATS(RECORDS_STATS_ATTR_PTR)
#undef RECORDS_STATS_ATTR_PTR
	NULL
};

static const struct attribute_group records_stats_group = {
	.name	= "stats",
	.attrs	= records_stats_attrs,
};

static const struct attribute_group *records_groups[] = {
	&records_stats_group,
	NULL
};

static struct miscdevice records_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "records",
	.fops	= &records_fops,
	.groups	= records_groups,
};

static int __init records_init(void)
{
	int err;

	records_wq = alloc_workqueue("records", WQ_UNBOUND, 0);
	if (!records_wq)
		return -ENOMEM;
	err = misc_register(&records_misc);
	if (err)
		goto out_wq;
	pr_info("records: /dev/records ready (pages sent by %s)\n",
		RECORDS_SPLICE_PAGES ? "sendmsg(MSG_SPLICE_PAGES)" : "sendpage");
	return 0;

out_wq:
	destroy_workqueue(records_wq);
	return err;
}

static void __exit records_exit(void)
{
	misc_deregister(&records_misc);
	/*
	 * No session, record or socket is left (each holds a module reference): their
	 * work is done.  Callbacks entered just before a detach restored the socket may
	 * still be returning from softirq context.
	 */
	destroy_workqueue(records_wq);
	synchronize_net();
}

module_init(records_init);
module_exit(records_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("recordcache");
MODULE_DESCRIPTION("records: one buffer sent to many TCP sockets, whole requests received");
