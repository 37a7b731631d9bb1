package strategy

import (
	"math"
	"math/rand/v2"
	"time"
)

// Decorrelated draws each delay between Initial and three times the previous
// one, capped at Max:
//
//	delay(n) = min(Max, U(Initial, 3·previous))   previous = Initial before the first retry
//
// The growth follows the delays actually drawn, so two clients that failed
// together drift apart quickly. The previous delay is passed in by the retry
// loop; the strategy keeps no state, unlike implementations that store it in
// the strategy object and so cannot be shared between goroutines. A previous
// delay below Initial (including 0) counts as Initial, one above Max as Max.
//
// Because the cap is applied after the draw, once 3·previous exceeds Max a
// share of the draws land exactly on Max. Growth is slower than doubling:
// the median draw is about 1.5 times the previous delay. With Initial 10ms,
// Max 1s, each retry fed the delay drawn before it (min / median / max over
// 100,000 sequences, from go run ./examples/strategies):
//
//	retry   1     2     3      4      5     6      7      8
//	min     10ms  10ms  10ms   10ms   10ms  10ms   10ms   10ms
//	median  20ms  32ms  46ms   63ms   83ms  107ms  134ms  165ms
//	max     30ms  90ms  255ms  733ms  1s    1s     1s     1s
//
// The zero value retries at once. Source, when set, replaces the global
// generator (see the package documentation).
type Decorrelated struct {
	Initial time.Duration
	Max     time.Duration
	Source  rand.Source
}

// NewDecorrelated returns a Decorrelated strategy drawing from the global
// generator. It returns an error if initial is not positive or max is below
// initial.
func NewDecorrelated(initial, max time.Duration) (Decorrelated, error) {
	s := Decorrelated{Initial: initial, Max: max}
	return s, s.Validate()
}

// Validate reports a non-positive Initial and a Max below Initial.
func (s Decorrelated) Validate() error {
	return validateGrowth("decorrelated jitter", s.Initial, s.Max, DefaultBase)
}

// Delay returns min(Max, U(Initial, 3·prev)); n is not used.
func (s Decorrelated) Delay(n int, prev time.Duration) time.Duration {
	initial := nonNeg(s.Initial)
	ceiling := max(s.Max, initial)
	prev = min(max(prev, initial), ceiling)
	hi := time.Duration(math.MaxInt64)
	if prev <= hi/3 {
		hi = 3 * prev
	}
	return min(ceiling, uniform(s.Source, initial, hi))
}
