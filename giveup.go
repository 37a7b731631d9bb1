package retrysql

import (
	"context"
	"time"

	"github.com/retrysql/retrysql/classify"
)

// How the loop ends when it does not succeed.

// permanent returns a permanent error: as it is after one attempt, wrapped
// with the attempt count after several.
func permanent(attempts int, err error, res classify.Result, place Place) error {
	if attempts == 1 {
		return err
	}
	return newError(attempts, err, res, place, ReasonPermanent, nil)
}

// giveUp counts, reports and builds the error for a retryable failure that
// will not be retried, and notes in st how the operation ended. A breaker
// that refuses the first attempt leaves no failure to give up on: it is
// counted as a rejection only. When retries were off (the attempt limit
// is 1) the error is returned as it is.
func (r *Retrier) giveUp(ctx context.Context, p *policy, s site, st *loopState, last error, res classify.Result, reason Reason, cause error) error {
	st.ended, st.end, st.reason = true, EndGaveUp, reason
	if reason == ReasonAmbiguous {
		st.end = EndAmbiguous
	}
	attempts := st.attempt
	if attempts > 0 {
		r.stats.giveUps[res.Class%classify.NumClasses].Add(1)
		var quiet bool
		var suppressed int64
		if reason == ReasonBudget && p.obs.log != nil {
			if quiet = r.budgetLogQuiet(time.Now()); !quiet {
				suppressed = r.budgetQuiet.Swap(0)
			}
		}
		p.obs.gaveUp(Event{Ctx: ctx, Place: s.place(), Attempt: attempts, Result: res, Err: last, Reason: reason}, quiet, suppressed)
	}
	if s.place() != PlaceOperation {
		// database/sql would retry an error matching ErrBadConn on its own,
		// multiplying the attempts the loop has just refused (and a
		// connector must never return it).
		last = notBadConn(last)
	}
	if attempts == 1 && reason == ReasonAttempts {
		return last
	}
	return newError(attempts, last, res, s.place(), reason, cause)
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
