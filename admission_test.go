package retrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
)

func newController(t *testing.T, s admission.Settings) *admission.Controller {
	t.Helper()
	c, err := admission.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// delays records the delays of the retries a handle makes.
type delays struct {
	mu sync.Mutex
	by map[classify.Class][]time.Duration
}

func (d *delays) record(e retrysql.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = map[classify.Class][]time.Duration{}
	}
	d.by[e.Result.Class] = append(d.by[e.Result.Class], e.Delay)
}

func (d *delays) of(c classify.Class) []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.by[c]
}

// TestAdmissionPacesContentionRetries: under admission a conflict is
// replayed at once, without the strategy's delay and without the budget,
// every attempt holds a permit, and a lost connection keeps its strategy.
func TestAdmissionPacesContentionRetries(t *testing.T) {
	ctl := newController(t, admission.Settings{})
	lockWait := &mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
	d := newFake(func(op, query string, n int) error {
		switch {
		case op == "exec" && query == "UPDATE credit" && n <= 2:
			return serialization
		case op == "exec" && query == "UPDATE credit" && n == 3:
			return lockWait
		case op == "exec" && query == "UPDATE debit" && n == 5:
			return io.ErrUnexpectedEOF // a lost connection, before COMMIT
		}
		return nil
	})
	var rec delays
	// A budget that refuses every retry: contention retries must not ask.
	var none refuseAll
	db := openFake(t, d, retrysql.WithAdmission(ctl), retrysql.WithOnRetry(rec.record), retrysql.WithBudget(none),
		retrysql.WithBudgetClasses(classify.TxAborted, classify.Transient))
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 4 {
		t.Fatalf("%d runs, want 4", runs.Load())
	}
	for _, c := range []classify.Class{classify.TxAborted, classify.Transient} {
		for _, dl := range rec.of(c) {
			if dl != 0 {
				t.Fatalf("%v retried after %v under admission", c, dl)
			}
		}
	}
	if n := len(rec.of(classify.TxAborted)) + len(rec.of(classify.Transient)); n != 3 {
		t.Fatalf("%d contention retries, want 3", n)
	}
	s := ctl.Snapshot()
	if s.Admitted != 4 || s.Inflight != 0 || s.Queued != 0 {
		t.Fatalf("admission after the transaction: %+v", s)
	}
	st := stats(t, db)
	if st.Admission == nil || st.Admission.Admitted != 4 || st.BudgetDenials != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A lost connection is not contention: it keeps its strategy and the
	// budget, which refuses it here.
	d2 := newFake(failN("exec", "UPDATE debit", 1, io.ErrUnexpectedEOF))
	db2 := openFake(t, d2, retrysql.WithAdmission(ctl), retrysql.WithBudget(none))
	err := retrysql.RunInTx(t.Context(), db2, nil, transfer(&runs))
	if !errors.Is(err, retrysql.ErrBudgetExhausted) {
		t.Fatalf("lost connection under admission: %v, want the budget's refusal", err)
	}
	if s := ctl.Snapshot(); s.Inflight != 0 {
		t.Fatalf("permit kept after the failure: %+v", s)
	}
}

// refuseAll is a budget that refuses every retry.
type refuseAll struct{}

func (refuseAll) Request()             {}
func (refuseAll) Retry(time.Time) bool { return false }

// TestAdmissionEscalates: after EscalateAfter aborts a transaction's next
// attempt runs alone.
func TestAdmissionEscalates(t *testing.T) {
	ctl := newController(t, admission.Settings{EscalateAfter: 2})
	d := newFake(failN("exec", "UPDATE credit", 3, serialization))
	db := openFake(t, d, retrysql.WithAdmission(ctl))
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	// Attempts 3 and 4 came after two and three aborts.
	if s := ctl.Snapshot(); runs.Load() != 4 || s.Escalations != 2 || s.Inflight != 0 {
		t.Fatalf("%d runs, snapshot %+v", runs.Load(), s)
	}
	never := newController(t, admission.Settings{EscalateAfter: -1})
	d = newFake(failN("exec", "UPDATE credit", 3, serialization))
	db = openFake(t, d, retrysql.WithAdmission(never))
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if s := never.Snapshot(); s.Escalations != 0 {
		t.Fatalf("escalated with EscalateAfter -1: %+v", s)
	}
}

// TestAdmissionReleasesOnEveryPath: success, permanent error, panic,
// ambiguous commit: the permit comes back.
func TestAdmissionReleasesOnEveryPath(t *testing.T) {
	ctl := newController(t, admission.Settings{StartLimit: 1, MaxLimit: 1})
	d := newFake(func(op, query string, n int) error {
		if op == "exec" && query == "UPDATE credit" && n == 2 {
			return uniqueViolate
		}
		if op == "commit" && n == 2 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	db := openFake(t, d, retrysql.WithAdmission(ctl))
	var runs atomic.Int32
	check := func(what string) {
		t.Helper()
		if s := ctl.Snapshot(); s.Inflight != 0 {
			t.Fatalf("%s: permit kept: %+v", what, s)
		}
	}
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	check("commit")
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); !errors.Is(err, uniqueViolate) {
		t.Fatal(err)
	}
	check("permanent error")
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		retrysql.RunInTx(t.Context(), db, nil, func(context.Context, *sql.Tx) error { panic("boom") })
	}()
	check("panic")
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); !errors.Is(err, retrysql.ErrAmbiguousCommit) {
		t.Fatalf("lost commit: %v", err)
	}
	check("ambiguous commit")
}

