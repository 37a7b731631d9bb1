package strategy_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/retrysql/retrysql/strategy"
)

const ms = time.Millisecond

func TestDeterministicDelays(t *testing.T) {
	tests := []struct {
		name string
		s    strategy.Strategy
		want []time.Duration // delays before retries 1, 2, 3, ...
	}{
		{"fixed", strategy.Fixed{Interval: 100 * ms}, []time.Duration{100 * ms, 100 * ms, 100 * ms}},
		{"fixed zero", strategy.Fixed{}, []time.Duration{0, 0, 0}},
		{"linear", strategy.Linear{Initial: 100 * ms, Step: 50 * ms, Max: 300 * ms},
			[]time.Duration{100 * ms, 150 * ms, 200 * ms, 250 * ms, 300 * ms, 300 * ms}},
		{"linear max not a multiple", strategy.Linear{Initial: 10 * ms, Step: 20 * ms, Max: 45 * ms},
			[]time.Duration{10 * ms, 30 * ms, 45 * ms, 45 * ms}},
		{"linear no step", strategy.Linear{Initial: 7 * ms, Max: 9 * ms}, []time.Duration{7 * ms, 7 * ms}},
		{"exponential base 2", strategy.Exponential{Initial: 10 * ms, Max: time.Second, Base: 2},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second}},
		{"exponential base 1.5", strategy.Exponential{Initial: 100 * ms, Max: time.Second, Base: 1.5},
			[]time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond, 506250 * time.Microsecond, 759375 * time.Microsecond, time.Second}},
		{"exponential base 3", strategy.Exponential{Initial: time.Millisecond, Max: 50 * ms, Base: 3},
			[]time.Duration{ms, 3 * ms, 9 * ms, 27 * ms, 50 * ms}},
		{"exponential base 1", strategy.Exponential{Initial: 5 * ms, Max: time.Second, Base: 1},
			[]time.Duration{5 * ms, 5 * ms, 5 * ms}},
		{"exponential initial equals max", strategy.Exponential{Initial: 5 * ms, Max: 5 * ms, Base: 2},
			[]time.Duration{5 * ms, 5 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := time.Duration(0)
			for i, want := range tt.want {
				got := tt.s.Delay(i+1, prev)
				if got != want {
					t.Errorf("retry %d: delay %v, want %v", i+1, got, want)
				}
				prev = got
			}
		})
	}
}

// TestNoOverflow drives every strategy with extreme retry numbers and
// durations: each delay must stay within [0, max] and the deterministic ones
// must never decrease as n grows.
func TestNoOverflow(t *testing.T) {
	durations := []time.Duration{1, 999, time.Millisecond, time.Hour, math.MaxInt64 / 3, math.MaxInt64 / 2, math.MaxInt64 - 1, math.MaxInt64}
	bases := []float64{1, 1 + 1e-12, 1.0001, 1.5, 2, 3, 10, 1e10, 1e308, math.MaxFloat64}
	ns := []int{1, 2, 3, 31, 32, 62, 63, 64, 65, 1000, math.MaxInt32, 1 << 31, math.MaxInt - 1, math.MaxInt}
	src := rand.NewPCG(1, 2)
	for _, initial := range durations {
		for _, max := range durations {
			if max < initial {
				continue
			}
			lin := strategy.Linear{Initial: initial, Step: max, Max: max}
			dec := strategy.Decorrelated{Initial: initial, Max: max, Source: src}
			for _, base := range bases {
				exp := strategy.Exponential{Initial: initial, Max: max, Base: base}
				full := strategy.FullJitter{Initial: initial, Max: max, Base: base, Source: src}
				equal := strategy.EqualJitter{Initial: initial, Max: max, Base: base, Source: src}
				var lastExp time.Duration
				for _, n := range ns {
					e := exp.Delay(n, 0)
					if e < initial || e > max {
						t.Fatalf("exponential(%v, %v, %v).Delay(%d) = %v, outside [initial, max]", initial, max, base, n, e)
					}
					if e < lastExp {
						t.Fatalf("exponential(%v, %v, %v).Delay(%d) = %v decreased from %v", initial, max, base, n, e, lastExp)
					}
					lastExp = e
					for _, prev := range []time.Duration{0, initial, max, math.MaxInt64} {
						if d := full.Delay(n, prev); d < 0 || d > e {
							t.Fatalf("full jitter delay %v outside [0, %v]", d, e)
						}
						if d := equal.Delay(n, prev); d < e/2 || d > e {
							t.Fatalf("equal jitter delay %v outside [%v, %v]", d, e/2, e)
						}
						if d := dec.Delay(n, prev); d < initial || d > max {
							t.Fatalf("decorrelated(%v, %v).Delay(%d, %v) = %v outside [initial, max]", initial, max, n, prev, d)
						}
					}
				}
			}
			var lastLin time.Duration
			for _, n := range ns {
				d := lin.Delay(n, 0)
				if d < initial || d > max || d < lastLin {
					t.Fatalf("linear(%v, step %v).Delay(%d) = %v after %v", initial, max, n, d, lastLin)
				}
				lastLin = d
			}
		}
	}
}

