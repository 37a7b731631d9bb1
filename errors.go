package retrysql

import (
	"errors"
	"fmt"

	"github.com/retrysql/retrysql/classify"
)

// Sentinels for why retrying stopped, matched with errors.Is. The error
// returned also wraps the last error of the operation, so errors.As still
// reaches the driver's own error (*pgconn.PgError, *mysql.MySQLError).
var (
	// ErrBudgetExhausted: a retry was due, but the retry budget shared by
	// the handle had no credit left; the last error is returned at once.
	ErrBudgetExhausted = errors.New("retrysql: retry budget exhausted")
	// ErrCircuitOpen: the circuit breaker refused the attempt because the
	// server has been failing; nothing was sent. It is never retried.
	ErrCircuitOpen = errors.New("retrysql: circuit breaker open")
	// ErrAmbiguous: the connection was lost after the request may have
	// reached the server, so it may or may not have run; it was not retried
	// because the work was not declared idempotent.
	ErrAmbiguous = errors.New("retrysql: outcome unknown: connection lost after the request may have reached the server")
	// ErrAmbiguousCommit: the connection was lost while COMMIT was in
	// flight, so the transaction may or may not have committed.
	ErrAmbiguousCommit = errors.New("retrysql: commit outcome unknown: connection lost while COMMIT was in flight")
	// ErrTxEndedByFn: the fn given to RunInTx ended the transaction itself
	// with tx.Commit or tx.Rollback. RunInTx commits; fn must not. Such a
	// transaction is never replayed: what fn committed stays committed,
	// and the error says whether it committed when RunInTx can tell.
	ErrTxEndedByFn = errors.New("retrysql: fn ended the transaction itself (tx.Commit or tx.Rollback): RunInTx commits, fn must not")
)

// txEndedError reports a transaction that fn ended itself.
type txEndedError struct {
	how string // "committed", "commit failed", "rolled back", or "" when unknown
	err error  // what fn returned, or nil
}

func (e *txEndedError) Error() string {
	what := "ended the transaction itself"
	switch e.how {
	case "committed":
		what = "committed the transaction itself: it is committed"
	case "commit failed":
		what = "called tx.Commit itself and its COMMIT failed: the transaction is not known to have committed"
	case "rolled back":
		what = "rolled the transaction back itself"
	}
	s := "retrysql: fn " + what + "; RunInTx did not replay it (RunInTx commits: fn must not call tx.Commit or tx.Rollback)"
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *txEndedError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrTxEndedByFn}
	}
	return []error{ErrTxEndedByFn, e.err}
}

// Reason says why the retry loop stopped and returned an error.
type Reason uint8

const (
	// ReasonPermanent: the last error cannot be cured by retrying.
	ReasonPermanent Reason = iota
	// ReasonAttempts: the maximum number of attempts was made.
	ReasonAttempts
	// ReasonElapsed: the next retry would have ended after the maximum
	// elapsed time.
	ReasonElapsed
	// ReasonDeadline: the next retry would have ended after the context's
	// deadline, so the loop gave up at once with the last real error.
	ReasonDeadline
	// ReasonCanceled: the context ended while waiting to retry.
	ReasonCanceled
	// ReasonBudget: the retry budget had no credit left.
	ReasonBudget
	// ReasonCircuitOpen: the circuit breaker refused the attempt.
	ReasonCircuitOpen
	// ReasonAmbiguous: the outcome is unknown and retrying could run the
	// work twice.
	ReasonAmbiguous
	// ReasonRetryAfter: the server asked to wait longer than the loop
	// honours (RetryAfter, WithMaxRetryAfter).
	ReasonRetryAfter
)

var reasonText = [...]string{
	ReasonPermanent:   "error is permanent",
	ReasonAttempts:    "attempts exhausted",
	ReasonElapsed:     "maximum elapsed time reached",
	ReasonDeadline:    "next retry would end after the context deadline",
	ReasonCanceled:    "context ended",
	ReasonBudget:      "retry budget exhausted",
	ReasonCircuitOpen: "circuit breaker open",
	ReasonAmbiguous:   "outcome unknown, not retried",
	ReasonRetryAfter:  "server asked to wait longer than the maximum",
}

