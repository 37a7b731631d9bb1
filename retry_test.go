package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// Errors of each class, as the test classifier sees them.
var (
	errTransient = errors.New("lock not available")
	errAborted   = errors.New("deadlock detected")
	errLostSent  = errors.New("connection reset after the request was sent")
	errLostEarly = errors.New("connection refused")
	errPermanent = errors.New("unique violation")
)

// codeError carries a vendor code, like a driver's error type.
type codeError struct{ code string }

func (e *codeError) Error() string { return "error " + e.code }

var testClassifier = classify.Func(func(err error) classify.Result {
	var ce *codeError
	switch {
	case errors.As(err, &ce):
		return classify.Result{Class: classify.TxAborted, Code: ce.code}
	case errors.Is(err, errTransient):
		return classify.Result{Class: classify.Transient, Code: "55P03"}
	case errors.Is(err, errAborted):
		return classify.Result{Class: classify.TxAborted, Code: "40P01"}
	case errors.Is(err, errLostSent):
		return classify.Result{Class: classify.ConnLost}
	case errors.Is(err, errLostEarly):
		return classify.Result{Class: classify.ConnLost, Unsent: true}
	}
	return classify.Default.Classify(err)
})

// script is an operation that returns the given errors in turn, then
// succeeds, recording the (virtual) time of each attempt.
type script struct {
	errs  []error
	calls atomic.Int32
	mu    sync.Mutex
	at    []time.Time
}

func (s *script) op(ctx context.Context) error {
	n := int(s.calls.Add(1))
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	if n <= len(s.errs) {
		return s.errs[n-1]
	}
	return nil
}

// hooks records the events a Retrier reports.
type hooks struct {
	mu              sync.Mutex
	retries, giveUp []retrysql.Event
}

func (h *hooks) options() []retrysql.Option {
	return []retrysql.Option{
		retrysql.WithOnRetry(func(e retrysql.Event) { h.mu.Lock(); h.retries = append(h.retries, e); h.mu.Unlock() }),
		retrysql.WithOnGiveUp(func(e retrysql.Event) { h.mu.Lock(); h.giveUp = append(h.giveUp, e); h.mu.Unlock() }),
	}
}

const ms = time.Millisecond

// newRetrier returns a Retrier with the test classifier, fixed delays per
// class, no budget and no breaker unless opts add them.
func newRetrier(t *testing.T, h *hooks, opts ...retrysql.Option) *retrysql.Retrier {
	t.Helper()
	base := []retrysql.Option{
		retrysql.WithClassifier(testClassifier),
		retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: 10 * ms}),
		retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: 20 * ms}),
		retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: 30 * ms}),
		retrysql.WithBudget(nil),
		retrysql.WithBreaker(nil),
	}
	if h != nil {
		base = append(base, h.options()...)
	}
	r, err := retrysql.NewRetrier(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRetriesUntilSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hooks{}
		r := newRetrier(t, h)
		s := &script{errs: []error{errTransient, errAborted, errLostEarly}}
		start := time.Now()
		if err := retrysql.Do(t.Context(), r, s.op); err != nil {
			t.Fatalf("Do: %v", err)
		}
		if n := s.calls.Load(); n != 4 {
			t.Fatalf("%d attempts, want 4", n)
		}
		// Each wait is the strategy of the class of the error before it.
		wantAt := []time.Duration{0, 10 * ms, 30 * ms, 60 * ms}
		for i, at := range s.at {
			if got := at.Sub(start); got != wantAt[i] {
				t.Errorf("attempt %d at %v, want %v", i+1, got, wantAt[i])
			}
		}
		if len(h.retries) != 3 || len(h.giveUp) != 0 {
			t.Fatalf("hooks saw %d retries and %d give-ups, want 3 and 0", len(h.retries), len(h.giveUp))
		}
		for i, want := range []struct {
			class classify.Class
			delay time.Duration
		}{{classify.Transient, 10 * ms}, {classify.TxAborted, 20 * ms}, {classify.ConnLost, 30 * ms}} {
			e := h.retries[i]
			if e.Attempt != i+1 || e.Result.Class != want.class || e.Delay != want.delay || e.Place != retrysql.PlaceOperation || e.Err == nil {
				t.Errorf("retry event %d = %+v", i, e)
			}
		}
		st := r.Stats()
		if st.Attempts != 4 || st.Retries != 3 || st.GiveUps != 0 ||
			st.ByClass[classify.Transient].Retries != 1 || st.ByClass[classify.ConnLost].Retries != 1 ||
			st.RetriesByCode["55P03"] != 1 || st.RetriesByCode["40P01"] != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestPermanentErrorIsReturnedAsIs(t *testing.T) {
	h := &hooks{}
	r := newRetrier(t, h)
	s := &script{errs: []error{errPermanent}}
	err := retrysql.Do(t.Context(), r, s.op)
	if err != errPermanent {
		t.Fatalf("got %v (%T), want the original error itself", err, err)
	}
	if s.calls.Load() != 1 || len(h.retries)+len(h.giveUp) != 0 {
		t.Fatalf("%d attempts, hooks %d/%d", s.calls.Load(), len(h.retries), len(h.giveUp))
	}
	if retrysql.Attempts(err) != 1 {
		t.Fatalf("Attempts = %d", retrysql.Attempts(err))
	}
}

func TestPermanentAfterRetriesKeepsTheOriginal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil)
		orig := fmt.Errorf("insert: %w", errPermanent)
		s := &script{errs: []error{errAborted, errAborted, orig}}
		err := retrysql.Do(t.Context(), r, s.op)
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Attempts != 3 || e.Reason != retrysql.ReasonPermanent || e.Err != orig {
			t.Fatalf("got %#v", err)
		}
		if !errors.Is(err, errPermanent) || retrysql.Attempts(err) != 3 {
			t.Fatalf("errors.Is / Attempts lost the original: %v", err)
		}
		if r.Stats().GiveUps != 0 {
			t.Fatal("a permanent error counted as a give-up")
		}
	})
}

func TestMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hooks{}
		r := newRetrier(t, h, retrysql.WithMaxAttempts(3))
		s := &script{errs: []error{errTransient, errTransient, &codeError{"40001"}, nil}}
		err := retrysql.Do(t.Context(), r, s.op)
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Reason != retrysql.ReasonAttempts || e.Attempts != 3 {
			t.Fatalf("got %v", err)
		}
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != "40001" {
			t.Fatal("errors.As does not reach the last error")
		}
		if s.calls.Load() != 3 || len(h.retries) != 2 || len(h.giveUp) != 1 || h.giveUp[0].Reason != retrysql.ReasonAttempts || h.giveUp[0].Attempt != 3 {
			t.Fatalf("%d calls, hooks %+v", s.calls.Load(), h)
		}
		if st := r.Stats(); st.GiveUps != 1 || st.ByClass[classify.TxAborted].GiveUps != 1 {
			t.Fatalf("stats %+v", st)
		}
		// One attempt means no retry at all, and the error as it is.
		s = &script{errs: []error{errTransient}}
		err = retrysql.Do(t.Context(), r, s.op, retrysql.WithMaxAttempts(1))
		if s.calls.Load() != 1 || err != errTransient {
			t.Fatalf("WithMaxAttempts(1) per call: %d calls, %v (%T)", s.calls.Load(), err, err)
		}
		if st := r.Stats(); st.Retries > st.Attempts-2 {
			t.Fatalf("stats %+v: more retries than attempts after the first of two operations", st)
		}
	})
}

func TestLostConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil)
		// Sent: ambiguous, not retried.
		s := &script{errs: []error{errLostSent}}
		err := retrysql.Do(t.Context(), r, s.op)
		if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, errLostSent) || s.calls.Load() != 1 {
			t.Fatalf("sent: %v after %d calls", err, s.calls.Load())
		}
		// Declared idempotent, per call or by context: retried.
		s = &script{errs: []error{errLostSent}}
		if err := retrysql.Do(t.Context(), r, s.op, retrysql.WithIdempotent()); err != nil || s.calls.Load() != 2 {
			t.Fatalf("idempotent option: %v after %d calls", err, s.calls.Load())
		}
		s = &script{errs: []error{errLostSent}}
		if err := retrysql.Do(retrysql.Idempotent(t.Context()), r, s.op); err != nil || s.calls.Load() != 2 {
			t.Fatalf("idempotent context: %v after %d calls", err, s.calls.Load())
		}
		// Unsent: retried.
		s = &script{errs: []error{errLostEarly, errLostEarly}}
		if err := retrysql.Do(t.Context(), r, s.op); err != nil || s.calls.Load() != 3 {
			t.Fatalf("unsent: %v after %d calls", err, s.calls.Load())
		}
	})
}

func TestCancelDuringSleepReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Hour}))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		s := &script{errs: []error{errTransient, errTransient}}
		start := time.Now()
		err := retrysql.Do(ctx, r, s.op)
		if d := time.Since(start); d != time.Second {
			t.Fatalf("returned after %v, want 1s (the cancel)", d)
		}
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Reason != retrysql.ReasonCanceled ||
			!errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) || s.calls.Load() != 1 {
			t.Fatalf("got %v after %d calls", err, s.calls.Load())
		}
	})
}

func TestDeadlineShorterThanDelayGivesUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: 100 * ms}))
		ctx, cancel := context.WithTimeout(t.Context(), 50*ms)
		defer cancel()
		s := &script{errs: []error{errTransient}}
		start := time.Now()
		err := retrysql.Do(ctx, r, s.op)
		if d := time.Since(start); d != 0 {
			t.Fatalf("returned after %v, want at once", d)
		}
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Reason != retrysql.ReasonDeadline || !errors.Is(err, errTransient) {
			t.Fatalf("got %v", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("gave up with DeadlineExceeded instead of the last real error")
		}
		// A deadline that leaves room for the wait lets the retry happen.
		ctx, cancel = context.WithTimeout(t.Context(), 150*ms)
		defer cancel()
		s = &script{errs: []error{errTransient}}
		if err := retrysql.Do(ctx, r, s.op); err != nil {
			t.Fatalf("retry within the deadline: %v", err)
		}
	})
}

func TestMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithMaxElapsed(25*ms))
		s := &script{errs: []error{errTransient, errTransient, errTransient}}
		err := retrysql.Do(t.Context(), r, s.op)
		var e *retrysql.Error
		// Waits of 10ms: attempts at 0, 10, 20; the next would start at 30.
		if !errors.As(err, &e) || e.Reason != retrysql.ReasonElapsed || s.calls.Load() != 3 {
			t.Fatalf("got %v after %d calls", err, s.calls.Load())
		}
	})
}

// denyAll is a budget with no credit, counting what it is asked.
type denyAll struct{ requests, retries atomic.Int32 }

func (b *denyAll) Request()             { b.requests.Add(1) }
func (b *denyAll) Retry(time.Time) bool { b.retries.Add(1); return false }

func TestBudgetExhausted(t *testing.T) {
	b := &denyAll{}
	r := newRetrier(t, nil, retrysql.WithBudget(b))
	s := &script{errs: []error{errLostEarly}}
	err := retrysql.Do(t.Context(), r, s.op)
	if !errors.Is(err, retrysql.ErrBudgetExhausted) || !errors.Is(err, errLostEarly) || s.calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, s.calls.Load())
	}
	if b.requests.Load() != 1 || b.retries.Load() != 1 {
		t.Fatalf("budget asked %d requests, %d retries", b.requests.Load(), b.retries.Load())
	}
	if st := r.Stats(); st.BudgetDenials != 1 || st.ByClass[classify.ConnLost].BudgetDenials != 1 || st.GiveUps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBudgetClasses: by default contention (tx-aborted) does not draw from
