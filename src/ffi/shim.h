/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of nvmet_tcp_rs: helpers.c wraps static inlines and macros that Rust cannot call;
 * sock_callbacks.c holds the socket callbacks, which must run under sk_callback_lock.
 * No protocol logic lives here.
 */
#ifndef NVMET_TCP_RS_SHIM_H
#define NVMET_TCP_RS_SHIM_H

#include <linux/net.h>
#include <linux/scatterlist.h>
#include <linux/socket.h>
#include <linux/workqueue.h>

/*
 * What the owner of a socket does on its events, chosen by the owner's type when the callbacks
 * are attached; each gets the owner's reference (hooks->owner). ready: a connection to accept
 * (listener), or data or room to send (queue); closed: the connection closes (queue); attached:
 * the queue's callbacks are installed, still under write_lock_bh(sk_callback_lock). The others
 * run in softirq context under read_lock_bh(sk_callback_lock).
 */
struct nvmet_tcp_rs_sk_ops {
	void (*ready)(void *owner);
	void (*closed)(void *owner);
	void (*attached)(void *owner);
};

/*
 * Owned by the Rust socket object and stored in sk_user_data while the module's callbacks are
 * installed. owner is a reference on the object that owns the socket (a port or a queue);
 * the saved callbacks are the ones the socket had before.
 */
struct nvmet_tcp_rs_sk_hooks {
	void *owner;
	const struct nvmet_tcp_rs_sk_ops *ops;
	void (*data_ready)(struct sock *sk);
	void (*state_change)(struct sock *sk);
	void (*write_space)(struct sock *sk);
};

/* sock_callbacks.c */
int nvmet_tcp_rs_sock_attach_listener(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks,
				      void *owner, const struct nvmet_tcp_rs_sk_ops *ops);
int nvmet_tcp_rs_sock_attach_queue(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks,
				   void *owner, const struct nvmet_tcp_rs_sk_ops *ops);
void *nvmet_tcp_rs_sock_detach(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks);
void nvmet_tcp_rs_sock_setup_listener(struct socket *sock, int priority);
void nvmet_tcp_rs_sock_setup_queue(struct socket *sock, int priority);
int nvmet_tcp_rs_sock_cpu(struct socket *sock);
bool nvmet_tcp_rs_sock_idle(struct socket *sock);
void nvmet_tcp_rs_sock_linger_default(struct socket *sock);
int nvmet_tcp_rs_sock_recv_discard(struct socket *sock, size_t len);

/* helpers.c */
bool nvmet_tcp_rs_warn_ratelimit(void);

int nvmet_tcp_rs_addr_parse(u8 adrfam, const char *traddr, const char *trsvcid,
			    struct sockaddr_storage *addr);
bool nvmet_tcp_rs_addr_is_any(struct sockaddr_storage *addr);
int nvmet_tcp_rs_addr_format(char *buf, size_t len, const struct sockaddr_storage *addr);

struct workqueue_struct *nvmet_tcp_rs_alloc_wq(void);
bool nvmet_tcp_rs_work_pending(struct work_struct *work);

struct scatterlist *nvmet_tcp_rs_sgl_alloc(unsigned int len, bool highmem, unsigned int *nents);
struct page *nvmet_tcp_rs_sg_page(struct scatterlist *sg);
void *nvmet_tcp_rs_page_address(struct page *page);
bool nvmet_tcp_rs_page_is_highmem(struct page *page);

#endif /* NVMET_TCP_RS_SHIM_H */
