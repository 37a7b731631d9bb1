// Package contention runs the bank workload under contention on real
// PostgreSQL and MariaDB with several retry strategies, interleaved and
// repeated, and reports goodput, latency, attempts, give-ups and
// correctness per cell and strategy. cmd/contention prints the table of
// BENCHMARKS.md.
package contention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/strategy"
)

// Cell is one contention setting.
type Cell struct {
	Name      string
	Dialect   workload.Dialect
	Order     workload.Order
	Isolation sql.IsolationLevel
	Accounts  int
	Workers   int
	Settings  map[string]string // session settings, sent in the DSN
	// Processes, if above 1, runs the workers in that many client
	// processes (this program, started again), each with its own handle,
	// splitting the workers between them.
	Processes int
	// Phases, if set, change the number of hot accounts during the run,
	// which lasts their total length.
	Phases []Phase
	// ColdWorkers, if above 0, of the Workers transfer among the accounts
	// after the first HotAccounts, the others among those: unrelated work
	// on the same handle as the hot rows. Goodput and latency are then the
	// hot workers', and the cold ones' are reported apart.
	ColdWorkers, HotAccounts int
}

// Phase is a stretch of a run with Hot hot accounts.
type Phase struct {
	Hot    int
	Length time.Duration
}

// phaseAt returns the phase at t since the start (the last after the end).
func (c Cell) phaseAt(t time.Duration) Phase {
	for _, p := range c.Phases {
		if t < p.Length {
			return p
		}
		t -= p.Length
	}
	return c.Phases[len(c.Phases)-1]
}

// Cells returns the cells of the benchmark.
func Cells() []Cell {
	var cells []Cell
	for _, a := range []int{4, 16} {
		for _, w := range []int{16, 32} {
			cells = append(cells, Cell{
				Name: fmt.Sprintf("PG serializable, sorted, %d hot, %d workers", a, w), Dialect: workload.Postgres,
				Order: workload.Sorted, Isolation: sql.LevelSerializable, Accounts: a, Workers: w,
				Settings: map[string]string{"enable_seqscan": "off"},
			})
		}
	}
	cells = append(cells, Cell{
		Name: "PG read committed, random order, 8 hot, 16 workers", Dialect: workload.Postgres,
		Order: workload.Random, Isolation: sql.LevelReadCommitted, Accounts: 8, Workers: 16,
		Settings: map[string]string{"enable_seqscan": "off", "deadlock_timeout": "20ms"},
	})
	for _, a := range []int{4, 16} {
		for _, w := range []int{16, 32} {
			cells = append(cells, Cell{
				Name: fmt.Sprintf("MariaDB repeatable read, random order, %d hot, %d workers", a, w), Dialect: workload.MySQL,
				Order: workload.Random, Isolation: sql.LevelRepeatableRead, Accounts: a, Workers: w,
			})
		}
	}
	return cells
}

