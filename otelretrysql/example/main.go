// Command example makes bank transfers between a few accounts of the
// local PostgreSQL under SERIALIZABLE, so that they collide and retrysql
// replays them, and prints otelretrysql's metrics to stdout with
// OpenTelemetry's stdout exporter every second.
//
//	go run ./otelretrysql/example                  # 5 s against the local PostgreSQL
//	go run ./otelretrysql/example -duration 20s -dsn postgres://app@db/shop
//
// It creates the table otelretrysql_example_accounts and drops it at the
// end.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/otelretrysql"
)

const table = "otelretrysql_example_accounts"

func main() {
	dsn := flag.String("dsn", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN")
	duration := flag.Duration("duration", 5*time.Second, "how long to make transfers")
	workers := flag.Int("workers", 8, "concurrent transfers")
	accounts := flag.Int("accounts", 4, "accounts (fewer: more collisions)")
	flag.Parse()
	if err := run(*dsn, *duration, *workers, *accounts); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(dsn string, duration time.Duration, workers, accounts int) error {
	ctx := context.Background()

	// Metrics: every second, to stdout.
	exp, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName("otelretrysql-example"))),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Second))))
	defer mp.Shutdown(ctx) // exports a last time

	tel, err := otelretrysql.New(
		otelretrysql.WithMeterProvider(mp),
		otelretrysql.WithDBSystem("postgresql"),
		otelretrysql.WithOperationDuration(),
	)
	if err != nil {
		return err
	}
	db, err := retrysql.Open("pgx", dsn, tel.Options()...)
	if err != nil {
		return err
	}
	defer db.Close()
	r, _ := retrysql.RetrierOf(db)
	unregister, err := tel.Observe(r)
	if err != nil {
		return err
	}
	defer unregister()

	if err := setUp(ctx, db, accounts); err != nil {
		return err
	}
	defer db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table)

	var done, failed atomic.Int64
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				from := rand.IntN(accounts)
				to := (from + 1 + rand.IntN(accounts-1)) % accounts
				if err := transfer(ctx, db, from, to, 1+rand.Int64N(10)); err != nil {
					failed.Add(1)
					log.Printf("transfer: %v", err)
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()

	var total int64
	if err := db.QueryRowContext(ctx, "SELECT sum(balance) FROM "+table).Scan(&total); err != nil {
		return err
	}
	st := r.Stats()
	fmt.Fprintf(os.Stderr, "%d transfers, %d failed, %d retries, %d give-ups; sum of balances %d (want %d)\n",
		done.Load(), failed.Load(), st.Retries, st.GiveUps, total, int64(accounts)*1000)
	if total != int64(accounts)*1000 {
		return errors.New("the sum of balances changed")
	}
	return nil
}

func setUp(ctx context.Context, db *sql.DB, accounts int) error {
	for _, stmt := range []string{
		"DROP TABLE IF EXISTS " + table,
		"CREATE TABLE " + table + " (id int PRIMARY KEY, balance bigint NOT NULL)",
		fmt.Sprintf("INSERT INTO %s SELECT i, 1000 FROM generate_series(0, %d) AS i", table, accounts-1),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// transfer moves amount from one account to another in a SERIALIZABLE
// transaction, which RunInTx replays after a serialization failure.
func transfer(ctx context.Context, db *sql.DB, from, to int, amount int64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return retrysql.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable},
		func(ctx context.Context, tx *sql.Tx) error {
			var balance int64
			if err := tx.QueryRowContext(ctx, "SELECT balance FROM "+table+" WHERE id = $1", from).Scan(&balance); err != nil {
				return err
			}
			if balance < amount {
				return nil // nothing to move
			}
			if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET balance = balance - $1 WHERE id = $2", amount, from); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE "+table+" SET balance = balance + $1 WHERE id = $2", amount, to)
			return err
		})
}
