// Package retrysql makes transient database failures disappear for
// database/sql users without ever doing a write twice.
//
// Importing the package registers two drivers, "retry+pgx" (pgx v5) and
// "retry+mysql" (go-sql-driver/mysql):
//
//	db, err := sql.Open("retry+pgx", "postgres://app@db/shop")
//
// Existing code, ORMs included, then gets statement-level retries. Other
// drivers are wrapped with Register, NewConnector (for sql.OpenDB) or Open.
// Each handle has its own Retrier: policy, retry budget, circuit breaker,
// hooks and counters (RetrierOf, Stats).
//
// [RunInTx] and [RunInTxValue] replay whole transactions: on a deadlock, a
// serialization failure, a lock timeout or a connection lost before
// COMMIT, and never after a COMMIT whose outcome is unknown
// ([ErrAmbiguousCommit]). Under contention, admission control (on by
// default for what contends, [DefaultAdmission]; [WithAdmission], package
// admission) runs them under an adaptive concurrency limit, oldest first,
// and can let the processes of a fleet take turns through the database.
// [Do] and [DoValue] run any other operation with the same loop, budget
// and breaker.
//
// # Where a retry may happen
//
//   - Connecting: refused connections and "not now" answers (too many
//     connections, the server starting) are retried with the connect
//     strategy, within the context.
//   - A statement outside a transaction (Exec, Query and its first row, a
//     prepared statement, BEGIN, PREPARE): transient and tx-aborted errors
//     are retried on the same connection. A connection lost before anything
//     was sent is retried, as is one lost after the request may have
//     reached the server if the statement was declared idempotent (with
//     Idempotent(ctx), WithIdempotent, or for queries by
//     WithIdempotentQueries; BEGIN and PREPARE change nothing and always
//     are): a connection that was fresh (database/sql had just handed it
//     out, and nothing but prepared statements had reached the server on
//     it) is replaced in place by a new one, within the statement's own
//     loop; any other (a *sql.Conn that has served requests) is handed to
//     database/sql at once as driver.ErrBadConn. Otherwise a lost
//     connection is never retried: the error matches ErrAmbiguous.
//   - Inside a transaction no statement is retried alone: errors pass
//     through as the driver returned them.
//   - RunInTx: the whole transaction, as its documentation says.
//
// The first row of a query is read inside the retry loop, so that an error
// the server raises while computing it (MySQL sends it after the column
// definitions) is retried like any other; pgx reads it in QueryContext
// itself. Errors that arrive later, while rows are read, are never
// retried: rows already handed over cannot be taken back.
//
// # One operation, one loop
//
// Attempts never multiply. Inside RunInTx, Do and DoValue, the connects,
// BEGINs and statements of a retrysql handle make single attempts, and the
// outer loop alone retries them, under one attempt limit, one budget and
// one breaker. An error one loop gave up on is never retried by another.
// A handle never wraps another retrysql handle: Open, NewConnector and
// Register unwrap one.
//
// database/sql tries a statement again on another connection when the
// driver returns driver.ErrBadConn (three tries in all). retrysql returns
// it only for a lost connection it cannot replace in place, and only as a
// single attempt: on a *sql.DB every request starts on a fresh connection,
// so a statement's losses are repaired inside its own loop and
// database/sql's tries are not used. On a *sql.Conn the error matching
// driver.ErrBadConn reaches the application, as database/sql intends. An
// error retrysql gives up on never matches driver.ErrBadConn.
//
// # The retry loop
//
// [Retrier] is the one loop behind all of it: it classifies each error
// (package classify), waits as the error's strategy says (package
// strategy), draws every retry from a budget shared by all goroutines
// (package budget), consults a circuit breaker, and reports to hooks and
// counters. No wait outlasts the context: when the next retry would end
// after the deadline, the loop gives up at once with the last real error.
// The error returned keeps the original: errors.As reaches the driver's
// own error type, and [Attempts] reads how many attempts were made.
//
// # Options
//
// Each option is valid in some places: a database handle (Register,
// NewConnector, Open), a Retrier (NewRetrier), one Do or DoValue call, one
// RunInTx or RunInTxValue call. Given anywhere else, it is refused with an
// error. The options of one call change the policy for that call only.
//
//	option                 handle  Retrier  Do   RunInTx
//	WithClassifier         yes     yes      yes  yes
//	WithStrategy           yes     yes      yes  yes
//	WithCodeStrategy       yes     yes      yes  yes
//	WithConnectStrategy    yes     yes      yes  yes
//	WithMaxAttempts        yes     yes      yes  yes
//	WithClassAttempts      yes     yes      yes  yes
//	WithMaxElapsed         yes     yes      yes  yes
//	WithIdempotent         yes     yes      yes  yes
//	WithBudget             yes     yes
//	WithBudgetClasses      yes     yes
//	WithBreaker            yes     yes
//	WithOnRetry            yes     yes      yes  yes
//	WithOnGiveUp           yes     yes      yes  yes
//	WithOnComplete         yes     yes      yes  yes
//	WithLogger             yes     yes      yes  yes
//	WithAdmission          yes     yes           yes
//	WithRetrier            yes                   yes
//	WithIdempotentQueries  yes
//	WithCommitCheck        yes     yes           yes
//	WithRetryIf                    yes      yes  yes
//	WithAttemptTimeout             yes      yes  yes
//	WithMaxRetryAfter              yes      yes  yes
//
// (A test keeps this table current.)
package retrysql
