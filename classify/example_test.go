package classify_test

import (
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/retrysql/retrysql/classify"
)

func ExampleNew() {
	// An error type of your own, and a unique violation your application
	// knows to be a race with a concurrent insert that a replay resolves.
	errQuota := errors.New("over quota")
	c, err := classify.New(
		classify.WithRule("quota", func(err error) (classify.Result, bool) {
			return classify.Result{Class: classify.Transient, Code: "quota"}, errors.Is(err, errQuota)
		}),
		classify.WithCode("23505", classify.Result{Class: classify.TxAborted}),
	)
	if err != nil {
		panic(err)
	}
	for _, err := range []error{
		fmt.Errorf("publish: %w", errQuota),
		&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"},
		&pgconn.PgError{Code: "40P01", Message: "deadlock detected"},
		&mysql.MySQLError{Number: 1290, Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"},
		errors.New("something else"),
	} {
		fmt.Println(c.Classify(err))
	}
	// Output:
	// transient quota
	// tx-aborted 23505
	// tx-aborted 40P01 contention
	// transient 1290 read-only
	// permanent
}
