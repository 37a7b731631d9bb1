package pgxretry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/pgxretry"
)

// Regression tests of bugs that an audit found on 2026-12-08, one per
// bug; each test's comment says what went wrong before its fix.

// failingCommitBeginner begins transactions whose COMMIT fails with err.
type failingCommitBeginner struct{ err error }

func (b failingCommitBeginner) BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error) {
	return failingCommitTx{err: b.err}, nil
}

type failingCommitTx struct {
	fakeTx
	err error
}

func (t failingCommitTx) Commit(context.Context) error { return t.err }

// TestFnsFailedCommitIsNotReportedCommitted: fn calls tx.Commit
// itself and the server refuses it (a serialization failure at COMMIT,
// or pgx.ErrTxCommitRollback: definitely not committed). RunInTx must
// not replay, and must not say the transaction "is committed".
func TestFnsFailedCommitIsNotReportedCommitted(t *testing.T) {
	for _, commitErr := range []error{errSerialization, pgx.ErrTxCommitRollback} {
		runs := 0
		err := pgxretry.RunInTx(context.Background(), failingCommitBeginner{commitErr}, pgx.TxOptions{},
			func(ctx context.Context, tx pgx.Tx) error {
				runs++
				return tx.Commit(ctx)
			})
		if runs != 1 || !errors.Is(err, retrysql.ErrTxEndedByFn) {
			t.Fatalf("%v: got %v after %d runs; want ErrTxEndedByFn after 1", commitErr, err, runs)
		}
		if strings.Contains(err.Error(), "it is committed") {
			t.Errorf("fn's COMMIT failed with %v, yet the error says: %q", commitErr, err)
		}
	}
}
