package sqlxretry_test

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/sqlxretry"
)

// Regression tests of bugs that an audit found on 2026-12-08, one per
// bug; each test's comment says what went wrong before its fix.

// TestAdmissionSiteIsFns: under a retrysql handle's default
// admission (AdmitHotOnly), a transaction waits for a permit before BEGIN
// when "most first attempts of the same fn were hot" (retrysql.RunInTx).
// A cold transaction of another fn must run without a permit, as it does
// before any hot one has run; through sqlxretry every transaction is one
// site (sqlxretry's own closure), and it holds one.
func TestAdmissionSiteIsFns(t *testing.T) {
	d := dialect{"postgres", retrysql.DriverPgx}
	ctx := context.Background()
	admin := d.admin(t)
	name := "rs_sqlxretry_audit_hot"
	flaky(t, d, admin, name, "40001", 1<<30) // always a serialization failure
	db := d.open(t)
	r, ok := retrysql.RetrierOf(db.DB)
	if !ok || r.Stats().Admission == nil {
		t.Fatal("no admission controller on the retrysql handle")
	}
	var held int
	cold := func(ctx context.Context, tx *sqlx.Tx) error {
		var v int64
		err := tx.GetContext(ctx, &v, "SELECT 1")
		held = r.Stats().Admission.Inflight
		return err
	}
	if err := sqlxretry.RunInTx(ctx, db, nil, cold); err != nil || held != 0 {
		t.Fatalf("before: %d permit(s) held, %v; want 0, nil", held, err)
	}
	for range 10 {
		sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
			var v int64
			return tx.GetContext(ctx, &v, "SELECT "+name+"()")
		}, retrysql.WithMaxAttempts(2))
	}
	if err := sqlxretry.RunInTx(ctx, db, nil, cold); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("a cold transaction of another fn held %d permit(s): it was judged by the hot fn's record", held)
	}
}
