package main

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/retrysql/retrysql/examples/internal/chart"
)

// palette holds the curves' colours (ColorBrewer's Dark2).
var palette = []color.RGBA{
	{R: 0x1b, G: 0x9e, B: 0x77, A: 0xff}, {R: 0xd9, G: 0x5f, B: 0x02, A: 0xff}, {R: 0x75, G: 0x70, B: 0xb3, A: 0xff},
	{R: 0xe7, G: 0x29, B: 0x8a, A: 0xff}, {R: 0x66, G: 0xa6, B: 0x1e, A: 0xff}, {R: 0xe6, G: 0xab, B: 0x02, A: 0xff},
}

// writeChart draws the delays of the library's defaults and of the
// textbook strategies side by side: the median of the jittered ones, with
// a band from their 5th to 95th percentile.
func writeChart(path string, defaults, book []stats, samples int) error {
	left, err := delayPlot("retrysql's defaults", defaults, true)
	if err != nil {
		return err
	}
	right, err := delayPlot(fmt.Sprintf("Textbook strategies, %v to %v", chart.Short(initial), chart.Short(maximum)), book, false)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("Delay before retry n (jittered: the median, in a band from the 5th to the 95th percentile of %s sequences)", thousands(samples))
	return chart.Save(path, title, 10*vg.Inch, 4*vg.Inch, left, right)
}

func delayPlot(title string, sts []stats, legendTop bool) (*plot.Plot, error) {
	p := chart.New(title, "retry n", "delay (log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = chart.DurationTicks{}
	p.X.Tick.Marker = chart.LinearTicks(func(v float64) string { return fmt.Sprint(int(v)) })
	// The least delay drawn: a full jitter's band reaches down to almost
	// nothing, which a log axis cannot show.
	const floor = 100 * time.Microsecond
	ms := func(d time.Duration) float64 { return chart.Milliseconds(max(d, floor)) }
	top := 0.0
	for i, st := range sts {
		for _, d := range st.p95 {
			top = max(top, ms(d))
		}
		c := palette[i%len(palette)]
		if st.row.jitter {
			var band plotter.XYs
			for n := range st.p5 {
				band = append(band, plotter.XY{X: float64(n + 1), Y: ms(st.p5[n])})
			}
			for n := len(st.p95) - 1; n >= 0; n-- {
				band = append(band, plotter.XY{X: float64(n + 1), Y: ms(st.p95[n])})
			}
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return nil, err
			}
			poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x2c}
			poly.LineStyle.Color = color.Transparent
			p.Add(poly)
		}
		var mid plotter.XYs
		for n, d := range st.med {
			mid = append(mid, plotter.XY{X: float64(n + 1), Y: ms(d)})
		}
		line, points, err := plotter.NewLinePoints(mid)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width = c, vg.Points(1.6)
		points.Color, points.Shape, points.Radius = c, draw.CircleGlyph{}, vg.Points(2)
		if !st.row.jitter {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(st.row.name, line, points)
	}
	p.X.Min = 1
	// Up to a labelled tick: 1, 2 or 5 times a power of ten; above the
	// curves, the next one, for the legend.
	for _, m := range []float64{1, 2, 5, 10} {
		if v := m * math.Pow(10, math.Floor(math.Log10(top))); v >= top {
			p.Y.Max = v
			if legendTop {
				p.Y.Max *= 2.5
			}
			break
		}
	}
	if legendTop {
		// The curves rise to the right: the top left corner is free.
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(2)
	} else {
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	}
	return p, nil
}

// thousands formats n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
