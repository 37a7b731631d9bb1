package retrysql

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Outcome is what an attempt tells a circuit breaker about the server.
type Outcome uint8

const (
	// OutcomeSuccess: the server answered, even if with an error of the
	// caller's making (a constraint violation, a deadlock).
	OutcomeSuccess Outcome = iota
	// OutcomeFailure: the server could not be reached or could not serve
	// (lost connection, refused connection, too many connections at
	// connect).
	OutcomeFailure
	// OutcomeIgnored: the attempt says nothing about the server, for
	// example because the caller cancelled it.
	OutcomeIgnored
)

// Breaker is a circuit breaker, consulted before every attempt.
//
// Allow is called by the retry loop before each attempt. A non-nil error
// means the attempt must not be made: the loop returns at once with an
// error matching ErrCircuitOpen and never retries it. Otherwise done must be
// called exactly once with the attempt's outcome, also if the attempt
// panicked (OutcomeIgnored then). Allow is on the path of every query: when
// the server is healthy it should cost no more than an atomic load, and
// neither Allow nor done may block. A Breaker must be safe for concurrent
// use.
type Breaker interface {
	Allow() (done func(Outcome), err error)
}

// BreakerState is the state of a CircuitBreaker.
type BreakerState uint8

const (
	BreakerClosed   BreakerState = iota // attempts flow
	BreakerHalfOpen                     // a few probes are let through
	BreakerOpen                         // attempts are refused
)

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("BreakerState(%d)", uint8(s))
}

// Defaults of BreakerSettings.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 500 * time.Millisecond
	DefaultBreakerProbes   = 1
	DefaultBreakerMaxWait  = 30 * time.Second
)

// BreakerSettings configure a CircuitBreaker. Zero fields take the
// defaults.
type BreakerSettings struct {
	// Failures is the number of consecutive failed attempts that opens the
	// circuit (default 5).
	Failures int
	// OpenFor is how long the circuit stays open before probes are let
	// through (default 500ms: requests waiting through an outage go on
	// within half a second of the server's return, and one probe per half
	// second does not load a failing server).
	OpenFor time.Duration
	// Probes is the number of attempts let through while half-open; the
	// circuit closes when all of them succeed, and opens again at the
	// first failure (default 1).
	Probes int
	// MaxWait is how long, at most, an attempt the breaker refuses waits
	// for it to let attempts through again (Wait): for the half-open
	// probe's verdict, and the next one while probes fail. The attempt's
	// context bounds the wait too. 0 means DefaultBreakerMaxWait (30s); a
	// negative value refuses at once, without waiting.
	MaxWait time.Duration
	// OnStateChange, if set, is called on every change of state, from the
	// goroutine whose attempt caused it; it must not block.
	OnStateChange func(from, to BreakerState)
}

// CircuitBreaker is the Breaker retrysql uses by default: sony/gobreaker's
// two-step breaker, opened by consecutive failures.
//
// While the circuit is closed and no failure has been recorded since the
// last success, CircuitBreaker answers Allow with one atomic load and does
// not consult gobreaker at all (which takes a lock and reads the clock):
// under a consecutive-failures rule, a success in that state changes
// nothing. Once a failure is recorded, every attempt goes through gobreaker
// until a success brings the count back to zero.
//
// An attempt it refuses waits (Wait): while the circuit is open, until the
// open period ends, then for the half-open probe's verdict, within
// MaxWait and the attempt's context, so that requests ride out an outage
// without hammering the server (only the probes reach it).
//
// The zero value lets every attempt through and never opens; use
// NewCircuitBreaker. A CircuitBreaker is safe for concurrent use.
type CircuitBreaker struct {
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
	wait waiting
	// quiet is a version counter shifted left by one, with bit 0 set while
	// the fast path is on. Recording a failure bumps the version and clears
	// the bit; a success sets the bit only if no failure was recorded since
	// it looked at gobreaker's counts.
	quiet    atomic.Uint64
	fastDone func(Outcome)
}

var (
	errFailure = errors.New("retrysql: attempt failed")
	errIgnored = errors.New("retrysql: attempt ignored")
)

// NewCircuitBreaker returns a closed CircuitBreaker. It returns an error if
// a setting is negative.
func NewCircuitBreaker(s BreakerSettings) (*CircuitBreaker, error) {
	switch {
	case s.Failures < 0:
		return nil, fmt.Errorf("retrysql: breaker failures %d is negative", s.Failures)
	case s.OpenFor < 0:
		return nil, fmt.Errorf("retrysql: breaker open duration %v is negative", s.OpenFor)
	case s.Probes < 0:
		return nil, fmt.Errorf("retrysql: breaker probes %d is negative", s.Probes)
	}
	if s.Failures == 0 {
		s.Failures = DefaultBreakerFailures
	}
	if s.OpenFor == 0 {
		s.OpenFor = DefaultBreakerOpenFor
	}
	if s.Probes == 0 {
		s.Probes = DefaultBreakerProbes
	}
	failures := uint32(min(s.Failures, int(^uint32(0))))
	gs := gobreaker.Settings{
		Name:         "retrysql",
		MaxRequests:  uint32(min(s.Probes, int(^uint32(0)))),
		Timeout:      s.OpenFor,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return err == errIgnored },
	}
	if s.MaxWait == 0 {
		s.MaxWait = DefaultBreakerMaxWait
	}
	b := &CircuitBreaker{}
	b.wait.init(s)
	f := s.OnStateChange
	gs.OnStateChange = func(_ string, from, to gobreaker.State) {
		b.wait.changed(state(from), state(to))
		if f != nil {
			f(state(from), state(to))
		}
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gs)
	b.quiet.Store(1)
	b.fastDone = b.doneFast
	return b, nil
}

func state(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

// State returns the breaker's current state.
func (b *CircuitBreaker) State() BreakerState {
	if b.cb == nil {
		return BreakerClosed
	}
	return state(b.cb.State())
}

// Allow implements Breaker.
func (b *CircuitBreaker) Allow() (func(Outcome), error) {
	if b.cb == nil {
		return nil, nil
	}
	if b.quiet.Load()&1 == 1 {
		return b.fastDone, nil
	}
	done, err := b.cb.Allow()
	if err != nil {
		return nil, err
	}
	return func(o Outcome) { b.finish(done, o) }, nil
}

// doneFast ends an attempt admitted by the fast path. Only a failure
// matters: it is recorded through gobreaker now, unless the circuit opened
// meanwhile, in which case it is already counted out.
func (b *CircuitBreaker) doneFast(o Outcome) {
	if o != OutcomeFailure {
		return
	}
	if done, err := b.cb.Allow(); err == nil {
		done(errFailure)
	}
	b.leaveFastPath()
}

// finish ends an attempt admitted through gobreaker.
func (b *CircuitBreaker) finish(done func(error), o Outcome) {
	switch o {
	case OutcomeFailure:
		done(errFailure)
		b.leaveFastPath()
	case OutcomeIgnored:
		done(errIgnored)
		if b.cb.State() == gobreaker.StateHalfOpen {
			b.wait.wake() // its probe's slot is free for a waiter
		}
	default:
		done(nil)
		v := b.quiet.Load()
		if b.cb.State() == gobreaker.StateClosed && b.cb.Counts().ConsecutiveFailures == 0 {
			b.quiet.CompareAndSwap(v, v|1)
		}
	}
}

// leaveFastPath turns the fast path off after a failure was recorded.
func (b *CircuitBreaker) leaveFastPath() {
	for {
		v := b.quiet.Load()
		if b.quiet.CompareAndSwap(v, (v+2)&^1) {
			return
		}
	}
}
