// SPDX-License-Identifier: GPL-2.0

//! A queue's deadline: a connection that holds target memory without making progress is
//! closed. It must send its ICReq within `icreq_timeout_ms` of being accepted and connect its
//! queue within `connect_timeout_ms` after the ICResp; a terminating connection whose
//! C2HTermReq cannot go out (the host stopped reading) is closed after [`TERM_GRACE_MS`].
//! A timeout of 0 disables that deadline.

use super::{
    Queue,
    CONNECTING,
    DISCONNECTING, //
};
use crate::{
    ffi::{
        self,
        sys, //
        work::{
            self,
            RawDelayedWork, //
        },
    },
    stats::STATS,
};
use kernel::{
    prelude::*,
    sync::atomic::{
        Acquire,
        Relaxed, //
    },
};

/// How long a terminating connection may take to send its C2HTermReq.
const TERM_GRACE_MS: u32 = 5000;

impl Queue {
    /// Runs the deadline check `ms` milliseconds from now (replacing an earlier plan), or
    /// never if `ms` is 0.
    pub(super) fn arm_deadline(&self, ms: u32) {
        if ms == 0 {
            self.deadline.cancel();
            return;
        }
        // SAFETY: The release work cancels the deadline before the queue is freed, and
        // nothing arms it after that (the callbacks are detached and the I/O work returns at
        // once).
        unsafe {
            self.deadline
                .schedule(work::nvmet_wq(), ffi::msecs_to_jiffies(ms))
        };
    }

    /// A fatal error: the C2HTermReq waits for a PDU boundary, but not forever.
    pub(super) fn start_termination(&self) {
        if !self.terminating.xchg(true, Relaxed) {
            self.arm_deadline(TERM_GRACE_MS);
        }
    }

    /// The ICReq was answered: the queue must be connected next.
    pub(super) fn await_connect(&self) {
        self.arm_deadline(crate::connect_timeout_ms());
    }

    /// The deadline came: closes the connection if it is still where it was then.
    fn deadline_expired(&self) {
        let state = self.state.load(Acquire);
        if state == DISCONNECTING {
            return;
        }
        let why = if self.terminating.load(Relaxed) {
            STATS.term_timeouts.add(1, Relaxed);
            "its C2HTermReq could not be sent"
        } else if state == CONNECTING {
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

/// The deadline work function.
///
/// # Safety
///
/// Called by the workqueue with the `work` of the `deadline` of a live queue.
pub(super) unsafe extern "C" fn deadline_fn(work: *mut sys::work_struct) {
    // SAFETY: `work` belongs to the `deadline` of a live queue, as the workqueue guarantees.
    let dwork = unsafe { RawDelayedWork::from_work(work) };
    // SAFETY: `dwork` is the `deadline` field of a live queue, which the release work cancels
    // (waiting for this function) before freeing it.
    let q = unsafe { &*kernel::container_of!(core::ptr::from_ref(dwork), Queue, deadline) };
    q.deadline_expired();
}
