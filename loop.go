package retrysql

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// A site is where an operation runs: connecting (connectSite), a statement
// outside a transaction (stmtSite), a whole transaction (txSite), or any
// other operation (opSite). The loop, run, is the same at every site; the
// site owns what differs between them: which failures may be retried
// there, what a failure tells the breaker, and whether a retry waits.
type site interface {
	place() Place
	// funds reports whether the operation is a request of the application,
	// whose first attempt deposits into the retry budget (a connect is
	// not).
	funds() bool
	// decide says what follows an attempt that failed with err, classified
	// as res. It is called once per failed attempt, before the attempt
	// limit, the deadline and the budget are consulted.
	decide(ctx context.Context, p *policy, err error, res classify.Result) decision
	// atConnect reports whether the attempt that just failed failed while
	// connecting (as does an error whose Result says Connect): its retry
	// waits as the connect strategy says, and the breaker counts it.
	atConnect() bool
	// paced reports whether a retry after res is paced by admission
	// control alone: no delay, no budget.
	paced(res classify.Result) bool
	// outer reports whether the attempts run the application's own code
	// (Do's op, RunInTx's fn), which WithAttemptTimeout bounds and whose
	// errors WithRetryIf judges.
	outer() bool
}

// A decision is a site's verdict on a failed attempt.
type decision struct {
	act    action
	reason Reason // why not, when act is stop
	cause  error  // the sentinel to wrap, when act is stop
}

type action uint8

const (
	retry   action = iota
	stop           // give up: return the error with reason and cause
	handOff        // return the error at once, as it is, for database/sql to take another connection
)

func stopWith(reason Reason, cause error) decision {
	return decision{act: stop, reason: reason, cause: cause}
}

// loopState is what the loop knows of an operation between attempts, and
// how it ended.
type loopState struct {
	attempt int           // attempts made
	prev    time.Duration // the last delay waited
	slept   time.Duration // all the delays waited
	start   time.Time     // when the first attempt began, if measured
	lastErr error
	lastRes classify.Result
	ended   bool // the operation ended (not a driver.ErrSkip detour)
	end     End
	reason  Reason
}

// run is the retry loop: it makes attempts of op until one succeeds or the
// site, the attempt limit, the deadline, the maximum elapsed time, the
// budget or the breaker says stop. One logical operation is one run: the
// attempts of a retrysql handle inside op (RunInTx's BEGIN and
// statements, a connect) are single attempts that report to it (see
// opCtx). It reports the operation to the completion hooks when there are
// any: every operation, timed, when one asked for AllOperations;
// otherwise only those that did not succeed at their first attempt.
//
// A first attempt that succeeds costs a breaker check, an attempt count
// and a budget deposit: no clock reading, no allocation; hooks asking for
// every operation add two clock readings and their own calls.
func run[T any](ctx context.Context, r *Retrier, p *policy, s site, op func(context.Context) (T, error)) (T, error) {
	var st loopState
	if p.obs.onComplete == nil {
		return loop(ctx, r, p, s, op, &st)
	}
	var start time.Time
	if p.obs.every {
		start = time.Now()
	}
	v, err := loop(ctx, r, p, s, op, &st)
	var notCommitted int
	if t, ok := s.(*txSite); ok && t.check != nil {
		var committed bool
		if committed, notCommitted = t.resolutions(); committed && st.end == EndSuccess {
			st.end = EndResolved
		}
	}
	if !st.ended || !p.obs.every && !eventful(st.attempt, st.end) {
		return v, err
	}
	if start.IsZero() {
		start = st.start // taken by the loop for WithMaxElapsed, or zero
	}
	c := Completion{Ctx: ctx, Place: s.place(), Attempts: st.attempt, Backoff: st.slept,
		End: st.end, Reason: st.reason, Result: st.lastRes, NotCommitted: notCommitted, Err: err}
	if !start.IsZero() {
		c.Elapsed = time.Since(start)
	}
	p.obs.onComplete(c)
	return v, err
}

