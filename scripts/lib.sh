# SPDX-License-Identifier: GPL-2.0
# Shared settings for the scripts. Sourced, not run.

# Everything built or downloaded lives outside the repository.
CACHE=${NVMET_RS_CACHE:-/var/cache/nvmet-tcp-rs}
# The rustc the kernels and the module are built with: the one rust-toolchain.toml pins (a
# DKMS source tree has no rust-toolchain.toml: it builds with the distribution's rustc).
RUST_TOOLCHAIN=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../rust-toolchain.toml" 2>/dev/null || true)
RUST_LIB_SRC=${RUST_LIB_SRC:-/usr/lib/rustlib/src/rust/library}
export RUST_LIB_SRC
# bindgen's libclang: the test kernels' LLVM 19 where it is installed (elsewhere, its own search).
if [[ -z ${LIBCLANG_PATH:-} && -d /usr/lib/llvm-19/lib ]]; then
	export LIBCLANG_PATH=/usr/lib/llvm-19/lib
fi
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
