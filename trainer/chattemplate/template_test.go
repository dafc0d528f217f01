package chattemplate

import (
	"errors"
	"strings"
	"testing"

	"github.com/swelake/swelake/schemas"
)

// Expected outputs were produced by @huggingface/jinja 0.5.11 (the parity
// reference) on the same templates and inputs.
func TestJinjaFeatures(t *testing.T) {
	x, _ := ParseJSON([]byte(`{"a": [1, {"b": 2}], "e": []}`))
	d, _ := ParseJSON([]byte(`{"a": 1, "b": "x"}`))
	for _, c := range []struct {
		tmpl string
		vars map[string]Value
		want string
	}{
		{`{{ x | tojson(indent=2) }}`, map[string]Value{"x": x}, "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"e\": []\n}"},
		{`{{ "abc"[1:] }} {{ [1,2,3][-1] }} {{ 'a' ~ 1 }} {{ 7 // 2 }} {{ 7 / 2 }}`, nil, "bc 3 a1 3 3.5"},
		{`{%- for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.get('z', 'no') }} {{ d.z is defined }}`, map[string]Value{"d": d}, "a=1;b=x; no false"},
		{`{% set ns = namespace(found=false) %}{% for m in ms %}{% if m == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}`, map[string]Value{"ms": []Value{int64(1), int64(2)}}, "true"},
		{`{{ "a b  c".split() }} {{ " x ".strip() }} {{ "Hi".startswith("H") }} {{ [3,1] | length }} {{ "a,b" | replace(",", ";") }}`, nil, `["a", "b", "c"] x true 2 a;b`},
		{"{% for i in range(3) if i != 1 %}{{ loop.index }}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}", nil, "10,22"},
		{"  {%- if true %}\n  yes\n  {%- endif %}\n", nil, "  yes"},
		{"{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}", nil, "[1B][23]"},
		{"{{ messages[1:] | map(attribute='role') | join(',') }}", map[string]Value{"messages": MessageValues([]schemas.Message{{Role: "system"}, {Role: "user"}, {Role: "assistant"}})}, "user,assistant"},
		{"{{ x if y else 'n' }}|{{ undefined_thing.attr }}|{{ none }}", map[string]Value{"x": "X"}, "n||"},
	} {
		tm, err := Parse(c.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		got, err := tm.Render(c.vars)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		if got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.tmpl, got, c.want)
		}
	}
}

func TestRaiseExceptionAndErrors(t *testing.T) {
	tm, err := Parse(`{% if messages[0].role != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tm.RenderChat(Chat{Messages: []schemas.Message{{Role: "tool"}}})
	if !errors.Is(err, ErrRaised) || !strings.Contains(err.Error(), "first message must be user") {
		t.Fatalf("got %v", err)
	}
	for _, bad := range []string{"{% if x %}", "{{ x ", "{% for %}", "{{ 'abc }}", "{% unknown %}"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestRenderWithSpans(t *testing.T) {
	tm, err := Parse(`{% for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}`)
	if err != nil {
		t.Fatal(err)
	}
	text, spans, err := tm.RenderWithSpans(Chat{Messages: []schemas.Message{{Role: "user", Content: "q"}, {Role: "assistant", Content: "a1"}, {Role: "user", Content: "q2"}, {Role: "assistant", Content: "a2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 || text[spans[0].Start:spans[0].End] != "a1<|im_end|>\n" || text[spans[1].Start:spans[1].End] != "a2<|im_end|>\n" {
		t.Fatalf("spans %+v in %q", spans, text)
	}
	unstable, _ := Parse(`{{ messages | length }}{% for m in messages %}{{ m.content }}{% endfor %}`)
	if _, _, err := unstable.RenderWithSpans(Chat{Messages: []schemas.Message{{Role: "user"}, {Role: "assistant", Content: "x"}}}); err == nil || !strings.Contains(err.Error(), "prefix-stable") {
		t.Fatalf("got %v", err)
	}
}