// TestAdmissionNestedDoesNotDeadlock: with one permit, a RunInTx inside
// another's fn runs unadmitted instead of waiting for itself.
func TestAdmissionNestedDoesNotDeadlock(t *testing.T) {
	ctl := newController(t, admission.Settings{StartLimit: 1, MaxLimit: 1})
	db := openFake(t, newFake(nil), retrysql.WithAdmission(ctl))
	db.SetMaxOpenConns(2)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var runs atomic.Int32
	err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
		return retrysql.RunInTx(ctx, db, nil, transfer(&runs))
	})
	if err != nil || runs.Load() != 1 {
		t.Fatalf("nested: %v, %d runs", err, runs.Load())
	}
	if s := ctl.Snapshot(); s.Admitted != 1 {
		t.Fatalf("admitted %d, want the outer transaction only", s.Admitted)
	}
}

// TestAdmissionBoundByPool: the limit never exceeds the pool's size.
func TestAdmissionBoundByPool(t *testing.T) {
	ctl := newController(t, admission.Settings{StartLimit: 8, MaxLimit: 16})
	db := openFake(t, newFake(nil), retrysql.WithAdmission(ctl))
	db.SetMaxOpenConns(3)
	var runs atomic.Int32
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs)); err != nil {
		t.Fatal(err)
	}
	if s := ctl.Snapshot(); s.MaxLimit != 3 || s.Limit != 3 {
		t.Fatalf("snapshot %+v, want the pool's size 3", s)
	}
}

// TestAdmissionQueueBoundedByContext: a transaction waiting for a permit
// gives up when its context ends, having run nothing.
func TestAdmissionQueueBoundedByContext(t *testing.T) {
	ctl := newController(t, admission.Settings{StartLimit: 1, MaxLimit: 1})
	d := newFake(nil)
	db := openFake(t, d, retrysql.WithAdmission(ctl))
	hold := make(chan struct{})
	held := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- retrysql.RunInTx(context.Background(), db, nil, func(context.Context, *sql.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	var runs atomic.Int32
	err := retrysql.RunInTx(ctx, db, nil, transfer(&runs))
	if !errors.Is(err, context.DeadlineExceeded) || runs.Load() != 0 {
		t.Fatalf("queued past the deadline: %v, %d runs", err, runs.Load())
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := d.count("begin", ""); n != 1 {
		t.Fatalf("%d transactions begun, want 1", n)
	}
}

// TestAdmissionConcurrent: many goroutines, conflicts everywhere; all
// commit, at most L at once.
func TestAdmissionConcurrent(t *testing.T) {
	ctl := newController(t, admission.Settings{StartLimit: 2, MaxLimit: 4})
	var inTx, worst atomic.Int32
	d := newFake(func(op, query string, n int) error {
		if op == "exec" && query == "UPDATE credit" && n%3 == 0 {
			return serialization
		}
		return nil
	})
	db := openFake(t, d, retrysql.WithAdmission(ctl))
	var wg sync.WaitGroup
	var runs atomic.Int32
	for range 16 {
		wg.Go(func() {
			for range 20 {
				err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
					n := inTx.Add(1)
					defer inTx.Add(-1)
					for {
						w := worst.Load()
						if n <= w || worst.CompareAndSwap(w, n) {
							break
						}
					}
					return transfer(&runs)(ctx, tx)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if w := worst.Load(); w > 4 {
		t.Fatalf("%d transactions at once with MaxLimit 4", w)
	}
	if s := ctl.Snapshot(); s.Inflight != 0 || s.Queued != 0 || d.count("commit", "") != 320 {
		t.Fatalf("snapshot %+v, commits %d", s, d.count("commit", ""))
	}
}

func TestAdmissionOptions(t *testing.T) {
	ctl := newController(t, admission.Settings{})
	db := openFake(t, newFake(nil))
	var runs atomic.Int32
	// For one RunInTx: that call is admitted.
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithAdmission(ctl)); err != nil {
		t.Fatal(err)
	}
	if ctl.Snapshot().Admitted != 1 {
		t.Fatal("per-call WithAdmission not used")
	}
	// WithAdmission(nil) for one call on an admitted handle: not admitted.
	adb := openFake(t, newFake(nil), retrysql.WithAdmission(ctl))
	if err := retrysql.RunInTx(t.Context(), adb, nil, transfer(&runs), retrysql.WithAdmission(nil)); err != nil {
		t.Fatal(err)
	}
	if ctl.Snapshot().Admitted != 1 {
		t.Fatal("WithAdmission(nil) still admitted")
	}
	// Not for Do.
	r, err := retrysql.NewRetrier(retrysql.WithAdmission(ctl))
	if err != nil || r.Admission() != ctl {
		t.Fatalf("NewRetrier(WithAdmission): %v", err)
	}
	err = retrysql.Do(t.Context(), r, func(context.Context) error { return nil }, retrysql.WithAdmission(ctl))
	if err == nil || !strings.Contains(err.Error(), "WithAdmission") {
		t.Fatalf("WithAdmission for Do: %v", err)
	}
	// A plain handle takes a Retrier's through WithRetrier.
	if err := retrysql.RunInTx(t.Context(), db, nil, transfer(&runs), retrysql.WithRetrier(r)); err != nil {
		t.Fatal(err)
	}
	if ctl.Snapshot().Admitted != 2 {
		t.Fatal("WithRetrier's admission not used")
	}
}
