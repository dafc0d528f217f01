package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// How the charts read true (docs/analysis.md, "Charts"): bars are drawn in
// data units (a slot of 1 per label, 0.8 of it shared by the groups), so
// they never overlap whatever the number of labels; buckets come in numeric
// order with empty ones kept (the x axis stays proportional); the legend is
// drawn beside the plot, never over the data; lines that coincide carry
// their own marker shapes and are dodged apart; the text is the page's
// sans-serif (Liberation Sans), and the chart is drawn at the card's width.

// palette is a colour-blind-safe qualitative palette (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{86, 180, 233, 255}, color.RGBA{213, 94, 0, 255},
	color.RGBA{240, 228, 66, 255}, color.RGBA{0, 0, 0, 255},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

// glyphs are the marker shapes of line series, one per series.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.TriangleGlyph{}, draw.RingGlyph{},
	draw.PyramidGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// chartWidth and chartHeight: drawn at the report card's width (1,136 CSS
// px inside the page's 1,200 px main column), so that the text is the
// page's size, not scaled.
var chartWidth, chartHeight = vg.Points(852), vg.Points(340)

// sans is the charts' typeface: the page's (index.html.tmpl names it first).
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// chart is a plot and its legend, drawn beside it.
type chart struct {
	p      *plot.Plot
	legend plot.Legend
}

func newChart(title, xlabel, ylabel string) *chart {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	p.Title.TextStyle.Font = font.From(sans, 14)
	p.Title.Padding = vg.Points(6)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(sans, 12)
		ax.Tick.Label.Font = font.From(sans, 11)
	}
	c := &chart{p: p, legend: plot.NewLegend()}
	c.legend.TextStyle.Font = font.From(sans, 11)
	c.legend.Top, c.legend.Left = true, true
	c.legend.Padding = vg.Points(3)
	return c
}

// series is one line of a chart, with optional error bars.
type series struct {
	name   string
	xs, ys []float64
	lo, hi []float64 // absolute bounds (nil: no error bars)
	dashed bool
}

type errXY struct {
	plotter.XYs
	lo, hi []float64
}

func (e errXY) YError(i int) (float64, float64) { return e.XYs[i].Y - e.lo[i], e.hi[i] - e.XYs[i].Y }

// dodge is how far apart (in x units) lines that coincide are drawn.
const dodge = 0.07

// lineChart plots series against a shared x axis (y from 0 to 1). A series
// whose points coincide with an earlier series' is shifted by dodge per
// series it coincides with, so that every line stays visible.
func lineChart(title, xlabel, ylabel string, ss []series, integerX bool) (*chart, error) {
	c := newChart(title, xlabel, ylabel)
	p := c.p
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		shift := 0.0
		for _, prev := range ss[:i] {
			if coincide(prev, s) {
				shift += dodge
			}
		}
		xys := make(plotter.XYs, len(s.xs))
		for j := range s.xs {
			xys[j] = plotter.XY{X: s.xs[j] + shift, Y: s.ys[j]}
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", title, err)
		}
		l.Color, pts.Color = colour(i), colour(i)
		l.Width = vg.Points(1.5)
		pts.Shape, pts.Radius = glyphs[i%len(glyphs)], vg.Points(3.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l, pts)
		name := s.name
		if shift > 0 {
			name += " (dodged +" + strconv.FormatFloat(shift, 'f', -1, 32) + ")"
		}
		c.legend.Add(name, l, pts)
		if s.lo != nil {
			eb, err := plotter.NewYErrorBars(errXY{xys, s.lo, s.hi})
			if err != nil {
				return nil, fmt.Errorf("chart %q: %w", title, err)
			}
			eb.Color = colour(i)
			p.Add(eb)
		}
	}
	if integerX {
		p.X.Tick.Marker = integerTicks{}
		p.X.Min, p.X.Max = p.X.Min-0.3, p.X.Max+0.3
	}
	return c, nil
}

