# The developer loop. `make test` is what CI runs.

.PHONY: test test-unit lint fuzz demo

# Every package but the end-to-end one: no peers to install, seconds.
test-unit:
	go test -count=1 $$(go list ./... | grep -v /e2e)

# Everything CI runs: peers installed, lint, race detector, the Caddy
# binary end to end, the browser, fuzz seeds, benchmarks once.
test:
	./test.sh

# gofmt, go vet, staticcheck (pinned).
lint:
	./scripts/lint.sh

# Each fuzz target for minutes (FUZZTIME=10m make fuzz for longer).
fuzz:
	./scripts/fuzz.sh

demo:
	./demo.sh
