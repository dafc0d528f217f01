package exec

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ImageInfo is what the engine says of one image.
type ImageInfo struct {
	ID     string            `json:"id"`
	Tags   []string          `json:"tags"`
	Labels map[string]string `json:"labels"`
	Size   int64             `json:"size"`
}

// ErrNoImage: the engine has no image of that name.
var ErrNoImage = errors.New("no such image")

// InspectImage describes the image ref (ErrNoImage when absent).
func (d *Docker) InspectImage(ctx context.Context, ref string) (ImageInfo, error) {
	d.init()
	var out struct {
		ID       string   `json:"Id"`
		RepoTags []string `json:"RepoTags"`
		Size     int64    `json:"Size"`
		Config   struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := d.doJSON(ctx, http.MethodGet, "/images/"+url.PathEscape(ref)+"/json", nil, &out); err != nil {
		if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.Status == http.StatusNotFound {
			return ImageInfo{}, fmt.Errorf("image %s: %w", ref, ErrNoImage)
		}
		return ImageInfo{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return ImageInfo{ID: out.ID, Tags: out.RepoTags, Labels: out.Config.Labels, Size: out.Size}, nil
}

// Images lists the images carrying label (key or key=value; "" : all).
func (d *Docker) Images(ctx context.Context, label string) ([]ImageInfo, error) {
	d.init()
	q := ""
	if label != "" {
		f, _ := json.Marshal(map[string][]string{"label": {label}})
		q = "?filters=" + url.QueryEscape(string(f))
	}
	var out []struct {
		ID       string            `json:"Id"`
		RepoTags []string          `json:"RepoTags"`
		Labels   map[string]string `json:"Labels"`
		Size     int64             `json:"Size"`
	}
	if err := d.doJSON(ctx, http.MethodGet, "/images/json"+q, nil, &out); err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	infos := make([]ImageInfo, len(out))
	for i, o := range out {
		infos[i] = ImageInfo{ID: o.ID, Tags: o.RepoTags, Labels: o.Labels, Size: o.Size}
	}
	return infos, nil
}

// RemoveImage removes an image (by id or reference).
func (d *Docker) RemoveImage(ctx context.Context, ref string) error {
	d.init()
	if err := d.doJSON(ctx, http.MethodDelete, "/images/"+url.PathEscape(ref)+"?force=true", nil, nil); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// ImportImage makes the root filesystem tar archive rootfs an image named
// ref (repository:tag) with the given labels (docker import).
func (d *Docker) ImportImage(ctx context.Context, ref string, rootfs io.Reader, labels map[string]string) error {
	d.init()
	repo, tag := splitRef(ref)
	// The tag goes in repo: podman 4.3 ignores the tag parameter.
	q := url.Values{"fromSrc": {"-"}, "repo": {repo + ":" + tag}}
	for k, v := range labels {
		q.Add("changes", fmt.Sprintf("LABEL %s=%q", k, v))
	}
	resp, err := d.do(ctx, http.MethodPost, "/images/create?"+q.Encode(), rootfs, http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	return progressError(resp.Body, "import image "+ref)
}

// BuildImage builds ref from a build context (a tar archive holding a
// Dockerfile at its root), with no network and the given labels.
func (d *Docker) BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error {
	d.init()
	lj, _ := json.Marshal(labels)
	q := url.Values{"t": {ref}, "networkmode": {"none"}, "rm": {"1"}, "forcerm": {"1"}, "labels": {string(lj)}}
	resp, err := d.do(ctx, http.MethodPost, "/build?"+q.Encode(), buildContext, http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	return progressError(resp.Body, "build image "+ref)
}

// LoadImages loads a `docker save` archive (air-gapped clusters) and
// returns what it loaded.
func (d *Docker) LoadImages(ctx context.Context, archive io.Reader) ([]string, error) {
	d.init()
	resp, err := d.do(ctx, http.MethodPost, "/images/load", archive, http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	defer resp.Body.Close()
	var loaded []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Error != "" {
			return loaded, fmt.Errorf("load images: %s", m.Error)
		}
		if s, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Loaded image: "); ok {
			loaded = append(loaded, s)
		} else if s, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Loaded image(s): "); ok {
			loaded = append(loaded, strings.Split(s, ",")...)
		}
	}
	return loaded, sc.Err()
}

// SaveImages writes a `docker save` archive of refs to w.
func (d *Docker) SaveImages(ctx context.Context, w io.Writer, refs ...string) error {
	d.init()
	q := url.Values{"names": refs}
	resp, err := d.do(ctx, http.MethodGet, "/images/get?"+q.Encode(), nil, nil)
	if err != nil {
		return fmt.Errorf("save images %s: %w", strings.Join(refs, " "), err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Containers lists the ids of containers (running or not) carrying label.
func (d *Docker) Containers(ctx context.Context, label string) ([]string, error) {
	d.init()
	f, _ := json.Marshal(map[string][]string{"label": {label}})
	var out []struct {
		ID string `json:"Id"`
	}
	if err := d.doJSON(ctx, http.MethodGet, "/containers/json?all=true&filters="+url.QueryEscape(string(f)), nil, &out); err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	ids := make([]string, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids, nil
}

// RemoveContainer removes a container and its anonymous volumes.
func (d *Docker) RemoveContainer(ctx context.Context, id string) error {
	d.init()
	if err := d.doJSON(ctx, http.MethodDelete, "/containers/"+id+"?force=true&v=true", nil, nil); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// progressError reads an engine's JSON progress stream to its end and
// returns the first error it reports (the HTTP status of a build or an
// import is 200 even when it fails).
func progressError(r io.Reader, op string) error {
	dec := json.NewDecoder(r)
	var last string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: reading the engine's progress: %w", op, err)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			last = s
		}
		if msg := cmp.Or(m.Error, m.ErrorDetail.Message); msg != "" {
			return fmt.Errorf("%s: %s (last step: %s)", op, msg, last)
		}
	}
}

// splitRef splits repository[:tag] (tag "latest" when absent; a registry
// port is not a tag).
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
