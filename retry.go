package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"time"

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
	policy   policy
	budget   Budget
	breaker  Breaker
	onRetry  func(Event)
	onGiveUp func(Event)
	admit    *admission.Controller
	// poolChecked is when RunInTx last bounded admit's limit by the pool's
	// size (UnixNano).
	poolChecked atomic.Int64
	stats       counters
}

// NewRetrier returns a Retrier with the default policy (see Option),
// DefaultMaxAttempts attempts, a budget.Ratio budget with Finagle's defaults
// and a CircuitBreaker with default settings, changed by opts.
func NewRetrier(opts ...Option) (*Retrier, error) {
	cfg := defaultConfig()
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	return cfg.build(), nil
}

// Stats returns a snapshot of the Retrier's counters.
func (r *Retrier) Stats() Stats {
	s := r.stats.snapshot()
	if r.admit != nil {
		snap := r.admit.Snapshot()
		s.Admission = &snap
	}
	return s
}

// Admission returns the admission controller of RunInTx (WithAdmission),
// or nil.
func (r *Retrier) Admission() *admission.Controller { return r.admit }

// policyFor returns the Retrier's policy, or a copy changed by per-call
// options.
func (r *Retrier) policyFor(opts []Option) (*policy, error) {
	if len(opts) == 0 {
		return &r.policy, nil
	}
	cfg := config{policy: r.policy, call: true}
	if err := cfg.apply(opts); err != nil {
		return nil, err
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
	return run(ctx, r, p, &call{}, op)
}

// A call describes one operation to the loop: where it runs and what the
// caller knows of it. The zero call is an operation run with Do.
type call struct {
	place Place
	// noDeposit: the operation is not a request of the application (a
	// connect), so it funds no retries.
	noDeposit bool
	// idempotent: running the operation twice is harmless (BEGIN, PREPARE,
	// a read the handle's policy declared idempotent).
	idempotent bool
	// handoff, for a statement outside a transaction: a lost connection is
	// not retried on this connection but handed back to database/sql as
	// driver.ErrBadConn once the backoff is over, so that it runs the
	// statement again on another connection; the loop's state waits in the
	// ledger under key, so that the next call continues the count instead
	// of starting afresh.
	handoff *ledger
	key     string
	// inCommit, for a transaction: the attempt failed while COMMIT was in
	// flight (set by the attempt itself).
	inCommit bool
	// readOnly, for a transaction: it was begun READ ONLY, so it wrote
	// nothing and a lost COMMIT is harmless.
	readOnly bool
	// noBreaker: the operation's own statements and connects consult the
	// breaker (RunInTx on a retrysql handle), so the loop around them must
	// not: a half-open breaker lets one probe through, and the outer loop
	// would take it from its own statements.
	noBreaker bool
	// admitted, for a transaction: its attempts hold admission permits,
	// which pace the retries after contention errors, so those retries
	// neither wait nor draw from the budget.
	admitted bool
}

// loopState is what the loop knows of an operation between attempts.
type loopState struct {
	attempt  int           // attempts made
	handoffs int           // times handed back to database/sql
	prev     time.Duration // the last delay waited
	start    time.Time     // when the first attempt began, if measured
}

// maxHandoffs is how many times database/sql tries a statement again after
// driver.ErrBadConn: its maxBadConnRetries (2) on cached or new
// connections, then once on a new one, so three tries and two handoffs.
const maxHandoffs = 2

// run is the retry loop. A first attempt that succeeds costs a budget
// deposit, a breaker check and an attempt count: no clock reading, no
// allocation.
func run[T any](ctx context.Context, r *Retrier, p *policy, c *call, op func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	var st loopState
	resumed := false
	if c.handoff != nil && c.handoff.n.Load() != 0 {
		st, resumed = c.handoff.take(ctx, c.key)
	}
	if !resumed && p.maxElapsed > 0 {
		st.start = time.Now()
	}
	var (
		lastErr error
		lastRes classify.Result
	)
	for {
		var done func(Outcome)
		if r.breaker != nil && !c.noBreaker {
			d, err := r.breaker.Allow()
			if err != nil {
				r.stats.breakerRejections.Add(1)
				return zero, r.giveUp(c, st.attempt, lastErr, lastRes, ReasonCircuitOpen, ErrCircuitOpen)
			}
			done = d
		}
		v, err := attempt(ctx, op, done)
		if err == driver.ErrSkip {
			// Not a failure: the driver asks database/sql to take another
			// path (prepare, then execute), which will come back here.
			if done != nil {
				done(OutcomeIgnored)
			}
			return zero, err
		}
		st.attempt++
		r.stats.attempts.Add(1)
		if st.attempt == 1 && !c.noDeposit && r.budget != nil {
			r.budget.Request()
		}
		if err == nil {
			if done != nil {
				done(OutcomeSuccess)
			}
			return v, nil
		}
		res := p.classify(err)
		if done != nil {
			done(outcome(ctx, err, res, c.place))
		}
		lastErr, lastRes = err, res

		if ctx.Err() != nil && c.cutShort(ctx, p, err, res) {
			// The caller's context ended while a write or a COMMIT was in
			// flight: it may or may not have happened.
			return zero, newError(st.attempt, err, res, c.place, ReasonAmbiguous, c.ambiguity())
		}
		retry, reason := p.decide(ctx, res, c)
		if !retry {
			if reason == ReasonPermanent {
				return zero, permanent(st.attempt, err, res, c.place)
			}
			return zero, r.giveUp(c, st.attempt, err, res, reason, c.ambiguity())
		}
		if ctx.Err() != nil {
			return zero, r.giveUp(c, st.attempt, err, res, ReasonCanceled, ctx.Err())
		}
		if st.attempt >= p.attempts(res.Class) {
			return zero, r.giveUp(c, st.attempt, err, res, ReasonAttempts, nil)
		}
		handoff := c.handoff != nil && res.Class == classify.ConnLost
		if handoff && st.handoffs >= maxHandoffs {
			// database/sql has made its last try: it would not come back.
			return zero, r.giveUp(c, st.attempt, err, res, ReasonNewConnection, nil)
		}
		paced := c.admitted && contention(res)
		var delay time.Duration
		if !paced {
			delay = p.strategy(res, c.place).Delay(st.attempt, st.prev)
		}
		now := time.Now()
		wake := now.Add(delay)
		if dl, ok := ctx.Deadline(); ok && !wake.Before(dl) {
			return zero, r.giveUp(c, st.attempt, err, res, ReasonDeadline, nil)
		}
		if p.maxElapsed > 0 && wake.Sub(st.start) > p.maxElapsed {
			return zero, r.giveUp(c, st.attempt, err, res, ReasonElapsed, nil)
		}
		if r.budget != nil && !paced && p.budgeted(res.Class) && !r.budget.Retry(now) {
			r.stats.denials[res.Class%classify.NumClasses].Add(1)
			return zero, r.giveUp(c, st.attempt, err, res, ReasonBudget, ErrBudgetExhausted)
		}
		r.stats.retried(res)
		if r.onRetry != nil {
			r.onRetry(Event{Place: c.place, Attempt: st.attempt, Delay: delay, Result: res, Err: err})
		}
		if err := sleep(ctx, delay); err != nil {
			return zero, r.giveUp(c, st.attempt, lastErr, lastRes, ReasonCanceled, err)
		}
		st.prev = delay
		if handoff {
			// This connection is lost: database/sql makes the next attempt
			// on another one, and the ledger lets it count as ours.
			st.handoffs++
			c.handoff.put(ctx, c.key, st)
			return zero, newError(st.attempt, err, res, c.place, reasonHandoff, driver.ErrBadConn)
		}
	}
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

// decide says whether an error classified as res may be retried for c, or
// why not.
func (p *policy) decide(ctx context.Context, res classify.Result, c *call) (bool, Reason) {
	switch res.Class {
	case classify.Transient:
		if c.readOnly && res.Code == readOnlyTransaction {
			// The transaction was begun READ ONLY: the write is the
			// application's mistake, not a failover.
			return false, ReasonPermanent
		}
		return true, 0
	case classify.TxAborted:
		return true, 0
	case classify.ConnLost:
		if res.Unsent || c.place == PlaceConnect || c.idempotent || p.idempotent || IsIdempotent(ctx) {
			return true, 0
		}
		if c.place == PlaceTransaction && (!c.inCommit || c.readOnly) {
			// Before COMMIT the server rolls the transaction back with its
			// connection; a read-only transaction wrote nothing.
			return true, 0
		}
		return false, ReasonAmbiguous
	}
	return false, ReasonPermanent
}

// cutShort reports whether an attempt that failed after the caller's
// context ended left its outcome unknown: a statement that is not
// idempotent and may have reached the server, or a COMMIT in flight. (A
// transaction cut short before its COMMIT was rolled back: that failure is
// definite.)
func (c *call) cutShort(ctx context.Context, p *policy, err error, res classify.Result) bool {
	if c.idempotent || p.idempotent || IsIdempotent(ctx) || res.Unsent || classify.NotSent(err) {
		return false
	}
	switch c.place {
	case PlaceStatement:
		return true
	case PlaceTransaction:
		return c.inCommit && !c.readOnly
	}
	return false
}

// ambiguity is the sentinel of an unknown outcome at c's place.
func (c *call) ambiguity() error {
	if c.place == PlaceTransaction {
		return ErrAmbiguousCommit
	}
	return ErrAmbiguous
}

// contention reports an error of transactions getting in each other's way:
// a deadlock or a serialization failure (tx-aborted), or a lock that could
// not be had in time (PostgreSQL 55P03, MySQL 1205 and 3572).
func contention(res classify.Result) bool {
	if res.Class == classify.TxAborted {
		return true
	}
	switch res.Code {
	case "55P03", "1205", "3572":
		return res.Class == classify.Transient
	}
	return false
}

// readOnlyTransaction is PostgreSQL's read_only_sql_transaction (25006).
const readOnlyTransaction = "25006"

// outcome tells the breaker what a failed attempt says about the server.
//
// On a database handle only connecting is evidence: a refused or failed
// connect, or a "not now" answer to it, is a failure. A connection that
// dies under a statement or a transaction says little (pooled connections
// die together in a failover, a restart or a network blip, while the server
// may be fine); the pool replaces it, and whether that new connection can
// be made is what counts. An operation run with Do has only itself to go
// by: a lost connection there is a failure.
func outcome(ctx context.Context, err error, res classify.Result, place Place) Outcome {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return OutcomeIgnored
	}
	switch place {
	case PlaceConnect:
		if res.Class == classify.ConnLost || res.Class == classify.Transient {
			return OutcomeFailure
		}
	case PlaceOperation:
		if res.Class == classify.ConnLost {
			return OutcomeFailure
		}
	default:
		if res.Class == classify.ConnLost {
			return OutcomeIgnored
		}
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
func (r *Retrier) giveUp(c *call, attempts int, last error, res classify.Result, reason Reason, cause error) error {
	if attempts > 0 {
		r.stats.giveUps[res.Class%classify.NumClasses].Add(1)
		if r.onGiveUp != nil {
			r.onGiveUp(Event{Place: c.place, Attempt: attempts, Result: res, Err: last, Reason: reason})
		}
	}
	if c.place != PlaceOperation && errors.Is(last, driver.ErrBadConn) {
		// database/sql would retry an error matching ErrBadConn on its own,
		// multiplying the attempts the loop has just refused (and a
		// connector must never return it).
		last = &lostConnection{msg: last.Error()}
	}
	return newError(attempts, last, res, c.place, reason, cause)
}

// lostConnection stands for a driver.ErrBadConn the loop gives up on, with
// its text but without matching it.
type lostConnection struct{ msg string }

func (e *lostConnection) Error() string { return e.msg }

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