// MoreCells returns the cells beyond the main table's: low contention
// (1,024 accounts), the hot rows shared by several client processes, and
// contention that changes during the run.
func MoreCells() []Cell {
	pg := func(name string, a, w int) Cell {
		return Cell{Name: name, Dialect: workload.Postgres, Order: workload.Sorted, Isolation: sql.LevelSerializable,
			Accounts: a, Workers: w, Settings: map[string]string{"enable_seqscan": "off"}}
	}
	my := func(name string, a, w int) Cell {
		return Cell{Name: name, Dialect: workload.MySQL, Order: workload.Random, Isolation: sql.LevelRepeatableRead, Accounts: a, Workers: w}
	}
	cells := []Cell{
		pg("PG serializable, sorted, 1,024 accounts, 32 workers", 1024, 32),
		my("MariaDB repeatable read, random order, 1,024 accounts, 32 workers", 1024, 32),
	}
	for _, n := range []int{2, 4} {
		c := pg(fmt.Sprintf("PG serializable, sorted, 4 hot, 32 workers in %d processes", n), 4, 32)
		c.Processes = n
		cells = append(cells, c)
	}
	c := my("MariaDB repeatable read, random order, 4 hot, 32 workers in 2 processes", 4, 32)
	c.Processes = 2
	cells = append(cells, c)
	phases := []Phase{{Hot: 1024, Length: 5 * time.Second}, {Hot: 4, Length: 5 * time.Second}, {Hot: 1024, Length: 5 * time.Second}}
	c = pg("PG serializable, sorted, 1,024 → 4 → 1,024 hot every 5s, 32 workers", 1024, 32)
	c.Phases = phases
	cells = append(cells, c)
	c = my("MariaDB repeatable read, random order, 1,024 → 4 → 1,024 hot every 5s, 32 workers", 1024, 32)
	c.Phases = phases
	cells = append(cells, c)
	c = pg("PG serializable, sorted, 4 hot with 16 workers, 1,020 cold with 16 workers", 1024, 32)
	c.ColdWorkers, c.HotAccounts = 16, 4
	cells = append(cells, c)
	c = my("MariaDB repeatable read, random order, 4 hot with 16 workers, 1,020 cold with 16 workers", 1024, 32)
	c.ColdWorkers, c.HotAccounts = 16, 4
	return append(cells, c)
}

// Strategy is one way of retrying a transfer.
type Strategy struct {
	Name string
	// Runner returns the runner for a cell, or nil when the strategy does
	// not apply to it (cockroach-go knows PostgreSQL's codes only).
	Runner func(Cell) workload.Runner
	// Raw: the strategy runs on the driver's own database/sql driver, not
	// on retrysql's.
	Raw bool
	// Handle, if set, returns the options of the run's database handle
	// (a fresh admission controller, say).
	Handle func(Cell) []retrysql.Option
	// Pgx, if set, makes the strategy pgx-native (Runner, Raw and Handle
	// are unused): each run calls it for its runner, nil when the
	// strategy does not apply to the cell, and has a pgxpool of its own.
	Pgx func(Cell) (*PgxRun, error)
}

// Admission is the strategy of retrysql's admission control with the
// settings s (retrysql's default strategies for everything else).
func Admission(name string, s admission.Settings) Strategy {
	return Strategy{
		Name:   name,
		Runner: func(Cell) workload.Runner { return workload.RunInTx() },
		Handle: func(Cell) []retrysql.Option {
			ctl, err := admission.New(s)
			if err != nil {
				panic(err) // the benchmark's own settings
			}
			return []retrysql.Option{retrysql.WithAdmission(ctl)}
		},
	}
}

// MaxAttempts bounds the static strategies, so that they are compared on
// their delays, not their patience; a transfer that exhausts it counts as
// given up.
const MaxAttempts = 100

// static is a strategy of delays alone (admission off).
func static(name string, s strategy.Strategy) Strategy {
	return Strategy{Name: name, Runner: func(Cell) workload.Runner {
		return workload.RunInTx(retrysql.WithStrategy(classify.TxAborted, s), retrysql.WithMaxAttempts(MaxAttempts), retrysql.WithAdmission(nil))
	}}
}

