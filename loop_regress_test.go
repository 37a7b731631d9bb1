package retrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/budget"
)

// Regression tests of the retry loop's bugs that an audit found on
// 2026-12-08, one per bug; each failed on the code before its fix.

// TestSwallowedErrorDoesNotHideUnknownCommit: fn swallows a statement
// error that left the transaction open (MySQL's lock wait timeout rolls
// back the statement only), then COMMIT fails in a way that leaves its
// outcome unknown but that the classifier calls permanent: cut short by
// the attempt's own bound (WithAttemptTimeout), or broken by a network
// error no rule knows. RunInTx must not replay: the swallowed error, a
// transient one, stands in for COMMIT's only when the server answered
// COMMIT with a rollback.
func TestSwallowedErrorDoesNotHideUnknownCommit(t *testing.T) {
	lockWait := &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
	for name, tc := range map[string]struct {
		commitErr func() error
		opts      []retrysql.Option
	}{
		"attempt timeout": {
			// COMMIT was sent; the answer did not come before the
			// attempt's bound, and the driver gave up with its context.
			commitErr: func() error {
				time.Sleep(80 * time.Millisecond)
				return fmt.Errorf("commit: %w", context.DeadlineExceeded)
			},
			opts: []retrysql.Option{retrysql.WithAttemptTimeout(20 * time.Millisecond)},
		},
		"network error": {
			commitErr: func() error {
				return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ENETDOWN}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := newFake(func(op, q string, n int) error {
				switch {
				case op == "exec" && q == "UPDATE skipped":
					return lockWait
				case op == "commit" && n == 1:
					return tc.commitErr()
				}
				return nil
			})
			db := openFake(t, d, retrysql.WithAdmission(nil))
			var runs atomic.Int32
			err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
				runs.Add(1)
				tx.ExecContext(ctx, "UPDATE skipped") // swallowed: the statement alone was rolled back
				_, err := tx.ExecContext(ctx, "UPDATE done")
				return err
			}, tc.opts...)
			if runs.Load() != 1 || d.count("commit", "") != 1 {
				t.Fatalf("replayed after a COMMIT whose outcome is unknown: %d runs, %d COMMITs, err %v", runs.Load(), d.count("commit", ""), err)
			}
		})
	}
}

// TestSideTransactionIsNotFnsCommit: fn runs a transaction of its own on
// the handle (an outbox write, say) with the ctx RunInTx gave it, and
// commits it; then a statement of RunInTx's transaction fails with a
// serialization failure. RunInTx's transaction was rolled back and is
// replayed; it is not reported as committed by fn (only RunInTx's own
// BEGIN takes the attempt's facts).
func TestSideTransactionIsNotFnsCommit(t *testing.T) {
	d := newFake(failN("exec", "UPDATE outer", 1, serialization))
	db := openFake(t, d, retrysql.WithAdmission(nil))
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		side, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := side.ExecContext(ctx, "INSERT outbox"); err != nil {
			side.Rollback()
			return err
		}
		if err := side.Commit(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE outer")
		return err
	})
	if errors.Is(err, retrysql.ErrTxEndedByFn) {
		t.Fatalf("RunInTx says fn ended its transaction (%v); fn never touched it", err)
	}
	if err != nil || runs.Load() != 2 {
		t.Fatalf("got %v after %d runs, want a replay and nil", err, runs.Load())
	}
}

// TestBreakerWaiterSeesAFreedProbe: while the circuit is half-open with
// its one probe under way, another request waits (CircuitBreaker.Wait).
// The probe's caller gives up (its context ends: OutcomeIgnored, which
// gobreaker excludes, freeing the probe's place). The waiter goes on at
// once, as gobreaker would let it, rather than sleep until MaxWait and
// fail with ErrCircuitOpen.
func TestBreakerWaiterSeesAFreedProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: 100 * time.Millisecond, MaxWait: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r, err := retrysql.NewRetrier(retrysql.WithBreaker(br), retrysql.WithMaxAttempts(1), retrysql.WithBudget(nil))
		if err != nil {
			t.Fatal(err)
		}
		// Open the circuit, and let the open period pass.
		_ = retrysql.Do(t.Context(), r, func(context.Context) error { return io.ErrUnexpectedEOF })
		if br.State() != retrysql.BreakerOpen {
			t.Fatalf("breaker %v, want open", br.State())
		}
		time.Sleep(150 * time.Millisecond)

		// The probe: its caller will give up.
		probeCtx, cancelProbe := context.WithCancel(t.Context())
		started := make(chan struct{})
		probeDone := make(chan error, 1)
		go func() {
			probeDone <- retrysql.Do(probeCtx, r, func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			})
		}()
		<-started

		// A request that the breaker refuses while the probe runs: it waits.
		waiterDone := make(chan error, 1)
		go func() {
			waiterDone <- retrysql.Do(t.Context(), r, func(context.Context) error { return nil })
		}()
		synctest.Wait()
		if r.Stats().BreakerWaits == 0 {
			t.Fatal("the second request did not wait for the breaker")
		}

		before := time.Now()
		cancelProbe()
		<-probeDone
		err = <-waiterDone
		if err != nil || time.Since(before) != 0 {
			t.Fatalf("waiter got %v after %v; the probe's place was free at once (gobreaker's validRequests is 0)", err, time.Since(before))
		}
	})
}

