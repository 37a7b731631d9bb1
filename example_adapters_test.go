package retrysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql"
)

// An adapter over database/sql whose API begins its own transactions
// gives RunInTx a DBBeginner: RunInTx then treats the call as one on the
// *sql.DB it names (its Retrier, and the commit check on its other
// connections).
type ormBeginner struct {
	db *sql.DB
	tx *sql.Tx // the attempt's, for the application's function
}

func (b *ormBeginner) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := b.db.BeginTx(ctx, opts) // an ORM would begin through its own API
	b.tx = tx
	return tx, err
}

func (b *ormBeginner) DB() *sql.DB { return b.db }

func ExampleDBBeginner() {
	db, err := sql.Open("pgx", "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	b := &ormBeginner{db: db}
	err = retrysql.RunInTx(context.Background(), b, nil, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES (42)")
		return err
	}, retrysql.WithCommitCheck(true))
	if err != nil {
		fmt.Println("order:", err)
	}
}

// An adapter whose own function wraps the application's names the
// application's as the transactions' site (SiteBeginner): admission keeps
// its record of hot first attempts per site, and one adapter's calls
// would otherwise all be one.
type siteBeginner struct {
	ormBeginner
	site any // the application's function
}

func (b *siteBeginner) Site() any { return b.site }

func ExampleSiteBeginner() {
	db, err := sql.Open("pgx", "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	placeOrder := func(tx *sql.Tx) error { // the application's, given to the adapter
		_, err := tx.Exec("INSERT INTO orders (id) VALUES (42)")
		return err
	}
	b := &siteBeginner{ormBeginner: ormBeginner{db: db}, site: placeOrder}
	err = retrysql.RunInTx(context.Background(), b, nil, func(ctx context.Context, tx *sql.Tx) error {
		return placeOrder(b.tx) // the adapter's own function
	})
	if err != nil {
		fmt.Println("order:", err)
	}
}

// An adapter whose application code called COMMIT itself (which RunInTx
// does) and saw it fail says so: the transaction is not replayed.
func ExampleTxAttempt_CommitFailedByFn() {
	err := retrysql.TxAttempt{}.CommitFailedByFn(errors.New("commit: connection reset"))
	fmt.Println(errors.Is(err, retrysql.ErrTxEndedByFn))
	// Output: true
}

// TransactOn with a pgx pool: the attempt proves itself first, and a
// COMMIT whose answer was lost is asked of another connection of the pool.
func ExampleTransactOn() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://app@localhost/shop")
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	err = retrysql.TransactOn(ctx, stdlib.GetPoolConnector(pool), false, func(ctx context.Context, a retrysql.TxAttempt) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) // after Commit: nothing to do
		if err := a.Prove(ctx, func(ctx context.Context, q string, dest ...any) error {
			return tx.QueryRow(ctx, q).Scan(dest...)
		}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO orders (id) VALUES (42)"); err != nil {
			return err
		}
		return a.Commit(func() error { return tx.Commit(ctx) })
	}, retrysql.WithCommitCheck(true))
	if err != nil {
		fmt.Println("order:", err)
	}
}

// The Retrier shared by the calls given none: its counters are theirs.
func ExampleSharedRetrier() {
	st := retrysql.SharedRetrier().Stats()
	fmt.Println("replays and retries so far:", st.Retries)
}
