// SPDX-License-Identifier: GPL-2.0
/*
 * C shim of nvmet_tcp_rs: wrappers for static inlines and macros of the kernel headers, and the
 * socket callbacks, which are called by the network stack and must take sk_callback_lock.
 * Everything else is in Rust (src/ffi.rs and the modules that use it).
 */
#include <linux/highmem.h>
#include <linux/slab.h>
#include <linux/inet.h>
#include <linux/ratelimit.h>
#include <linux/uio.h>
#include <linux/nvme.h>
#include <net/inet_sock.h>
#include <net/sock.h>
#include <net/tcp.h>
#include "shim.h"

static void nvmet_tcp_rs_listen_data_ready(struct sock *sk)
{
	struct nvmet_tcp_rs_sk_hooks *hooks;

	if (sk->sk_state != TCP_LISTEN)
		return;

	read_lock_bh(&sk->sk_callback_lock);
	hooks = sk->sk_user_data;
	if (hooks)
		nvmet_tcp_rs_port_accept_ready(hooks);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void nvmet_tcp_rs_data_ready(struct sock *sk)
{
	struct nvmet_tcp_rs_sk_hooks *hooks;

	read_lock_bh(&sk->sk_callback_lock);
	hooks = sk->sk_user_data;
	if (hooks) {
		hooks->data_ready(sk);
		nvmet_tcp_rs_queue_io_ready(hooks);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void nvmet_tcp_rs_write_space(struct sock *sk)
{
	struct nvmet_tcp_rs_sk_hooks *hooks;

	read_lock_bh(&sk->sk_callback_lock);
	hooks = sk->sk_user_data;
	if (hooks && sk_stream_is_writeable(sk)) {
		clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		nvmet_tcp_rs_queue_io_ready(hooks);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void nvmet_tcp_rs_state_change(struct sock *sk)
{
	struct nvmet_tcp_rs_sk_hooks *hooks;

	read_lock_bh(&sk->sk_callback_lock);
	hooks = sk->sk_user_data;
	if (hooks) {
		switch (sk->sk_state) {
		case TCP_FIN_WAIT1:
		case TCP_CLOSE_WAIT:
		case TCP_CLOSE:
			nvmet_tcp_rs_queue_sock_closed(hooks);
			break;
		default:
			break;
		}
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

int nvmet_tcp_rs_sock_attach_listener(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	hooks->data_ready = sk->sk_data_ready;
	sk->sk_user_data = hooks;
	sk->sk_data_ready = nvmet_tcp_rs_listen_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

int nvmet_tcp_rs_sock_attach_queue(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks)
{
	struct sock *sk = sock->sk;
	int ret = 0;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_state != TCP_ESTABLISHED) {
		/* Already closing: do not even start consuming it. */
		ret = -ENOTCONN;
	} else {
		hooks->data_ready = sk->sk_data_ready;
		hooks->state_change = sk->sk_state_change;
		hooks->write_space = sk->sk_write_space;
		sk->sk_user_data = hooks;
		sk->sk_data_ready = nvmet_tcp_rs_data_ready;
		sk->sk_state_change = nvmet_tcp_rs_state_change;
		sk->sk_write_space = nvmet_tcp_rs_write_space;
		/*
		 * Still under the lock: a close on another CPU cannot start the teardown (and free
		 * the queue) before the queue has armed its deadline and queued its I/O work.
		 */
		nvmet_tcp_rs_queue_attached(hooks);
	}
	write_unlock_bh(&sk->sk_callback_lock);
	return ret;
}

void nvmet_tcp_rs_sock_detach(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == hooks) {
		if (hooks->data_ready)
			sk->sk_data_ready = hooks->data_ready;
		if (hooks->state_change)
			sk->sk_state_change = hooks->state_change;
		if (hooks->write_space)
			sk->sk_write_space = hooks->write_space;
		sk->sk_user_data = NULL;
	}
	write_unlock_bh(&sk->sk_callback_lock);
}

void nvmet_tcp_rs_sock_setup_listener(struct socket *sock, int priority)
{
	sock_set_reuseaddr(sock->sk);
	tcp_sock_set_nodelay(sock->sk);
	if (priority > 0)
		sock_set_priority(sock->sk, priority);
}

void nvmet_tcp_rs_sock_setup_queue(struct socket *sock, int priority)
{
	struct inet_sock *inet = inet_sk(sock->sk);

	/*
	 * Drop whatever sits in the transmit queue on close, so that stale data is not sent
	 * should the connection come back before TCP times out.
	 */
	sock_no_linger(sock->sk);
	if (priority > 0)
		sock_set_priority(sock->sk, priority);
	if (inet->rcv_tos > 0)
		ip_sock_set_tos(sock->sk, inet->rcv_tos);
}

/*
 * Undoes the sock_no_linger() of nvmet_tcp_rs_sock_setup_queue(): the close that follows a
 * C2HTermReq delivers what is queued (the end of the PDU in flight and the C2HTermReq) instead
 * of throwing it away with a reset.
 */
void nvmet_tcp_rs_sock_linger_default(struct socket *sock)
{
	lock_sock(sock->sk);
	sock_reset_flag(sock->sk, SOCK_LINGER);
	release_sock(sock->sk);
}

int nvmet_tcp_rs_sock_cpu(struct socket *sock)
{
	int cpu = READ_ONCE(sock->sk->sk_incoming_cpu);

	if (cpu < 0 || cpu >= nr_cpu_ids || !cpu_online(cpu))
		return WORK_CPU_UNBOUND;
	return cpu;
}

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

/*
 * Receives and drops up to len bytes without copying them anywhere (a discarding iterator),
 * for the data of a command that was refused.
 */
int nvmet_tcp_rs_sock_recv_discard(struct socket *sock, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };

	iov_iter_discard(&msg.msg_iter, ITER_DEST, len);
	return sock_recvmsg(sock, &msg, MSG_DONTWAIT);
}

/* Whether a warning that a host can cause at will may be logged now (the printk defaults). */
bool nvmet_tcp_rs_warn_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}

void nvmet_tcp_rs_init_delayed_work(struct delayed_work *dwork, work_func_t func)
{
	INIT_DELAYED_WORK(dwork, func);
}

struct workqueue_struct *nvmet_tcp_rs_alloc_wq(void)
{
	return alloc_workqueue("nvmet_tcp_rs_wq", WQ_MEM_RECLAIM | WQ_HIGHPRI | WQ_PERCPU, 0);
}

bool nvmet_tcp_rs_llist_add(struct llist_node *node, struct llist_head *head)
{
	return llist_add(node, head);
}

struct llist_node *nvmet_tcp_rs_llist_del_all(struct llist_head *head)
{
	return llist_del_all(head);
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
