package retrysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

func ExampleDo() {
	r, err := retrysql.NewRetrier(
		retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{Interval: time.Millisecond}),
	)
	if err != nil {
		panic(err)
	}
	attempts := 0
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		attempts++
		if attempts < 3 {
			return driver.ErrBadConn // nothing was sent: safe to retry
		}
		return nil
	})
	fmt.Println(attempts, err)
	// Output: 3 <nil>
}

func ExampleDo_ambiguous() {
	r, err := retrysql.NewRetrier()
	if err != nil {
		panic(err)
	}
	err = retrysql.Do(context.Background(), r, func(ctx context.Context) error {
		// The connection dropped while the request may have been running.
		return fmt.Errorf("insert order: %w", io.ErrUnexpectedEOF)
	})
	fmt.Println(errors.Is(err, retrysql.ErrAmbiguous), retrysql.Attempts(err))
	// Output: true 1
}

func ExampleRunInTx() {
	// A driver whose second statement deadlocks the first time.
	d := newFake(failN("exec", "UPDATE accounts SET balance = balance + 10 WHERE id = 2", 1,
		&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}))
	connector, err := retrysql.NewConnector(fakeConnector{d},
		retrysql.WithStrategy(classify.TxAborted, strategy.Fixed{Interval: time.Millisecond}))
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()

	runs := 0
	err = retrysql.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		runs++ // fn may run several times: keep outside effects idempotent
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return fmt.Errorf("debit: %w", err) // wrap with %w, so that RunInTx sees the cause
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2"); err != nil {
			return fmt.Errorf("credit: %w", err)
		}
		return nil
	})
	fmt.Println(runs, err)
	// Output: 2 <nil>
}

func ExampleWithAdmission() {
	// One controller per database: its transactions on hot rows take
	// turns, oldest first, instead of aborting one another.
	ctl, err := admission.New(admission.Settings{})
	if err != nil {
		panic(err)
	}
	d := newFake(failN("exec", "UPDATE accounts SET balance = balance + 10 WHERE id = 2", 2,
		&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}))
	connector, err := retrysql.NewConnector(fakeConnector{d}, retrysql.WithAdmission(ctl))
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()

	err = retrysql.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - 10 WHERE id = 1"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance + 10 WHERE id = 2")
		return err
	})
	// The deadlocks were replayed at once, each attempt under a permit.
	s := ctl.Snapshot()
	fmt.Println(err, s.Admitted, s.Inflight)
	// Output: <nil> 3 0
}
