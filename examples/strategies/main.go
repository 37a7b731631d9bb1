// Command strategies prints, for retrysql's own default strategies and for
// every backoff strategy of package strategy with textbook parameters, the
// delay before retries 1 to 10: exact for the deterministic strategies, and
// the minimum, median and maximum over many samples for the jittered ones.
// With -chart it draws the same curves to an SVG or PNG file.
//
//	go run ./examples/strategies [-samples 100000] [-seed 1] [-retries 10] [-chart strategies.svg]
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/examples/internal/chart"
	"github.com/retrysql/retrysql/strategy"
)

func main() {
	samples := flag.Int("samples", 100_000, "samples per retry for the jittered strategies")
	seed := flag.Uint64("seed", 1, "seed of the random source, for reproducible output")
	retries := flag.Int("retries", 10, "number of retries to show")
	chartPath := flag.String("chart", "", "also draw the delays to this file (.svg or .png)")
	flag.Parse()
	if err := run(os.Stdout, *samples, *seed, *retries, *chartPath); err != nil {
		fmt.Fprintln(os.Stderr, "strategies:", err)
		os.Exit(2)
	}
}

const (
	initial = 10 * time.Millisecond
	maximum = time.Second
)

// row is one strategy and how to draw the delays of one sequence of retries.
type row struct {
	name   string
	jitter bool
	// sequence returns the delays before retries 1..n of one operation,
	// feeding each delay back as the previous one, as the retry loop does.
	sequence func(n int) []time.Duration
}

func sequenceOf(s strategy.Strategy) func(int) []time.Duration {
	return func(n int) []time.Duration {
		out := make([]time.Duration, n)
		var prev time.Duration
		for i := range out {
			out[i] = s.Delay(i+1, prev)
			prev = out[i]
		}
		return out
	}
}

// libraryDefaults are retrysql's default strategies, by the class of the
// error (policy.go): the package keeps them unexported, so they are
// repeated here, and TestLibraryDefaults checks them against the delays
// the library's retry loop really waits.
var libraryDefaults = []struct {
	name, class string
	s           strategy.Strategy
}{
	{"tx-aborted: decorrelated 2ms–200ms", "tx-aborted",
		strategy.Decorrelated{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond}},
	{"transient: equal jitter 20ms–2s", "transient",
		strategy.EqualJitter{Initial: 20 * time.Millisecond, Max: 2 * time.Second, Base: 2}},
	{"conn-lost, connect: equal jitter 100ms–5s", "conn-lost",
		strategy.EqualJitter{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Base: 2}},
}

// defaultRows are the library's defaults, each drawing from src.
func defaultRows(src rand.Source) []row {
	var rs []row
	for _, d := range libraryDefaults {
		s := d.s
		switch v := s.(type) {
		case strategy.Decorrelated:
			v.Source = src
			s = v
		case strategy.EqualJitter:
			v.Source = src
			s = v
		}
		rs = append(rs, row{name: d.name, jitter: true, sequence: sequenceOf(s)})
	}
	return rs
}

// textbookRows are the families of package strategy with textbook
// parameters.
func textbookRows(src rand.Source) ([]row, error) {
	fixed, err := strategy.NewFixed(100 * time.Millisecond)
	if err != nil {
		return nil, err
	}
	linear, err := strategy.NewLinear(100*time.Millisecond, 100*time.Millisecond, maximum)
	if err != nil {
		return nil, err
	}
	exp, err := strategy.NewExponential(initial, maximum, 2)
	if err != nil {
		return nil, err
	}
	full, err := strategy.NewFullJitter(initial, maximum, 2)
	if err != nil {
		return nil, err
	}
	equal, err := strategy.NewEqualJitter(initial, maximum, 2)
	if err != nil {
		return nil, err
	}
	dec, err := strategy.NewDecorrelated(initial, maximum)
	if err != nil {
		return nil, err
	}
	full.Source, equal.Source, dec.Source = src, src, src
	return []row{
		{name: "fixed 100ms", sequence: sequenceOf(fixed)},
		{name: "linear 100ms +100ms", sequence: sequenceOf(linear)},
		{name: "exponential ×2", sequence: sequenceOf(exp)},
		{name: "full jitter", jitter: true, sequence: sequenceOf(full)},
		{name: "equal jitter", jitter: true, sequence: sequenceOf(equal)},
		{name: "decorrelated", jitter: true, sequence: sequenceOf(dec)},
	}, nil
}

