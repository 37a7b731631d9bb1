package retrysql

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/retrysql/retrysql/admission"
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
	policy  policy
	budget  Budget
	breaker Breaker
	admit   *admission.Controller
	// poolChecked is when RunInTx last bounded admit's limit by the pool's
	// size (UnixNano).
	poolChecked atomic.Int64
	// failed is the error of the last attempt reported to the breaker as
	// a failure: what an attempt the breaker refuses names as the cause.
	failed atomic.Pointer[error]
	// budgetLogged is when a give-up for an empty budget was last logged
	// (UnixNano); budgetQuiet counts those left out since.
	budgetLogged, budgetQuiet atomic.Int64
	stats                     counters
}

// NewRetrier returns a Retrier with the default policy (see Option),
// DefaultMaxAttempts attempts, a budget.Ratio budget with Finagle's defaults
// and a CircuitBreaker with default settings, changed by opts.
func NewRetrier(opts ...Option) (*Retrier, error) {
	cfg := newConfig(scopeRetrier)
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	return cfg.build(), nil
}

// Stats returns a snapshot of the Retrier's counters.
func (r *Retrier) Stats() Stats {
	s := r.stats.snapshot()
	if b, ok := r.breaker.(interface{ State() BreakerState }); ok {
		s.Breaker = b.State()
	}
	if r.admit != nil {
		snap := r.admit.Snapshot()
		s.Admission = &snap
	}
	return s
}

// Admission returns the admission controller of RunInTx: WithAdmission's,
// a handle's default (DefaultAdmission), or nil (WithAdmission(nil), or a
// Retrier made by NewRetrier without WithAdmission).
func (r *Retrier) Admission() *admission.Controller { return r.admit }

// AllIdempotent reports whether the Retrier was made WithIdempotent: it
// treats all the work it runs as safe to run twice. Adapters that decide
// more than the loop does (retryhttp retries a status only for a request
// safe to send twice) ask it.
func (r *Retrier) AllIdempotent() bool { return r.policy.idempotent }

// Idempotent returns a context that declares the work done with it
// idempotent: running it twice is harmless, so a connection lost after the
// request may have reached the server is retried instead of returned as
// ErrAmbiguous (and a lost COMMIT replayed instead of returned as
// ErrAmbiguousCommit).
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
// wrapping it. op receives a context derived from ctx and must honour it.
// opts change the policy for this call only.
//
// Statements that op runs on a retrysql handle with that context make
// single attempts: Do's loop alone retries them, so attempts never
// multiply (a connect that fails there is retried with the connect
// strategy). Do costs one allocation, for that context.
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
	p, _, err := callPolicy(r, scopeDo, opts)
	if err != nil {
		return zero, err
	}
	o := &opCtx{Context: ctx}
	return run(o, r, p, (*opSite)(o), func(ctx context.Context) (T, error) {
		o.startAttempt()
		return op(ctx) // o, or derived from it (WithAttemptTimeout)
	})
}

// opSite is the site of an operation run with Do: the rules of Retrier's
// documentation, and nothing else.
type opSite opCtx

func (s *opSite) place() Place                   { return PlaceOperation }
func (s *opSite) funds() bool                    { return true }
func (s *opSite) atConnect() bool                { return (*opCtx)(s).connectFailed.Load() }
func (s *opSite) paced(res classify.Result) bool { return false }
func (s *opSite) outer() bool                    { return true }

func (s *opSite) decide(ctx context.Context, p *policy, err error, res classify.Result) decision {
	if res.StaleStatement && (*opCtx)(s).stale.Load() {
		return stopWith(ReasonPermanent, nil)
	}
	if ok, why := mayRepeat(res, p.idempotent || IsIdempotent(ctx)); !ok {
		if why == ReasonAmbiguous {
			return stopWith(why, ErrAmbiguous)
		}
		return stopWith(why, nil)
	}
	return decision{act: retry}
}
