// Package k8s writes a pipeline's Kubernetes objects (swelake k8s
// manifests): a ConfigMap holding the pipeline file, an indexed Job per
// sharded stage whose pods each run one shard ("swelake pipeline stage
// <file> <stage> --shard auto/N", the index from JOB_COMPLETION_INDEX), and
// a CronJob whose pod runs the pipeline ("swelake pipeline run") on the
// file's schedule. The lake's credentials come from a Secret by reference,
// never inline: this package is never given them.
package k8s

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/swelake/swelake/jobs/pipeline"
)

// Options are what the objects need beyond the pipeline file.
type Options struct {
	File string // the pipeline file's name (shown in the ConfigMap and the pods' args)
	Data []byte // its content, verbatim, into the ConfigMap
	Spec *pipeline.Spec
	// Lake is the lake's root as the pods reach it: s3://bucket/prefix.
	Lake string
	// The S3 endpoint's address, region and TLS (not secret; the keys are
	// the Secret's).
	S3Endpoint, S3Region string
	S3Secure             bool
	// Overrides of the file's kubernetes: section ("" keeps it).
	Image, Namespace, Schedule, Secret string
}

// ErrOptions marks options that cannot make valid objects.
var ErrOptions = errors.New("kubernetes manifests")

// Object is one Kubernetes object, marshalled as JSON or YAML.
type Object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   Metadata          `json:"metadata"`
	Data       map[string]string `json:"data,omitempty"` // ConfigMap
	Spec       any               `json:"spec,omitempty"`
}

// Metadata is an object's name, namespace and labels.
type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type jobSpec struct {
	CompletionMode          string            `json:"completionMode,omitempty"`
	Completions             *int              `json:"completions,omitempty"`
	Parallelism             *int              `json:"parallelism,omitempty"`
	BackoffLimit            *int              `json:"backoffLimit,omitempty"`
	BackoffLimitPerIndex    *int              `json:"backoffLimitPerIndex,omitempty"`
	MaxFailedIndexes        *int              `json:"maxFailedIndexes,omitempty"`
	PodFailurePolicy        *podFailurePolicy `json:"podFailurePolicy,omitempty"`
	TTLSecondsAfterFinished *int              `json:"ttlSecondsAfterFinished,omitempty"`
	Template                podTemplate       `json:"template"`
}

type podFailurePolicy struct {
	Rules []podFailureRule `json:"rules"`
}

type podFailureRule struct {
	Action      string      `json:"action"`
	OnExitCodes exitCodeReq `json:"onExitCodes"`
}

type exitCodeReq struct {
	ContainerName string `json:"containerName"`
	Operator      string `json:"operator"`
	Values        []int  `json:"values"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec podSpec `json:"spec"`
}

type podSpec struct {
	RestartPolicy      string      `json:"restartPolicy"`
	ServiceAccountName string      `json:"serviceAccountName,omitempty"`
	Containers         []container `json:"containers"`
	Volumes            []volume    `json:"volumes"`
}

type container struct {
	Name         string        `json:"name"`
	Image        string        `json:"image"`
	Args         []string      `json:"args"`
	Env          []envVar      `json:"env"`
	Resources    *resources    `json:"resources,omitempty"`
	VolumeMounts []volumeMount `json:"volumeMounts"`
}

type envVar struct {
	Name      string     `json:"name"`
	Value     string     `json:"value,omitempty"`
	ValueFrom *valueFrom `json:"valueFrom,omitempty"`
}

type valueFrom struct {
	SecretKeyRef secretKeyRef `json:"secretKeyRef"`
}

type secretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly"`
}

type volume struct {
	Name      string `json:"name"`
	ConfigMap struct {
		Name string `json:"name"`
	} `json:"configMap"`
}