// TestJitterDistribution checks, over 100,000 seeded samples per retry
// number, that every delay stays in bounds and the sample mean is within 2%
// of the formula's mean.
func TestJitterDistribution(t *testing.T) {
	const samples = 100_000
	initial, max := 10*ms, time.Second
	for _, n := range []int{1, 2, 4, 7, 8, 20} {
		e := strategy.Exponential{Initial: initial, Max: max, Base: 2}.Delay(n, 0)
		full := strategy.FullJitter{Initial: initial, Max: max, Base: 2, Source: rand.NewPCG(uint64(n), 1)}
		equal := strategy.EqualJitter{Initial: initial, Max: max, Base: 2, Source: rand.NewPCG(uint64(n), 2)}
		checkMean(t, "full jitter", n, samples, float64(e)/2, func() time.Duration {
			d := full.Delay(n, 0)
			if d < 0 || d > e {
				t.Fatalf("full jitter retry %d: %v outside [0, %v]", n, d, e)
			}
			return d
		})
		half := e / 2
		checkMean(t, "equal jitter", n, samples, float64(half)+float64(half)/2, func() time.Duration {
			d := equal.Delay(n, 0)
			if d < half || d > 2*half {
				t.Fatalf("equal jitter retry %d: %v outside [%v, %v]", n, d, half, 2*half)
			}
			return d
		})
	}
	// Decorrelated: min(max, U(initial, 3·prev)), for a previous delay below
	// the cap (no clamping) and above a third of it (clamped share).
	for _, prev := range []time.Duration{10 * ms, 40 * ms, 200 * ms, 500 * ms, time.Second} {
		dec := strategy.Decorrelated{Initial: initial, Max: max, Source: rand.NewPCG(uint64(prev), 3)}
		lo, hi, c := float64(initial), float64(3*prev), float64(max)
		want := (lo + hi) / 2
		if hi > c { // E[min(c, U(lo, hi))]
			want = ((c*c-lo*lo)/2 + c*(hi-c)) / (hi - lo)
		}
		checkMean(t, "decorrelated", int(prev/ms), samples, want, func() time.Duration {
			d := dec.Delay(1, prev)
			if d < initial || d > max || d > 3*prev {
				t.Fatalf("decorrelated prev %v: %v outside [%v, min(%v, %v)]", prev, d, initial, max, 3*prev)
			}
			return d
		})
	}
}

func checkMean(t *testing.T, name string, n, samples int, want float64, draw func() time.Duration) {
	t.Helper()
	var sum float64
	for range samples {
		sum += float64(draw())
	}
	mean := sum / float64(samples)
	if math.Abs(mean-want) > 0.02*want {
		t.Errorf("%s (%d): mean %v, want %v ± 2%%", name, n, time.Duration(mean), time.Duration(want))
	}
}

