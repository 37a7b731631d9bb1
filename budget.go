package retrysql

import "time"

// Budget limits retries across every goroutine that shares a Retrier (and so
// a database handle). The budget package has two: budget.Ratio (the
// default: 20% of recent first attempts plus 10 retries per second) and
// budget.TokenBucket.
//
// Request is called before every first attempt, so it must be cheap: no
// lock, no allocation. Retry is called when a retry is due, with the current
// time; returning false makes the loop give up at once with
// ErrBudgetExhausted. A Budget must be safe for concurrent use.
type Budget interface {
	Request()
	Retry(now time.Time) bool
}
