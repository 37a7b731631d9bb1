package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// One logical operation is one loop: these tests count the BEGINs, the
// connects and the statements of each operation, so that attempts cannot
// multiply again unnoticed.

var lockWait = &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}

// wrappedOnce checks that err is one *Error with n attempts whose last
// error is not another *Error, and that its message says so once.
func wrappedOnce(t *testing.T, err error, n int) {
	t.Helper()
	var e *retrysql.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want a *retrysql.Error", err, err)
	}
	var inner *retrysql.Error
	if errors.As(e.Err, &inner) {
		t.Fatalf("wrapped twice: %v", err)
	}
	if retrysql.Attempts(err) != n || strings.Count(err.Error(), "retrysql:") != 1 {
		t.Fatalf("Attempts(err) = %d, want %d: %v", retrysql.Attempts(err), n, err)
	}
}

func TestRunInTxBeginsAtMostMaxAttempts(t *testing.T) {
	for name, beginErr := range map[string]error{
		"lock wait (transient)":           lockWait,
		"lost before sending (conn-lost)": driver.ErrBadConn,
	} {
		t.Run(name, func(t *testing.T) {
			d := newFake(failN("begin", "", 100, beginErr))
			db := openFake(t, d)
			var runs atomic.Int32
			err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithMaxAttempts(3))
			wrappedOnce(t, err, 3)
			if n := d.count("begin", ""); n != 3 || runs.Load() != 0 {
				t.Fatalf("%d BEGINs, %d runs; want 3 and 0", n, runs.Load())
			}
			if errors.Is(err, driver.ErrBadConn) {
				t.Fatal("the error matches driver.ErrBadConn")
			}
			if st := stats(t, db); st.ByClass[classify.Transient].Retries+st.ByClass[classify.ConnLost].Retries != 2 {
				t.Fatalf("stats %+v: want 2 retries, at the transaction", st)
			}
		})
	}
}

func TestRunInTxConnectsAtMostMaxAttempts(t *testing.T) {
	d := newFake(nil)
	d.openErr = func(int) error { return refused }
	db := openFake(t, d, retrysql.WithBreaker(nil))
	err := retrysql.RunInTx(t.Context(), db, nil, func(context.Context, *sql.Tx) error { return nil }, retrysql.WithMaxAttempts(3))
	wrappedOnce(t, err, 3)
	if d.opens != 3 {
		t.Fatalf("%d connects, want 3", d.opens)
	}
}

func TestRunInTxStatementsAtMostMaxAttempts(t *testing.T) {
	d := newFake(failN("exec", "UPDATE credit", 100, lockWait))
	db := openFake(t, d)
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithMaxAttempts(3))
	wrappedOnce(t, err, 3)
	if n := d.count("exec", "UPDATE credit"); n != 3 || runs.Load() != 3 || d.count("begin", "") != 3 {
		t.Fatalf("%d executions, %d runs, %d BEGINs; want 3 each", n, runs.Load(), d.count("begin", ""))
	}
}

// TestDoAroundStatementsIsOneLoop: a statement of a retrysql handle run
// inside Do makes single attempts; Do's loop alone retries it.
func TestDoAroundStatementsIsOneLoop(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 100, lockWait))
	db := openFake(t, d)
	r, err := retrysql.NewRetrier(retrysql.WithMaxAttempts(3), retrysql.WithStrategy(classify.Transient, strategy.Fixed{}))
	if err != nil {
		t.Fatal(err)
	}
	err = retrysql.Do(t.Context(), r, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "UPDATE t")
		return err
	})
	wrappedOnce(t, err, 3)
	if n := d.count("exec", "UPDATE t"); n != 3 {
		t.Fatalf("%d executions, want 3 (Do's attempts), not 3 × the handle's", n)
	}
	// A connection lost before sending under Do is not handed to
	// database/sql (which would try twice more): Do's loop replays it, on
	// a new connection.
	d = newFake(failN("exec", "UPDATE t", 1, driver.ErrBadConn))
	db = openFake(t, d)
	calls := 0
	err = retrysql.Do(t.Context(), r, func(ctx context.Context) error {
		calls++
		_, err := db.ExecContext(ctx, "UPDATE t")
		return err
	})
	if err != nil || calls != 2 || d.count("exec", "UPDATE t") != 2 || d.opens != 2 {
		t.Fatalf("%v after %d calls, %d executions on %d connections", err, calls, d.count("exec", "UPDATE t"), d.opens)
	}
}

