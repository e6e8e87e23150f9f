// SPDX-License-Identifier: GPL-2.0
/*
 * C shim of nvmet_tcp_rs: wrappers for static inlines and macros of the kernel headers, called
 * from src/ffi.rs.
 */
#include "shim.h"

bool nvmet_tcp_rs_cmd_is_write(const struct nvme_command *cmd)
{
	return nvme_is_write(cmd);
}
