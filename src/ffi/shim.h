/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Static inlines and macros that Rust cannot call directly, exported as plain functions with a
 * module-private prefix. No protocol logic lives here.
 */
#ifndef NVMET_TCP_RS_SHIM_H
#define NVMET_TCP_RS_SHIM_H

#include <linux/nvme.h>

bool nvmet_tcp_rs_cmd_is_write(const struct nvme_command *cmd);

#endif /* NVMET_TCP_RS_SHIM_H */