func TestSeededSourceIsReproducible(t *testing.T) {
	a := strategy.FullJitter{Initial: ms, Max: time.Second, Base: 2, Source: rand.NewPCG(7, 7)}
	b := strategy.FullJitter{Initial: ms, Max: time.Second, Base: 2, Source: rand.NewPCG(7, 7)}
	for n := 1; n < 50; n++ {
		if da, db := a.Delay(n, 0), b.Delay(n, 0); da != db {
			t.Fatalf("retry %d: %v and %v from the same seed", n, da, db)
		}
	}
}

func TestConstructorsRejectInvalidParameters(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"fixed negative", second(strategy.NewFixed(-1))},
		{"linear negative initial", second(strategy.NewLinear(-1, 0, ms))},
		{"linear negative step", second(strategy.NewLinear(0, -ms, ms))},
		{"linear max below initial", second(strategy.NewLinear(2*ms, 0, ms))},
		{"exponential zero initial", second(strategy.NewExponential(0, ms, 2))},
		{"exponential negative initial", second(strategy.NewExponential(-ms, ms, 2))},
		{"exponential max below initial", second(strategy.NewExponential(2*ms, ms, 2))},
		{"exponential base below 1", second(strategy.NewExponential(ms, 2*ms, 0.5))},
		{"exponential negative base", second(strategy.NewExponential(ms, 2*ms, -2))},
		{"exponential NaN base", second(strategy.NewExponential(ms, 2*ms, math.NaN()))},
		{"exponential infinite base", second(strategy.NewExponential(ms, 2*ms, math.Inf(1)))},
		{"full jitter max below initial", second(strategy.NewFullJitter(2*ms, ms, 2))},
		{"full jitter base below 1", second(strategy.NewFullJitter(ms, 2*ms, 0.9))},
		{"equal jitter zero initial", second(strategy.NewEqualJitter(0, ms, 2))},
		{"decorrelated max below initial", second(strategy.NewDecorrelated(2*ms, ms))},
		{"decorrelated zero initial", second(strategy.NewDecorrelated(0, ms))},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !errors.Is(tt.err, strategy.ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalid", tt.name, tt.err)
		}
	}
	valid := []error{
		second(strategy.NewFixed(0)),
		second(strategy.NewLinear(0, 0, 0)),
		second(strategy.NewExponential(ms, ms, 1)),
		second(strategy.NewExponential(ms, time.Second, 0)),
		second(strategy.NewFullJitter(ms, time.Second, 0)),
		second(strategy.NewEqualJitter(ms, time.Second, 3)),
		second(strategy.NewDecorrelated(ms, ms)),
	}
	for i, err := range valid {
		if err != nil {
			t.Errorf("valid parameters %d rejected: %v", i, err)
		}
	}
	if s, _ := strategy.NewExponential(ms, time.Second, 0); s.Base != strategy.DefaultBase {
		t.Errorf("base 0 gave %v, want DefaultBase", s.Base)
	}
}

// TestBaseZeroMeansDefault: a literal that leaves Base out is valid and
// doubles, as the constructors' base 0 does (one rule for both).
func TestBaseZeroMeansDefault(t *testing.T) {
	src := rand.NewPCG(1, 2)
	for _, s := range []strategy.Strategy{
		strategy.Exponential{Initial: 10 * ms, Max: time.Second},
		strategy.FullJitter{Initial: 10 * ms, Max: time.Second, Source: src},
		strategy.EqualJitter{Initial: 10 * ms, Max: time.Second, Source: src},
	} {
		if err := s.(strategy.Validator).Validate(); err != nil {
			t.Errorf("%T without Base: %v", s, err)
		}
		// Retry 4 waits at most 10ms·2³ = 80ms; with a base of 1 it would
		// wait at most 10ms.
		var longest time.Duration
		for range 1000 {
			longest = max(longest, s.Delay(4, 0))
		}
		if longest > 80*ms || longest <= 40*ms {
			t.Errorf("%T without Base: retry 4 waited up to %v, want (40ms, 80ms]", s, longest)
		}
	}
	e, _ := strategy.NewExponential(10*ms, time.Second, 0)
	if got, want := (strategy.Exponential{Initial: 10 * ms, Max: time.Second}).Delay(4, 0), e.Delay(4, 0); got != want {
		t.Errorf("literal %v, constructor %v", got, want)
	}
}

