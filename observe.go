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
)

var endNames = [...]string{"success", "permanent", "gave up", "ambiguous", "handed off"}

// String returns "success", "permanent", "gave up", "ambiguous" or "handed
// off".
func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return fmt.Sprintf("End(%d)", uint8(e))
}

// Completion describes one logical operation, once it has ended, to the
// OnComplete hook: a statement, a connect, a RunInTx, a Do.
type Completion struct {
	// Ctx is the operation's context, for correlation with traces.
	Ctx      context.Context
	Place    Place
	Attempts int
	// Backoff is the time slept between attempts; Elapsed the whole
	// operation's.
	Backoff, Elapsed time.Duration
	End              End
	// Reason is why retrying stopped, for EndGaveUp and EndAmbiguous.
	Reason Reason
	// Result is how the last failed attempt's error was classified (zero
	// if none failed).
	Result classify.Result
	// Err is what the operation returned.
	Err error
}

// observers are the hooks and the logger of a policy. Options add to
// them: given for a handle and for a call, both run.
type observers struct {
	onRetry    func(Event)
	onGiveUp   func(Event)
	onComplete func(Completion)
	log        *slog.Logger
}

// timed reports whether operations must be timed for a completion.
func (o *observers) timed() bool { return o.onComplete != nil }

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
// its duration and its outcome. Same rules as WithOnRetry; operations are
// timed only when it is set.
func WithOnComplete(f func(Completion)) Option {
	return kindOnComplete.with(func(cfg *config) error {
		cfg.obs.onComplete = chain(cfg.obs.onComplete, f)
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

// completed reports an operation that ended.
func (o *observers) completed(c Completion) {
	if o.onComplete != nil {
		o.onComplete(c)
	}
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
