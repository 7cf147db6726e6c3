.PHONY: run test bench build clean

# Pushgate on config.yaml with a local mosquitto (installs what is missing, builds release).
run:
	scripts/run.sh

# The whole test suite: Swift tests, then the Python interop tests.
test:
	scripts/test.sh

# The benchmark: ceilings and Pushgate in one run, a Markdown + JSON table (.run/bench/).
bench:
	scripts/bench.sh

build:
	swift build

clean:
	rm -rf .build .venv .run
