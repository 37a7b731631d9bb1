package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Transfer is one transfer of the workload: Amount moves from account A
// to account B, whose rows the transaction takes in the order First,
// Second, and a ledger row records it under ID.
type Transfer struct {
	ID            int64
	A, B          int
	Amount        int64
	First, Second int
}

// NewTransfer picks transfer id as every worker does: two distinct
// accounts among base+1 … base+n, an amount of 1 to 100, and the order in
// which the rows are taken (ascending for Sorted, either for Random).
func NewTransfer(rng *rand.Rand, id int64, n, base int, order Order) Transfer {
	a := 1 + rng.IntN(n)
	b := 1 + rng.IntN(n-1)
	if b >= a {
		b++
	}
	a, b = a+base, b+base
	t := Transfer{ID: id, A: a, B: b, Amount: int64(1 + rng.IntN(100)), First: a, Second: b}
	switch order {
	case Sorted:
		t.First, t.Second = min(a, b), max(a, b)
	case Random:
		if rng.IntN(2) == 0 {
			t.First, t.Second = b, a
		}
	}
	return t
}

// Statements run the statements of one transaction, whatever its API:
// Scan runs a query and scans its one value into dest; Exec runs a
// statement.
type Statements struct {
	Scan func(ctx context.Context, query string, dest any, args ...any) error
	Exec func(ctx context.Context, query string, args ...any) error
}

// Queries are the transfer's statements, in a dialect's placeholders.
type Queries struct{ Lock, Update, Ledger string }

// QueriesFor returns the statements of dialect d on tables t.
func QueriesFor(d Dialect, t Tables) Queries {
	p := func(n int) string {
		if d == MySQL {
			return "?"
		}
		return fmt.Sprintf("$%d", n)
	}
	return Queries{
		Lock:   "SELECT balance FROM " + t.Accounts + " WHERE id = " + p(1) + " FOR UPDATE",
		Update: "UPDATE " + t.Accounts + " SET balance = balance + " + p(1) + " WHERE id = " + p(2),
		Ledger: "INSERT INTO " + t.Ledger + " (transfer_id, src, dst, amount) VALUES (" + p(1) + ", " + p(2) + ", " + p(3) + ", " + p(4) + ")",
	}
}

// Apply runs t in the transaction st runs in: with Random order, both rows
// locked first (FOR UPDATE, First then Second: deadlocks), then both
// updated in that order, then the ledger row.
func (t Transfer) Apply(ctx context.Context, order Order, q Queries, st Statements) error {
	if order == Random {
		for _, acct := range []int{t.First, t.Second} {
			var bal int64
			if err := st.Scan(ctx, q.Lock, &bal, acct); err != nil {
				return fmt.Errorf("lock %d: %w", acct, err)
			}
		}
	}
	for _, acct := range []int{t.First, t.Second} {
		delta := t.Amount
		if acct == t.A {
			delta = -t.Amount
		}
		if err := st.Exec(ctx, q.Update, delta, acct); err != nil {
			return fmt.Errorf("update %d: %w", acct, err)
		}
	}
	if err := st.Exec(ctx, q.Ledger, t.ID, t.A, t.B, t.Amount); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// Tally is one worker's record of its transfers, merged into the run's
// Result when the worker ends (Result.Merge). Its zero value is ready.
type Tally struct {
	outcomes  map[int64]Outcome
	lat, cold []time.Duration
	timeline  []Timed
	errs      map[string]int
}

// Record notes how transfer id, begun at began (start is the run's),
// ended: err nil is committed, ambiguous(err) unknown, anything else
// failed (the first five error texts kept). cold puts a committed
// transfer's latency apart. It reports whether the transfer committed.
func (w *Tally) Record(id int64, start, began time.Time, cold bool, err error, ambiguous func(error) bool) bool {
	if w.outcomes == nil {
		w.outcomes, w.errs = map[int64]Outcome{}, map[string]int{}
	}
	switch {
	case err == nil:
		w.outcomes[id] = Committed
		l := time.Since(began)
		if cold {
			w.cold = append(w.cold, l)
		} else {
			w.lat = append(w.lat, l)
		}
		w.timeline = append(w.timeline, Timed{Start: began.Sub(start), Latency: l, Cold: cold})
		return true
	case ambiguous(err):
		w.outcomes[id] = Ambiguous
	default:
		w.outcomes[id] = Failed
		if len(w.errs) < 5 {
			w.errs[err.Error()]++
		}
	}
	return false
}

// Merge adds a worker's tally to r; the caller makes the calls one at a
// time.
func (r *Result) Merge(w *Tally) {
	if r.Outcomes == nil {
		r.Outcomes, r.Errors = map[int64]Outcome{}, map[string]int{}
	}
	r.Latencies = append(r.Latencies, w.lat...)
	r.ColdLatencies = append(r.ColdLatencies, w.cold...)
	r.Cold += len(w.cold)
	r.Timeline = append(r.Timeline, w.timeline...)
	for id, o := range w.outcomes {
		r.Outcomes[id] = o
	}
	for e, n := range w.errs {
		r.Errors[e] += n
	}
}

// Finish completes r once every worker merged: the run's length and
// runs, the latencies sorted, the outcomes counted.
func (r *Result) Finish(elapsed time.Duration, runs int64) {
	r.Elapsed, r.Runs = elapsed, runs
	slices.Sort(r.Latencies)
	slices.Sort(r.ColdLatencies)
	for _, o := range r.Outcomes {
		switch o {
		case Committed:
			r.Committed++
		case Failed:
			r.Failed++
		case Ambiguous:
			r.Ambiguous++
		}
	}
}
