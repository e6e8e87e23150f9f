# SPDX-License-Identifier: GPL-2.0
# Shared settings for the scripts. Sourced, not run.

# Everything built or downloaded lives outside the repository.
CACHE=${NVMET_RS_CACHE:-/var/cache/nvmet-tcp-rs}
# The rustc the kernels and the module are built with: the one rust-toolchain.toml pins.
RUST_TOOLCHAIN=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../rust-toolchain.toml")
RUST_LIB_SRC=${RUST_LIB_SRC:-/usr/lib/rustlib/src/rust/library}
LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
export RUST_LIB_SRC LIBCLANG_PATH
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
