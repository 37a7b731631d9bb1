package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"go/doc"
	"go/parser"
	"go/token"
	"io"
	"testing"
	"testing/synctest"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

var errPlain = errors.New("plain failure")

// TestPlainErrorsOfDoAreNotRetried: an error the classifier does not know
// is permanent: one attempt, returned as it is.
func TestPlainErrorsOfDoAreNotRetried(t *testing.T) {
	r := newRetrier(t, nil)
	s := &script{errs: []error{errPlain, errPlain}}
	if err := retrysql.Do(t.Context(), r, s.op); err != errPlain || s.calls.Load() != 1 {
		t.Fatalf("got %v after %d attempts, want the error itself after 1", err, s.calls.Load())
	}
}

func TestMarkersOfNilAreNil(t *testing.T) {
	for name, err := range map[string]error{
		"Permanent":  retrysql.Permanent(nil),
		"Retryable":  retrysql.Retryable(nil),
		"Classified": retrysql.Classified(nil, classify.Result{Class: classify.Transient}),
		"RetryAfter": retrysql.RetryAfter(nil, ms),
	} {
		if err != nil {
			t.Errorf("%s(nil) = %v", name, err)
		}
	}
}

// TestMarkersWrap: a marker has its error's message, and errors.Is and
// errors.As reach the error and what it wraps.
func TestMarkersWrap(t *testing.T) {
	cause := fmt.Errorf("publish: %w", &codeError{"X1"})
	for _, err := range []error{
		retrysql.Permanent(cause),
		retrysql.Retryable(cause),
		retrysql.Classified(cause, classify.Result{Class: classify.ConnLost}),
		retrysql.RetryAfter(cause, ms),
	} {
		var ce *codeError
		if err.Error() != cause.Error() || !errors.Is(err, cause) || !errors.As(err, &ce) || ce.code != "X1" {
			t.Errorf("%T %q does not wrap %q", err, err, cause)
		}
	}
}

// TestMarkerDecidesBeforeTheClassifier: each marker overrides what the
// classifier says, and the outermost marker wins, through %w and
// errors.Join.
func TestMarkerDecidesBeforeTheClassifier(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		attempts int32
	}{
		{"Permanent of a retryable error", retrysql.Permanent(errTransient), 1},
		{"Permanent of a lost connection", retrysql.Permanent(driver.ErrBadConn), 1},
		{"Retryable of a plain error", retrysql.Retryable(errPlain), 3},
		{"Retryable of a permanent error", retrysql.Retryable(errPermanent), 3},
		{"outermost wins: Permanent(Retryable)", retrysql.Permanent(retrysql.Retryable(errPlain)), 1},
		{"outermost wins: Retryable(Permanent)", retrysql.Retryable(retrysql.Permanent(errPlain)), 3},
		{"under %w", fmt.Errorf("call: %w", retrysql.Retryable(errPlain)), 3},
		{"in a join", errors.Join(errPlain, retrysql.Permanent(errTransient)), 1},
		{"Classified tx-aborted", retrysql.Classified(errPlain, classify.Result{Class: classify.TxAborted}), 3},
		{"Classified unknown class is permanent", retrysql.Classified(errTransient, classify.Result{Class: 9}), 1},
		{"Classified conn-lost, unsent", retrysql.Classified(errPlain, classify.Result{Class: classify.ConnLost, Unsent: true}), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRetrier(t, nil, retrysql.WithMaxAttempts(3))
				s := &script{errs: []error{tc.err, tc.err, tc.err}}
				err := retrysql.Do(t.Context(), r, s.op)
				if got := s.calls.Load(); got != tc.attempts {
					t.Fatalf("%d attempts, want %d (%v)", got, tc.attempts, err)
				}
				if !errors.Is(err, tc.err) {
					t.Fatalf("%v does not wrap %v", err, tc.err)
				}
				if tc.attempts == 1 && err != tc.err {
					t.Fatalf("a permanent error after one attempt is returned as it is: got %v", err)
				}
			})
		})
	}
}

// TestClassifiedCodeAndClassChooseTheStrategy: a marker's class chooses
// the class's strategy, its code WithCodeStrategy's, and the code is
// counted.
func TestClassifiedCodeAndClassChooseTheStrategy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hooks{}
		r := newRetrier(t, h, retrysql.WithCodeStrategy("429", strategy.Fixed{Interval: 70 * ms}))
		s := &script{errs: []error{
			retrysql.Retryable(errPlain), // transient: 10ms
			retrysql.Classified(errPlain, classify.Result{Class: classify.TxAborted}),              // 20ms
			retrysql.Classified(errPlain, classify.Result{Class: classify.Transient, Code: "429"}), // 70ms
			retrysql.Classified(errPlain, classify.Result{Class: classify.ConnLost, Unsent: true}), // 30ms
		}}
		if err := retrysql.Do(t.Context(), r, s.op); err != nil {
			t.Fatal(err)
		}
		var got []any
		for _, e := range h.retries {
			got = append(got, e.Delay, e.Result.String())
		}
		want := []any{10 * ms, "transient", 20 * ms, "tx-aborted", 70 * ms, "transient 429", 30 * ms, "conn-lost unsent"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("retries %v, want %v", got, want)
		}
		if n := r.Stats().RetriesByCode["429"]; n != 1 {
			t.Fatalf("RetriesByCode[429] = %d", n)
		}
	})
}

