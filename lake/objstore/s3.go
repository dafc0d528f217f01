package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures an S3 bucket. Only Endpoint, Bucket and the keys are
// required; path-style addressing is used so that any S3 server (MinIO
// included) works without DNS for bucket names.
type S3Config struct {
	Endpoint  string // host:port, no scheme
	Secure    bool   // https
	Region    string // default "us-east-1"
	AccessKey string
	SecretKey string
	Bucket    string
	Prefix    string // key prefix inside the bucket, without leading/trailing '/'
	// PartSize is the multipart part size for streamed (unknown-size) Puts.
	// minio-go would otherwise buffer 528 MiB per part. Default 16 MiB.
	PartSize uint64
	// MaxRetries bounds minio-go's internal retries (default 3), so that an
	// unreachable endpoint fails in seconds rather than minutes.
	MaxRetries int
	// Transport overrides the HTTP transport (tests inject faults here).
	Transport http.RoundTripper
}

// S3 is a Bucket on an S3-compatible server.
type S3 struct {
	cfg    S3Config
	client *minio.Client
}

// NewS3 returns an S3 bucket. It does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	url := strings.TrimSuffix(fmt.Sprintf("s3://%s/%s", cfg.Bucket, strings.Trim(cfg.Prefix, "/")), "/")
	switch {
	case cfg.Endpoint == "":
		return nil, &Error{Op: "open", URL: url, Err: errors.New("no S3 endpoint configured (s3.endpoint, SWELAKE_S3_ENDPOINT or AWS_ENDPOINT_URL_S3)")}
	case cfg.Bucket == "":
		return nil, &Error{Op: "open", URL: url, Err: errors.New("no bucket in the lake root")}
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, &Error{Op: "open", URL: url, Err: errors.New("missing S3 credentials (s3.access_key/s3.secret_key, SWELAKE_S3_ACCESS_KEY/SWELAKE_S3_SECRET_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   cfg.MaxRetries,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, &Error{Op: "open", URL: url, Err: err}
	}
	return &S3{cfg: cfg, client: client}, nil
}

// URL implements Reader.
func (s *S3) URL() string {
	if s.cfg.Prefix == "" {
		return "s3://" + s.cfg.Bucket
	}
	return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
}

func (s *S3) object(key string) string {
	if s.cfg.Prefix == "" {
		return key
	}
	return s.cfg.Prefix + "/" + key
}

func (s *S3) err(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket:
		err = ErrNotExist
	case resp.Code == minio.PreconditionFailed || resp.StatusCode == http.StatusPreconditionFailed:
		err = ErrExist
	case resp.Code == minio.NoSuchBucket:
		err = fmt.Errorf("bucket %q does not exist (run swelake lake init): %w", s.cfg.Bucket, err)
	}
	return &Error{Op: op, Key: key, URL: s.URL(), Err: err}
}

// EnsureBucket creates the bucket if it is missing.
func (s *S3) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return &Error{Op: "bucket-exists", URL: s.URL(), Err: err}
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
			return nil
		}
		return &Error{Op: "make-bucket", URL: s.URL(), Err: err}
	}
	return nil
}

// Get implements Reader. The request is sent before Get returns, so a
// missing key is reported here rather than on the first Read.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, s.err("get", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.err("get", key, err)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.err("get", key, err)
	}
	return &s3Reader{obj: obj, s: s, key: key}, nil
}

type s3Reader struct {
	obj *minio.Object
	s   *S3
	key string
}

func (r *s3Reader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.err("get", r.key, err)
	}
	return n, err
}

func (r *s3Reader) Close() error { return r.obj.Close() }

// Stat implements Reader.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, s.err("stat", key, err)
	}
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.err("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// List implements Reader.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops minio-go's listing goroutine on early return
		full := s.object(prefix)
		if prefix == "" && s.cfg.Prefix != "" {
			full = s.cfg.Prefix + "/"
		}
		for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
			if obj.Err != nil {
				yield(ObjectInfo{}, s.err("list", prefix, obj.Err))
				return
			}
			key := obj.Key
			if s.cfg.Prefix != "" {
				key = strings.TrimPrefix(key, s.cfg.Prefix+"/")
			}
			if !yield(ObjectInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified}, nil) {
				return
			}
		}
	}
}

// Dirs implements Reader with a delimited (non-recursive) listing.
func (s *S3) Dirs(ctx context.Context, dir string) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := s.object(dir)
	if dir == "" && s.cfg.Prefix != "" {
		full = s.cfg.Prefix + "/"
	}
	var names []string
	for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: full}) {
		if obj.Err != nil {
			return nil, s.err("dirs", dir, obj.Err)
		}
		if name, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, full), "/"); ok && name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}