// Strategies returns the strategies compared, the retrysql default last.
func Strategies() []Strategy {
	ms := time.Millisecond
	return []Strategy{
		static("immediate retry", strategy.Fixed{}),
		{Name: "cockroach-go crdb.ExecuteTx", Raw: true, Runner: func(c Cell) workload.Runner {
			if c.Dialect != workload.Postgres {
				return nil
			}
			return func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
				return crdb.ExecuteTx(ctx, db, opts, func(tx *sql.Tx) error { return fn(ctx, tx) })
			}
		}},
		static("exponential 2ms–200ms, no jitter", strategy.Exponential{Initial: 2 * ms, Max: 200 * ms, Base: 2}),
		static("full jitter 2ms–200ms", strategy.FullJitter{Initial: 2 * ms, Max: 200 * ms, Base: 2}),
		static("equal jitter 2ms–200ms", strategy.EqualJitter{Initial: 2 * ms, Max: 200 * ms, Base: 2}),
		static("decorrelated 2ms–200ms", strategy.Decorrelated{Initial: 2 * ms, Max: 200 * ms}),
		static("full jitter 1ms–50ms", strategy.FullJitter{Initial: ms, Max: 50 * ms, Base: 2}),
		static("decorrelated 1ms–50ms", strategy.Decorrelated{Initial: ms, Max: 50 * ms}),
		{Name: "retrysql without admission", Runner: func(Cell) workload.Runner { return workload.RunInTx(retrysql.WithAdmission(nil)) }},
		// As it comes: admission for what contends (DefaultAdmission).
		{Name: "retrysql default", Runner: func(Cell) workload.Runner { return workload.RunInTx() }},
		Admission("retrysql admission", admission.Settings{}),
		HotDomain(),
	}
}

// CommitChecked returns retrysql's default and admission with the commit
// check on (WithCommitCheck): what its round trip costs under contention.
func CommitChecked() []Strategy {
	check := retrysql.WithCommitCheck(true)
	adm := Admission("retrysql admission, commit check", admission.Settings{})
	adm.Runner = func(Cell) workload.Runner { return workload.RunInTx(check) }
	return []Strategy{
		{Name: "retrysql default, commit check", Runner: func(Cell) workload.Runner { return workload.RunInTx(check) }},
		adm,
	}
}

// HotDomain is admission for the hot transfers only: the cold workers'
// transfers opt out with WithAdmission(nil), as an application gives the
// transactions on its hot rows a controller of their own.
func HotDomain() Strategy {
	s := Admission("retrysql admission, hot rows only", admission.Settings{})
	s.Runner = func(c Cell) workload.Runner {
		if c.ColdWorkers == 0 {
			return nil // the same as admission
		}
		return func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
			if workload.IsCold(ctx) {
				return retrysql.RunInTx(ctx, db, opts, fn, retrysql.WithAdmission(nil))
			}
			return retrysql.RunInTx(ctx, db, opts, fn)
		}
	}
	return s
}

// FixedLimits are admission with a fixed limit, each of ls: the oracle the
// adaptive limit is measured against.
func FixedLimits(ls ...int) []Strategy {
	var out []Strategy
	for _, l := range ls {
		out = append(out, Admission(fmt.Sprintf("fixed limit %d", l), admission.Settings{StartLimit: l, MinLimit: l, MaxLimit: l, EscalateAfter: -1}))
	}
	return out
}

// Sample is the measure of one run.
type Sample struct {
	PerSecond     float64
	MeanLimit     float64 // admission's limit, sampled every 20ms (0 without admission)
	Escalations   uint64
	Gated         uint64 // permits granted with a fleet gate slot
	Cold          uint64 // first attempts found not hot, run without a permit
	P50, P99, Max time.Duration
	// SettledP99 is the p99 of the transfers begun after the run's first
	// Warmup, when the run is at least twice that long (else 0): the
	// tail once the strategies have found their footing, apart from the
	// start, when every worker begins at once.
	SettledP99       time.Duration
	RunsPerCommit    float64
	GivenUp          int
	Ambiguous        int
	Violations       int
	ViolationDetails string
	// Fairness is Jain's index of the processes' goodput (1 = equal
	// shares), for cells run in several processes.
	Fairness float64
	// Phases are the figures of each phase, for cells with phases.
	Phases []PhaseSample
	// Cold are the cold workers' figures, for cells with cold workers.
	ColdPerSecond    float64
	ColdP99, ColdMax time.Duration
}

// PhaseSample is what one phase of a run measured.
type PhaseSample struct {
	Hot       int
	PerSecond float64
	P99, Max  time.Duration
	MeanLimit float64
	// Settle is how long after the phase began the limit took to come
	// within one of its median over the phase's second half, and stay
	// there for the rest of the phase.
	Settle time.Duration
}

