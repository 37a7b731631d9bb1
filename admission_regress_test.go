package retrysql_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
)

// Regression tests of bugs that an audit found on 2026-12-08, one per
// bug; each test's comment says what went wrong before its fix.

// auditHotDebit makes "UPDATE debit" hot on ctl: two first attempts that
// named it abort.
func auditHotDebit(t *testing.T, db *sql.DB, failCredit *atomic.Int32) {
	t.Helper()
	var runs atomic.Int32
	fn := transfer(&runs)
	for range 2 {
		failCredit.Store(1)
		if err := retrysql.RunInTx(t.Context(), db, nil, fn); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHotFirstStatementPoolDeadlock: under AdmitHotOnly, a replay
// takes its permit before BEGIN (holding no connection) while a cold
// first attempt that finds its first statement hot waits for a permit at
// that statement, holding its connection. With the pool's size as the
// limit (SetMaxLimit, here 1 and 1) each waits for what the other holds:
// neither finishes before its context ends.
func TestHotFirstStatementPoolDeadlock(t *testing.T) {
	var failCredit, failCold atomic.Int32
	ctl, d, db := admittedFake(t, admission.Settings{AdmitHotOnly: true, MaxLimit: 1})
	d.script = func(op, q string, _ int) error {
		if op == "exec" && q == "UPDATE credit" && failCredit.CompareAndSwap(1, 0) {
			return serialization
		}
		if op == "exec" && q == "UPDATE cold" && failCold.CompareAndSwap(1, 0) {
			return serialization
		}
		return nil
	}
	db.SetMaxOpenConns(1)
	auditHotDebit(t, db, &failCredit)

	held, err := ctl.Admit(t.Context(), 0, false) // the only permit, for now
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()

	// T1: its first attempt (cold) aborts; its replay waits for the permit
	// before BEGIN.
	failCold.Store(1)
	t1 := make(chan error, 1)
	go func() {
		t1 <- retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE cold")
			return err
		})
	}()
	for ctl.Snapshot().Queued != 1 {
		time.Sleep(time.Millisecond)
	}
	// T2: a first attempt from another site begins (taking the only
	// connection) and finds its first statement hot: it waits there.
	t2 := make(chan error, 1)
	go func() {
		t2 <- retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE debit")
			return err
		})
	}()
	for ctl.Snapshot().Queued != 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	held.Release(false) // T1, the older, gets it, and needs T2's connection
	e1, e2 := <-t1, <-t2
	if e1 != nil || e2 != nil {
		t.Fatalf("after %v: T1 (replay, permit before BEGIN): %v; T2 (hot at its first statement, holding the connection): %v",
			time.Since(start).Round(time.Millisecond), e1, e2)
	}
}

// TestHotFirstStatementWaitsWithRoom: with connections to spare in the
// pool beyond those first statements wait with, a hot first statement
// waits for its permit where it is, as before the fix above, rather than
// begin again (which costs a BEGIN and a ROLLBACK).
func TestHotFirstStatementWaitsWithRoom(t *testing.T) {
	var failCredit atomic.Int32
	ctl, d, db := admittedFake(t, admission.Settings{AdmitHotOnly: true, MaxLimit: 1})
	d.script = func(op, q string, _ int) error {
		if op == "exec" && q == "UPDATE credit" && failCredit.CompareAndSwap(1, 0) {
			return serialization
		}
		return nil
	}
	db.SetMaxOpenConns(4)
	auditHotDebit(t, db, &failCredit)
	held, err := ctl.Admit(t.Context(), 0, false) // the only permit, for now
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs.Add(1)
			_, err := tx.ExecContext(ctx, "UPDATE debit")
			return err
		})
	}()
	for ctl.Snapshot().Queued != 1 {
		time.Sleep(time.Millisecond)
	}
	held.Release(false)
	if err := <-done; err != nil || runs.Load() != 1 {
		t.Fatalf("got %v after %d runs, want nil after 1 (waiting at the first statement)", err, runs.Load())
	}
}

// TestReplayKeepsTicket: a transaction's replay is served by the
// time of the transaction's first attempt (the package documentation: "a
// retried transaction keeps its place in line"). Under AdmitHotOnly a first
// attempt that ran without a permit records no ticket, and its replay
// queues as if it had just arrived, behind a waiter that came after the
// transaction began.
func TestReplayKeepsTicket(t *testing.T) {
	var failCold atomic.Int32
	ctl, d, db := admittedFake(t, admission.Settings{AdmitHotOnly: true, MaxLimit: 1})
	d.script = func(op, q string, _ int) error {
		if op == "exec" && q == "UPDATE cold" && failCold.CompareAndSwap(1, 0) {
			return serialization
		}
		return nil
	}
	held, err := ctl.Admit(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	orderc := make(chan string, 2)
	failCold.Store(1)
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
			if runs.Add(1) == 1 {
				// A newer transaction asks for a permit while this one runs.
				go func() {
					p, err := ctl.Admit(context.Background(), time.Now().UnixNano(), false)
					if err == nil {
						orderc <- "newer"
						p.Release(false)
					}
				}()
				for ctl.Snapshot().Queued != 1 {
					time.Sleep(time.Millisecond)
				}
			} else {
				orderc <- "replay"
			}
			_, err := tx.ExecContext(ctx, "UPDATE cold")
			return err
		})
	}()
	for ctl.Snapshot().Queued != 2 {
		time.Sleep(time.Millisecond)
	}
	held.Release(false)
	order = append(order, <-orderc, <-orderc)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if order[0] != "replay" {
		t.Fatalf("served %v: the replay of the older transaction was served after a transaction that began later", order)
	}
}

// TestCallControllerBoundByPool: RunInTx bounds the limit of the
// controller it admits under by the pool's size. The check is throttled
// once a second per Retrier, not per controller: a call's own controller
// (WithAdmission on the call) right after a RunInTx under the handle's
// controller is left unbounded.
func TestCallControllerBoundByPool(t *testing.T) {
	d := newFake(nil)
	db := openFake(t, d)
	db.SetMaxOpenConns(2)
	noop := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE t")
		return err
	}
	if err := retrysql.RunInTx(t.Context(), db, nil, noop); err != nil {
		t.Fatal(err)
	}
	r, _ := retrysql.RetrierOf(db)
	if got := r.Admission().Snapshot().MaxLimit; got != 2 {
		t.Fatalf("handle's controller: MaxLimit %d, want the pool's 2", got)
	}
	ctl, err := admission.New(admission.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := retrysql.RunInTx(t.Context(), db, nil, noop, retrysql.WithAdmission(ctl)); err != nil {
		t.Fatal(err)
	}
	if got := ctl.Snapshot().MaxLimit; got != 2 {
		t.Fatalf("call's controller: MaxLimit %d after a RunInTx under it on a pool of 2", got)
	}
}