// TestFleetGateFreesClosedHandles: RunInTx under a fleet controller keeps
// the handle's gate (gate.go) by a weak pointer: a handle closed and
// dropped is freed, with its connector and pool. No connection is needed:
// RunInTx makes the gate before its first attempt.
func TestFleetGateFreesClosedHandles(t *testing.T) {
	ctl, err := admission.New(admission.Settings{Fleet: "audit-loop"})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	var handles []weak.Pointer[sql.DB]
	for range 3 {
		db, err := sql.Open(retrysql.DriverPgx, "postgres://postgres@127.0.0.1:5432/test")
		if err != nil {
			t.Fatal(err)
		}
		_ = retrysql.RunInTx(cancelled, db, nil, func(context.Context, *sql.Tx) error { return nil }, retrysql.WithAdmission(ctl))
		db.Close()
		handles = append(handles, weak.Make(db))
	}
	for range 5 {
		runtime.GC()
	}
	kept := 0
	for _, h := range handles {
		if h.Value() != nil {
			kept++
		}
	}
	if kept > 0 {
		t.Fatalf("%d of %d closed, unreferenced handles are still reachable (the fleet gates map holds them)", kept, len(handles))
	}
}

// TestTypedNilBreakerAndBudget: nil disables the breaker (WithBreaker)
// and the budget (WithBudget), a nil pointer of a type (a variable left
// unset) too, rather than panic at the first attempt or in Stats.
func TestTypedNilBreakerAndBudget(t *testing.T) {
	var br *retrysql.CircuitBreaker // not configured
	var bu *budget.Ratio
	r, err := retrysql.NewRetrier(retrysql.WithBreaker(br), retrysql.WithBudget(bu))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("a nil *CircuitBreaker panics: %v", p)
		}
	}()
	n := 0
	if err := retrysql.Do(t.Context(), r, func(context.Context) error {
		if n++; n == 1 {
			return io.ErrUnexpectedEOF // retried: the budget is asked
		}
		return nil
	}, retrysql.WithIdempotent()); err != nil || n != 2 {
		t.Fatalf("got %v after %d attempts, want nil after 2", err, n)
	}
	if s := r.Stats(); s.Breaker != retrysql.BreakerClosed {
		t.Errorf("breaker state %v", s.Breaker)
	}
}

// TestRetryIfDoesNotJudgeCommit: WithRetryIf judges fn's errors, not
// COMMIT's. A COMMIT that failed with an error no rule knows may have
// been applied: a retryIf that accepts every error does not replay it.
func TestRetryIfDoesNotJudgeCommit(t *testing.T) {
	mystery := errors.New("commit: the proxy said something odd")
	d := newFake(failN("commit", "", 1, mystery))
	db := openFake(t, d, retrysql.WithAdmission(nil))
	var runs atomic.Int32
	err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(ctx, "UPDATE t")
		return err
	}, retrysql.WithRetryIf(func(error) bool { return true }))
	if !errors.Is(err, mystery) || runs.Load() != 1 || d.count("commit", "") != 1 {
		t.Fatalf("got %v after %d runs and %d COMMITs, want the COMMIT's error after 1 of each", err, runs.Load(), d.count("commit", ""))
	}
	// fn's own errors are still its to judge.
	runs.Store(0)
	err = retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		if runs.Add(1) == 1 {
			return mystery
		}
		return nil
	}, retrysql.WithRetryIf(func(err error) bool { return errors.Is(err, mystery) }))
	if err != nil || runs.Load() != 2 {
		t.Fatalf("fn's error: got %v after %d runs, want nil after 2", err, runs.Load())
	}
}
