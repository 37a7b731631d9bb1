// Command bank is retrysql's demo: workers make random transfers between a
// few bank accounts through retrysql.RunInTx, on PostgreSQL (SERIALIZABLE,
// so contention makes serialization failures) or MariaDB/MySQL (rows locked
// in conflicting orders, so contention makes deadlocks). It shows the
// transfers and retries as they happen, then a summary and the check that
// no transfer was lost or applied twice.
//
//	go run ./examples/bank                                   # local PostgreSQL
//	go run ./examples/bank -dsn 'root@tcp(127.0.0.1:3306)/test' # local MariaDB
//	DATABASE_URL=postgres://app@db/shop go run ./examples/bank -duration 30s
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/examples/bank/workload"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(out)
	dsnDefault := defaultDSN
	if env := os.Getenv("DATABASE_URL"); env != "" {
		dsnDefault = env
	}
	dsn := fs.String("dsn", dsnDefault, "database: a PostgreSQL URL or a go-sql-driver/mysql DSN (default $DATABASE_URL, else the local PostgreSQL)")
	accounts := fs.Int("accounts", 8, "number of accounts; fewer means more contention")
	workers := fs.Int("workers", 16, "goroutines making transfers")
	duration := fs.Duration("duration", 10*time.Second, "how long to make transfers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *accounts < 2 || *workers < 1 || *duration <= 0 {
		return fmt.Errorf("need -accounts ≥ 2, -workers ≥ 1 and a positive -duration")
	}

	d := dialectOf(*dsn)
	cfg := workload.Config{
		Dialect: d, Accounts: *accounts, Workers: *workers, Duration: *duration,
		Runner: workload.RunInTx(), Every: 500 * time.Millisecond, Seed: uint64(time.Now().UnixNano()),
	}
	driverName, what := retrysql.DriverPgx, "PostgreSQL, SERIALIZABLE"
	connDSN := *dsn
	if d == workload.MySQL {
		driverName, what = retrysql.DriverMySQL, "MySQL/MariaDB, REPEATABLE READ, rows locked in random order"
		cfg.Order, cfg.Isolation = workload.Random, sql.LevelRepeatableRead
	} else {
		cfg.Order, cfg.Isolation = workload.Sorted, sql.LevelSerializable
		connDSN = withParam(connDSN, "enable_seqscan", "off") // row-level conflicts only
	}
	db, err := sql.Open(driverName, connDSN)
	if err != nil {
		return fmt.Errorf("%v; point the demo at a database with -dsn or DATABASE_URL", err)
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach the database at %s (%v); point the demo at one with -dsn or DATABASE_URL, "+
			"e.g. -dsn 'postgres://user@host:5432/db' or -dsn 'user:password@tcp(host:3306)/db'", redact(*dsn), firstLine(err))
	}
	if err := workload.Setup(ctx, db, d, *accounts); err != nil {
		return err
	}
	r, _ := retrysql.RetrierOf(db)
	fmt.Fprintf(out, "retrysql bank demo: %d workers, %d accounts, %s (%s), %v\n\n", *workers, *accounts, what, driverName, *duration)
	var last workload.Progress
	cfg.Progress = func(p workload.Progress) {
		rate := float64(p.Committed-last.Committed) / (p.Elapsed - last.Elapsed).Seconds()
		last = p
		fmt.Fprintf(out, "\r%5.1fs  %7d committed  %6.0f transfers/s  retries: %s   ", p.Elapsed.Seconds(), p.Committed, rate, retries(r.Stats(), false))
	}
	res, err := workload.Run(ctx, db, cfg)
	fmt.Fprintln(out)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	check, err := workload.Verify(context.Background(), db, *accounts, res)
	if err != nil {
		return err
	}
	st := r.Stats()
	fmt.Fprintf(out, "\n%-22s %d (%.0f/s)\n", "committed", res.Committed, res.PerSecond())
	fmt.Fprintf(out, "%-22s %d\n", "failed", res.Failed)
	fmt.Fprintf(out, "%-22s %d\n", "ambiguous", res.Ambiguous)
	fmt.Fprintf(out, "%-22s %v / %v / %v\n", "latency p50/p99/max", round(res.Percentile(50)), round(res.Percentile(99)), round(res.Percentile(100)))
	if res.Committed > 0 {
		fmt.Fprintf(out, "%-22s %.2f\n", "runs per commit", float64(res.Runs)/float64(res.Committed))
	}
	fmt.Fprintf(out, "%-22s %s\n", "retries", retries(st, true))
	fmt.Fprintf(out, "%-22s %d budget denials, %d breaker rejections, %d give-ups\n", "", st.BudgetDenials, st.BreakerRejections, st.GiveUps)
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "VIOLATED"
	}
	fmt.Fprintf(out, "%-22s %d = %d: %s\n", "sum of balances", check.Balance, check.WantBalance, mark(check.Balance == check.WantBalance))
	fmt.Fprintf(out, "%-22s %d committed, %d without a row, %d doubled, %d failed yet written: %s\n", "ledger",
		res.Committed, check.Missing, check.Doubled, check.Phantom, mark(check.OK()))
	shown := 0
	for e, n := range res.Errors {
		if shown++; shown > 3 {
			break
		}
		fmt.Fprintf(out, "%-22s %d× %s\n", "a failure", n, firstLine(errors.New(e)))
	}
	if !check.OK() {
		return errors.New("an invariant is violated")
	}
	return nil
}

// retries formats the retries by class (and by code when long is set).
func retries(st retrysql.Stats, long bool) string {
	var parts []string
	for c := classify.Transient; c < classify.NumClasses; c++ {
		if n := st.ByClass[c].Retries; n > 0 || long {
			parts = append(parts, fmt.Sprintf("%s %d", c, n))
		}
	}
	if long && len(st.RetriesByCode) > 0 {
		var codes []string
		for code, n := range st.RetriesByCode {
			codes = append(codes, fmt.Sprintf("%s: %d", code, n))
		}
		slices.Sort(codes)
		parts = append(parts, "by code "+strings.Join(codes, ", "))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func dialectOf(dsn string) workload.Dialect {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || strings.Contains(dsn, "host=") {
		return workload.Postgres
	}
	return workload.MySQL
}

// withParam adds a query parameter to a URL DSN (pgx sends it as a setting).
func withParam(dsn, name, value string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	if q.Get(name) == "" {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return dsn
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
