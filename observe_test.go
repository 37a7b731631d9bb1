package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

type ctxKey struct{}

// completions records what the OnComplete hook receives.
type completions struct {
	mu  sync.Mutex
	got []retrysql.Completion
}

func (c *completions) record(x retrysql.Completion) {
	c.mu.Lock()
	c.got = append(c.got, x)
	c.mu.Unlock()
}

func (c *completions) last(t *testing.T) retrysql.Completion {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		t.Fatal("no completion")
	}
	return c.got[len(c.got)-1]
}

func TestCompletionHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var handle, call completions
		r := newRetrier(t, nil, retrysql.WithOnComplete(handle.record))
		ctx := context.WithValue(t.Context(), ctxKey{}, "trace-1")
		s := &script{errs: []error{errTransient, errTransient}}
		if err := retrysql.Do(ctx, r, s.op, retrysql.WithOnComplete(call.record)); err != nil {
			t.Fatal(err)
		}
		c := handle.last(t)
		if c.End != retrysql.EndSuccess || c.Attempts != 3 || c.Backoff != 20*ms || c.Elapsed != 20*ms ||
			c.Place != retrysql.PlaceOperation || c.Result.Code != "55P03" || c.Err != nil || c.Ctx.Value(ctxKey{}) != "trace-1" {
			t.Fatalf("completion %+v", c)
		}
		if call.last(t).Attempts != 3 {
			t.Fatal("the call's hook did not run beside the handle's")
		}
		for _, tc := range []struct {
			errs   []error
			end    retrysql.End
			reason retrysql.Reason
		}{
			{[]error{errPermanent}, retrysql.EndPermanent, 0},
			{[]error{errLostSent}, retrysql.EndAmbiguous, retrysql.ReasonAmbiguous},
			{[]error{errTransient, errTransient, errTransient, errTransient}, retrysql.EndGaveUp, retrysql.ReasonAttempts},
		} {
			retrysql.Do(ctx, r, (&script{errs: tc.errs}).op, retrysql.WithMaxAttempts(3))
			if c := handle.last(t); c.End != tc.end || c.Reason != tc.reason || c.Err == nil {
				t.Errorf("%v: completion %+v", tc.errs, c)
			}
		}
	})
}

// TestCompletionRetriedOrFailed: a hook given RetriedOrFailed hears of
// the operations that did not succeed at once, untimed unless another hook
// or WithMaxElapsed times them; a hook for all operations beside it hears
// of every one.
func TestCompletionRetriedOrFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each attempt takes 5ms, so that Elapsed shows whether the first
		// one is counted.
		slow := func(s *script) func(context.Context) error {
			return func(ctx context.Context) error { time.Sleep(5 * ms); return s.op(ctx) }
		}
		var few completions
		r := newRetrier(t, nil, retrysql.WithOnComplete(few.record, retrysql.RetriedOrFailed))
		ctx := t.Context()
		retrysql.Do(ctx, r, slow(&script{}))
		if len(few.got) != 0 {
			t.Fatalf("called for a first attempt that succeeded: %+v", few.got)
		}
		retrysql.Do(ctx, r, slow(&script{errs: []error{errTransient}}))
		retrysql.Do(ctx, r, slow(&script{errs: []error{errPermanent}}))
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		retrysql.Do(canceled, r, slow(&script{}))
		want := []struct {
			attempts int
			end      retrysql.End
		}{{2, retrysql.EndSuccess}, {1, retrysql.EndPermanent}, {0, retrysql.EndGaveUp}}
		if len(few.got) != len(want) {
			t.Fatalf("%d completions, want %d: %+v", len(few.got), len(want), few.got)
		}
		for i, w := range want {
			if c := few.got[i]; c.Attempts != w.attempts || c.End != w.end || c.Elapsed != 0 {
				t.Errorf("completion %d: %+v; want %d attempts, %v, Elapsed 0 (not timed)", i, c, w.attempts, w.end)
			}
		}
		if c := few.got[0]; c.Backoff != 10*ms {
			t.Errorf("backoff %v, want 10ms", c.Backoff)
		}

		// WithMaxElapsed makes the loop time every operation: exact.
		few.got = nil
		retrysql.Do(ctx, r, slow(&script{errs: []error{errTransient}}), retrysql.WithMaxElapsed(time.Minute))
		if c := few.last(t); c.Elapsed != 20*ms {
			t.Errorf("with WithMaxElapsed: Elapsed %v, want 20ms (two 5ms attempts and a 10ms wait)", c.Elapsed)
		}

		// Beside a hook for every operation: that one hears of all, timed;
		// this one still of the few, timed too.
		few.got = nil
		var all completions
		retrysql.Do(ctx, r, slow(&script{}), retrysql.WithOnComplete(all.record))
		retrysql.Do(ctx, r, slow(&script{errs: []error{errTransient}}), retrysql.WithOnComplete(all.record))
		if len(all.got) != 2 || all.got[0].Attempts != 1 || all.got[0].Elapsed != 5*ms {
			t.Errorf("hook for all operations: %+v", all.got)
		}
		if len(few.got) != 1 || few.got[0].Attempts != 2 || few.got[0].Elapsed != 20*ms {
			t.Errorf("RetriedOrFailed beside it: %+v", few.got)
		}
	})
}

