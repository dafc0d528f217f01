package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/swelake/swelake/exec"
	"github.com/swelake/swelake/exec/envimage"
	"github.com/swelake/swelake/exec/taskenv"
	"github.com/swelake/swelake/jobs/taskexec"
	"github.com/swelake/swelake/lake"
	"github.com/swelake/swelake/schemas"
)

func newEnvCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "env",
		Short: "Build, list and prune the task images the docker backend runs (offline)",
		Long: `Task images, built offline and named the SWE-bench way: a base image from
Debian packages (sweb.base.py.x86_64, mmdebstrap then import), an
environment layer per repository and version (sweb.env.py.x86_64.<hash>:
its spec's Debian packages), and an instance layer per task
(sweb.eval.x86_64.<instance_id>: the repository at its base commit at
/testbed). Each carries the hash of what went into it and is reused while
that holds. The engine is sandbox.docker_host (else $DOCKER_HOST).`,
	}
	c.AddCommand(newEnvBuildCmd(a), newEnvListCmd(a), newEnvPruneCmd(a), newEnvLoadCmd(a), newEnvSaveCmd(a))
	return c
}

// builder is env build's builder on the configured engine.
func (a *app) builder() *envimage.Builder {
	cache := cmp.Or(a.cfg.Sandbox.ImageCache, envimage.DefaultCacheDir())
	return &envimage.Builder{Docker: a.docker(exec.Limits{}), CacheDir: cache, Mirror: a.cfg.Sandbox.Mirror, Logger: a.logger}
}

// envResult is one task's images.
type envResult struct {
	TaskID   string `json:"task_id"`
	Env      string `json:"env,omitempty"`
	Instance string `json:"instance,omitempty"`
	Built    bool   `json:"built"`
	Skipped  string `json:"skipped,omitempty"`
}

func newEnvBuildCmd(a *app) *cobra.Command {
	var (
		taskIDs []string
		input   string
	)
	c := &cobra.Command{
		Use:   "build [--task <id>]... [--input tasks@<v>]",
		Short: "Build the base, environment and instance images of a snapshot's tasks",
		Long: `Builds, for the tasks of the latest tasks snapshot (or --input), the base
image, one environment image per distinct set of Debian packages their specs
name (sandbox.specs, else SWE-bench's built-in specs), and one instance image
per task whose repository is in sandbox.repos_dir (<repos_dir>/<repo>, a git
repository holding the base commit). Tasks whose row names its own image
(SWE-rebench/R2E-Gym docker_image, SWE-smith image_name) and whose image
the engine has are skipped; where the engine lacks it (a registry this
cluster cannot reach), ours is built, and used in its place. Builds use no network; the packages come
from sandbox.mirror.`,
		Example: `  swelake env build --config swelake.yaml
  swelake env build --task swe-bench/pallets__flask-4992 --json
  DOCKER_HOST=unix:///run/podman/podman.sock swelake env build`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tasks, err := a.envTasks(ctx, input, taskIDs)
			if err != nil {
				return err
			}
			specs, err := taskenv.Load(a.cfg.Sandbox.Specs)
			if err != nil {
				return err
			}
			b := a.builder()
			if err := b.Docker.Ping(ctx); err != nil {
				return err
			}
			var results []envResult
			base, err := b.Base(ctx, nil)
			if err != nil {
				return err
			}
			envs := map[string]envimage.Image{}
			for _, t := range tasks {
				r := envResult{TaskID: t.TaskID}
				if t.Image != "" {
					if _, err := b.Docker.InspectImage(ctx, t.Image); err == nil {
						r.Skipped = "uses its own image " + t.Image
						results = append(results, r)
						continue
					} // not here (a registry this cluster cannot reach): build ours
				}
				if taskexec.InstanceImage(t) == "" {
					r.Skipped = "no instance id to name its image"
					results = append(results, r)
					continue
				}
				te := taskexec.TestEnv(specs, t)
				key := strings.Join(te.Packages, ",")
				env, ok := envs[key]
				if !ok {
					if env, err = b.Env(ctx, base, envimage.EnvSpec{Key: t.Repo + "@" + t.Version, Packages: te.Packages}); err != nil {
						return fmt.Errorf("task %s: %w", t.TaskID, err)
					}
					envs[key] = env
				}
				r.Env = env.Ref
				repo, err := taskexec.RepoDir(a.cfg.Sandbox.ReposDir, t.Repo)
				if err == nil {
					_, err = os.Stat(filepath.Join(repo, ".git"))
				}
				if err != nil {
					r.Skipped = "no repository at " + repo + " (sandbox.repos_dir)"
					results = append(results, r)
					continue
				}
				inst, err := b.Instance(ctx, env, envimage.InstanceSpec{InstanceID: t.InstanceID, RepoDir: repo, Commit: t.BaseCommit})
				if err != nil {
					return fmt.Errorf("task %s: %w", t.TaskID, err)
				}
				r.Instance, r.Built = inst.Ref, inst.Built || env.Built
				results = append(results, r)
			}
			if a.json {
				return a.printJSON(map[string]any{"base": base, "tasks": results})
			}
			fmt.Fprintf(a.stdout, "base %s (%s)\n", base.Ref, map[bool]string{true: "built", false: "reused"}[base.Built])
			for _, r := range results {
				if r.Skipped != "" {
					fmt.Fprintf(a.stdout, "%-50s skipped: %s\n", r.TaskID, r.Skipped)
					continue
				}
				fmt.Fprintf(a.stdout, "%-50s %s (%s)\n", r.TaskID, r.Instance, map[bool]string{true: "built", false: "reused"}[r.Built])
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&taskIDs, "task", nil, "build only these tasks (task ids; repeatable)")
	c.Flags().StringVar(&input, "input", "", "the tasks snapshot (tasks@<version>; default the latest)")
	return c
}

// envTasks reads the tasks of a snapshot, only those named when ids are.
func (a *app) envTasks(ctx context.Context, input string, ids []string) ([]*schemas.Task, error) {
	l, _, err := a.openLake(ctx, false)
	if err != nil {
		return nil, err
	}
	ref := lake.Latest
	if input != "" {
		r, err := lake.ParseRef(input)
		if err != nil || r.Table != schemas.Tasks.Name {
			return nil, usageError{fmt.Errorf("--input %q: want tasks or tasks@<version>", input)}
		}
		ref = r.Version
	}
	t, err := l.Table(schemas.Tasks.Name)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, ref)
	if err != nil {
		return nil, err
	}
	var out []*schemas.Task
	for task, err := range lake.ReadRows[schemas.Task](ctx, l, snap) {
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 || slices.Contains(ids, task.TaskID) {
			out = append(out, &task)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(out, func(t *schemas.Task) bool { return t.TaskID == id }) {
			return nil, usageError{fmt.Errorf("task %s: not in %s", id, snap.Ref())}
		}
	}
	return out, nil
}

func newEnvListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the images env build made (kind, name, what for, size)",
		Args:  usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := a.builder().Ours(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortFunc(imgs, func(x, y exec.ImageInfo) int {
				return cmp.Or(cmp.Compare(x.Labels[envimage.LabelKind], y.Labels[envimage.LabelKind]), cmp.Compare(strings.Join(x.Tags, ","), strings.Join(y.Tags, ",")))
			})
			if a.json {
				return a.printJSON(imgs)
			}
			for _, im := range imgs {
				name := strings.Join(im.Tags, ",")
				if name == "" {
					name = "<replaced> " + im.ID[:min(19, len(im.ID))]
				}
				fmt.Fprintf(a.stdout, "%-9s %-60s %-30s %6.0f MB\n", im.Labels[envimage.LabelKind], name, im.Labels[envimage.LabelKey], float64(im.Size)/1e6)
			}
			return nil
		},
	}
}