// TestClassifiedLostConnectionKeepsTheAmbiguityRule: a lost connection
// whose request may have been sent is not retried unless the work is
// idempotent, marker or not.
func TestClassifiedLostConnectionKeepsTheAmbiguityRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil)
		lost := retrysql.Classified(errPlain, classify.Result{Class: classify.ConnLost})
		s := &script{errs: []error{lost}}
		err := retrysql.Do(t.Context(), r, s.op)
		if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, errPlain) || s.calls.Load() != 1 {
			t.Fatalf("got %v after %d attempts, want ErrAmbiguous after 1", err, s.calls.Load())
		}
		s = &script{errs: []error{lost}}
		if err := retrysql.Do(retrysql.Idempotent(t.Context()), r, s.op); err != nil || s.calls.Load() != 2 {
			t.Fatalf("idempotent: got %v after %d attempts, want success after 2", err, s.calls.Load())
		}
	})
}

// TestUnavailableCountsForTheBreaker: an answer that the server cannot
// serve opens the breaker, an ordinary transient error does not.
func TestUnavailableCountsForTheBreaker(t *testing.T) {
	for _, tc := range []struct {
		res  classify.Result
		open bool
	}{
		{classify.Result{Class: classify.Transient, Code: "503", Unavailable: true}, true},
		{classify.Result{Class: classify.Transient, Code: "429"}, false},
	} {
		synctest.Test(t, func(t *testing.T) {
			br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 2, MaxWait: -1})
			if err != nil {
				t.Fatal(err)
			}
			r := newRetrier(t, nil, retrysql.WithBreaker(br), retrysql.WithMaxAttempts(3))
			s := &script{errs: []error{retrysql.Classified(errPlain, tc.res), retrysql.Classified(errPlain, tc.res), retrysql.Classified(errPlain, tc.res)}}
			err = retrysql.Do(t.Context(), r, s.op)
			if got := errors.Is(err, retrysql.ErrCircuitOpen); got != tc.open || br.State() == retrysql.BreakerOpen != tc.open {
				t.Fatalf("%v: %v, breaker %v", tc.res, err, br.State())
			}
			if want := map[bool]int32{true: 2, false: 3}[tc.open]; s.calls.Load() != want {
				t.Fatalf("%v: %d attempts, want %d", tc.res, s.calls.Load(), want)
			}
		})
	}
}

func TestWithRetryIf(t *testing.T) {
	isPlain := func(err error) bool { return errors.Is(err, errPlain) }
	for _, tc := range []struct {
		name     string
		err      error
		ctx      func(context.Context) context.Context
		attempts int32
		asked    bool
	}{
		{"a plain error it accepts", errPlain, nil, 3, true},
		{"a plain error it refuses", errPermanent, nil, 1, true},
		{"never asked of a marker", retrysql.Permanent(errPlain), nil, 1, false},
		{"never asked of a retryable error", errTransient, nil, 3, false},
		{"never asked of a lost connection", fmt.Errorf("%w: %w", errPlain, io.ErrUnexpectedEOF), nil, 1, false},
		{"never asked of a context's end", fmt.Errorf("%w: %w", errPlain, context.DeadlineExceeded), nil, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				asked := false
				f := func(err error) bool { asked = true; return isPlain(err) }
				for _, where := range []string{"Retrier", "call"} {
					asked = false
					var r *retrysql.Retrier
					var opts []retrysql.Option
					if where == "Retrier" {
						r = newRetrier(t, nil, retrysql.WithMaxAttempts(3), retrysql.WithRetryIf(f))
					} else {
						r = newRetrier(t, nil, retrysql.WithMaxAttempts(3))
						opts = append(opts, retrysql.WithRetryIf(f))
					}
					s := &script{errs: []error{tc.err, tc.err, tc.err}}
					err := retrysql.Do(t.Context(), r, s.op, opts...)
					if s.calls.Load() != tc.attempts || asked != tc.asked || !errors.Is(err, tc.err) {
						t.Fatalf("on the %s: %v after %d attempts, asked %v; want %d attempts, asked %v",
							where, err, s.calls.Load(), asked, tc.attempts, tc.asked)
					}
				}
			})
		})
	}
}

// TestWithRetryIfLeavesStatementsAlone: the statements of a handle that
// shares the Retrier never consult it.
func TestWithRetryIfLeavesStatementsAlone(t *testing.T) {
	r, err := retrysql.NewRetrier(retrysql.WithRetryIf(func(error) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	d := newFake(failN("exec", "INSERT", 5, uniqueViolate))
	c, err := retrysql.NewConnector(fakeConnector{d}, retrysql.WithRetrier(r))
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, c)
	if _, err := db.ExecContext(t.Context(), "INSERT"); err != uniqueViolate || d.count("exec", "INSERT") != 1 {
		t.Fatalf("got %v after %d executions", err, d.count("exec", "INSERT"))
	}
}

// TestOpsExamplesAreWholePrograms: every example of example_ops_test.go
// uses only what that file declares, so that go/doc (and so pkg.go.dev)
// can make a runnable program of it.
func TestOpsExamplesAreWholePrograms(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "example_ops_test.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	examples := doc.Examples(f)
	if len(examples) < 10 {
		t.Fatalf("%d examples found", len(examples))
	}
	for _, ex := range examples {
		if ex.Play == nil {
			t.Errorf("Example%s uses a declaration of another file: go/doc makes no program of it", ex.Name)
		}
	}
}
