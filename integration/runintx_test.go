package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/strategy"
)

// accounts creates a table of n rows (id 1..n, v 0) and drops it at the end.
func accounts(t *testing.T, db *sql.DB, name string, n int) {
	t.Helper()
	dbtest.Exec(t, db, "DROP TABLE IF EXISTS "+name, "CREATE TABLE "+name+" (id INT PRIMARY KEY, v INT NOT NULL)")
	var vals []string
	for i := 1; i <= n; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 0)", i))
	}
	dbtest.Exec(t, db, "INSERT INTO "+name+" (id, v) VALUES "+strings.Join(vals, ", "))
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + name) })
}

func value(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var v int
	if err := db.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRunInTxReplaysRealSerializationFailure(t *testing.T) {
	ctx := context.Background()
	t.Run("postgres", func(t *testing.T) {
		admin := dbtest.OpenPostgres(t)
		accounts(t, admin, "rs_tx_ser_pg", 1)
		db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
		runs := 0
		err := retrysql.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, func(ctx context.Context, tx *sql.Tx) error {
			runs++
			var v int
			if err := tx.QueryRowContext(ctx, "SELECT v FROM rs_tx_ser_pg WHERE id = 1").Scan(&v); err != nil {
				return err
			}
			if runs == 1 { // another client commits a change to the row we read
				dbtest.Exec(t, admin, "UPDATE rs_tx_ser_pg SET v = v + 1 WHERE id = 1")
			}
			_, err := tx.ExecContext(ctx, "UPDATE rs_tx_ser_pg SET v = $1 WHERE id = 1", v+10)
			return err
		})
		if err != nil || runs != 2 {
			t.Fatalf("%v after %d runs", err, runs)
		}
		if v := value(t, admin, "SELECT v FROM rs_tx_ser_pg WHERE id = 1"); v != 11 {
			t.Fatalf("v = %d, want 11: the replay must read the other client's change", v)
		}
	})
	t.Run("mariadb", func(t *testing.T) {
		admin := dbtest.OpenMySQL(t)
		if !strings.Contains(fmt.Sprint(value(t, admin, "SELECT VERSION() LIKE '%MariaDB%'")), "1") {
			t.Skip("MySQL has no snapshot isolation error")
		}
		accounts(t, admin, "rs_tx_ser_my", 1)
		cfg, _ := mysql.ParseDSN(dbtest.MySQLDSN(t))
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["innodb_snapshot_isolation"] = "ON"
		db := openRetry(t, retrysql.DriverMySQL, cfg.FormatDSN())
		runs := 0
		err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs++
			var v int
			if err := tx.QueryRowContext(ctx, "SELECT v FROM rs_tx_ser_my WHERE id = 1").Scan(&v); err != nil {
				return err
			}
			if runs == 1 {
				dbtest.Exec(t, admin, "UPDATE rs_tx_ser_my SET v = v + 1 WHERE id = 1")
			}
			_, err := tx.ExecContext(ctx, "UPDATE rs_tx_ser_my SET v = ? WHERE id = 1", v+10)
			return err
		})
		if err != nil || runs != 2 {
			t.Fatalf("%v after %d runs", err, runs)
		}
		if v := value(t, admin, "SELECT v FROM rs_tx_ser_my WHERE id = 1"); v != 11 {
			t.Fatalf("v = %d, want 11", v)
		}
	})
}

