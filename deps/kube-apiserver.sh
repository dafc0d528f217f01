#!/usr/bin/env sh
# make kube-apiserver-bin: build the pinned kube-apiserver from the Go module
# proxy into bin/ — the way controller-runtime's envtest gets a real API
# server, without a download site. k8s.io/kubernetes cannot be `go install`ed
# (its go.mod replaces its staging modules with directories), so a
# throw-away module outside the checkout requires it and maps each staging
# module to its published version. Used by the Kubernetes manifests' test
# (internal/k8stest), with etcd from Debian's etcd-server.
set -eu
version="$1" # e.g. v1.36.3
out="$2"     # the binary to write
staging="v0.${version#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
{
	echo "module swelake.local/kube-apiserver"
	echo
	echo "go 1.26.0"
	echo
	echo "require k8s.io/kubernetes $version"
	echo
	echo "replace ("
	grep -E '=> \./staging/' "$gomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
	echo ")"
} > "$work/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > "$work/tools.go"
cd "$work"
go mod tidy
minor=$(echo "$version" | cut -d. -f2)
v=k8s.io/component-base/version
go build -trimpath -ldflags "-X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
	-o "$out" k8s.io/kubernetes/cmd/kube-apiserver
echo "kube-apiserver $version → $out"
