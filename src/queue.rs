// SPDX-License-Identifier: GPL-2.0

//! A queue: one TCP connection, which is one nvmet submission/completion queue pair.
//!
//! The I/O work runs on the CPU that receives the connection's packets and alternates bounded
//! receive and send passes. Completions arrive from any context (even hard IRQ) on a lock-free
//! list. The teardown runs once, on the core's workqueue: it restores the socket callbacks,
//! cancels the I/O work, drops commands that will never execute, waits for the in-flight ones
//! and frees the queue.

mod deadline;
mod list;
mod recv;
mod send;

use self::list::CmdList;
use crate::{
    command::{
        Cmd,
        Life, //
    },
    ffi::{
        self,
        llist::LList,
        nvmet::{
            self,
            QueuePair, //
        },
        socket::{
            kvec_storage,
            KvecStorage,
            SkHooks,
            SockAddr,
            Socket, //
        },
        sys,
        work::{
            RawDelayedWork,
            RawWork, //
        },
    },
    port::Port,
    proto::{
        digest::DataDigest,
        pdu::{
            ConnState,
            IC_HLEN,
            MAXH2CDATA, //
            MAX_HEADER_LEN,
        },
        r2t::{
            self,
            R2tBudget,
            CONNECT_TTAG,
            NVME_STATUS_DNR, //
        },
        sgl::RecvState,
        tx::Tx,
    },
    stats::STATS,
    transport::{
        self,
        KernelCrc, //
    },
};
use core::cell::UnsafeCell;
use kernel::{
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Full,
        Relaxed,
        Release, //
    },
};

/// Receive operations per pass of the I/O work.
const RECV_BUDGET: u32 = 8;
/// Send operations per pass.
const SEND_BUDGET: u32 = 8;
/// Operations per run of the I/O work before it yields the CPU.
const IO_WORK_BUDGET: u32 = 64;
/// Queues of one controller that may be tearing down before a new admin queue is refused.
const MAX_DISCONNECTING: usize = 128;
/// How much of what a host sent after a fatal error is dropped before closing.
const DRAIN_PASSES: u32 = 16;
const DRAIN_BYTES: usize = 1 << 20;
/// The most data a queue may have asked for with R2Ts and not received yet: two of the
/// largest commands. Beyond it, writes wait for their R2T.
const R2T_BYTES_PER_QUEUE: u32 = 2 * MAXH2CDATA;

/// Queue states (`state`).
const CONNECTING: i32 = 0;
const LIVE: i32 = 1;
const DISCONNECTING: i32 = 2;

/// The receive side's state, touched only by the I/O work.
struct RecvSide {
    /// Byte accounting of the current PDU.
    rx: RecvState,
    /// The header being received, with its digest.
    hdr: [u8; MAX_HEADER_LEN + 4],
    /// The command whose data is being received, or NULL to skip the data.
    cmd: *const Cmd,
    /// Where the next data byte goes in the command's buffer.
    offset: u32,
    /// The data digest of the current PDU so far.
    digest: DataDigest<KernelCrc>,
    /// The received data digest.
    ddgst: [u8; 4],
    /// How much of the header buffer holds the current PDU's header, for a C2HTermReq.
    echo: usize,
    /// A fatal error happened: nothing more is received.
    dead: bool,
    /// Storage for receive buffer lists.
    iov: KvecStorage,
}

/// The send side's state, touched only by the I/O work.
struct SendSide {
    /// The command being sent.
    cur: *const Cmd,
    /// Completed commands whose data or response is to be sent.
    ready: CmdList,
    /// Writes waiting for their R2T (and their data buffer).
    r2t_wait: CmdList,
    /// The data asked for with R2Ts and not received yet.
    r2t_budget: R2tBudget,
    /// The ICResp, sent before anything else.
    ctrl: [u8; IC_HLEN],
    ctrl_len: usize,
    ctrl_sent: usize,
}

/// State only the I/O work touches.
struct IoState {
    conn: ConnState,
    recv: RecvSide,
    send: SendSide,
    /// The order of what is sent: whole PDUs, and a C2HTermReq only between two.
    tx: Tx,
    /// When the idle-poll period ends, in jiffies.
    poll_end: usize,
}