// DSNs are the databases to run against.
type DSNs struct{ Postgres, MySQL string }

// RunOne runs one strategy on one cell for d (or the length of the cell's
// phases), in one process or, if the cell says so, in several.
func RunOne(ctx context.Context, dsns DSNs, c Cell, s Strategy, d time.Duration, seed uint64) (Sample, bool, error) {
	if s.Pgx != nil {
		return runPgxOne(ctx, dsns, c, s, d, seed)
	}
	if s.Runner(c) == nil {
		return Sample{}, false, nil
	}
	if len(c.Phases) > 0 {
		d = 0
		for _, p := range c.Phases {
			d += p.Length
		}
	}
	db, err := open(dsns, c, s)
	if err != nil {
		return Sample{}, false, err
	}
	defer db.Close()
	if err := workload.Setup(ctx, db, c.Dialect, c.Accounts); err != nil {
		return Sample{}, false, err
	}
	var (
		res   workload.Result
		smp   Sample
		trace []limitAt
	)
	if c.Processes > 1 {
		res, smp, err = runProcesses(ctx, dsns, c, s, d, seed)
	} else {
		res, smp, trace, err = runHere(ctx, db, c, s, d, seed, 0, c.Workers)
	}
	if err != nil {
		return Sample{}, false, err
	}
	check, err := workload.Verify(ctx, db, c.Accounts, res)
	if err != nil {
		return Sample{}, false, err
	}
	return finish(c, res, check, smp, trace), true, nil
}

// finish completes smp with what a run measured (res) and its
// verification (check); trace is the admission limit's, if sampled.
func finish(c Cell, res workload.Result, check workload.Check, smp Sample, trace []limitAt) Sample {
	smp.PerSecond, smp.P50, smp.P99, smp.Max = res.PerSecond(), res.Percentile(50), res.Percentile(99), res.Percentile(100)
	if c.ColdWorkers > 0 && res.Elapsed > 0 {
		smp.PerSecond = float64(res.Committed-res.Cold) / res.Elapsed.Seconds()
		smp.ColdPerSecond = float64(res.Cold) / res.Elapsed.Seconds()
		if n := len(res.ColdLatencies); n > 0 {
			smp.ColdP99, smp.ColdMax = res.ColdLatencies[(n-1)*99/100], res.ColdLatencies[n-1]
		}
	}
	smp.GivenUp, smp.Ambiguous, smp.Violations = res.Failed, res.Ambiguous, check.Violations()
	if res.Committed > 0 {
		smp.RunsPerCommit = float64(res.Runs) / float64(res.Committed)
	}
	if !check.OK() {
		smp.ViolationDetails = fmt.Sprintf("%+v", check)
	}
	if res.Failed > 0 {
		// What the given-up transfers failed with, in the run's log line.
		smp.ViolationDetails += fmt.Sprintf(" errors %v", res.Errors)
	}
	smp.Phases = phaseStats(c.Phases, res.Timeline, trace)
	smp.SettledP99 = settledP99(res.Timeline)
	return smp
}

// Warmup is the start of a run that SettledP99 leaves out (cold workers'
// transfers are left out too, as from P99).
const Warmup = 2 * time.Second

// settledP99 is the p99 of the committed transfers of tl begun after
// Warmup, if the run went on for at least twice that.
func settledP99(tl []workload.Timed) time.Duration {
	var lat []time.Duration
	end := time.Duration(0)
	for _, t := range tl {
		end = max(end, t.Start)
		if t.Start >= Warmup && !t.Cold {
			lat = append(lat, t.Latency)
		}
	}
	if end < 2*Warmup || len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[(len(lat)-1)*99/100]
}

