package retrysql_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/budget"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// TestRetryAfterBounds: a server's hint is waited within bounds (the
// transient strategy of newRetrier waits 10ms).
func TestRetryAfterBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		opts     []retrysql.Option
		timeout  time.Duration // of the call's context, if > 0
		attempts int32
		waited   time.Duration // virtual time from the first attempt to the end
		reason   retrysql.Reason
	}{
		{name: "a long hint lengthens the delay", err: retrysql.RetryAfter(errPlain, 2*time.Second), attempts: 2, waited: 2 * time.Second},
		{name: "a short hint does not shorten it", err: retrysql.RetryAfter(errPlain, ms), attempts: 2, waited: 10 * ms},
		{name: "no hint: the strategy's delay", err: retrysql.RetryAfter(errPlain, 0), attempts: 2, waited: 10 * ms},
		{name: "a negative hint is none", err: retrysql.RetryAfter(errPlain, -time.Hour), attempts: 2, waited: 10 * ms},
		{name: "an outer hint of 0 hides no inner one", err: retrysql.RetryAfter(retrysql.RetryAfter(errPlain, 2*time.Second), 0), attempts: 2, waited: 2 * time.Second},
		{name: "a strategy that follows hints takes a short one as it is",
			err:  retrysql.RetryAfter(errPlain, 3*ms),
			opts: []retrysql.Option{retrysql.WithStrategy(classify.Transient, strategy.FollowHint{Strategy: strategy.Fixed{Interval: 10 * ms}})}, attempts: 2, waited: 3 * ms},
		{name: "the hint of a tx-aborted error lengthens its strategy's delay",
			err:      retrysql.RetryAfter(retrysql.Classified(errPlain, classify.Result{Class: classify.TxAborted}), 500*ms),
			attempts: 2, waited: 500 * ms},
		{name: "up to the default maximum", err: retrysql.RetryAfter(errPlain, retrysql.DefaultMaxRetryAfter), attempts: 2, waited: retrysql.DefaultMaxRetryAfter},
		{name: "above the maximum: give up at once", err: retrysql.RetryAfter(errPlain, retrysql.DefaultMaxRetryAfter+ms), attempts: 1, reason: retrysql.ReasonRetryAfter},
		{name: "a maximum of the caller's", err: retrysql.RetryAfter(errPlain, 45*time.Second),
			opts: []retrysql.Option{retrysql.WithMaxRetryAfter(time.Minute)}, attempts: 2, waited: 45 * time.Second},
		{name: "a smaller maximum of the caller's", err: retrysql.RetryAfter(errPlain, 2*time.Second),
			opts: []retrysql.Option{retrysql.WithMaxRetryAfter(time.Second)}, attempts: 1, reason: retrysql.ReasonRetryAfter},
		{name: "never past the context's deadline", err: retrysql.RetryAfter(errPlain, 2*time.Second), timeout: time.Second, attempts: 1, reason: retrysql.ReasonDeadline},
		{name: "never past the maximum elapsed time", err: retrysql.RetryAfter(errPlain, 2*time.Second),
			opts: []retrysql.Option{retrysql.WithMaxElapsed(time.Second)}, attempts: 1, reason: retrysql.ReasonElapsed},
		{name: "a permanent error is not retried for a hint", err: retrysql.RetryAfter(retrysql.Permanent(errPlain), ms), attempts: 1, reason: retrysql.ReasonPermanent},
		{name: "nor when a marker outside says permanent", err: retrysql.Permanent(retrysql.RetryAfter(errPlain, ms)), attempts: 1, reason: retrysql.ReasonPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hooks{}
				r := newRetrier(t, h, tc.opts...)
				ctx := t.Context()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				s := &script{errs: []error{tc.err}}
				start := time.Now()
				err := retrysql.Do(ctx, r, s.op)
				if s.calls.Load() != tc.attempts {
					t.Fatalf("%d attempts, want %d: %v", s.calls.Load(), tc.attempts, err)
				}
				if tc.attempts == 2 {
					if err != nil || time.Since(start) != tc.waited || len(h.retries) != 1 || h.retries[0].Delay != tc.waited {
						t.Fatalf("got %v after %v (retries %v), want success after %v", err, time.Since(start), h.retries, tc.waited)
					}
					return
				}
				if time.Since(start) != 0 || !errors.Is(err, errPlain) {
					t.Fatalf("got %v after %v, want the error at once", err, time.Since(start))
				}
				var e *retrysql.Error
				switch {
				case tc.reason == retrysql.ReasonPermanent && err != tc.err:
					t.Fatalf("got %v, want the permanent error as it is", err)
				case tc.reason != retrysql.ReasonPermanent && (!errors.As(err, &e) || e.Reason != tc.reason):
					t.Fatalf("got %v, want an *Error with reason %v", err, tc.reason)
				}
			})
		})
	}
}

