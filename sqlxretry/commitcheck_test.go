package sqlxretry_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/sqlxretry"
)

// TestCommitCheck: the commit check runs on db.DB, whether it is asked
// for in the call or by the handle (retrysql.Open with WithCommitCheck):
// the transaction carries the check's
// proof before fn runs (on PostgreSQL a transaction id; on MariaDB the
// marker's insert, seen as its LAST_INSERT_ID); without the check it does
// not. The check itself, with COMMIT's answer cut, runs in integration
// (adapters_commitcheck_test.go).
func TestCommitCheck(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			proved := "SELECT txid_current_if_assigned() IS NOT NULL"
			if !d.pg() {
				proved = "SELECT LAST_INSERT_ID() = CRC32(CONCAT(@@hostname, ':', @@port, ':', @@server_id))"
			}
			run := func(db *sqlx.DB, options ...retrysql.Option) bool {
				t.Helper()
				var got bool
				err := sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
					return tx.GetContext(ctx, &got, proved)
				}, options...)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			if run(d.open(t)) {
				t.Fatal("proved without the check")
			}
			if !run(d.open(t), retrysql.WithCommitCheck(true)) {
				t.Fatal("not proved with WithCommitCheck(true) in the call")
			}
			drv := "mysql"
			if d.pg() {
				drv = "pgx"
			}
			sqlDB, err := retrysql.Open(drv, d.dsn(t), retrysql.WithCommitCheck(true))
			if err != nil {
				t.Fatal(err)
			}
			db := sqlx.NewDb(sqlDB, d.driver)
			t.Cleanup(func() { db.Close() })
			// Proved only if RunInTx took the handle's Retrier, whose policy
			// has the check.
			if !run(db) {
				t.Fatal("not proved on a handle opened with the check")
			}
		})
	}
}
