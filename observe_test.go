package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
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

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu    sync.Mutex
	level slog.Level
	got   []slog.Record
}

func (h *records) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.got = append(h.got, r)
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) lines() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.got {
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "error" && a.Key != "retrysql.delay" {
				b.WriteString(" " + a.Key + "=" + a.Value.String())
			}
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

func TestLogger(t *testing.T) {
	h := &records{level: slog.LevelDebug}
	br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 2, OpenFor: 10 * time.Millisecond, MaxWait: -1})
	d := newFake(failN("exec", "UPDATE t", 1, serialization))
	db := openFake(t, d, retrysql.WithLogger(slog.New(h)), retrysql.WithBreaker(br), retrysql.WithMaxAttempts(2))
	if _, err := db.ExecContext(t.Context(), "UPDATE t"); err != nil {
		t.Fatal(err)
	}
	d.script = failN("exec", "INSERT", 1, io.ErrUnexpectedEOF)
	db.ExecContext(t.Context(), "INSERT")
	d.openErr = func(int) error { return refused }
	db.SetMaxIdleConns(0)
	db.PingContext(t.Context())
	d.openErr = nil
	time.Sleep(20 * time.Millisecond)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DEBUG retrysql: retrying retrysql.place=statement retrysql.attempt=1 retrysql.error.class=tx-aborted db.response.status_code=40001 error.type=40001",
		"WARN retrysql: outcome unknown retrysql.place=statement retrysql.attempt=1 retrysql.error.class=conn-lost retrysql.reason=ambiguous",
		"WARN retrysql: circuit breaker open retrysql.breaker.state=open retrysql.breaker.from=closed",
		"INFO retrysql: circuit breaker closed retrysql.breaker.state=closed retrysql.breaker.from=half-open",
	}
	got := h.lines()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("no line %q in:\n%s", w, got)
		}
	}
	// Nothing below the handler's level is even built.
	quiet := &records{level: slog.LevelError}
	db2 := openFake(t, newFake(failN("exec", "UPDATE t", 1, serialization)), retrysql.WithLogger(slog.New(quiet)))
	db2.ExecContext(t.Context(), "UPDATE t")
	if quiet.lines() != "" {
		t.Fatalf("logged below the level: %s", quiet.lines())
	}
}

// TestLoggerBudgetRateLimited: give-ups for an empty budget are logged at
// most once a second, the next saying how many were left out.
func TestLoggerBudgetRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &records{level: slog.LevelWarn}
		r := newRetrier(t, nil, retrysql.WithLogger(slog.New(h)), retrysql.WithBudget(&denyAll{}))
		for range 5 {
			retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op)
		}
		time.Sleep(time.Second)
		retrysql.Do(t.Context(), r, (&script{errs: []error{errTransient}}).op)
		got := h.lines()
		if strings.Count(got, "gave up") != 2 || !strings.Contains(got, "retrysql.suppressed=4") {
			t.Fatalf("log:\n%s", got)
		}
	})
}
