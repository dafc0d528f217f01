// Package agent drives a policy model through a software-engineering task:
// an OpenAI-compatible chat-completions client (native tool calling,
// retries with backoff on 429/5xx, request timeouts), the tools the model
// works with inside a sandbox (bash, a file editor, submit), the agent loop
// with its caps (steps, context tokens, wall time) and the git-hacking ban,
// and a scripted stand-in policy that serves the same HTTP API for dry runs.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is one chat message of the OpenAI chat-completions API.
type Message struct {
	Role       string     `json:"role"`
	Content    *string    `json:"content"` // null on assistant messages that only call tools
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"`
}

// Text is the message's content, "" when null.
func (m Message) Text() string {
	if m.Content == nil {
		return ""
	}
	return *m.Content
}

// Str is a content pointer.
func Str(s string) *string { return &s }

// ToolCall is a function call of an assistant message.
type ToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"` // "function"
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"` // JSON text
	} `json:"function"`
}

// Tool is a function the model may call.
type Tool struct {
	Type     string `json:"type"` // "function"
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// ChatRequest is a chat-completions request.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Tools       []Tool    `json:"tools,omitempty"`
	ToolChoice  string    `json:"tool_choice,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
}

// Usage is the API's token accounting of one call.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// ChatResponse is a chat-completions response.
type ChatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int     `json:"index"`
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage Usage `json:"usage"`
}

// ClientConfig configures a Client.
type ClientConfig struct {
	BaseURL     string        // e.g. http://127.0.0.1:8000/v1 (vLLM, SGLang) or https://api.openai.com/v1
	Model       string        //
	APIKey      string        // sent as a bearer token ("" : none)
	Temperature *float64      // nil: the server's default
	MaxTokens   int           // per completion (0: the server's default)
	Timeout     time.Duration // per request (default 5m)
	MaxRetries  int           // retries on 429, 5xx and transport errors, exactly (0: one attempt; the CLI's default is 5)
	Backoff     time.Duration // first retry delay, doubled each time, capped at 30s (default 1s)
}

// Client speaks the OpenAI chat-completions protocol.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	// sleep waits between retries (injected by tests).
	sleep func(ctx context.Context, d time.Duration) error
}

// ErrModel marks a request the endpoint refused for what it asked (400,
// 413, 422: a context too long, a malformed conversation): the rollout
// ends with exit reason model_error, a finished outcome.
var ErrModel = errors.New("policy endpoint error")

// ErrUnavailable marks an endpoint that could not answer: transport
// errors, 429 and 5xx after the retries, and answers that say the
// configuration is wrong (401, 403, 404). Not the rollout's outcome: a
// rollout that meets it is not committed, and a rerun runs it.
var ErrUnavailable = errors.New("policy endpoint unavailable")

// Redact is an endpoint URL fit to store or print: no user, password,
// query or fragment (where providers put keys).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return u.String()
}

// NewClient returns a client; hc nil uses a fresh http.Client.
func NewClient(cfg ClientConfig, hc *http.Client) (*Client, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("policy: base_url and model are required (config policy.base_url, policy.model)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.MaxRetries < 0 {
		return nil, fmt.Errorf("policy: max_retries %d: want ≥ 0", cfg.MaxRetries)
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{cfg: cfg, http: hc, sleep: sleepCtx}, nil
}

// Model is the configured model name.
func (c *Client) Model() string { return c.cfg.Model }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Chat sends one request (the model, temperature and max tokens of the
// config fill what req leaves empty), retrying 429, 5xx and transport
// errors with exponential backoff (honouring Retry-After).
func (c *Client) Chat(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	if req.Model == "" {
		req.Model = c.cfg.Model
	}
	if req.Temperature == nil {
		req.Temperature = c.cfg.Temperature
	}
	if req.MaxTokens == 0 {
		req.MaxTokens = c.cfg.MaxTokens
	}
	body, err := json.Marshal(req)
	if err != nil {
		return ChatResponse{}, err
	}
	url := strings.TrimRight(c.cfg.BaseURL, "/") + "/chat/completions"
	shown := Redact(url)
	delay := c.cfg.Backoff
	for attempt := 0; ; attempt++ {
		resp, retryAfter, err := c.once(ctx, url, body)
		if err == nil {
			return resp, nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || ctx.Err() != nil || attempt >= c.cfg.MaxRetries {
			if ctx.Err() != nil {
				return ChatResponse{}, ctx.Err()
			}
			msg := strings.ReplaceAll(err.Error(), url, shown) // transport errors quote the URL
			kind := ErrUnavailable
			if errors.As(err, &perm) && perm.refused {
				kind = ErrModel
			}
			return ChatResponse{}, fmt.Errorf("%w: POST %s (attempt %d of %d): %s", kind, shown, attempt+1, c.cfg.MaxRetries+1, msg)
		}
		wait := max(delay, retryAfter)
		if err := c.sleep(ctx, min(wait, 30*time.Second)); err != nil {
			return ChatResponse{}, err
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// permanentError is an answer not worth retrying; refused marks the
// endpoint refusing the request itself (ErrModel) rather than being
// misconfigured or broken (ErrUnavailable).
type permanentError struct {
	msg     string
	refused bool
}

func (e *permanentError) Error() string { return e.msg }

func (c *Client) once(ctx context.Context, url string, body []byte) (ChatResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ChatResponse{}, 0, &permanentError{msg: err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return ChatResponse{}, 0, err // transport errors and timeouts: retried
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, 64<<20))
	if err != nil {
		return ChatResponse{}, 0, err
	}
	if hresp.StatusCode == http.StatusTooManyRequests || hresp.StatusCode >= 500 {
		var ra time.Duration
		if s, err := strconv.Atoi(hresp.Header.Get("Retry-After")); err == nil {
			ra = time.Duration(s) * time.Second
		}
		return ChatResponse{}, ra, fmt.Errorf("HTTP %d: %s", hresp.StatusCode, snippet(data))
	}
	if hresp.StatusCode != http.StatusOK {
		refused := hresp.StatusCode == http.StatusBadRequest || hresp.StatusCode == http.StatusRequestEntityTooLarge || hresp.StatusCode == http.StatusUnprocessableEntity
		return ChatResponse{}, 0, &permanentError{msg: fmt.Sprintf("HTTP %d: %s", hresp.StatusCode, snippet(data)), refused: refused}
	}
	var resp ChatResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return ChatResponse{}, 0, &permanentError{msg: fmt.Sprintf("response is not chat-completions JSON: %v: %s", err, snippet(data))}
	}
	if len(resp.Choices) == 0 {
		return ChatResponse{}, 0, &permanentError{msg: "response has no choices: " + snippet(data)}
	}
	return resp, 0, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