// coincide: two series share a point (same x, y within half a percent).
func coincide(a, b series) bool {
	for i := range a.xs {
		for j := range b.xs {
			if a.xs[i] == b.xs[j] && math.Abs(a.ys[i]-b.ys[j]) < 0.005 {
				return true
			}
		}
	}
	return false
}

// integerTicks marks whole numbers only.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	step := math.Max(1, math.Ceil((hi-lo)/10))
	for v := math.Ceil(lo); v <= hi; v += step {
		out = append(out, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return out
}

// logTicks marks a log axis at 1, 2 and 5 × 10^k, labelled (thousands as
// "k"), with the other whole multiples as unlabelled minor ticks: a range
// that holds no power of ten (20 to 100 samples) still reads.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(math.Max(lo, 1e-9))); math.Pow(10, e) <= hi; e++ {
		base := math.Pow(10, e)
		for m := 1.0; m <= 9; m++ {
			v := m * base
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
				if v >= 1000 && math.Mod(v, 1000) == 0 {
					t.Label = strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
				}
			}
			out = append(out, t)
		}
	}
	return out
}

// countTicks marks whole numbers only, for counts: the default ticks
// without the fractional ones.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if hi-lo <= 10 { // few: every whole number
		for v := math.Ceil(lo); v <= hi; v++ {
			out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
		return out
	}
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
		out = append(out, t)
	}
	return out
}

// bars is one group's bars, in data units: label i's slot is [i-0.5, i+0.5],
// of which the groups share the middle 0.8.
type bars struct {
	values     []float64
	group, of  int
	color      color.Color
	horizontal bool
}

const slot = 0.8 // of each label's unit, the part the bars fill

func (b bars) span(i int) (lo, hi float64) {
	w := slot / float64(b.of)
	lo = float64(i) - slot/2 + float64(b.group)*w
	return lo, lo + w
}

func (b bars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	for i, v := range b.values {
		if v == 0 {
			continue
		}
		lo, hi := b.span(i)
		var r vg.Rectangle
		if b.horizontal {
			r = vg.Rectangle{Min: vg.Point{X: trX(0), Y: trY(lo)}, Max: vg.Point{X: trX(v), Y: trY(hi)}}
		} else {
			r = vg.Rectangle{Min: vg.Point{X: trX(lo), Y: trY(0)}, Max: vg.Point{X: trX(hi), Y: trY(v)}}
		}
		c.FillPolygon(b.color, c.ClipPolygonXY([]vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}}))
	}
}

func (b bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	top := 0.0
	for _, v := range b.values {
		top = max(top, v)
	}
	n := float64(len(b.values))
	if b.horizontal {
		return 0, top, -0.5, n - 0.5
	}
	return -0.5, n - 0.5, 0, top
}

func (b bars) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// barChart plots one bar per label (groups: one set of bars per group,
// side by side within the label's slot).
func barChart(title, xlabel, ylabel string, labels []string, groups []string, values [][]float64, horizontal bool) (*chart, error) {
	c := newChart(title, xlabel, ylabel)
	p := c.p
	p.Add(plotter.NewGrid())
	for gi, vals := range values {
		if len(vals) != len(labels) {
			return nil, fmt.Errorf("chart %q: %d values for %d labels", title, len(vals), len(labels))
		}
		b := bars{values: vals, group: gi, of: len(values), color: colour(gi), horizontal: horizontal}
		p.Add(b)
		if len(groups) > 1 {
			c.legend.Add(groups[gi], b)
		}
	}
	if horizontal {
		p.NominalY(labels...)
		p.X.Min = 0
		p.X.Tick.Marker = countTicks{}
		p.Y.Min, p.Y.Max = -0.5, float64(len(labels))-0.5
	} else {
		p.NominalX(labels...)
		p.Y.Min = 0
		p.Y.Tick.Marker = countTicks{}
		p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
		if len(labels) > 14 {
			p.X.Tick.Label.Rotation = math.Pi / 4
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -0.9, -0.6
		}
	}
	return c, nil
}

