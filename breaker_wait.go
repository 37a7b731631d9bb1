package retrysql

import (
	"context"
	"errors"
	"sync"
	"time"
)

// BreakerWaiter is implemented by a Breaker that can say when it may let
// attempts through again. The retry loop calls Wait when Allow refused an
// attempt: when Wait returns nil, the loop asks Allow again; otherwise it
// gives up with ErrCircuitOpen. Wait must return when ctx ends, at the
// latest. CircuitBreaker implements it.
type BreakerWaiter interface {
	Wait(ctx context.Context) error
}

var _ BreakerWaiter = (*CircuitBreaker)(nil)

var errWaitedEnough = errors.New("retrysql: the circuit breaker stayed open for its MaxWait")

// waiting is what CircuitBreaker keeps for the attempts that wait: a
// channel closed (and replaced) at every change of state and whenever a
// half-open circuit's probe slot frees, and when the circuit opened last.
type waiting struct {
	openFor time.Duration
	probes  uint32
	maxWait time.Duration // < 0: do not wait

	mu        sync.Mutex
	change    chan struct{}
	openedAt  time.Time
	listeners []func(from, to BreakerState)
}

// listen adds f to the functions called at every change of state (with
// gobreaker's lock held: f must not call the breaker).
func (w *waiting) listen(f func(from, to BreakerState)) {
	w.mu.Lock()
	w.listeners = append(w.listeners, f)
	w.mu.Unlock()
}

func (w *waiting) init(s BreakerSettings) {
	w.openFor, w.probes, w.maxWait = s.OpenFor, uint32(min(s.Probes, int(^uint32(0)))), s.MaxWait
	w.change = make(chan struct{})
}

// changes returns a channel closed at the breaker's next change of state,
// or sooner when a probe's slot frees (nil, never closed, for the zero
// CircuitBreaker): the state is to be read again.
func (b *CircuitBreaker) changes() <-chan struct{} {
	if b.cb == nil {
		return nil
	}
	b.wait.mu.Lock()
	defer b.wait.mu.Unlock()
	return b.wait.change
}

// changed wakes the waiters; gobreaker calls it (through OnStateChange)
// with its lock held, so it must not call back into gobreaker.
func (w *waiting) changed(from, to BreakerState) {
	w.mu.Lock()
	if to == BreakerOpen {
		w.openedAt = time.Now()
	}
	close(w.change)
	w.change = make(chan struct{})
	listeners := w.listeners
	w.mu.Unlock()
	for _, f := range listeners {
		f(from, to)
	}
}

// wake wakes the waiters without a change of state: a half-open
// circuit's probe was ignored, and its slot is free again.
func (w *waiting) wake() {
	w.mu.Lock()
	close(w.change)
	w.change = make(chan struct{})
	w.mu.Unlock()
}

// Wait implements BreakerWaiter: it returns nil once the circuit is closed
// or half-open with a probe to spare, ctx's error if ctx ends first, and
// an error if the circuit stays shut for MaxWait.
func (b *CircuitBreaker) Wait(ctx context.Context) error {
	if b.cb == nil {
		return nil
	}
	w := &b.wait
	if w.maxWait < 0 {
		return ErrCircuitOpen
	}
	limit := time.NewTimer(w.maxWait)
	defer limit.Stop()
	var reopen *time.Timer
	defer func() {
		if reopen != nil {
			reopen.Stop()
		}
	}()
	for {
		w.mu.Lock()
		change, openedAt := w.change, w.openedAt
		w.mu.Unlock()
		var wake <-chan time.Time
		switch state(b.cb.State()) { // State moves an expired open circuit to half-open
		case BreakerClosed:
			return nil
		case BreakerHalfOpen:
			// As gobreaker counts them: an ignored probe frees its slot.
			if c := b.cb.Counts(); c.Requests-min(c.TotalExclusions, c.Requests) < w.probes {
				return nil
			}
		case BreakerOpen:
			// Sleep until the open period is over (gobreaker lets probes in
			// strictly after it), then look again.
			d := max(time.Until(openedAt.Add(w.openFor)), time.Millisecond)
			if reopen == nil {
				reopen = time.NewTimer(d)
			} else {
				reopen.Reset(d)
			}
			wake = reopen.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			return errWaitedEnough
		case <-change:
		case <-wake:
		}
	}
}
