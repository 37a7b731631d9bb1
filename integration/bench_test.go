package integration_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/retrysql/retrysql"
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
