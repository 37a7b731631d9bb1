// Command example runs the workload of retrysql's bank demo
// (examples/bank/workload: random transfers between a few accounts, which
// collide) through retrysql.RunInTx with otelretrysql's hooks, and shows
// the OpenTelemetry metrics as they move: a line a second, then every
// metric and data point at the end. With -stdout, OpenTelemetry's stdout
// exporter prints the same metrics too, as JSON, as a collector would get
// them.
//
//	go run .                                          # 5 s against the local PostgreSQL
//	go run . -dsn 'root@tcp(127.0.0.1:3306)/test'     # the local MariaDB
//	go run . -duration 20s -stdout
//
// It works in tables of its own (otelretrysql_demo_accounts and
// otelretrysql_demo_ledger), which it creates marked as its own and drops
// at the end; it refuses to touch tables of those names that it did not
// create. It lives in a module of its own, so that neither otelretrysql
// nor the demo's module depends on the other.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/otelretrysql"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// target is the database: its driver and dialect.
type target struct {
	driver, dsn, system string
	dialect             workload.Dialect
}

// parseTarget tells PostgreSQL URLs from go-sql-driver/mysql DSNs. On
// PostgreSQL it adds the demo's enable_seqscan=off, so that the accounts
// are read by index and transfers conflict row by row.
func parseTarget(dsn string) (target, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return target{}, err
		}
		q := u.Query()
		if !q.Has("enable_seqscan") {
			q.Set("enable_seqscan", "off")
		}
		u.RawQuery = q.Encode()
		return target{driver: "pgx", dsn: u.String(), system: "postgresql", dialect: workload.Postgres}, nil
	}
	if strings.Contains(dsn, "://") || !strings.Contains(dsn, "/") {
		return target{}, fmt.Errorf("DSN %q: give a PostgreSQL URL (postgres://user@host:5432/db) or a go-sql-driver/mysql DSN (user@tcp(host:3306)/db)", dsn)
	}
	return target{driver: "mysql", dsn: dsn, system: "mariadb", dialect: workload.MySQL}, nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	dsnDefault := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if env := os.Getenv("DATABASE_URL"); env != "" {
		dsnDefault = env
	}
	dsn := fs.String("dsn", dsnDefault, "PostgreSQL URL or go-sql-driver/mysql DSN (default $DATABASE_URL, else the local PostgreSQL)")
	system := fs.String("system", "", "db.system.name (default postgresql or mariadb, from the DSN; mysql for MySQL)")
	duration := fs.Duration("duration", 5*time.Second, "how long to make transfers")
	workers := fs.Int("workers", 16, "goroutines making transfers")
	accounts := fs.Int("accounts", 8, "accounts; fewer means more collisions")
	every := fs.Duration("every", time.Second, "how often to print a line of the metrics")
	stdout := fs.Bool("stdout", false, "also export every metric with OpenTelemetry's stdout exporter (JSON), every -every")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := parseTarget(*dsn)
	if err != nil {
		return err
	}
	if *system != "" {
		t.system = *system
	}

	// The meter provider: a manual reader for the lines printed here, and
	// with -stdout the stdout exporter, as an application would export to
	// its collector.
	reader := sdkmetric.NewManualReader()
	opts := []sdkmetric.Option{
		sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName("otelretrysql-example"))),
		sdkmetric.WithReader(reader),
	}
	if *stdout {
		exp, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
		if err != nil {
			return err
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(*every))))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	defer mp.Shutdown(context.Background()) // exports a last time

	// The adapter, its hooks on a retrysql handle, the gauges of its
	// Retrier.
	tel, err := otelretrysql.New(
		otelretrysql.WithMeterProvider(mp),
		otelretrysql.WithDBSystem(t.system),
		otelretrysql.WithOperationDuration(),
	)
	if err != nil {
		return err
	}
	db, err := retrysql.Open(t.driver, t.dsn, tel.Options()...)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(*workers)
	db.SetMaxIdleConns(*workers)
	r, _ := retrysql.RetrierOf(db)
	unregister, err := tel.Observe(r)
	if err != nil {
		return err
	}
	defer unregister()

	// The bank demo's workload, in tables of this example's own.
	tables := workload.Tables{Accounts: "otelretrysql_demo_accounts", Ledger: "otelretrysql_demo_ledger"}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = workload.Owned(pctx, db, t.dialect, *accounts, tables)
	cancel()
	if err != nil {
		return err
	}
	defer workload.DropOwned(context.Background(), db, t.dialect, tables)
	cfg := workload.Config{
		Dialect: t.dialect, Tables: tables, Accounts: *accounts, Workers: *workers, Duration: *duration,
		Runner: workload.RunInTx(), Every: *every, Seed: uint64(time.Now().UnixNano()),
	}
	isolation := "SERIALIZABLE: colliding transfers fail with serialization failures (40001)"
	if t.dialect == workload.MySQL {
		cfg.Order, cfg.Isolation = workload.Random, sql.LevelRepeatableRead
		isolation = "REPEATABLE READ, accounts locked in random order: colliding transfers deadlock (1213)"
	} else {
		cfg.Order, cfg.Isolation = workload.Sorted, sql.LevelSerializable
	}
	fmt.Printf("%d workers, %d accounts, %v on %s; %s\n\n", *workers, *accounts, *duration, t.system, isolation)

	s := &summary{reader: reader}
	s.header(os.Stdout)
	cfg.Progress = func(p workload.Progress) { s.line(os.Stdout, p, "") }
	res, err := workload.Run(ctx, db, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	s.line(os.Stdout, workload.Progress{Elapsed: res.Elapsed, Committed: int64(res.Committed), Runs: res.Runs},
		"(the transfers under way at the end)")
	fmt.Printf("\nEvery metric at the end, as an exporter sends them:\n\n")
	if err := s.all(os.Stdout); err != nil {
		return err
	}
	check, err := workload.VerifyTables(context.Background(), db, tables, *accounts, res)
	if err != nil {
		return err
	}
	fmt.Printf("\n%d transfers committed, %d failed, %d unknown; %d runs of their transactions; ",
		res.Committed, res.Failed, res.Ambiguous, res.Runs)
	if !check.OK() {
		fmt.Println("the ledger is wrong")
		return fmt.Errorf("an invariant is violated: %+v", check)
	}
	fmt.Println("balances and ledger check out")
	return nil
}