// open opens the handle of a run.
func open(dsns DSNs, c Cell, s Strategy) (*sql.DB, error) {
	dsn, driverName, err := dsnFor(dsns, c, s.Raw)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	if s.Handle != nil {
		db, err = retrysql.Open(strings.TrimPrefix(driverName, "retry+"), dsn, s.Handle(c)...)
	} else {
		db, err = sql.Open(driverName, dsn)
	}
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(c.Workers + 4)
	db.SetMaxIdleConns(c.Workers + 4)
	return db, nil
}

// runHere runs workers first..first+n-1 of a cell in this process.
func runHere(ctx context.Context, db *sql.DB, c Cell, s Strategy, d time.Duration, seed uint64, first, n int) (workload.Result, Sample, []limitAt, error) {
	var limits sampler
	if r, ok := retrysql.RetrierOf(db); ok && r.Admission() != nil {
		stop := limits.start(r.Admission())
		defer stop()
	}
	var hot func(time.Duration) int
	if len(c.Phases) > 0 {
		hot = func(t time.Duration) int { return c.phaseAt(t).Hot }
	}
	res, err := workload.Run(ctx, db, workload.Config{
		Dialect: c.Dialect, Order: c.Order, Isolation: c.Isolation,
		Accounts: c.Accounts, Workers: n, FirstWorker: first, Duration: d, Runner: s.Runner(c), Seed: seed,
		TransferTimeout: 20 * time.Second, Hot: hot, ColdWorkers: c.ColdWorkers, HotAccounts: c.HotAccounts,
		Ambiguous: func(err error) bool {
			var ac *crdb.AmbiguousCommitError
			return errors.As(err, &ac) || errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous)
		},
	})
	if err != nil {
		return res, Sample{}, nil, err
	}
	smp := Sample{MeanLimit: limits.mean(), Escalations: limits.escalations()}
	if limits.ctl != nil {
		s := limits.ctl.Snapshot()
		smp.Gated, smp.Cold = s.Gated, s.Cold
	}
	return res, smp, limits.samples(), nil
}

// sampler samples an admission controller's limit while a run goes on.
type sampler struct {
	ctl   *admission.Controller
	mu    sync.Mutex
	trace []limitAt
}

// limitAt is the limit's permits at a time since the run's start.
type limitAt struct {
	At    time.Duration
	Limit int
}

func (s *sampler) start(ctl *admission.Controller) (stop func()) {
	s.ctl = ctl
	done, exited := make(chan struct{}), make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(exited)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				l := ctl.Snapshot().Permits
				s.mu.Lock()
				s.trace = append(s.trace, limitAt{At: now.Sub(t0), Limit: l})
				s.mu.Unlock()
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (s *sampler) mean() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return meanLimit(s.trace)
}

func (s *sampler) samples() []limitAt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.trace)
}

func meanLimit(trace []limitAt) float64 {
	if len(trace) == 0 {
		return 0
	}
	sum := 0
	for _, l := range trace {
		sum += l.Limit
	}
	return float64(sum) / float64(len(trace))
}

func (s *sampler) escalations() uint64 {
	if s.ctl == nil {
		return 0
	}
	return s.ctl.Snapshot().Escalations
}

