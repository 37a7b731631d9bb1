package strategy

import "time"

// Fixed waits the same time before every retry:
//
//	delay(n) = Interval
//
// With Interval 100ms:
//
//	retry  1    2    3    4    5
//	delay  100ms 100ms 100ms 100ms 100ms
//
// The zero value retries at once, which is what a contention benchmark calls
// "immediate retry". A negative Interval counts as zero (Validate reports it).
type Fixed struct {
	Interval time.Duration
}

// NewFixed returns a Fixed strategy, or an error if d is negative.
func NewFixed(d time.Duration) (Fixed, error) {
	s := Fixed{Interval: d}
	return s, s.Validate()
}

// Validate reports a negative Interval.
func (s Fixed) Validate() error {
	if s.Interval < 0 {
		return invalid("fixed", "interval %v is negative", s.Interval)
	}
	return nil
}

// Delay returns Interval, whatever n and prev are.
func (s Fixed) Delay(n int, prev time.Duration) time.Duration {
	return nonNeg(s.Interval)
}