func TestWithOnCompleteBadInput(t *testing.T) {
	nop := func(retrysql.Completion) {}
	for _, which := range [][]retrysql.Completions{
		{retrysql.RetriedOrFailed, retrysql.AllOperations},
		{retrysql.Completions(7)},
	} {
		if _, err := retrysql.NewRetrier(retrysql.WithOnComplete(nop, which...)); err == nil {
			t.Errorf("WithOnComplete(f, %v) accepted", which)
		}
	}
	if _, err := retrysql.NewRetrier(retrysql.WithOnComplete(nop, retrysql.RetriedOrFailed)); err != nil {
		t.Error(err)
	}
}

// TestCompletionOfStatements: a statement's completion, and a hand-off.
func TestCompletionOfStatements(t *testing.T) {
	var got completions
	d := newFake(failN("exec", "UPDATE t", 1, serialization))
	db := openFake(t, d, retrysql.WithOnComplete(got.record))
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
	if c := got.last(t); c.Place != retrysql.PlaceStatement || c.Attempts != 2 || c.End != retrysql.EndSuccess {
		t.Fatalf("statement: %+v", c)
	}
	conn, _ := db.Conn(t.Context())
	defer conn.Close()
	conn.ExecContext(t.Context(), "UPDATE u")
	d.script = failN("exec", "UPDATE v", 1, driver.ErrBadConn)
	conn.ExecContext(t.Context(), "UPDATE v")
	if c := got.last(t); c.End != retrysql.EndHandedOff {
		t.Fatalf("hand-off: %+v", c)
	}
}

func TestErrorType(t *testing.T) {
	r := newRetrier(t, nil, retrysql.WithMaxAttempts(2))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{serialization, "40001"},
		{errLostSent, "ambiguous"},
		{errLostEarly, "attempts"},
	} {
		err := retrysql.Do(t.Context(), r, func(context.Context) error { return tc.err })
		var e interface{ ErrorType() string }
		if !errors.As(err, &e) || e.ErrorType() != tc.want {
			t.Errorf("%v: ErrorType of %v, want %q", tc.err, err, tc.want)
		}
	}
}

func TestStatsBreakerState(t *testing.T) {
	br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: time.Hour, MaxWait: -1})
	r := newRetrier(t, nil, retrysql.WithBreaker(br), retrysql.WithMaxAttempts(1))
	if r.Stats().Breaker != retrysql.BreakerClosed {
		t.Fatal("not closed at first")
	}
	retrysql.Do(t.Context(), r, (&script{errs: []error{errLostEarly}}).op)
	if r.Stats().Breaker != retrysql.BreakerOpen {
		t.Fatalf("breaker %v after a failure", r.Stats().Breaker)
	}
}

func ExampleWithOnComplete() {
	// A hook for the operations that retried or failed: those that
	// succeed at once do not call it, nor read the clock.
	r, err := retrysql.NewRetrier(
		retrysql.WithStrategy(classify.Transient, strategy.Fixed{Interval: time.Millisecond}),
		retrysql.WithOnComplete(func(c retrysql.Completion) {
			fmt.Printf("%s: %s after %d attempts, %v slept\n", c.Place, c.End, c.Attempts, c.Backoff)
		}, retrysql.RetriedOrFailed))
	if err != nil {
		panic(err)
	}
	busy := 1
	op := func(context.Context) error {
		if busy > 0 {
			busy--
			return retrysql.Retryable(errors.New("queue busy"))
		}
		return nil
	}
	ctx := context.Background()
	fmt.Println(retrysql.Do(ctx, r, op)) // retried once
	fmt.Println(retrysql.Do(ctx, r, op)) // succeeds at once
	// Output:
	// operation: success after 2 attempts, 1ms slept
	// <nil>
	// <nil>
}
