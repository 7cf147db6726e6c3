.PHONY: run test build clean

# Pushgate on config.yaml with a local mosquitto (installs what is missing, builds release).
run:
	scripts/run.sh

# The whole test suite: Swift tests, then the Python interop tests.
test:
	scripts/test.sh

build:
	swift build

clean:
	rm -rf .build .venv .run