// the budget; WithBudgetClasses says which classes do.
func TestBudgetClasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &denyAll{}
		r := newRetrier(t, nil, retrysql.WithBudget(b))
		if err := retrysql.Do(t.Context(), r, (&script{errs: []error{errAborted, errAborted}}).op); err != nil {
			t.Fatalf("a deadlock was charged to the budget: %v", err)
		}
		if err := retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op); !errors.Is(err, retrysql.ErrBudgetExhausted) {
			t.Fatalf("a transient error was not charged: %v", err)
		}
		r = newRetrier(t, nil, retrysql.WithBudget(b), retrysql.WithBudgetClasses(classify.TxAborted))
		if err := retrysql.Do(t.Context(), r, (&script{errs: []error{errAborted}}).op); !errors.Is(err, retrysql.ErrBudgetExhausted) {
			t.Fatalf("WithBudgetClasses(TxAborted): %v", err)
		}
		if err := retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op); err != nil {
			t.Fatalf("WithBudgetClasses(TxAborted) still charged a transient error: %v", err)
		}
		if _, err := retrysql.NewRetrier(retrysql.WithBudgetClasses(9)); err == nil {
			t.Fatal("unknown class accepted")
		}
	})
}

func TestRealBudgetIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A ratio budget without floor: two failing operations fund nothing,
		// four successful ones fund one retry.
		b, err := budget.NewRatio(0.25, 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r := newRetrier(t, nil, retrysql.WithBudget(b))
		for range 3 {
			if err := retrysql.Do(t.Context(), r, (&script{}).op); err != nil {
				t.Fatal(err)
			}
		}
		s := &script{errs: []error{errTransient, errTransient}}
		err = retrysql.Do(t.Context(), r, s.op)
		if !errors.Is(err, retrysql.ErrBudgetExhausted) || s.calls.Load() != 2 {
			t.Fatalf("got %v after %d calls: the 4 first attempts fund exactly one retry", err, s.calls.Load())
		}
	})
}

// TestBreakerOpenFailsFastAndIsNotRetried: with MaxWait negative, an open
// breaker refuses at once, naming the failure it opened for.
func TestBreakerOpenFailsFastAndIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{
			Failures: 3, OpenFor: time.Second, MaxWait: -1,
			OnStateChange: func(from, to retrysql.BreakerState) { changes = append(changes, from.String()+">"+to.String()) },
		})
		if err != nil {
			t.Fatal(err)
		}
		h := &hooks{}
		r := newRetrier(t, h, retrysql.WithBreaker(br))
		// Three lost connections in a row open the circuit: the third
		// attempt's retry is refused before it is made.
		s := &script{errs: []error{errLostEarly, errLostEarly, errLostEarly, errLostEarly}}
		err = retrysql.Do(t.Context(), r, s.op)
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Reason != retrysql.ReasonCircuitOpen || e.Attempts != 3 ||
			!errors.Is(err, retrysql.ErrCircuitOpen) || !errors.Is(err, errLostEarly) || s.calls.Load() != 3 {
			t.Fatalf("got %v after %d calls", err, s.calls.Load())
		}
		if br.State() != retrysql.BreakerOpen {
			t.Fatalf("breaker %v", br.State())
		}
		// While open: refused before any attempt, with the last failure
		// named.
		s2 := &script{}
		err = retrysql.Do(t.Context(), r, s2.op)
		if !errors.As(err, &e) || e.Attempts != 0 || e.Err != errLostEarly || !errors.Is(err, retrysql.ErrCircuitOpen) || s2.calls.Load() != 0 {
			t.Fatalf("open breaker: %v after %d calls", err, s2.calls.Load())
		}
		if want := "retrysql: circuit breaker open; operation not attempted; last failure: connection refused"; err.Error() != want {
			t.Fatalf("message %q, want %q", err, want)
		}
		if st := r.Stats(); st.BreakerRejections != 2 || st.GiveUps != 1 || len(h.giveUp) != 1 {
			t.Fatalf("stats %+v", st)
		}
		// After OpenFor, one probe goes through; its success closes the circuit.
		time.Sleep(time.Second)
		if err := retrysql.Do(t.Context(), r, s2.op); err != nil || s2.calls.Load() != 1 {
			t.Fatalf("probe: %v", err)
		}
		if br.State() != retrysql.BreakerClosed {
			t.Fatalf("breaker %v after a successful probe", br.State())
		}
		want := []string{"closed>open", "open>half-open", "half-open>closed"}
		if fmt.Sprint(changes) != fmt.Sprint(want) {
			t.Fatalf("state changes %v, want %v", changes, want)
		}
	})
}

