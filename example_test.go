package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/retrysql/retrysql"
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
