// SPDX-License-Identifier: GPL-2.0

//! A queue: one TCP connection, which is one nvmet submission/completion queue pair.
//!
//! A queue is an [`Arc`]. Its references are held by the queue list, by its socket while the
//! callbacks are installed, and by each of its work items while queued: nothing frees a queue
//! that something can still reach. The I/O work runs on the CPU that receives the
//! connection's packets and alternates bounded receive and send passes; it owns the command
//! states ([`IoState`], behind a mutex that only it and the teardown take). Completions arrive
//! from any context (even hard IRQ) on a lock-free stack of tags. The teardown runs once, on
//! the core's workqueue: it takes the socket's reference back, cancels the I/O work, drops
//! commands that will never execute and waits for the in-flight ones.

mod completions;
mod deadline;
mod recv;
mod send;

use self::completions::Completions;
use crate::{
    command::{
        CmdState,
        Cmds,
        Life,
        TagList, //
    },
    ffi::{
        self,
        nvmet::{
            CorePort,
            CtrlRef,
            Ops,
            QueuePair,
            SqId, //
        },
        ops::HasQueuePair,
        req::Req,
        socket::{
            kvec_storage,
            ConnOwner,
            KvecStorage,
            SockAddr,
            Socket, //
        },
        sys,
        work::{
            self as wq,
            ANY_CPU, //
        },
    },
    params,
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
};
use core::{
    mem::MaybeUninit,
    pin::Pin, //
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            AtomicType,
            Full,
            Relaxed,
            Release, //
        },
        Arc,
        ArcBorrow,
        Mutex,
        SetOnce,
        UniqueArc, //
    },
    workqueue::{
        DelayedWork,
        Work,
        WorkItem, //
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

/// The work items of a queue.
const IO_WORK: u64 = 0;
const RELEASE_WORK: u64 = 1;
const DEADLINE: u64 = 2;
const SEND_RETRY: u64 = 3;

/// The pause before a send that failed for memory (see [`Socket::take_send_stall`]) is tried
/// again. Fixed, not growing: a queue at 50 % failures stalls on nearly every run, and a pause
/// that doubled held its Keep Alive response past the host's timeout. At 10 ms a queue that
/// only fails tries 100 times a second, where TCP's wake-up had it try thousands of times. A
/// blocking sender in the same spot waits 2 jiffies or more (`sk_stream_wait_memory()`'s
/// `vm_wait`).
const SEND_RETRY_MS: u32 = 10;

/// Where a queue is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
enum QueueState {
    /// Accepted; waiting for the ICReq.
    Connecting = 0,
    /// The ICReq was answered.
    Live = 1,
    /// The teardown has started.
    Disconnecting = 2,
}

// SAFETY: `QueueState` is `repr(i32)`, so it has the size and alignment of `i32`, and an
// `Atomic<QueueState>` only ever holds values stored as a `QueueState`, which transmute back.
unsafe impl AtomicType for QueueState {
    type Repr = i32;
}

/// The receive side's state.
struct RecvSide {
    /// Byte accounting of the current PDU.
    rx: RecvState,
    /// The header being received, with its digest.
    hdr: [u8; MAX_HEADER_LEN + 4],
    /// The tag of the command whose data is being received, or `None` to skip the data.
    cmd: Option<u16>,
    /// Where the next data byte goes in the command's buffer.
    offset: u32,
    /// The data digest of the current PDU so far.
    digest: DataDigest<ffi::KernelCrc>,
    /// The received data digest.
    ddgst: [u8; 4],
    /// How much of the header buffer holds the current PDU's header, for a C2HTermReq.
    echo: usize,
    /// A fatal error happened: nothing more is received.
    dead: bool,
    /// Storage for receive buffer lists.
    iov: KvecStorage,
}

/// The send side's state.
struct SendSide {
    /// The tag of the command being sent.
    cur: Option<u16>,
    /// Completed commands whose data or response is to be sent.
    ready: TagList,
    /// Writes waiting for their R2T (and their data buffer).
    r2t_wait: TagList,
    /// The data asked for with R2Ts and not received yet.
    r2t_budget: R2tBudget,
    /// The ICResp, sent before anything else.
    ctrl: [u8; IC_HLEN],
    ctrl_len: usize,
    ctrl_sent: usize,
}

/// What the I/O work owns: the connection's protocol state and the command states.
struct IoState {
    conn: ConnState,
    recv: RecvSide,
    send: SendSide,
    /// The order of what is sent: whole PDUs, and a C2HTermReq only between two.
    tx: Tx,
    /// When the idle-poll period ends, in jiffies.
    poll_end: usize,
    /// Until when (in jiffies) sending waits after a stall; the send retry work runs then.
    send_hold: Option<usize>,
    /// The command states, by transfer tag.
    cmds: Cmds,
}

/// The requests of the command slots, made once by the Connect command (`install_queue`).
struct Slots {
    /// One per slot, by transfer tag.
    reqs: Pin<KVBox<[Req]>>,
    /// Tags of completed commands.
    done: Completions,
}

/// A queue: see the module documentation.
#[pin_data]
pub(crate) struct Queue {
    #[pin]
    io_work: Work<Queue, IO_WORK>,
    #[pin]
    release_work: Work<Queue, RELEASE_WORK>,
    /// Closes a connection that is late: no ICReq, no Connect, or a C2HTermReq that cannot go
    /// out (see [`deadline`]).
    #[pin]
    deadline: DelayedWork<Queue, DEADLINE>,
    /// Runs the I/O work again after a send stalled with nothing in flight.
    #[pin]
    send_retry: DelayedWork<Queue, SEND_RETRY>,
    #[pin]
    pair: QueuePair,
    /// Taken by the I/O work for each run, and by the teardown once the I/O work is idle.
    #[pin]
    io: Mutex<IoState>,
    /// The slot states that `install_queue` made, for the I/O work to take over (it holds
    /// `io` while the Connect command executes).
    #[pin]
    new_slots: Mutex<Option<KVVec<CmdState>>>,
    slots: SetOnce<Slots>,
    /// The Connect command's request, before there are slots.
    #[pin]
    connect: Req,
    /// The Connect command completed.
    connect_done: Atomic<bool>,
    state: Atomic<QueueState>,
    /// The Connect command installed the queue in a controller.
    connected: Atomic<bool>,
    /// A fatal error happened; the C2HTermReq is waiting for a PDU boundary.
    terminating: Atomic<bool>,
    /// The core deletes the controller: the I/O work drains the connection.
    draining: Atomic<bool>,
    sock: Socket<Queue>,
    /// The port the queue came from.
    port_id: u32,
    /// The core's port, for the requests (`req->port`), as in the C target; its fields are
    /// read at accept only (a removed port may go away before the queue).
    nport: CorePort,
    /// The port's in-capsule data size, fixed while the port is enabled.
    inline_data_size: u32,
    local: SockAddr,
    peer: SockAddr,
    idx: u32,
}

kernel::impl_has_work! {
    impl HasWork<Queue, IO_WORK> for Queue { self.io_work }
    impl HasWork<Queue, RELEASE_WORK> for Queue { self.release_work }
}

kernel::impl_has_delayed_work! {
    impl HasDelayedWork<Queue, DEADLINE> for Queue { self.deadline }
    impl HasDelayedWork<Queue, SEND_RETRY> for Queue { self.send_retry }
}

impl WorkItem<IO_WORK> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        this.io_work();
    }
}