// String describes the reason in a few words.
func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Name returns r's short name, from a bounded set fit for metrics and
// log attributes: "permanent", "attempts", "max_elapsed", "deadline",
// "canceled", "budget", "circuit_open", "ambiguous", "retry_after";
// "retrysql" for a value outside them.
func (r Reason) Name() string {
	if int(r) < len(reasonTypes) {
		return reasonTypes[r]
	}
	return "retrysql"
}

// Error is returned when an operation failed after more than one attempt,
// or when retrying stopped for a reason of its own (a deadline or the
// maximum elapsed time too close, the budget, the breaker, an ambiguous
// outcome). A failure of the only attempt that is not retried (a permanent
// error, or any error when retries are off with WithMaxAttempts(1)) is
// returned as it is, unwrapped.
//
// Error wraps the last error of the operation and, when there is one, the
// cause of stopping (one of the sentinels of this package, or the context's
// error), so both errors.Is and errors.As see through it.
type Error struct {
	// Attempts is the number of attempts made, the first included; 0 when
	// the circuit breaker refused the first one.
	Attempts int
	// Err is the error of the last attempt; nil when no attempt was made.
	Err error
	// Result is how Err was classified.
	Result classify.Result
	// Place is where the operation ran.
	Place Place
	// Reason is why retrying stopped.
	Reason Reason

	cause error    // sentinel or context error matched by errors.Is, or nil
	errs  [2]error // Err and cause, for Unwrap
	n     int      // how many of errs are set
}

func newError(attempts int, last error, res classify.Result, place Place, reason Reason, cause error) *Error {
	e := &Error{Attempts: attempts, Err: last, Result: res, Place: place, Reason: reason, cause: cause}
	for _, err := range [2]error{last, cause} {
		if err != nil {
			e.errs[e.n] = err
			e.n++
		}
	}
	return e
}

// Error describes the failure: why retrying stopped, after how many
// attempts, and the last error.
func (e *Error) Error() string {
	reason := e.Reason.String()
	if e.Reason == ReasonAmbiguous && e.Place == PlaceTransaction {
		reason = "commit outcome unknown, not replayed"
	}
	if e.Attempts == 0 {
		if e.Err == nil {
			return fmt.Sprintf("retrysql: %s; %s not attempted", reason, e.Place)
		}
		return fmt.Sprintf("retrysql: %s; %s not attempted; last failure: %v", reason, e.Place, e.Err)
	}
	if e.Attempts == 1 {
		return fmt.Sprintf("retrysql: %s after 1 attempt: %v", reason, e.Err)
	}
	return fmt.Sprintf("retrysql: %s after %d attempts: %v", reason, e.Attempts, e.Err)
}

var reasonTypes = [...]string{"permanent", "attempts", "max_elapsed", "deadline", "canceled", "budget", "circuit_open", "ambiguous", "retry_after"}

// ErrorType returns a short name of the failure from a bounded set, for
// metrics and traces (OpenTelemetry's semconv.ErrorType reads it): the
// vendor code of the last error when it has one ("40001", "1213"),
// otherwise why retrying stopped ("attempts", "max_elapsed", "deadline",
// "canceled", "budget", "circuit_open", "ambiguous", "retry_after",
// "permanent").
func (e *Error) ErrorType() string {
	if e.Result.Code != "" {
		return e.Result.Code
	}
	return e.Reason.Name()
}

// Unwrap returns the last error and the cause of stopping, if any.
func (e *Error) Unwrap() []error { return e.errs[:e.n] }

// Attempts returns the number of attempts recorded in err: the Attempts of
// the *Error it wraps, 1 for any other non-nil error (an error returned
// without retrying came from a single attempt), and 0 for nil.
func Attempts(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Attempts
	}
	return 1
}
