package retrysql

import (
	"context"

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
