package strategy

import "time"

// Hinter is implemented by a strategy that decides itself how a server's
// hint (an HTTP Retry-After, an error marked with retrysql.RetryAfter)
// combines with its own delay.
//
// Without it, retrysql waits the longer of the two: a hint lengthens the
// strategy's delay and never shortens it. With it, retrysql waits what
// DelayHint returns for a retry with a hint > 0, capped at the longer of
// the maximum hint honoured (retrysql.WithMaxRetryAfter,
// retrysql.DefaultMaxRetryAfter by default) and what Delay returns for
// the same retry: a Hinter may shorten the wait, and lengthen it up to
// the maximum, but a hint never makes it wait longer than both. The
// loop's other bounds hold too: a hint longer than the maximum, or a
// wait that would end after the context's deadline, ends retrying at
// once. DelayHint has Delay's contract (safe for concurrent use, no
// per-operation state); a negative result is 0.
type Hinter interface {
	DelayHint(n int, prev, hint time.Duration) time.Duration
}

// FollowHint waits what the server asks, shorter or longer than
// Strategy's own delay; without a hint it is Strategy. Use it when the
// server's hint is trustworthy and precise (a rate limiter that says when
// the next slot opens), so that a short hint is not padded to the
// strategy's delay.
//
// The zero value (no Strategy) waits nothing without a hint and is
// refused by Validate.
type FollowHint struct {
	Strategy Strategy
}

var _ Hinter = FollowHint{}

// Delay returns Strategy's delay, or 0 when Strategy is nil.
func (f FollowHint) Delay(n int, prev time.Duration) time.Duration {
	if f.Strategy == nil {
		return 0
	}
	return f.Strategy.Delay(n, prev)
}

// DelayHint returns hint: the server's wait, as it is (0 if negative).
func (f FollowHint) DelayHint(n int, prev, hint time.Duration) time.Duration {
	return nonNeg(hint)
}

// Validate reports a missing Strategy, or what Strategy's own Validate
// reports.
func (f FollowHint) Validate() error {
	if f.Strategy == nil {
		return invalid("follow hint", "no strategy for the retries without a hint")
	}
	if v, ok := f.Strategy.(Validator); ok {
		return v.Validate()
	}
	return nil
}
