# SPDX-License-Identifier: GPL-2.0
#
# User-facing wrapper. The module itself is described by ./Kbuild.
#
#   make                       build nvmet_tcp_rs.ko against the cached x86_64 debug kernel
#   make KDIR=/path/to/build   build against your own Rust-enabled kernel build tree
#   make ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf- KDIR=...   build for ARMv7
#   make CLIPPY=1              the same, through clippy
#   make run                   the main job: serve NVMe/TCP from a QEMU guest and verify I/O
#   make test                  everything: host tests, lints, VM scenarios on both arches
#   make bench                 nvmet_tcp_rs against the C nvmet-tcp in one guest: ratios
#   make stress                the whole reliability suite (make test runs it bounded)
#   make blktests              blktests' nvme group: tcp against C and ours, loop beside ours
#   make install-module        build nvmet-tcp.ko for the running kernel (or KDIR=...)
#   make install               that, installed to stand in for the C nvmet-tcp (as root;
#                              DESTDIR=... for a staging root)
#   make uninstall             undo that (KVER=... for another kernel than the running one)
#   make dkms-deb              the DKMS source as a Debian package (nvmet-tcp-rs-dkms)
#   make stock-test            that package on Debian's own 7.3 kernel, in a chroot and a guest
#
# KDIR may be a distribution kernel's headers (/lib/modules/$(uname -r)/build): the Rust
# metadata they lack is rebuilt once per kernel (scripts/stock-kernel, README).

CACHE ?= /var/cache/nvmet-tcp-rs
# A DKMS source tree has no rust-toolchain.toml: it builds with the distribution's rustc, the
# one its kernel was built with (scripts/stock-kernel).
RUST_TOOLCHAIN := $(shell sed -n 's/^channel = "\(.*\)"/\1/p' $(CURDIR)/rust-toolchain.toml 2>/dev/null)
ifneq ($(RUST_TOOLCHAIN),)
export RUSTUP_TOOLCHAIN := $(RUST_TOOLCHAIN)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif
LIBCLANG_PATH ?= $(wildcard /usr/lib/llvm-19/lib)
ifneq ($(LIBCLANG_PATH),)
export LIBCLANG_PATH
endif

ifeq ($(origin KDIR),undefined)
KDIR := $(CACHE)/kernel/x86_64-debug
DEFAULT_KDIR := 1
endif

# A clang-built kernel wants its modules built with the same clang (KASAN needs clang).
# $(call llvm_for,KDIR): the LLVM= argument for KDIR's kbuild.
llvm_for = $(if $(LLVM),LLVM=$(LLVM),$(if $(shell grep -s '^CONFIG_CC_IS_CLANG=y' $(1)/.config),LLVM=$(if $(shell command -v clang-19),-19,1)))
# $(call kbuild,KDIR): make in KDIR's kbuild. A distribution kernel's build tree (Debian's
# linux-headers) has no Rust metadata: scripts/stock-kernel rebuilds it once per kernel from
# the kernel's source package, and runs make there.
# (A cached test kernel may not be built yet when this is read.)
kbuild = $(if $(or $(filter $(CACHE)/kernel/%,$(1)),$(wildcard $(1)/rust/libkernel.rmeta)),$(MAKE) -C $(1),$(CURDIR)/scripts/stock-kernel $(1))
# Given to the kbuild sub-make only: scripts/test builds the ARMv7 module with gcc, and an
# exported LLVM would leak into it.
unexport LLVM

.PHONY: all modules clean setup kernels rustfmt rustfmtcheck host-test run test fuzz bench stress \
	blktests install-module install uninstall dkms-deb stock-test

all: modules

modules: $(if $(DEFAULT_KDIR),$(KDIR)/.built)
	+$(call kbuild,$(KDIR)) M=$(CURDIR) $(call llvm_for,$(KDIR)) modules

$(CACHE)/kernel/x86_64-debug/.built:
	scripts/build-kernel x86_64-debug >/dev/null

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(call llvm_for,$(KDIR)) clean
	rm -f src/ffi/bindings_generated.rs

setup:
	scripts/setup

kernels: setup
	scripts/build-kernel x86_64-debug
	scripts/build-kernel armv7

RUST_SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.rs')

rustfmt:
	rustfmt --edition 2021 $(RUST_SOURCES)

rustfmtcheck:
	rustfmt --edition 2021 --check $(RUST_SOURCES)

host-test:
	cargo test --locked

run:
	scripts/run

test:
	scripts/test

fuzz:
	scripts/fuzz

# make bench BENCH_ARGS="--rounds 5 --runtime 20"
bench:
	scripts/bench $(BENCH_ARGS)

stress:
	scripts/stress

# make blktests BLKTESTS_ARGS="--tests nvme/003,nvme/004 --only ours"
blktests:
	scripts/blktests $(BLKTESTS_ARGS)

# The installed module is built under the C module's name (Kbuild), against the running
# kernel's build tree unless KDIR says otherwise. Kbuild sees the changed flags and rebuilds
# what differs from a plain `make`. Build it as yourself first (`make install-module`), so
# that a `sudo make install` finds nothing to rebuild and leaves no root-owned files here.
INSTALL_KDIR = $(if $(DEFAULT_KDIR),/lib/modules/$(shell uname -r)/build,$(KDIR))

install-module:
	+$(call kbuild,$(INSTALL_KDIR)) M=$(CURDIR) NVMET_TCP_RS_NAME=nvmet-tcp \
		$(call llvm_for,$(INSTALL_KDIR)) modules

install: install-module
	scripts/install $(if $(DESTDIR),--destdir $(DESTDIR)) nvmet-tcp.ko

uninstall:
	scripts/install --uninstall $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(KVER),--kver $(KVER))

dkms-deb:
	scripts/dkms-deb

stock-test:
	scripts/stock-test