func dsnFor(dsns DSNs, c Cell, raw bool) (dsn, driverName string, err error) {
	if c.Dialect == workload.MySQL {
		cfg, err := mysql.ParseDSN(dsns.MySQL)
		if err != nil {
			return "", "", err
		}
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		for k, v := range c.Settings {
			cfg.Params[k] = v
		}
		if raw {
			return cfg.FormatDSN(), "mysql", nil
		}
		return cfg.FormatDSN(), retrysql.DriverMySQL, nil
	}
	u, err := url.Parse(dsns.Postgres)
	if err != nil || u.Scheme == "" {
		return "", "", fmt.Errorf("contention: the PostgreSQL DSN must be a URL, got %q", dsns.Postgres)
	}
	q := u.Query()
	for k, v := range c.Settings {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	if raw {
		return u.String(), "pgx", nil
	}
	return u.String(), retrysql.DriverPgx, nil
}

// Row is the aggregate of one cell and strategy over the repetitions.
type Row struct {
	Cell, Strategy string
	Samples        []Sample
}

// Run runs every cell with every strategy, reps times, interleaving
// strategies within each cell and repetition, and writes a line per run
// to log. Each repetition starts the strategies at a different place in
// their list (rotating by len/reps), so that none always runs first or
// last: the servers carry the work of a run into the next (InnoDB purges,
// checkpoints), which would otherwise favour a fixed position.
func Run(ctx context.Context, dsns DSNs, cells []Cell, strategies []Strategy, d time.Duration, reps int, log io.Writer) ([]Row, error) {
	rows := map[string]*Row{}
	var order []string
	for rep := range reps {
		first := rep * len(strategies) / reps
		for ci, c := range cells {
			for k := range strategies {
				si := (first + k) % len(strategies)
				s := strategies[si]
				smp, ok, err := RunOne(ctx, dsns, c, s, d, uint64(rep*1000+ci*10+si))
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", c.Name, s.Name, err)
				}
				if !ok {
					continue
				}
				key := c.Name + "|" + s.Name
				r, seen := rows[key]
				if !seen {
					r = &Row{Cell: c.Name, Strategy: s.Name}
					rows[key] = r
					order = append(order, key)
				}
				r.Samples = append(r.Samples, smp)
				fmt.Fprintf(log, "rep %d  %-60s %-34s %7.0f/s  p99 %-9v max %-9v past %v p99 %-9v runs/commit %.2f given up %d  violations %d  L %.2f esc %d gated %d cold %d jain %.3f cold %.0f/s p99 %v %s\n",
					rep+1, c.Name, s.Name, smp.PerSecond, smp.P99.Round(time.Millisecond), smp.Max.Round(time.Millisecond), Warmup, smp.SettledP99.Round(time.Millisecond), smp.RunsPerCommit,
					smp.GivenUp, smp.Violations, smp.MeanLimit, smp.Escalations, smp.Gated, smp.Cold, smp.Fairness, smp.ColdPerSecond, smp.ColdP99.Round(time.Millisecond), smp.ViolationDetails)
			}
		}
	}
	out := make([]Row, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	return out, nil
}

func median[T any](xs []T, key func(T) float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = key(x)
	}
	slices.Sort(vs)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)/2]
}

