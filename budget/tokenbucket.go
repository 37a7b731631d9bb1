package budget

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// TokenBucket allows Rate retries per second on average and up to Burst at
// once: a bucket of Burst tokens, refilled at Rate per second, from which
// every retry takes one. It starts full. First attempts cost nothing.
//
// Over any period of length T the bucket grants at most Burst + Rate·T
// retries, however many goroutines ask at once.
//
// It is implemented as GCRA (the generic cell rate algorithm): one atomic
// "theoretical arrival time", updated with compare-and-swap, so concurrent
// callers never block one another.
//
// The zero value denies every retry; use [NewTokenBucket]. A TokenBucket is
// safe for concurrent use and must not be copied after first use.
type TokenBucket struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // (burst-1)·interval: how far ahead of now tat may run
	start     time.Time
	tat       atomic.Int64 // theoretical arrival time, nanoseconds since start
}

// Limits of the TokenBucket parameters, chosen so that no computation on
// them can overflow.
const (
	MinRate  = 0.001 // tokens per second
	MaxRate  = 1e9
	MaxBurst = 1_000_000
)

// NewTokenBucket returns a full bucket of burst tokens refilled at rate
// tokens per second. It returns an error unless MinRate ≤ rate ≤ MaxRate and
// 1 ≤ burst ≤ MaxBurst.
func NewTokenBucket(rate float64, burst int) (*TokenBucket, error) {
	if math.IsNaN(rate) || rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("budget: token bucket rate %v per second is outside [%v, %v]", rate, MinRate, MaxRate)
	}
	if burst < 1 || burst > MaxBurst {
		return nil, fmt.Errorf("budget: token bucket burst %d is outside [1, %d]", burst, MaxBurst)
	}
	// Rounded up: a shorter interval would grant more than Rate a second.
	interval := int64(math.Ceil(float64(time.Second) / rate))
	return &TokenBucket{
		interval:  interval,
		tolerance: int64(burst-1) * interval,
		start:     time.Now(),
	}, nil
}

// Request does nothing: a token bucket does not depend on traffic. It is
// there so that TokenBucket satisfies retrysql.Budget.
func (b *TokenBucket) Request() {}

// Retry takes a token at time now and reports whether there was one.
func (b *TokenBucket) Retry(now time.Time) bool {
	if b.interval == 0 {
		return false
	}
	t := sinceStart(b.start, now)
	for {
		tat := b.tat.Load()
		base := max(tat, t)
		if base-t > b.tolerance {
			return false
		}
		if b.tat.CompareAndSwap(tat, base+b.interval) {
			return true
		}
	}
}

// Tokens returns the number of whole tokens available at time now.
func (b *TokenBucket) Tokens(now time.Time) int {
	if b.interval == 0 {
		return 0
	}
	t := sinceStart(b.start, now)
	// ahead ≤ tolerance + interval, unless a retry was granted at a time
	// later than now (callers read the clock on their own): none left.
	ahead := max(b.tat.Load(), t) - t
	return int(max(b.tolerance+b.interval-ahead, 0) / b.interval)
}

// maxSince bounds the time a budget measures, so that adding a token
// interval or a burst to it cannot overflow: 2^62 ns is 146 years.
const maxSince = 1 << 62

// sinceStart returns now - start in nanoseconds, clamped to [0, maxSince].
func sinceStart(start, now time.Time) int64 {
	return min(max(int64(now.Sub(start)), 0), maxSince)
}
