# SPDX-License-Identifier: GPL-2.0
#
# vhx: in-kernel vhost-net and vhost-blk.
#
#   make            module (for KVER) + userspace tools + selftests
#   make fuzz       the ring walker under libFuzzer for FUZZ_SECONDS (60),
#                   one KTAP result (selftests/fuzz/Makefile)
#   make check      the whole test suite, in a test VM, on every supported kernel
#   make demo       boot a guest under vhx-vm with vhx-served net and disk
#   make bench      side-by-side benchmarks (not run in CI)
#   make module     vhx.ko for KVER (default: the running kernel) in
#                   build/kmod/KVER; C=2 runs sparse over it too
#   make sparse     the same as make module C=2
#   make install    vhx-vm, its man page and the udev rule under PREFIX
#                   (/usr/local), vhx.ko for KVER in MODDIR
#                   (/lib/modules/KVER/updates), then depmod; DESTDIR
#                   stages it all (and skips depmod); make uninstall
#                   removes the same files (same PREFIX, KVER, DESTDIR)
#   make dkms       the module under DKMS (/usr/src/vhx-VERSION), built
#                   and installed for KVER; make dkms-remove undoes it
#   make deb        Debian packages vhx-dkms and vhx-tools in build/deb

TOP   := $(CURDIR)
BUILD := $(TOP)/build
KVER  ?= $(shell uname -r)
FUZZ_SECONDS ?= 60
VERSION ?= 0.1
DKMS_SRC := /usr/src/vhx-$(VERSION)

PREFIX  ?= /usr/local
MODDIR  ?= /lib/modules/$(KVER)/updates
UDEVDIR ?= $(PREFIX)/lib/udev/rules.d

.PHONY: all module sparse user unit fuzz deps check demo bench clean install \
	install-tools install-module uninstall uninstall-tools \
	uninstall-module dkms dkms-source dkms-remove deb

all: module user

# One module build, the one make check, make bench and make demo use.
module:
	@$(TOP)/scripts/build-module.sh "$(KVER)" "$(BUILD)/kmod/$(KVER)" \
		$(if $(C),C=$(C))

sparse:
	@$(MAKE) --no-print-directory module C=2

user:
	$(MAKE) -C userspace BUILD=$(BUILD)/user
	$(MAKE) -C selftests BUILD=$(BUILD)/user

# For hosts without the packages (make deb).  depmod only for the real
# root: in a staging DESTDIR its output would be files nobody installed.
install: install-tools install-module
uninstall: uninstall-tools uninstall-module

TOOLS_FILES := $(PREFIX)/bin/vhx-vm $(PREFIX)/share/man/man1/vhx-vm.1 \
	$(UDEVDIR)/60-vhx.rules

install-tools:
	$(MAKE) -C userspace/vm BUILD=$(BUILD)/user
	install -D -m 0755 $(BUILD)/user/vhx-vm $(DESTDIR)$(PREFIX)/bin/vhx-vm
	install -D -m 0644 $(TOP)/userspace/vm/vhx-vm.1 \
		$(DESTDIR)$(PREFIX)/share/man/man1/vhx-vm.1
	install -D -m 0644 $(TOP)/config/60-vhx.rules \
		$(DESTDIR)$(UDEVDIR)/60-vhx.rules

uninstall-tools:
	rm -f $(addprefix $(DESTDIR),$(TOOLS_FILES))

# Two vhx.ko under updates/ (this one and DKMS's updates/dkms/) would
# leave the choice to depmod's directory walk.
DEPMOD = $(if $(DESTDIR),@echo "$@: not running depmod for a DESTDIR",depmod -a $(KVER))

install-module: module
	@if [ -z "$(DESTDIR)" ] && \
	    ls /lib/modules/$(KVER)/updates/dkms/vhx.ko* > /dev/null 2>&1; then \
		echo "install: vhx is installed under DKMS for $(KVER)" \
		     "(dkms status vhx); remove it first (make dkms-remove," \
		     "or apt remove vhx-dkms)" >&2; \
		exit 1; \
	fi
	install -D -m 0644 $(BUILD)/kmod/$(KVER)/vhx.ko $(DESTDIR)$(MODDIR)/vhx.ko
	$(DEPMOD)

uninstall-module:
	rm -f $(DESTDIR)$(MODDIR)/vhx.ko
	$(DEPMOD)

# DKMS builds from its own copy of the sources, as kbuild writes objects
# beside them; dkms-source registers that copy (once).
dkms-source:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp -r $(TOP)/Kbuild $(TOP)/kmod $(TOP)/uapi $(DKMS_SRC)/
	sed 's/#MODULE_VERSION#/$(VERSION)/' $(TOP)/dkms.conf > $(DKMS_SRC)/dkms.conf
	dkms status vhx/$(VERSION) | grep -q . || dkms add vhx/$(VERSION)

dkms: dkms-source
	dkms build vhx/$(VERSION) -k $(KVER)
	dkms install vhx/$(VERSION) -k $(KVER)

dkms-remove:
	-dkms remove vhx/$(VERSION) --all
	rm -rf $(DKMS_SRC)

# debian/: dpkg-buildpackage in a copy of the tree (scripts/build-deb.sh).
deb:
	@$(TOP)/scripts/build-deb.sh "$(VERSION)" "$(BUILD)/deb"

unit:
	$(MAKE) -C selftests/unit BUILD=$(BUILD)/unit run

fuzz:
	@$(MAKE) --no-print-directory -C selftests/fuzz BUILD=$(BUILD)/fuzz \
		FUZZ_SECONDS=$(FUZZ_SECONDS) run

deps:
	$(TOP)/scripts/install-deps.sh

check:
	$(TOP)/scripts/check.sh

demo:
	$(TOP)/scripts/demo.sh

bench:
	$(TOP)/scripts/bench.sh

.PHONY: bench-smoke
bench-smoke:
	$(TOP)/scripts/bench.sh --smoke

clean:
	rm -rf $(BUILD)