/// The command slots, installed once by the Connect command.
struct Slots {
    cmds: KVVec<Cmd>,
    /// Free list, linked through `CmdState::next`.
    free: *const Cmd,
}

/// A queue: see the module documentation.
///
/// # Invariants
///
/// - `hooks` is the first field: the socket's `sk_user_data` points to the `Queue`.
/// - The queue lives in a `KBox` leaked by [`Queue::accept`] and reclaimed by the release
///   work, which runs once, after `state` became `DISCONNECTING`.
/// - `io` and the command states are only touched by the I/O work, or by the release work once
///   the I/O work can no longer run.
/// - `slots` is written once, by `install_queue` while it is empty; afterwards it is only read.
#[repr(C)]
pub(crate) struct Queue {
    hooks: SkHooks,
    io_work: RawWork,
    release_work: RawWork,
    /// Closes a connection that is late: no ICReq, no Connect, or a C2HTermReq that cannot go
    /// out (see [`deadline`]).
    deadline: RawDelayedWork,
    pair: QueuePair,
    completions: LList,
    state: Atomic<i32>,
    /// The Connect command installed the queue in a controller.
    connected: Atomic<bool>,
    /// A fatal error happened; the C2HTermReq is waiting for a PDU boundary.
    terminating: Atomic<bool>,
    sock: Socket,
    /// Identifies the port the queue came from; never dereferenced after accept.
    port: *const Port,
    /// The core's port, for the requests (`req->port`), as in the C target; its fields are
    /// read at accept only (a removed port may go away before the queue).
    nport: *mut sys::nvmet_port,
    /// The port's in-capsule data size, fixed while the port is enabled.
    inline_data_size: u32,
    local: SockAddr,
    peer: SockAddr,
    idx: u32,
    connect: Cmd,
    slots: UnsafeCell<Slots>,
    io: UnsafeCell<IoState>,
}

/// A pointer to a live queue in [`QUEUES`].
struct QueuePtr(*const Queue);

// SAFETY: Queues are shared with every context through the C callbacks anyway; the list only
// holds pointers, which are valid while they are in the list.
unsafe impl Send for QueuePtr {}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `queue::init` in the module initialiser, before the transport is
    // registered and so before any queue exists.
    unsafe(uninit) static QUEUES: Mutex<KVec<QueuePtr>> = KVec::new();
}

static NEXT_IDX: Atomic<u32> = Atomic::new(0);

/// Initialises the global queue list.
///
/// # Safety
///
/// Must be called once, before any other function of this module.
pub(crate) unsafe fn init() {
    // SAFETY: Called once, as the caller guarantees.
    unsafe { QUEUES.init() };
}

/// Calls `f` on each live queue, under the queue-list lock.
fn for_each_queue(mut f: impl FnMut(&Queue)) {
    let list = QUEUES.lock();
    for q in list.iter() {
        // SAFETY: Queues leave the list before they are freed, and we hold the lock.
        f(unsafe { &*q.0 });
    }
}

