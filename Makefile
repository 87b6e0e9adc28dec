# discport — build, test, demo, bench.
# On a fresh Debian 12 machine `make demo` and `make test` do everything,
# installing what they need first (`make deps`, idempotent).

PREFIX ?= /usr/local
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN_DEBUG := .build/debug/discport
BIN := .build/release/discport

APT_PACKAGES := libsqlite3-dev libxml2-dev libarchive-dev zlib1g-dev pkg-config \
	libjpeg62-turbo-dev libpng-dev libtiff-dev poppler-utils libcharls-dev libopenjp2-7-dev \
	dcmtk dicom3tools libgdcm-tools xorriso genisoimage udftools p7zip-full libarchive-tools python3-pip time \
	orthanc orthanc-dicomweb curl libcurl4 iproute2 \
	libxml2-utils unzip chromium fonts-noto-cjk
PIP_PACKAGES := 'pydicom>=3' numpy Pillow

.PHONY: all deps build release test swift-test conformance demo bench install clean

all: build

## deps: system packages (C libraries, the independent judges) and pydicom; skips what is present.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c "import pydicom, numpy, PIL, sys; sys.exit(0 if int(pydicom.__version__.split('.')[0]) >= 3 else 1)" 2>/dev/null || { \
		echo "deps: installing $(PIP_PACKAGES)"; \
		python3 -m pip install -q $(PIP_PACKAGES) 2>/dev/null || python3 -m pip install -q --break-system-packages $(PIP_PACKAGES); }

build: deps
	$(SWIFT) build

## release: the Swift runtime and Foundation linked in (--static-swift-stdlib): the
## binary needs only Debian's libraries, no toolchain, and starts in half the time
## (7 ms instead of 14: no Swift shared libraries to load and bind).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

## test: everything — unit tests, then the conformance scripts that use the independent judges.
test: build swift-test conformance

swift-test:
	$(SWIFT) test --disable-xctest

conformance: build
	@for t in Tests/conformance/*.sh; do [ -e "$$t" ] || continue; echo "== $$t"; bash "$$t" $(BIN_DEBUG) || exit 1; done

## demo: the main job on testdata/.
demo: build
	@bash testdata/demo.sh $(BIN_DEBUG)

## bench: speed against DCMTK and the raw I/O floor on the same generated data (scan; transcode vs dcmdjpeg).
bench: release
	@bash Benchmarks/run.sh $(BIN)
	@bash Benchmarks/transcode.sh $(BIN)

## install: the release binary without its debug information (92 MB instead of 123;
## the symbols stay, for crash backtraces).
install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	objcopy --strip-debug $(BIN) $(DESTDIR)$(PREFIX)/bin/discport.new
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/discport.new
	mv -f $(DESTDIR)$(PREFIX)/bin/discport.new $(DESTDIR)$(PREFIX)/bin/discport

clean:
	rm -rf .build
