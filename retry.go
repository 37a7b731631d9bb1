package retrysql

import (
	"context"
	"errors"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// Retrier runs operations with a retry policy, a retry budget, a circuit
// breaker and hooks, and counts what it does. It is the one retry loop of
// retrysql: connecting, statements and RunInTx go through it, and Do and
// DoValue offer it for the work around the database (an HTTP call, a queue
// publish) with the same policy, budget and breaker.
//
// For each failed attempt the loop classifies the error and decides:
//
//   - Permanent: return the error as it is.
//   - Transient or TxAborted: retry.
//   - ConnLost: retry if the request provably never reached the server, if
//     the work was declared idempotent (WithIdempotent, Idempotent), or when
//     connecting; otherwise stop with ErrAmbiguous.
//
// A retry waits the delay given by the strategy for the error's code, or for
// connecting, or for its class. Retrying stops when the attempts run out,
// when the wait would end after the maximum elapsed time or the context's
// deadline (the loop gives up at once with the last real error rather than
// sleep into DeadlineExceeded), when the context ends during the wait (the
// wait ends at once), when the budget refuses, or when the breaker refuses
// the next attempt.
//
// The zero value retries with the default policy and has no budget, no
// breaker and no hooks; NewRetrier adds a budget and a breaker of its own.
// A Retrier is safe for concurrent use; its budget and breaker are shared by
// every goroutine that uses it.
type Retrier struct {
	policy   policy
	budget   Budget
	breaker  Breaker
	onRetry  func(Event)
	onGiveUp func(Event)
	stats    counters
}

// NewRetrier returns a Retrier with the default policy (see Option),
// DefaultMaxAttempts attempts, a budget.Ratio budget with Finagle's defaults
// and a CircuitBreaker with default settings, changed by opts.
func NewRetrier(opts ...Option) (*Retrier, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("retrysql: nil option")
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	return &Retrier{
		policy:   cfg.policy,
		budget:   cfg.budget,
		breaker:  cfg.breaker,
		onRetry:  cfg.onRetry,
		onGiveUp: cfg.onGiveUp,
	}, nil
}

// Stats returns a snapshot of the Retrier's counters.
func (r *Retrier) Stats() Stats { return r.stats.snapshot() }

// policyFor returns the Retrier's policy, or a copy changed by per-call
// options.
func (r *Retrier) policyFor(opts []Option) (*policy, error) {
	if len(opts) == 0 {
		return &r.policy, nil
	}
	cfg := config{policy: r.policy, call: true}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("retrysql: nil option")
		}
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	return &cfg.policy, nil
}

// Idempotent returns a context that declares the work done with it
// idempotent: running it twice is harmless, so a connection lost after the
// request may have reached the server is retried instead of returned as
// ErrAmbiguous.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// IsIdempotent reports whether ctx was made by Idempotent.
func IsIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}

type idempotentKey struct{}

var (
	errNilRetrier = errors.New("retrysql: nil Retrier")
	errNilOp      = errors.New("retrysql: nil operation")
	errNilContext = errors.New("retrysql: nil context")
)

// Do runs op until it succeeds or retrying stops, as described for Retrier,
// and returns nil or the error to report: the last error as it is when
// there was a single attempt and nothing else to say, otherwise an *Error
// wrapping it. op receives ctx and must honour it. opts change the policy
// for this call only.
func Do(ctx context.Context, r *Retrier, op func(context.Context) error, opts ...Option) error {
	if op == nil {
		return errNilOp
	}
	_, err := DoValue(ctx, r, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, op(ctx)
	}, opts...)
	return err
}

// DoValue is Do for an operation that returns a value: the value of the
// attempt that succeeded, or the zero value with the error.
func DoValue[T any](ctx context.Context, r *Retrier, op func(context.Context) (T, error), opts ...Option) (T, error) {
	var zero T
	switch {
	case ctx == nil:
		return zero, errNilContext
	case r == nil:
		return zero, errNilRetrier
	case op == nil:
		return zero, errNilOp
	}
	p, err := r.policyFor(opts)
	if err != nil {
		return zero, err
	}
	return run(ctx, r, p, PlaceOperation, op)
}

