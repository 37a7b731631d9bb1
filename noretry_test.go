package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
)

// openDB opens a handle on c, closed when the test ends.
func openDB(t testing.TB, c driver.Connector) *sql.DB {
	t.Helper()
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

const nowait = "SELECT id FROM jobs WHERE id = 1 FOR UPDATE NOWAIT"

var lockNotAvailable = &pgconn.PgError{Severity: "ERROR", Code: "55P03", Message: `could not obtain lock on row in relation "jobs"`}

// TestNoWaitMakesOneAttempt: a FOR UPDATE NOWAIT that finds the row
// locked is retried as a transient error, ten attempts and about four
// seconds with the default strategies; with NoRetry it makes one attempt
// and returns the driver's error at once.
func TestNoWaitMakesOneAttempt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noRetry   bool
		attempts  int
		atLeast   time.Duration
		immediate bool
	}{
		{"today", false, retrysql.DefaultMaxAttempts, time.Second, false},
		{"NoRetry", true, 1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newFake(func(op, query string, n int) error {
					if query == nowait {
						return lockNotAvailable
					}
					return nil
				})
				c, err := retrysql.NewConnector(fakeConnector{d}) // the default strategies
				if err != nil {
					t.Fatal(err)
				}
				db := openDB(t, c)
				ctx := t.Context()
				if tc.noRetry {
					ctx = retrysql.NoRetry(ctx)
				}
				start := time.Now()
				var id int
				err = db.QueryRowContext(ctx, nowait).Scan(&id)
				took := time.Since(start)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
					t.Fatalf("got %v, want the lock error", err)
				}
				if n := d.count("query", nowait); n != tc.attempts {
					t.Fatalf("%d attempts, want %d", n, tc.attempts)
				}
				if tc.immediate && (took != 0 || err != lockNotAvailable) {
					t.Fatalf("took %v and returned %v, want the driver's error itself at once", took, err)
				}
				if took < tc.atLeast {
					t.Fatalf("took %v, want at least %v", took, tc.atLeast)
				}
				t.Logf("%s: %d attempts in %v", tc.name, d.count("query", nowait), took.Round(100*time.Millisecond))
			})
		})
	}
}

// TestNoRetryReachesEverySite: with NoRetry, a lost connection is not
// handed to database/sql (which would try another connection), a connect
// is tried once, and Do and RunInTx make one attempt.
func TestNoRetryReachesEverySite(t *testing.T) {
	ctx := retrysql.NoRetry(t.Context())
	if !retrysql.IsNoRetry(ctx) || retrysql.IsNoRetry(t.Context()) {
		t.Fatal("IsNoRetry does not tell")
	}

	t.Run("a lost connection", func(t *testing.T) {
		d := newFake(failN("exec", "UPDATE t", 5, driver.ErrBadConn))
		db := openFake(t, d)
		_, err := db.ExecContext(ctx, "UPDATE t")
		if err == nil || errors.Is(err, driver.ErrBadConn) || d.count("exec", "UPDATE t") != 1 {
			t.Fatalf("got %v after %d executions, want one, not matching ErrBadConn", err, d.count("exec", "UPDATE t"))
		}
		// The connection is dropped: the next statement runs on a new one.
		if _, err := db.ExecContext(t.Context(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a connect", func(t *testing.T) {
		d := newFake(nil)
		d.openErr = func(int) error { return refused }
		db := openFake(t, d)
		if err := db.PingContext(ctx); err == nil || d.opens != 1 {
			t.Fatalf("got %v after %d connects, want one", err, d.opens)
		}
	})

	t.Run("Do", func(t *testing.T) {
		r := newRetrier(t, nil)
		s := &script{errs: []error{errTransient, errTransient}}
		if err := retrysql.Do(ctx, r, s.op); err != errTransient || s.calls.Load() != 1 {
			t.Fatalf("got %v after %d attempts", err, s.calls.Load())
		}
	})

	t.Run("RunInTx", func(t *testing.T) {
		d := newFake(failN("commit", "", 5, serialization))
		db := openFake(t, d)
		err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error { return nil })
		if err != serialization || d.count("begin", "") != 1 {
			t.Fatalf("got %v after %d transactions", err, d.count("begin", ""))
		}
	})
}

// TestNoRetryDoesNotWaitForTheBreaker: while the breaker is open, an
// operation with NoRetry is refused at once (ErrCircuitOpen) instead of
// waiting for the half-open probe's verdict, as operations without it do.
func TestNoRetryDoesNotWaitForTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cb, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r, err := retrysql.NewRetrier(retrysql.WithBreaker(cb), retrysql.WithMaxAttempts(1))
		if err != nil {
			t.Fatal(err)
		}
		down := retrysql.Classified(errors.New("service unavailable"), classify.Result{Class: classify.Transient, Unavailable: true})
		_ = retrysql.Do(t.Context(), r, func(context.Context) error { return down }) // opens it
		if st := r.Stats().Breaker; st != retrysql.BreakerOpen {
			t.Fatalf("breaker %v, want open", st)
		}
		var calls int
		start := time.Now()
		err = retrysql.Do(retrysql.NoRetry(t.Context()), r, func(context.Context) error { calls++; return nil })
		if !errors.Is(err, retrysql.ErrCircuitOpen) || calls != 0 || time.Since(start) != 0 {
			t.Fatalf("got %v after %v and %d calls; want ErrCircuitOpen at once", err, time.Since(start), calls)
		}
		if n := r.Stats().BreakerWaits; n != 0 {
			t.Fatalf("%d waits for the breaker, want 0", n)
		}
		// Without NoRetry the same call waits for the open period, then runs
		// as the probe.
		err = retrysql.Do(t.Context(), r, func(context.Context) error { calls++; return nil })
		if err != nil || calls != 1 || time.Since(start) < 10*time.Second {
			t.Fatalf("got %v after %v and %d calls; want success after the open period", err, time.Since(start), calls)
		}
	})
}
