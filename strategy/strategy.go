// Package strategy computes the delay before a retry.
//
// Six families are provided, each in its own file: [Fixed], [Linear],
// [Exponential], [FullJitter], [EqualJitter] and [Decorrelated]. With n
// counting retries from 1 (n == 1 is the wait after the first attempt
// failed):
//
//	fixed          d
//	linear         min(max, initial + (n-1)·step)
//	exponential    min(max, initial · base^(n-1))
//	full jitter    U(0, exponential(n))
//	equal jitter   exponential(n)/2 + U(0, exponential(n)/2)
//	decorrelated   min(max, U(initial, 3·previous))
//
// U(a, b) is a uniform random duration in [a, b], both ends included.
//
// A server's hint (a Retry-After) lengthens any strategy's delay, never
// shortens it; a strategy that implements [Hinter], such as [FollowHint],
// decides itself.
//
// Every strategy is a small value type with exported fields and no state:
// what one operation needs (the retry number, the previous delay) is passed
// to [Strategy.Delay], so one value can serve any number of goroutines at
// once. The maximum is applied before any jitter, so no delay ever exceeds
// it, and no combination of fields or retry number (up to [math.MaxInt])
// overflows or yields a negative delay.
//
// One rule holds for the exponential family (Exponential, FullJitter,
// EqualJitter), in constructors and struct literals alike: a Base of 0
// means [DefaultBase] (2), so a literal that leaves Base out doubles.
//
// The NewXxx constructors reject invalid parameters (a negative duration, a
// base below 1 other than 0, a maximum below the initial delay) with an
// error. A value
// built as a struct literal is checked by its Validate method, which
// retrysql calls when the strategy is configured; Delay itself never panics,
// whatever the fields hold (see each type for how it treats invalid ones).
//
// Randomness comes from math/rand/v2's global generator, which is safe for
// concurrent use. Set Source on a jittered strategy to use a seeded
// generator instead, for reproducible tests; the Source is then called from
// every goroutine that uses the strategy, so it must be safe for concurrent
// use if the strategy is shared (the sources in math/rand/v2 are not).
package strategy

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
)

// Strategy computes the delay before a retry.
//
// Delay is called by the retry loop after an attempt failed, with n the
// number of the retry about to be made (1 for the first retry) and prev the
// delay this same operation waited before its previous retry (0 before the
// first). Implementations must be safe for concurrent use, must not keep
// per-operation state, and must return a delay in [0, their maximum] for any
// n ≥ 1 and any prev ≥ 0.
type Strategy interface {
	Delay(n int, prev time.Duration) time.Duration
}

// Validator is implemented by strategies that can check their parameters.
// retrysql calls Validate when a strategy is configured and refuses the
// configuration if it returns an error.
type Validator interface {
	Validate() error
}

// ErrInvalid is matched (with errors.Is) by every error a constructor or a
// Validate method returns.
var ErrInvalid = errors.New("invalid strategy parameters")

func invalid(kind, format string, args ...any) error {
	return fmt.Errorf("strategy: %s: %s: %w", kind, fmt.Sprintf(format, args...), ErrInvalid)
}

// validateGrowth checks the parameters shared by the exponential family.
func validateGrowth(kind string, initial, max time.Duration, base float64) error {
	switch {
	case initial <= 0:
		return invalid(kind, "initial delay %v must be positive", initial)
	case max < initial:
		return invalid(kind, "maximum %v is below the initial delay %v", max, initial)
	case base == 0:
		return nil // DefaultBase
	case math.IsNaN(base) || base < 1:
		return invalid(kind, "base %v must be at least 1 (or 0 for the default, 2)", base)
	case math.IsInf(base, 1):
		return invalid(kind, "base must be finite")
	}
	return nil
}

// nonNeg clamps a negative duration to zero.
func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// exponential returns min(max, initial·base^(n-1)) without overflow. A base
// of 0 is DefaultBase. Invalid inputs are clamped: negative durations count
// as 0, a base below 1 (or NaN) as 1, a maximum below initial as initial,
// and n below 1 as 1.
func exponential(initial, max time.Duration, base float64, n int) time.Duration {
	if base == 0 {
		base = DefaultBase
	}
	initial = nonNeg(initial)
	if max < initial {
		max = initial
	}
	if initial == 0 || initial == max || n <= 1 || !(base > 1) {
		return initial
	}
	k := n - 1
	if base == 2 {
		// The common case, exact and cheap: initial << k, capped.
		if k >= 63 || initial > max>>uint(k) {
			return max
		}
		return initial << uint(k)
	}
	f := float64(initial) * math.Pow(base, float64(k))
	if !(f < float64(max)) { // also catches +Inf and NaN
		return max
	}
	return time.Duration(f)
}

// uniform returns a uniformly distributed duration in [lo, hi], both ends
// included; it expects 0 ≤ lo ≤ hi.
func uniform(src rand.Source, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	span := uint64(hi-lo) + 1 // ≤ 2^63, no overflow
	return lo + time.Duration(uint64n(src, span))
}

// uint64n returns a uniform value in [0, n) for n > 0, from src or, when src
// is nil, from math/rand/v2's global generator. It uses Lemire's
// multiply-and-reject method, which is unbiased.
func uint64n(src rand.Source, n uint64) uint64 {
	if src == nil {
		return rand.Uint64N(n)
	}
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