// multiplier is a strategy.Hinter of the caller's that waits a multiple
// of the server's hint (and Own without one).
type multiplier struct {
	Own    time.Duration
	Factor time.Duration
}

func (m multiplier) Delay(int, time.Duration) time.Duration { return m.Own }
func (m multiplier) DelayHint(_ int, _, hint time.Duration) time.Duration {
	if hint > time.Duration(1<<62)/m.Factor {
		return time.Duration(1<<63 - 1)
	}
	return hint * m.Factor
}

// TestHinterIsCapped: what a strategy.Hinter makes of a hint is capped at
// the maximum hint (WithMaxRetryAfter, DefaultMaxRetryAfter), or at the
// strategy's own delay when that is longer; below the cap it is waited
// as it is, and the deadline still ends retrying.
func TestHinterIsCapped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        multiplier
		hint     time.Duration
		opts     []retrysql.Option
		timeout  time.Duration
		attempts int32
		waited   time.Duration
	}{
		{name: "below the maximum: as it is", s: multiplier{Own: 10 * ms, Factor: 10}, hint: time.Second, attempts: 2, waited: 10 * time.Second},
		{name: "above the default maximum: capped", s: multiplier{Own: 10 * ms, Factor: 10}, hint: 5 * time.Second, attempts: 2, waited: retrysql.DefaultMaxRetryAfter},
		{name: "an overflowing wait: capped", s: multiplier{Own: 10 * ms, Factor: 1 << 40}, hint: time.Second, attempts: 2, waited: retrysql.DefaultMaxRetryAfter},
		{name: "above the caller's maximum: capped", s: multiplier{Own: 10 * ms, Factor: 10}, hint: time.Second,
			opts: []retrysql.Option{retrysql.WithMaxRetryAfter(2 * time.Second)}, attempts: 2, waited: 2 * time.Second},
		{name: "the strategy's own delay is longer than the maximum: capped there", s: multiplier{Own: 45 * time.Second, Factor: 100}, hint: time.Second,
			attempts: 2, waited: 45 * time.Second},
		{name: "a shorter wait than its own delay stands", s: multiplier{Own: time.Minute, Factor: 2}, hint: time.Second, attempts: 2, waited: 2 * time.Second},
		{name: "capped, the wait fits before the deadline", s: multiplier{Own: 10 * ms, Factor: 10}, hint: 5 * time.Second,
			timeout: 40 * time.Second, attempts: 2, waited: retrysql.DefaultMaxRetryAfter},
		{name: "the capped wait still ends at the deadline", s: multiplier{Own: 10 * ms, Factor: 10}, hint: 5 * time.Second,
			timeout: 20 * time.Second, attempts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hooks{}
				r := newRetrier(t, h, append([]retrysql.Option{retrysql.WithStrategy(classify.Transient, tc.s)}, tc.opts...)...)
				ctx := t.Context()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				s := &script{errs: []error{retrysql.RetryAfter(errPlain, tc.hint)}}
				start := time.Now()
				err := retrysql.Do(ctx, r, s.op)
				if s.calls.Load() != tc.attempts {
					t.Fatalf("%d attempts, want %d: %v", s.calls.Load(), tc.attempts, err)
				}
				if tc.attempts == 1 {
					var e *retrysql.Error
					if !errors.As(err, &e) || e.Reason != retrysql.ReasonDeadline || time.Since(start) != 0 {
						t.Fatalf("got %v after %v, want ReasonDeadline at once", err, time.Since(start))
					}
					return
				}
				if err != nil || time.Since(start) != tc.waited || len(h.retries) != 1 || h.retries[0].Delay != tc.waited {
					t.Fatalf("got %v after %v (retries %v), want success after %v", err, time.Since(start), h.retries, tc.waited)
				}
			})
		})
	}
}

// TestRetryAfterNeedsTheBudget: a hint is no way around the budget.
func TestRetryAfterNeedsTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		empty, err := budget.NewTokenBucket(budget.MinRate, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := newRetrier(t, nil, retrysql.WithBudget(empty))
		s := &script{errs: []error{retrysql.RetryAfter(errPlain, ms), retrysql.RetryAfter(errPlain, ms), retrysql.RetryAfter(errPlain, ms)}}
		err = retrysql.Do(t.Context(), r, s.op)
		// The bucket's one token pays the first retry; the second is refused.
		if !errors.Is(err, retrysql.ErrBudgetExhausted) || s.calls.Load() != 2 {
			t.Fatalf("got %v after %d attempts, want ErrBudgetExhausted after 2", err, s.calls.Load())
		}
	})
}

