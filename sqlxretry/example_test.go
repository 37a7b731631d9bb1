package sqlxretry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/sqlxretry"
)

// Importing sqlxretry makes sqlx bind named and ? queries for
// "retry+pgx" as for "pgx" (opening connects to nothing yet).
func Example() {
	db, err := sqlx.Open(retrysql.DriverPgx, "postgres://app@localhost/shop")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	query, args, err := db.BindNamed("INSERT INTO people (name, age) VALUES (:name, :age)", map[string]any{"name": "ann", "age": 30})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(query, args)
	fmt.Println(db.Rebind("SELECT name FROM people WHERE id = ?"))
	// Output:
	// INSERT INTO people (name, age) VALUES ($1, $2) [ann 30]
	// SELECT name FROM people WHERE id = $1
}

type Transfer struct {
	From   int64 `db:"from_id"`
	To     int64 `db:"to_id"`
	Amount int64 `db:"amount"`
}

// sqlx on retrysql's pgx driver: named queries bind as on "pgx" once
// sqlxretry is imported, and RunInTx replays the whole transaction when
// the database aborts it.
func ExampleRunInTx() {
	db, err := sqlx.Open(retrysql.DriverPgx, "postgres://app@localhost/shop") // "retry+pgx"
	if err != nil {
		log.Fatal(err)
	}
	t := Transfer{From: 1, To: 2, Amount: 10}
	err = sqlxretry.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
		if _, err := tx.NamedExecContext(ctx, "UPDATE accounts SET balance = balance - :amount WHERE id = :from_id", t); err != nil {
			return err // as it is, or wrapped with %w
		}
		_, err := tx.NamedExecContext(ctx, "INSERT INTO ledger (from_id, to_id, amount) VALUES (:from_id, :to_id, :amount)", t)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A transaction that computes a value: the value of the attempt that
// committed.
func ExampleRunInTxValue() {
	db, err := sqlx.Open(retrysql.DriverMySQL, "app@tcp(localhost:3306)/shop") // "retry+mysql"
	if err != nil {
		log.Fatal(err)
	}
	names, err := sqlxretry.RunInTxValue(context.Background(), db, nil, func(ctx context.Context, tx *sqlx.Tx) ([]string, error) {
		query, args, err := sqlx.In("SELECT name FROM accounts WHERE id IN (?)", []int{1, 2, 3})
		if err != nil {
			return nil, err
		}
		var names []string
		err = tx.SelectContext(ctx, &names, tx.Rebind(query), args...)
		return names, err
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Println(names)
}
