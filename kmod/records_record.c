// SPDX-License-Identifier: GPL-2.0
/*
 * Records: bytes copied once into pages, immutable, sent by reference.
 *
 * A record's pages come from the page allocator (never slab memory, which sendpage
 * must not be given) and are never written after RECORDS_IOC_INIT returns.  Each
 * socket that sends them takes its own page references (tcp_build_frag's get_page),
 * so freeing the record while its bytes are in flight only drops the record's share.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "records.h"

/* Process context, no locks. */
static void records_record_free(struct records_record *rec)
{
	unsigned int i;

	for (i = 0; i < rec->nr_pages; i++)
		put_page(rec->pages[i]);
	RECORDS_STATS_ADD(record_pages_live, -(s64)rec->nr_pages);
	RECORDS_STATS_ADD(record_bytes_live, -(s64)rec->len);
	RECORDS_STATS_DECR(records_live);
	kvfree(rec);
}

/* Any context that may sleep; no locks. */
void records_record_put(struct records_record *rec)
{
	if (rec && refcount_dec_and_test(&rec->ref))
		records_record_free(rec);
}

/* Process context, no locks: copies @len bytes at @src into a new record. */
static struct records_record *records_record_create(const void __user *src, u64 len)
{
	unsigned int nr_pages = DIV_ROUND_UP(len, PAGE_SIZE);
	struct records_record *rec;
	unsigned int i;
	int err;

	rec = kvzalloc(struct_size(rec, pages, nr_pages), GFP_KERNEL_ACCOUNT);
	if (!rec)
		return ERR_PTR(-ENOMEM);
	refcount_set(&rec->ref, 1);
	atomic_set(&rec->queued, 0);
	rec->len = len;

	for (i = 0; i < nr_pages; i++) {
		size_t n = min_t(u64, len - (u64)i * PAGE_SIZE, PAGE_SIZE);
		struct page *page;
		void *dst;

		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!page) {
			err = -ENOMEM;
			goto out_free;
		}
		rec->pages[rec->nr_pages++] = page;

		dst = kmap_local_page(page);
		err = copy_from_user(dst, src + (size_t)i * PAGE_SIZE, n) ? -EFAULT : 0;
		/* The tail of the last page is never sent; do not leave old data there. */
		if (n < PAGE_SIZE)
			memset(dst + n, 0, PAGE_SIZE - n);
		kunmap_local(dst);
		if (err)
			goto out_free;

		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto out_free;
		}
		cond_resched();
	}

	RECORDS_STATS_INCR(records_live);
	RECORDS_STATS_INCR(records_created);
	RECORDS_STATS_ADD(record_pages_live, rec->nr_pages);
	RECORDS_STATS_ADD(record_bytes_live, rec->len);
	return rec;

out_free:
	while (rec->nr_pages)
		put_page(rec->pages[--rec->nr_pages]);
	kvfree(rec);
	return ERR_PTR(err);
}

/* Process context: the last close of a record fd (delRecord). */
static int records_record_release(struct inode *inode, struct file *file)
{
	records_record_put(file->private_data);
	return 0;
}

/* Process context, no locks. */
static long records_record_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct records_record *rec = file->private_data;
	struct records_record_info info = {};
	unsigned int i;

	if (cmd != RECORDS_IOC_RECORD_INFO)
		return -ENOTTY;

	info.len = rec->len;
	info.nr_pages = rec->nr_pages;
	info.queued = atomic_read(&rec->queued);
	for (i = 0; i < rec->nr_pages; i++)
		info.page_refs += page_count(rec->pages[i]);
	if (copy_to_user((void __user *)arg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/* Process context (seq_file). */
static void records_record_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct records_record *rec = file->private_data;

	seq_printf(m, "record-len:\t%llu\n", rec->len);
	seq_printf(m, "record-pages:\t%u\n", rec->nr_pages);
	seq_printf(m, "record-queued:\t%d\n", atomic_read(&rec->queued));
}

const struct file_operations records_record_fops = {
	.owner		= THIS_MODULE,
	.release	= records_record_release,
	.unlocked_ioctl	= records_record_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.show_fdinfo	= records_record_show_fdinfo,
	.llseek		= noop_llseek,
};

/* Process context, no locks: RECORDS_IOC_INIT.  Returns the new record's fd. */
long records_record_init(struct records_init __user *uarg)
{
	struct records_record *rec;
	struct records_init init;
	int fd;

	if (copy_from_user(&init, uarg, sizeof(init)))
		return -EFAULT;
	if (init.flags || init.reserved)
		return -EINVAL;
	if (init.len > RECORDS_RECORD_MAX)
		return -EFBIG;

	rec = records_record_create(u64_to_user_ptr(init.data), init.len);
	if (IS_ERR(rec))
		return PTR_ERR(rec);

	fd = anon_inode_getfd("[record]", &records_record_fops, rec, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		records_record_put(rec);
	return fd;
}

/* Process context, no locks: a reference to the record behind @fd. */
struct records_record *records_record_fget(int fd)
{
	struct records_record *rec;
	struct file *file;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	if (file->f_op != &records_record_fops) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	rec = file->private_data;
	refcount_inc(&rec->ref);
	fput(file);
	return rec;
}