func second[T any](_ T, err error) error { return err }

// TestInvalidLiteralsDoNotPanic checks that struct literals with invalid
// fields, which Validate reports, still yield delays within the clamped range.
func TestInvalidLiteralsDoNotPanic(t *testing.T) {
	for _, s := range []strategy.Strategy{
		strategy.Fixed{Interval: -time.Second},
		strategy.Linear{Initial: -ms, Step: -ms, Max: -ms},
		strategy.Linear{Initial: 5 * ms, Step: ms, Max: 0},
		strategy.Exponential{Initial: -ms, Max: -ms, Base: -1},
		strategy.Exponential{Initial: 5 * ms, Max: ms, Base: math.NaN()},
		strategy.FullJitter{Initial: 5 * ms, Max: 0, Base: 0},
		strategy.EqualJitter{Initial: -5 * ms, Max: -ms, Base: math.Inf(-1)},
		strategy.Decorrelated{Initial: -ms, Max: -2 * ms},
		strategy.Decorrelated{Initial: 5 * ms, Max: ms},
	} {
		if v, ok := s.(strategy.Validator); !ok || v.Validate() == nil {
			t.Errorf("%#v: Validate accepted invalid fields", s)
		}
		for _, n := range []int{math.MinInt, -1, 0, 1, 2, 100, math.MaxInt} {
			if d := s.Delay(n, -time.Second); d < 0 || d > 5*ms {
				t.Errorf("%#v.Delay(%d) = %v", s, n, d)
			}
		}
	}
}

// TestConcurrentUse shares one value of each strategy between goroutines; run
// with -race.
func TestConcurrentUse(t *testing.T) {
	strategies := []strategy.Strategy{
		strategy.Fixed{Interval: ms},
		strategy.Linear{Initial: ms, Step: ms, Max: 10 * ms},
		strategy.Exponential{Initial: ms, Max: 10 * ms, Base: 2},
		strategy.FullJitter{Initial: ms, Max: 10 * ms, Base: 2},
		strategy.EqualJitter{Initial: ms, Max: 10 * ms, Base: 2},
		strategy.Decorrelated{Initial: ms, Max: 10 * ms},
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 1000; i++ {
				for _, s := range strategies {
					if d := s.Delay(i%12+1, ms); d < 0 || d > 10*ms {
						t.Errorf("%T: %v", s, d)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// FuzzDelay checks every strategy with arbitrary parameters: a valid
// strategy yields a delay in [0, max], an invalid one is reported by Validate,
// and nothing panics.
func FuzzDelay(f *testing.F) {
	f.Add(int64(ms), int64(time.Second), 2.0, 5, int64(0), uint64(1))
	f.Add(int64(1), int64(math.MaxInt64), 1e300, math.MaxInt, int64(math.MaxInt64), uint64(2))
	f.Add(int64(-1), int64(0), -1.0, -5, int64(-3), uint64(3))
	f.Fuzz(func(t *testing.T, initial, max int64, base float64, n int, prev int64, seed uint64) {
		src := rand.NewPCG(seed, seed)
		i, m, p := time.Duration(initial), time.Duration(max), time.Duration(prev)
		for _, s := range []strategy.Strategy{
			strategy.Fixed{Interval: i},
			strategy.Linear{Initial: i, Step: p, Max: m},
			strategy.Exponential{Initial: i, Max: m, Base: base},
			strategy.FullJitter{Initial: i, Max: m, Base: base, Source: src},
			strategy.EqualJitter{Initial: i, Max: m, Base: base, Source: src},
			strategy.Decorrelated{Initial: i, Max: m, Source: src},
		} {
			d := s.Delay(n, p)
			if d < 0 {
				t.Fatalf("%#v.Delay(%d, %v) = %v < 0", s, n, p, d)
			}
			if s.(strategy.Validator).Validate() != nil {
				continue
			}
			limit := m
			if f, ok := s.(strategy.Fixed); ok {
				limit = f.Interval
			}
			if d > limit {
				t.Fatalf("%#v.Delay(%d, %v) = %v above the maximum %v", s, n, p, d, limit)
			}
		}
	})
}
