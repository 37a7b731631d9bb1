// Command contention runs retrysql's contention benchmark: the bank
// workload on the local PostgreSQL and MariaDB (or those named by
// RETRYSQL_PG_DSN and RETRYSQL_MYSQL_DSN), every cell with every strategy,
// interleaved, repeated, and prints the table of BENCHMARKS.md.
//
//	go run ./integration/cmd/contention -duration 3s -reps 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

func main() {
	d := flag.Duration("duration", 3*time.Second, "length of each run")
	reps := flag.Int("reps", 3, "repetitions of every cell and strategy")
	only := flag.String("cells", "", "run only the cells whose name contains this text")
	flag.Parse()
	if *d <= 0 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "contention: need a positive -duration and -reps ≥ 1")
		os.Exit(2)
	}
	dsns := contention.DSNs{Postgres: env("RETRYSQL_PG_DSN", dbtest.DefaultPostgresDSN), MySQL: env("RETRYSQL_MYSQL_DSN", dbtest.DefaultMySQLDSN)}
	var cells []contention.Cell
	for _, c := range contention.Cells() {
		if strings.Contains(c.Name, *only) {
			cells = append(cells, c)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	rows, err := contention.Run(ctx, dsns, cells, contention.Strategies(), *d, *reps, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "contention:", err)
		os.Exit(1)
	}
	fmt.Printf("Runs of %v, %d repetitions, interleaved; medians, goodput range; %v in all.\n\n", *d, *reps, time.Since(start).Round(time.Second))
	contention.Markdown(os.Stdout, rows)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
