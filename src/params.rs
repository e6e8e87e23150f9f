// SPDX-License-Identifier: GPL-2.0

//! The module parameters, read where they are used. `module!` generates their storage
//! (`module_parameters`, at the crate root); this is the only module that reads it, so the
//! layers above reach the parameters here rather than through the root.

/// The `so_priority` parameter.
pub(crate) fn so_priority() -> i32 {
    crate::module_parameters::so_priority.value()
}

/// The `idle_poll_period_usecs` parameter.
pub(crate) fn idle_poll_period_usecs() -> i32 {
    crate::module_parameters::idle_poll_period_usecs.value()
}

/// The `highmem_buffers` parameter.
pub(crate) fn highmem_buffers() -> bool {
    crate::module_parameters::highmem_buffers.value()
}

/// The `icreq_timeout_ms` parameter.
pub(crate) fn icreq_timeout_ms() -> u32 {
    crate::module_parameters::icreq_timeout_ms.value()
}

/// The `connect_timeout_ms` parameter.
pub(crate) fn connect_timeout_ms() -> u32 {
    crate::module_parameters::connect_timeout_ms.value()
}