// TestNestedLoopsDoNotMultiply: an error an inner loop gave up on is
// returned by the outer one as it is.
func TestNestedLoopsDoNotMultiply(t *testing.T) {
	d := newFake(failN("exec", "UPDATE credit", 100, serialization))
	db := openFake(t, d)
	var runs, outer atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		outer.Add(1)
		return retrysql.RunInTx(ctx, db, nil, transfer(&runs), retrysql.WithMaxAttempts(2))
	})
	wrappedOnce(t, err, 2)
	if outer.Load() != 1 || runs.Load() != 2 {
		t.Fatalf("outer ran %d times, inner %d; want 1 and 2", outer.Load(), runs.Load())
	}
}

// TestHandleNeverWrapsRetrysql: a retrysql driver or connector given to
// Open, NewConnector or Register is unwrapped, not wrapped again.
func TestHandleNeverWrapsRetrysql(t *testing.T) {
	d := newFake(failN("exec", "UPDATE t", 100, lockWait))
	name := fmt.Sprintf("retry+fake-nested-%d", registrations.Add(1))
	if err := retrysql.Register(name, d, fastOptions...); err != nil {
		t.Fatal(err)
	}
	db, err := retrysql.Open(name, "", retrysql.WithMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(t.Context(), "UPDATE t")
	wrappedOnce(t, err, 3)
	if n := d.count("exec", "UPDATE t"); n != 3 {
		t.Fatalf("Open of a retrysql driver: %d executions, want 3", n)
	}

	inner, err := retrysql.NewConnector(fakeConnector{d}, fastOptions...)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := retrysql.NewConnector(inner, retrysql.WithMaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	db2 := sql.OpenDB(outer)
	defer db2.Close()
	before := d.count("exec", "UPDATE t")
	_, err = db2.ExecContext(t.Context(), "UPDATE t")
	wrappedOnce(t, err, 2)
	if n := d.count("exec", "UPDATE t") - before; n != 2 {
		t.Fatalf("NewConnector of a retrysql connector: %d executions, want 2", n)
	}

	name2 := fmt.Sprintf("retry+fake-rewrapped-%d", registrations.Add(1))
	if err := retrysql.Register(name2, db.Driver(), retrysql.WithMaxAttempts(4)); err != nil {
		t.Fatal(err)
	}
	db3, err := sql.Open(name2, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	before = d.count("exec", "UPDATE t")
	_, err = db3.ExecContext(t.Context(), "UPDATE t")
	wrappedOnce(t, err, 4)
	if n := d.count("exec", "UPDATE t") - before; n != 4 {
		t.Fatalf("Register of a retrysql driver: %d executions, want 4", n)
	}
}

// TestErrSkipPathKeepsItsCount: go-sql-driver/mysql's default path for a
// statement with arguments (Exec answers driver.ErrSkip, database/sql
// prepares): a connection lost before sending is retried within one loop,
// with one count, and no error matching driver.ErrBadConn reaches the
// application.
func TestErrSkipPathKeepsItsCount(t *testing.T) {
	script := func(lost int) func(op, q string, n int) error {
		return func(op, q string, n int) error {
			switch {
			case op == "exec":
				return driver.ErrSkip
			case op == "prepare" && n <= lost:
				return driver.ErrBadConn
			}
			return nil
		}
	}
	d := newFake(script(100))
	db := openFake(t, d, retrysql.WithMaxAttempts(3))
	_, err := db.ExecContext(t.Context(), "UPDATE t SET x = ?", 1)
	wrappedOnce(t, err, 3)
	if errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("%v matches driver.ErrBadConn", err)
	}
	if n := d.count("prepare", "UPDATE t SET x = ?"); n != 3 {
		t.Fatalf("%d prepares, want 3", n)
	}
	d = newFake(script(2))
	db = openFake(t, d)
	if _, err := db.ExecContext(t.Context(), "UPDATE t SET x = ?", 1); err != nil {
		t.Fatal(err)
	}
	if d.count("prepare", "UPDATE t SET x = ?") != 3 || d.count("stmt-exec", "UPDATE t SET x = ?") != 1 || d.opens != 3 {
		t.Fatalf("statements %s on %d connections", d, d.opens)
	}
}

// TestLostConnOnSQLConnReturnsAtOnce: database/sql never retries a
// *sql.Conn; there a lost connection of a session that has served requests
// comes back at once, matching driver.ErrBadConn, without a backoff and
// without state left behind.
func TestLostConnOnSQLConnReturnsAtOnce(t *testing.T) {
	d := newFake(failN("exec", "UPDATE second", 1, driver.ErrBadConn))
	db := openFake(t, d, retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Hour}))
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "UPDATE first"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = conn.ExecContext(t.Context(), "UPDATE second")
	if !errors.Is(err, driver.ErrBadConn) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	if st := stats(t, db); st.Retries != 0 {
		t.Fatalf("stats %+v: the hand-off is not a retry", st)
	}
	// The handle goes on normally on other connections.
	if _, err := db.ExecContext(t.Context(), "UPDATE second"); err != nil {
		t.Fatal(err)
	}
	if d.count("exec", "UPDATE second") != 2 {
		t.Fatalf("statements %s", d)
	}
}