// TestRunInTxReplaysRealDeadlock makes RunInTx's transaction the deadlock
// victim: another client takes row 2, then waits for row 1, which ours
// holds, while ours asks for row 2.
func TestRunInTxReplaysRealDeadlock(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, driver, table string
		admin               func(testing.TB) *sql.DB
		dsn                 func(testing.TB) string
		rows                int
		victimSetup         string // makes our transaction the victim
		otherSetup          string
		heavy               string // makes the other transaction heavier (InnoDB rolls back the lighter)
		param               string
	}{
		{"postgres", retrysql.DriverPgx, "rs_tx_dl_pg", dbtest.OpenPostgres, dbtest.PostgresDSN, 2,
			"SET LOCAL deadlock_timeout = '50ms'", "SET deadlock_timeout = '10s'", "", "$1"},
		{"mariadb", retrysql.DriverMySQL, "rs_tx_dl_my", dbtest.OpenMySQL, dbtest.MySQLDSN, 22,
			"", "", "UPDATE rs_tx_dl_my SET v = v + 1 WHERE id > 2", "?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := tc.admin(t)
			accounts(t, admin, tc.table, tc.rows)
			other := sessions(t, admin, 1)[0]
			if tc.otherSetup != "" {
				dbtest.Exec(t, other, tc.otherSetup)
			}
			db := openRetry(t, tc.driver, tc.dsn(t))
			var runs atomic.Int32
			otherDone := make(chan error, 1)
			err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
				n := runs.Add(1)
				if tc.victimSetup != "" {
					if _, err := tx.ExecContext(ctx, tc.victimSetup); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, "UPDATE "+tc.table+" SET v = v + 1 WHERE id = 1"); err != nil {
					return err
				}
				if n == 1 {
					otx, err := other.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					if tc.heavy != "" {
						if _, err := otx.ExecContext(ctx, tc.heavy); err != nil {
							return err
						}
					}
					if _, err := otx.ExecContext(ctx, "UPDATE "+tc.table+" SET v = v + 1 WHERE id = 2"); err != nil {
						return err
					}
					go func() {
						_, err := otx.ExecContext(ctx, "UPDATE "+tc.table+" SET v = v + 1 WHERE id = 1")
						if err == nil {
							err = otx.Commit()
						} else {
							otx.Rollback()
						}
						otherDone <- err
					}()
					time.Sleep(200 * time.Millisecond) // the other client now waits for row 1
				}
				_, err := tx.ExecContext(ctx, "UPDATE "+tc.table+" SET v = v + 1 WHERE id = 2")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-otherDone; err != nil {
				t.Fatalf("the other transaction failed: %v (ours should have been the victim)", err)
			}
			if runs.Load() != 2 {
				t.Fatalf("%d runs, want 2", runs.Load())
			}
			if v := value(t, admin, "SELECT v FROM "+tc.table+" WHERE id = 1"); v != 2 {
				t.Fatalf("row 1 = %d, want 2 (one update each, none lost or doubled)", v)
			}
			st := retrierStats(t, db)
			if st.RetriesByCode["40P01"]+st.RetriesByCode["1213"] != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestRunInTxReplaysConflictRaisedByCommit: under SERIALIZABLE, write skew
// with a transaction that commits first makes our COMMIT fail with 40001.
func TestRunInTxReplaysConflictRaisedByCommit(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	accounts(t, admin, "rs_tx_commit", 2)
	other := sessions(t, admin, 1)[0]
	db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))
	runs, fnOK := 0, 0
	err := retrysql.RunInTx(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, func(ctx context.Context, tx *sql.Tx) error {
		runs++
		var sum int
		if err := tx.QueryRowContext(ctx, "SELECT sum(v) FROM rs_tx_commit").Scan(&sum); err != nil {
			return err
		}
		var otx *sql.Tx
		if runs == 1 {
			var err error
			if otx, err = other.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}); err != nil {
				return err
			}
			if err := otx.QueryRowContext(ctx, "SELECT sum(v) FROM rs_tx_commit").Scan(&sum); err != nil {
				return err
			}
			if _, err := otx.ExecContext(ctx, "UPDATE rs_tx_commit SET v = v + 1 WHERE id = 2"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE rs_tx_commit SET v = v + 1 WHERE id = 1"); err != nil {
			return err
		}
		if otx != nil {
			if err := otx.Commit(); err != nil {
				return fmt.Errorf("the other transaction: %w", err)
			}
		}
		fnOK++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || fnOK != 2 {
		t.Fatalf("%d runs, %d returned nil: the first attempt must fail at COMMIT, after fn succeeded", runs, fnOK)
	}
}

func TestRunInTxPermanentPanicAndDeadline(t *testing.T) {
	ctx := context.Background()
	admin := dbtest.OpenPostgres(t)
	accounts(t, admin, "rs_tx_misc", 1)
	db := openRetry(t, retrysql.DriverPgx, dbtest.PostgresDSN(t))

	t.Run("unique violation runs once", func(t *testing.T) {
		runs := 0
		err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs++
			_, err := tx.ExecContext(ctx, "INSERT INTO rs_tx_misc (id, v) VALUES (1, 0)")
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" || runs != 1 {
			t.Fatalf("%v after %d runs", err, runs)
		}
	})

	t.Run("panic rolls back", func(t *testing.T) {
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Fatalf("recovered %v", p)
				}
			}()
			retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO rs_tx_misc (id, v) VALUES (99, 0)"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if n := value(t, admin, "SELECT count(*) FROM rs_tx_misc WHERE id = 99"); n != 0 {
			t.Fatalf("%d rows left by the panicking transaction", n)
		}
	})

	t.Run("deadline shorter than the backoff", func(t *testing.T) {
		flakyPG(t, admin, "rs_tx_always", "40001", 1_000_000)
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		runs := 0
		err := retrysql.RunInTx(dctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
			runs++
			_, err := tx.ExecContext(ctx, "SELECT rs_tx_always()")
			return err
		}, retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Second}))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "40001" || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the last database error", err)
		}
		if runs != 1 || time.Since(start) > 250*time.Millisecond {
			t.Fatalf("%d runs, returned after %v: it should give up at once", runs, time.Since(start))
		}
	})
}

