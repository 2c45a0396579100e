# parley: the two commands of the README, plus a few conveniences.
#   make run    install what is missing, build a release binary, run parleyd (dev mode)
#   make test   install what is missing, build, run every test through ctest
.PHONY: run build test deps format clean

LISTEN ?= 127.0.0.1:8080
DB     ?= sqlite:./data/parley.db

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

run: build
	@mkdir -p data
	exec build/bin/parleyd --dev --listen $(LISTEN) --db $(DB)

test:
	@scripts/test

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
