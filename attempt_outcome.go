package retrysql

import (
	"context"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// What the breaker sees of the loop: one attempt and its outcome, and the
// wait for the breaker when it refuses one.

// waitBreaker waits, if the breaker can say when, until it lets attempts
// through again, within ctx; it reports whether it does.
func (r *Retrier) waitBreaker(ctx context.Context) bool {
	w, ok := r.breaker.(BreakerWaiter)
	if !ok || ctx.Err() != nil {
		return false
	}
	r.stats.breakerWaits.Add(1)
	return w.Wait(ctx) == nil
}

// lastFailure returns the error of the last attempt the breaker counted
// as a failure, or nil.
func (r *Retrier) lastFailure() error {
	if e := r.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// attempt runs op once. When a breaker admitted it, an attempt that panics
// still reports to the breaker (as ignored) before the panic goes on.
func attempt[T any](ctx context.Context, op func(context.Context) (T, error), done func(Outcome)) (v T, err error) {
	if done == nil {
		return op(ctx)
	}
	finished := false
	defer func() {
		if !finished {
			done(OutcomeIgnored)
		}
	}()
	v, err = op(ctx)
	finished = true
	return v, err
}

// outcome tells the breaker what a failed attempt says about the server.
// A failed connect is evidence that the server cannot be reached or cannot
// serve: a failure. A connection that dies under a statement or a
// transaction says little (pooled connections die together in a failover,
// a restart or a network blip while the server may be fine); the pool
// replaces it, and whether the new one can be made is what counts. An
// operation run with Do has only itself to go by: a lost connection there
// is a failure, as is, anywhere, an answer that the server cannot serve
// now (Unavailable). An attempt that outlasted its own bound
// (WithAttemptTimeout, timedOut) is a lost connection, not the caller's
// cancellation.
func outcome(ctx context.Context, err error, res classify.Result, s site, timedOut bool) Outcome {
	if !timedOut && (ctx.Err() != nil || contextError(err)) {
		return OutcomeIgnored
	}
	switch {
	case res.Unavailable:
		return OutcomeFailure
	case s.place() == PlaceConnect || s.atConnect() || res.Connect:
		if res.Class == classify.ConnLost || res.Class == classify.Transient {
			return OutcomeFailure
		}
	case res.Class == classify.ConnLost && s.place() == PlaceOperation:
		return OutcomeFailure
	case res.Class == classify.ConnLost:
		return OutcomeIgnored
	}
	return OutcomeSuccess
}

// breakerChanges is implemented by CircuitBreaker: a channel closed at
// its next change of state, and its state.
type breakerChanges interface {
	changes() <-chan struct{}
	State() BreakerState
}

// sleepRetry waits d before a retry, as sleep does, and returns how long
// it waited. After a failed connect it ends early when the breaker closes
// (its probe connected: the server is back), so that a request asleep in
// a connect backoff of seconds goes on with the probe's success rather
// than at the end of its delay.
func (r *Retrier) sleepRetry(ctx context.Context, d time.Duration, connect bool) (time.Duration, error) {
	bc, ok := r.breaker.(breakerChanges)
	if !connect || !ok || d <= 0 {
		return d, sleep(ctx, d)
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		change := bc.changes()
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
			return d, nil
		case <-change:
			if bc.State() == BreakerClosed {
				return time.Since(start), nil
			}
		}
	}
}
