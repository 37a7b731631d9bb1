package strategy_test

import (
	"testing"
	"time"

	"github.com/retrysql/retrysql/strategy"
)

var sink time.Duration

func BenchmarkDelay(b *testing.B) {
	for _, bc := range []struct {
		name string
		s    strategy.Strategy
	}{
		{"Fixed", strategy.Fixed{Interval: ms}},
		{"Linear", strategy.Linear{Initial: ms, Step: ms, Max: time.Second}},
		{"Exponential", strategy.Exponential{Initial: ms, Max: time.Second, Base: 2}},
		{"ExponentialBase1.5", strategy.Exponential{Initial: ms, Max: time.Second, Base: 1.5}},
		{"FullJitter", strategy.FullJitter{Initial: ms, Max: time.Second, Base: 2}},
		{"EqualJitter", strategy.EqualJitter{Initial: ms, Max: time.Second, Base: 2}},
		{"Decorrelated", strategy.Decorrelated{Initial: ms, Max: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var prev time.Duration
			n := 0
			for b.Loop() {
				n = n%12 + 1
				prev = bc.s.Delay(n, prev)
			}
			sink = prev
		})
	}
}

func BenchmarkDelayParallel(b *testing.B) {
	s := strategy.FullJitter{Initial: ms, Max: time.Second, Base: 2}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var prev time.Duration
		n := 0
		for pb.Next() {
			n = n%12 + 1
			prev = s.Delay(n, prev)
		}
		sink = prev
	})
}
