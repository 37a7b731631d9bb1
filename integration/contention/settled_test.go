package contention

import (
	"testing"
	"time"

	"github.com/retrysql/retrysql/examples/bank/workload"
)

// TestSettledP99: the p99 past the warm-up leaves out the transfers begun
// in it and the cold workers', and is 0 for a run too short to have one.
func TestSettledP99(t *testing.T) {
	var tl []workload.Timed
	for i := range 200 {
		tl = append(tl, workload.Timed{Start: time.Duration(i) * 10 * time.Millisecond, Latency: time.Second})
	}
	for i := range 100 {
		start := Warmup + time.Duration(i)*10*time.Millisecond
		tl = append(tl, workload.Timed{Start: start, Latency: time.Duration(i+1) * time.Millisecond})
		tl = append(tl, workload.Timed{Start: start, Latency: time.Minute, Cold: true})
	}
	tl = append(tl, workload.Timed{Start: 2 * Warmup, Latency: 50 * time.Millisecond})
	// 101 settled latencies: 1..100 ms and 50 ms; the p99's index is 99.
	if got, want := settledP99(tl), 99*time.Millisecond; got != want {
		t.Fatalf("settled p99 %v, want %v", got, want)
	}
	if got := settledP99(tl[:250]); got != 0 {
		t.Fatalf("a run shorter than twice the warm-up: %v, want 0", got)
	}
	if got := settledP99(nil); got != 0 {
		t.Fatalf("no transfers: %v", got)
	}
}
