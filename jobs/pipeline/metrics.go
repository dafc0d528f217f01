package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Prometheus renders the run as Prometheus text exposition format
// (version 0.0.4): per stage its duration, rows and bytes written, whether
// it was skipped and whether it failed; per pipeline the run's duration,
// success, stage counts and finish time. Suitable for node_exporter's
// textfile collector or a Pushgateway.
func (r Result) Prometheus() []byte {
	var b bytes.Buffer
	metric := func(name, help, typ string, samples func()) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		samples()
	}
	stageLabels := func(s StageResult) string {
		return fmt.Sprintf(`pipeline="%s",stage="%s",swelake_job="%s"`, esc(r.Pipeline), esc(s.Stage), esc(s.Job))
	}
	perStage := func(name, help string, v func(StageResult) float64) {
		metric(name, help, "gauge", func() {
			for _, s := range r.Stages {
				fmt.Fprintf(&b, "%s{%s} %g\n", name, stageLabels(s), v(s))
			}
		})
	}
	b2f := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	perStage("swelake_stage_duration_seconds", "Wall time of the stage's job in the last run.", func(s StageResult) float64 { return s.Seconds })
	perStage("swelake_stage_rows_written", "Rows the stage added to its output tables.", func(s StageResult) float64 { return float64(s.RowsWritten) })
	perStage("swelake_stage_bytes_written", "Bytes of Parquet the stage added to its output tables.", func(s StageResult) float64 { return float64(s.BytesWritten) })
	perStage("swelake_stage_skipped", "1 if the stage was skipped (its run key had completed).", func(s StageResult) float64 { return b2f(s.Action == "skip") })
	perStage("swelake_stage_errors", "1 if the stage failed.", func(s StageResult) float64 { return b2f(s.Action == "failed") })
	pl := fmt.Sprintf(`pipeline="%s"`, esc(r.Pipeline))
	metric("swelake_pipeline_duration_seconds", "Wall time of the last run.", "gauge", func() { fmt.Fprintf(&b, "swelake_pipeline_duration_seconds{%s} %g\n", pl, r.Seconds) })
	metric("swelake_pipeline_success", "1 if the last run finished every stage.", "gauge", func() { fmt.Fprintf(&b, "swelake_pipeline_success{%s} %g\n", pl, b2f(r.Failed == "")) })
	metric("swelake_pipeline_stages_run", "Stages the last run ran.", "gauge", func() { fmt.Fprintf(&b, "swelake_pipeline_stages_run{%s} %d\n", pl, r.Ran) })
	metric("swelake_pipeline_stages_skipped", "Stages the last run skipped.", "gauge", func() { fmt.Fprintf(&b, "swelake_pipeline_stages_skipped{%s} %d\n", pl, r.Skipped) })
	metric("swelake_pipeline_last_run_timestamp_seconds", "When the last run finished (Unix time).", "gauge", func() {
		fmt.Fprintf(&b, "swelake_pipeline_last_run_timestamp_seconds{%s} %d\n", pl, r.Finished.Unix())
	})
	return b.Bytes()
}

func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// WriteTextfile writes the metrics for node_exporter's textfile collector:
// to a temporary file in the same directory, renamed into place, so the
// collector never reads half a file.
func WriteTextfile(path string, metrics []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("metrics %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("metrics %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(metrics); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Push PUTs the metrics to a Pushgateway under job "swelake" and the
// pipeline's name as grouping key (replacing the group's previous push).
func Push(ctx context.Context, client *http.Client, gateway, pipeline string, metrics []byte) error {
	u := strings.TrimSuffix(gateway, "/") + "/metrics/job/swelake/pipeline/" + url.PathEscape(pipeline)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(metrics))
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", gateway, err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", gateway, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push metrics to %s: %s", u, resp.Status)
	}
	return nil
}
