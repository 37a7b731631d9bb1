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
	// queue, waits, escalations), nil without WithAdmission.
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
