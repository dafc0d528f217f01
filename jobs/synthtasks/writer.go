package synthtasks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/swelake/swelake/exec/agent"
)

// PolicyWriter writes problem statements with the policy model: a GitHub
// issue from what a user would see (the failing tests and the assertion
// lines), never from the mutation or the gold patch.
type PolicyWriter struct {
	Client agent.Chatter
	Model  string
}

// Name identifies the writer in the run key.
func (w PolicyWriter) Name() string { return "policy:" + w.Model }

// StatementSystem is the system prompt of statement requests.
const StatementSystem = `You write GitHub issues for software repositories. Given failing tests and their
error output, write the issue a user would file: what they tried, what they expected, what happened.
Do not name the faulty line or suggest a fix. Answer with the issue text only.`

// WriteStatement asks the model for the issue text.
func (w PolicyWriter) WriteStatement(ctx context.Context, b BugReport) (string, error) {
	var u strings.Builder
	fmt.Fprintf(&u, "Repository: %s (%s)\n\nFailing tests:\n", b.Repo, b.Language)
	for _, t := range b.FailingTest {
		fmt.Fprintf(&u, "- %s\n", t)
	}
	if b.Failures != "" {
		fmt.Fprintf(&u, "\nError output:\n%s\n", b.Failures)
	}
	resp, err := w.Client.Chat(ctx, agent.ChatRequest{Messages: []agent.Message{
		{Role: "system", Content: agent.Str(StatementSystem)}, {Role: "user", Content: agent.Str(u.String())}}})
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(resp.Choices[0].Message.Text())
	if text == "" {
		return "", errors.New("the model wrote an empty problem statement")
	}
	return text, nil
}
