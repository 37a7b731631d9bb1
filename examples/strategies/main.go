// Command strategies prints, for every backoff strategy of retrysql, the
// delay before retries 1 to 10: exact for the deterministic strategies, and
// the minimum, median and maximum over many samples for the jittered ones.
//
//	go run ./examples/strategies [-samples 100000] [-seed 1] [-retries 10]
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

	"github.com/retrysql/retrysql/strategy"
)

func main() {
	samples := flag.Int("samples", 100_000, "samples per retry for the jittered strategies")
	seed := flag.Uint64("seed", 1, "seed of the random source, for reproducible output")
	retries := flag.Int("retries", 10, "number of retries to show")
	flag.Parse()
	if err := run(os.Stdout, *samples, *seed, *retries); err != nil {
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

func rows(src rand.Source) ([]row, error) {
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

func run(w io.Writer, samples int, seed uint64, retries int) error {
	if samples < 1 || retries < 1 || retries > 1000 {
		return fmt.Errorf("samples must be at least 1 and retries within [1, 1000]; got %d and %d", samples, retries)
	}
	rs, err := rows(rand.NewPCG(seed, seed))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Delay before retry n. Exponential family: initial %v, max %v, base 2.\n", initial, maximum)
	fmt.Fprintf(w, "Jittered strategies: min / median / max over %d sampled sequences (seed %d).\n\n", samples, seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"strategy", ""}
	for n := 1; n <= retries; n++ {
		header = append(header, fmt.Sprint(n))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rs {
		if !r.jitter {
			fmt.Fprintln(tw, line(r.name, "", r.sequence(retries)))
			continue
		}
		draws := make([][]time.Duration, retries) // draws[n] holds every sample of retry n+1
		for range samples {
			for n, d := range r.sequence(retries) {
				draws[n] = append(draws[n], d)
			}
		}
		lo, med, hi := make([]time.Duration, retries), make([]time.Duration, retries), make([]time.Duration, retries)
		for n, ds := range draws {
			slices.Sort(ds)
			lo[n], med[n], hi[n] = ds[0], ds[len(ds)/2], ds[len(ds)-1]
		}
		fmt.Fprintln(tw, line(r.name, "min", lo))
		fmt.Fprintln(tw, line("", "median", med))
		fmt.Fprintln(tw, line("", "max", hi))
	}
	return tw.Flush()
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
