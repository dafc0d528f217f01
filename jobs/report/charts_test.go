package report

import (
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	"github.com/swelake/swelake/jobs/stage"
	"github.com/swelake/swelake/schemas"
)

// svgChart is what a chart's SVG draws, in the drawing's own coordinates
// (y up, as gonum's SVG canvas flips it).
type svgChart struct {
	rects []rect    // filled axis-aligned rectangles in a palette colour: bars and legend swatches
	lines []string  // stroked paths in a palette colour (their d attribute): series and legend samples
	texts []svgText // every label
	width float64
}

type rect struct{ x0, y0, x1, y1 float64 }

func (a rect) overlaps(b rect) bool {
	const eps = 0.01
	return a.x0 < b.x1-eps && b.x0 < a.x1-eps && a.y0 < b.y1-eps && b.y0 < a.y1-eps
}

type svgText struct {
	x, y, size float64
	text       string
}

// box is the label's extent, measured with the font the chart drew it in.
func (t svgText) box() rect {
	face := font.DefaultCache.Lookup(font.From(sans, vg.Points(t.size)), vg.Points(t.size))
	return rect{t.x, t.y - 0.2*t.size, t.x + float64(face.Width(t.text)), t.y + 0.75*t.size}
}

var (
	pathPoint = regexp.MustCompile(`[ML]([-0-9.]+),([-0-9.]+)`)
	fillStyle = regexp.MustCompile(`fill:(#[0-9A-F]{6})`)
	strokeCol = regexp.MustCompile(`stroke:(#[0-9A-F]{6})`)
	fontSize  = regexp.MustCompile(`font-size:([0-9.]+)px`)
)

func paletteHex() []string {
	var out []string
	for _, c := range palette {
		r, g, b, _ := c.RGBA()
		out = append(out, fmt.Sprintf("#%02X%02X%02X", r>>8, g>>8, b>>8))
	}
	return out
}