// TestBreakerOpenWaitsForTheProbe: by default an attempt the breaker
// refuses waits, for the open period to end and for the half-open probe's
// verdict, and goes on when the server is back; only the probes reach it.
func TestBreakerOpenWaitsForTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 3, OpenFor: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r := newRetrier(t, nil, retrysql.WithBreaker(br))
		// Failing for 2.5 s: three failures open the circuit, probes at 1 s
		// and 2 s fail, the one at 3 s succeeds.
		start := time.Now()
		var calls atomic.Int32
		op := func(context.Context) error {
			calls.Add(1)
			if time.Since(start) < 2500*ms {
				return errLostEarly
			}
			return nil
		}
		if err := retrysql.Do(t.Context(), r, op); err != nil {
			t.Fatalf("got %v after %d calls", err, calls.Load())
		}
		// Meanwhile, other requests wait rather than fail, and make no
		// attempt until the probe succeeded.
		if calls.Load() > 7 || time.Since(start) < 2500*ms || time.Since(start) > 4*time.Second {
			t.Fatalf("%d calls in %v", calls.Load(), time.Since(start))
		}
		if st := r.Stats(); st.BreakerWaits == 0 || st.BreakerRejections != 0 {
			t.Fatalf("stats %+v", st)
		}
		// A request whose deadline ends first fails with the cause named.
		br2, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: time.Hour})
		r2 := newRetrier(t, nil, retrysql.WithBreaker(br2), retrysql.WithMaxAttempts(1))
		_ = retrysql.Do(t.Context(), r2, (&script{errs: []error{errLostEarly}}).op)
		ctx, cancel := context.WithTimeout(t.Context(), 500*ms)
		defer cancel()
		err = retrysql.Do(ctx, r2, (&script{}).op)
		if !errors.Is(err, retrysql.ErrCircuitOpen) || !errors.Is(err, errLostEarly) || retrysql.Attempts(err) != 0 {
			t.Fatalf("deadline while open: %v", err)
		}
		// MaxWait bounds a wait whose context has no deadline.
		br3, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: time.Hour, MaxWait: 3 * time.Second})
		r3 := newRetrier(t, nil, retrysql.WithBreaker(br3), retrysql.WithMaxAttempts(1))
		_ = retrysql.Do(t.Context(), r3, (&script{errs: []error{errLostEarly}}).op)
		before := time.Now()
		if err := retrysql.Do(t.Context(), r3, (&script{}).op); !errors.Is(err, retrysql.ErrCircuitOpen) || time.Since(before) != 3*time.Second {
			t.Fatalf("MaxWait: %v after %v", err, time.Since(before))
		}
	})
}

func TestBreakerIgnoresCallerCancellation(t *testing.T) {
	br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1})
	r := newRetrier(t, nil, retrysql.WithBreaker(br))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	op := func(context.Context) error { return fmt.Errorf("read: %w", context.Canceled) }
	for range 3 {
		_ = retrysql.Do(t.Context(), r, op)
	}
	_ = retrysql.Do(ctx, r, op)
	if br.State() != retrysql.BreakerClosed {
		t.Fatal("cancellations opened the breaker")
	}
	// Errors from a server that answers do not open it either.
	for range 3 {
		_ = retrysql.Do(t.Context(), r, func(context.Context) error { return errPermanent })
	}
	if br.State() != retrysql.BreakerClosed {
		t.Fatal("permanent errors opened the breaker")
	}
}

func TestPanicPropagatesAndReleasesTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: time.Second})
		r := newRetrier(t, nil, retrysql.WithBreaker(br), retrysql.WithMaxAttempts(1))
		// Open the circuit, then wait until it lets one probe through.
		_ = retrysql.Do(t.Context(), r, (&script{errs: []error{errLostEarly}}).op)
		time.Sleep(time.Second + ms)
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Fatalf("recovered %v, want the op's panic", p)
				}
			}()
			_ = retrysql.Do(t.Context(), r, func(context.Context) error { panic("boom") })
		}()
		// The panicking probe gave its place back: the next one is let
		// through, and its success closes the circuit.
		if err := retrysql.Do(t.Context(), r, (&script{}).op); err != nil {
			t.Fatalf("after a panic: %v", err)
		}
		if br.State() != retrysql.BreakerClosed {
			t.Fatalf("breaker %v", br.State())
		}
	})
}

