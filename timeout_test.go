package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
)

// stall is an operation whose first attempts wait for their context to
// end and return its error (an answer that never comes), then succeeds.
type stall struct {
	stalls    int
	calls     int
	deadlines []time.Duration // of each attempt's context, from the call's start; -1 for none
	start     time.Time
	wrap      func(error) error // what a stalled attempt returns, from ctx.Err()
}

func (s *stall) op(ctx context.Context) error {
	s.calls++
	if dl, ok := ctx.Deadline(); ok {
		s.deadlines = append(s.deadlines, dl.Sub(s.start))
	} else {
		s.deadlines = append(s.deadlines, -1)
	}
	if s.calls > s.stalls {
		return nil
	}
	<-ctx.Done()
	if s.wrap != nil {
		return s.wrap(ctx.Err())
	}
	return ctx.Err()
}

func TestAttemptTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		idempotent bool
		wrap       func(error) error
		attempts   int
		ambiguous  bool
	}{
		{name: "a write that timed out is ambiguous", attempts: 1, ambiguous: true},
		{name: "idempotent work is retried", idempotent: true, attempts: 2},
		{name: "work that provably was not sent is retried", attempts: 2,
			wrap: func(err error) error { return fmt.Errorf("%w (%w)", driver.ErrBadConn, err) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hooks{}
				r := newRetrier(t, h, retrysql.WithAttemptTimeout(100*ms))
				ctx := t.Context()
				if tc.idempotent {
					ctx = retrysql.Idempotent(ctx)
				}
				s := &stall{stalls: 1, start: time.Now(), wrap: tc.wrap}
				err := retrysql.Do(ctx, r, s.op)
				if s.calls != tc.attempts {
					t.Fatalf("%d attempts, want %d: %v", s.calls, tc.attempts, err)
				}
				if tc.ambiguous {
					if !errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, retrysql.ErrAttemptTimeout) || !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("got %v, want ErrAmbiguous and ErrAttemptTimeout", err)
					}
					if time.Since(s.start) != 100*ms {
						t.Fatalf("gave up after %v, want 100ms", time.Since(s.start))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				// Each attempt had its own 100ms; the retry waited the
				// conn-lost strategy's 30ms.
				if want := []time.Duration{100 * ms, 230 * ms}; fmt.Sprint(s.deadlines) != fmt.Sprint(want) {
					t.Fatalf("attempt deadlines %v, want %v", s.deadlines, want)
				}
				if e := h.retries[0]; !errors.Is(e.Err, retrysql.ErrAttemptTimeout) || e.Result.String() != "conn-lost" && e.Result.String() != "conn-lost unsent" {
					t.Fatalf("retry event %+v", e)
				}
			})
		})
	}
}

// TestAttemptTimeoutWithinTheContext: an attempt is bounded by what is
// left of the call's context when that is less, and the context's own end
// is no attempt timeout: it is returned as it is.
func TestAttemptTimeoutWithinTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithAttemptTimeout(time.Second))
		ctx, cancel := context.WithTimeout(retrysql.Idempotent(t.Context()), 250*ms)
		defer cancel()
		s := &stall{stalls: 5, start: time.Now()}
		err := retrysql.Do(ctx, r, s.op)
		if err != context.DeadlineExceeded || s.calls != 1 || s.deadlines[0] != 250*ms {
			t.Fatalf("got %v after %d attempts with deadlines %v", err, s.calls, s.deadlines)
		}
	})
}

// TestAttemptTimeoutPerCall: given to one call, it bounds that call only;
// 0 switches a Retrier's off.
func TestAttemptTimeoutPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRetrier(t, nil, retrysql.WithAttemptTimeout(time.Second))
		s := &stall{stalls: 1, start: time.Now()}
		err := retrysql.Do(retrysql.Idempotent(t.Context()), r, s.op, retrysql.WithAttemptTimeout(50*ms))
		if err != nil || s.deadlines[0] != 50*ms {
			t.Fatalf("got %v with deadlines %v", err, s.deadlines)
		}
		s = &stall{start: time.Now()}
		if err := retrysql.Do(t.Context(), r, s.op, retrysql.WithAttemptTimeout(0)); err != nil || s.deadlines[0] != -1 {
			t.Fatalf("got %v with deadlines %v, want no deadline", err, s.deadlines)
		}
	})
}

// TestAttemptTimeoutOpensTheBreaker: a server that does not answer in
// time is failing.
func TestAttemptTimeoutOpensTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, MaxWait: -1})
		if err != nil {
			t.Fatal(err)
		}
		r := newRetrier(t, nil, retrysql.WithBreaker(br), retrysql.WithAttemptTimeout(100*ms))
		s := &stall{stalls: 1, start: time.Now()}
		err = retrysql.Do(retrysql.Idempotent(t.Context()), r, s.op)
		if !errors.Is(err, retrysql.ErrCircuitOpen) || !errors.Is(err, retrysql.ErrAttemptTimeout) || s.calls != 1 {
			t.Fatalf("got %v after %d attempts", err, s.calls)
		}
	})
}

// TestAttemptTimeoutOfStatementsInDo: on a retrysql handle under Do, a
// write the attempt's bound cut short is ambiguous and runs once; a read
// declared idempotent runs again.
func TestAttemptTimeoutOfStatementsInDo(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			d := newFake(failN("exec", "UPDATE t", 1, errUntilDone))
			db := openFake(t, d)
			r := newRetrier(t, nil, retrysql.WithAttemptTimeout(100*ms))
			ctx := t.Context()
			if idempotent {
				ctx = retrysql.Idempotent(ctx)
			}
			err := retrysql.Do(ctx, r, func(ctx context.Context) error {
				_, err := db.ExecContext(ctx, "UPDATE t")
				return err
			})
			n := d.count("exec", "UPDATE t")
			switch {
			case !idempotent && (!errors.Is(err, retrysql.ErrAmbiguous) || !errors.Is(err, retrysql.ErrAttemptTimeout) || n != 1):
				t.Fatalf("write: got %v after %d executions, want ErrAmbiguous after 1", err, n)
			case idempotent && (err != nil || n != 2):
				t.Fatalf("idempotent: got %v after %d executions, want success after 2", err, n)
			}
		})
	}
}

// TestAttemptTimeoutInRunInTx: a transaction cut short before COMMIT is
// replayed; one cut short during COMMIT is ErrAmbiguousCommit.
func TestAttemptTimeoutInRunInTx(t *testing.T) {
	t.Run("before COMMIT", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFake(failN("exec", "UPDATE t", 1, errUntilDone))
			db := openFake(t, d)
			err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE t")
				return err
			}, retrysql.WithAttemptTimeout(100*ms))
			if err != nil || d.count("begin", "") != 2 || d.count("commit", "") != 1 {
				t.Fatalf("got %v after %d transactions and %d commits", err, d.count("begin", ""), d.count("commit", ""))
			}
		})
	})
	t.Run("during COMMIT", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newFake(func(op, query string, n int) error {
				if op == "commit" && n == 1 {
					time.Sleep(200 * ms) // the answer comes after the bound: the cancellation broke the connection
					return io.ErrUnexpectedEOF
				}
				return nil
			})
			db := openFake(t, d)
			err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE t")
				return err
			}, retrysql.WithAttemptTimeout(100*ms))
			if !errors.Is(err, retrysql.ErrAmbiguousCommit) || !errors.Is(err, retrysql.ErrAttemptTimeout) || d.count("begin", "") != 1 {
				t.Fatalf("got %v after %d transactions", err, d.count("begin", ""))
			}
		})
	})
}
