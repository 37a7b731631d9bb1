package strategy

import (
	"math/rand/v2"
	"time"
)

// FullJitter waits a uniformly random time between zero and the capped
// exponential delay:
//
//	delay(n) = U(0, min(Max, Initial · Base^(n-1)))
//
// The mean is half the exponential delay. Spreading retries over the whole
// interval is what decorrelates clients best (AWS Architecture Blog,
// "Exponential Backoff And Jitter"), at the price of sometimes retrying almost
// at once. With Initial 10ms, Base 2, Max 1s (min / median / max over
// 100,000 samples, from go run ./examples/strategies):
//
//	retry   1     2     3     4     5      6      7      8
//	min     0     0     0     1µs   3µs    4µs    0      9µs
//	median  5ms   10ms  20ms  40ms  80ms   160ms  320ms  498ms
//	max     10ms  20ms  40ms  80ms  160ms  320ms  640ms  1s
//
// The zero value retries at once. Source, when set, replaces the global
// generator (see the package documentation).
type FullJitter struct {
	Initial time.Duration
	Max     time.Duration
	Base    float64
	Source  rand.Source
}

// NewFullJitter returns a FullJitter strategy drawing from the global
// generator; base 0 means [DefaultBase]. Errors as for [NewExponential].
func NewFullJitter(initial, max time.Duration, base float64) (FullJitter, error) {
	if base == 0 {
		base = DefaultBase
	}
	s := FullJitter{Initial: initial, Max: max, Base: base}
	return s, s.Validate()
}

// Validate reports the same errors as [Exponential.Validate].
func (s FullJitter) Validate() error {
	return validateGrowth("full jitter", s.Initial, s.Max, s.Base)
}

// Delay returns U(0, min(Max, Initial·Base^(n-1))); prev is not used.
func (s FullJitter) Delay(n int, prev time.Duration) time.Duration {
	return uniform(s.Source, 0, exponential(s.Initial, s.Max, s.Base, n))
}

// EqualJitter keeps half of the capped exponential delay and randomises the
// other half:
//
//	delay(n) = e/2 + U(0, e/2)   where e = min(Max, Initial · Base^(n-1))
//
// The mean is three quarters of the exponential delay and no retry comes
// sooner than half of it, which suits a server that needs time to recover.
// With Initial 10ms, Base 2, Max 1s (min / median / max over 100,000
// samples):
//
//	retry   1      2     3     4     5      6      7      8
//	min     5ms    10ms  20ms  40ms  80ms   160ms  320ms  500ms
//	median  7.5ms  15ms  30ms  60ms  120ms  240ms  480ms  749ms
//	max     10ms   20ms  40ms  80ms  160ms  320ms  640ms  1s
//
// The zero value retries at once. Source, when set, replaces the global
// generator (see the package documentation).
type EqualJitter struct {
	Initial time.Duration
	Max     time.Duration
	Base    float64
	Source  rand.Source
}

// NewEqualJitter returns an EqualJitter strategy drawing from the global
// generator; base 0 means [DefaultBase]. Errors as for [NewExponential].
func NewEqualJitter(initial, max time.Duration, base float64) (EqualJitter, error) {
	if base == 0 {
		base = DefaultBase
	}
	s := EqualJitter{Initial: initial, Max: max, Base: base}
	return s, s.Validate()
}

// Validate reports the same errors as [Exponential.Validate].
func (s EqualJitter) Validate() error {
	return validateGrowth("equal jitter", s.Initial, s.Max, s.Base)
}

// Delay returns e/2 + U(0, e/2) with e the capped exponential delay; prev is
// not used.
func (s EqualJitter) Delay(n int, prev time.Duration) time.Duration {
	half := exponential(s.Initial, s.Max, s.Base, n) / 2
	return half + uniform(s.Source, 0, half)
}