// TestRunInTxCommitCut cuts the connection while COMMIT is in flight
// (toxiproxy resets it when the answer comes back): the outcome is unknown,
// so RunInTx reports ErrAmbiguousCommit and does not replay, unless the
// transaction was declared idempotent.
func TestRunInTxCommitCut(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, driver, insert string
		admin                func(testing.TB) *sql.DB
		via                  func(*testing.T, string) string
		addr                 func(*testing.T) string
	}{
		{"postgres", retrysql.DriverPgx, "INSERT INTO rs_tx_cut (id, v) VALUES (1, 0) ON CONFLICT DO NOTHING", dbtest.OpenPostgres, pgVia, pgAddr},
		{"mariadb", retrysql.DriverMySQL, "INSERT IGNORE INTO rs_tx_cut (id, v) VALUES (1, 0)", dbtest.OpenMySQL, mysqlVia, mysqlAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, idempotent := range []bool{false, true} {
				admin := tc.admin(t)
				dbtest.Exec(t, admin, "DROP TABLE IF EXISTS rs_tx_cut", "CREATE TABLE rs_tx_cut (id INT PRIMARY KEY, v INT)")
				t.Cleanup(func() { admin.Exec("DROP TABLE IF EXISTS rs_tx_cut") })
				proxy := dbtest.NewProxy(t, tc.addr(t))
				if err := proxy.Start(); err != nil {
					t.Fatal(err)
				}
				db := openRetry(t, tc.driver, tc.via(t, proxy.Addr()))
				var opts []retrysql.Option
				if idempotent {
					opts = append(opts, retrysql.WithIdempotent())
				}
				runs := 0
				err := retrysql.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sql.Tx) error {
					runs++
					if _, err := tx.ExecContext(ctx, tc.insert); err != nil {
						return err
					}
					if runs == 1 {
						proxy.Toxic(t, `{"name":"cut","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
						time.AfterFunc(300*time.Millisecond, func() { proxy.Toxics.RemoveToxic(context.Background(), "cut") })
					}
					return nil
				}, opts...)
				rows := value(t, admin, "SELECT count(*) FROM rs_tx_cut")
				t.Logf("idempotent=%v: %v after %d runs, %d rows", idempotent, err, runs, rows)
				if rows > 1 {
					t.Fatalf("%d rows", rows)
				}
				if !idempotent {
					if !errors.Is(err, retrysql.ErrAmbiguousCommit) || runs != 1 {
						t.Fatalf("got %v after %d runs, want ErrAmbiguousCommit and no replay", err, runs)
					}
					continue
				}
				if err != nil || runs != 2 || rows != 1 {
					t.Fatalf("idempotent: %v after %d runs, %d rows", err, runs, rows)
				}
			}
		})
	}
}
