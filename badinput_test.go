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
	fake := func() fakeConnector { return fakeConnector{newFake(nil)} }

	cases := []struct {
		name string
		call func() error
		want string // words the error must contain
	}{
		// Handles.
		{"nil connector", func() error { return second(retrysql.NewConnector(nil)) }, "nil connector"},
		{"nil option on a handle", func() error { return second(retrysql.NewConnector(fake(), nil)) }, "nil option"},
		{"unknown driver", func() error { return second(retrysql.Open("no-such-driver", "dsn")) }, "unknown driver"},
		{"register a nil driver", func() error { return retrysql.Register("retry+nil-driver", nil) }, "nil driver"},
		{"register an empty name", func() error { return retrysql.Register("", newFake(nil)) }, "empty name"},
		{"register a taken name", func() error { return retrysql.Register(retrysql.DriverMySQL, newFake(nil)) }, "already registered"},
		{"register with a bad option", func() error { return retrysql.Register("retry+bad-option", newFake(nil), retrysql.WithMaxAttempts(0)) }, "below 1"},
		{"WithRetrier and options", func() error {
			return second(retrysql.NewConnector(fake(), retrysql.WithRetrier(r), retrysql.WithMaxAttempts(3)))
		}, "WithRetrier shares"},
		{"nil Retrier for a handle", func() error { return second(retrysql.NewConnector(fake(), retrysql.WithRetrier(nil))) }, "WithRetrier(nil)"},
		{"nil query policy", func() error { return second(retrysql.NewConnector(fake(), retrysql.WithIdempotentQueries(nil))) }, "WithIdempotentQueries(nil)"},
		// Options out of place.
		{"a handle option on a Retrier", func() error {
			return second(retrysql.NewRetrier(retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery)))
		}, "cannot be given to a Retrier"},
		{"WithRetrier on a Retrier", func() error { return second(retrysql.NewRetrier(retrysql.WithRetrier(r))) }, "cannot be given to a Retrier"},
		{"a budget for one Do call", func() error { return retrysql.Do(ctx, r, op, retrysql.WithBudget(nil)) }, "cannot be given to one Do call"},
		{"a breaker for one Do call", func() error { return retrysql.Do(ctx, r, op, retrysql.WithBreaker(nil)) }, "cannot be given to one Do call"},
		{"admission for one Do call", func() error { return retrysql.Do(ctx, r, op, retrysql.WithAdmission(nil)) }, "cannot be given to one Do call"},
		{"a query policy for one Do call", func() error {
			return retrysql.Do(ctx, r, op, retrysql.WithIdempotentQueries(retrysql.ReadOnlyQuery))
		}, "cannot be given to one Do call"},
		{"a budget for one RunInTx", func() error { return retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithBudget(nil)) }, "cannot be given to one RunInTx call"},
		// Option values.
		{"nil option", func() error { return second(retrysql.NewRetrier(nil)) }, "nil option"},
		{"nil option per call", func() error { return retrysql.Do(ctx, r, op, nil) }, "nil option"},
		{"nil option for RunInTx", func() error { return retrysql.RunInTx(ctx, db, nil, fn, nil) }, "nil option"},
		{"zero attempts", func() error { return second(retrysql.NewRetrier(retrysql.WithMaxAttempts(0))) }, "below 1"},
		{"zero attempts per call", func() error { return retrysql.Do(ctx, r, op, retrysql.WithMaxAttempts(0)) }, "below 1"},
		{"zero attempts for RunInTx", func() error { return retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithMaxAttempts(0)) }, "below 1"},
		{"zero class attempts", func() error { return second(retrysql.NewRetrier(retrysql.WithClassAttempts(classify.Transient, 0))) }, "below 1"},
		{"attempts for permanent errors", func() error {
			return second(retrysql.NewRetrier(retrysql.WithClassAttempts(classify.Permanent, 3)))
		}, "never retried"},
		{"attempts for an unknown class", func() error { return second(retrysql.NewRetrier(retrysql.WithClassAttempts(9, 3))) }, "unknown class"},
		{"negative elapsed", func() error { return second(retrysql.NewRetrier(retrysql.WithMaxElapsed(-1))) }, "negative"},
		{"nil classifier", func() error { return retrysql.Do(ctx, r, op, retrysql.WithClassifier(nil)) }, "nil classifier"},
		{"nil strategy", func() error { return retrysql.Do(ctx, r, op, retrysql.WithStrategy(classify.Transient, nil)) }, "nil strategy"},
		{"invalid strategy", func() error {
			return second(retrysql.NewRetrier(retrysql.WithStrategy(classify.TxAborted, strategy.Exponential{Initial: 2, Max: 1, Base: 2})))
		}, "maximum"},
		{"negative initial delay", func() error {
			return retrysql.Do(ctx, r, op, retrysql.WithStrategy(classify.Transient, strategy.Exponential{Initial: -1}))
		}, "must be positive"},
		{"strategy for permanent errors", func() error {
			return second(retrysql.NewRetrier(retrysql.WithStrategy(classify.Permanent, strategy.Fixed{})))
		}, "never retried"},
		{"strategy for an unknown class", func() error { return retrysql.Do(ctx, r, op, retrysql.WithStrategy(9, strategy.Fixed{})) }, "unknown class"},
		{"empty error code", func() error { return retrysql.Do(ctx, r, op, retrysql.WithCodeStrategy("", strategy.Fixed{})) }, "empty error code"},
		{"invalid connect strategy", func() error { return retrysql.Do(ctx, r, op, retrysql.WithConnectStrategy(strategy.Linear{Max: -1})) }, "linear"},
		{"budget classes with permanent", func() error {
			return second(retrysql.NewRetrier(retrysql.WithBudgetClasses(classify.Permanent)))
		}, "never retried"},
		// Budgets and breakers.
		{"budget with a negative ratio", func() error { return second(budget.NewRatio(-1, 10, 10)) }, "ratio"},
		{"budget with no window", func() error { return second(budget.NewRatio(0.2, 10, 0)) }, "window"},
		{"token bucket without rate", func() error { return second(budget.NewTokenBucket(0, 1)) }, "rate"},
		{"breaker with negative failures", func() error {
			return second(retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: -1}))
		}, "failures"},
		{"breaker with a negative open period", func() error {
			return second(retrysql.NewCircuitBreaker(retrysql.BreakerSettings{OpenFor: -1}))
		}, "open duration"},
		{"breaker with negative probes", func() error {
			return second(retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Probes: -1}))
		}, "probes"},
		// Calls.
		{"nil fn", func() error { return retrysql.RunInTx(ctx, db, nil, nil) }, "nil operation"},
		{"nil value fn", func() error { return second(retrysql.RunInTxValue[int](ctx, db, nil, nil)) }, "nil operation"},
		{"nil op", func() error { return retrysql.Do(ctx, r, nil) }, "nil operation"},
		{"nil value op", func() error { return second(retrysql.DoValue[int](ctx, r, nil)) }, "nil operation"},
		{"nil Retrier", func() error { return retrysql.Do(ctx, nil, op) }, "nil Retrier"},
		{"nil Retrier for a value", func() error {
			return second(retrysql.DoValue(ctx, nil, func(context.Context) (int, error) { return 0, nil }))
		}, "nil Retrier"},
		{"nil context", func() error { return retrysql.Do(nilCtx, r, op) }, "nil context"},
		{"nil context in RunInTx", func() error { return retrysql.RunInTx(nilCtx, db, nil, fn) }, "nil context"},
		{"nil handle", func() error { return retrysql.RunInTx(ctx, nil, nil, fn) }, "nil database handle"},
		{"nil *sql.DB", func() error { return retrysql.RunInTx(ctx, nilDB, nil, fn) }, "nil database handle"},
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
