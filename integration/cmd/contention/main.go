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
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/retrysql/retrysql/admission"
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
	targets := flag.String("variants", "", "also run admission with these settings, comma-separated: t<abort target>q<queue threshold>w<min window>, e.g. t0.2q2w16,t0.2q-1w32")
	flag.Parse()
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
	if *checked {
		candidates = append(candidates, contention.CommitChecked()...)
	}
	if *pgxNative {
		candidates = append(candidates, contention.PgxStrategies()...)
	}
	if *targets != "" {
		for _, f := range strings.Split(*targets, ",") {
			var v, q float64
			var w int
			if _, err := fmt.Sscanf(strings.TrimSpace(f), "t%gq%gw%d", &v, &q, &w); err != nil || v <= 0 || v >= 1 || w < 1 {
				fmt.Fprintf(os.Stderr, "contention: -variants wants t<abort target>q<queue threshold>w<min window>, got %q\n", f)
				os.Exit(2)
			}
			set := admission.Settings{TargetAbort: v, QueueThreshold: q, MinWindow: w}
			if _, err := admission.New(set); err != nil {
				fmt.Fprintf(os.Stderr, "contention: -variants %q: %v\n", f, err)
				os.Exit(2)
			}
			candidates = append(candidates, contention.Admission(fmt.Sprintf("admission t%g q%g w%d", v, q, w), set))
		}
	}
	for _, s := range candidates {
		for _, want := range strings.Split(*onlyS, ",") {
			if strings.Contains(s.Name, want) {
				strategies = append(strategies, s)
				break
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

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
