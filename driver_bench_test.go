package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"log/slog"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
)

// benchDriver is the cheapest driver possible: every statement succeeds at
// once, so that a benchmark measures what the wrapper adds.
type benchDriver struct{}

func (benchDriver) Open(string) (driver.Conn, error) { return benchConn{}, nil }

type benchConn struct{}

func (benchConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrSkip }
func (benchConn) Close() error                        { return nil }
func (benchConn) Begin() (driver.Tx, error)           { return benchTx{}, nil }
func (benchConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return driver.RowsAffected(1), nil
}
func (benchConn) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return &benchRows{}, nil
}
func (benchConn) ResetSession(context.Context) error { return nil }

type benchTx struct{}

func (benchTx) Commit() error   { return nil }
func (benchTx) Rollback() error { return nil }

type benchRows struct{ done bool }

func (*benchRows) Columns() []string { return []string{"x"} }
func (*benchRows) Close() error      { return nil }
func (r *benchRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = int64(1)
	return nil
}

type benchConnector struct{}

func (benchConnector) Connect(context.Context) (driver.Conn, error) { return benchConn{}, nil }
func (benchConnector) Driver() driver.Driver                        { return benchDriver{} }

// BenchmarkStatement runs database/sql's Exec, Query (rows closed unread)
// and QueryRow (one row read, as applications do) on the raw fake driver and on the same driver wrapped with retrysql's defaults (budget,
// breaker, classifier), in one run: the difference is the wrapper's cost on
// the first-attempt path.
func BenchmarkStatement(b *testing.B) {
	wrapped, err := retrysql.NewConnector(benchConnector{})
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range []struct {
		name string
		db   *sql.DB
	}{
		{"driver=raw", sql.OpenDB(benchConnector{})},
		{"driver=retrysql", sql.OpenDB(wrapped)},
	} {
		defer h.db.Close()
		ctx := context.Background()
		b.Run("op=Exec/"+h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.db.ExecContext(ctx, "UPDATE t SET x = 1"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=QueryRow/"+h.name, func(b *testing.B) {
			b.ReportAllocs()
			var x int64
			for b.Loop() {
				if err := h.db.QueryRowContext(ctx, "SELECT x FROM t").Scan(&x); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("op=Query/"+h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := h.db.QueryContext(ctx, "SELECT x FROM t")
				if err != nil {
					b.Fatal(err)
				}
				rows.Close()
			}
		})
	}
}

// BenchmarkRunInTx runs a transaction of three statements through RunInTx
// on the fake driver wrapped with retrysql, with admission control off, on
// for every attempt (one Admit, one Release, a context value), and on for
// hot transactions only (the keys of the first statement, a look at the
// hot keys and the site, a count of them after): with a driver that does
// no work, the differences are all that admission adds to a transaction
// that meets no contention.
func BenchmarkRunInTx(b *testing.B) {
	all, err := admission.New(admission.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	hot, err := admission.New(admission.Settings{AdmitHotOnly: true, Fleet: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts []retrysql.Option
	}{
		{"admission=off", nil},
		{"admission=all", []retrysql.Option{retrysql.WithAdmission(all)}},
		{"admission=hot", []retrysql.Option{retrysql.WithAdmission(hot)}},
	} {
		wrapped, err := retrysql.NewConnector(benchConnector{}, mode.opts...)
		if err != nil {
			b.Fatal(err)
		}
		db := sql.OpenDB(wrapped)
		defer db.Close()
		ctx := context.Background()
		fn := func(ctx context.Context, tx *sql.Tx) error {
			for range 3 {
				if _, err := tx.ExecContext(ctx, "UPDATE t SET x = x + 1"); err != nil {
					return err
				}
			}
			return nil
		}
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := retrysql.RunInTx(ctx, db, nil, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// observeSetups are what the Observed benchmarks compare, on the path of
// an operation whose first attempt succeeds: nothing; a logger (at Info,
// as in production: retries are logged at Debug); a completion hook for
// every operation (timed: two clock readings); one for the operations that
// retried or failed (what the OpenTelemetry adapter installs without its
// duration metric); the logger and that hook together.
var observeSetups = []struct {
	name string
	opts func() []retrysql.Option
}{
	{"observe=none", func() []retrysql.Option { return nil }},
	{"observe=logger", func() []retrysql.Option { return []retrysql.Option{retrysql.WithLogger(infoLogger())} }},
	{"observe=complete-all", func() []retrysql.Option {
		return []retrysql.Option{retrysql.WithOnComplete(func(retrysql.Completion) {})}
	}},
	{"observe=complete-retried", func() []retrysql.Option {
		return []retrysql.Option{retrysql.WithOnComplete(func(retrysql.Completion) {}, retrysql.RetriedOrFailed)}
	}},
	{"observe=logger+complete-retried", func() []retrysql.Option {
		return []retrysql.Option{retrysql.WithLogger(infoLogger()),
			retrysql.WithOnComplete(func(retrysql.Completion) {}, retrysql.RetriedOrFailed)}
	}},
}

// infoLogger logs at Info and above, as text, to nowhere.
func infoLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// BenchmarkStatementObserved is an Exec's first attempt with each of
// observeSetups: what observing costs when nothing is retried.
func BenchmarkStatementObserved(b *testing.B) {
	for _, o := range observeSetups {
		c, err := retrysql.NewConnector(benchConnector{}, o.opts()...)
		if err != nil {
			b.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		ctx := context.Background()
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.ExecContext(ctx, "UPDATE t SET x = 1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
