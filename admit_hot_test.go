package retrysql_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// TestAdmitHotOnly: under a controller that admits first attempts only
// when hot, a transaction's first attempt runs without a permit until the
// rows its first statement picks have contended; a retry always waits for
// one; and once they are hot, a first attempt waits for its permit at its
// first statement.
func TestAdmitHotOnly(t *testing.T) {
	ctl, d, db := admittedFake(t, admission.Settings{AdmitHotOnly: true, MaxLimit: 1})
	// One fn, one site (a closure inlined at two places would be two).
	var runs atomic.Int32
	fn := transfer(&runs)
	run := func(fail bool) int32 {
		t.Helper()
		d.mu.Lock()
		d.counts = map[string]int{}
		d.mu.Unlock()
		if fail {
			d.script = failN("exec", "UPDATE credit", 1, serialization)
		} else {
			d.script = func(string, string, int) error { return nil }
		}
		runs.Store(0)
		if err := retrysql.RunInTx(t.Context(), db, nil, fn); err != nil {
			t.Fatal(err)
		}
		return runs.Load()
	}
	if runs := run(true); runs != 2 || ctl.Snapshot().Admitted != 1 {
		t.Fatalf("%d runs, %d permits: want the retry alone admitted", runs, ctl.Snapshot().Admitted)
	}
	// One contended attempt is not enough to make the statement hot.
	if runs := run(false); runs != 1 || ctl.Snapshot().Admitted != 1 {
		t.Fatalf("%d runs, %d permits: a cold first attempt waited", runs, ctl.Snapshot().Admitted)
	}
	run(true) // the second contended attempt
	before := ctl.Snapshot().Admitted
	if runs := run(false); runs != 1 || ctl.Snapshot().Admitted != before+1 {
		t.Fatalf("%d runs, %d permits (before %d): a hot first attempt ran without one", runs, ctl.Snapshot().Admitted, before)
	}
	if d.count("begin", "") != 1 {
		t.Fatalf("%d BEGINs for one hot attempt", d.count("begin", ""))
	}
	if s := ctl.Snapshot(); s.Inflight != 0 {
		t.Fatalf("permits left held: %+v", s)
	}

	// Its first attempts found hot, the site's next one waits for its
	// permit before BEGIN, holding no connection: while the only permit
	// is taken, fn has not run and no BEGIN was sent.
	run(false)
	run(false)
	run(false)
	held, err := ctl.Admit(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.counts = map[string]int{}
	d.mu.Unlock()
	done := make(chan error)
	runs.Store(0)
	go func() { done <- retrysql.RunInTx(t.Context(), db, nil, fn) }()
	for ctl.Snapshot().Queued == 0 {
		time.Sleep(time.Millisecond)
	}
	if runs.Load() != 0 || d.count("begin", "") != 0 {
		t.Fatalf("waiting: %d runs, %d BEGINs; want neither", runs.Load(), d.count("begin", ""))
	}
	held.Release(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.count("begin", "") != 1 || d.count("commit", "") != 1 || runs.Load() != 1 {
		t.Fatalf("after the wait: %d runs, %s", runs.Load(), d)
	}
	if s := ctl.Snapshot(); s.Inflight != 0 {
		t.Fatalf("permits left held: %+v", s)
	}
}

// TestAdmitHotOnlyOtherHandle: on a handle that is not retrysql's there is
// no first statement to wait at: first attempts run without a permit,
// retries wait for one.
func TestAdmitHotOnlyOtherHandle(t *testing.T) {
	ctl, err := admission.New(admission.Settings{AdmitHotOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	d := newFake(failN("exec", "UPDATE credit", 1, serialization))
	db := sql.OpenDB(fakeConnector{d})
	defer db.Close()
	for range 3 {
		d.mu.Lock()
		d.counts = map[string]int{}
		d.mu.Unlock()
		var runs atomic.Int32
		if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithAdmission(ctl)); err != nil {
			t.Fatal(err)
		}
	}
	if s := ctl.Snapshot(); s.Admitted != 3 || s.Inflight != 0 {
		t.Fatalf("%+v: want the three retries admitted", s)
	}
}

// TestAdmissionByDefault: each retrysql handle has a controller of its
// own with DefaultAdmission's settings (only what contends waits, no
// fleet); WithAdmission(nil) turns it off; a Retrier of NewRetrier and the
// shared one have none. Under it, a transaction that does not contend runs
// without a permit, and one that aborted is replayed at once under one.
func TestAdmissionByDefault(t *testing.T) {
	d := newFake(nil)
	db, other := openFake(t, d), openFake(t, newFake(nil))
	r, _ := retrysql.RetrierOf(db)
	r2, _ := retrysql.RetrierOf(other)
	ctl := r.Admission()
	switch {
	case ctl == nil:
		t.Fatal("a handle without admission by default")
	case !ctl.AdmitsHotOnly() || ctl.Fleet() != "" || !retrysql.DefaultAdmission().AdmitHotOnly || retrysql.DefaultAdmission().Fleet != "":
		t.Fatalf("default controller: hot only %v, fleet %q; DefaultAdmission %+v", ctl.AdmitsHotOnly(), ctl.Fleet(), retrysql.DefaultAdmission())
	case r2.Admission() == ctl:
		t.Fatal("two handles share one default controller")
	case retrysql.SharedRetrier().Admission() != nil:
		t.Fatal("the shared Retrier has a controller")
	}
	if nr, err := retrysql.NewRetrier(); err != nil || nr.Admission() != nil {
		t.Fatalf("NewRetrier: %v, %v", nr.Admission(), err)
	}
	off := openFake(t, newFake(nil), retrysql.WithAdmission(nil))
	if r3, _ := retrysql.RetrierOf(off); r3.Admission() != nil {
		t.Fatal("WithAdmission(nil) left a controller")
	}

	// A transaction aborts once on its first attempt, which ran without a
	// permit (its rows were not hot): its replay waits the strategy's
	// delay, then for a permit. One that aborts again under its permit is
	// replayed at once: the permits pace it.
	ms, err := strategy.NewFixed(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	onRetry := retrysql.WithOnRetry(func(e retrysql.Event) { delays = append(delays, e.Delay) })
	var runs atomic.Int32
	d.script = failN("exec", "UPDATE credit", 2, serialization)
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithStrategy(classify.Transient, ms), onRetry); err != nil || runs.Load() != 3 {
		t.Fatalf("RunInTx: %v after %d runs; want success after 3", err, runs.Load())
	}
	if len(delays) != 2 || delays[0] != time.Millisecond || delays[1] != 0 {
		t.Fatalf("delays before the replays %v, want [1ms 0]", delays)
	}
	if s := ctl.Snapshot(); s.Admitted != 2 || s.Inflight != 0 {
		t.Fatalf("%+v: want both replays admitted", s)
	}
	// Another, whose rows never contended, runs without a permit.
	before := ctl.Snapshot()
	if err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE cold")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if s := ctl.Snapshot(); s.Admitted != before.Admitted || s.Cold != before.Cold+1 {
		t.Fatalf("%+v: want the cold transaction run without a permit", s)
	}
}

// TestFleetSlowFirstAttempt: in a fleet, a first attempt that ran without
// a permit but took far longer than the calm attempt (it waited inside the
// database for rows the other processes hold) counts as contended for its
// keys, like an abort: after an abort and such an attempt, the statement
// is hot and the next first attempt waits for a permit. A process on its
// own (no fleet name) does not count it, and runs the next one free.
func TestFleetSlowFirstAttempt(t *testing.T) {
	for _, fleet := range []string{"orders", ""} {
		t.Run("fleet="+fleet, func(t *testing.T) {
			ctl, d, db := admittedFake(t, admission.Settings{AdmitHotOnly: true, MaxLimit: 1, MinWindow: 1, WindowTime: time.Microsecond, Fleet: fleet})
			var runs atomic.Int32
			fn := transfer(&runs)
			// An abort (its key contended once), and a replay under a
			// permit: the window it closes gives the calm attempt.
			d.script = failN("exec", "UPDATE credit", 1, serialization)
			if err := retrysql.RunInTx(t.Context(), db, nil, fn); err != nil {
				t.Fatal(err)
			}
			// A first attempt, free, that waits 200 ms inside the database.
			d.script = func(op, q string, _ int) error {
				if op == "exec" && q == "UPDATE credit" {
					time.Sleep(200 * time.Millisecond)
				}
				return nil
			}
			before := ctl.Snapshot().Admitted
			if err := retrysql.RunInTx(t.Context(), db, nil, fn); err != nil {
				t.Fatal(err)
			}
			if got := ctl.Snapshot().Admitted; got != before {
				t.Fatalf("the slow first attempt was admitted (%d permits, %d before): it must have run free", got, before)
			}
			d.script = func(string, string, int) error { return nil }
			if err := retrysql.RunInTx(t.Context(), db, nil, fn); err != nil {
				t.Fatal(err)
			}
			waited := ctl.Snapshot().Admitted == before+1
			if want := fleet != ""; waited != want {
				t.Fatalf("fleet %q: the next first attempt took a permit: %v, want %v", fleet, waited, want)
			}
		})
	}
}

// admittedFake opens a retrysql handle on a fake driver, admitted by a
// controller with the settings s.
func admittedFake(t *testing.T, s admission.Settings) (*admission.Controller, *fakeDriver, *sql.DB) {
	t.Helper()
	ctl, err := admission.New(s)
	if err != nil {
		t.Fatal(err)
	}
	d := newFake(nil)
	return ctl, d, openFake(t, d, retrysql.WithAdmission(ctl))
}
