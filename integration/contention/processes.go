package contention

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/retrysql/retrysql/examples/bank/workload"
)

// ChildEnv is the environment variable that makes the benchmark program a
// client process of a multi-process run: it holds the child's spec.
const ChildEnv = "RETRYSQL_CONTENTION_CHILD"

// childSpec is what a client process runs.
type childSpec struct {
	DSNs     DSNs
	Cell     Cell
	Strategy string
	Duration time.Duration
	Seed     uint64
	First, N int // its workers
}

// childResult is what a client process reports on its standard output.
type childResult struct {
	Result    workload.Result
	MeanLimit float64
	Esc       uint64
	Gated     uint64
	Cold      uint64
}

// ShowProcesses, if set, gets a line per client process after each run of
// a cell of several processes: its goodput, mean limit, gated and cold
// attempts, and runs per commit (what makes Jain's index what it is).
var ShowProcesses io.Writer

// runProcesses runs a cell's workers split between c.Processes client
// processes: this program started again with the same arguments and
// ChildEnv set, each with its own handle (and admission controller),
// against the tables the caller set up. It merges what they report.
func runProcesses(ctx context.Context, dsns DSNs, c Cell, s Strategy, d time.Duration, seed uint64) (workload.Result, Sample, error) {
	exe, err := os.Executable()
	if err != nil {
		return workload.Result{}, Sample{}, err
	}
	n := c.Processes
	outs := make([]bytes.Buffer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		first := i * c.Workers / n
		spec := childSpec{DSNs: dsns, Cell: c, Strategy: s.Name, Duration: d, Seed: seed, First: first, N: (i+1)*c.Workers/n - first}
		spec.Cell.Processes = 0
		js, err := json.Marshal(spec)
		if err != nil {
			return workload.Result{}, Sample{}, err
		}
		cmd := exec.CommandContext(ctx, exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), ChildEnv+"="+string(js))
		cmd.Stdout = &outs[i]
		cmd.Stderr = os.Stderr
		wg.Go(func() { errs[i] = cmd.Run() })
	}
	wg.Wait()
	merged := workload.Result{Outcomes: map[int64]workload.Outcome{}, Errors: map[string]int{}}
	var (
		smp    Sample
		shares []float64
	)
	for i := range n {
		if errs[i] != nil {
			return workload.Result{}, Sample{}, fmt.Errorf("client process %d: %w", i, errs[i])
		}
		var cr childResult
		if err := json.Unmarshal(outs[i].Bytes(), &cr); err != nil {
			return workload.Result{}, Sample{}, fmt.Errorf("client process %d: %w", i, err)
		}
		r := cr.Result
		merged.Elapsed = max(merged.Elapsed, r.Elapsed)
		for id, o := range r.Outcomes {
			merged.Outcomes[id] = o
		}
		merged.Committed += r.Committed
		merged.Failed += r.Failed
		merged.Ambiguous += r.Ambiguous
		merged.Runs += r.Runs
		merged.Latencies = append(merged.Latencies, r.Latencies...)
		merged.Cold += r.Cold
		merged.ColdLatencies = append(merged.ColdLatencies, r.ColdLatencies...)
		merged.Timeline = append(merged.Timeline, r.Timeline...)
		for e, k := range r.Errors {
			merged.Errors[e] += k
		}
		smp.MeanLimit += cr.MeanLimit / float64(n)
		smp.Escalations += cr.Esc
		smp.Gated += cr.Gated
		smp.Cold += cr.Cold
		shares = append(shares, r.PerSecond())
		if ShowProcesses != nil {
			fmt.Fprintf(ShowProcesses, "  process %d: %.0f/s, mean limit %.2f, gated %d, cold %d, runs/commit %.2f\n",
				i, r.PerSecond(), cr.MeanLimit, cr.Gated, cr.Cold, float64(r.Runs)/float64(max(1, r.Committed)))
		}
	}
	slices.Sort(merged.Latencies)
	slices.Sort(merged.ColdLatencies)
	smp.Fairness = jain(shares)
	return merged, smp, nil
}

// Child runs the client process whose spec is in ChildEnv, with the
// strategies of the parent (the same program and arguments give the same
// list), and writes its result to out.
func Child(ctx context.Context, spec string, strategies []Strategy, out io.Writer) error {
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		return fmt.Errorf("contention: child spec: %w", err)
	}
	i := slices.IndexFunc(strategies, func(s Strategy) bool { return s.Name == cs.Strategy })
	if i < 0 {
		return fmt.Errorf("contention: child: no strategy %q", cs.Strategy)
	}
	s := strategies[i]
	db, err := open(cs.DSNs, cs.Cell, s)
	if err != nil {
		return err
	}
	defer db.Close()
	res, smp, _, err := runHere(ctx, db, cs.Cell, s, cs.Duration, cs.Seed, cs.First, cs.N)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(childResult{Result: res, MeanLimit: smp.MeanLimit, Esc: smp.Escalations, Gated: smp.Gated, Cold: smp.Cold})
}

// jain is Jain's fairness index of xs: (Σx)² / (n·Σx²), 1 when all are
// equal, 1/n when one takes everything.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// phaseStats splits a run's committed transfers (by start) and its limit
// trace by phase.
func phaseStats(phases []Phase, timeline []workload.Timed, trace []limitAt) []PhaseSample {
	var out []PhaseSample
	var from time.Duration
	for _, p := range phases {
		to := from + p.Length
		var lat []time.Duration
		for _, t := range timeline {
			if t.Start >= from && t.Start < to {
				lat = append(lat, t.Latency)
			}
		}
		slices.Sort(lat)
		ps := PhaseSample{Hot: p.Hot, PerSecond: float64(len(lat)) / p.Length.Seconds()}
		if len(lat) > 0 {
			ps.P99 = lat[(len(lat)-1)*99/100]
			ps.Max = lat[len(lat)-1]
		}
		var in []limitAt
		for _, l := range trace {
			if l.At >= from && l.At < to {
				in = append(in, l)
			}
		}
		if len(in) > 0 {
			ps.MeanLimit = meanLimit(in)
			second := slices.Clone(in[len(in)/2:])
			slices.SortFunc(second, func(a, b limitAt) int { return a.Limit - b.Limit })
			med := second[len(second)/2].Limit
			ps.Settle = p.Length
			for i := len(in) - 1; i >= 0; i-- {
				if d := in[i].Limit - med; d < -1 || d > 1 {
					break
				}
				ps.Settle = in[i].At - from
			}
		}
		out = append(out, ps)
		from = to
	}
	return out
}
