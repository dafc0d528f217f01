#!/usr/bin/env sh
# make setup: install what swelake needs on a Debian machine — only what is
# missing, so that it works where Node.js already ships npm (NodeSource) or
# a tool is already installed — then the pinned Go modules, MinIO,
# node_exporter and npm packages (make deps). Needs root or sudo for
# apt-get; nothing is downloaded at run time afterwards. Optional, never
# installed: a browser to open the report (xdg-open), huggingface-cli to
# upload a publication, Hugging Face datasets to load one from Python, a
# Kubernetes cluster. (Slurm is installed: its tests start a real
# single-node cluster, internal/slurmtest; so are etcd and a kube-apiserver
# built from the module proxy, internal/k8stest, which the Kubernetes
# manifests are dry-run against.)
set -eu
cd "$(dirname "$0")/.."

need=""
want() { # want <command or python module check> <package> <why>
	if ! eval "$1" >/dev/null 2>&1; then
		need="$need $2"
		echo "setup: will install $2 ($3)"
	fi
}
want "command -v make" make "builds and tests"
want "command -v gcc" gcc "cgo: DuckDB"
want "command -v git" git "versions, sample repositories"
want "command -v node" nodejs "the tokenizer parity reference and the consumers' loaders"
want "command -v npm" npm "installs the pinned npm packages (not when Node.js already has it)"
want "command -v bwrap" bubblewrap "the local sandbox"
want "command -v podman" podman "the container engine the docker backend's tests start"
want "command -v runc" runc "podman's runtime here (crun fails on hybrid cgroups)"
want "command -v mmdebstrap" mmdebstrap "builds the base image offline"
want "command -v chromium" chromium "renders the report in its tests"
want "command -v prometheus-pushgateway" prometheus-pushgateway "takes the pipeline's pushed metrics in its test"
want "/usr/bin/python3 -c 'import pytest'" python3-pytest "the sample repositories' tests"
want "/usr/bin/python3 -c 'import jinja2'" python3-jinja2 "chat templates rendered as transformers renders them"
want "command -v jq" jq "the docs' examples filter --json output with it"
want "command -v slurmctld && command -v sbatch" slurm-wlm "the sharded stages' tests run under a real single-node Slurm cluster"
want "command -v munged" munge "Slurm's authentication"
want "command -v etcd" etcd-server "the store of the real kube-apiserver the Kubernetes manifests are dry-run against"

# kube-apiserver builds from the module proxy in about 5 minutes of CPU:
# start it now, so that it overlaps the package downloads.
kas_pid=""
kas_log=$(mktemp)
if command -v go >/dev/null && command -v make >/dev/null; then
	echo "setup: building kube-apiserver in the background (log: $kas_log)"
	make --no-print-directory kube-apiserver-bin >"$kas_log" 2>&1 &
	kas_pid=$!
fi

if [ -n "$need" ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	# shellcheck disable=SC2086
	$sudo apt-get install -y -q $need
else
	echo "setup: every Debian package is there"
fi

command -v go >/dev/null || { echo "setup: Go 1.26 is needed (https://go.dev/dl/); then run make setup again" >&2; exit 1; }
go version
if [ -n "$kas_pid" ]; then
	if ! wait "$kas_pid"; then
		cat "$kas_log" >&2
		echo "setup: building kube-apiserver failed (make kube-apiserver-bin)" >&2
		exit 1
	fi
	cat "$kas_log"
fi
rm -f "$kas_log"
make deps
echo "setup: done — make demo, then make test"
