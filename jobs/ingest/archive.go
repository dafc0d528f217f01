package ingest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/swelake/swelake/jobs/ingest/formats"
)

// isArchive: a gzipped tar (the OpenHands benchmarks' conversations/<id>.tar.gz).
func isArchive(p string) bool {
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// archiveMembers streams an archive's regular files, in archive order,
// each read whole up to limit: a larger member is passed with its first
// bytes and ErrRecordTooLarge, and read past without being held.
func archiveMembers(ctx context.Context, p string, limit int64, fn func(name string, data []byte, err error) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := Decompress(".gz", f) // .tar.gz and .tgz alike
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not a tar archive: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if h.Size > limit {
			head, _ := io.ReadAll(io.LimitReader(tr, keepPrefix))
			if err := fn(name, head, tooLarge(h.Size, limit, true)); err != nil {
				return err
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%s: member %s: %w", p, name, err)
		}
		if err := fn(name, data, nil); err != nil {
			return err
		}
	}
}

// firstArchiveRecord is an archive's first JSON record (of its first JSON
// member: the whole member, or a JSONL member's first line) and that
// member's name, for detection.
func firstArchiveRecord(ctx context.Context, p string, limit int64) (string, []byte, error) {
	var name string
	var first []byte
	err := archiveMembers(ctx, p, limit, func(n string, data []byte, err error) error {
		if err != nil {
			return nil
		}
		t := bytes.TrimSpace(data)
		if json.Valid(t) {
			name, first = n, t
			return errStop
		}
		sc := bufio.NewScanner(bytes.NewReader(t))
		sc.Buffer(nil, len(t)+1)
		if sc.Scan() && json.Valid(sc.Bytes()) {
			name, first = n, bytes.Clone(sc.Bytes())
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", nil, err
	}
	return name, first, nil
}

// archiveRecords yields an archive's records: each member of a file-unit
// format, or each group of members (a conversation) of a directory-unit
// one, named <archive>/<path in the archive>. A group's members must be
// contiguous (tar writes a directory's files together); its bytes are
// bounded by limit like a directory's.
func archiveRecords(ctx context.Context, p plan, limit int64, fn func(formats.Record, error) error) error {
	f := p.format
	if f.Unit == formats.UnitFile {
		return archiveMembers(ctx, p.path, limit, func(name string, data []byte, err error) error {
			return fn(formats.Record{File: p.path + "/" + name, Offset: -1, Data: data}, err)
		})
	}
	var cur *formats.Record
	var total int64
	done := map[string]bool{}
	flush := func() error {
		if cur == nil {
			return nil
		}
		rec := *cur
		cur = nil
		return fn(rec, nil)
	}
	err := archiveMembers(ctx, p.path, limit, func(name string, data []byte, err error) error {
		member := p.path + "/" + name
		if err != nil {
			return fn(formats.Record{File: member, Offset: 0, Data: data}, err)
		}
		key := f.GroupDir(member)
		if cur == nil || cur.File != key {
			if err := flush(); err != nil {
				return err
			}
			if done[key] {
				return fmt.Errorf("%s: the members of %s are not together in the archive", p.path, strings.TrimPrefix(key, p.path+"/"))
			}
			done[key] = true
			cur, total = &formats.Record{File: key, Offset: -1}, 0
		}
		if total += int64(len(data)); total > limit {
			rec := formats.Record{File: member, Offset: 0, Data: prefix(data)}
			cur = nil
			return fn(rec, fmt.Errorf("conversation %s: %w", key, tooLarge(total, limit, false)))
		}
		cur.Group = append(cur.Group, formats.Record{File: member, Offset: 0, Data: data})
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
