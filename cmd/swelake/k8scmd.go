package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/swelake/swelake/jobs/pipeline"
	"github.com/swelake/swelake/jobs/pipeline/k8s"
)

func newK8sCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "k8s", Short: "Kubernetes: the objects that run a pipeline on a cluster"}
	var o k8s.Options
	var outDir string
	m := &cobra.Command{
		Use:   "manifests <pipeline.yaml>",
		Short: "Write a pipeline's Kubernetes objects: its file as a ConfigMap, an indexed Job per sharded stage, a CronJob",
		Long: `Writes the Kubernetes objects that run a pipeline file on a cluster, as YAML
documents on stdout (kubectl apply -f -), one file per object with --out, or a
v1 List with --json:

  ConfigMap swelake-<pipeline>-pipeline   the pipeline file, mounted at /etc/swelake/pipeline.yaml
  Job swelake-<pipeline>-<stage>          per stage with shards: N > 1 — an indexed Job of N
                                          completions, each pod "swelake pipeline stage
                                          /etc/swelake/pipeline.yaml <stage> --shard auto/N"
                                          (JOB_COMPLETION_INDEX is the shard); a shard that
                                          fails is retried 3 times (backoffLimitPerIndex),
                                          a usage error (exit 2) never
  CronJob swelake-<pipeline>              when a schedule is set: "swelake pipeline run" on
                                          it, concurrencyPolicy Forbid (and the pipeline's
                                          lease across clusters); exit 2 or 3 (already
                                          running) is not retried

Each shard records itself in the lake when done, so the CronJob's run (or any
"swelake pipeline run") takes a stage whose indexed Job completed as done, and
runs only the shards still missing — never one that a pod is running (each
shard runs under its own lease).

The pods reach the lake over S3: --lake must be s3://… and s3.endpoint
(SWELAKE_S3_ENDPOINT) the address the pods reach. Its keys come from a Secret
by reference (SWELAKE_S3_ACCESS_KEY and SWELAKE_S3_SECRET_KEY from the
Secret's access_key and secret_key): they are never written into a manifest.
Create the Secret once:

  kubectl create secret generic swelake-s3 --from-literal=access_key=… --from-literal=secret_key=…

The image, namespace, schedule, time zone, service account, Secret and the
pods' cpu and memory come from the file's kubernetes: section (a stage's
kubernetes: overrides cpu, memory and parallelism); the flags override it.`,
		Example: `  swelake k8s manifests nightly.yaml --lake s3://swe-lake/prod --image registry.example.com/swelake:1.4 | kubectl apply -f -
  swelake k8s manifests nightly.yaml --lake s3://swe-lake/prod --out k8s/
  swelake k8s manifests nightly.yaml --lake s3://swe-lake/prod --json | jq '.items[].metadata.name'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{fmt.Errorf("pipeline %s: %w", args[0], err)}
			}
			spec, err := pipeline.Parse(args[0], data)
			if err != nil {
				return usageError{err}
			}
			if err := a.checkStageConfigs(cmd, args[0], spec); err != nil {
				return err
			}
			o.File, o.Data, o.Spec, o.Lake = args[0], data, spec, a.cfg.Lake
			o.S3Endpoint, o.S3Region, o.S3Secure = a.cfg.S3.Endpoint, a.cfg.S3.Region, a.cfg.S3.Secure
			objs, err := k8s.Manifests(o)
			if errors.Is(err, k8s.ErrOptions) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"apiVersion": "v1", "kind": "List", "items": objs})
			}
			if outDir != "" {
				if err := os.MkdirAll(outDir, 0o755); err != nil {
					return err
				}
			}
			var all bytes.Buffer
			fmt.Fprintf(&all, "# swelake k8s manifests %s: %d objects. The lake's keys come from the Secret %s\n"+
				"# (kubectl create secret generic %s --from-literal=access_key=… --from-literal=secret_key=…).\n",
				filepath.Base(args[0]), len(objs), o.SecretName(), o.SecretName())
			for i, obj := range objs {
				doc, err := toYAML(obj)
				if err != nil {
					return fmt.Errorf("%s %s: %w", obj.Kind, obj.Metadata.Name, err)
				}
				if outDir != "" {
					f := filepath.Join(outDir, fmt.Sprintf("%02d-%s-%s.yaml", i, strings.ToLower(obj.Kind), obj.Metadata.Name))
					if err := writeFileAtomic(f, doc, 0o644); err != nil {
						return err
					}
					fmt.Fprintln(a.stdout, f)
					continue
				}
				all.WriteString("---\n")
				all.Write(doc)
			}
			if outDir == "" {
				_, err = a.stdout.Write(all.Bytes())
			}
			return err
		},
	}
	f := m.Flags()
	f.StringVar(&o.Image, "image", "", "the swelake container image (default kubernetes.image of the file)")
	f.StringVar(&o.Namespace, "namespace", "", "the objects' namespace (default kubernetes.namespace, else default)")
	f.StringVar(&o.Schedule, "schedule", "", `the CronJob's schedule, e.g. "0 2 * * *" (default kubernetes.schedule; none: no CronJob)`)
	f.StringVar(&o.Secret, "secret", "", "the Secret holding the lake's access_key and secret_key (default kubernetes.secret, else swelake-s3)")
	f.StringVar(&outDir, "out", "", "write one YAML file per object into this directory instead of stdout")
	c.AddCommand(m)
	return c
}

// toYAML writes an object as YAML in its fields' order, multi-line strings
// (the pipeline file) as literal blocks.
func toYAML(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style &^= yaml.DoubleQuotedStyle | yaml.FlowStyle
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") {
			n.Style = yaml.LiteralStyle
		}
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
