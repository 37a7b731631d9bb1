package retrysql_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/retrysql/retrysql"
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