// stats are the delays of one row: the exact ones, or the minimum,
// median and maximum of the samples, and (for the chart) the 5th and 95th
// percentiles.
type stats struct {
	row                  row
	lo, p5, med, p95, hi []time.Duration
}

func measure(r row, samples, retries int) stats {
	if !r.jitter {
		d := r.sequence(retries)
		return stats{row: r, lo: d, p5: d, med: d, p95: d, hi: d}
	}
	draws := make([][]time.Duration, retries) // draws[n] holds every sample of retry n+1
	for range samples {
		for n, d := range r.sequence(retries) {
			draws[n] = append(draws[n], d)
		}
	}
	st := stats{row: r}
	for _, ds := range draws {
		slices.Sort(ds)
		at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
		st.lo, st.p5, st.med = append(st.lo, ds[0]), append(st.p5, at(0.05)), append(st.med, ds[len(ds)/2])
		st.p95, st.hi = append(st.p95, at(0.95)), append(st.hi, ds[len(ds)-1])
	}
	return st
}

func run(w io.Writer, samples int, seed uint64, retries int, chartPath string) error {
	if samples < 1 || retries < 1 || retries > 1000 {
		return fmt.Errorf("samples must be at least 1 and retries within [1, 1000]; got %d and %d", samples, retries)
	}
	if chartPath != "" {
		if err := chart.CheckPath(chartPath); err != nil {
			return err
		}
	}
	src := rand.NewPCG(seed, seed)
	textbook, err := textbookRows(src)
	if err != nil {
		return err
	}
	var defaults, book []stats
	for _, r := range defaultRows(src) {
		defaults = append(defaults, measure(r, samples, retries))
	}
	for _, r := range textbook {
		book = append(book, measure(r, samples, retries))
	}

	fmt.Fprintf(w, "Delay before retry n, each delay fed back as the previous one, as the retry loop does.\n")
	fmt.Fprintf(w, "Jittered strategies: min / median / max over %d sampled sequences (seed %d).\n\n", samples, seed)
	table := func(title string, sts []stats) error {
		fmt.Fprintln(w, title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		header := []string{"strategy", ""}
		for n := 1; n <= retries; n++ {
			header = append(header, fmt.Sprint(n))
		}
		fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
		for _, st := range sts {
			if !st.row.jitter {
				fmt.Fprintln(tw, line(st.row.name, "", st.med))
				continue
			}
			fmt.Fprintln(tw, line(st.row.name, "min", st.lo))
			fmt.Fprintln(tw, line("", "median", st.med))
			fmt.Fprintln(tw, line("", "max", st.hi))
		}
		return tw.Flush()
	}
	if err := table("retrysql's defaults, by the class of the error:", defaults); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := table(fmt.Sprintf("Textbook strategies: exponential family from %v to %v, base 2:", initial, maximum), book); err != nil {
		return err
	}
	fmt.Fprintf(w, `
retrysql uses its defaults by the class of the error, without options (WithStrategy changes them):
  tx-aborted  deadlocks and serialization failures: RunInTx replays the transaction, up to %d attempts
  transient   lock timeouts, too many connections: up to %d attempts
  conn-lost   a lost connection, retried only if the request never reached the server or the
              work is idempotent, up to %d attempts; connecting waits the same
Under admission control (WithAdmission), contention errors are retried without a delay: the
permits pace them.
`, retrysql.DefaultTxAbortedAttempts, retrysql.DefaultMaxAttempts, retrysql.DefaultMaxAttempts)
	if chartPath != "" {
		if err := writeChart(chartPath, defaults, book, samples); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nchart written to %s\n", chartPath)
	}
	return nil
}

func line(name, stat string, ds []time.Duration) string {
	cells := []string{name, stat}
	for _, d := range ds {
		cells = append(cells, short(d))
	}
	return strings.Join(cells, "\t") + "\t"
}

// short formats a duration with about three significant digits.
func short(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case ms < 9.995:
		return trim(fmt.Sprintf("%.2f", ms)) + "ms"
	case ms < 999.5:
		return fmt.Sprintf("%.0fms", ms)
	}
	return trim(fmt.Sprintf("%.2f", d.Seconds())) + "s"
}

func trim(s string) string {
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