// TestBeginOnDeadSQLConn: BEGIN on a *sql.Conn whose connection the driver
// found dead returns driver.ErrBadConn itself, as database/sql (and
// go-sql-driver/mysql's TestContextCancelBegin) expect.
func TestBeginOnDeadSQLConn(t *testing.T) {
	d := newFake(func(op, q string, n int) error {
		if op == "begin" && n >= 2 {
			return driver.ErrBadConn
		}
		return nil
	})
	db := openFake(t, d)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if _, err := conn.BeginTx(t.Context(), &sql.TxOptions{Isolation: sql.LevelReadCommitted}); err != driver.ErrBadConn {
		t.Fatalf("got %v (%T), want driver.ErrBadConn", err, err)
	}
	if d.count("begin", "") != 2 {
		t.Fatalf("%d BEGINs: a BEGIN on a dead session was retried", d.count("begin", ""))
	}
}

// TestConnectStrategyPerCall: inside RunInTx a failed connect is retried by
// RunInTx's loop, with the call's connect strategy: the option does
// something there.
func TestConnectStrategyPerCall(t *testing.T) {
	d := newFake(nil)
	d.openErr = func(n int) error {
		if n == 1 {
			return refused
		}
		return nil
	}
	var got []time.Duration
	db := openFake(t, d, retrysql.WithOnRetry(func(e retrysql.Event) { got = append(got, e.Delay) }))
	err := retrysql.RunInTx(t.Context(), db, nil, func(context.Context, *sql.Tx) error { return nil },
		retrysql.WithConnectStrategy(strategy.Fixed{Interval: 7 * time.Millisecond}))
	if err != nil || len(got) != 1 || got[0] != 7*time.Millisecond || d.opens != 2 {
		t.Fatalf("%v; delays %v after %d connects", err, got, d.opens)
	}
}

