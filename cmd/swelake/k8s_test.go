package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/swelake/swelake/internal/k8stest"
)

// k8sPipeline has sharded stages (one with an underscore, which a
// Kubernetes name cannot have), per-stage resources and a schedule.
const k8sPipeline = `name: nightly
policy: scripted
set: {sandbox.repos_dir: .demo/repos}
kubernetes:
  image: registry.example.com/swelake:1.4
  namespace: swe-train
  schedule: "0 2 * * *"
  time_zone: Europe/Paris
  service_account: swelake
  cpu: "2"
  memory: 4Gi
stages:
  - {name: validate-tasks, job: validate-tasks, shards: 4}
  - name: rollout
    job: rollout
    shards: 16
    kubernetes: {cpu: "8", memory: 16Gi, parallelism: 4}
    config: {samples: 8, max_steps: 50}
  - {name: evaluate, job: evaluate, shards: 8}
  - {name: verify_hybrid, job: verify, shards: 2, config: {mode: hybrid}}
  - {name: curate, job: curate}
  - {name: build-sft, job: build-sft, config: {out_dir: sft}}
`

// TestK8sManifests writes a pipeline's Kubernetes objects and has a real
// kube-apiserver (built from the module proxy, on Debian's etcd) check
// every one by a server-side dry-run create with strict field validation
// and no warning — from the --json List and from the YAML a user pipes to
// kubectl — then creates them for real and reads back what the server
// stored: the indexed Jobs' shards and commands, the CronJob's schedule,
// the Secret references. The lake's keys, set in the environment, appear
// in no manifest.
func TestK8sManifests(t *testing.T) {
	ctx := context.Background()
	srv, err := k8stest.Start(ctx)
	if err != nil {
		t.Fatalf("a Kubernetes API server is required: %v", err)
	}
	defer srv.Stop()
	dir := t.TempDir()
	file := filepath.Join(dir, "nightly.yaml")
	if err := os.WriteFile(file, []byte(k8sPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	const access, secret = "AKIAEXAMPLEACCESSKEY", "wJalrXUtnFEMI-example-secret-key"
	c := &cli{t: t, dir: dir, env: map[string]string{"SWELAKE_S3_ENDPOINT": "minio.storage.svc:9000", "SWELAKE_S3_SECURE": "false",
		"SWELAKE_S3_ACCESS_KEY": access, "SWELAKE_S3_SECRET_KEY": secret}}
	lk := "--lake=s3://swe-lake/prod"
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	out := c.ok("k8s", "manifests", file, lk, "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" || len(list.Items) != 6 {
		t.Fatalf("--json: %v %s", err, out)
	}
	docs := c.ok("k8s", "manifests", file, lk)
	for _, text := range []string{out, docs} {
		if strings.Contains(text, access) || strings.Contains(text, secret) {
			t.Fatalf("a key of the lake is in the manifests:\n%s", text)
		}
	}
	// The YAML documents are the same objects as the List's items.
	dec := yaml.NewDecoder(strings.NewReader(docs))
	var fromYAML []json.RawMessage
	for {
		var v any
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		data, _ := json.Marshal(v)
		fromYAML = append(fromYAML, data)
	}
	if len(fromYAML) != len(list.Items) {
		t.Fatalf("%d YAML documents, %d items", len(fromYAML), len(list.Items))
	}
	for i := range fromYAML {
		var a, b any
		json.Unmarshal(fromYAML[i], &a)
		json.Unmarshal(list.Items[i], &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("YAML document %d differs from the List's item:\n%s\n%s", i, fromYAML[i], list.Items[i])
		}
	}
	// The namespace exists on a real cluster; the server needs it here too.
	ns := []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"swe-train"}}`)
	if code, body, err := srv.Do(ctx, "POST", "/api/v1/namespaces", ns); err != nil || code != 201 {
		t.Fatalf("namespace: %d %s %v", code, body, err)
	}
	path := func(item json.RawMessage) (string, string) {
		var m struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		json.Unmarshal(item, &m)
		res := map[string]string{"ConfigMap": "/api/v1/namespaces/%s/configmaps", "Job": "/apis/batch/v1/namespaces/%s/jobs", "CronJob": "/apis/batch/v1/namespaces/%s/cronjobs"}[m.Kind]
		if res == "" {
			t.Fatalf("unexpected kind %s", m.Kind)
		}
		return fmt.Sprintf(res, m.Metadata.Namespace), m.Kind + " " + m.Metadata.Name
	}
	for _, items := range [][]json.RawMessage{list.Items, fromYAML} {
		for _, item := range items {
			p, what := path(item)
			code, body, warnings, err := srv.DoWarn(ctx, "POST", p+"?dryRun=All&fieldValidation=Strict", item)
			if err != nil || code != 201 || len(warnings) > 0 {
				t.Fatalf("server-side dry run of %s: %d %v %v\n%s\n%s", what, code, warnings, err, body, item)
			}
		}
	}
	// Created for real, read back as the server stored them.
	for _, item := range list.Items {
		p, what := path(item)
		if code, body, err := srv.Do(ctx, "POST", p, item); err != nil || code != 201 {
			t.Fatalf("create %s: %d %v\n%s", what, code, err, body)
		}
	}
	type container struct {
		Args []string `json:"args"`
		Env  []struct {
			Name      string `json:"name"`
			Value     string `json:"value"`
			ValueFrom *struct {
				SecretKeyRef struct{ Name, Key string } `json:"secretKeyRef"`
			} `json:"valueFrom"`
		} `json:"env"`
		Resources struct {
			Requests map[string]string `json:"requests"`
		} `json:"resources"`
	}
	type jobSpec struct {
		CompletionMode       string `json:"completionMode"`
		Completions          int    `json:"completions"`
		Parallelism          int    `json:"parallelism"`
		BackoffLimitPerIndex int    `json:"backoffLimitPerIndex"`
		Template             struct {
			Spec struct {
				ServiceAccountName string      `json:"serviceAccountName"`
				Containers         []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	}
	get := func(p string, v any) {
		t.Helper()
		code, body, err := srv.Do(ctx, "GET", p, nil)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v %s", p, code, err, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]struct {
		shards, par int
		stage, cpu  string
	}{
		"swelake-nightly-validate-tasks": {4, 4, "validate-tasks", "2"},
		"swelake-nightly-rollout":        {16, 4, "rollout", "8"},
		"swelake-nightly-evaluate":       {8, 8, "evaluate", "2"},
		"swelake-nightly-verify-hybrid":  {2, 2, "verify_hybrid", "2"},
	} {
		var job struct{ Spec jobSpec }
		get("/apis/batch/v1/namespaces/swe-train/jobs/"+name, &job)
		s := job.Spec
		ctr := s.Template.Spec.Containers[0]
		args := strings.Join(ctr.Args, " ")
		if s.CompletionMode != "Indexed" || s.Completions != want.shards || s.Parallelism != want.par || s.BackoffLimitPerIndex != 3 ||
			args != fmt.Sprintf("pipeline stage /etc/swelake/pipeline.yaml %s --shard auto/%d --lake s3://swe-lake/prod", want.stage, want.shards) ||
			ctr.Resources.Requests["cpu"] != want.cpu || s.Template.Spec.ServiceAccountName != "swelake" {
			t.Errorf("job %s as stored: %+v", name, s)
		}
		refs := map[string]string{}
		for _, e := range ctr.Env {
			if e.ValueFrom != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		if refs["SWELAKE_S3_ACCESS_KEY"] != "swelake-s3/access_key" || refs["SWELAKE_S3_SECRET_KEY"] != "swelake-s3/secret_key" {
			t.Errorf("job %s: credentials %v", name, refs)
		}
	}
	var cron struct {
		Spec struct {
			Schedule, TimeZone, ConcurrencyPolicy string
			JobTemplate                           struct{ Spec jobSpec } `json:"jobTemplate"`
		}
	}
	get("/apis/batch/v1/namespaces/swe-train/cronjobs/swelake-nightly", &cron)
	if cron.Spec.Schedule != "0 2 * * *" || cron.Spec.TimeZone != "Europe/Paris" || cron.Spec.ConcurrencyPolicy != "Forbid" ||
		strings.Join(cron.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, " ") != "pipeline run /etc/swelake/pipeline.yaml --lake s3://swe-lake/prod" {
		t.Errorf("cronjob as stored: %+v", cron.Spec)
	}
	var cm struct{ Data map[string]string }
	get("/api/v1/namespaces/swe-train/configmaps/swelake-nightly-pipeline", &cm)
	if cm.Data["pipeline.yaml"] != k8sPipeline {
		t.Errorf("the ConfigMap's pipeline file differs:\n%s", cm.Data["pipeline.yaml"])
	}
	// --out writes one file per object; bad options are usage errors.
	c.ok("k8s", "manifests", file, lk, "--out", filepath.Join(dir, "k8s"))
	files, _ := filepath.Glob(filepath.Join(dir, "k8s", "*.yaml"))
	if len(files) != 6 {
		t.Errorf("--out: %v", files)
	}
	if data, _ := os.ReadFile(files[0]); !bytes.Contains(data, []byte("kind: ConfigMap")) {
		t.Errorf("%s: %s", files[0], data)
	}
	c.fails("the pods reach the lake over S3", 2, "k8s", "manifests", file, "--lake", filepath.Join(dir, "lake"))
	c.fails("namespace \"Swe\"", 2, "k8s", "manifests", file, lk, "--namespace", "Swe")
	c.fails(`stage "curate" (curate): shards: 2`, 2, "k8s", "manifests", writeFile(t, dir, "bad.yaml", "name: b\nstages: [{job: curate, shards: 2}]\n"), lk)
	noImage := writeFile(t, dir, "noimage.yaml", "name: b\nstages: [{job: rollout, shards: 2}]\n")
	c.fails("no image: set kubernetes.image", 2, "k8s", "manifests", noImage, lk)
	t.Logf("kube-apiserver %s accepted %d objects (dry run from the List and from the YAML, then created)", srv.Version(ctx), len(list.Items))
}
