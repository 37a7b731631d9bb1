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
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
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

// Strategy is one way of retrying a transfer.
type Strategy struct {
	Name string
	// Runner returns the runner for a cell, or nil when the strategy does
	// not apply to it (cockroach-go knows PostgreSQL's codes only).
	Runner func(Cell) workload.Runner
	// Raw: the strategy runs on the driver's own database/sql driver, not
	// on retrysql's.
	Raw bool
}

// MaxAttempts bounds the static strategies, so that they are compared on
// their delays, not their patience; a transfer that exhausts it counts as
// given up.
const MaxAttempts = 100

func static(name string, s strategy.Strategy) Strategy {
	return Strategy{Name: name, Runner: func(Cell) workload.Runner {
		return workload.RunInTx(retrysql.WithStrategy(classify.TxAborted, s), retrysql.WithMaxAttempts(MaxAttempts))
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
		{Name: "retrysql default", Runner: func(Cell) workload.Runner { return workload.RunInTx() }},
	}
}

// Sample is the measure of one run.
type Sample struct {
	PerSecond        float64
	P50, P99, Max    time.Duration
	RunsPerCommit    float64
	GivenUp          int
	Ambiguous        int
	Violations       int
	ViolationDetails string
}

// DSNs are the databases to run against.
type DSNs struct{ Postgres, MySQL string }

// RunOne runs one strategy on one cell for d.
func RunOne(ctx context.Context, dsns DSNs, c Cell, s Strategy, d time.Duration, seed uint64) (Sample, bool, error) {
	runner := s.Runner(c)
	if runner == nil {
		return Sample{}, false, nil
	}
	dsn, driverName, err := dsnFor(dsns, c, s.Raw)
	if err != nil {
		return Sample{}, false, err
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return Sample{}, false, err
	}
	defer db.Close()
	db.SetMaxOpenConns(c.Workers + 4)
	db.SetMaxIdleConns(c.Workers + 4)
	if err := workload.Setup(ctx, db, c.Dialect, c.Accounts); err != nil {
		return Sample{}, false, err
	}
	res, err := workload.Run(ctx, db, workload.Config{
		Dialect: c.Dialect, Order: c.Order, Isolation: c.Isolation,
		Accounts: c.Accounts, Workers: c.Workers, Duration: d, Runner: runner, Seed: seed,
		TransferTimeout: 20 * time.Second,
		Ambiguous: func(err error) bool {
			var ac *crdb.AmbiguousCommitError
			return errors.As(err, &ac) || errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous)
		},
	})
	if err != nil {
		return Sample{}, false, err
	}
	check, err := workload.Verify(ctx, db, c.Accounts, res)
	if err != nil {
		return Sample{}, false, err
	}
	smp := Sample{
		PerSecond: res.PerSecond(), P50: res.Percentile(50), P99: res.Percentile(99), Max: res.Percentile(100),
		GivenUp: res.Failed, Ambiguous: res.Ambiguous, Violations: check.Violations(),
	}
	if res.Committed > 0 {
		smp.RunsPerCommit = float64(res.Runs) / float64(res.Committed)
	}
	if !check.OK() {
		smp.ViolationDetails = fmt.Sprintf("%+v", check)
	}
	return smp, true, nil
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
// to log.
func Run(ctx context.Context, dsns DSNs, cells []Cell, strategies []Strategy, d time.Duration, reps int, log io.Writer) ([]Row, error) {
	rows := map[string]*Row{}
	var order []string
	for rep := range reps {
		for ci, c := range cells {
			for si, s := range strategies {
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
				fmt.Fprintf(log, "rep %d  %-60s %-34s %7.0f/s  p99 %-9v given up %d  violations %d %s\n",
					rep+1, c.Name, s.Name, smp.PerSecond, smp.P99.Round(time.Millisecond), smp.GivenUp, smp.Violations, smp.ViolationDetails)
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
