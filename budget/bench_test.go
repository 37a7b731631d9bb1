package budget_test

import (
	"testing"
	"time"

	"github.com/retrysql/retrysql/budget"
)

// The benchmarks pass times to Retry, as the retry loop does (it reads the
// clock once per retry for its own checks), so they measure the budget's
// work, not the clock's. "Granted" runs with plenty of credit, "Denied"
// with none: the two paths of an acquire.

func BenchmarkTokenBucket(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"Granted", 1e9}, {"Denied", budget.MinRate}} {
		b.Run(bc.name, func(b *testing.B) {
			tb, _ := budget.NewTokenBucket(bc.rate, 1)
			start := tb.Start()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				tb.Retry(start.Add(time.Duration(i)))
			}
		})
		b.Run(bc.name+"Parallel", func(b *testing.B) {
			tb, _ := budget.NewTokenBucket(bc.rate, 1)
			start := tb.Start()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					tb.Retry(start.Add(time.Duration(i)))
				}
			})
		})
	}
}

// newFunded returns a Ratio budget holding credit for about 60 million
// retries, and no floor.
func newFunded() *budget.Ratio {
	r, _ := budget.NewRatio(budget.MaxRatio, 0, time.Hour)
	now := r.Start()
	for range 6_000_000 {
		r.RequestAt(now)
	}
	return r
}

func BenchmarkRatioRetry(b *testing.B) {
	for _, bc := range []struct {
		name string
		make func() *budget.Ratio
	}{
		{"Granted", newFunded},
		{"Denied", func() *budget.Ratio { r, _ := budget.NewRatio(budget.DefaultRatio, 0, time.Hour); return r }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bc.make()
			now := r.Start().Add(time.Second)
			b.ReportAllocs()
			for b.Loop() {
				r.Retry(now)
			}
		})
		b.Run(bc.name+"Parallel", func(b *testing.B) {
			r := bc.make()
			now := r.Start().Add(time.Second)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.Retry(now)
				}
			})
		})
	}
}

func BenchmarkRatioRequest(b *testing.B) {
	r, _ := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow)
	b.ReportAllocs()
	for b.Loop() {
		r.Request()
	}
}

func BenchmarkRatioRequestParallel(b *testing.B) {
	r, _ := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Request()
		}
	})
}

// BenchmarkRatioMixedParallel records a first attempt and asks for a retry
// in every iteration, from every core: the worst sharing a budget sees.
func BenchmarkRatioMixedParallel(b *testing.B) {
	r, _ := budget.NewRatio(budget.DefaultRatio, budget.DefaultFloor, budget.DefaultWindow)
	now := r.Start().Add(time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Request()
			r.Retry(now)
		}
	})
}
