package strategy

import "time"

// Linear adds Step to the delay at every retry, up to Max:
//
//	delay(n) = min(Max, Initial + (n-1)·Step)
//
// With Initial 100ms, Step 50ms, Max 300ms:
//
//	retry  1     2     3     4     5     6
//	delay  100ms 150ms 200ms 250ms 300ms 300ms
//
// The zero value retries at once. Invalid fields are clamped by Delay
// (negative durations count as zero, a Max below Initial as Initial) and
// reported by Validate.
type Linear struct {
	Initial time.Duration
	Step    time.Duration
	Max     time.Duration
}

// NewLinear returns a Linear strategy, or an error if a duration is negative
// or max is below initial.
func NewLinear(initial, step, max time.Duration) (Linear, error) {
	s := Linear{Initial: initial, Step: step, Max: max}
	return s, s.Validate()
}

// Validate reports negative durations and a Max below Initial.
func (s Linear) Validate() error {
	switch {
	case s.Initial < 0:
		return invalid("linear", "initial delay %v is negative", s.Initial)
	case s.Step < 0:
		return invalid("linear", "step %v is negative", s.Step)
	case s.Max < s.Initial:
		return invalid("linear", "maximum %v is below the initial delay %v", s.Max, s.Initial)
	}
	return nil
}

// Delay returns min(Max, Initial + (n-1)·Step), computed without overflow.
func (s Linear) Delay(n int, prev time.Duration) time.Duration {
	initial, step, max := nonNeg(s.Initial), nonNeg(s.Step), s.Max
	if max < initial {
		max = initial
	}
	if n <= 1 || step == 0 {
		return initial
	}
	// (n-1)·step ≥ max-initial, checked by division so nothing overflows.
	room := max - initial
	if time.Duration(n-1) > room/step {
		return max
	}
	return initial + time.Duration(n-1)*step
}
