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

CACHE ?= /var/cache/nvmet-tcp-rs
RUST_TOOLCHAIN := $(shell sed -n 's/^channel = "\(.*\)"/\1/p' $(CURDIR)/rust-toolchain.toml)
export RUSTUP_TOOLCHAIN := $(RUST_TOOLCHAIN)
export PATH := $(HOME)/.cargo/bin:$(PATH)
export LIBCLANG_PATH ?= /usr/lib/llvm-19/lib

ifeq ($(origin KDIR),undefined)
KDIR := $(CACHE)/kernel/x86_64-debug
DEFAULT_KDIR := 1
endif

# A clang-built kernel wants its modules built with the same clang (KASAN needs clang).
# $(call llvm_for,KDIR): the LLVM= argument for KDIR's kbuild.
llvm_for = $(if $(LLVM),LLVM=$(LLVM),$(if $(shell grep -s '^CONFIG_CC_IS_CLANG=y' $(1)/.config),LLVM=$(if $(shell command -v clang-19),-19,1)))
# Given to the kbuild sub-make only: scripts/test builds the ARMv7 module with gcc, and an
# exported LLVM would leak into it.
unexport LLVM

.PHONY: all modules clean setup kernels rustfmt rustfmtcheck host-test run test fuzz bench stress \
	blktests install-module install uninstall

all: modules

modules: $(if $(DEFAULT_KDIR),$(KDIR)/.built)
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(call llvm_for,$(KDIR)) modules

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
	$(MAKE) -C $(INSTALL_KDIR) M=$(CURDIR) NVMET_TCP_RS_NAME=nvmet-tcp \
		$(call llvm_for,$(INSTALL_KDIR)) modules

install: install-module
	scripts/install $(if $(DESTDIR),--destdir $(DESTDIR)) nvmet-tcp.ko

uninstall:
	scripts/install --uninstall $(if $(DESTDIR),--destdir $(DESTDIR)) $(if $(KVER),--kver $(KVER))
