package main

import (
	"context"
	"errors"

	"github.com/retrysql/retrysql/examples/sqlc/bankdb"
	"github.com/retrysql/retrysql/examples/sqlc/bankpgx"
)

// transfer moves Amount from one account to another.
type transfer struct {
	From, To int32
	Amount   int64
}

// errInsufficient: the source account has too little; the transfer is
// refused (not retried: RunInTx returns an error fn made up as it is).
var errInsufficient = errors.New("insufficient funds")

// transferDB is the transfer with sqlc's database/sql queries, q being
// bound to the attempt's transaction (Queries.WithTx). It returns the
// queries' errors as they are, so that RunInTx sees a serialization
// failure and replays the transaction.
func transferDB(ctx context.Context, q *bankdb.Queries, t transfer) error {
	balance, err := q.GetBalance(ctx, t.From)
	if err != nil {
		return err
	}
	if balance < t.Amount {
		return errInsufficient
	}
	if _, err := q.AddBalance(ctx, bankdb.AddBalanceParams{ID: t.From, Delta: -t.Amount}); err != nil {
		return err
	}
	if _, err := q.AddBalance(ctx, bankdb.AddBalanceParams{ID: t.To, Delta: t.Amount}); err != nil {
		return err
	}
	return q.InsertLedger(ctx, bankdb.InsertLedgerParams{Src: t.From, Dst: t.To, Amount: t.Amount})
}

// transferPgx is transferDB with sqlc's pgx queries.
func transferPgx(ctx context.Context, q *bankpgx.Queries, t transfer) error {
	balance, err := q.GetBalance(ctx, t.From)
	if err != nil {
		return err
	}
	if balance < t.Amount {
		return errInsufficient
	}
	if _, err := q.AddBalance(ctx, bankpgx.AddBalanceParams{ID: t.From, Delta: -t.Amount}); err != nil {
		return err
	}
	if _, err := q.AddBalance(ctx, bankpgx.AddBalanceParams{ID: t.To, Delta: t.Amount}); err != nil {
		return err
	}
	return q.InsertLedger(ctx, bankpgx.InsertLedgerParams{Src: t.From, Dst: t.To, Amount: t.Amount})
}
