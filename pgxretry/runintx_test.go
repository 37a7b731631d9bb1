package pgxretry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/pgxretry"
)

// TestCommitCheckNeedsPoolOrConn: the commit check asks other connections
// of a *pgxpool.Pool or a *pgx.Conn; on any other Beginner (a pgx.Tx, for a
// savepoint, or one of the application's), asked for in the call or by the
// Retrier, it is refused before anything begins, and a read-only
// transaction, which is never checked, runs.
func TestCommitCheckNeedsPoolOrConn(t *testing.T) {
	ctx := context.Background()
	checked, err := retrysql.NewRetrier(retrysql.WithCommitCheck(true))
	if err != nil {
		t.Fatal(err)
	}
	db := &fakeBeginner{}
	ran := 0
	fn := func(context.Context, pgx.Tx) error { ran++; return nil }
	for name, opt := range map[string]retrysql.Option{
		"call": retrysql.WithCommitCheck(true), "Retrier": retrysql.WithRetrier(checked),
	} {
		err := pgxretry.RunInTx(ctx, db, pgx.TxOptions{}, fn, opt)
		if err == nil || !strings.Contains(err.Error(), "WithCommitCheck") {
			t.Errorf("%s: %v, want a refusal of the commit check", name, err)
		}
	}
	if ran != 0 || db.begins.Load() != 0 {
		t.Fatalf("fn ran %d times after %d BEGINs", ran, db.begins.Load())
	}
	err = pgxretry.RunInTx(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn, retrysql.WithCommitCheck(true))
	if err != nil || ran != 1 {
		t.Fatalf("read-only: %v after %d runs", err, ran)
	}
}

// TestRunInTxBadInput: nil arguments are errors, never panics.
func TestRunInTxBadInput(t *testing.T) {
	ctx := context.Background()
	fn := func(context.Context, pgx.Tx) error { t.Fatal("fn ran"); return nil }
	var pool *pgxpool.Pool
	for name, err := range map[string]error{
		"nil db":   pgxretry.RunInTx(ctx, nil, pgx.TxOptions{}, fn),
		"nil pool": pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn),
		"nil fn":   pgxretry.RunInTx(ctx, &fakeBeginner{}, pgx.TxOptions{}, nil),
		"nil value fn": func() error {
			_, err := pgxretry.RunInTxValue[int](ctx, &fakeBeginner{}, pgx.TxOptions{}, nil)
			return err
		}(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
