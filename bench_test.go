package retrysql_test

import (
	"context"
	"testing"

	"github.com/retrysql/retrysql"
)

// The first-attempt success path with everything on: the default budget,
// breaker and classifier.

func BenchmarkDoFirstAttempt(b *testing.B) {
	r, err := retrysql.NewRetrier()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := retrysql.Do(ctx, r, op); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoValueFirstAttempt(b *testing.B) {
	r, err := retrysql.NewRetrier()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	x := 42
	b.ReportAllocs()
	for b.Loop() {
		v, err := retrysql.DoValue(ctx, r, func(context.Context) (int, error) { return x, nil })
		if err != nil || v != 42 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoFirstAttemptParallel(b *testing.B) {
	r, err := retrysql.NewRetrier()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := retrysql.Do(ctx, r, op); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDoBare is the loop alone: no budget, no breaker.
func BenchmarkDoBare(b *testing.B) {
	r, err := retrysql.NewRetrier(retrysql.WithBudget(nil), retrysql.WithBreaker(nil))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	op := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = retrysql.Do(ctx, r, op)
	}
}

// BenchmarkDoObserved is Do's first attempt with each of observeSetups
// (driver_bench_test.go).
func BenchmarkDoObserved(b *testing.B) {
	for _, o := range observeSetups {
		r, err := retrysql.NewRetrier(o.opts()...)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		op := func(context.Context) error { return nil }
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := retrysql.Do(ctx, r, op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
