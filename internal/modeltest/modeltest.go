// Package modeltest loads the default model's tokenizer and chat template
// (Qwen2.5's files, installed by `make deps`) for tests, failing with what
// to install when they are missing.
package modeltest

import (
	"testing"

	"github.com/swelake/swelake/internal/tokref"
	"github.com/swelake/swelake/trainer/chattemplate"
	"github.com/swelake/swelake/trainer/tokenizer"
)

// Qwen is the default tokenizer and its parsed chat template.
func Qwen(tb testing.TB) (*tokenizer.Tokenizer, *chattemplate.Template) {
	tb.Helper()
	if err := tokref.Check(); err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenizer.Load(tokref.DefaultTokenizerDir())
	if err != nil {
		tb.Fatal(err)
	}
	tmpl, err := chattemplate.Parse(tok.Config().ChatTemplate)
	if err != nil {
		tb.Fatal(err)
	}
	return tok, tmpl
}
