package gormretry_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/gormretry"
)

// Regression tests of bugs that an audit found on 2026-12-08, one per
// bug; each test's comment says what went wrong before its fix.

// TestSideTransactionIsNotFnsCommit: the documented way for fn to
// reach the attempt's context is tx.Statement.Context. A write fn makes
// beside the transaction with it (an outbox row, committed on its own by
// GORM's default transaction) is not fn committing RunInTx's transaction:
// a deadlock or serialization failure after it must still be replayed, as
// retrysql.RunInTx replays it when fn begins a side transaction with the
// ctx it was given.
func TestSideTransactionIsNotFnsCommit(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		if d.driver != retrysql.DriverPgx && d.driver != retrysql.DriverMySQL {
			continue // only retrysql's handles see the transactions' ends
		}
		t.Run(d.String(), func(t *testing.T) {
			admin := d.admin(t)
			code := "1213"
			if d.pg() {
				code = "40001"
			}
			name := "rs_gormretry_audit_side"
			flaky(t, d, admin, name, code, 1)
			tbl := "rs_gormretry_audit_outbox"
			table(t, admin, tbl, "id INT PRIMARY KEY, balance BIGINT NOT NULL")
			db := d.open(t, nil)
			var runs atomic.Int32
			err := gormretry.RunInTx(ctx, db, nil, func(tx *gorm.DB) error {
				n := runs.Add(1)
				if err := db.WithContext(tx.Statement.Context).Table(tbl).
					Create(&account{ID: int64(n), Balance: 1}).Error; err != nil {
					return err
				}
				var v int64
				return tx.Raw("SELECT " + name + "()").Scan(&v).Error
			})
			if err != nil || runs.Load() != 2 {
				t.Fatalf("got %v after %d runs (ErrTxEndedByFn: %v); want nil after 2 (the %s replayed)",
					err, runs.Load(), errors.Is(err, retrysql.ErrTxEndedByFn), code)
			}
		})
	}
}

// TestErrorOnTheHandleLeaksNoTransaction: GORM begins the
// transaction even on a *gorm.DB that carries an error of its chain
// (Begin adds none of its own), and returns it with that error: RunInTx
// returns the error, and must not leave the transaction GORM began open,
// holding a connection of the pool (and, on PostgreSQL, a snapshot) until
// the context ends, which context.Background never does.
func TestErrorOnTheHandleLeaksNoTransaction(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := d.open(t, nil)
			bad := db.Select(42) // "unsupported select args": db.Error is set
			if bad.Error == nil {
				t.Fatal("no error on the chain")
			}
			err := gormretry.RunInTx(context.Background(), bad, nil, func(tx *gorm.DB) error {
				t.Error("fn ran")
				return nil
			})
			if err == nil {
				t.Fatal("no error")
			}
			sqlDB, _ := db.DB()
			if st := sqlDB.Stats(); st.InUse != 0 {
				t.Fatalf("RunInTx returned %q with %d connection(s) still in use: the transaction GORM began was left open", err, st.InUse)
			}
		})
	}
}

// TestFnsFailedCommitIsNotReportedCommitted: fn swallows an error
// that aborts its PostgreSQL transaction, then calls tx.Commit, which the
// server answers with ROLLBACK: nothing is committed. The error RunInTx
// returns must not say "it is committed" (retrysql.RunInTx on a retrysql
// handle says the COMMIT failed and the outcome is not known).
func TestFnsFailedCommitIsNotReportedCommitted(t *testing.T) {
	for _, d := range dialects {
		if !d.pg() {
			continue
		}
		t.Run(d.String(), func(t *testing.T) {
			admin := d.admin(t)
			tbl := "rs_gormretry_audit_commitfail"
			table(t, admin, tbl, "id INT PRIMARY KEY, balance BIGINT NOT NULL")
			db := d.open(t, nil).Table(tbl)
			err := gormretry.RunInTx(context.Background(), db, nil, func(tx *gorm.DB) error {
				if err := tx.Create(&account{ID: 1, Balance: 1}).Error; err != nil {
					return err
				}
				_ = tx.Exec("SELECT 1/0").Error // aborts the transaction, swallowed
				return tx.Commit().Error        // answered with ROLLBACK
			})
			var n int
			if qerr := admin.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); qerr != nil || n != 0 {
				t.Fatalf("%d rows, %v: the premise (nothing committed) does not hold", n, qerr)
			}
			if !errors.Is(err, retrysql.ErrTxEndedByFn) || contains(err.Error(), "it is committed") {
				t.Fatalf("got %q; nothing was committed, and the error must not say it is", err)
			}
		})
	}
}

// TestAdmissionSiteIsFns: under admission (a retrysql handle's
// default, AdmitHotOnly), a transaction waits for a permit before BEGIN
// when "most first attempts of the same fn were hot" (retrysql.RunInTx);
// the site is fn's code. A cold transaction of another fn, after many hot
// ones, runs without a permit: its first statement is cold. Through
// gormretry every transaction is the same site (gormretry's own closure),
// so the cold one waits for and holds a permit as if it were hot.
func TestAdmissionSiteIsFns(t *testing.T) {
	d := dialect{"postgres", retrysql.DriverPgx}
	ctx := context.Background()
	admin := d.admin(t)
	name := "rs_gormretry_audit_hot"
	flaky(t, d, admin, name, "40001", 1<<30) // always a serialization failure
	db := d.open(t, nil)
	sqlDB, _ := db.DB()
	r, ok := retrysql.RetrierOf(sqlDB)
	if !ok || r.Stats().Admission == nil {
		t.Fatal("no admission controller on the retrysql handle")
	}
	var held int
	cold := func(tx *gorm.DB) error { // a transaction of its own fn
		var v int64
		err := tx.Raw("SELECT 1").Scan(&v).Error
		held = r.Stats().Admission.Inflight
		return err
	}
	if err := gormretry.RunInTx(ctx, db, nil, cold); err != nil || held != 0 {
		t.Fatalf("before: %d permit(s) held, %v; want 0, nil", held, err)
	}
	for range 10 { // the hot transaction: its first statement aborts
		gormretry.RunInTx(ctx, db, nil, func(tx *gorm.DB) error {
			var v int64
			return tx.Raw("SELECT " + name + "()").Scan(&v).Error
		}, retrysql.WithMaxAttempts(2))
	}
	if err := gormretry.RunInTx(ctx, db, nil, cold); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("a cold transaction of another fn held %d permit(s): it was judged by the hot fn's record", held)
	}
}