// run is the retry loop. A first attempt that succeeds costs a budget
// deposit, a breaker check and an attempt count: no clock reading, no
// allocation.
func run[T any](ctx context.Context, r *Retrier, p *policy, place Place, op func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if r.budget != nil {
		r.budget.Request()
	}
	var start time.Time
	if p.maxElapsed > 0 {
		start = time.Now()
	}
	var (
		prev    time.Duration
		lastErr error
		lastRes classify.Result
	)
	for attempt := 1; ; attempt++ {
		var done func(Outcome)
		if r.breaker != nil {
			d, err := r.breaker.Allow()
			if err != nil {
				r.stats.breakerRejections.Add(1)
				return zero, r.giveUp(attempt-1, lastErr, lastRes, place, ReasonCircuitOpen, ErrCircuitOpen)
			}
			done = d
		}
		r.stats.attempts.Add(1)
		v, err := call(ctx, op, done)
		if err == nil {
			if done != nil {
				done(OutcomeSuccess)
			}
			return v, nil
		}
		res := p.classify(err)
		if done != nil {
			done(outcome(ctx, err, res, place))
		}
		lastErr, lastRes = err, res

		retry, reason := p.decide(ctx, res, place)
		if !retry {
			if reason == ReasonPermanent {
				return zero, permanent(attempt, err, res, place)
			}
			return zero, r.giveUp(attempt, err, res, place, reason, ErrAmbiguous)
		}
		if ctx.Err() != nil {
			return zero, r.giveUp(attempt, err, res, place, ReasonCanceled, ctx.Err())
		}
		if attempt >= p.attempts() {
			return zero, r.giveUp(attempt, err, res, place, ReasonAttempts, nil)
		}
		delay := p.strategy(res, place).Delay(attempt, prev)
		now := time.Now()
		wake := now.Add(delay)
		if dl, ok := ctx.Deadline(); ok && !wake.Before(dl) {
			return zero, r.giveUp(attempt, err, res, place, ReasonDeadline, nil)
		}
		if p.maxElapsed > 0 && wake.Sub(start) > p.maxElapsed {
			return zero, r.giveUp(attempt, err, res, place, ReasonElapsed, nil)
		}
		if r.budget != nil && !r.budget.Retry(now) {
			r.stats.denials[res.Class%classify.NumClasses].Add(1)
			return zero, r.giveUp(attempt, err, res, place, ReasonBudget, ErrBudgetExhausted)
		}
		r.stats.retried(res)
		if r.onRetry != nil {
			r.onRetry(Event{Place: place, Attempt: attempt, Delay: delay, Result: res, Err: err})
		}
		if err := sleep(ctx, delay); err != nil {
			return zero, r.giveUp(attempt, lastErr, lastRes, place, ReasonCanceled, err)
		}
		prev = delay
	}
}

// call runs one attempt. When a breaker admitted it, an attempt that panics
// still reports to the breaker (as ignored) before the panic goes on.
func call[T any](ctx context.Context, op func(context.Context) (T, error), done func(Outcome)) (v T, err error) {
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

// decide says whether an error classified as res may be retried at place,
// or why not.
func (p *policy) decide(ctx context.Context, res classify.Result, place Place) (bool, Reason) {
	switch res.Class {
	case classify.Transient, classify.TxAborted:
		return true, 0
	case classify.ConnLost:
		if res.Unsent || place == PlaceConnect || p.idempotent || IsIdempotent(ctx) {
			return true, 0
		}
		return false, ReasonAmbiguous
	}
	return false, ReasonPermanent
}

// outcome tells the breaker what a failed attempt says about the server.
func outcome(ctx context.Context, err error, res classify.Result, place Place) Outcome {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return OutcomeIgnored
	}
	if res.Class == classify.ConnLost || place == PlaceConnect && res.Class == classify.Transient {
		return OutcomeFailure
	}
	return OutcomeSuccess
}

// permanent returns a permanent error: as it is after one attempt, wrapped
// with the attempt count after several.
func permanent(attempt int, err error, res classify.Result, place Place) error {
	if attempt == 1 {
		return err
	}
	return newError(attempt, err, res, place, ReasonPermanent, nil)
}

// giveUp counts, reports and builds the error for a retryable failure that
// will not be retried. A breaker that refuses the first attempt leaves no
// failure to give up on: it is counted as a rejection only.
func (r *Retrier) giveUp(attempts int, last error, res classify.Result, place Place, reason Reason, cause error) error {
	if attempts > 0 {
		r.stats.giveUps[res.Class%classify.NumClasses].Add(1)
		if r.onGiveUp != nil {
			r.onGiveUp(Event{Place: place, Attempt: attempts, Result: res, Err: last, Reason: reason})
		}
	}
	return newError(attempts, last, res, place, reason, cause)
}

// sleep waits for d or until ctx ends, whichever comes first, and returns
// the context's error in the second case. It leaves no timer behind.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
