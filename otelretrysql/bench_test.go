package otelretrysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/otelretrysql"
	"github.com/retrysql/retrysql/strategy"
)

// setups are the configurations the benchmarks compare, on the path of an
// operation whose first attempt succeeds: no adapter; retrysql's
// completion hook alone for every operation, doing nothing (what timing
// every operation costs); the adapter (whose completion hook asks only for
// operations that retried or failed); the adapter with retrysql's logger
// (at Info, as in production); the adapter with the duration metric,
// which times every operation.
var setups = []struct {
	name string
	opts func(testing.TB) []retrysql.Option
}{
	{"adapter=none", func(testing.TB) []retrysql.Option { return nil }},
	{"adapter=nop-complete-all", func(testing.TB) []retrysql.Option {
		return []retrysql.Option{retrysql.WithOnComplete(func(retrysql.Completion) {})}
	}},
	{"adapter=otel", func(tb testing.TB) []retrysql.Option { return sdkTelemetry(tb).Options() }},
	{"adapter=otel+logger", func(tb testing.TB) []retrysql.Option {
		return append(sdkTelemetry(tb).Options(), retrysql.WithLogger(infoLogger()))
	}},
	{"adapter=otel+duration", func(tb testing.TB) []retrysql.Option {
		return sdkTelemetry(tb, otelretrysql.WithOperationDuration()).Options()
	}},
}

// infoLogger logs at Info and above, as text, to nowhere.
func infoLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// sdkTelemetry returns a Telemetry recording to the SDK: a meter provider
// with a manual reader, a tracer provider with an in-memory exporter.
func sdkTelemetry(tb testing.TB, opts ...otelretrysql.Option) *otelretrysql.Telemetry {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	tb.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	tel, err := otelretrysql.New(append([]otelretrysql.Option{otelretrysql.WithMeterProvider(mp),
		otelretrysql.WithTracerProvider(tp), otelretrysql.WithDBSystem("postgresql")}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return tel
}

// BenchmarkDo: retrysql.Do of an operation that succeeds at once.
func BenchmarkDo(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			r, err := retrysql.NewRetrier(s.opts(b)...)
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
		})
	}
}

// BenchmarkExec: a statement through database/sql on the in-memory driver,
// which succeeds at once.
func BenchmarkExec(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			db := memHandle(b, &memDB{}, s.opts(b)...)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.ExecContext(ctx, "UPDATE stock SET n = n - 1 WHERE id = 7"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// memHandle opens a retrysql handle on d.
func memHandle(tb testing.TB, d *memDB, opts ...retrysql.Option) *sql.DB {
	tb.Helper()
	c, err := retrysql.NewConnector(d, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(c)
	tb.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkRetry is retrysql.Do of an operation whose first attempt fails
// with a serialization failure and whose second succeeds, with no delay
// between them, beside the same operation succeeding at once (retries=0),
// with each of setups: the difference is what a retry costs the loop and
// the adapter (its retry event is skipped: there is no span in the
// context; the retry histograms are recorded). The delay apart.
func BenchmarkRetry(b *testing.B) {
	conflict := &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
	for _, s := range setups {
		r, err := retrysql.NewRetrier(append(s.opts(b), retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{}))...)
		if err != nil {
			b.Fatal(err)
		}
		for _, retries := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/retries=%d", s.name, retries), func(b *testing.B) {
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