impl Queue {
    /// Takes over an accepted connection of `port`.
    pub(crate) fn accept(port: &Port, sock: Socket) -> Result {
        let (local, peer) = sock.addresses()?;
        sock.setup_connection(crate::so_priority());
        let queue = KBox::new(
            Queue {
                hooks: SkHooks::new(),
                io_work: RawWork::uninit(),
                release_work: RawWork::uninit(),
                deadline: RawDelayedWork::uninit(),
                pair: QueuePair::new(),
                completions: LList::new(),
                state: Atomic::new(CONNECTING),
                connected: Atomic::new(false),
                terminating: Atomic::new(false),
                sock,
                port: core::ptr::from_ref(port),
                nport: port.nport(),
                inline_data_size: port.inline_data_size(),
                local,
                peer,
                idx: NEXT_IDX.fetch_add(1, Relaxed),
                connect: Cmd::new(core::ptr::null(), CONNECT_TTAG),
                slots: UnsafeCell::new(Slots {
                    cmds: KVVec::new(),
                    free: core::ptr::null(),
                }),
                io: UnsafeCell::new(IoState {
                    conn: ConnState::AwaitIcReq,
                    recv: RecvSide {
                        rx: RecvState::new(),
                        hdr: [0; MAX_HEADER_LEN + 4],
                        cmd: core::ptr::null(),
                        offset: 0,
                        digest: DataDigest::new(),
                        ddgst: [0; 4],
                        echo: 0,
                        dead: false,
                        iov: kvec_storage(),
                    },
                    send: SendSide {
                        cur: core::ptr::null(),
                        ready: CmdList::new(),
                        r2t_wait: CmdList::new(),
                        r2t_budget: R2tBudget::new(R2T_BYTES_PER_QUEUE),
                        ctrl: [0; IC_HLEN],
                        ctrl_len: 0,
                        ctrl_sent: 0,
                    },
                    tx: Tx::new(),
                    poll_end: 0,
                }),
            },
            GFP_KERNEL,
        )?;
        let ptr = KBox::into_raw(queue);
        // SAFETY: `ptr` comes from `KBox::into_raw`; the queue stays there until freed below or
        // by the release work.
        let q = unsafe { &*ptr };
        q.connect.queue.store(ptr.cast_const(), Relaxed);
        q.io_work.init(
            io_work_fn,
            c"nvmet_tcp_rs io_work",
            kernel::static_lock_class!(),
        );
        q.release_work.init(
            release_work_fn,
            c"nvmet_tcp_rs release_work",
            kernel::static_lock_class!(),
        );
        q.deadline.init(deadline::deadline_fn);
        // SAFETY: The pair is in its final place; initialised once.
        if let Err(e) = unsafe { q.pair.init() } {
            // SAFETY: Nothing else knows the queue yet.
            drop(unsafe { KBox::from_raw(ptr) });
            return Err(e);
        }
        if let Err(e) = QUEUES.lock().push(QueuePtr(ptr), GFP_KERNEL) {
            // SAFETY: Initialised above; nothing uses the sq yet.
            unsafe { q.pair.destroy() };
            // SAFETY: Nothing else knows the queue yet.
            drop(unsafe { KBox::from_raw(ptr) });
            return Err(e.into());
        }
        STATS.conn_accepted.add(1, Relaxed);
        STATS.conn_active.add(1, Relaxed);
        if crate::idle_poll_period_usecs() > 0 {
            // SAFETY: The I/O work has not started; nothing else touches `io`.
            unsafe { (*q.io.get()).poll_end = poll_deadline() };
        }
        // The callbacks arm the deadline and queue the I/O work under the socket's callback
        // lock (`nvmet_tcp_rs_queue_attached`). From then on a close on another CPU may free
        // the queue at any time: it is not touched here again.
        // SAFETY: The hooks stay in place until the release work detaches them.
        if let Err(e) = unsafe { q.sock.attach_queue(&q.hooks) } {
            // The connection is already closing: tear down like any other queue. No callback
            // was installed, so nothing else can have started the teardown.
            pr_debug!("queue {}: closed before it started ({:?})\n", q.idx, e);
            q.schedule_release();
        }
        Ok(())
    }

    /// Queues the I/O work on the connection's receive CPU.
    fn kick(&self) {
        // SAFETY: The queue outlives its I/O work: the release work cancels it before freeing.
        unsafe { self.io_work.queue_on(transport::io_wq(), self.sock.cpu()) };
    }

    /// Starts the teardown, once.
    fn schedule_release(&self) {
        if self.state.xchg(DISCONNECTING, Full) != DISCONNECTING {
            // SAFETY: The release work frees the queue, after which nothing queues it again.
            unsafe {
                self.release_work
                    .queue_on(ffi::work::nvmet_wq(), ffi::work::ANY_CPU)
            };
        }
    }

    /// The command slots.
    fn slots(&self) -> &Slots {
        // SAFETY: Only written once, while empty, by `install_queue` (type invariant); readers
        // never hold this across the call that may install.
        unsafe { &*self.slots.get() }
    }

