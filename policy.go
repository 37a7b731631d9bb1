package retrysql

import (
	"time"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// DefaultMaxAttempts is the number of attempts, the first included, made
// unless WithMaxAttempts says otherwise, after any error but a tx-aborted
// one.
const DefaultMaxAttempts = 10

// DefaultTxAbortedAttempts is the number of attempts made after tx-aborted
// errors (deadlocks, serialization failures) unless WithMaxAttempts or
// WithClassAttempts says otherwise. Under contention many transactions need
// several tries and each try is quick; the contention benchmark
// (BENCHMARKS.md) gives up transfers at 10 and none at 50, the limit
// cockroach-go uses too. Time is bounded by the context and WithMaxElapsed.
const DefaultTxAbortedAttempts = 50

// The default strategies, by the class of the error and for connecting:
//
//	tx-aborted (deadlock, serialization failure)  decorrelated jitter, 2ms to 200ms
//	transient (lock timeout, too many connections) equal jitter, 20ms doubling to 2s
//	conn-lost, and connecting                      equal jitter, 100ms doubling to 5s
//
// The tx-aborted default comes from the contention benchmark
// (BENCHMARKS.md): of fixed, exponential, full, equal and decorrelated
// jitter, decorrelated jitter was the only one to keep the 99th percentile
// within 1.5 times immediate retry's in every cell, with goodput 1.3 to 2.4
// times immediate retry's wherever contention is high. A lock or a
// connection limit takes longer to clear; a server that went away needs
// seconds.
//
// DefaultTxAbortedStrategy, DefaultTransientStrategy and
// DefaultConnLostStrategy return them, to copy and tune:
//
//	s := retrysql.DefaultTransientStrategy()
//	s.Max = 10 * time.Second
//	r, err := retrysql.NewRetrier(retrysql.WithStrategy(classify.Transient, s))
var (
	defaultTxAborted = strategy.Decorrelated{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond}
	defaultTransient = strategy.EqualJitter{Initial: 20 * time.Millisecond, Max: 2 * time.Second, Base: 2}
	defaultConnLost  = strategy.EqualJitter{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Base: 2}
)

// DefaultTxAbortedStrategy returns the strategy of the retries after a
// tx-aborted error unless WithStrategy or WithCodeStrategy sets one:
// decorrelated jitter from 2ms to 200ms.
func DefaultTxAbortedStrategy() strategy.Decorrelated { return defaultTxAborted }

// DefaultTransientStrategy returns the strategy of the retries after a
// transient error unless WithStrategy or WithCodeStrategy sets one: equal
// jitter from 20ms, doubling, to 2s.
func DefaultTransientStrategy() strategy.EqualJitter { return defaultTransient }

// DefaultConnLostStrategy returns the strategy of the retries after a
// lost connection and after a failed connect, unless WithStrategy,
// WithConnectStrategy or WithCodeStrategy sets one: equal jitter from
// 100ms, doubling, to 5s.
func DefaultConnLostStrategy() strategy.EqualJitter { return defaultConnLost }

// policy is what decides, for one operation, whether and when to retry. It
// is immutable once built, so a Retrier's policy is shared by every call
// made without options. Its zero fields mean "default", so that a zero
// Retrier works.
type policy struct {
	classifier classify.Classifier
	// unbudgeted holds the classes whose retries the budget does not
	// charge; nil means the default (tx-aborted only), set means exactly
	// those (see WithBudgetClasses).
	unbudgeted  *[classify.NumClasses]bool
	byClass     [classify.NumClasses]strategy.Strategy
	connect     strategy.Strategy
	byCode      map[string]strategy.Strategy
	maxAttempts int
	// classAttempts overrides maxAttempts by the class of the last error.
	classAttempts [classify.NumClasses]int
	maxElapsed    time.Duration
	idempotent    bool
	commitCheck   bool
	// retryIf, attemptTimeout: WithRetryIf's and WithAttemptTimeout's,
	// for the sites of Do and RunInTx.
	retryIf        func(error) bool
	attemptTimeout time.Duration
	// maxRetryAfter is the longest hint waited for; 0 means
	// DefaultMaxRetryAfter.
	maxRetryAfter time.Duration
	obs           observers
}

// classify classifies err: a marker decides, then the classifier.
func (p *policy) classify(err error) classify.Result {
	res, _, _ := p.judge(err, false)
	return res
}

// attempts is the attempt limit after an error of class.
func (p *policy) attempts(class classify.Class) int {
	if n := p.classAttempts[class%classify.NumClasses]; n > 0 {
		return n
	}
	if p.maxAttempts > 0 {
		return p.maxAttempts
	}
	if class == classify.TxAborted {
		return DefaultTxAbortedAttempts
	}
	return DefaultMaxAttempts
}

// budgeted reports whether retries of class draw from the budget.
func (p *policy) budgeted(class classify.Class) bool {
	if p.unbudgeted == nil {
		return class != classify.TxAborted
	}
	return !p.unbudgeted[class%classify.NumClasses]
}

// strategy picks the strategy for a retry after res: by code, then for
// connecting, then by class.
func (p *policy) strategy(res classify.Result, atConnect bool) strategy.Strategy {
	if res.Code != "" && p.byCode != nil {
		if s, ok := p.byCode[res.Code]; ok {
			return s
		}
	}
	if atConnect {
		if p.connect != nil {
			return p.connect
		}
		return defaultConnLost
	}
	if s := p.byClass[res.Class%classify.NumClasses]; s != nil {
		return s
	}
	switch res.Class {
	case classify.TxAborted:
		return defaultTxAborted
	case classify.Transient:
		return defaultTransient
	}
	return defaultConnLost
}

// mayRepeat reports whether work that failed with res may run again: its
// class allows it and, for a lost connection, the request never reached
// the server or the work is idempotent. It is the rule every site starts
// from; why not, when not, is the second result.
func mayRepeat(res classify.Result, idempotent bool) (bool, Reason) {
	switch res.Class {
	case classify.Transient, classify.TxAborted:
		return true, 0
	case classify.ConnLost:
		if res.Unsent || idempotent {
			return true, 0
		}
		return false, ReasonAmbiguous
	}
	return false, ReasonPermanent
}
