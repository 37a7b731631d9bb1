// Package chart holds what the examples' charts share, drawn with
// gonum.org/v1/plot: the font, the axes of durations, and writing a figure
// of several plots side by side to an SVG or PNG file.
package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Sans is the charts' font: gonum's Liberation Sans, embedded in the
// program, so that a PNG looks the same everywhere.
var Sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// CheckPath checks that a chart file's name ends in a format Save writes.
func CheckPath(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg", ".png":
		return nil
	}
	return fmt.Errorf("-chart %s: the file must end in .svg or .png", path)
}

// New returns a plot with a title, axis labels and the charts' fonts.
func New(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(Sans, 11)
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(Sans, 10)
		a.Tick.Label.Font = font.From(Sans, 9)
	}
	p.Legend.TextStyle.Font = font.From(Sans, 9)
	p.Add(plotter.NewGrid())
	return p
}

// Save writes plots side by side under a title, w wide and h high, to
// path: SVG or PNG (at 144 dots per inch) by its extension.
func Save(path, title string, w, h vg.Length, plots ...*plot.Plot) error {
	if err := CheckPath(path); err != nil {
		return err
	}
	svg := strings.EqualFold(filepath.Ext(path), ".svg")
	var c vg.CanvasWriterTo
	if svg {
		c = vgsvg.New(w, h)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))}
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	head := draw.TextStyle{Color: color.Black, Font: font.From(Sans, 13), XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.New().TextHandler}
	dc.FillText(head, vg.Point{X: w / 2, Y: h - 6}, title)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadTop: 26, PadBottom: 4, PadLeft: 4, PadRight: 10, PadX: 24}
	for i, p := range plots {
		p.Draw(tiles.At(dc, i, 0))
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return err
	}
	b := buf.Bytes()
	if svg {
		// Liberation Sans has Arial's metrics: where it is not installed,
		// a viewer falling back to Arial or Helvetica keeps the layout.
		b = bytes.ReplaceAll(b, []byte("font-family:Liberation Sans;"), []byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
	}
	return os.WriteFile(path, b, 0o644)
}

// Milliseconds is a duration on an axis in milliseconds, as plotted.
func Milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// DurationTicks marks a log axis of milliseconds at 1, 2 and 5 times the
// powers of ten, labelled as durations (the 2s only on a short axis).
type DurationTicks struct{}

// Ticks implements plot.Ticker.
func (DurationTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			label := ""
			if m != 2 || hi/lo < 100 {
				label = Short(time.Duration(v * float64(time.Millisecond)))
			}
			ts = append(ts, plot.Tick{Value: v, Label: label})
		}
	}
	return ts
}

// Step is a step of 1, 2 or 5 times a power of ten that cuts span into 4
// to 10 parts.
func Step(span float64) float64 {
	if span <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(m*p) <= 10 {
			return m * p
		}
	}
	return 10 * p
}

// LinearTicks marks a linear axis from 0 at Step intervals, each labelled
// by label.
func LinearTicks(label func(float64) string) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		step := Step(hi - lo)
		var ts []plot.Tick
		for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
			ts = append(ts, plot.Tick{Value: v, Label: label(v)})
		}
		return ts
	})
}

// Short formats a duration with about three significant digits.
func Short(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case ms < 9.995:
		return trim(fmt.Sprintf("%.2f", ms)) + "ms"
	case ms < 99.95:
		return trim(fmt.Sprintf("%.1f", ms)) + "ms"
	case ms < 999.5:
		return fmt.Sprintf("%.0fms", ms)
	}
	return trim(fmt.Sprintf("%.2f", d.Seconds())) + "s"
}

func trim(s string) string {
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