func parseSVG(t *testing.T, path string) svgChart {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Width string `xml:"width,attr"`
		G     struct {
			Paths []struct {
				D     string `xml:"d,attr"`
				Style string `xml:"style,attr"`
			} `xml:"path"`
			Texts []struct {
				X     string `xml:"x,attr"`
				Y     string `xml:"y,attr"`
				Style string `xml:"style,attr"`
				Text  string `xml:",chardata"`
			} `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var c svgChart
	c.width, _ = strconv.ParseFloat(strings.TrimSuffix(doc.Width, "pt"), 64)
	pal := paletteHex()
	for _, p := range doc.G.Paths {
		var pts [][2]float64
		for _, m := range pathPoint.FindAllStringSubmatch(p.D, -1) {
			x, _ := strconv.ParseFloat(m[1], 64)
			y, _ := strconv.ParseFloat(m[2], 64)
			pts = append(pts, [2]float64{x, y})
		}
		if f := fillStyle.FindStringSubmatch(p.Style); f != nil && slices.Contains(pal, f[1]) && len(pts) == 4 && strings.HasSuffix(p.D, "Z") {
			xs := []float64{pts[0][0], pts[1][0], pts[2][0], pts[3][0]}
			ys := []float64{pts[0][1], pts[1][1], pts[2][1], pts[3][1]}
			c.rects = append(c.rects, rect{slices.Min(xs), slices.Min(ys), slices.Max(xs), slices.Max(ys)})
		}
		if s := strokeCol.FindStringSubmatch(p.Style); s != nil && slices.Contains(pal, s[1]) && strings.Contains(p.Style, "fill:none") && len(pts) >= 2 {
			c.lines = append(c.lines, p.D)
		}
	}
	for _, tx := range doc.G.Texts {
		x, _ := strconv.ParseFloat(tx.X, 64)
		y, _ := strconv.ParseFloat(tx.Y, 64)
		size := 12.0
		if m := fontSize.FindStringSubmatch(tx.Style); m != nil {
			size, _ = strconv.ParseFloat(m[1], 64)
		}
		c.texts = append(c.texts, svgText{x: x, y: -y, size: size, text: strings.TrimSpace(tx.Text)}) // text is drawn flipped back
	}
	return c
}

// axisLabels are the x axis's labels matching re (those on the line of
// the lowest match), left to right.
func (c svgChart) axisLabels(re *regexp.Regexp) []svgText {
	var out []svgText
	low := math.Inf(1)
	for _, tx := range c.texts {
		if re.MatchString(tx.text) {
			low = math.Min(low, tx.y)
		}
	}
	for _, tx := range c.texts {
		if re.MatchString(tx.text) && math.Abs(tx.y-low) < 1 {
			out = append(out, tx)
		}
	}
	slices.SortFunc(out, func(a, b svgText) int { return int(math.Copysign(1, a.x-b.x)) })
	return out
}

// TestChartsReadTrue draws every chart of the report and checks, on the
// SVG each writes, what the issue found wrong: no two bars (nor a bar and a
// legend swatch or label) overlap; buckets are in numeric order, every one
// present, evenly spaced; coinciding lines are drawn apart; the legend is
// beside the data. Chromium then renders the page: every chart spans its
// card, in the page's font. A screenshot of each chart is kept in
// $SWELAKE_ARTIFACTS/report-charts (default: a directory under the OS temp
// directory, logged).
func TestChartsReadTrue(t *testing.T) {
	l := analysisLake(t)
	out := t.TempDir()
	sum, err := Job.Execute(context.Background(), &stage.Env{Lake: l}, Config{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Charts) != len(Charts()) {
		t.Fatalf("charts %v, missing %v", sum.Charts, sum.Missing)
	}
	charts := map[string]svgChart{}
	for _, name := range Charts() {
		charts[name] = parseSVG(t, filepath.Join(out, "charts", name+".svg"))
	}

	for _, name := range []string{"difficulty_histogram", "turns_distribution", "drop_counts", "self_play"} {
		c := charts[name]
		if len(c.rects) < 4 {
			t.Fatalf("%s: %d bars found in its SVG", name, len(c.rects))
		}
		for i, a := range c.rects {
			for _, b := range c.rects[i+1:] {
				if a.overlaps(b) {
					t.Errorf("%s: bars overlap: %+v and %+v", name, a, b)
				}
			}
			for _, tx := range c.texts {
				if tx.box().overlaps(a) {
					t.Errorf("%s: label %q is drawn over a bar %+v", name, tx.text, a)
				}
			}
		}
	}

	// Buckets: every one, in numeric order, evenly spaced.
	bucket := regexp.MustCompile(`^(0|1|[\[(][0-9.]+,[0-9.]+[)\]])$`)
	got := charts["difficulty_histogram"].axisLabels(bucket)
	var names []string
	for _, tx := range got {
		names = append(names, tx.text)
	}
	if want := schemas.PassRateBuckets(); !slices.Equal(names, want) {
		t.Errorf("difficulty buckets left to right: %v, want %v", names, want)
	}
	evenlySpaced(t, "difficulty_histogram", got)
	bin := regexp.MustCompile(`^([0-9]+)–([0-9]+)$`)
	bins := charts["turns_distribution"].axisLabels(bin)
	for i := 1; i < len(bins); i++ {
		a, _ := strconv.Atoi(bin.FindStringSubmatch(bins[i-1].text)[1])
		b, _ := strconv.Atoi(bin.FindStringSubmatch(bins[i].text)[1])
		if b != a+turnsBin {
			t.Errorf("turns bins left to right: %q then %q (a bin is missing or out of order)", bins[i-1].text, bins[i].text)
		}
	}
	evenlySpaced(t, "turns_distribution", bins)
	// The data-scaling axis is labelled even where its range holds no
	// power of ten (the demo's 28 to 64 samples had none).
	if xs := charts["data_scaling"].axisLabels(regexp.MustCompile(`^[0-9]+k?$`)); len(xs) < 2 {
		t.Errorf("data_scaling: %d labelled x ticks, want at least 2", len(xs))
	}
	for lo, hi := range map[float64]float64{18.7: 96, 3: 24, 800: 60000} {
		var labels []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		want := map[float64]string{18.7: "20 50", 3: "5 10 20", 800: "1k 2k 5k 10k 20k 50k"}[lo]
		if strings.Join(labels, " ") != want {
			t.Errorf("log ticks of [%g, %g]: %v, want %s", lo, hi, labels, want)
		}
	}

	// Lines: TTS@k, pass@k and oracle@k coincide in places; every one is
	// drawn on its own path (dodged), and the legend names the verify run.
	tts := charts["tts_at_k"]
	seen := map[string]bool{}
	for _, d := range tts.lines {
		if strings.Count(d, "L") >= 3 { // a series (legend samples are one segment)
			if seen[d] {
				t.Errorf("tts_at_k: two series drawn on the same path %s", d)
			}
			seen[d] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("tts_at_k: %d series paths, want 3", len(seen))
	}
	if !slices.ContainsFunc(tts.texts, func(tx svgText) bool { return strings.Contains(tx.text, "verify-1") }) {
		t.Errorf("tts_at_k: no label names the verify run")
	}
	// Legends beside the data: every legend label starts right of every
	// series point and bar.
	for name, c := range charts {
		right := 0.0
		for _, r := range c.rects {
			if r.x1-r.x0 > 20 || r.y1-r.y0 > 20 { // data, not a legend swatch
				right = max(right, r.x1)
			}
		}
		for _, d := range c.lines {
			if strings.Count(d, "L") >= 3 {
				for _, m := range pathPoint.FindAllStringSubmatch(d, -1) {
					x, _ := strconv.ParseFloat(m[1], 64)
					right = max(right, x)
				}
			}
		}
		legend := map[string][]string{"difficulty_histogram": {"qwen-7b", "qwen-32b"}, "turns_distribution": {"step_cap", "submitted"},
			"pass_at_k": {"qwen-7b (dodged +0.07)", "ckpt-0"}, "tts_at_k": {"pass@k (dodged +0.07)"}, "data_scaling": {"sft checkpoints", "rl checkpoints"},
			"self_play":     {"self-made", "other policy", "procedural", "real"},
			"rl_iterations": {"resolve rate of the iteration's checkpoint (95% Wilson CI)", "mean shaped reward of the batch"}}
		for _, series := range legend[name] {
			if !slices.ContainsFunc(c.texts, func(tx svgText) bool { return tx.text == series }) {
				t.Errorf("%s: no legend entry %q", name, series)
			}
			for _, tx := range c.texts {
				if tx.text == series && tx.x < right {
					t.Errorf("%s: legend label %q at x=%.0f is inside the data (which reaches x=%.0f)", name, tx.text, tx.x, right)
				}
			}
		}
		if c.width < 800 {
			t.Errorf("%s: drawn %.0f pt wide, want the card's width", name, c.width)
		}
	}

	checkInChromium(t, sum.Index, out)
}

func evenlySpaced(t *testing.T, chart string, labels []svgText) {
	t.Helper()
	if len(labels) < 3 {
		t.Errorf("%s: %d axis labels", chart, len(labels))
		return
	}
	centre := func(tx svgText) float64 { return tx.box().x0 + (tx.box().x1-tx.box().x0)/2 }
	step := centre(labels[1]) - centre(labels[0])
	for i := 2; i < len(labels); i++ {
		if d := centre(labels[i]) - centre(labels[i-1]); math.Abs(d-step) > 0.15*step {
			t.Errorf("%s: labels %q → %q are %.1f pt apart, the first two %.1f: the axis is not proportional", chart, labels[i-1].text, labels[i].text, d, step)
		}
	}
}

// checkInChromium renders the report page: every chart spans its card in
// the page's font; and screenshots each chart as a test artifact.
func checkInChromium(t *testing.T, index, out string) {
	t.Helper()
	browser := findBrowser(t)
	dom, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,2400", "--virtual-time-budget=5000", "--dump-dom", "file://"+index).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	page := string(dom)
	for _, name := range Charts() {
		m := regexp.MustCompile(`data-chart="` + name + `"[^>]*data-fill="([0-9.]+)"[^>]*data-font="([^"]*)"`).FindStringSubmatch(page)
		if m == nil {
			t.Errorf("chart %s: no width or font measured in Chromium", name)
			continue
		}
		if fill, _ := strconv.ParseFloat(m[1], 64); fill < 0.98 {
			t.Errorf("chart %s: %.0f%% of its card's width in Chromium, want all of it", name, 100*fill)
		}
		if m[2] != "page" {
			t.Errorf("chart %s: text in %q, not the page's font", name, m[2])
		}
	}
	dir := os.Getenv("SWELAKE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "swelake-artifacts")
	}
	dir = filepath.Join(dir, "report-charts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range Charts() {
		shot := filepath.Join(dir, name+".png")
		if b, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--window-size=1136,453", "--hide-scrollbars", "--screenshot="+shot,
			"file://"+filepath.Join(out, "charts", name+".svg")).CombinedOutput(); err != nil {
			t.Fatalf("chromium screenshot of %s: %v\n%s", name, err, b)
		}
		if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
			t.Errorf("screenshot of %s: %v (a blank image is small)", name, err)
		}
	}
	t.Logf("screenshots of the charts, as Chromium draws them: %s", dir)
}

func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium is needed to check the report: apt-get install chromium")
	return ""
}

// TestBucketOrder: buckets sort by their lower bound whatever order the
// query returns them in (string order puts "1" before "[0.2,0.3)"), a
// bucket open at its lower bound after the point bucket at it, and another
// scheme's buckets among them by their bounds.
func TestBucketOrder(t *testing.T) {
	got := []string{"1", "[0.2,0.3)", "(0,0.1)", "[0.25,0.5)", "0", "[0.9,1.0)", "[0.1,0.2)"}
	slices.SortStableFunc(got, bucketOrder)
	want := []string{"0", "(0,0.1)", "[0.1,0.2)", "[0.2,0.3)", "[0.25,0.5)", "[0.9,1.0)", "1"}
	if !slices.Equal(got, want) {
		t.Fatalf("buckets in order %v, want %v", got, want)
	}
}
