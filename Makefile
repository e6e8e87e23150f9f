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
ifeq ($(origin LLVM),undefined)
ifneq ($(shell grep -s '^CONFIG_CC_IS_CLANG=y' $(KDIR)/.config),)
LLVM := $(if $(shell command -v clang-19),-19,1)
endif
endif
# Given to the kbuild sub-make only: scripts/test builds the ARMv7 module with gcc, and an
# exported LLVM would leak into it.
unexport LLVM

.PHONY: all modules clean setup kernels rustfmt rustfmtcheck host-test run test fuzz bench stress

all: modules

modules: $(if $(DEFAULT_KDIR),$(KDIR)/.built)
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(LLVM),LLVM=$(LLVM)) modules

$(CACHE)/kernel/x86_64-debug/.built:
	scripts/build-kernel x86_64-debug >/dev/null

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(if $(LLVM),LLVM=$(LLVM)) clean
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
