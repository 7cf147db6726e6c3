.PHONY: run test soak bench allocations build install clean

# Pushgate on config.yaml with a local mosquitto (installs what is missing, builds release).
run:
	scripts/run.sh

# The whole test suite: Swift tests, then the Python interop tests.
test:
	scripts/test.sh

# The long fault-and-attack runs (a table of attacks and their targets) and 5 minutes of fuzzing per parser.
soak:
	scripts/soak.sh

# The benchmark: ceilings and Pushgate in one run, a Markdown + JSON table (.run/bench/).
bench:
	scripts/bench.sh

build:
	swift build

# The release binary (static Swift stdlib), systemd unit, /etc/pushgate/pushgate.yaml (once), docs.
# PREFIX=/usr/local by default; DESTDIR stages instead of installing.
install:
	scripts/install.sh

clean:
	rm -rf .build .build-fuzz .venv .run

# Heap allocations per operation of the hot units (a table; make test checks the limits).
allocations:
	scripts/allocations.sh