// Put implements Bucket. Unknown-size streams are uploaded in PartSize parts.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return s.err("put", key, err)
	}
	opts := minio.PutObjectOptions{PartSize: s.cfg.PartSize, ContentType: contentType(key)}
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, s.object(key), r, size, opts); err != nil {
		return s.err("put", key, err)
	}
	return nil
}

// PutIfAbsent implements Bucket with If-None-Match: * on a single-part PUT.
// (MinIO honours the condition on single-part PUTs but let racing multipart
// uploads all succeed, so the body is buffered and multipart is disabled.)
func (s *S3) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return s.err("put-if-absent", key, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxConditionalSize+1))
	if err != nil {
		return s.err("put-if-absent", key, err)
	}
	if len(data) > MaxConditionalSize {
		return s.err("put-if-absent", key, fmt.Errorf("object larger than %d bytes", MaxConditionalSize))
	}
	opts := minio.PutObjectOptions{DisableMultipart: true, ContentType: contentType(key)}
	opts.SetMatchETagExcept("*")
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, s.object(key), bytes.NewReader(data), int64(len(data)), opts); err != nil {
		return s.err("put-if-absent", key, err)
	}
	return nil
}

// Delete implements Bucket.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return s.err("delete", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s.err("delete", key, err), ErrNotExist) {
			return nil
		}
		return s.err("delete", key, err)
	}
	return nil
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	case strings.HasSuffix(key, ".parquet"):
		return "application/vnd.apache.parquet"
	}
	return "application/octet-stream"
}

// GetTagged implements Bucket: the body and the ETag of the version read
// (from the same response).
func (s *S3) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	if err := ValidateKey(key); err != nil {
		return nil, "", s.err("get", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s.err("get", key, err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		return nil, "", s.err("get", key, err)
	}
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, "", s.err("get", key, err)
	}
	return data, info.ETag, nil
}

// PutIfMatch implements Bucket with If-Match: <etag> (or If-None-Match: *
// for tag "") on a single-part PUT; S3 and MinIO answer 412 to the loser.
func (s *S3) PutIfMatch(ctx context.Context, key string, data []byte, tag string) (string, error) {
	const op = "put-if-match"
	if err := ValidateKey(key); err != nil {
		return "", s.err(op, key, err)
	}
	if len(data) > MaxConditionalSize {
		return "", s.err(op, key, fmt.Errorf("object larger than %d bytes", MaxConditionalSize))
	}
	opts := minio.PutObjectOptions{DisableMultipart: true, ContentType: contentType(key)}
	if tag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(tag)
	}
	info, err := s.client.PutObject(ctx, s.cfg.Bucket, s.object(key), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		err = s.err(op, key, err)
		if errors.Is(err, ErrExist) || errors.Is(err, ErrNotExist) {
			err = &Error{Op: op, Key: key, URL: s.URL(), Err: ErrChanged}
		}
		return "", err
	}
	return info.ETag, nil
}

// ListUploads lists the unfinished multipart uploads under prefix. MinIO
// lists them only bucket-wide or for one exact object (measured: a prefix
// finds none), so the bucket's are listed and filtered here.
func (s *S3) ListUploads(ctx context.Context, prefix string) iter.Seq2[Upload, error] {
	return func(yield func(Upload, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		want := s.object(prefix)
		for u := range s.client.ListIncompleteUploads(ctx, s.cfg.Bucket, "", true) {
			if u.Err != nil {
				yield(Upload{}, s.err("list uploads", prefix, u.Err))
				return
			}
			if !strings.HasPrefix(u.Key, want) {
				continue
			}
			key := u.Key
			if s.cfg.Prefix != "" {
				var ok bool
				if key, ok = strings.CutPrefix(u.Key, s.cfg.Prefix+"/"); !ok {
					continue
				}
			}
			if !yield(Upload{Key: key, ID: u.UploadID, Initiated: u.Initiated}, nil) {
				return
			}
		}
	}
}

// AbortUpload aborts one unfinished multipart upload, freeing its parts.
func (s *S3) AbortUpload(ctx context.Context, u Upload) error {
	core := minio.Core{Client: s.client}
	if err := core.AbortMultipartUpload(ctx, s.cfg.Bucket, s.object(u.Key), u.ID); err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchUpload" {
			return nil
		}
		return s.err("abort upload", u.Key, err)
	}
	return nil
}
