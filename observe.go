package retrysql

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// End is how a logical operation ended.
type End uint8

const (
	// EndSuccess: an attempt succeeded.
	EndSuccess End = iota
	// EndPermanent: an error that retrying cannot cure, returned as it is.
	EndPermanent
	// EndGaveUp: retrying stopped with a retryable error (attempts, time,
	// deadline, budget, breaker; see Completion.Reason).
	EndGaveUp
	// EndAmbiguous: the outcome is unknown (ErrAmbiguous,
	// ErrAmbiguousCommit).
	EndAmbiguous
	// EndHandedOff: a lost connection of a session that had served
	// requests, handed to database/sql as driver.ErrBadConn.
	EndHandedOff
	// EndResolved: a transaction whose last COMMIT lost its answer, and
	// which the commit check (WithCommitCheck) found committed: RunInTx
	// returned its value and no error.
	EndResolved
)

var endNames = [...]string{"success", "permanent", "gave up", "ambiguous", "handed off", "resolved"}

// String returns "success", "permanent", "gave up", "ambiguous", "handed
// off" or "resolved".
func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return fmt.Sprintf("End(%d)", uint8(e))
}

// Succeeded reports whether the operation returned no error: EndSuccess,
// or EndResolved.
func (e End) Succeeded() bool { return e == EndSuccess || e == EndResolved }

// Completion describes one logical operation, once it has ended, to the
// OnComplete hook: a statement, a connect, a RunInTx, a Do.
type Completion struct {
	// Ctx is the operation's context, for correlation with traces.
	Ctx      context.Context
	Place    Place
	Attempts int
	// Backoff is the time slept between attempts.
	Backoff time.Duration
	// Elapsed is the whole operation's duration, its first attempt
	// included, when the operation was timed: it is timed when a hook of
	// the operation was given with AllOperations (the default of
	// WithOnComplete), or WithMaxElapsed is set; either makes the loop read
	// the clock as every operation starts. Otherwise Elapsed is 0: hooks
	// given with RetriedOrFailed alone cost an operation whose first
	// attempt succeeds no clock reading, and the start of the others is
	// then not known.
	Elapsed time.Duration
	End     End
	// Reason is why retrying stopped, for EndGaveUp and EndAmbiguous.
	Reason Reason
	// Result is how the last failed attempt's error was classified (zero
	// if none failed).
	Result classify.Result
	// NotCommitted counts the attempts of a RunInTx whose COMMIT lost its
	// answer and that the commit check found not committed, which were
	// then replayed (EndResolved says that the last attempt's was found
	// committed).
	NotCommitted int
	// Err is what the operation returned.
	Err error
}

// Completions says which operations a completion hook is called for.
type Completions uint8

const (
	// AllOperations: every operation, each one timed (Elapsed), which
	// costs two clock readings per operation. The default of
	// WithOnComplete.
	AllOperations Completions = iota
	// RetriedOrFailed: the operations that did not simply succeed at their
	// first attempt: those that retried (however they ended), failed, were
	// refused before any attempt, or whose lost COMMIT the commit check
	// resolved. An operation whose first attempt succeeds, the common
	// case, calls no hook and reads no clock; see Completion.Elapsed.
	RetriedOrFailed
)

// eventful reports whether c is an operation that RetriedOrFailed hooks
// are called for.
func eventful(attempts int, end End) bool { return attempts != 1 || end != EndSuccess }

// observers are the hooks and the logger of a policy. Options add to
// them: given for a handle and for a call, both run.
type observers struct {
	onRetry  func(Event)
	onGiveUp func(Event)
	// onComplete calls the completion hooks of the operations they ask
	// for: run calls it for every operation when every is set (some hook
	// asked for AllOperations: they are timed), otherwise only for those
	// that retried or failed. all and eventful are the hooks by kind.
	onComplete    func(Completion)
	every         bool
	all, eventful func(Completion)
	log           *slog.Logger
}

// WithOnRetry sets a function called before every retry, with the failed
// attempt and the delay about to be waited. It runs on the retrying
// goroutine, from many goroutines at once: it must be safe for concurrent
// use and quick. Given for a handle and for a call, both run.
func WithOnRetry(f func(Event)) Option {
	return kindOnRetry.with(func(cfg *config) error {
		cfg.obs.onRetry = chain(cfg.obs.onRetry, f)
		return nil
	})
}

// WithOnGiveUp sets a function called when retrying stops with a retryable
// error (see Stats.GiveUps), with the last attempt and the reason. Same
// rules as WithOnRetry.
func WithOnGiveUp(f func(Event)) Option {
	return kindOnGiveUp.with(func(cfg *config) error {
		cfg.obs.onGiveUp = chain(cfg.obs.onGiveUp, f)
		return nil
	})
}

