package budget_test

import (
	"testing"
	"time"

	"github.com/retrysql/retrysql/budget"
)

// Regression tests of the budgets' bugs that an audit found on
// 2026-12-08; each failed on the code before its fix.

// TestTokenBucketRateNotExceeded: over any period of length T the bucket
// grants at most Burst + Rate·T retries, also at rates whose interval
// between tokens is not a whole number of nanoseconds (it was truncated:
// NewTokenBucket(6e8, 1) refilled every nanosecond, 1.67 times the rate).
func TestTokenBucketRateNotExceeded(t *testing.T) {
	for _, rate := range []float64{6e8, 3e8, 1.5e8} {
		b, err := budget.NewTokenBucket(rate, 1)
		if err != nil {
			t.Fatal(err)
		}
		const span = 10 * time.Microsecond
		granted := 0
		for d := time.Duration(0); d <= span; d++ {
			for b.Retry(b.Start().Add(d)) {
				granted++
			}
		}
		if bound := 1 + rate*span.Seconds(); float64(granted) > bound {
			t.Errorf("rate %g, burst 1: %d retries granted over %v, more than Burst + Rate·T = %.0f", rate, granted, span, bound)
		}
	}
}

// TestTokensNeverNegative: callers read the clock on many goroutines, so a
// Retry may be granted at a time later than the now another goroutine then
// passes to Tokens (it read the clock, was preempted, the other took the
// last token). Tokens, and Ratio.Credit's fromFloor, then say 0, not a
// negative number of tokens.
func TestTokensNeverNegative(t *testing.T) {
	b, err := budget.NewTokenBucket(1000, 1) // a token per millisecond
	if err != nil {
		t.Fatal(err)
	}
	start := b.Start()
	seen := start.Add(time.Second)                             // goroutine A reads the clock
	if !b.Retry(start.Add(time.Second + 5*time.Millisecond)) { // B takes the token 5ms later
		t.Fatal("a full bucket refused a retry")
	}
	if got := b.Tokens(seen); got < 0 {
		t.Errorf("Tokens = %d, a negative number of tokens", got)
	}
	r, err := budget.NewRatio(0, 1000, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	seen = r.Start().Add(time.Second)
	if !r.Retry(r.Start().Add(time.Second + 5*time.Millisecond)) {
		t.Fatal("the floor refused a retry")
	}
	if _, floor := r.Credit(seen); floor < 0 {
		t.Errorf("Ratio.Credit fromFloor = %d, negative", floor)
	}
}