func newEnvPruneCmd(a *app) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "prune [--all]",
		Short: "Remove replaced images and leftover sandbox containers (--all: every image env build made)",
		Args:  usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b := a.builder()
			ids, err := b.Docker.Containers(ctx, exec.SandboxLabel)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := b.Docker.RemoveContainer(ctx, id); err != nil {
					return err
				}
			}
			imgs, err := b.Ours(ctx)
			if err != nil {
				return err
			}
			// Instances before environments before the base: a layer in use
			// by a newer image is not removed first.
			order := map[string]int{"instance": 0, "env": 1, "base": 2}
			slices.SortFunc(imgs, func(x, y exec.ImageInfo) int {
				return cmp.Compare(order[x.Labels[envimage.LabelKind]], order[y.Labels[envimage.LabelKind]])
			})
			removed := 0
			for _, im := range imgs {
				if !all && len(im.Tags) > 0 {
					continue
				}
				if err := b.Docker.RemoveImage(ctx, im.ID); err != nil {
					return err
				}
				removed++
			}
			if a.json {
				return a.printJSON(map[string]int{"containers_removed": len(ids), "images_removed": removed})
			}
			fmt.Fprintf(a.stdout, "removed %d containers, %d images\n", len(ids), removed)
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "remove every image env build made, not only replaced ones")
	return c
}

func newEnvLoadCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "load <archive.tar>...",
		Short:   "Load `docker save` archives into the engine (air-gapped clusters)",
		Example: `  swelake env load sweb-images.tar`,
		Args:    usage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []string
			for _, p := range args {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				loaded, err := a.builder().Docker.LoadImages(cmd.Context(), f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				all = append(all, loaded...)
			}
			if a.json {
				return a.printJSON(all)
			}
			for _, l := range all {
				fmt.Fprintln(a.stdout, l)
			}
			return nil
		},
	}
}

func newEnvSaveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "save <archive.tar> <image>...",
		Short:   "Write images to a `docker save` archive (to carry to an air-gapped cluster)",
		Example: `  swelake env save sweb-images.tar sweb.eval.x86_64.pallets__flask-4992:latest`,
		Args:    usage(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Create(args[0])
			if err != nil {
				return err
			}
			if err := a.builder().Docker.SaveImages(cmd.Context(), f, args[1:]...); err != nil {
				f.Close()
				os.Remove(args[0])
				return err
			}
			return f.Close()
		},
	}
}
