package retrysql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// NoRetry returns a context that turns retries off for the work done with
// it: every operation of retrysql that runs with it (a Do, a RunInTx, a
// statement or a connect of a retrysql handle) makes a single attempt,
// and its failure is returned as it is, never handed to database/sql to
// try on another connection. An open circuit breaker refuses it at once
// (ErrCircuitOpen) rather than making it wait for the half-open probe.
// Use it where a retry is wrong or too slow: SELECT ... FOR UPDATE
// NOWAIT, whose "lock not available" means "skip this row", and
// latency-critical paths that prefer an error now to a success later.
//
//	err := db.QueryRowContext(retrysql.NoRetry(ctx),
//		"SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT", id).Scan(&id)
func NoRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

// IsNoRetry reports whether ctx was made by NoRetry.
func IsNoRetry(ctx context.Context) bool {
	v, _ := ctx.Value(noRetryKey{}).(bool)
	return v
}

type noRetryKey struct{}

// ErrAttemptTimeout is matched by the error of an attempt that
// outlasted WithAttemptTimeout (the error also wraps what the attempt
// returned, a context.DeadlineExceeded most often).
var ErrAttemptTimeout = errors.New("retrysql: attempt timed out")

// attemptTimeoutError is the error of an attempt that outlasted its bound.
type attemptTimeoutError struct {
	err   error
	bound time.Duration
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("retrysql: attempt timed out after %v: %v", e.bound, e.err)
}

func (e *attemptTimeoutError) Unwrap() []error { return []error{ErrAttemptTimeout, e.err} }

// bounded runs one attempt of op under a context that ends bound after
// it began (or when ctx ends, if sooner), and reports whether the attempt
// failed because its own bound passed while ctx went on.
func bounded[T any](ctx context.Context, bound time.Duration, op func(context.Context) (T, error), done func(Outcome)) (v T, fired bool, err error) {
	actx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	v, err = attempt(actx, op, done)
	return v, err != nil && actx.Err() != nil && ctx.Err() == nil, err
}

// timedOut returns what the loop makes of the error of an attempt whose
// bound passed (fired): if it failed for that reason (the context's
// error, or a connection the cancellation broke), an error matching
// ErrAttemptTimeout, and, unless a marker decided, a lost connection
// whose request may have been sent (unless the error says it was not).
// timedOut is false, and err and res come back as they were, when the
// attempt failed for another reason.
func (p *policy) timedOut(err error, res classify.Result, marked bool) (_ classify.Result, timedOut bool, _ error) {
	if !errors.Is(err, context.DeadlineExceeded) && res.Class != classify.ConnLost {
		return res, false, err
	}
	if !marked && res.Class == classify.Permanent {
		res = classify.Result{Class: classify.ConnLost, Unsent: classify.NotSent(err)}
	}
	return res, true, &attemptTimeoutError{err: err, bound: p.attemptTimeout}
}

// hinted returns the wait before retry n when the server asked for hint
// (> 0) and s, whose own delay is own, is the strategy: the longer of the
// two, unless s decides (strategy.Hinter), within [0, max(limit, own)]
// where limit is the maximum hint: a Hinter may shorten the wait or
// lengthen it up to the maximum, never past both the maximum and its own
// delay. ok is false when the hint is longer than the policy honours.
func (p *policy) hinted(s strategy.Strategy, n int, prev, own, hint time.Duration) (time.Duration, bool) {
	limit := p.maxRetryAfter
	if limit == 0 {
		limit = DefaultMaxRetryAfter
	}
	if hint > limit {
		return 0, false
	}
	if h, ok := s.(strategy.Hinter); ok {
		return min(max(h.DelayHint(n, prev, hint), 0), max(limit, own)), true
	}
	return max(own, hint), true
}
