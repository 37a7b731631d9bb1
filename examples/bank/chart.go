package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/retrysql/retrysql/examples/internal/chart"
)

// modeColors are the modes' colours in the chart, by key.
var modeColors = map[string]color.Color{
	"plain":    color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff},
	"backoff":  color.RGBA{R: 0xd9, G: 0x5f, B: 0x02, A: 0xff},
	"retrysql": color.RGBA{R: 0x1b, G: 0x77, B: 0xb4, A: 0xff},
}

// writeChart draws, for each mode, its committed transfers' latency by
// percentile, and its committed transfers and errors per second over
// time, side by side, into path (SVG or PNG, by its extension).
func writeChart(path string, outs []outcome, title string) error {
	lat, err := latencyPlot(outs)
	if err != nil {
		return err
	}
	rate, err := ratePlot(outs)
	if err != nil {
		return err
	}
	return chart.Save(path, "retrysql bank demo: "+title, 10*vg.Inch, 4*vg.Inch, lat, rate)
}

// nines places a fraction q of transfers on the percentile axis: 0 at 0%,
// 1 at 90%, 2 at 99%, 3 at 99.9%: the tail gets room.
func nines(q float64) float64 { return -math.Log10(1 - q) }

func latencyPlot(outs []outcome) (*plot.Plot, error) {
	p := chart.New("Latency of committed transfers, by percentile", "percentile (log scale of the tail)", "latency (log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = chart.DurationTicks{}
	xmax := 0.0
	for _, o := range outs {
		l := o.res.Latencies
		n := len(l)
		if n == 0 {
			continue
		}
		// About 300 points, evenly spaced on the axis; the last is the
		// maximum, placed at 1-1/n.
		top := math.Log10(float64(n))
		xmax = max(xmax, top)
		const points = 300
		var xys plotter.XYs
		for k := 0; k <= points; k++ {
			x := top * float64(k) / points
			i := min(int(math.Ceil(float64(n)*(1-math.Pow(10, -x)))), n-1)
			xys = append(xys, plotter.XY{X: x, Y: max(chart.Milliseconds(l[i]), 0.01)})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width = modeColors[o.mode.key], vg.Points(1.6)
		p.Add(line)
		p.Legend.Add(o.mode.title, line)
	}
	p.X.Min, p.X.Max = 0, math.Max(xmax, 2)
	p.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		for _, q := range []struct {
			q     float64
			label string
		}{{0, "0"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}, {0.99999, "99.999%"}} {
			if x := nines(q.q); x <= max+1e-9 {
				ts = append(ts, plot.Tick{Value: x, Label: q.label})
			}
		}
		return ts
	})
	// The curves rise to the right: the bottom right corner is free.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	return p, nil
}

func ratePlot(outs []outcome) (*plot.Plot, error) {
	p := chart.New("Transfers per second", "seconds since the mode's start", "per second")
	const bucket = 250 * time.Millisecond
	// perSecond counts the times at in buckets, leaving out the last,
	// partial one, which would look like a drop.
	perSecond := func(elapsed time.Duration, at func(yield func(time.Duration) bool)) plotter.XYs {
		nb := int(elapsed/bucket) + 1
		counts := make([]int, nb)
		for t := range at {
			if b := int(t / bucket); b >= 0 && b < nb {
				counts[b]++
			}
		}
		var xys plotter.XYs
		for b := 0; b < nb-1; b++ {
			xys = append(xys, plotter.XY{X: (float64(b) + 0.5) * bucket.Seconds(), Y: float64(counts[b]) / bucket.Seconds()})
		}
		return xys
	}
	type series struct {
		name   string
		xys    plotter.XYs
		dashed bool
	}
	ymax := 0.0
	for _, o := range outs {
		ss := []series{{name: o.mode.title + ", committed", xys: perSecond(o.res.Elapsed, func(yield func(time.Duration) bool) {
			for _, t := range o.res.Timeline {
				if !yield(t.Start + t.Latency) {
					return
				}
			}
		})}}
		if len(o.errorsAt) > 0 {
			ss = append(ss, series{name: o.mode.title + ", errors to the app", dashed: true, xys: perSecond(o.res.Elapsed, slices.Values(o.errorsAt))})
		}
		for _, s := range ss {
			if len(s.xys) == 0 {
				continue
			}
			line, err := plotter.NewLine(s.xys)
			if err != nil {
				return nil, err
			}
			line.Color, line.Width = modeColors[o.mode.key], vg.Points(1.6)
			if s.dashed {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			for _, xy := range s.xys {
				ymax = max(ymax, xy.Y)
			}
			p.Add(line)
			p.Legend.Add(s.name, line)
		}
	}
	// Room above the lines for the legend.
	p.Y.Min, p.Y.Max, p.X.Min = 0, ymax*1.35, 0
	p.X.Tick.Marker = chart.LinearTicks(func(v float64) string { return trim(fmt.Sprintf("%.2f", v)) + "s" })
	p.Y.Tick.Marker = chart.LinearTicks(func(v float64) string { return count(int64(v)) })
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(2)
	return p, nil
}
