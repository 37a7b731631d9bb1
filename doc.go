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
// hooks and counters (RetrierOf).
//
// # Where a retry may happen
//
//   - Connecting: refused connections and "not now" answers (too many
//     connections, the server starting) are retried with the connect
//     strategy, within the context.
//   - A statement outside a transaction (Exec, Query, a prepared statement,
//     BEGIN, PREPARE): transient and tx-aborted errors are retried on the
//     same connection. A connection lost before anything was sent is handed
//     back to database/sql as driver.ErrBadConn, after the backoff, so that
//     database/sql runs the statement on another connection. A connection
//     lost after the request may have reached the server is never retried
//     (the error matches ErrAmbiguous), unless the statement was declared
//     idempotent: with Idempotent(ctx), or for queries by
//     WithIdempotentQueries. BEGIN and PREPARE change nothing and are always
//     treated as idempotent.
//   - Inside a transaction no statement is retried alone: errors pass
//     through as the driver returned them.
//
// Errors that arrive while rows are read (after QueryContext returned) are
// never retried: the rows are the driver's own. pgx reads the first row in
// QueryContext, so its errors are retried; MySQL reports an error raised
// while computing a row after the column definitions, so it is not.
//
// # database/sql's own retries
//
// database/sql tries a statement again when the driver returns
// driver.ErrBadConn: twice on a cached or new connection, then once on a
// new one, three tries in all. retrysql uses exactly that mechanism for a
// connection lost before sending, and only for it: each hand-off is a retry
// of retrysql's, waited for, budgeted and counted once, and database/sql's
// next try continues the same count (the attempt limit spans all three
// tries). When the connection is lost on all three, the error says so
// (ReasonNewConnection) and no longer matches driver.ErrBadConn. Every
// other retry happens inside one of database/sql's tries, and an error that
// retrysql gives up on never matches driver.ErrBadConn, so database/sql
// does not multiply the attempts. A *sql.Conn is never retried by
// database/sql: there a connection lost before sending comes back as an
// error matching driver.ErrBadConn.
//
// # The retry loop
//
// [Retrier] is the one loop behind all of it: it classifies each error
// (package classify), waits as the error's strategy says (package
// strategy), draws every retry from a budget shared by all goroutines
// (package budget), consults a circuit breaker, and reports to hooks and
// counters. [Do] and [DoValue] run any other operation through it, with the
// same policy, budget and breaker as a handle (RetrierOf).
//
// No wait outlasts the context: when the next retry would end after the
// deadline, the loop gives up at once with the last real error. The error
// returned keeps the original: errors.As reaches the driver's own error
// type, and [Attempts] reads how many attempts were made.
package retrysql
