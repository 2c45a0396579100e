# parley: the two commands of the README, plus a few conveniences.
#   make run    install what is missing, build parleyd and parley (release), run parleyd (dev mode)
#   make test   install what is missing, build, run every test through ctest
#   make cluster  three parleyd nodes + PostgreSQL + a Kafka broker on this machine (docs/cluster.md)
.PHONY: run build test deps format clean cluster

LISTEN ?= 127.0.0.1:8080
DB     ?= sqlite:./data/parley.db

deps:
	@scripts/install-deps

export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

# Only the two programs: the test binaries are built by `make test`.
build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release --target parleyd parley

run: build
	@mkdir -p data
	exec build/bin/parleyd --dev --listen $(LISTEN) --db $(DB)

test:
	@scripts/test

# Builds parleyd and parley (release preset), then runs until Ctrl-C: see scripts/cluster.
cluster:
	@exec scripts/cluster

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
