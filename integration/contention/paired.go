package contention

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/retrysql/retrysql/examples/bank/workload"
)

// PairedResult is what Paired measured of one cell.
type PairedResult struct {
	Cell    string
	Off, On string // the strategies compared
	// Ratio is the median, over the pairs, of the on phase's goodput
	// divided by the off phase's; Lo95 and Hi95 bound it (a
	// distribution-free 95% confidence interval, 0 under 20 pairs).
	Ratio, Lo95, Hi95 float64
	Pairs             int
	// OffPerSecond and OnPerSecond are the phases' median goodputs.
	OffPerSecond, OnPerSecond float64
	// In a cell with cold workers beside hot ones, Ratio and the goodputs
	// are the hot workers', and these the cold ones'.
	ColdRatio, ColdLo95, ColdHi95     float64
	ColdOffPerSecond, ColdOnPerSecond float64
	// P99Ratio is the median, over the pairs, of the on phase's p99
	// latency (of the hot workers' committed transfers, from their start)
	// divided by the off phase's, bounded by P99Lo95 and P99Hi95; OffP99
	// and OnP99 are the p99 of every phase of each pooled.
	P99Ratio, P99Lo95, P99Hi95 float64
	OffP99, OnP99              time.Duration
	GivenUp, Violations        int // over every phase of both
}

// Paired compares two strategies on one cell (of one process) with the
// machine's drift cancelled: the same tables, one handle for each, phases
// of length phase run in pairs (a coin toss decides which goes first), and
// each pair gives the ratio of on's goodput to off's: the transfers that
// committed within the phase, per second of it. Phases a few hundred
// milliseconds apart see the same machine, where runs of 10 s each, minutes
// apart, differ by ±20% on two busy cores. Every transfer of every phase is
// checked at the end, as Run checks its runs.
func Paired(ctx context.Context, dsns DSNs, c Cell, off, on Strategy, phase time.Duration, pairs int, seed uint64) (PairedResult, error) {
	if c.Processes > 1 || len(c.Phases) > 0 || off.Runner(c) == nil || on.Runner(c) == nil {
		return PairedResult{}, fmt.Errorf("contention: paired runs need a cell of one process without phases and strategies that apply to it (%s)", c.Name)
	}
	handles := [2]Strategy{off, on}
	offDB, err := open(dsns, c, off)
	if err != nil {
		return PairedResult{}, err
	}
	defer offDB.Close()
	onDB, err := open(dsns, c, on)
	if err != nil {
		return PairedResult{}, err
	}
	defer onDB.Close()
	if err := workload.Setup(ctx, offDB, c.Dialect, c.Accounts); err != nil {
		return PairedResult{}, err
	}
	var (
		all                  workload.Result
		ratios, offs, ons    []float64
		cRatios, cOffs, cOns []float64
		p99Ratios            []float64
		pooled               [2][]time.Duration // every phase's hot latencies, [off, on]
		worker               int                // numbers the workers of every phase apart: distinct transfer ids
	)
	all.Outcomes = map[int64]workload.Outcome{}
	// run runs a phase of strategy i and returns its goodputs: the hot
	// workers' (all of them without cold ones) and the cold ones'; it
	// keeps the hot workers' latencies in pooled[i] and the phase's p99 of
	// them in p99[i].
	var p99 [2]time.Duration
	run := func(i int) ([2]float64, error) {
		db := offDB
		if i == 1 {
			db = onDB
		}
		res, _, _, err := runHere(ctx, db, c, handles[i], phase, seed, worker, c.Workers)
		worker += c.Workers
		if err != nil {
			return [2]float64{}, err
		}
		for id, o := range res.Outcomes {
			all.Outcomes[id] = o
		}
		all.Committed += res.Committed
		all.Failed += res.Failed
		all.Ambiguous += res.Ambiguous
		// Goodput within the phase: the transfers that committed before it
		// ended. The transfers under way then finish after it, and a
		// strategy with long waits would otherwise be charged their
		// drain, a large part of a short phase.
		var n [2]float64
		var hot []time.Duration
		for _, tm := range res.Timeline {
			if !tm.Cold {
				hot = append(hot, tm.Latency)
			}
			if tm.Start+tm.Latency <= phase {
				if tm.Cold {
					n[1]++
				} else {
					n[0]++
				}
			}
		}
		pooled[i] = append(pooled[i], hot...)
		p99[i] = percentile(hot, 99)
		return [2]float64{n[0] / phase.Seconds(), n[1] / phase.Seconds()}, nil
	}
	// One phase of each first, to warm the pools and the caches.
	for i := range 2 {
		if _, err := run(i); err != nil {
			return PairedResult{}, err
		}
	}
	pooled = [2][]time.Duration{}
	rng := rand.New(rand.NewPCG(seed, 7))
	for range pairs {
		first := rng.IntN(2)
		var g [2][2]float64 // [off, on][hot, cold]
		for _, i := range []int{first, 1 - first} {
			if g[i], err = run(i); err != nil {
				return PairedResult{}, err
			}
		}
		if g[0][0] > 0 {
			ratios = append(ratios, g[1][0]/g[0][0])
		}
		if p99[0] > 0 && p99[1] > 0 {
			p99Ratios = append(p99Ratios, float64(p99[1])/float64(p99[0]))
		}
		offs, ons = append(offs, g[0][0]), append(ons, g[1][0])
		if c.ColdWorkers > 0 {
			if g[0][1] > 0 {
				cRatios = append(cRatios, g[1][1]/g[0][1])
			}
			cOffs, cOns = append(cOffs, g[0][1]), append(cOns, g[1][1])
		}
	}
	check, err := workload.Verify(ctx, offDB, c.Accounts, all)
	if err != nil {
		return PairedResult{}, err
	}
	r := PairedResult{Cell: c.Name, Off: off.Name, On: on.Name, Pairs: len(ratios),
		GivenUp: all.Failed, Violations: check.Violations()}
	r.Ratio, r.Lo95, r.Hi95 = MedianCI(ratios)
	r.OffPerSecond, _, _ = MedianCI(offs)
	r.OnPerSecond, _, _ = MedianCI(ons)
	r.ColdRatio, r.ColdLo95, r.ColdHi95 = MedianCI(cRatios)
	r.ColdOffPerSecond, _, _ = MedianCI(cOffs)
	r.ColdOnPerSecond, _, _ = MedianCI(cOns)
	r.P99Ratio, r.P99Lo95, r.P99Hi95 = MedianCI(p99Ratios)
	r.OffP99, r.OnP99 = percentile(pooled[0], 99), percentile(pooled[1], 99)
	return r, nil
}

// percentile returns the p-th percentile (0..100) of ds, sorting it in
// place; 0 when it is empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[int(float64(len(ds)-1)*p/100)]
}

// MedianCI returns the median of xs and a distribution-free 95% confidence
// interval for it: the order statistics n/2 ± 1.96·√n/2 of the sorted
// values. lo and hi are 0 when there are fewer than 20 values. xs is
// sorted in place.
func MedianCI(xs []float64) (med, lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0, 0
	}
	slices.Sort(xs)
	if n%2 == 1 {
		med = xs[n/2]
	} else {
		med = (xs[n/2-1] + xs[n/2]) / 2
	}
	if n < 20 {
		return med, 0, 0
	}
	half := 1.96 * math.Sqrt(float64(n)) / 2
	j := int(math.Floor(float64(n)/2 - half)) // 1-based ranks
	k := int(math.Ceil(float64(n)/2 + half + 1))
	j = max(j, 1)
	k = min(k, n)
	return med, xs[j-1], xs[k-1]
}
