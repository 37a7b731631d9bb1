package retrysql_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// TestBreakerCountsConsecutiveFailures checks, one attempt at a time, that
// the fast path keeps gobreaker's rule exact: failures separated by
// successes never open the circuit, a run of them does.
func TestBreakerCountsConsecutiveFailures(t *testing.T) {
	br, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 3, OpenFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	attempt := func(o retrysql.Outcome) error {
		done, err := br.Allow()
		if err != nil {
			return err
		}
		done(o)
		return nil
	}
	pattern := []retrysql.Outcome{
		retrysql.OutcomeFailure, retrysql.OutcomeFailure, retrysql.OutcomeSuccess,
		retrysql.OutcomeFailure, retrysql.OutcomeIgnored, retrysql.OutcomeFailure, retrysql.OutcomeSuccess,
		retrysql.OutcomeSuccess, retrysql.OutcomeFailure, retrysql.OutcomeSuccess,
	}
	for range 5 {
		for i, o := range pattern {
			if err := attempt(o); err != nil {
				t.Fatalf("attempt %d refused: %v", i, err)
			}
		}
	}
	if br.State() != retrysql.BreakerClosed {
		t.Fatalf("state %v after interleaved failures", br.State())
	}
	for i := range 3 {
		if err := attempt(retrysql.OutcomeFailure); err != nil {
			t.Fatalf("failure %d refused: %v", i, err)
		}
	}
	if br.State() != retrysql.BreakerOpen || attempt(retrysql.OutcomeSuccess) == nil {
		t.Fatalf("three failures in a row left the breaker %v", br.State())
	}
}

// TestBreakerUnderConcurrency hammers one breaker from 64 goroutines: while
// every attempt fails it must open, and once attempts succeed again it must
// close. Run with -race.
func TestBreakerUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		br, _ := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 10, OpenFor: 100 * time.Millisecond, Probes: 2})
		var failing atomic.Bool
		var refused atomic.Int64
		run := func() {
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for range 200 {
						done, err := br.Allow()
						if err != nil {
							refused.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						if failing.Load() {
							done(retrysql.OutcomeFailure)
						} else {
							done(retrysql.OutcomeSuccess)
						}
					}
				})
			}
			wg.Wait()
		}
		run()
		if br.State() != retrysql.BreakerClosed || refused.Load() != 0 {
			t.Fatalf("healthy: state %v, %d refused", br.State(), refused.Load())
		}
		failing.Store(true)
		run()
		if br.State() == retrysql.BreakerClosed || refused.Load() == 0 {
			t.Fatalf("failing: state %v, %d refused", br.State(), refused.Load())
		}
		failing.Store(false)
		time.Sleep(time.Second)
		run()
		if br.State() != retrysql.BreakerClosed {
			t.Fatalf("recovered: state %v", br.State())
		}
	})
}

func TestZeroCircuitBreakerNeverOpens(t *testing.T) {
	var br retrysql.CircuitBreaker
	for range 100 {
		done, err := br.Allow()
		if err != nil {
			t.Fatal(err)
		}
		if done != nil {
			done(retrysql.OutcomeFailure)
		}
	}
	if br.State() != retrysql.BreakerClosed {
		t.Fatal("zero breaker opened")
	}
}

// TestConnectBackoffEndsWhenTheBreakerCloses: a request asleep in a long
// connect backoff goes on as soon as the breaker closes (another request's
// probe connected), not at the end of its delay; a request whose failure
// was not a connect sleeps its whole delay.
func TestConnectBackoffEndsWhenTheBreakerCloses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		res       classify.Result
		wantAfter time.Duration
	}{
		{"failed connect", classify.Result{Class: classify.ConnLost, Unsent: true, Connect: true}, 200 * time.Millisecond},
		{"lock timeout", classify.Result{Class: classify.Transient, Unavailable: true}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cb, err := retrysql.NewCircuitBreaker(retrysql.BreakerSettings{Failures: 1, OpenFor: 100 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				r, err := retrysql.NewRetrier(retrysql.WithBreaker(cb), retrysql.WithBudget(nil),
					retrysql.WithStrategy(tc.res.Class, strategy.Fixed{Interval: 5 * time.Second}),
					retrysql.WithConnectStrategy(strategy.Fixed{Interval: 5 * time.Second}))
				if err != nil {
					t.Fatal(err)
				}
				down := retrysql.Classified(errors.New("down"), tc.res)
				start := time.Now()
				type result struct {
					after time.Duration
					calls int
				}
				res := make(chan result, 1)
				go func() {
					calls := 0
					err := retrysql.Do(t.Context(), r, func(context.Context) error {
						calls++
						if calls == 1 {
							return down // opens the breaker, then sleeps 5s
						}
						return nil
					})
					if err != nil {
						t.Error(err)
					}
					res <- result{time.Since(start), calls}
				}()
				time.Sleep(200 * time.Millisecond) // the open period is over: the next request probes
				if err := retrysql.Do(t.Context(), r, func(context.Context) error { return nil }); err != nil {
					t.Fatal(err)
				}
				if cb.State() != retrysql.BreakerClosed {
					t.Fatalf("breaker %v after the probe, want closed", cb.State())
				}
				got := <-res
				if got.after != tc.wantAfter || got.calls != 2 {
					t.Fatalf("the sleeping request went on after %v with %d calls, want %v and 2", got.after, got.calls, tc.wantAfter)
				}
			})
		})
	}
}
