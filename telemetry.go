package retrysql

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
)

// Place is where a retry happens.
type Place uint8

const (
	// PlaceOperation is any operation run with Do or DoValue.
	PlaceOperation Place = iota
	// PlaceConnect is opening a connection.
	PlaceConnect
	// PlaceStatement is a single statement outside a transaction.
	PlaceStatement
	// PlaceTransaction is a whole transaction run with RunInTx.
	PlaceTransaction
)

var placeNames = [...]string{"operation", "connect", "statement", "transaction"}

// String returns "operation", "connect", "statement" or "transaction".
func (p Place) String() string {
	if int(p) < len(placeNames) {
		return placeNames[p]
	}
	return fmt.Sprintf("Place(%d)", uint8(p))
}

// Event describes a failed attempt to the OnRetry and OnGiveUp hooks.
type Event struct {
	// Ctx is the operation's context, for correlation with traces.
	Ctx   context.Context
	Place Place
	// Attempt is the number of the attempt that failed, 1 for the first.
	Attempt int
	// Delay is, for OnRetry, the wait before the next attempt; 0 for
	// OnGiveUp.
	Delay time.Duration
	// Result is how Err was classified: class, vendor code, unsent.
	Result classify.Result
	// Err is the error of the attempt.
	Err error
	// Reason is, for OnGiveUp, why retrying stopped.
	Reason Reason
}

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

// eventful reports whether an operation that made attempts and ended with
// end is one of those RetriedOrFailed hooks are called for.
func eventful(attempts int, end End) bool { return attempts != 1 || end != EndSuccess }

// Stats is a snapshot of a Retrier's counters since it was created.
type Stats struct {
	// Attempts counts every attempt made, first attempts included.
	Attempts uint64
	// Retries counts attempts after the first.
	Retries uint64
	// GiveUps counts operations that ended with a retryable error because
	// retrying stopped (attempts, time, deadline, budget, breaker, an
	// ambiguous outcome); permanent errors are not give-ups.
	GiveUps uint64
	// BudgetDenials counts retries the budget refused.
	BudgetDenials uint64
	// BreakerRejections counts operations that ended because the circuit
	// breaker refused an attempt (after waiting for it, as long as it or the
	// context allowed).
	BreakerRejections uint64
	// BreakerWaits counts the waits for a refusing breaker to let attempts
	// through again (see BreakerWaiter).
	BreakerWaits uint64
	// Resolved counts the lost COMMITs that the commit check
	// (WithCommitCheck) resolved: found committed, or found not committed
	// (and replayed).
	Resolved struct{ Committed, NotCommitted uint64 }
	// ByClass splits retries, give-ups and denials by the class of the
	// error that caused them; index it with a classify.Class.
	ByClass [classify.NumClasses]ClassStats
	// RetriesByCode counts retries by vendor code (only errors that have
	// one). It is a copy, free to modify.
	RetriesByCode map[string]uint64
	// Admission is the state of RunInTx's admission control (limit,
	// queue, waits, escalations), nil without a controller
	// (Retrier.Admission).
	Admission *admission.Snapshot
	// Breaker is the state of the circuit breaker: closed when there is
	// none, or when it cannot tell (it has no State() BreakerState method).
	Breaker BreakerState
}

// ClassStats are the counters of one error class.
type ClassStats struct {
	Retries, GiveUps, BudgetDenials uint64
}

// counters are kept with atomics; only the by-code map, touched on retries
// alone, takes a lock.
type counters struct {
	attempts          atomic.Uint64
	_                 [56]byte // attempts is written on every call; keep it alone
	breakerRejections atomic.Uint64
	breakerWaits      atomic.Uint64
	resolved          [2]atomic.Uint64 // not committed, committed
	retries           [classify.NumClasses]atomic.Uint64
	giveUps           [classify.NumClasses]atomic.Uint64
	denials           [classify.NumClasses]atomic.Uint64

	mu     sync.Mutex
	byCode map[string]uint64
}

func (c *counters) retried(res classify.Result) {
	c.retries[res.Class%classify.NumClasses].Add(1)
	if res.Code == "" {
		return
	}
	c.mu.Lock()
	if c.byCode == nil {
		c.byCode = make(map[string]uint64)
	}
	c.byCode[res.Code]++
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Attempts:          c.attempts.Load(),
		BreakerRejections: c.breakerRejections.Load(),
		BreakerWaits:      c.breakerWaits.Load(),
		Resolved:          struct{ Committed, NotCommitted uint64 }{c.resolved[1].Load(), c.resolved[0].Load()},
	}
	for i := range s.ByClass {
		cs := ClassStats{Retries: c.retries[i].Load(), GiveUps: c.giveUps[i].Load(), BudgetDenials: c.denials[i].Load()}
		s.ByClass[i] = cs
		s.Retries += cs.Retries
		s.GiveUps += cs.GiveUps
		s.BudgetDenials += cs.BudgetDenials
	}
	c.mu.Lock()
	s.RetriesByCode = maps.Clone(c.byCode)
	c.mu.Unlock()
	if s.RetriesByCode == nil {
		s.RetriesByCode = map[string]uint64{}
	}
	return s
}