impl WorkItem<SEND_RETRY> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        this.as_arc_borrow().kick();
    }
}

impl WorkItem<RELEASE_WORK> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        this.release();
    }
}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `queue::init` in the module initialiser, before the transport is
    // registered and so before any queue exists.
    unsafe(uninit) static QUEUES: Mutex<KVec<Arc<Queue>>> = KVec::new();
}

static NEXT_IDX: Atomic<u32> = Atomic::new(0);

/// The memory of one queue, taken before its connection leaves the listener's backlog: when
/// it cannot be had, the connection waits there for a retry instead of being dropped.
pub(crate) struct QueueMem(UniqueArc<MaybeUninit<Queue>>);

impl QueueMem {
    pub(crate) fn new() -> Result<Self> {
        // Room in the registry too, so that the push in `Queue::accept` does not allocate
        // (unless another port's accept took it first).
        QUEUES.lock().reserve(1, GFP_KERNEL)?;
        Ok(Self(UniqueArc::new_uninit(GFP_KERNEL)?))
    }
}

/// The transport's ops table, for the requests (`nvmet_req_init`).
static OPS: SetOnce<&'static Ops> = SetOnce::new();

/// Initialises the global queue list, and takes the transport's ops table.
///
/// # Safety
///
/// - Must be called once, before any other function of this module.
/// - The ops of `ops` must find a [`Queue`] from a request's sq ([`HasQueuePair`] of
///   `Queue`): it is the table of a transport whose queue type is `Queue`.
pub(crate) unsafe fn init(ops: &'static Ops) {
    // SAFETY: `init`'s contract: the module initialiser calls it once, before anything uses
    // `QUEUES`.
    unsafe { QUEUES.init() };
    OPS.populate(ops);
}

