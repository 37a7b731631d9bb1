package integration_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// BenchmarkPostgres runs SELECT 1 and a one-row INSERT on the local
// PostgreSQL through pgx's own database/sql driver and through retry+pgx,
// in one run, so that benchstat can compare them:
//
//	go test -run '^$' -bench BenchmarkPostgres -count 10 ./integration | tee pg.txt
//	benchstat -col /driver pg.txt
//
// Sessions run with synchronous_commit off: the INSERT's cost is then the
// server's work and the drivers', not the variance of flushing the WAL to
// this machine's disk, which would hide a difference of a few percent.
func BenchmarkPostgres(b *testing.B) {
	admin := dbtest.OpenPostgres(b)
	dbtest.Exec(b, admin, "DROP TABLE IF EXISTS rs_bench", "CREATE TABLE rs_bench (id bigserial PRIMARY KEY, v int)")
	b.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_bench") })
	ctx := context.Background()
	for _, op := range []struct {
		name string
		run  func(*sql.DB) error
	}{
		{"SELECT1", func(db *sql.DB) error {
			var one int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		}},
		{"INSERT", func(db *sql.DB) error {
			_, err := db.ExecContext(ctx, "INSERT INTO rs_bench (v) VALUES ($1)", 1)
			return err
		}},
	} {
		for _, drv := range []string{"pgx", retrysql.DriverPgx} {
			db, err := sql.Open(drv, withSetting(b, dbtest.PostgresDSN(b), "synchronous_commit", "off"))
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxIdleConns(4)
			b.Run("op="+op.name+"/driver="+drv, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.run(db); err != nil {
						b.Fatal(err)
					}
				}
			})
			db.Close()
		}
	}
}

// withSetting adds a server setting to a PostgreSQL URL DSN (pgx sends
// unknown query parameters as run-time settings).
func withSetting(b *testing.B, dsn, name, value string) string {
	b.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		b.Skipf("the benchmark needs a URL DSN, got %q", dsn)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// BenchmarkRunInTxUncontended runs a one-worker transfer transaction
// (two UPDATEs of different rows and a ledger INSERT, nothing competing)
// with RunInTx on retry+pgx and retry+mysql, with admission control off
// and on, in one run, so that benchstat shows what admission costs when
// there is no contention:
//
//	for i in 1 2 3 4 5 6 7 8 9 10; do
//	  RETRYSQL_BENCH_FLIP=$((i % 2)) go test -run '^$' -bench BenchmarkRunInTxUncontended -benchtime 2s ./integration
//	done | tee tx.txt
//	benchstat -col /admission tx.txt
//
// One process per run, with the order of the modes flipped every other
// run (RETRYSQL_BENCH_FLIP=1 runs "on" first): the servers' state drifts
// during a run (the ledger grows, checkpoints come), and a fixed order
// would charge that drift to the mode that runs second.
func BenchmarkRunInTxUncontended(b *testing.B) {
	ctx := context.Background()
	modes := []string{"off", "on"}
	if os.Getenv("RETRYSQL_BENCH_FLIP") == "1" {
		modes = []string{"on", "off"}
	}
	for _, dialect := range []string{"postgres", "mariadb"} {
		var (
			dsn, drv string
			setup    []string
			q        [3]string
		)
		if dialect == "postgres" {
			dsn, drv = withSetting(b, dbtest.PostgresDSN(b), "synchronous_commit", "off"), "pgx"
			q = [3]string{"UPDATE rs_tx_accounts SET balance = balance - $1 WHERE id = 1", "UPDATE rs_tx_accounts SET balance = balance + $1 WHERE id = 2", "INSERT INTO rs_tx_ledger (amount) VALUES ($1)"}
			setup = []string{"CREATE TABLE rs_tx_ledger (id bigserial PRIMARY KEY, amount int)"}
		} else {
			dsn, drv = dbtest.MySQLDSN(b), "mysql"
			q = [3]string{"UPDATE rs_tx_accounts SET balance = balance - ? WHERE id = 1", "UPDATE rs_tx_accounts SET balance = balance + ? WHERE id = 2", "INSERT INTO rs_tx_ledger (amount) VALUES (?)"}
			setup = []string{"CREATE TABLE rs_tx_ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, amount int)"}
		}
		for _, mode := range modes {
			var opts []retrysql.Option
			if mode == "on" {
				ctl, err := admission.New(admission.Settings{})
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, retrysql.WithAdmission(ctl))
			}
			db, err := retrysql.Open(drv, dsn, opts...)
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxIdleConns(4)
			dbtest.Exec(b, db, append([]string{"DROP TABLE IF EXISTS rs_tx_accounts", "DROP TABLE IF EXISTS rs_tx_ledger",
				"CREATE TABLE rs_tx_accounts (id int PRIMARY KEY, balance bigint)",
				"INSERT INTO rs_tx_accounts VALUES (1, 1000000), (2, 1000000)"}, setup...)...)
			fn := func(ctx context.Context, tx *sql.Tx) error {
				for _, s := range q {
					if _, err := tx.ExecContext(ctx, s, 1); err != nil {
						return err
					}
				}
				return nil
			}
			b.Run("db="+dialect+"/admission="+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := retrysql.RunInTx(ctx, db, nil, fn); err != nil {
						b.Fatal(err)
					}
				}
			})
			dbtest.Exec(b, db, "DROP TABLE rs_tx_accounts", "DROP TABLE rs_tx_ledger")
			db.Close()
		}
	}
}
