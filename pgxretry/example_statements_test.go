package pgxretry_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/pgxretry"
)

func ExampleQueryRow() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	// The query and the Scan of its row run inside one loop: an error
	// that pgx reports only at Scan is retried like any other. A plain
	// read: declared idempotent, so that a connection lost after it was
	// sent is retried too rather than returned as ErrAmbiguous.
	balance, err := pgxretry.QueryRow(retrysql.Idempotent(ctx), nil, pool,
		"SELECT balance FROM accounts WHERE id = $1", []any{1}, pgx.RowTo[int64])
	if err != nil {
		fmt.Println("balance:", err)
		return
	}
	fmt.Println("balance:", balance)
}

func ExampleQuery() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	type account struct {
		ID      int64
		Balance int64
	}
	// Every row is read inside the loop: a failure after some rows have
	// come runs the query again, and only a complete result is returned.
	accounts, err := pgxretry.Query(retrysql.Idempotent(ctx), nil, pool,
		"SELECT id, balance FROM accounts WHERE balance < $1", []any{0}, pgx.RowToStructByName[account])
	if err != nil {
		fmt.Println("accounts:", err)
		return
	}
	fmt.Println(len(accounts), "accounts overdrawn")
}

func ExampleExec() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	// Not idempotent: a connection lost after it was sent is
	// retrysql.ErrAmbiguous, never a second UPDATE.
	tag, err := pgxretry.Exec(ctx, nil, pool, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", []any{10, 1})
	if err != nil {
		fmt.Println("credit:", err)
		return
	}
	fmt.Println(tag.RowsAffected(), "credited")
}