// WithOnComplete sets a function called once per logical operation when it
// ends, however it ends, with its attempts, the time slept between them,
// its duration and its outcome. Same rules as WithOnRetry. which says for
// which operations (one value at most): AllOperations, the default, or
// RetriedOrFailed, for a hook that has nothing to do when the first
// attempt succeeds (metrics of retries and failures): the operations that
// succeed at once then cost nothing more, not even a clock reading.
func WithOnComplete(f func(Completion), which ...Completions) Option {
	return kindOnComplete.with(func(cfg *config) error {
		if len(which) > 1 || len(which) == 1 && which[0] > RetriedOrFailed {
			return fmt.Errorf("retrysql: WithOnComplete(f, %v): give one of AllOperations and RetriedOrFailed, or none", which)
		}
		if f == nil {
			return nil
		}
		o := &cfg.obs
		if len(which) == 1 && which[0] == RetriedOrFailed {
			o.eventful = chain(o.eventful, f)
		} else {
			o.all, o.every = chain(o.all, f), true
		}
		o.onComplete = o.all
		switch {
		case o.all == nil:
			o.onComplete = o.eventful // run calls it only for those
		case o.eventful != nil:
			all, ev := o.all, o.eventful
			o.onComplete = func(c Completion) {
				all(c)
				if eventful(c.Attempts, c.End) {
					ev(c)
				}
			}
		}
		return nil
	})
}

// WithLogger logs what the loop does to l: a retry at Debug, a give-up or
// an unknown outcome at Warn (give-ups for an empty budget at most once a
// second, with the number left out), and, for a handle's or a Retrier's
// CircuitBreaker, the circuit opening at Warn and closing at Info.
// Messages are constant; attributes use the dotted names of the metrics
// (retrysql.place, retrysql.attempt, retrysql.error.class, retrysql.reason,
// db.response.status_code, error.type) and the call's context. Queries
// and their arguments are never logged. nil switches logging off.
func WithLogger(l *slog.Logger) Option {
	return kindLogger.with(func(cfg *config) error {
		cfg.obs.log = l
		return nil
	})
}

// chain returns a function that calls f then g (either may be nil).
func chain[E any](f, g func(E)) func(E) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(e E) { f(e); g(e) }
}

// retried reports a retry about to be made.
func (o *observers) retried(ev Event) {
	if o.onRetry != nil {
		o.onRetry(ev)
	}
	if o.log != nil && o.log.Enabled(ev.Ctx, slog.LevelDebug) {
		o.log.LogAttrs(ev.Ctx, slog.LevelDebug, "retrysql: retrying", eventAttrs(ev,
			slog.Duration("retrysql.delay", ev.Delay), slog.String("error", ev.Err.Error()))...)
	}
}

// gaveUp reports a retryable failure that will not be retried; quiet
// leaves the log out (a budget refusal logged less than a second ago), and
// suppressed says how many were left out before this one.
func (o *observers) gaveUp(ev Event, quiet bool, suppressed int64) {
	if o.onGiveUp != nil {
		o.onGiveUp(ev)
	}
	if quiet || o.log == nil || !o.log.Enabled(ev.Ctx, slog.LevelWarn) {
		return
	}
	msg := "retrysql: gave up"
	if ev.Reason == ReasonAmbiguous {
		msg = "retrysql: outcome unknown"
	}
	attrs := eventAttrs(ev, slog.String("retrysql.reason", ev.Reason.Name()))
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("retrysql.suppressed", suppressed))
	}
	o.log.LogAttrs(ev.Ctx, slog.LevelWarn, msg, attrs...)
}

// resolved logs what the commit check found of a COMMIT whose answer was
// lost (res: how the error that lost it was classified): committed, or not
// (the transaction is then replayed).
func (o *observers) resolved(ctx context.Context, committed bool, res classify.Result) {
	if o.log == nil || !o.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	resolution := "not_committed"
	if committed {
		resolution = "committed"
	}
	attrs := []slog.Attr{
		slog.String("retrysql.place", PlaceTransaction.String()),
		slog.String("retrysql.resolution", resolution),
		slog.String("retrysql.error.class", res.Class.String()),
	}
	if res.Code != "" {
		attrs = append(attrs, slog.String("db.response.status_code", res.Code))
	}
	o.log.LogAttrs(ctx, slog.LevelInfo, "retrysql: commit outcome resolved", attrs...)
}

func eventAttrs(ev Event, more ...slog.Attr) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("retrysql.place", ev.Place.String()),
		slog.Int("retrysql.attempt", ev.Attempt),
		slog.String("retrysql.error.class", ev.Result.Class.String()),
	}
	if ev.Result.Code != "" {
		attrs = append(attrs, slog.String("db.response.status_code", ev.Result.Code), slog.String("error.type", ev.Result.Code))
	}
	return append(attrs, more...)
}

// logBreaker logs the state changes of b to l.
func logBreaker(b *CircuitBreaker, l *slog.Logger) {
	b.wait.listen(func(from, to BreakerState) {
		level := slog.LevelWarn
		if to == BreakerClosed {
			level = slog.LevelInfo
		}
		ctx := context.Background()
		if l.Enabled(ctx, level) {
			l.LogAttrs(ctx, level, "retrysql: circuit breaker "+to.String(),
				slog.String("retrysql.breaker.state", to.String()), slog.String("retrysql.breaker.from", from.String()))
		}
	})
}

// budgetLogQuiet reports whether a give-up for an empty budget is to be
// left out of the log: one was logged less than a second ago. It counts
// those left out and says how many in the next one logged.
func (r *Retrier) budgetLogQuiet(now time.Time) bool {
	last := r.budgetLogged.Load()
	if now.UnixNano()-last < int64(time.Second) || !r.budgetLogged.CompareAndSwap(last, now.UnixNano()) {
		r.budgetQuiet.Add(1)
		return true
	}
	return false
}
