// Command contention runs retrysql's contention benchmark: the bank
// workload on the local PostgreSQL and MariaDB (or those named by
// RETRYSQL_PG_DSN and RETRYSQL_MYSQL_DSN), every cell with every strategy,
// interleaved, repeated, and prints the table of BENCHMARKS.md.
//
//	go run ./integration/cmd/contention -duration 3s -reps 3
//
// With -pgx, the pgx-native rows (pgxretry.RunInTx on a pgxpool) run
// beside the database/sql ones on the PostgreSQL cells:
//
//	go run ./integration/cmd/contention -pgx -cells PG -duration 5s -reps 3 -strategies "retrysql default,retrysql admission"
//
// With -fleet, the fleet's cells (2, 4 and 8 client processes) instead of
// the main table's; admission's variants (hot keys, the fleet gate) are
// always among the strategies to choose from. CONTENTION_CPUPROFILE=file
// writes a CPU profile of the run (of this process, not its clients').
//
// With -paired N, each selected cell compares two strategies, the first
// each of the first two texts of -strategies names (off, then on), in N
// pairs of phases of -duration each, on
// the same tables, and prints the median ratio of their goodputs with its
// 95% confidence interval:
//
//	go run ./integration/cmd/contention -more -cells "cold with" -paired 40 -duration 1s -strategies "retrysql without admission,retrysql default"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

func main() {
	d := flag.Duration("duration", 3*time.Second, "length of each run")
	reps := flag.Int("reps", 3, "repetitions of every cell and strategy")
	only := flag.String("cells", "", "run only the cells whose name contains this text")
	more := flag.Bool("more", false, "run the further cells (low contention, several processes, phases) instead of the main table's")
	fleet := flag.Bool("fleet", false, "run the fleet's cells (2, 4, 8 client processes) instead of the main table's, and admission's fleet variants beside the strategies")
	onlyS := flag.String("strategies", "", "run only the strategies whose name contains one of these comma-separated texts")
	oracle := flag.String("fixed", "", "also run admission with these fixed limits, comma-separated (e.g. 1,2,4)")
	checked := flag.Bool("commitcheck", false, "also run retrysql's default and admission with the commit check on")
	pgxNative := flag.Bool("pgx", false, "also run retrysql's default and admission through pgxretry on a pgxpool, without database/sql (PostgreSQL cells of one process; -strategies \"retrysql default\" selects both kinds)")
	pairs := flag.Int("paired", 0, "compare the strategies the first two texts of -strategies name (off, then on) in this many pairs of phases of -duration on each selected cell, instead of the table")
	targets := flag.String("variants", "", "also run admission with these settings, comma-separated: t<abort target>q<queue threshold>w<min window>, then s<start limit>, h for hot keys only and f for the fleet gate, e.g. t0.2q2w16,t0.3q2w32s1hf")
	processes := flag.Bool("processes", false, "after each run of a cell of several processes, print each process's goodput, mean limit, gated and cold attempts (stderr)")
	flag.Parse()
	if *processes {
		contention.ShowProcesses = os.Stderr
	}
	if *d <= 0 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "contention: need a positive -duration and -reps ≥ 1")
		os.Exit(2)
	}
	dsns := contention.DSNs{Postgres: env("RETRYSQL_PG_DSN", dbtest.DefaultPostgresDSN), MySQL: env("RETRYSQL_MYSQL_DSN", dbtest.DefaultMySQLDSN)}
	var cells []contention.Cell
	all := contention.Cells()
	if *more {
		all = contention.MoreCells()
	}
	if *fleet {
		all = contention.FleetCells()
	}
	for _, c := range all {
		if strings.Contains(c.Name, *only) {
			cells = append(cells, c)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var strategies []contention.Strategy
	candidates := contention.Strategies()
	if *oracle != "" {
		var ls []int
		for _, f := range strings.Split(*oracle, ",") {
			l, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || l < 1 {
				fmt.Fprintf(os.Stderr, "contention: -fixed wants limits ≥ 1, got %q\n", f)
				os.Exit(2)
			}
			ls = append(ls, l)
		}
		candidates = append(candidates, contention.FixedLimits(ls...)...)
	}
	candidates = append(candidates, contention.FleetStrategies()...)
	candidates = append(candidates, contention.RowLocks())
	if *checked {
		candidates = append(candidates, contention.CommitChecked()...)
	}
	if *pgxNative {
		candidates = append(candidates, contention.PgxStrategies()...)
	}
	if *targets != "" {
		for _, f := range strings.Split(*targets, ",") {
			set, name, err := parseVariant(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(os.Stderr, "contention: -variants: %v\n", err)
				os.Exit(2)
			}
			candidates = append(candidates, contention.Admission(name, set))
		}
	}
	if *pairs > 0 {
		// Paired: the first strategy each text names, in the order given
		// (off, then on).
		for _, want := range strings.Split(*onlyS, ",") {
			i := slices.IndexFunc(candidates, func(s contention.Strategy) bool {
				return strings.Contains(s.Name, want) && !slices.ContainsFunc(strategies, func(t contention.Strategy) bool { return t.Name == s.Name })
			})
			if i >= 0 {
				strategies = append(strategies, candidates[i])
			}
		}
	} else {
		for _, s := range candidates {
			for _, want := range strings.Split(*onlyS, ",") {
				if strings.Contains(s.Name, want) {
					strategies = append(strategies, s)
					break
				}
			}
		}
	}
	if spec := os.Getenv(contention.ChildEnv); spec != "" {
		// A client process of a multi-process cell.
		if err := contention.Child(ctx, spec, strategies, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "contention:", err)
			os.Exit(1)
		}
		return
	}
	if path := os.Getenv("CONTENTION_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if *pairs > 0 {
		if err := paired(ctx, dsns, cells, strategies, *d, *pairs); err != nil {
			fmt.Fprintln(os.Stderr, "contention:", err)
			os.Exit(1)
		}
		return
	}
	start := time.Now()
	rows, err := contention.Run(ctx, dsns, cells, strategies, *d, *reps, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "contention:", err)
		os.Exit(1)
	}
	fmt.Printf("Runs of %v, %d repetitions, interleaved; medians, goodput range; %v in all.\n\n", *d, *reps, time.Since(start).Round(time.Second))
	contention.Markdown(os.Stdout, rows)
	fmt.Println()
	contention.MarkdownMore(os.Stdout, rows)
}

