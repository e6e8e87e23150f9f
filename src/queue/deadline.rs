// SPDX-License-Identifier: GPL-2.0

//! A queue's deadline: a connection that holds target memory without making progress is
//! closed. It must send its ICReq within `icreq_timeout_ms` of being accepted and connect its
//! queue within `connect_timeout_ms` after the ICResp; a terminating connection whose
//! C2HTermReq cannot go out (the host stopped reading) is closed after [`TERM_GRACE_MS`], and
//! a draining one whose last responses cannot go out after [`DRAIN_GRACE_MS`].
//! A timeout of 0 disables that deadline.

use super::{
    Queue,
    QueueState,
    DEADLINE, //
};
use crate::{
    ffi::{
        self,
        work::{
            self as wq, //
        },
    },
    params,
    stats::STATS,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Acquire,
            Relaxed, //
        },
        Arc, ArcBorrow,
    },
    workqueue::WorkItem,
};

/// How long a terminating connection may take to send its C2HTermReq.
const TERM_GRACE_MS: u32 = 5000;

/// How long a draining connection may take to complete its commands and send their responses.
const DRAIN_GRACE_MS: u32 = 5000;

impl WorkItem<DEADLINE> for Queue {
    type Pointer = Arc<Queue>;

    fn run(this: Arc<Queue>) {
        this.as_arc_borrow().deadline_expired();
    }
}

impl Queue {
    /// Runs the deadline check `ms` milliseconds from now (replacing an earlier plan), or
    /// never if `ms` is 0.
    pub(super) fn arm_deadline(self: ArcBorrow<'_, Self>, ms: u32) {
        let this = Arc::from(self);
        if ms == 0 {
            wq::cancel_delayed::<_, DEADLINE>(&this);
            return;
        }
        wq::schedule_delayed::<_, DEADLINE>(wq::nvmet_wq(), this, ffi::msecs_to_jiffies(ms));
    }

    /// A fatal error: the C2HTermReq waits for a PDU boundary, but not forever.
    pub(super) fn start_termination(self: ArcBorrow<'_, Self>) {
        if !self.terminating.xchg(true, Relaxed) {
            self.arm_deadline(TERM_GRACE_MS);
        }
    }

    /// The core deletes the controller: the I/O work drains the connection (see
    /// [`crate::proto::tx`]), but not forever.
    pub(super) fn start_drain(self: ArcBorrow<'_, Self>) {
        if !self.draining.xchg(true, Relaxed) {
            STATS.ctrl_drains.add(1, Relaxed);
            self.arm_deadline(DRAIN_GRACE_MS);
            self.kick();
        }
    }

    /// The ICReq was answered: the queue must be connected next.
    pub(super) fn await_connect(self: ArcBorrow<'_, Self>) {
        self.arm_deadline(params::connect_timeout_ms());
    }

    /// The deadline came: closes the connection if it is still where it was then.
    fn deadline_expired(self: ArcBorrow<'_, Self>) {
        let state = self.state.load(Acquire);
        if state == QueueState::Disconnecting {
            return;
        }
        let why = if self.terminating.load(Relaxed) {
            STATS.term_timeouts.add(1, Relaxed);
            "its C2HTermReq could not be sent"
        } else if self.draining.load(Relaxed) {
            STATS.drain_timeouts.add(1, Relaxed);
            "its controller went away and its last responses could not be sent"
        } else if state == QueueState::Connecting {
            STATS.icreq_timeouts.add(1, Relaxed);
            "no ICReq in time"
        } else if !self.connected.load(Relaxed) {
            STATS.connect_timeouts.add(1, Relaxed);
            "no Connect in time"
        } else {
            return;
        };
        if ffi::warn_ratelimit() {
            pr_info!("queue {}: closing the connection: {}\n", self.idx, why);
        }
        self.sock.shutdown();
        // Also start the teardown directly: a socket that was already closing when its
        // callbacks were installed reports no further state change to us.
        self.schedule_release();
    }
}
