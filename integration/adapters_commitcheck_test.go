package integration_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/gormretry"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/pgxretry"
	"github.com/retrysql/retrysql/sqlxretry"
)

// The commit check through the adapters (pgxretry, gormretry, sqlxretry),
// with the cuts of commitcheck_test.go: COMMIT's reply lost after the
// server committed ("after": RunInTx returns nil, fn ran once), and COMMIT
// dropped before the server saw it ("before": replayed, fn ran twice);
// one row either way, and the Retrier counts the resolution.

// txBody is the work of one attempt: exec runs a statement in the
// attempt's transaction, whatever the adapter.
type txBody func(ctx context.Context, exec func(query string) error) error

// runner runs body in one adapter's RunInTx.
type runner func(ctx context.Context, body txBody, opts ...retrysql.Option) error

// adapterCase is one adapter on one server; open connects it to the
// server at dsn (a proxy's).
type adapterCase struct {
	name   string
	target checkTarget
	cuts   []string
	open   func(t *testing.T, pg bool, dsn string) runner
}

func adapterCases() []adapterCase {
	pg, my := checkTargets[0], checkTargets[1]
	both := []string{"after", "before"}
	return []adapterCase{
		{"pgxpool", pg, both, openPgxPool},
		// A *pgx.Conn is checked through a connection of its own; its
		// transaction cannot be replayed on it once it is lost ("before").
		{"pgx.Conn", pg, []string{"after"}, openPgxConn},
		{"gorm/postgres", pg, both, openGORMOn},
		{"gorm/mariadb", my, both, openGORMOn},
		{"sqlx/postgres", pg, both, openSqlx},
		{"sqlx/mariadb", my, both, openSqlx},
	}
}

func TestAdaptersCommitCheckResolvesLostCommit(t *testing.T) {
	for _, ac := range adapterCases() {
		t.Run(ac.name, func(t *testing.T) {
			admin := ac.target.admin(t)
			proxy := dbtest.NewProxy(t, ac.target.addr(t))
			if err := proxy.Start(); err != nil {
				t.Fatal(err)
			}
			run := ac.open(t, ac.target.name == "postgres", ac.target.via(t, proxy.Addr()))
			var last retrysql.Completion
			r := quickRetrier(t, retrysql.WithCommitCheck(true), retrysql.WithOnComplete(func(c retrysql.Completion) {
				if c.Place == retrysql.PlaceTransaction {
					last = c
				}
			}))
			var want retrysql.Stats
			for _, cut := range ac.cuts {
				table := "rs_acc_" + cut
				checkTable(t, admin, table)
				runs, err := cutWith(t, run, admin, proxy, table, cut, nil, retrysql.WithRetrier(r))
				wantRuns := int32(1)
				if cut == "before" {
					wantRuns = 2
					want.Resolved.NotCommitted++
				} else {
					want.Resolved.Committed++
				}
				if err != nil || runs != wantRuns {
					t.Fatalf("%s: %v after %d runs, want nil after %d", cut, err, runs, wantRuns)
				}
				if n := value(t, admin, "SELECT COUNT(*) FROM "+table); n != 1 {
					t.Fatalf("%s: %d rows, want 1", cut, n)
				}
				if got := r.Stats().Resolved; got != want.Resolved {
					t.Fatalf("%s: resolved %+v, want %+v", cut, got, want.Resolved)
				}
				// The completion hook says what the check found: the lost
				// COMMIT committed (ends "resolved"), or not (replayed, then
				// a success that counts it).
				switch {
				case cut == "after" && last.End != retrysql.EndResolved,
					cut == "before" && (last.End != retrysql.EndSuccess || last.NotCommitted != 1):
					t.Fatalf("%s: completion %v, %d found not committed", cut, last.End, last.NotCommitted)
				}
			}
		})
	}
}

func openPgxPool(t *testing.T, _ bool, dsn string) runner {
	pool := pgxPool(t, dsn)
	return func(ctx context.Context, body txBody, opts ...retrysql.Option) error {
		return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
			return body(ctx, func(q string) error { _, err := tx.Exec(ctx, q); return err })
		}, opts...)
	}
}

func openPgxConn(t *testing.T, _ bool, dsn string) runner {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return func(ctx context.Context, body txBody, opts ...retrysql.Option) error {
		return pgxretry.RunInTx(ctx, conn, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
			return body(ctx, func(q string) error { _, err := tx.Exec(ctx, q); return err })
		}, opts...)
	}
}

// openGORMOn opens GORM with the drivers' own names ("pgx", "mysql"): the
// commit check comes from the call's Retrier, and asks GORM's *sql.DB.
func openGORMOn(t *testing.T, pg bool, dsn string) runner {
	var dl gorm.Dialector
	if pg {
		dl = postgres.New(postgres.Config{DriverName: "pgx", DSN: dsn})
	} else {
		dl = gormmysql.New(gormmysql.Config{DriverName: "mysql", DSN: dsn})
	}
	db, err := gorm.Open(dl, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return func(ctx context.Context, body txBody, opts ...retrysql.Option) error {
		return gormretry.RunInTx(ctx, db, nil, func(tx *gorm.DB) error {
			return body(tx.Statement.Context, func(q string) error { return tx.Exec(q).Error })
		}, opts...)
	}
}

func openSqlx(t *testing.T, pg bool, dsn string) runner {
	drv := "mysql"
	if pg {
		drv = "pgx"
	}
	db, err := sqlx.Open(drv, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return func(ctx context.Context, body txBody, opts ...retrysql.Option) error {
		return sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
			return body(ctx, func(q string) error { _, err := tx.ExecContext(ctx, q); return err })
		}, opts...)
	}
}
