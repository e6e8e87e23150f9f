// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers of nvmet_tcp_rs: static inlines and macros of the kernel headers that Rust cannot
 * call, as plain functions (the rust_helper_* idea, with a module-private prefix), and the
 * data buffer allocation. No protocol logic and no socket callbacks live here.
 */
#include <linux/highmem.h>
#include <linux/inet.h>
#include <linux/nvme.h>
#include <linux/ratelimit.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "shim.h"

int nvmet_tcp_rs_addr_parse(u8 adrfam, const char *traddr, const char *trsvcid,
			    struct sockaddr_storage *addr)
{
	int af;

	switch (adrfam) {
	case NVMF_ADDR_FAMILY_IP4:
		af = AF_INET;
		break;
	case NVMF_ADDR_FAMILY_IP6:
		af = AF_INET6;
		break;
	default:
		return -EINVAL;
	}
	return inet_pton_with_scope(&init_net, af, traddr, trsvcid, addr);
}

bool nvmet_tcp_rs_addr_is_any(struct sockaddr_storage *addr)
{
	return inet_addr_is_any(addr);
}

int nvmet_tcp_rs_addr_format(char *buf, size_t len, const struct sockaddr_storage *addr)
{
	return snprintf(buf, len, "%pISc", addr);
}

/* Whether a warning that a host can cause at will may be logged now (the printk defaults). */
bool nvmet_tcp_rs_warn_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}

struct workqueue_struct *nvmet_tcp_rs_alloc_wq(void)
{
	return alloc_workqueue("nvmet_tcp_rs_wq", WQ_MEM_RECLAIM | WQ_HIGHPRI | WQ_PERCPU, 0);
}

/*
 * Whether @work is pending, ordered after everything its caller wrote before (smp_mb(), as
 * queue_work_on()'s test_and_set_bit() is): a pending work item has not yet cleared its
 * PENDING bit, which the workqueue does with a full barrier before the work function runs,
 * so the function sees those writes.
 */
bool nvmet_tcp_rs_work_pending(struct work_struct *work)
{
	smp_mb();
	return work_pending(work);
}

/*
 * sgl_alloc() with the pages from highmem if asked: sgl_alloc() passes its gfp to kmalloc()
 * for the table too, which must not get __GFP_HIGHMEM. Freed with sgl_free().
 */
struct scatterlist *nvmet_tcp_rs_sgl_alloc(unsigned int len, bool highmem, unsigned int *nents)
{
	const gfp_t gfp = GFP_KERNEL | __GFP_NOWARN;
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	struct scatterlist *sgl, *sg;

	if (!n)
		return NULL;
	sgl = kmalloc_array(n, sizeof(*sgl), gfp);
	if (!sgl)
		return NULL;
	sg_init_table(sgl, n);
	for_each_sg(sgl, sg, n, i) {
		unsigned int elen = min_t(unsigned int, len, PAGE_SIZE);
		struct page *page = alloc_page(gfp | (highmem ? __GFP_HIGHMEM : 0));

		if (!page) {
			sgl_free_n_order(sgl, i, 0);
			return NULL;
		}
		sg_set_page(sg, page, elen, 0);
		len -= elen;
	}
	*nents = n;
	return sgl;
}

struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg)
{
	return sg_page(sg);
}

void *nvmet_tcp_rs_page_address(struct page *page)
{
	return page_address(page);
}

bool nvmet_tcp_rs_page_is_highmem(struct page *page)
{
	return PageHighMem(page);
}