// paired prints, for each cell, the paired comparison of the first two
// strategies.
func paired(ctx context.Context, dsns contention.DSNs, cells []contention.Cell, strategies []contention.Strategy, phase time.Duration, pairs int) error {
	if len(strategies) < 2 {
		return fmt.Errorf("-paired compares two strategies; %d selected", len(strategies))
	}
	fmt.Printf("Pairs of %v phases; goodput of %q ÷ that of %q, median and 95%% confidence interval.\n\n", phase, strategies[1].Name, strategies[0].Name)
	fmt.Println("In cells with cold workers beside hot ones, the first figures are the hot workers', the cold columns the cold ones'.")
	fmt.Println()
	fmt.Println("p99 ratio: the median over the pairs of the phases' p99 latencies (hot workers), on ÷ off; p99 off and on pool every phase of each.")
	fmt.Println()
	fmt.Println("| cell | pairs | ratio (95% CI) | off committed/s | on committed/s | cold ratio (95% CI) | cold off/s | cold on/s | p99 ratio (95% CI) | p99 off | p99 on | given up | violations |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, c := range cells {
		r, err := contention.Paired(ctx, dsns, c, strategies[0], strategies[1], phase, pairs, uint64(i+1))
		if err != nil {
			return err
		}
		cold := "– | – | – |"
		if c.ColdWorkers > 0 {
			cold = fmt.Sprintf("%.3f (%.3f–%.3f) | %.0f | %.0f |", r.ColdRatio, r.ColdLo95, r.ColdHi95, r.ColdOffPerSecond, r.ColdOnPerSecond)
		}
		fmt.Printf("| %s | %d | %.3f (%.3f–%.3f) | %.0f | %.0f | %s %.3f (%.3f–%.3f) | %v | %v | %d | %d |\n", r.Cell, r.Pairs, r.Ratio, r.Lo95, r.Hi95, r.OffPerSecond, r.OnPerSecond, cold,
			r.P99Ratio, r.P99Lo95, r.P99Hi95, r.OffP99.Round(time.Millisecond), r.OnP99.Round(time.Millisecond), r.GivenUp, r.Violations)
	}
	return nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
