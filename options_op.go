package retrysql

import (
	"errors"
	"fmt"
	"time"
)

// The options for operations of the application's own (Do's op,
// RunInTx's fn): given to a Retrier, or to one call.
var (
	kindRetryIf        = optionKind{"WithRetryIf", operations, true}
	kindAttemptTimeout = optionKind{"WithAttemptTimeout", operations, true}
	kindMaxRetryAfter  = optionKind{"WithMaxRetryAfter", operations, true}
)

// operations is where the options of operations are valid: not on a
// handle, whose statements' errors are the driver's and whose rows
// outlive an attempt.
const operations = scopeRetrier | scopeDo | scopeTx

// WithRetryIf makes the errors of Do's op (or RunInTx's fn and BEGIN, not
// COMMIT's, whose outcome may be unknown) for which retryable reports true
// transient, and so retried: it is asked about
// every error that carries no marker and that the classifier calls
// permanent, except a context's end (context.Canceled,
// context.DeadlineExceeded; for a time limit per attempt use
// WithAttemptTimeout). It cannot make an error permanent (Permanent does)
// nor a lost connection unambiguous (Idempotent does), and the statements
// of a handle never consult it. retryable is called on the retrying
// goroutine, from many goroutines at once: it must be safe for concurrent
// use and quick.
//
//	err := retrysql.Do(ctx, r, call, retrysql.WithRetryIf(func(err error) bool {
//		var apiErr *api.Error
//		return errors.As(err, &apiErr) && apiErr.Temporary
//	}))
func WithRetryIf(retryable func(err error) bool) Option {
	return kindRetryIf.with(func(cfg *config) error {
		if retryable == nil {
			return errors.New("retrysql: WithRetryIf(nil)")
		}
		cfg.retryIf = retryable
		return nil
	})
}

// WithAttemptTimeout bounds every attempt of Do's op (or RunInTx's fn,
// BEGIN and COMMIT included) by d: each attempt gets a context that ends
// d after it began, or when the call's context ends if sooner. An attempt
// that fails because its own bound passed fails with an error matching
// ErrAttemptTimeout and is a lost connection whose request may have been
// sent: it is retried if it provably was not sent or the work is
// idempotent (WithIdempotent, Idempotent), returned as ErrAmbiguous
// otherwise, and counted by the breaker as a failure of Do's server. In
// RunInTx it replays the transaction, unless it cut COMMIT short
// (ErrAmbiguousCommit). A statement cut short by its context leaves its
// connection broken, and database/sql drops it.
//
// The attempt's context ends when the attempt returns: the op must not
// return what reads from it later (a *sql.Rows, say). d must not be
// negative; 0, the default, bounds attempts by the call's context alone.
func WithAttemptTimeout(d time.Duration) Option {
	return kindAttemptTimeout.with(func(cfg *config) error {
		if d < 0 {
			return fmt.Errorf("retrysql: attempt timeout %v is negative", d)
		}
		cfg.attemptTimeout = d
		return nil
	})
}

// WithMaxRetryAfter sets the longest wait a server's hint (RetryAfter, an
// HTTP Retry-After) obtains; a longer one ends retrying at once
// (ReasonRetryAfter) rather than retrying earlier than asked. It also
// caps what a strategy.Hinter makes of a hint, at d or the strategy's
// own delay if longer. d must be positive; the default is
// DefaultMaxRetryAfter.
func WithMaxRetryAfter(d time.Duration) Option {
	return kindMaxRetryAfter.with(func(cfg *config) error {
		if d <= 0 {
			return fmt.Errorf("retrysql: maximum Retry-After %v must be positive", d)
		}
		cfg.maxRetryAfter = d
		return nil
	})
}
