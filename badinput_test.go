package retrysql_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// TestEverythingAUserCanGetWrong: every mistake gets an error that names
// the problem; none panics (a panic fails the test) and none leaks a
// goroutine (TestMain checks).
func TestEverythingAUserCanGetWrong(t *testing.T) {
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var nilCtx context.Context
	var nilDB *sql.DB
	closed := openFake(t, newFake(nil))
	closed.Close()
	r, _ := retrysql.NewRetrier()
	db := openFake(t, newFake(nil))
	fn := func(context.Context, *sql.Tx) error { return nil }
	op := func(context.Context) error { return nil }

	cases := []struct {
		name string
		call func() error
		want string // a word the error must contain
	}{
		{"nil connector", func() error { return second(retrysql.NewConnector(nil)) }, "nil connector"},
		{"unknown driver", func() error { return second(retrysql.Open("no-such-driver", "dsn")) }, "unknown driver"},
		{"register a nil driver", func() error { return retrysql.Register("retry+nil-driver", nil) }, "nil driver"},
		{"register a taken name", func() error { return retrysql.Register(retrysql.DriverMySQL, newFake(nil)) }, "already registered"},
		{"nil option", func() error { return second(retrysql.NewRetrier(nil)) }, "nil option"},
		{"zero attempts", func() error { return second(retrysql.NewRetrier(retrysql.WithMaxAttempts(0))) }, "below 1"},
		{"negative elapsed", func() error { return second(retrysql.NewRetrier(retrysql.WithMaxElapsed(-1))) }, "negative"},
		{"invalid strategy", func() error {
			return second(retrysql.NewRetrier(retrysql.WithStrategy(classify.TxAborted, strategy.Exponential{Initial: 2, Max: 1, Base: 2})))
		}, "maximum"},
		{"strategy for permanent errors", func() error {
			return second(retrysql.NewRetrier(retrysql.WithStrategy(classify.Permanent, strategy.Fixed{})))
		}, "permanent"},
		{"budget with a negative ratio", func() error { return second(budget.NewRatio(-1, 10, 10)) }, "ratio"},
		{"budget with no window", func() error { return second(budget.NewRatio(0.2, 10, 0)) }, "window"},
		{"token bucket without rate", func() error { return second(budget.NewTokenBucket(0, 1)) }, "rate"},
		{"breaker with negative failures", func() error {
			return second(retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: -1}))
		}, "negative"},
		{"a handle option on a Retrier", func() error {
			return second(retrysql.NewRetrier(retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery)))
		}, "database handle"},
		{"a handle option for one call", func() error { return retrysql.Do(ctx, r, op, retrysql.WithBudget(nil)) }, "single call"},
		{"WithRetrier and options", func() error {
			return second(retrysql.NewConnector(fakeConnector{newFake(nil)}, retrysql.WithRetrier(r), retrysql.WithMaxAttempts(3)))
		}, "WithRetrier"},
		{"nil fn", func() error { return retrysql.RunInTx(ctx, db, nil, nil) }, "nil operation"},
		{"nil op", func() error { return retrysql.Do(ctx, r, nil) }, "nil operation"},
		{"nil Retrier", func() error { return retrysql.Do(ctx, nil, op) }, "nil Retrier"},
		{"nil context", func() error { return retrysql.Do(nilCtx, r, op) }, "nil context"},
		{"nil context in RunInTx", func() error { return retrysql.RunInTx(nilCtx, db, nil, fn) }, "nil context"},
		{"nil handle", func() error { return retrysql.RunInTx(ctx, nilDB, nil, fn) }, "nil database handle"},
		{"closed database, statement", func() error { _, err := closed.ExecContext(ctx, "UPDATE t"); return err }, "closed"},
		{"closed database, RunInTx", func() error { return retrysql.RunInTx(ctx, closed, nil, fn) }, "closed"},
		{"context already cancelled, Do", func() error { return retrysql.Do(cancelled, r, op) }, "canceled"},
		{"context already cancelled, RunInTx", func() error { return retrysql.RunInTx(cancelled, db, nil, fn) }, "canceled"},
		{"context already cancelled, statement", func() error { _, err := db.ExecContext(cancelled, "UPDATE t"); return err }, "canceled"},
		{"a PostgreSQL DSN pgx rejects", func() error { return openErr(retrysql.DriverPgx, "postgres://%zz") }, "parse"},
		{"a MySQL DSN go-sql-driver rejects", func() error { return openErr(retrysql.DriverMySQL, "user@tcp(127.0.0.1:3306/db") }, "invalid DSN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Fatalf("%q does not name the problem (%q)", err, tc.want)
			}
		})
	}
}

// openErr opens a handle and, since database/sql reports some DSN errors
// only when connecting, pings it.
func openErr(driverName, dsn string) error {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}