// MarkdownMore writes, for the rows of cells run in several processes,
// the fairness between them, and for the rows of cells with phases, each
// phase's figures: medians over the repetitions.
func MarkdownMore(w io.Writer, rows []Row) {
	var multi, phased, mixed []Row
	for _, r := range rows {
		switch {
		case len(r.Samples) > 0 && r.Samples[0].ColdPerSecond > 0:
			mixed = append(mixed, r)
		case len(r.Samples) > 0 && r.Samples[0].Fairness > 0:
			multi = append(multi, r)
		case len(r.Samples) > 0 && len(r.Samples[0].Phases) > 0:
			phased = append(phased, r)
		}
	}
	if len(multi) > 0 {
		fmt.Fprintln(w, "| cell | strategy | committed/s | p99 | max | fairness (Jain, min) | mean limit per process |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
		for _, r := range multi {
			minJ := slices.MinFunc(r.Samples, func(a, b Sample) int { return cmpF(a.Fairness, b.Fairness) }).Fairness
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %.3f | %.2f |\n", r.Cell, r.Strategy,
				median(r.Samples, func(s Sample) float64 { return s.PerSecond }),
				fmtDur(time.Duration(median(r.Samples, func(s Sample) float64 { return float64(s.P99) }))),
				fmtDur(time.Duration(median(r.Samples, func(s Sample) float64 { return float64(s.Max) }))),
				minJ, median(r.Samples, func(s Sample) float64 { return s.MeanLimit }))
		}
		fmt.Fprintln(w)
	}
	if len(mixed) > 0 {
		fmt.Fprintln(w, "| cell | strategy | hot committed/s | hot p99 | hot max | cold committed/s | cold p99 | cold max |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, r := range mixed {
			md := func(f func(Sample) float64) float64 { return median(r.Samples, f) }
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %.0f | %s | %s |\n", r.Cell, r.Strategy,
				md(func(s Sample) float64 { return s.PerSecond }),
				fmtDur(time.Duration(md(func(s Sample) float64 { return float64(s.P99) }))),
				fmtDur(time.Duration(md(func(s Sample) float64 { return float64(s.Max) }))),
				md(func(s Sample) float64 { return s.ColdPerSecond }),
				fmtDur(time.Duration(md(func(s Sample) float64 { return float64(s.ColdP99) }))),
				fmtDur(time.Duration(md(func(s Sample) float64 { return float64(s.ColdMax) }))))
		}
		fmt.Fprintln(w)
	}
	if len(phased) > 0 {
		fmt.Fprintln(w, "| cell | strategy | phase | hot | committed/s | p99 | max | mean limit | limit settled after |")
		fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, r := range phased {
			for i := range r.Samples[0].Phases {
				ph := func(f func(PhaseSample) float64) float64 {
					return median(r.Samples, func(s Sample) float64 { return f(s.Phases[i]) })
				}
				settle := "–"
				if r.Samples[0].Phases[i].MeanLimit > 0 {
					settle = fmtDur(time.Duration(ph(func(p PhaseSample) float64 { return float64(p.Settle) })))
				}
				limit := "–"
				if m := ph(func(p PhaseSample) float64 { return p.MeanLimit }); m > 0 {
					limit = fmt.Sprintf("%.1f", m)
				}
				fmt.Fprintf(w, "| %s | %s | %d | %d | %.0f | %s | %s | %s | %s |\n", r.Cell, r.Strategy, i+1, r.Samples[0].Phases[i].Hot,
					ph(func(p PhaseSample) float64 { return p.PerSecond }),
					fmtDur(time.Duration(ph(func(p PhaseSample) float64 { return float64(p.P99) }))),
					fmtDur(time.Duration(ph(func(p PhaseSample) float64 { return float64(p.Max) }))),
					limit, settle)
			}
		}
	}
}

// Markdown writes the rows as a table: medians over the repetitions, and
// the range of goodput; given up, ambiguous and violations are totals.
func Markdown(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| cell | strategy | committed/s (range) | p50 | p99 | max | runs/commit | given up | ambiguous | violations |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	last := ""
	for _, r := range rows {
		cell := r.Cell
		if cell == last {
			cell = ""
		}
		last = r.Cell
		lo := slices.MinFunc(r.Samples, func(a, b Sample) int { return cmpF(a.PerSecond, b.PerSecond) }).PerSecond
		hi := slices.MaxFunc(r.Samples, func(a, b Sample) int { return cmpF(a.PerSecond, b.PerSecond) }).PerSecond
		ms := func(f func(Sample) time.Duration) string {
			return fmtDur(time.Duration(median(r.Samples, func(s Sample) float64 { return float64(f(s)) })))
		}
		var given, amb, viol int
		for _, s := range r.Samples {
			given += s.GivenUp
			amb += s.Ambiguous
			viol += s.Violations
		}
		fmt.Fprintf(w, "| %s | %s | %.0f (%.0f–%.0f) | %s | %s | %s | %.2f | %d | %d | %d |\n",
			cell, r.Strategy, median(r.Samples, func(s Sample) float64 { return s.PerSecond }), lo, hi,
			ms(func(s Sample) time.Duration { return s.P50 }), ms(func(s Sample) time.Duration { return s.P99 }),
			ms(func(s Sample) time.Duration { return s.Max }),
			median(r.Samples, func(s Sample) float64 { return s.RunsPerCommit }), given, amb, viol)
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)), "0"), ".") + "ms"
}