/// The table that [`init`] took.
fn ops() -> Result<&'static Ops> {
    OPS.copy().ok_or(EINVAL)
}

/// Where a connection came from: the port's number, its core object and its in-capsule data
/// size.
pub(crate) struct Origin {
    pub(crate) port_id: u32,
    pub(crate) nport: CorePort,
    pub(crate) inline_data_size: u32,
}

/// Calls `f` on each live queue, under the queue-list lock: the teardown takes a queue off
/// the list before it cancels the queue's work items.
fn for_each_queue(mut f: impl FnMut(ArcBorrow<'_, Queue>)) {
    for q in QUEUES.lock().iter() {
        f(q.as_arc_borrow());
    }
}

impl Queue {
    /// Takes over an accepted connection of `port`, in `mem`.
    pub(crate) fn accept(mem: QueueMem, origin: Origin, sock: Socket<Queue>) -> Result {
        let (local, peer) = sock.addresses()?;
        sock.setup_connection(params::so_priority());
        let poll_end = if params::idle_poll_period_usecs() > 0 {
            poll_deadline()
        } else {
            0
        };
        let q: Arc<Queue> = mem
            .0
            .pin_init_with(try_pin_init!(Queue {
                io_work <- kernel::new_work!("nvmet_tcp_rs io_work"),
                release_work <- kernel::new_work!("nvmet_tcp_rs release_work"),
                deadline <- kernel::new_delayed_work!("nvmet_tcp_rs deadline"),
                send_retry <- kernel::new_delayed_work!("nvmet_tcp_rs send_retry"),
                pair <- QueuePair::new(),
                io <- new_mutex!(IoState {
                    conn: ConnState::AwaitIcReq,
                    recv: RecvSide {
                        rx: RecvState::new(),
                        hdr: [0; MAX_HEADER_LEN + 4],
                        cmd: None,
                        offset: 0,
                        digest: DataDigest::new(),
                        ddgst: [0; 4],
                        echo: 0,
                        dead: false,
                        iov: kvec_storage(),
                    },
                    send: SendSide {
                        cur: None,
                        ready: TagList::default(),
                        r2t_wait: TagList::default(),
                        r2t_budget: R2tBudget::new(R2T_BYTES_PER_QUEUE),
                        ctrl: [0; IC_HLEN],
                        ctrl_len: 0,
                        ctrl_sent: 0,
                    },
                    tx: Tx::new(),
                    poll_end,
                    send_hold: None,
                    cmds: Cmds::new(),
                }),
                new_slots <- new_mutex!(None),
                slots: SetOnce::new(),
                connect <- Req::new(CONNECT_TTAG),
                connect_done: Atomic::new(false),
                state: Atomic::new(QueueState::Connecting),
                connected: Atomic::new(false),
                terminating: Atomic::new(false),
                draining: Atomic::new(false),
                sock,
                port_id: origin.port_id,
                nport: origin.nport,
                inline_data_size: origin.inline_data_size,
                local,
                peer,
                idx: NEXT_IDX.fetch_add(1, Relaxed),
            }? Error))?
            .into();
        q.pair.init()?;
        QUEUES.lock().push(q.clone(), GFP_KERNEL)?;
        STATS.conn_accepted.add(1, Relaxed);
        STATS.conn_active.add(1, Relaxed);
        // The callbacks arm the deadline and queue the I/O work under the socket's callback
        // lock (`nvmet_tcp_rs_queue_attached`), before a close on another CPU can start the
        // teardown.
        if let Err(owner) = q.sock.attach_queue(q.clone()) {
            drop(owner);
            // The connection is already closing: tear down like any other queue. No callback
            // was installed, so nothing else can have started the teardown.
            pr_debug!("queue {}: closed before it started\n", q.idx);
            q.as_arc_borrow().schedule_release();
        }
        Ok(())
    }

    /// Queues the I/O work on the connection's receive CPU.
    fn kick(self: ArcBorrow<'_, Self>) {
        // Where the packets come in now, as the C target does: it may move.
        let cpu = self.sock.cpu();
        wq::kick_on::<_, IO_WORK>(wq::io_wq(), cpu, self);
    }

    /// Starts the teardown, once.
    fn schedule_release(self: ArcBorrow<'_, Self>) {
        if self.state.xchg(QueueState::Disconnecting, Full) != QueueState::Disconnecting {
            wq::enqueue_on::<_, RELEASE_WORK>(wq::nvmet_wq(), ANY_CPU, Arc::from(self));
        }
    }

    /// The command slots' requests, once installed.
    fn slots(&self) -> Option<&Slots> {
        self.slots.as_ref()
    }

    /// The request of the command with transfer tag `ttag`.
    fn req(&self, ttag: u16) -> Option<&Req> {
        if ttag == CONNECT_TTAG {
            return Some(&self.connect);
        }
        self.slots()?.reqs.get(usize::from(ttag))
    }

    /// Ends the connection: nothing more is received or sent, the socket is shut down (its
    /// state change starts the teardown), and unless the host went away (`err`) the
    /// controller learns of the fatal error, as in the C target.
    fn close(self: &Arc<Self>, io: &mut IoState, err: Error) {
        io.recv.dead = true;
        io.tx.abort();
        self.sock.shutdown();
        // As in `deadline_expired`: do not rely on a state change to start the teardown.
        self.as_arc_borrow().schedule_release();
        if err != EPIPE && err != ECONNRESET {
            // SAFETY: Only the teardown destroys the pair, after it cancelled the I/O work,
            // which calls this.
            unsafe { self.pair.ctrl_fatal_error() };
        }
    }

    /// Ends the connection once its C2HTermReq, or a drained connection's last response, is
    /// queued, so that the host gets it: drops what the host sent since (unread data would
    /// turn the close into a reset, which throws the queued data away) and has the socket's
    /// release deliver what is queued. Best effort: a host that keeps sending still gets a
    /// reset, and with it loses what was queued.
    fn close_delivering(self: &Arc<Self>, io: &mut IoState) {
        // Bounded: a host that keeps sending gets a reset, as it would anyway.
        for _ in 0..DRAIN_PASSES {
            match self.sock.recv_discard(DRAIN_BYTES) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        self.sock.deliver_on_close();
        // A drained connection's controller is already going away: no fatal error for it.
        let err = if io.tx.is_drained() { EPIPE } else { EPROTO };
        self.close(io, err);
    }

    /// One run of the I/O work.
    fn io_work(self: &Arc<Self>) {
        if self.state.load(Acquire) == QueueState::Disconnecting {
            return;
        }
        let mut guard = self.io.lock();
        let io = &mut *guard;
        if io.tx.is_closed() {
            return;
        }
        if self.draining.load(Relaxed) && io.tx.is_open() && !io.tx.is_draining() {
            io.tx.drain();
            io.recv.dead = true;
        }
        let mut ops = 0;
        let mut pending;
        // Jiffies wrap: compare the signed difference, as `time_before` does.
        let held = io
            .send_hold
            .is_some_and(|t| (t.wrapping_sub(ffi::jiffies()) as isize) > 0);
        // As in the C target: another pass (or run) only while a budget ran out. A pass that
        // found the socket empty and nothing to send ends the run; new data, a completion or
        // write space queues it again.
        loop {
            pending = match self.try_recv(io, RECV_BUDGET, &mut ops) {
                Ok(more) => more,
                Err(e) => return self.close(io, e),
            };
            if !held {
                match self.try_send(io, SEND_BUDGET, &mut ops) {
                    Ok(more) => pending |= more,
                    Err(e) => return self.close(io, e),
                }
            }
            if io.tx.is_draining() {
                // Outstanding: a response not yet (all) out, or a command with the core.
                let outstanding =
                    io.send.cur.is_some() || !io.send.ready.is_empty() || io.cmds.any_executing();
                io.tx.settle_drain(outstanding);
            }
            if io.tx.is_closed() {
                // The C2HTermReq is out (or there was none to send), or the drain ended.
                return self.close_delivering(io);
            }
            if !pending || ops >= IO_WORK_BUDGET {
                break;
            }
        }
        // A send that failed for memory is tried again later, not at once (TCP's write-space
        // call after the failure would have it spin while the memory is short).
        let stalled = !held && self.sock.take_send_stall();
        if stalled {
            let delay = ffi::msecs_to_jiffies(SEND_RETRY_MS);
            io.send_hold = Some(ffi::jiffies().wrapping_add(delay));
            STATS.send_retries.add(1, Relaxed);
            wq::schedule_delayed::<_, SEND_RETRY>(wq::nvmet_wq(), self.clone(), delay);
        } else if !held {
            io.send_hold = None;
        }
        if pending {
            self.as_arc_borrow().kick();
        } else if keep_polling(io, ops) {
            STATS.idle_polls.add(1, Relaxed);
            self.as_arc_borrow().kick();
        }
    }

    /// Takes over the slot states that `install_queue` made, once it has.
    fn take_new_slots(&self, io: &mut IoState) {
        if io.cmds.nr() == 0 {
            if let Some(slots) = self.new_slots.lock().take() {
                io.cmds.install(slots);
            }
        }
    }

    /// Moves the completions that arrived from other contexts to the send list, oldest
    /// first.
    fn collect_completions(&self, io: &mut IoState) {
        if self.connect_done.xchg(false, Acquire) {
            io.cmds.push(&mut io.send.ready, CONNECT_TTAG);
        }
        let Some(slots) = self.slots() else {
            return;
        };
        // The stack comes back newest first: chain them in reverse.
        let mut chain = TagList::default();
        for tag in slots.done.take_all() {
            io.cmds.push_front(&mut chain, tag);
        }
        io.cmds.append(&mut io.send.ready, chain);
    }

    /// The configured in-capsule data size of the port.
    fn inline_data_size(&self) -> u32 {
        self.inline_data_size
    }

    /// Marks the queue live after the ICReq was answered.
    fn set_live(&self) -> bool {
        self.state
            .cmpxchg(QueueState::Connecting, QueueState::Live, Release)
            .is_ok()
    }

    /// The teardown, once.
    fn release(self: Arc<Self>) {
        QUEUES.lock().retain(|q| !Arc::ptr_eq(q, &self));
        // The socket's reference: once back, no callback of ours runs for the socket.
        drop(self.sock.detach());
        // From now on the I/O work only runs when a completion queues it, and then returns at
        // once since the state is `Disconnecting`.
        wq::cancel_sync::<_, IO_WORK>(&self);
        // Only the attach callback, the I/O work and `delete_ctrl` arm the deadline, and only
        // the I/O work the send retry: none can any more (`delete_ctrl` finds queues on the
        // list only).
        wq::cancel_delayed_sync::<_, DEADLINE>(&self);
        wq::cancel_delayed_sync::<_, SEND_RETRY>(&self);
        {
            let mut io = self.io.lock();
            for (tag, st) in io.cmds.iter_mut() {
                if st.life != Life::AwaitData {
                    continue;
                }
                if let Some(req) = self.req(tag) {
                    // Initialised and never executed: drop its sq reference.
                    req.uninit();
                }
                st.life = Life::Free;
            }
        }
        // Waits for every executing command to complete.
        self.pair.destroy();
        wq::cancel_sync::<_, IO_WORK>(&self);
        STATS.conn_active.fetch_sub(1, Relaxed);
        pr_debug!("queue {}: released\n", self.idx);
        // The last references go with the work items that still hold one.
    }
}

/// With `idle_poll_period_usecs`, whether to keep polling although there is no work.
fn keep_polling(io: &mut IoState, ops: u32) -> bool {
    if params::idle_poll_period_usecs() <= 0 {
        return false;
    }
    if ops > 0 {
        io.poll_end = poll_deadline();
    }
    // Jiffies wrap: compare the signed difference, as `time_after` does.
    (io.poll_end.wrapping_sub(ffi::jiffies()) as isize) >= 0
}

fn poll_deadline() -> usize {
    let usecs = u32::try_from(params::idle_poll_period_usecs()).unwrap_or(0);
    ffi::jiffies().wrapping_add(ffi::usecs_to_jiffies(usecs))
}

impl ConnOwner for Queue {
    fn io_ready(this: ArcBorrow<'_, Self>) {
        this.kick();
    }

    fn closed(this: ArcBorrow<'_, Self>) {
        this.schedule_release();
    }

    /// Arms the ICReq deadline and starts the I/O work, still under the socket's callback
    /// lock: before a close on another CPU can start the teardown.
    fn attached(this: ArcBorrow<'_, Self>) {
        this.arm_deadline(params::icreq_timeout_ms());
        this.kick();
    }
}

impl Queue {
    /// A request of this queue completed, in any context: hand it to the I/O work.
    pub(crate) fn queue_response(self: ArcBorrow<'_, Self>, req: &Req) {
        let tag = req.tag();
        if tag == CONNECT_TTAG {
            self.connect_done.store(true, Release);
        } else if let Some(slots) = self.slots() {
            // A command is pushed at most once: the core completes it once, and it is not
            // reused before its response is sent.
            slots.done.push(tag);
        }
        self.kick();
    }

    /// `install_queue`: the host connected this queue; makes its command slots. Returns an
    /// NVMe status.
    pub(crate) fn install(self: ArcBorrow<'_, Self>) -> u16 {
        if self.pair.qid() == 0 {
            // Refuse a new admin queue while too many queues of the controller tear down.
            let ctrl = self.pair.ctrl();
            let mut pending = 0;
            for_each_queue(|other| {
                if other.pair.ctrl() == ctrl
                    && other.state.load(Relaxed) == QueueState::Disconnecting
                {
                    pending += 1;
                }
            });
            if pending > MAX_DISCONNECTING {
                return sys::NVME_SC_CONNECT_CTRL_BUSY as u16;
            }
        }
        if self.slots().is_some() {
            return sys::NVME_SC_CONNECT_CTRL_BUSY as u16;
        }
        // The size comes from the host: the core bounds I/O queues by MQES, but not the admin
        // queue, which anyone may open to the discovery controller.
        let Some(nr) = r2t::command_slots(self.pair.qid(), self.pair.size()) else {
            if ffi::warn_ratelimit() {
                pr_warn!(
                    "queue {}: refusing queue {} of {} entries\n",
                    self.idx,
                    self.pair.qid(),
                    self.pair.size()
                );
            }
            return sys::NVME_SC_CONNECT_INVALID_PARAM as u16 | NVME_STATUS_DNR;
        };
        match make_slots(nr) {
            Ok((slots, states)) => {
                if !self.slots.populate(slots) {
                    return sys::NVME_SC_CONNECT_CTRL_BUSY as u16;
                }
                *self.new_slots.lock() = Some(states);
                self.connected.store(true, Relaxed);
                0
            }
            Err(_) => sys::NVME_SC_INTERNAL as u16,
        }
    }

    /// The local address of the connection.
    pub(crate) fn local_addr(&self) -> SockAddr {
        self.local
    }
}

// SAFETY: Queues are only made by `Arc::pin_init` in `Queue::accept`, and their teardown holds
// a reference until it destroyed the pair; `from_pair` is `container_of!` of the `pair` field.
unsafe impl HasQueuePair for Queue {
    unsafe fn from_pair(pair: *const QueuePair) -> *const Self {
        // SAFETY: The caller passes the `pair` field of a `Queue`.
        unsafe { kernel::container_of!(pair, Queue, pair) }
    }
}

/// The requests and the states of `nr` command slots. Their tags are below `CONNECT_TTAG`
/// (`command_slots`).
fn make_slots(nr: u16) -> Result<(Slots, KVVec<CmdState>)> {
    let reqs = KVBox::pin_slice(
        |tag| Req::new(u16::try_from(tag).unwrap_or(CONNECT_TTAG)),
        usize::from(nr),
        GFP_KERNEL,
    )?;
    let done = Completions::new(nr)?;
    Ok((Slots { reqs, done }, Cmds::alloc_slots(nr)?))
}

/// `delete_ctrl`: drain every queue of `ctrl`. The core calls it for a fatal error (often
/// while the command that caused it is completing: an authentication failure, a
/// keep-alive timeout), and when a subsystem or port goes away; the commands already with
/// the core still complete and their responses go out before the connection closes.
pub(crate) fn delete_ctrl(ctrl: CtrlRef) {
    for_each_queue(|q| {
        if q.pair.ctrl() == Some(ctrl) {
            q.start_drain();
        }
    });
}

/// Shuts down every queue that came from port `port_id`, but those that drain: the core
/// deletes the controllers of a subsystem it unlinks from the port before it disables the
/// port, and their drain is bounded by its deadline.
pub(crate) fn shutdown_port_queues(port_id: u32) {
    for_each_queue(|q| {
        if q.port_id == port_id && !q.draining.load(Relaxed) {
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

/// The peer address of the queue whose sq is `sq` in controller `ctrl`, for `host_traddr`:
/// looked up in the queue list, since the queue may already be gone.
pub(crate) fn peer_addr_of(ctrl: CtrlRef, sq: SqId) -> Option<SockAddr> {
    let mut peer = None;
    for_each_queue(|q| {
        if q.pair.id() == sq && q.pair.ctrl() == Some(ctrl) {
            peer = Some(q.peer);
        }
    });
    peer
}