// loop is run's loop; st says how the operation ended.
func loop[T any](ctx context.Context, r *Retrier, p *policy, s site, op func(context.Context) (T, error), st *loopState) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		st.ended, st.end, st.reason = true, EndGaveUp, ReasonCanceled
		return zero, err
	}
	if p.maxElapsed > 0 {
		st.start = time.Now()
	}
	for {
		var done func(Outcome)
		if r.breaker != nil {
			d, err := r.breaker.Allow()
			if err != nil {
				if !IsNoRetry(ctx) && r.waitBreaker(ctx) {
					continue // it lets attempts through again: ask once more
				}
				r.stats.breakerRejections.Add(1)
				last, res := st.lastErr, st.lastRes
				if st.attempt == 0 {
					// Name what the breaker opened for.
					if last = r.lastFailure(); last != nil {
						res = p.classify(last)
					}
				}
				return zero, r.giveUp(ctx, p, s, st, last, res, ReasonCircuitOpen, ErrCircuitOpen)
			}
			done = d
		}
		if st.attempt > 0 {
			r.stats.retried(st.lastRes)
		}
		var (
			v     T
			err   error
			fired bool // the attempt's own bound passed (WithAttemptTimeout)
		)
		if p.attemptTimeout > 0 && s.outer() {
			v, fired, err = bounded(ctx, p.attemptTimeout, op, done)
		} else {
			v, err = attempt(ctx, op, done)
		}
		if err == driver.ErrSkip {
			// Not a failure: the driver asks database/sql to take another
			// path (prepare, then execute), which comes back here.
			if done != nil {
				done(OutcomeIgnored)
			}
			return zero, err
		}
		st.attempt++
		r.stats.attempts.Add(1)
		if st.attempt == 1 && r.budget != nil && s.funds() {
			r.budget.Request()
		}
		st.ended = true
		if err == nil {
			if done != nil {
				done(OutcomeSuccess)
			}
			st.end = EndSuccess
			return v, nil
		}
		outer := s.outer()
		if f, ok := s.(interface{ fnsError() bool }); ok {
			outer = outer && f.fnsError()
		}
		res, hint, marked := p.judge(err, outer)
		var timedOut bool
		if fired {
			res, timedOut, err = p.timedOut(err, res, marked)
		}
		if done != nil {
			o := outcome(ctx, err, res, s, timedOut)
			if o == OutcomeFailure {
				failure := err // a copy: taking err's address would move it to the heap on every call
				r.failed.Store(&failure)
			}
			done(o)
		}
		st.lastErr, st.lastRes = err, res
		if inner, ok := retriedElsewhere(err); ok {
			// Another loop already gave up on it (an inner Do or RunInTx):
			// retrying it here would multiply its attempts.
			st.end, st.reason = EndGaveUp, inner.Reason
			return zero, err
		}

		d := s.decide(ctx, p, err, res)
		if d.act != stop && IsNoRetry(ctx) {
			// Retries are off (NoRetry): no retry here, and none by
			// database/sql on another connection either.
			d = stopWith(ReasonAttempts, nil)
		}
		switch {
		case d.act == handOff:
			st.end = EndHandedOff
			return zero, badConn(err)
		case d.act == stop && d.reason == ReasonPermanent:
			st.end = EndPermanent
			return zero, permanent(st.attempt, err, res, s.place())
		case d.act == stop:
			return zero, r.giveUp(ctx, p, s, st, err, res, d.reason, d.cause)
		case ctx.Err() != nil:
			return zero, r.giveUp(ctx, p, s, st, err, res, ReasonCanceled, ctx.Err())
		case st.attempt >= p.attempts(res.Class):
			return zero, r.giveUp(ctx, p, s, st, err, res, ReasonAttempts, nil)
		}
		paced := s.paced(res)
		var delay time.Duration
		strat := p.strategy(res, s.atConnect() || res.Connect)
		if !paced {
			delay = strat.Delay(st.attempt, st.prev)
		}
		if hint > 0 {
			var ok bool
			if delay, ok = p.hinted(strat, st.attempt, st.prev, delay, hint); !ok {
				return zero, r.giveUp(ctx, p, s, st, err, res, ReasonRetryAfter, nil)
			}
		}
		now := time.Now()
		wake := now.Add(delay)
		if dl, ok := ctx.Deadline(); ok && !wake.Before(dl) {
			return zero, r.giveUp(ctx, p, s, st, err, res, ReasonDeadline, nil)
		}
		if p.maxElapsed > 0 && wake.Sub(st.start) > p.maxElapsed {
			return zero, r.giveUp(ctx, p, s, st, err, res, ReasonElapsed, nil)
		}
		if r.budget != nil && !paced && p.budgeted(res.Class) && !r.budget.Retry(now) {
			r.stats.denials[res.Class%classify.NumClasses].Add(1)
			return zero, r.giveUp(ctx, p, s, st, err, res, ReasonBudget, ErrBudgetExhausted)
		}
		p.obs.retried(Event{Ctx: ctx, Place: s.place(), Attempt: st.attempt, Delay: delay, Result: res, Err: err})
		slept, err := r.sleepRetry(ctx, delay, s.atConnect() || res.Connect)
		if err != nil {
			return zero, r.giveUp(ctx, p, s, st, st.lastErr, st.lastRes, ReasonCanceled, err)
		}
		st.prev = delay
		st.slept += slept
	}
}
