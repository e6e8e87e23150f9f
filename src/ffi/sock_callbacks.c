// SPDX-License-Identifier: GPL-2.0
/*
 * The socket side of nvmet_tcp_rs in C: the callbacks that the network stack calls, which must
 * take sk_callback_lock, their installation and removal, and socket options that have no
 * exported function. The callbacks only pass the owner's reference to Rust.
 */
#include <linux/uio.h>
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
		hooks->ops->ready(hooks->owner);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void nvmet_tcp_rs_data_ready(struct sock *sk)
{
	struct nvmet_tcp_rs_sk_hooks *hooks;

	read_lock_bh(&sk->sk_callback_lock);
	hooks = sk->sk_user_data;
	if (hooks) {
		hooks->data_ready(sk);
		hooks->ops->ready(hooks->owner);
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
		hooks->ops->ready(hooks->owner);
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
			hooks->ops->closed(hooks->owner);
			break;
		default:
			break;
		}
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

int nvmet_tcp_rs_sock_attach_listener(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks,
				      void *owner, const struct nvmet_tcp_rs_sk_ops *ops)
{
	struct sock *sk = sock->sk;
	int ret = 0;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data) {
		ret = -EBUSY;
	} else {
		hooks->owner = owner;
		hooks->ops = ops;
		hooks->data_ready = sk->sk_data_ready;
		sk->sk_user_data = hooks;
		sk->sk_data_ready = nvmet_tcp_rs_listen_data_ready;
	}
	write_unlock_bh(&sk->sk_callback_lock);
	return ret;
}

int nvmet_tcp_rs_sock_attach_queue(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks,
				   void *owner, const struct nvmet_tcp_rs_sk_ops *ops)
{
	struct sock *sk = sock->sk;
	int ret = 0;

	/*
	 * An accepted socket inherits the listener's sk_user_data and callbacks (sk_clone_lock()),
	 * so a set sk_user_data is not a sign of an earlier attach here: it is overwritten, as the
	 * C target does. The inherited data_ready does nothing on a socket that is not listening.
	 */
	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == hooks) {
		/* Attached already: saving our own callbacks would make them call themselves. */
		ret = -EBUSY;
	} else if (sk->sk_state != TCP_ESTABLISHED) {
		/* Already closing: do not even start consuming it. */
		ret = -ENOTCONN;
	} else {
		hooks->owner = owner;
		hooks->ops = ops;
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
		ops->attached(owner);
	}
	write_unlock_bh(&sk->sk_callback_lock);
	return ret;
}

/*
 * Restores the saved callbacks. Returns the owner's reference that the attach stored, or NULL
 * when the hooks were not attached; once this returns, no callback of ours runs for the socket.
 */
void *nvmet_tcp_rs_sock_detach(struct socket *sock, struct nvmet_tcp_rs_sk_hooks *hooks)
{
	struct sock *sk = sock->sk;
	void *owner = NULL;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == hooks) {
		owner = hooks->owner;
		hooks->owner = NULL;
		if (hooks->data_ready)
			sk->sk_data_ready = hooks->data_ready;
		if (hooks->state_change)
			sk->sk_state_change = hooks->state_change;
		if (hooks->write_space)
			sk->sk_write_space = hooks->write_space;
		sk->sk_user_data = NULL;
	}
	write_unlock_bh(&sk->sk_callback_lock);
	return owner;
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

/*
 * Nothing queued or in flight: a send that would block now failed to allocate, as the socket
 * has room. A snapshot without the socket lock.
 */
bool nvmet_tcp_rs_sock_idle(struct socket *sock)
{
	return tcp_rtx_and_write_queues_empty(sock->sk);
}

int nvmet_tcp_rs_sock_cpu(struct socket *sock)
{
	int cpu = READ_ONCE(sock->sk->sk_incoming_cpu);

	if (cpu < 0 || cpu >= nr_cpu_ids || !cpu_online(cpu))
		return WORK_CPU_UNBOUND;
	return cpu;
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
