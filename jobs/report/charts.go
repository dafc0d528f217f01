package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette is a colour-blind-safe qualitative palette (Okabe–Ito).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255}, color.RGBA{230, 159, 0, 255}, color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255}, color.RGBA{86, 180, 233, 255}, color.RGBA{213, 94, 0, 255},
	color.RGBA{240, 228, 66, 255}, color.RGBA{0, 0, 0, 255},
}

func colour(i int) color.Color { return palette[i%len(palette)] }

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

// lineChart plots series against a shared x axis.
func lineChart(title, xlabel, ylabel string, ss []series, integerX bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	p.Legend.Top, p.Legend.Left = false, false
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		xys := make(plotter.XYs, len(s.xs))
		for j := range s.xs {
			xys[j] = plotter.XY{X: s.xs[j], Y: s.ys[j]}
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", title, err)
		}
		l.Color, pts.Color = colour(i), colour(i)
		l.Width = vg.Points(1.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
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
	}
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.YOffs = vg.Points(4)
	return p, nil
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

// barChart plots one bar per label (groups: one set of bars per group,
// side by side).
func barChart(title, xlabel, ylabel string, labels []string, groups []string, values [][]float64, horizontal bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	w := vg.Points(math.Max(6, math.Min(40, 360/float64(len(labels)*max(1, len(groups))))))
	for gi, vals := range values {
		bars, err := plotter.NewBarChart(plotter.Values(vals), w)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", title, err)
		}
		bars.Color = colour(gi)
		bars.LineStyle.Width = 0
		bars.Horizontal = horizontal
		bars.Offset = w * vg.Length(float64(gi)-float64(len(values)-1)/2)
		p.Add(bars)
		if len(groups) > 1 {
			p.Legend.Add(groups[gi], bars)
		}
	}
	if horizontal {
		p.NominalY(labels...)
		p.X.Min = 0
	} else {
		p.NominalX(labels...)
		p.Y.Min = 0
		if len(labels) > 8 {
			p.X.Tick.Label.Rotation = math.Pi / 4
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -0.9, -0.6
		}
	}
	p.Legend.Top = true
	return p, nil
}

// scalingChart plots points and the fitted a + b·ln n over a log x axis.
func scalingChart(title string, ns, rates []float64, labels []string, a, b float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, "SFT samples (log scale)", "resolve rate"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	xys := make(plotter.XYs, len(ns))
	for i := range ns {
		xys[i] = plotter.XY{X: ns[i], Y: rates[i]}
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("chart %q: %w", title, err)
	}
	sc.Color = colour(0)
	sc.Radius = vg.Points(4)
	fit := plotter.NewFunction(func(x float64) float64 { return a + b*math.Log(x) })
	fit.Color = colour(1)
	fit.Width = vg.Points(1.5)
	lo, hi := slices.Min(ns), slices.Max(ns)
	fit.XMin, fit.XMax = lo/1.5, hi*1.5
	p.X.Min, p.X.Max = lo/1.5, hi*1.5
	fit.Samples = 100
	p.Add(sc, fit)
	p.Legend.Add("checkpoints", sc)
	p.Legend.Add(fmt.Sprintf("fit %.3f + %.3f·ln n", a, b), fit)
	p.Legend.Top, p.Legend.Left = true, true
	if len(labels) == len(ns) {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err == nil {
			l.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(4)}
			p.Add(l)
		}
	}
	return p, nil
}

// chartSize is every chart's size.
var chartWidth, chartHeight = 6 * vg.Inch, 3.6 * vg.Inch

// save writes the chart as <dir>/<name>.png and .svg and returns the SVG.
func save(p *plot.Plot, dir, name string) ([]byte, error) {
	var svg []byte
	for _, format := range []string{"png", "svg"} {
		wt, err := p.WriterTo(chartWidth, chartHeight, format)
		if err != nil {
			return nil, fmt.Errorf("render %s.%s: %w", name, format, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
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
