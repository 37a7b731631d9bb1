// Package pgxretry brings retrysql's rules to programs that use pgx
// directly (pgxpool, pgx.Conn) rather than through database/sql: the same
// classifier, strategies, budget, breaker, admission, hooks and commit
// check.
//
// # Transactions
//
// RunInTx and RunInTxValue replay a whole pgx transaction:
//
//	err := pgxretry.RunInTx(ctx, pool, pgx.TxOptions{IsoLevel: pgx.Serializable},
//		func(ctx context.Context, tx pgx.Tx) error {
//			if _, err := tx.Exec(ctx, debit, amount, from); err != nil {
//				return err
//			}
//			_, err := tx.Exec(ctx, credit, amount, to)
//			return err
//		})
//
// The rules are retrysql.RunInTx's: a deadlock, a serialization failure, a
// lock timeout or a connection lost before COMMIT rolls back, waits and
// replays the whole function; a connection lost during COMMIT is
// retrysql.ErrAmbiguousCommit unless the transaction is idempotent or
// read-only; fn must not commit or roll back itself (if it does, the
// transaction is never replayed and the error says so).
//
// With the commit check (retrysql.WithCommitCheck(true), on the call or
// the Retrier), each transaction first leaves proof of itself (its
// transaction id, one more round trip), and a COMMIT whose answer was lost
// is asked of the server on another connection, with txid_status, by
// retrysql's own rules: found committed, RunInTx returns nil; found not
// committed, the transaction is replayed; not known before the context
// ends, ErrAmbiguousCommit. On a *pgxpool.Pool the question goes through
// another connection of the pool; on a *pgx.Conn, through a new
// connection with its configuration. Any other Beginner (a *pgxpool.Conn,
// a type of the application's) cannot be checked, and the check is
// refused there.
//
// # Statements outside a transaction
//
// pgx retries nothing, and a wrapper around a pool could not retry its
// queries well: pgx.Rows are read after Query has returned, and QueryRow's
// error comes out of Scan, both outside any loop. So the helpers run the
// whole statement, reading included, inside one loop (retrysql.DoValue):
//
//   - Exec runs a statement;
//   - QueryRow runs a query and collects its first row with a
//     pgx.RowToFunc (pgx.RowTo[T], pgx.RowToStructByName[T], or a func
//     that calls Scan): an error of Scan is retried like one of the query;
//   - Query runs a query and collects every row (pgx.CollectRows): a
//     failure while reading, after rows have come, runs the query again
//     from the start, and only the rows of the attempt that succeeded are
//     returned.
//
// They follow the statement rules of retrysql's driver. A transient or
// tx-aborted error (lock not available, a serialization failure, "cannot
// connect now") is retried. A connection lost before anything was sent
// (pgconn.SafeToRetry: pgx says so when it wrote nothing, as when the
// pool handed out a connection that had died) is retried; on a pool, the
// next attempt gets another connection. A connection lost after the
// request may have reached the server is not retried: the error matches
// retrysql.ErrAmbiguous, because the statement may have run, unless the
// caller declared it idempotent with retrysql.Idempotent(ctx) or
// retrysql.WithIdempotent(). Queries are not idempotent by default
// either (a SELECT may call a function that writes); declare the reads
// you know to be free of side effects (retrysql.ReadOnlyQuery is a
// conservative test of the text). Permanent errors, pgx.ErrNoRows
// included, are returned as they are.
//
// The helpers refuse a pgx.Tx: inside a transaction, a statement is never
// retried alone (its transaction may be gone); RunInTx replays the whole
// transaction instead. Several statements that must succeed together
// belong in RunInTx, not in a batch of helpers.
//
// Every helper and RunInTx takes its Retrier from the call (a nil r, and
// no retrysql.WithRetrier: retrysql.SharedRetrier(), the Retrier
// retrysql.RunInTx uses on handles that are not its own), so one budget
// and one breaker cover them all. The helpers run in retrysql.DoValue: their
// retries and completions are counted at retrysql.PlaceOperation, RunInTx's
// at retrysql.PlaceTransaction.
package pgxretry