// TestDeadlineWhileReplacingIsNotAmbiguous: a context that ends while a
// lost connection is being replaced leaves nothing unknown: the statement
// was never sent.
func TestDeadlineWhileReplacingIsNotAmbiguous(t *testing.T) {
	d := newFake(failN("exec", "INSERT", 1, driver.ErrBadConn))
	db := openFake(t, d)
	if err := db.PingContext(t.Context()); err != nil { // the pool's connection
		t.Fatal(err)
	}
	d.openErr = func(int) error {
		time.Sleep(60 * time.Millisecond)
		return context.DeadlineExceeded
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := db.ExecContext(ctx, "INSERT")
	if err == nil || errors.Is(err, retrysql.ErrAmbiguous) {
		t.Fatalf("got %v, want a definite failure", err)
	}
	if d.count("exec", "INSERT") != 1 {
		t.Fatalf("%d executions", d.count("exec", "INSERT"))
	}
}

// countingBudget and countingBreaker count what one logical operation
// asks of the budget and the breaker.
type countingBudget struct{ requests, retries atomic.Int32 }

func (b *countingBudget) Request()                 { b.requests.Add(1) }
func (b *countingBudget) Retry(now time.Time) bool { b.retries.Add(1); return true }

type countingBreaker struct{ allows, done atomic.Int32 }

func (b *countingBreaker) Allow() (func(retrysql.Outcome), error) {
	b.allows.Add(1)
	return func(retrysql.Outcome) { b.done.Add(1) }, nil
}

// TestOneBudgetAndBreakerViewPerOperation: a logical operation of three
// attempts deposits once into the budget, draws from it once per retry
// (twice), and asks the breaker once per attempt, whether its attempts
// fail at BEGIN, at a statement inside RunInTx, at a statement of the
// handle, or at a statement inside Do.
func TestOneBudgetAndBreakerViewPerOperation(t *testing.T) {
	ops := map[string]func(t *testing.T, db *sql.DB, d *fakeDriver, r *retrysql.Retrier) error{
		"RunInTx, BEGIN fails": func(t *testing.T, db *sql.DB, d *fakeDriver, _ *retrysql.Retrier) error {
			d.script = failN("begin", "", 100, lockWait)
			return retrysql.RunInTx(t.Context(), db, nil, func(context.Context, *sql.Tx) error { return nil })
		},
		"RunInTx, a statement fails": func(t *testing.T, db *sql.DB, d *fakeDriver, _ *retrysql.Retrier) error {
			d.script = failN("exec", "UPDATE credit", 100, lockWait)
			var runs atomic.Int32
			return retrysql.RunInTx(t.Context(), db, nil, transfer(&runs))
		},
		"a statement of the handle": func(t *testing.T, db *sql.DB, d *fakeDriver, _ *retrysql.Retrier) error {
			d.script = failN("exec", "UPDATE t", 100, lockWait)
			_, err := db.ExecContext(t.Context(), "UPDATE t")
			return err
		},
		"Do around a statement": func(t *testing.T, db *sql.DB, d *fakeDriver, r *retrysql.Retrier) error {
			d.script = failN("exec", "UPDATE t", 100, lockWait)
			return retrysql.Do(t.Context(), r, func(ctx context.Context) error {
				_, err := db.ExecContext(ctx, "UPDATE t")
				return err
			})
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			b, cb := &countingBudget{}, &countingBreaker{}
			// Without admission, whose permits would pace the lock waits
			// instead of the budget.
			opts := []retrysql.Option{retrysql.WithBudget(b), retrysql.WithBreaker(cb), retrysql.WithMaxAttempts(3), retrysql.WithAdmission(nil)}
			d := newFake(nil)
			db := openFake(t, d, opts...)
			if err := db.PingContext(t.Context()); err != nil { // the connect, apart
				t.Fatal(err)
			}
			r, ok := retrysql.RetrierOf(db)
			if !ok {
				t.Fatal("not a retrysql handle")
			}
			b.requests.Store(0)
			cb.allows.Store(0)
			cb.done.Store(0)
			err := op(t, db, d, r)
			wrappedOnce(t, err, 3)
			if q, n := b.requests.Load(), b.retries.Load(); q != 1 || n != 2 {
				t.Errorf("budget: %d deposits and %d draws, want 1 and 2", q, n)
			}
			if a, dn := cb.allows.Load(), cb.done.Load(); a != 3 || dn != 3 {
				t.Errorf("breaker: %d attempts allowed and %d reported, want 3 and 3", a, dn)
			}
		})
	}
}
