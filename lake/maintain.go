package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/swelake/swelake/lake/objstore"
)

// Problem is a file of a snapshot that is not what the log says.
type Problem struct {
	Table  string `json:"table"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return fmt.Sprintf("%s/%s: %s", p.Table, p.Path, p.Reason) }

// Verify re-hashes every file of the snapshot and compares size and sha256
// with the log, and checks every raw source the files point at. progress, if not nil, is called after each file with the
// bytes verified so far. Storage errors other than a missing file are
// returned as errors; mismatches and missing files as Problems.
func (t *Table) Verify(ctx context.Context, s *Snapshot, progress func(done int64)) ([]Problem, error) {
	var (
		mu       sync.Mutex
		problems []Problem
		done     int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, f := range s.Files {
		g.Go(func() error {
			reason, err := t.checkFile(gctx, f)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if reason != "" {
				problems = append(problems, Problem{Table: t.name, Path: f.Path, Reason: reason})
			}
			done += f.Bytes
			if progress != nil {
				progress(done)
			}
			return nil
		})
	}
	// The raw sources the files' rows point at: present, and hashing to
	// their names.
	for _, sum := range s.RawSources() {
		g.Go(func() error {
			reason, err := t.lake.VerifyRaw(gctx, sum)
			if err != nil {
				return fmt.Errorf("raw source %.12s: %w", sum, err)
			}
			if reason != "" {
				mu.Lock()
				problems = append(problems, Problem{Table: t.name, Path: RawKey(sum), Reason: reason})
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("verify %s@%d: %w", t.name, s.Version, err)
	}
	return problems, nil
}

func (t *Table) checkFile(ctx context.Context, f File) (string, error) {
	rc, err := t.lake.bucket.Get(ctx, FileKey(t.name, f.Path))
	if err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			return "missing", nil
		}
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", f.Path, err)
	}
	if n != f.Bytes {
		return fmt.Sprintf("size %d, log says %d", n, f.Bytes), nil
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		return fmt.Sprintf("sha256 %s, log says %s", sum, f.SHA256), nil
	}
	return "", nil
}

// GCResult lists what gc removed (or would remove, on a dry run).
type GCResult struct {
	Removed []objstore.ObjectInfo `json:"removed"`
	Kept    int                   `json:"kept_recent_orphans"` // orphans younger than the grace period
	// Aborted are unfinished multipart uploads (S3) older than the grace
	// period: parts of killed writers that no listing shows.
	Aborted []objstore.Upload `json:"aborted_uploads"`
	Live    int               `json:"live_files"`
}

// GC deletes orphans older than olderThan: data files that no commit of the
// table's log names, raw sources no data file points at (from killed or failed writers), on local disk staged
// temp files, and on S3 unfinished multipart uploads. A file any snapshot names is never deleted. Files are listed
// before the log is read, so a file committed during gc is always seen as
// named; the grace period protects files written but not yet committed.
func (l *Lake) GC(ctx context.Context, olderThan time.Duration, dryRun bool) (GCResult, error) {
	var res GCResult
	cutoff := l.opts.Clock().Add(-olderThan)
	tables, err := l.Tables(ctx)
	if err != nil {
		return res, err
	}
	var candidates []objstore.ObjectInfo
	named := map[string]bool{}
	// Raw sources no data file of any version points at (an ingest that
	// stored its sources and then failed), listed before any log is read,
	// like data files.
	for info, err := range l.bucket.List(ctx, "raw/") {
		if err != nil {
			return res, fmt.Errorf("gc raw sources: %w", err)
		}
		candidates = append(candidates, info)
	}
	for _, name := range tables {
		prefix := "tables/" + name + "/data/"
		var listed []objstore.ObjectInfo
		for info, err := range l.bucket.List(ctx, prefix) {
			if err != nil {
				return res, fmt.Errorf("gc %s: %w", name, err)
			}
			listed = append(listed, info)
		}
		t, _ := l.Table(name)
		commits, err := t.Log(ctx, 0, Latest)
		if err != nil {
			return res, fmt.Errorf("gc %s: %w", name, err)
		}
		for _, c := range commits {
			for _, f := range c.Added {
				named[FileKey(name, f.Path)] = true
				for _, r := range f.Raw {
					named[RawKey(r)] = true
				}
			}
		}
		candidates = append(candidates, listed...)
	}
	if _, ok := l.bucket.(objstore.LocalPather); ok {
		for info, err := range l.bucket.List(ctx, objstore.TempPrefix) {
			if err != nil {
				return res, fmt.Errorf("gc staging: %w", err)
			}
			if strings.HasPrefix(info.Key, objstore.LockPrefix) {
				continue // lock files are held open by swaps; never orphans
			}
			candidates = append(candidates, info)
		}
	}
	if up, ok := l.bucket.(objstore.Uploads); ok {
		for u, err := range up.ListUploads(ctx, "tables/") {
			if err != nil {
				return res, fmt.Errorf("gc uploads: %w", err)
			}
			if u.Initiated.After(cutoff) {
				continue // a writer may still be sending it
			}
			if !dryRun {
				if err := up.AbortUpload(ctx, u); err != nil {
					return res, fmt.Errorf("gc: %w", err)
				}
			}
			res.Aborted = append(res.Aborted, u)
		}
	}
	for _, info := range candidates {
		switch {
		case named[info.Key]:
			res.Live++
		case info.ModTime.After(cutoff):
			res.Kept++
		default:
			if !dryRun {
				if err := l.bucket.Delete(ctx, info.Key); err != nil {
					return res, fmt.Errorf("gc: %w", err)
				}
			}
			res.Removed = append(res.Removed, info)
		}
	}
	return res, nil
}
