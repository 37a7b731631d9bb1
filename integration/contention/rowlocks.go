package contention

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/examples/bank/workload"
)

// RowLocks is a reference, not a retry policy: each transfer takes a lock on
// each of its two accounts (session advisory locks, pg_advisory_lock or
// GET_LOCK, in ascending order, on the connection its transaction then runs
// on) before its transaction begins, and releases them after it ends.
// Transfers that share a row never run at once, transfers that do not always
// can: the schedule a policy that knew every transaction's rows in advance
// would make. Admission sees a transaction's first statement only, so this
// is the figure it is measured against when a cell's target is in doubt. It
// costs two round trips per transfer, as a real lock would. An abort under
// the locks (a serialization failure between transfers on different rows of
// one index page, say) is replayed at once, up to MaxAttempts times.
func RowLocks() Strategy {
	return Strategy{Name: "row locks (reference)", Raw: true, Runner: func(c Cell) workload.Runner {
		lock, unlock := "SELECT (pg_advisory_lock(29299, $1) IS NOT NULL)::int, (pg_advisory_lock(29299, $2) IS NOT NULL)::int", "SELECT 1 FROM pg_advisory_unlock_all()"
		if c.Dialect == workload.MySQL {
			lock, unlock = "SELECT GET_LOCK(CONCAT('retrysql-ref-', ?), 60), GET_LOCK(CONCAT('retrysql-ref-', ?), 60)", "SELECT RELEASE_ALL_LOCKS()"
		}
		rules, err := classify.New()
		if err != nil {
			panic(err) // no options
		}
		return func(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
			t, ok := workload.TransferOf(ctx)
			if !ok {
				return errors.New("row locks: no transfer in the context")
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			var first, second sql.NullInt64
			if err := conn.QueryRowContext(ctx, lock, min(t.A, t.B), max(t.A, t.B)).Scan(&first, &second); err != nil {
				discard(conn)
				return fmt.Errorf("row locks: %w", err)
			}
			if first.Int64 != 1 || second.Int64 != 1 {
				discard(conn)
				return fmt.Errorf("row locks: not granted (%v, %v)", first, second)
			}
			defer func() {
				var n sql.NullInt64
				if err := conn.QueryRowContext(context.WithoutCancel(ctx), unlock).Scan(&n); err != nil {
					discard(conn)
				}
			}()
			for attempt := 1; ; attempt++ {
				err := workload.Once(ctx, conn, opts, fn)
				if err == nil || attempt == MaxAttempts || rules.Classify(err).Class != classify.TxAborted {
					return err
				}
			}
		}
	}}
}

// discard keeps conn out of the pool: its locks may still be held.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
