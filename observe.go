package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/retrysql/retrysql/classify"
)

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
	logMessages   bool // LogErrorMessages
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
// ends, however it ends (but for a panic of the operation's own code, which
// goes on up the stack without it), with its attempts, the time slept
// between them, its duration and its outcome. Same rules as WithOnRetry.
// which says for which operations (one value at most): AllOperations, the
// default, or RetriedOrFailed, for a hook that has nothing to do when the
// first attempt succeeds (metrics of retries and failures): the operations
// that succeed at once then cost nothing more, not even a clock reading.
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

// WithLogger logs what the loop does to l: a retry at Debug; a give-up or
// an unknown outcome at Warn (give-ups for an empty budget at most once a
// second, with the number left out); a lost COMMIT that the commit check
// resolved at Info; and, for a handle's or a Retrier's CircuitBreaker,
// the circuit opening at Warn, closing at Info, and its probing (half-open,
// open again after a failed probe) at Debug. Messages are constant;
// attributes use the dotted names of the metrics (retrysql.place,
// retrysql.attempt, retrysql.error.class, retrysql.reason,
// db.response.status_code, error.type; see the README for each line's),
// and the call's context goes with each line. Nothing is built for a level
// l does not log. Queries, their arguments and, unless opts include
// LogErrorMessages, the messages of errors are never logged. nil switches
// logging off.
func WithLogger(l *slog.Logger, opts ...LogOption) Option {
	return kindLogger.with(func(cfg *config) error {
		var all LogOption
		for _, o := range opts {
			all |= o
		}
		if all&^LogErrorMessages != 0 {
			return fmt.Errorf("retrysql: WithLogger: unknown LogOption %#x", uint8(all&^LogErrorMessages))
		}
		cfg.obs.log, cfg.obs.logMessages = l, all&LogErrorMessages != 0
		return nil
	})
}

// LogOption changes what WithLogger logs.
type LogOption uint8

// LogErrorMessages adds the message of the error (exception.message, as
// OpenTelemetry names it) to the lines of retries, give-ups and unknown
// outcomes. It is off by default because a message may quote the data of
// the statement: MySQL's "Duplicate entry 'alice@example.com' for key
// 'email'", PostgreSQL's "invalid input syntax for type integer: \"12a\"",
// CockroachDB's restart errors name the keys of rows, and an error that
// Do's operation returns may hold anything. The vendor code
// (db.response.status_code) and error.type are logged without it.
const LogErrorMessages LogOption = 1

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
		o.log.LogAttrs(ev.Ctx, slog.LevelDebug, "retrysql: retrying", o.eventAttrs(ev, slog.Duration("retrysql.delay", ev.Delay))...)
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
	attrs := o.eventAttrs(ev, slog.String("retrysql.reason", ev.Reason.Name()))
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

// eventAttrs returns the attributes of a line about ev, then more.
func (o *observers) eventAttrs(ev Event, more ...slog.Attr) []slog.Attr {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("retrysql.place", ev.Place.String()),
		slog.Int("retrysql.attempt", ev.Attempt),
		slog.String("retrysql.error.class", ev.Result.Class.String()))
	if ev.Result.Code != "" {
		attrs = append(attrs, slog.String("db.response.status_code", ev.Result.Code))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error.type", errorType(ev.Err, ev.Result)))
		if o.logMessages {
			attrs = append(attrs, slog.String("exception.message", ev.Err.Error()))
		}
	}
	return append(attrs, more...)
}

// errorType names err, classified as res, from a bounded set (for
// error.type): its vendor code, else an ErrorType() string in its chain
// (a *Error's), else "canceled" or "deadline_exceeded" for the context's
// errors and "bad_conn" for driver.ErrBadConn, else its Go type, as
// OpenTelemetry's semconv.ErrorType does (that of the error a marker such
// as Retryable wraps).
func errorType(err error, res classify.Result) string {
	if res.Code != "" {
		return res.Code
	}
	var et interface{ ErrorType() string }
	if errors.As(err, &et) {
		if s := et.ErrorType(); s != "" {
			return s
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, driver.ErrBadConn):
		return "bad_conn"
	}
	for m, ok := err.(*marker); ok; m, ok = err.(*marker) {
		err = m.err
	}
	return fmt.Sprintf("%T", err)
}

// logBreaker logs the state changes of b to l. An outage makes the
// default breaker probe twice a second (half-open, then open again if the
// probe fails), which is routine: those are at Debug; the circuit opening
// from closed is at Warn, and closing at Info.
func logBreaker(b *CircuitBreaker, l *slog.Logger) {
	b.wait.listen(func(from, to BreakerState) {
		level, msg := slog.LevelInfo, "retrysql: circuit breaker closed"
		switch {
		case to == BreakerOpen && from == BreakerHalfOpen:
			level, msg = slog.LevelDebug, "retrysql: circuit breaker probe failed, open again"
		case to == BreakerOpen:
			level, msg = slog.LevelWarn, "retrysql: circuit breaker opened"
		case to == BreakerHalfOpen:
			level, msg = slog.LevelDebug, "retrysql: circuit breaker half-open"
		}
		ctx := context.Background()
		if l.Enabled(ctx, level) {
			l.LogAttrs(ctx, level, msg,
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
