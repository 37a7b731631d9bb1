package integration_test

import (
	"context"
	"database/sql"
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
			db, err := sql.Open(drv, dbtest.PostgresDSN(b))
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
