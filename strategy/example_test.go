package strategy_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/retrysql/retrysql/strategy"
)

// delays prints the delays before retries 1 to n, each strategy given the
// delay it chose the time before, as the retry loop does.
func delays(s strategy.Strategy, n int) {
	var prev time.Duration
	for i := 1; i <= n; i++ {
		prev = s.Delay(i, prev)
		fmt.Print(prev, " ")
	}
	fmt.Println()
}

// lockedPCG is a seeded generator safe for concurrent use, for
// reproducible jitter (the sources of math/rand/v2 are not).
type lockedPCG struct {
	mu  sync.Mutex
	pcg *rand.PCG
}

func (s *lockedPCG) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pcg.Uint64()
}

func seeded() rand.Source { return &lockedPCG{pcg: rand.NewPCG(1, 2)} }

func ExampleFixed() {
	s, err := strategy.NewFixed(50 * time.Millisecond)
	if err != nil {
		panic(err)
	}
	delays(s, 4)
	// Output: 50ms 50ms 50ms 50ms
}

func ExampleLinear() {
	s, err := strategy.NewLinear(10*time.Millisecond, 20*time.Millisecond, 60*time.Millisecond)
	if err != nil {
		panic(err)
	}
	delays(s, 5)
	// Output: 10ms 30ms 50ms 60ms 60ms
}

func ExampleExponential() {
	s, err := strategy.NewExponential(10*time.Millisecond, time.Second, 0) // base 0: 2
	if err != nil {
		panic(err)
	}
	delays(s, 9)
	// Output: 10ms 20ms 40ms 80ms 160ms 320ms 640ms 1s 1s
}

func ExampleFullJitter() {
	s := strategy.FullJitter{Initial: 10 * time.Millisecond, Max: time.Second, Source: seeded()}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	delays(s, 6)
	// Output: 7.693733ms 12.328725ms 31.37712ms 63.727727ms 37.484203ms 13.185682ms
}

func ExampleEqualJitter() {
	s := strategy.EqualJitter{Initial: 10 * time.Millisecond, Max: time.Second, Source: seeded()}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	delays(s, 6)
	// Output: 8.846867ms 16.164362ms 35.68856ms 71.863863ms 98.742101ms 166.592841ms
}

func ExampleDecorrelated() {
	s := strategy.Decorrelated{Initial: 2 * time.Millisecond, Max: 200 * time.Millisecond, Source: seeded()}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	delays(s, 6)
	// Output: 5.077493ms 10.15698ms 24.333403ms 58.558524ms 42.688065ms 7.194507ms
}