type cronJobSpec struct {
	Schedule                   string  `json:"schedule"`
	TimeZone                   string  `json:"timeZone,omitempty"`
	ConcurrencyPolicy          string  `json:"concurrencyPolicy"`
	StartingDeadlineSeconds    *int    `json:"startingDeadlineSeconds,omitempty"`
	SuccessfulJobsHistoryLimit *int    `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int    `json:"failedJobsHistoryLimit,omitempty"`
	JobTemplate                jobTmpl `json:"jobTemplate"`
}

type jobTmpl struct {
	Spec jobSpec `json:"spec"`
}

// MountDir is where the pods see the pipeline file.
const MountDir = "/etc/swelake"

// DefaultSecret is the Secret the pods take the lake's keys from.
const DefaultSecret = "swelake-s3"

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// name is a DNS-1123 label of at most max characters from parts: '_'
// becomes '-', and a name too long is cut and given a hash of the whole.
func name(max int, parts ...string) string {
	n := strings.ReplaceAll(strings.Join(parts, "-"), "_", "-")
	if len(n) <= max {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return strings.TrimRight(n[:max-9], "-") + "-" + hex.EncodeToString(sum[:4])
}

func ptr(i int) *int { return &i }

// SecretName is the Secret the pods take the lake's keys from: the
// option's, the file's, else DefaultSecret.
func (o Options) SecretName() string { return or(o.Secret, o.Spec.Kubernetes.Secret, DefaultSecret) }

// Manifests are the pipeline's objects: the ConfigMap, an indexed Job per
// stage with shards: N > 1, and the CronJob when a schedule is set.
func Manifests(o Options) ([]Object, error) {
	s := o.Spec
	k := s.Kubernetes
	image, ns, schedule, secret := or(o.Image, k.Image), or(o.Namespace, k.Namespace, "default"), or(o.Schedule, k.Schedule), o.SecretName()
	if image == "" {
		return nil, fmt.Errorf("%w: no image: set kubernetes.image in %s or pass --image", ErrOptions, o.File)
	}
	if !strings.HasPrefix(o.Lake, "s3://") {
		return nil, fmt.Errorf("%w: lake %q: the pods reach the lake over S3; pass --lake s3://bucket/prefix", ErrOptions, o.Lake)
	}
	if o.S3Endpoint == "" {
		return nil, fmt.Errorf("%w: no S3 endpoint: set s3.endpoint (or SWELAKE_S3_ENDPOINT) to the address the pods reach", ErrOptions)
	}
	if !dns1123.MatchString(ns) || len(ns) > 63 {
		return nil, fmt.Errorf("%w: namespace %q is not a DNS-1123 label", ErrOptions, ns)
	}
	if !dns1123.MatchString(secret) {
		return nil, fmt.Errorf("%w: secret %q is not a valid Secret name", ErrOptions, secret)
	}
	file := MountDir + "/pipeline.yaml"
	labels := func(stage string) map[string]string {
		l := map[string]string{"app.kubernetes.io/name": "swelake", "app.kubernetes.io/part-of": name(63, "swelake", s.Name), "swelake.dev/pipeline": s.Name}
		if stage != "" {
			l["swelake.dev/stage"] = strings.ReplaceAll(stage, "_", "-")
		}
		return l
	}
	env := []envVar{
		{Name: "SWELAKE_S3_ENDPOINT", Value: o.S3Endpoint},
		{Name: "SWELAKE_S3_SECURE", Value: fmt.Sprint(o.S3Secure)},
		{Name: "SWELAKE_S3_ACCESS_KEY", ValueFrom: &valueFrom{secretKeyRef{Name: secret, Key: "access_key"}}},
		{Name: "SWELAKE_S3_SECRET_KEY", ValueFrom: &valueFrom{secretKeyRef{Name: secret, Key: "secret_key"}}},
		{Name: "SWELAKE_LOG_FORMAT", Value: "json"},
	}
	if o.S3Region != "" {
		env = append(env, envVar{Name: "SWELAKE_S3_REGION", Value: o.S3Region})
	}
	cm := name(63, "swelake", s.Name, "pipeline")
	pod := func(stage string, args []string, r pipeline.KubeResources) podTemplate {
		var t podTemplate
		t.Metadata.Labels = labels(stage)
		c := container{Name: "swelake", Image: image, Args: append(args, "--lake", o.Lake), Env: env,
			VolumeMounts: []volumeMount{{Name: "pipeline", MountPath: MountDir, ReadOnly: true}}}
		cpu, mem := or(r.CPU, k.CPU), or(r.Memory, k.Memory)
		if cpu != "" || mem != "" {
			c.Resources = &resources{Requests: map[string]string{}}
			if cpu != "" {
				c.Resources.Requests["cpu"] = cpu
			}
			if mem != "" {
				c.Resources.Requests["memory"] = mem
				c.Resources.Limits = map[string]string{"memory": mem}
			}
		}
		v := volume{Name: "pipeline"}
		v.ConfigMap.Name = cm
		t.Spec = podSpec{RestartPolicy: "Never", ServiceAccountName: k.ServiceAccount, Containers: []container{c}, Volumes: []volume{v}}
		return t
	}
	// A usage error (exit 2) is not retried; nor is "already running" (3).
	noRetry := func(action string, codes ...int) *podFailurePolicy {
		return &podFailurePolicy{Rules: []podFailureRule{{Action: action, OnExitCodes: exitCodeReq{ContainerName: "swelake", Operator: "In", Values: codes}}}}
	}
	objs := []Object{{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: Metadata{Name: cm, Namespace: ns, Labels: labels(""), Annotations: map[string]string{"swelake.dev/file": filepath.Base(o.File)}},
		Data:     map[string]string{"pipeline.yaml": string(o.Data)}}}
	for _, st := range s.Stages {
		n := st.ShardCount()
		if n == 1 {
			continue
		}
		par := n
		if p := or(st.Kubernetes.Parallelism, k.Parallelism); p > 0 && p < n {
			par = p
		}
		objs = append(objs, Object{APIVersion: "batch/v1", Kind: "Job",
			Metadata: Metadata{Name: name(63, "swelake", s.Name, st.Name), Namespace: ns, Labels: labels(st.Name),
				Annotations: map[string]string{"swelake.dev/shards": fmt.Sprint(n)}},
			Spec: jobSpec{CompletionMode: "Indexed", Completions: ptr(n), Parallelism: ptr(par),
				BackoffLimitPerIndex: ptr(3), MaxFailedIndexes: ptr(0), PodFailurePolicy: noRetry("FailIndex", 2),
				TTLSecondsAfterFinished: ptr(7 * 86400),
				Template:                pod(st.Name, []string{"pipeline", "stage", file, st.Name, "--shard", fmt.Sprintf("auto/%d", n)}, st.Kubernetes)}})
	}
	if schedule != "" {
		objs = append(objs, Object{APIVersion: "batch/v1", Kind: "CronJob",
			Metadata: Metadata{Name: name(52, "swelake", s.Name), Namespace: ns, Labels: labels("")}, // CronJob names leave 11 characters for the Jobs'
			Spec: cronJobSpec{Schedule: schedule, TimeZone: k.TimeZone, ConcurrencyPolicy: "Forbid", StartingDeadlineSeconds: ptr(3600),
				SuccessfulJobsHistoryLimit: ptr(3), FailedJobsHistoryLimit: ptr(3),
				JobTemplate: jobTmpl{Spec: jobSpec{BackoffLimit: ptr(2), PodFailurePolicy: noRetry("FailJob", 2, 3),
					Template: pod("", []string{"pipeline", "run", file}, pipeline.KubeResources{})}}}})
	}
	return objs, nil
}

func or[T comparable](v ...T) T {
	var zero T
	for _, x := range v {
		if x != zero {
			return x
		}
	}
	return zero
}