func TestStrategyByCodeWinsOverClass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithCodeStrategy("40P01", strategy.Fixed{Interval: 7 * ms}))
		s := &script{errs: []error{errAborted, &codeError{"40001"}}}
		start := time.Now()
		if err := retrysql.Do(t.Context(), r, s.op); err != nil {
			t.Fatal(err)
		}
		if d1, d2 := s.at[1].Sub(start), s.at[2].Sub(s.at[1]); d1 != 7*ms || d2 != 20*ms {
			t.Fatalf("waits %v and %v, want 7ms (by code) and 20ms (by class)", d1, d2)
		}
		// The same, given for one call only.
		s = &script{errs: []error{&codeError{"40001"}}}
		start = time.Now()
		if err := retrysql.Do(t.Context(), r, s.op, retrysql.WithCodeStrategy("40001", strategy.Fixed{Interval: ms})); err != nil {
			t.Fatal(err)
		}
		if d := s.at[1].Sub(start); d != ms {
			t.Fatalf("per-call code strategy: waited %v", d)
		}
		// ... and the Retrier's own map is untouched by it.
		s = &script{errs: []error{&codeError{"40001"}}}
		start = time.Now()
		_ = retrysql.Do(t.Context(), r, s.op)
		if d := s.at[1].Sub(start); d != 20*ms {
			t.Fatalf("per-call option leaked into the Retrier: waited %v", d)
		}
	})
}

func TestDoValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil)
		n := 0
		v, err := retrysql.DoValue(t.Context(), r, func(context.Context) (string, error) {
			n++
			if n < 3 {
				return "partial", errTransient
			}
			return "done", nil
		})
		if v != "done" || err != nil || n != 3 {
			t.Fatalf("DoValue = %q, %v after %d calls", v, err, n)
		}
		v, err = retrysql.DoValue(t.Context(), r, func(context.Context) (string, error) { return "x", errPermanent })
		if v != "" || err != errPermanent {
			t.Fatalf("failure returned %q, %v; want the zero value", v, err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestZeroRetrierUsesDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var r retrysql.Retrier
		s := &script{errs: []error{fmt.Errorf("exec: %w", errors.Join(errors.New("x"), driver.ErrBadConn))}}
		if err := retrysql.Do(t.Context(), &r, s.op); err != nil || s.calls.Load() != 2 {
			t.Fatalf("zero Retrier: %v after %d calls", err, s.calls.Load())
		}
		if r.Stats().Retries != 1 {
			t.Fatalf("stats %+v", r.Stats())
		}
	})
}

func TestNewRetrierDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := retrysql.NewRetrier(retrysql.WithClassifier(testClassifier))
		if err != nil {
			t.Fatal(err)
		}
		// Ten attempts after transient errors, fifty after tx-aborted ones;
		// the default budget does not charge contention.
		for _, tc := range []struct {
			err  error
			want int
		}{{errTransient, retrysql.DefaultMaxAttempts}, {errAborted, retrysql.DefaultTxAbortedAttempts}} {
			s := &script{errs: make([]error, 100)}
			for i := range s.errs {
				s.errs[i] = tc.err
			}
			err = retrysql.Do(t.Context(), r, s.op)
			if retrysql.Attempts(err) != tc.want || int(s.calls.Load()) != tc.want {
				t.Fatalf("%v: %v after %d calls, want %d", tc.err, err, s.calls.Load(), tc.want)
			}
		}
		// WithMaxAttempts covers every class; WithClassAttempts refines it.
		r, _ = retrysql.NewRetrier(retrysql.WithClassifier(testClassifier), retrysql.WithMaxAttempts(3),
			retrysql.WithClassAttempts(classify.Transient, 5))
		for _, tc := range []struct {
			err  error
			want int
		}{{errAborted, 3}, {errTransient, 5}} {
			s := &script{errs: make([]error, 10)}
			for i := range s.errs {
				s.errs[i] = tc.err
			}
			if err := retrysql.Do(t.Context(), r, s.op); retrysql.Attempts(err) != tc.want {
				t.Fatalf("%v: %v, want %d attempts", tc.err, err, tc.want)
			}
		}
		if _, err := retrysql.NewRetrier(retrysql.WithClassAttempts(classify.Transient, 0)); err == nil {
			t.Fatal("WithClassAttempts(0) accepted")
		}
	})
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{retrysql.Do(t.Context(), newRetrier(t, nil, retrysql.WithMaxAttempts(1)), (&script{errs: []error{errTransient}}).op),
			"lock not available"},
		{retrysql.Do(t.Context(), newRetrier(t, nil, retrysql.WithMaxAttempts(2), retrysql.WithStrategy(classify.Transient, strategy.Fixed{})), (&script{errs: []error{errTransient, errTransient}}).op),
			"retrysql: attempts exhausted after 2 attempts: lock not available"},
		{retrysql.Do(t.Context(), newRetrier(t, nil), (&script{errs: []error{errLostSent}}).op),
			"retrysql: outcome unknown, not retried after 1 attempt: connection reset after the request was sent"},
		{retrysql.Do(t.Context(), newRetrier(t, nil, retrysql.WithBudget(&denyAll{})), (&script{errs: []error{errTransient}}).op),
			"retrysql: retry budget exhausted after 1 attempt: lock not available"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got %q, want %q", tc.err, tc.want)
		}
	}
}

// TestConcurrentUse shares one Retrier, with its default budget and
// breaker, between goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := retrysql.NewRetrier(retrysql.WithClassifier(testClassifier))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ok atomic.Int32
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					errs := []error{errAborted}
					if (g+i)%3 == 0 {
						errs = nil
					}
					if retrysql.Do(t.Context(), r, (&script{errs: errs}).op) == nil {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if st := r.Stats(); st.Attempts != uint64(640+st.Retries) || ok.Load() == 0 {
			t.Fatalf("stats %+v, %d succeeded", st, ok.Load())
		}
	})
}

// TestDriverErrorsStayReachable checks that the error given up with still
// lets errors.As reach the drivers' own error types.
func TestDriverErrorsStayReachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := retrysql.NewRetrier(retrysql.WithMaxAttempts(2), retrysql.WithBudget(nil))
		if err != nil {
			t.Fatal(err)
		}
		pgErr := &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access"}
		err = retrysql.Do(t.Context(), r, func(context.Context) error { return fmt.Errorf("transfer: %w", pgErr) })
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe != pgErr || retrysql.Attempts(err) != 2 {
			t.Fatalf("PostgreSQL: %v", err)
		}
		myErr := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
		err = retrysql.Do(t.Context(), r, func(context.Context) error { return myErr })
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me != myErr || retrysql.Attempts(err) != 2 {
			t.Fatalf("MySQL: %v", err)
		}
		var e *retrysql.Error
		if !errors.As(err, &e) || e.Result.Code != "1213" || e.Result.Class != classify.TxAborted {
			t.Fatalf("classification lost: %+v", e)
		}
	})
}

// TestCancelledContextRunsNothing: an operation whose context has already
// ended returns the context's error without calling op, and RunInTx begins
// nothing.
func TestCancelledContextRunsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := newRetrier(t, nil)
	calls := 0
	if err := retrysql.Do(ctx, r, func(context.Context) error { calls++; return nil }); !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Do: %v after %d calls, want context.Canceled and none", err, calls)
	}
	if _, err := retrysql.DoValue(ctx, r, func(context.Context) (int, error) { calls++; return 1, nil }); !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("DoValue: %v after %d calls, want context.Canceled and none", err, calls)
	}
	d := newFake(nil)
	db := openFake(t, d)
	err := retrysql.RunInTx(ctx, db, nil, func(context.Context, *sql.Tx) error { calls++; return nil })
	if !errors.Is(err, context.Canceled) || calls != 0 || d.count("begin", "") != 0 {
		t.Fatalf("RunInTx: %v after %d runs and %d BEGINs, want context.Canceled and none", err, calls, d.count("begin", ""))
	}
}
