package k8s

import (
	"errors"
	"strings"
	"testing"

	"github.com/swelake/swelake/jobs/pipeline"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("stage_x", 10)
	for _, max := range []int{52, 63} {
		n := name(max, "swelake", "nightly", long)
		if len(n) > max || !dns1123.MatchString(n) {
			t.Errorf("name(%d) = %q (%d characters)", max, n, len(n))
		}
		if n == name(max, "swelake", "nightly", long+"y") {
			t.Errorf("two long names cut to one: %q", n)
		}
	}
	if n := name(63, "swelake", "p", "verify_hybrid"); n != "swelake-p-verify-hybrid" {
		t.Errorf("short name: %q", n)
	}
}

func TestManifestsRefuse(t *testing.T) {
	spec, err := pipeline.Parse("p.yaml", []byte("name: p\nkubernetes: {image: img}\nstages: [{job: rollout, shards: 4}, {job: curate}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ok := Options{File: "p.yaml", Spec: spec, Lake: "s3://b/p", S3Endpoint: "minio:9000"}
	objs, err := Manifests(ok)
	if err != nil || len(objs) != 2 || objs[1].Kind != "Job" || objs[1].Metadata.Namespace != "default" {
		t.Fatalf("%+v %v", objs, err)
	}
	for what, o := range map[string]Options{
		"lake":      {File: "p.yaml", Spec: spec, Lake: "/data/lake", S3Endpoint: "minio:9000"},
		"endpoint":  {File: "p.yaml", Spec: spec, Lake: "s3://b/p"},
		"namespace": {File: "p.yaml", Spec: spec, Lake: "s3://b/p", S3Endpoint: "minio:9000", Namespace: "Team_A"},
		"secret":    {File: "p.yaml", Spec: spec, Lake: "s3://b/p", S3Endpoint: "minio:9000", Secret: "S3 keys"},
	} {
		if _, err := Manifests(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v", what, err)
		}
	}
}
