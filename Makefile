# retrysql: every target runs across all the modules of the workspace (go.work).
PKGS        := ./... ./examples/... ./otelretrysql/... ./integration/...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
FUZZTIME    ?=
BENCHCOUNT  ?= 6

.PHONY: test demo bench lint fuzz integration contention soak

# Every test of every module, with the race detector. Real-database tests
# use the local PostgreSQL and MariaDB, and instances of their own where they
# restart or reconfigure a server (see DEVELOPERS.md); the integration
# module runs last and alone, because its chaos, outage and contention tests
# load the machine.
test:
	go test -race -count=1 ./... ./examples/... ./otelretrysql/...
	go test -race -count=1 -timeout 20m ./integration/...

# The real-database tests alone.
integration:
	go test -race -count=1 -timeout 20m ./integration/...

# The chaos bank test for SOAK (default 10m) per database.
SOAK ?= 10m
soak:
	RETRYSQL_SOAK=$(SOAK) go test -race -count=1 -timeout 0 -run '^TestChaosBank$$' -v ./integration/

demo:
	go run ./examples/bank

# The contention benchmark of BENCHMARKS.md (about 70 minutes): the main
# table, then low contention, several processes, phases and cold work.
contention:
	go run ./integration/cmd/contention -duration 10s -reps 3 -strategies "immediate,exponential,full jitter,equal,decorrelated,retrysql"
	go run ./integration/cmd/contention -more -duration 5s -reps 3 -strategies "immediate,equal,decorrelated 2ms,full jitter 1ms,retrysql admission"

# Benchmarks, BENCHCOUNT runs each, summarised with benchstat.
bench:
	go test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) $(PKGS) | tee bench.txt
	go run $(BENCHSTAT) bench.txt

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)
	go run $(STATICCHECK) $(PKGS)

# Each fuzz target for a number of inputs (about 10 s each here), or for
# FUZZTIME when it is set (make fuzz FUZZTIME=1m). A count, not a time:
# with a time, Go 1.26's fuzzing coordinator may fail a target at the
# deadline on a busy machine (go.dev/issue/75804, fixed in Go 1.27).
fuzz:
	go test -run '^$$' -fuzz '^FuzzDelay$$' -fuzztime $(or $(FUZZTIME),300000x) ./strategy
	go test -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(or $(FUZZTIME),50000x) ./classify
	go test -run '^$$' -fuzz '^FuzzOptions$$' -fuzztime $(or $(FUZZTIME),50000x) .
	go test -run '^$$' -fuzz '^FuzzDSN$$' -fuzztime $(or $(FUZZTIME),5000x) .
