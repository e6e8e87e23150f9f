/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module's own bindgen run: the nvmet core's private header, the exported
 * functions the transport calls that kernel::bindings lacks, and the C shim.
 */
#include <linux/crc32.h>
#include "nvmet.h"
#include "shim.h"
