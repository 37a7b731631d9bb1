package admission

import (
	"context"
	"testing"
)

// BenchmarkAdmitRelease is the cost of admission when nobody waits: the
// cost RunInTx adds to each attempt when contention is low.
func BenchmarkAdmitRelease(b *testing.B) {
	c, err := New(Settings{MaxLimit: 64})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := c.Admit(ctx, 1, false)
		if err != nil {
			b.Fatal(err)
		}
		p.Release(false)
	}
}

// BenchmarkAdmitReleaseParallel is the same from every core at once.
func BenchmarkAdmitReleaseParallel(b *testing.B) {
	c, err := New(Settings{StartLimit: 64, MaxLimit: 64})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := c.Admit(ctx, 1, false)
			if err != nil {
				b.Error(err)
				return
			}
			p.Release(false)
		}
	})
}
