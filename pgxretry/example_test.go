package pgxretry_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/pgxretry"
)

func ExampleRunInTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	err = pgxretry.RunInTx(ctx, pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(ctx context.Context, tx pgx.Tx) error {
		// Replayed whole on a serialization failure or a deadlock: keep
		// what it does outside the database idempotent.
		if _, err := tx.Exec(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return fmt.Errorf("debit: %w", err)
		}
		_, err := tx.Exec(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
		return err
	})
	if err != nil {
		fmt.Println("transfer:", err)
	}
}

func ExampleRunInTx_commitCheck() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	// With the commit check, a COMMIT whose answer was lost is asked of
	// another connection of the pool (txid_status): committed, nil;
	// not committed, replayed; unknown, retrysql.ErrAmbiguousCommit.
	err = pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO orders (id, amount) VALUES ($1, $2)", 42, 100)
		return err
	}, retrysql.WithCommitCheck(true))
	if err != nil {
		fmt.Println("order:", err)
	}
}
