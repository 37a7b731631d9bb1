package retrysql_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/retrysql/retrysql"
)

// The commit check itself runs on real servers (integration's
// commitcheck_test.go); here, what it refuses and what it leaves alone.

func TestCommitCheckNeedsAKnownDriver(t *testing.T) {
	d := newFake(nil)
	db := openFake(t, d)
	ctx := context.Background()
	noop := func(context.Context, *sql.Tx) error { return nil }
	err := retrysql.RunInTx(ctx, db, nil, noop, retrysql.WithCommitCheck(true))
	if err == nil || !strings.Contains(err.Error(), "no commit check for the driver") {
		t.Fatalf("fake driver: %v", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = retrysql.RunInTx(ctx, conn, nil, noop, retrysql.WithCommitCheck(true))
	if err == nil || !strings.Contains(err.Error(), "needs a *sql.DB") {
		t.Fatalf("*sql.Conn: %v", err)
	}
	if n := d.count("begin", ""); n != 0 {
		t.Fatalf("%d BEGINs for refused calls", n)
	}
	// A read-only transaction is not checked (it is replayed instead).
	if err := retrysql.RunInTx(ctx, db, &sql.TxOptions{ReadOnly: true}, noop, retrysql.WithCommitCheck(true)); err != nil {
		t.Fatalf("read-only: %v", err)
	}
	if err := retrysql.RunInTx(ctx, db, nil, noop, retrysql.WithCommitCheck(false)); err != nil {
		t.Fatalf("off: %v", err)
	}
	if n := d.count("begin", ""); n != 2 {
		t.Fatalf("%d BEGINs, want 2", n)
	}
}

// Plain Transact has nothing to ask a lost COMMIT through: it refuses the
// commit check rather than leave a lost COMMIT unresolved behind the
// user's back (TransactOn, which pgxretry uses, checks through a connector).
func TestTransactRefusesCommitCheck(t *testing.T) {
	ran := false
	err := retrysql.Transact(context.Background(), false, func(context.Context, retrysql.TxAttempt) error {
		ran = true
		return nil
	}, retrysql.WithCommitCheck(true))
	if err == nil || ran || !strings.Contains(err.Error(), "Transact has no commit check") {
		t.Fatalf("%v (ran %v)", err, ran)
	}
}