    /// Ends the connection: nothing more is received or sent, the socket is shut down (its
    /// state change starts the teardown), and unless the host went away (`err`) the
    /// controller learns of the fatal error, as in the C target.
    fn close(&self, io: &mut IoState, err: Error) {
        io.recv.dead = true;
        io.tx.abort();
        self.sock.shutdown();
        // As in `deadline_expired`: do not rely on a state change to start the teardown.
        self.schedule_release();
        let ctrl = self.pair.ctrl();
        if err != EPIPE && err != ECONNRESET && !ctrl.is_null() {
            // SAFETY: The sq holds a reference on its controller.
            unsafe { nvmet::ctrl_fatal_error(ctrl) };
        }
    }

    /// Ends the connection once its C2HTermReq is queued, so that the host gets it: drops
    /// what the host sent since the error (unread data would turn the close into a reset,
    /// which throws the queued data away) and has the socket's release deliver what is queued.
    /// Best effort: a host that keeps sending after the error still gets a reset, and with it
    /// loses what was queued.
    fn close_after_term(&self, io: &mut IoState) {
        // Bounded: a host that keeps sending gets a reset, as it would anyway.
        for _ in 0..DRAIN_PASSES {
            match self.sock.recv_discard(DRAIN_BYTES) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        self.sock.deliver_on_close();
        self.close(io, EPROTO);
    }

    /// One run of the I/O work.
    fn io_work(&self) {
        if self.state.load(Acquire) == DISCONNECTING {
            return;
        }
        // SAFETY: Only the I/O work touches `io` (type invariant), and a work item never runs
        // concurrently with itself.
        let io = unsafe { &mut *self.io.get() };
        if io.tx.is_closed() {
            return;
        }
        let mut ops = 0;
        let mut pending;
        loop {
            pending = false;
            match self.try_recv(io, RECV_BUDGET, &mut ops) {
                Ok(n) if n > 0 => pending = true,
                Ok(_) => {}
                Err(e) => return self.close(io, e),
            }
            match self.try_send(io, SEND_BUDGET, &mut ops) {
                Ok(n) if n > 0 => pending = true,
                Ok(_) => {}
                Err(e) => return self.close(io, e),
            }
            if io.tx.is_closed() {
                // The C2HTermReq is out (or there was none to send).
                return self.close_after_term(io);
            }
            if !pending || ops >= IO_WORK_BUDGET {
                break;
            }
        }
        if pending {
            self.kick();
        } else if self.keep_polling(io, ops) {
            STATS.idle_polls.add(1, Relaxed);
            self.kick();
        }
    }

    /// With `idle_poll_period_usecs`, whether to keep polling although there is no work.
    fn keep_polling(&self, io: &mut IoState, ops: u32) -> bool {
        if crate::idle_poll_period_usecs() <= 0 {
            return false;
        }
        if ops > 0 {
            io.poll_end = poll_deadline();
        }
        // Jiffies wrap: compare the signed difference, as `time_after` does.
        (io.poll_end.wrapping_sub(ffi::jiffies()) as isize) >= 0
    }

    /// Appends a completed command to the send list (I/O work only).
    fn push_send(io: &mut IoState, cmd: &Cmd) {
        // SAFETY: Called from the I/O work with a command on no list, and no other command
        // state reference is alive.
        unsafe { io.send.ready.push(cmd) };
    }

    /// Moves the completions that arrived from other contexts to the send list.
    fn collect_completions(&self, io: &mut IoState) {
        // The lock-free list comes back newest first: put each at the front.
        let mut first = core::ptr::null::<Cmd>();
        let mut last = core::ptr::null::<Cmd>();
        for node in self.completions.take_all() {
            // SAFETY: Only `Cmd::node`s are pushed on this list, and `node` is the second field
            // of the `repr(C)` `Cmd`.
            let cmd =
                unsafe { kernel::container_of!(node.cast::<ffi::llist::LListNode>(), Cmd, node) };
            // SAFETY: I/O work; the command is live (its queue is) and on no other list.
            unsafe { (*cmd).st().next = first };
            if last.is_null() {
                last = cmd;
            }
            first = cmd;
        }
        if !first.is_null() {
            // SAFETY: I/O work; the chain was linked above and ends in NULL.
            unsafe { io.send.ready.append(first, last) };
        }
    }

    /// Takes a free command slot, or the Connect slot before the slots are installed.
    fn get_cmd(&self) -> Option<&Cmd> {
        // SAFETY: Only the I/O work takes and returns slots, and no other reference to the
        // slots is alive here.
        let slots = unsafe { &mut *self.slots.get() };
        if slots.cmds.is_empty() {
            // SAFETY: I/O work.
            let free = unsafe { self.connect.st().life } == Life::Free;
            return free.then_some(&self.connect);
        }
        let cmd = slots.free;
        if cmd.is_null() {
            return None;
        }
        // SAFETY: Commands on the free list are live slots of this queue.
        let cmd = unsafe { &*cmd };
        // SAFETY: I/O work.
        slots.free = unsafe { cmd.st().next };
        Some(cmd)
    }

    /// Returns a command slot to the free list.
    fn put_cmd(&self, cmd: &Cmd) {
        // SAFETY: I/O work, no other state reference alive.
        unsafe { cmd.st().life = Life::Free };
        if core::ptr::eq(cmd, &self.connect) {
            return;
        }
        // SAFETY: As in `get_cmd`.
        let slots = unsafe { &mut *self.slots.get() };
        // SAFETY: I/O work.
        unsafe { cmd.st().next = slots.free };
        slots.free = core::ptr::from_ref(cmd);
    }

    /// The number of installed command slots.
    fn nr_cmds(&self) -> u16 {
        self.slots().cmds.len().try_into().unwrap_or(u16::MAX)
    }

    /// The configured in-capsule data size of the port.
    fn inline_data_size(&self) -> u32 {
        self.inline_data_size
    }
}

fn poll_deadline() -> usize {
    let usecs = u32::try_from(crate::idle_poll_period_usecs()).unwrap_or(0);
    ffi::jiffies().wrapping_add(ffi::usecs_to_jiffies(usecs))
}

/// The I/O work function.
///
/// # Safety
///
/// Called by the workqueue with the `io_work` of a live queue.
unsafe extern "C" fn io_work_fn(work: *mut sys::work_struct) {
    // SAFETY: `work` is the `io_work` field of a live queue (`RawWork` is transparent).
    let q = unsafe { &*kernel::container_of!(work.cast::<RawWork>(), Queue, io_work) };
    q.io_work();
}

/// The release work function: the teardown.
///
/// # Safety
///
/// Called by the workqueue with the `release_work` of a live queue, once.
unsafe extern "C" fn release_work_fn(work: *mut sys::work_struct) {
    // SAFETY: `work` is the `release_work` field of a live queue.
    let ptr = unsafe { kernel::container_of!(work.cast::<RawWork>(), Queue, release_work) };
    // SAFETY: The queue is live until freed at the end of this function.
    let q = unsafe { &*ptr };
    {
        let mut list = QUEUES.lock();
        list.retain(|p| !core::ptr::eq(p.0, ptr));
    }
    q.sock.detach(&q.hooks);
    // From now on the I/O work only runs when a completion queues it, and then returns at once
    // since the state is DISCONNECTING.
    q.io_work.cancel_sync();
    // Only the attach callback and the I/O work arm the deadline: neither can any more.
    q.deadline.cancel_sync();
    for cmd in Iterator::chain(q.slots().cmds.iter(), core::iter::once(&q.connect)) {
        // SAFETY: The I/O work cannot touch command states any more (see above).
        let st = unsafe { cmd.st() };
        if st.life == Life::AwaitData {
            // SAFETY: Initialised and never executed: drop its sq reference.
            unsafe { cmd.req.uninit() };
            st.life = Life::Free;
        }
    }
    // SAFETY: Initialised at accept; waits for every executing command to complete.
    unsafe { q.pair.destroy() };
    q.io_work.cancel_sync();
    STATS.conn_active.fetch_sub(1, Relaxed);
    pr_debug!("queue {}: released\n", q.idx);
    // SAFETY: The queue came from `KBox::into_raw` in `accept`; nothing refers to it any more:
    // it left the list, its callbacks are gone, its works are idle, the core is done with it.
    drop(unsafe { KBox::from_raw(ptr) });
}

/// Called by the C socket callbacks when the connection has data or room to send.
///
/// # Safety
///
/// `hooks` must be the hooks of a live queue, attached to its socket.
#[no_mangle]
unsafe extern "C" fn nvmet_tcp_rs_queue_io_ready(hooks: *mut sys::nvmet_tcp_rs_sk_hooks) {
    // SAFETY: `hooks` is the first field of a live `Queue` (type invariant), and the queue
    // outlives its attachment (the release work detaches first, under `sk_callback_lock`).
    let q = unsafe { &*hooks.cast::<Queue>() };
    q.kick();
}

/// Called by the C state-change callback when the connection closes.
///
/// # Safety
///
/// As for [`nvmet_tcp_rs_queue_io_ready`].
#[no_mangle]
unsafe extern "C" fn nvmet_tcp_rs_queue_sock_closed(hooks: *mut sys::nvmet_tcp_rs_sk_hooks) {
    // SAFETY: As in `nvmet_tcp_rs_queue_io_ready`.
    let q = unsafe { &*hooks.cast::<Queue>() };
    q.schedule_release();
}

/// Called by the shim when the queue's callbacks are installed, still under the socket's
/// callback lock: arms the ICReq deadline and starts the I/O work before a close on another
/// CPU can start the teardown.
///
/// # Safety
///
/// `hooks` must be the hooks of a queue that [`Queue::accept`] is attaching.
#[no_mangle]
unsafe extern "C" fn nvmet_tcp_rs_queue_attached(hooks: *mut sys::nvmet_tcp_rs_sk_hooks) {
    // SAFETY: `hooks` is the first field of a `Queue` (type invariant) that `accept` keeps
    // alive during the attach, and the state-change callback that could free it waits for the
    // callback lock, which the caller holds.
    let q = unsafe { &*hooks.cast::<Queue>() };
    q.arm_deadline(crate::icreq_timeout_ms());
    q.kick();
}

/// `queue_response`: a command completed, in any context.
///
/// # Safety
///
/// `req` must be the request of a live command.
pub(crate) unsafe fn queue_response(req: *mut sys::nvmet_req) {
    // SAFETY: As the caller guarantees.
    let cmd = unsafe { Cmd::from_req(req) };
    if cmd.in_init.load(Relaxed) {
        // The core rejected the command inside `nvmet_req_init`, on the I/O work: it sends the
        // response itself once any in-capsule data is skipped.
        cmd.rejected.store(true, Relaxed);
        return;
    }
    // SAFETY: The queue outlives its commands.
    let q = unsafe { &*cmd.queue.load(Relaxed) };
    // SAFETY: A command is on the list at most once: the core completes it once, and it is not
    // reused before its response is sent.
    unsafe { q.completions.push(&cmd.node) };
    q.kick();
}

/// `install_queue`: the host connected this queue; allocate its command slots.
///
/// # Safety
///
/// `sq` must be the sq of a live queue.
pub(crate) unsafe fn install_queue(sq: *mut sys::nvmet_sq) -> u16 {
    // SAFETY: As the caller guarantees.
    let pair = unsafe { QueuePair::from_sq(sq) };
    // SAFETY: `pair` is the `pair` field of a live queue.
    let q = unsafe { &*kernel::container_of!(core::ptr::from_ref(pair), Queue, pair) };
    if pair.qid() == 0 {
        // Refuse a new admin queue while too many queues of the controller tear down.
        let ctrl = pair.ctrl();
        let mut pending = 0;
        for_each_queue(|other| {
            if other.pair.ctrl() == ctrl && other.state.load(Relaxed) == DISCONNECTING {
                pending += 1;
            }
        });
        if pending > MAX_DISCONNECTING {
            return sys::NVME_SC_CONNECT_CTRL_BUSY as u16;
        }
    }
    // SAFETY: This runs on the I/O work, inside the Connect command's execution, which holds no
    // reference to the slots.
    let slots = unsafe { &mut *q.slots.get() };
    if !slots.cmds.is_empty() {
        return sys::NVME_SC_CONNECT_CTRL_BUSY as u16;
    }
    // The size comes from the host: the core bounds I/O queues by MQES, but not the admin
    // queue, which anyone may open to the discovery controller.
    let Some(nr) = r2t::command_slots(pair.qid(), pair.size()) else {
        if ffi::warn_ratelimit() {
            pr_warn!(
                "queue {}: refusing queue {} of {} entries\n",
                q.idx,
                pair.qid(),
                pair.size()
            );
        }
        return sys::NVME_SC_CONNECT_INVALID_PARAM as u16 | NVME_STATUS_DNR;
    };
    let mut cmds = match KVVec::with_capacity(usize::from(nr), GFP_KERNEL) {
        Ok(v) => v,
        Err(_) => return sys::NVME_SC_INTERNAL as u16,
    };
    // Below `CONNECT_TTAG` (`command_slots`): no slot's tag is the Connect tag.
    for ttag in 0..nr {
        if cmds
            .push(Cmd::new(core::ptr::from_ref(q), ttag), GFP_KERNEL)
            .is_err()
        {
            return sys::NVME_SC_INTERNAL as u16;
        }
    }
    // The vector is never resized again, so the slots stay where they are now.
    slots.cmds = cmds;
    let mut free = core::ptr::null();
    for cmd in slots.cmds.iter().rev() {
        // SAFETY: New commands that only this function knows yet.
        unsafe { cmd.st().next = free };
        free = core::ptr::from_ref(cmd);
    }
    slots.free = free;
    q.connected.store(true, Relaxed);
    0
}

/// `delete_ctrl`: shut down every queue of `ctrl`.
pub(crate) fn delete_ctrl(ctrl: *mut sys::nvmet_ctrl) {
    for_each_queue(|q| {
        if q.pair.ctrl() == ctrl {
            q.sock.shutdown();
        }
    });
}

/// Shuts down every queue that came from `port`.
pub(crate) fn shutdown_port_queues(port: *const Port) {
    for_each_queue(|q| {
        if core::ptr::eq(q.port, port) {
            q.sock.shutdown();
        }
    });
}

/// Shuts down every queue (module unload).
pub(crate) fn shutdown_all() {
    for_each_queue(|q| q.sock.shutdown());
}

/// Frees the queue list's memory; every queue must be gone (module unload).
pub(crate) fn free_list() {
    let old = core::mem::take(&mut *QUEUES.lock());
    if !old.is_empty() {
        pr_warn!("{} queues still listed at unload\n", old.len());
    }
}

/// The queue of a command, for `disc_traddr`.
///
/// # Safety
///
/// `req` must be the request of a live command.
pub(crate) unsafe fn local_addr_of(req: *mut sys::nvmet_req) -> SockAddr {
    // SAFETY: As the caller guarantees; the queue outlives its commands.
    unsafe { (*Cmd::from_req(req).queue.load(Relaxed)).local }
}

/// The peer address of the queue whose sq is `sq` in controller `ctrl`, for `host_traddr`:
/// looked up in the queue list, since the queue may already be gone.
pub(crate) fn peer_addr_of(ctrl: *mut sys::nvmet_ctrl, sq: *mut sys::nvmet_sq) -> Option<SockAddr> {
    let mut peer = None;
    for_each_queue(|q| {
        if q.pair.sq_ptr() == sq && q.pair.ctrl() == ctrl {
            peer = Some(q.peer);
        }
    });
    peer
}

impl Queue {
    /// Marks the queue live after the ICReq was answered.
    fn set_live(&self) -> bool {
        self.state.cmpxchg(CONNECTING, LIVE, Release).is_ok()
    }
}
