package strategy

import "time"

// DefaultBase is the growth factor of the exponential family when Base is
// 0, in a struct literal or a constructor.
const DefaultBase = 2

// Exponential multiplies the delay by Base at every retry, up to Max:
//
//	delay(n) = min(Max, Initial · Base^(n-1))
//
// With Initial 10ms, Base 2, Max 1s:
//
//	retry  1    2    3    4    5     6     7     8   9
//	delay  10ms 20ms 40ms 80ms 160ms 320ms 640ms 1s  1s
//
// Without jitter, clients that failed together retry together; prefer
// [FullJitter] or [EqualJitter] when many clients share a server.
//
// The zero value retries at once. A Base of 0 is [DefaultBase]. Delay clamps
// invalid fields (negative durations count as zero, a Base below 1 as 1, a
// Max below Initial as Initial); Validate reports them.
type Exponential struct {
	Initial time.Duration
	Max     time.Duration
	Base    float64
}

// NewExponential returns an Exponential strategy. base 0 means
// [DefaultBase], as in a struct literal. It returns an error if initial is not positive, max is below
// initial, or base is below 1.
func NewExponential(initial, max time.Duration, base float64) (Exponential, error) {
	if base == 0 {
		base = DefaultBase
	}
	s := Exponential{Initial: initial, Max: max, Base: base}
	return s, s.Validate()
}

// Validate reports a non-positive Initial, a Max below Initial and a Base
// below 1.
func (s Exponential) Validate() error {
	return validateGrowth("exponential", s.Initial, s.Max, s.Base)
}

// Delay returns min(Max, Initial·Base^(n-1)); prev is not used.
func (s Exponential) Delay(n int, prev time.Duration) time.Duration {
	return exponential(s.Initial, s.Max, s.Base, n)
}