// TestRetryAfterNeedsTheBreaker: nor around an open breaker.
func TestRetryAfterNeedsTheBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, MaxWait: -1})
		if err != nil {
			t.Fatal(err)
		}
		r := newRetrier(t, nil, retrysql.WithBreaker(br))
		unavailable := retrysql.RetryAfter(retrysql.Classified(errPlain, classify.Result{Class: classify.Transient, Unavailable: true}), ms)
		s := &script{errs: []error{unavailable, unavailable}}
		err = retrysql.Do(t.Context(), r, s.op)
		if !errors.Is(err, retrysql.ErrCircuitOpen) || !errors.Is(err, errPlain) || s.calls.Load() != 1 {
			t.Fatalf("got %v after %d attempts, want ErrCircuitOpen after 1", err, s.calls.Load())
		}
	})
}

// TestFollowHintIsValidated: a FollowHint of an invalid strategy is
// refused where strategies are given.
func TestFollowHintIsValidated(t *testing.T) {
	if _, err := retrysql.NewRetrier(retrysql.WithStrategy(classify.Transient, strategy.FollowHint{Strategy: strategy.Fixed{Interval: -1}})); err == nil {
		t.Error("a FollowHint of an invalid strategy accepted")
	}
	if _, err := retrysql.NewRetrier(retrysql.WithStrategy(classify.Transient, strategy.FollowHint{})); err == nil {
		t.Error("a FollowHint without a strategy accepted")
	}
}

// TestDefaultStrategiesAreTheLoops: the exported defaults are the
// strategies the loop waits by when none is set.
func TestDefaultStrategiesAreTheLoops(t *testing.T) {
	for _, tc := range []struct {
		res classify.Result
		s   strategy.Strategy
	}{
		{classify.Result{Class: classify.TxAborted}, retrysql.DefaultTxAbortedStrategy()},
		{classify.Result{Class: classify.Transient}, retrysql.DefaultTransientStrategy()},
		{classify.Result{Class: classify.ConnLost, Unsent: true}, retrysql.DefaultConnLostStrategy()},
		{classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}, retrysql.DefaultConnLostStrategy()},
	} {
		synctest.Test(t, func(t *testing.T) {
			var delays []time.Duration
			r, err := retrysql.NewRetrier(retrysql.WithBudget(nil), retrysql.WithBreaker(nil), retrysql.WithMaxAttempts(4),
				retrysql.WithClassifier(classify.Func(func(error) classify.Result { return tc.res })),
				retrysql.WithOnRetry(func(e retrysql.Event) { delays = append(delays, e.Delay) }))
			if err != nil {
				t.Fatal(err)
			}
			retrysql.Do(t.Context(), r, func(context.Context) error { return errPlain })
			var prev time.Duration
			for i, d := range delays {
				lo, hi := delayBounds(tc.s, i+1, prev)
				if d < lo || d > hi {
					t.Errorf("%v: retry %d waited %v, outside %T's [%v, %v]", tc.res, i+1, d, tc.s, lo, hi)
				}
				prev = d
			}
		})
	}
	if s := retrysql.DefaultTransientStrategy(); s.Initial != 20*ms || s.Max != 2*time.Second {
		t.Errorf("transient default %+v, not the documented 20ms to 2s", s)
	}
	if s := retrysql.DefaultConnLostStrategy(); s.Initial != 100*ms || s.Max != 5*time.Second {
		t.Errorf("conn-lost default %+v, not the documented 100ms to 5s", s)
	}
	if s := retrysql.DefaultTxAbortedStrategy(); s.Initial != 2*ms || s.Max != 200*ms {
		t.Errorf("tx-aborted default %+v, not the documented 2ms to 200ms", s)
	}
}

// delayBounds is the range of the delays s can give before retry n after
// a delay of prev.
func delayBounds(s strategy.Strategy, n int, prev time.Duration) (lo, hi time.Duration) {
	switch v := s.(type) {
	case strategy.Decorrelated:
		return v.Initial, min(v.Max, 3*min(max(prev, v.Initial), v.Max))
	case strategy.EqualJitter:
		e := strategy.Exponential{Initial: v.Initial, Max: v.Max, Base: v.Base}.Delay(n, prev)
		return e / 2, e
	}
	d := s.Delay(n, prev)
	return d, d
}