// scalingSeries is one kind of training's checkpoints and their fit.
type scalingSeries struct {
	kind      string
	ns, rates []float64
	labels    []string
	a, b      float64
	noFit     bool // one point: the line is flat at it
}

// scalingChart plots each kind's points and its fitted a + b·ln n over a
// log x axis.
func scalingChart(title string, ss []scalingSeries) (*chart, error) {
	c := newChart(title, "training samples (log scale)", "resolve rate")
	p := c.p
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{}
	p.Y.Min, p.Y.Max = 0, 1 // a rate: the whole scale, as the other rate charts
	p.Add(plotter.NewGrid())
	var all []float64
	for _, s := range ss {
		all = append(all, s.ns...)
	}
	lo, hi := slices.Min(all), slices.Max(all)
	p.X.Min, p.X.Max = lo/1.5, hi*1.5
	for i, s := range ss {
		xys := make(plotter.XYs, len(s.ns))
		for j := range s.ns {
			xys[j] = plotter.XY{X: s.ns[j], Y: s.rates[j]}
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", title, err)
		}
		sc.Color, sc.Radius, sc.Shape = colour(2*i), vg.Points(4), glyphs[i%len(glyphs)]
		a, b := s.a, s.b
		fit := plotter.NewFunction(func(x float64) float64 { return a + b*math.Log(x) })
		fit.Color, fit.Width, fit.Samples = colour(2*i+1), vg.Points(1.5), 100
		fit.XMin, fit.XMax = slices.Min(s.ns)/1.5, slices.Max(s.ns)*1.5
		p.Add(sc, fit)
		c.legend.Add(s.kind+" checkpoints", sc)
		if s.noFit {
			c.legend.Add(s.kind+": one point, no fit", fit)
		} else {
			c.legend.Add(fmt.Sprintf("%s fit %.3f + %.3f·ln n", s.kind, a, b), fit)
		}
		if len(s.labels) == len(s.ns) {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: s.labels})
			if err == nil {
				for i := range l.TextStyle {
					l.TextStyle[i].Font = font.From(sans, 10)
				}
				l.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(4)}
				p.Add(l)
			}
		}
	}
	return c, nil
}

// legendWidth is the width of the strip the legend takes beside the plot
// (0 : no legend).
func (c *chart) legendWidth(dc draw.Canvas) vg.Length {
	r := c.legend.Rectangle(dc)
	if r.Size().X == 0 {
		return 0
	}
	return r.Size().X + vg.Points(14)
}

// draw renders the plot, and the legend in its own strip at the right.
func (c *chart) draw(dc draw.Canvas) {
	lw := c.legendWidth(dc)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	margin := vg.Points(6)
	c.p.Draw(draw.Crop(dc, margin, -lw-margin, margin/2, -margin/2))
	if lw > 0 {
		strip := draw.Crop(dc, dc.Size().X-lw+vg.Points(8), 0, 0, -vg.Points(28))
		c.legend.Draw(strip)
	}
}

// save writes the chart as <dir>/<name>.png and .svg and returns the SVG.
func save(c *chart, dir, name string) ([]byte, error) {
	var svg []byte
	for _, format := range []string{"png", "svg"} {
		cw, err := draw.NewFormattedCanvas(chartWidth, chartHeight, format)
		if err != nil {
			return nil, fmt.Errorf("render %s.%s: %w", name, format, err)
		}
		c.draw(draw.New(cw))
		var buf bytes.Buffer
		if _, err := cw.WriteTo(&buf); err != nil {
			return nil, fmt.Errorf("render %s.%s: %w", name, format, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"."+format), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		if format == "svg" {
			svg = buf.Bytes()
		}
	}
	return svg, nil
}
