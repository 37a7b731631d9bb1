package retrysql_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
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

// BenchmarkRetry is Do of an operation whose first attempt fails with a
// serialization failure (tx-aborted: no budget drawn, no breaker failure)
// and whose second succeeds, with no delay between them, beside the same
// operation succeeding at once (retries=0): the difference is what a retry
// costs the loop (classifying, counting, the hooks, the log), the delay
// apart. Observed with nothing, a logger at Info (the retry line is not
// built), at Debug (text to nowhere), and a completion hook for the
// operations that retried or failed.
func BenchmarkRetry(b *testing.B) {
	conflict := &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
	for _, o := range []struct {
		name string
		opts []retrysql.Option
	}{
		{"observe=none", nil},
		{"observe=logger", []retrysql.Option{retrysql.WithLogger(infoLogger())}},
		{"observe=logger-debug", []retrysql.Option{retrysql.WithLogger(slog.New(slog.NewTextHandler(io.Discard,
			&slog.HandlerOptions{Level: slog.LevelDebug})))}},
		{"observe=complete-retried", []retrysql.Option{retrysql.WithOnComplete(func(retrysql.Completion) {}, retrysql.RetriedOrFailed)}},
	} {
		r, err := retrysql.NewRetrier(append(o.opts, retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{}))...)
		if err != nil {
			b.Fatal(err)
		}
		for _, retries := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/retries=%d", o.name, retries), func(b *testing.B) {
				ctx := context.Background()
				failed := 0
				op := func(context.Context) error {
					if failed < retries {
						failed++
						return conflict
					}
					failed = 0
					return nil
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := retrysql.Do(ctx, r, op); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
