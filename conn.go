package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
)

// connInterfaces lists, in the order of their bits in a connVariant mask,
// the optional interfaces a wrapped connection forwards when the driver's
// connection has them.
var connInterfaces = [...]string{
	"ExecerContext", "QueryerContext", "ConnPrepareContext", "ConnBeginTx",
	"Pinger", "SessionResetter", "Validator", "NamedValueChecker",
}

// conn wraps a driver's connection. It has the methods every driver.Conn
// has; the optional ones live on connExt, and wrapConn combines the two into
// a value with exactly the optional interfaces of the driver's connection.
//
// database/sql uses a connection from one goroutine at a time, so conn
// needs no lock; inTx is atomic only because a transaction's context
// watcher may end it from another goroutine (under database/sql's own
// lock).
type conn struct {
	inner driver.Conn
	h     *handle
	inTx  atomic.Bool
	// txst is RunInTx's view of the transaction under way, if RunInTx
	// began it; set by BeginTx, cleared when the transaction ends.
	txst atomic.Pointer[txState]

	// The driver's optional interfaces, nil when it lacks them.
	execer    driver.ExecerContext
	legacyEx  driver.Execer //lint:ignore SA1019 a driver may have only the legacy interface
	queryer   driver.QueryerContext
	legacyQ   driver.Queryer //lint:ignore SA1019 a driver may have only the legacy interface
	preparer  driver.ConnPrepareContext
	beginner  driver.ConnBeginTx
	pinger    driver.Pinger
	resetter  driver.SessionResetter
	validator driver.Validator
	checker   driver.NamedValueChecker
}

// connExt carries the optional methods of conn.
type connExt struct{ c *conn }

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ExecerContext      = (*connExt)(nil)
	_ driver.QueryerContext     = (*connExt)(nil)
	_ driver.ConnPrepareContext = (*connExt)(nil)
	_ driver.ConnBeginTx        = (*connExt)(nil)
	_ driver.Pinger             = (*connExt)(nil)
	_ driver.SessionResetter    = (*connExt)(nil)
	_ driver.Validator          = (*connExt)(nil)
	_ driver.NamedValueChecker  = (*connExt)(nil)
)

// wrapConn wraps a connection of the driver for handle h.
func wrapConn(inner driver.Conn, h *handle) driver.Conn {
	c := &conn{inner: inner, h: h}
	var mask uint
	set := func(bit uint, ok bool) {
		if ok {
			mask |= 1 << bit
		}
	}
	var ok1, ok2 bool
	c.execer, ok1 = inner.(driver.ExecerContext)
	c.legacyEx, ok2 = inner.(driver.Execer) //lint:ignore SA1019 see conn.legacyEx
	set(0, ok1 || ok2)
	c.queryer, ok1 = inner.(driver.QueryerContext)
	c.legacyQ, ok2 = inner.(driver.Queryer) //lint:ignore SA1019 see conn.legacyQ
	set(1, ok1 || ok2)
	c.preparer, ok1 = inner.(driver.ConnPrepareContext)
	set(2, ok1)
	c.beginner, ok1 = inner.(driver.ConnBeginTx)
	set(3, ok1)
	c.pinger, ok1 = inner.(driver.Pinger)
	set(4, ok1)
	c.resetter, ok1 = inner.(driver.SessionResetter)
	set(5, ok1)
	c.validator, ok1 = inner.(driver.Validator)
	set(6, ok1)
	c.checker, ok1 = inner.(driver.NamedValueChecker)
	set(7, ok1)
	return connVariant(c, &connExt{c}, mask)
}

// retrier returns the handle's Retrier (for RunInTx on a *sql.Conn).
func (c *conn) retrier() *Retrier { return c.h.r }

// inTxFailed tells RunInTx, if it runs the transaction, of a statement
// that failed inside it.
func (c *conn) inTxFailed(err error) error {
	if err != nil && err != driver.ErrSkip {
		if st := c.txst.Load(); st != nil {
			st.noteStatementError(err, c.h.r.policy.classify(err))
		}
	}
	return err
}

// Unwrap returns the driver's own connection. Code that needs it (pgx's
// CopyFrom, LISTEN) reaches it through database/sql's Conn.Raw and
// UnwrapConn. What it does on it is not retried.
func (c *conn) Unwrap() driver.Conn { return c.inner }

// UnwrapConn returns the driver's own connection under a connection
// wrapped by retrysql, as database/sql's Conn.Raw hands it over; any other
// value is returned as it is. For pgx:
//
//	err := sqlConn.Raw(func(dc any) error {
//		pgxConn := retrysql.UnwrapConn(dc).(*stdlib.Conn).Conn()
//		_, err := pgxConn.CopyFrom(ctx, table, columns, rows)
//		return err
//	})
func UnwrapConn(dc any) any {
	for {
		u, ok := dc.(interface{ Unwrap() driver.Conn })
		if !ok {
			return dc
		}
		dc = u.Unwrap()
	}
}

// Prepare implements driver.Conn.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return connExt{c}.PrepareContext(context.Background(), query)
}

// Close implements driver.Conn.
func (c *conn) Close() error { return c.inner.Close() }

// Begin implements driver.Conn.
func (c *conn) Begin() (driver.Tx, error) {
	return connExt{c}.BeginTx(context.Background(), driver.TxOptions{})
}

// statement returns how the loop runs a statement on this connection:
// outside a transaction, with lost connections handed back to database/sql.
func (c *conn) statement(query string, idempotent bool) call {
	return call{place: PlaceStatement, idempotent: idempotent, handoff: &c.h.ledger, key: query}
}

// ExecContext runs the statement, retried as the handle's policy allows
// when it runs outside a transaction.
func (x connExt) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c := x.c
	exec := func(ctx context.Context) (driver.Result, error) {
		if c.execer != nil {
			return c.execer.ExecContext(ctx, query, args)
		}
		vals, err := values(args)
		if err != nil {
			return nil, err
		}
		return c.legacyEx.Exec(query, vals)
	}
	if c.inTx.Load() {
		r, err := exec(ctx)
		return r, c.inTxFailed(err)
	}
	call := c.statement(query, false)
	return run(ctx, c.h.r, &c.h.r.policy, &call, exec)
}

// QueryContext runs the query, retried as the handle's policy allows when
// it runs outside a transaction. Rows are the driver's own: a failure while
// reading them is not retried.
func (x connExt) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c := x.c
	query1 := func(ctx context.Context) (driver.Rows, error) {
		if c.queryer != nil {
			return c.queryer.QueryContext(ctx, query, args)
		}
		vals, err := values(args)
		if err != nil {
			return nil, err
		}
		return c.legacyQ.Query(query, vals)
	}
	if c.inTx.Load() {
		rows, err := query1(ctx)
		return rows, c.inTxFailed(err)
	}
	call := c.statement(query, false)
	if f := c.h.idempotentQuery; f != nil {
		call.idempotent = f(query)
	}
	return run(ctx, c.h.r, &c.h.r.policy, &call, query1)
}

// PrepareContext prepares the statement. Preparing changes nothing on the
// server, so outside a transaction it is retried like an idempotent
// statement.
func (x connExt) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c := x.c
	prepare := func(ctx context.Context) (driver.Stmt, error) {
		if c.preparer != nil {
			return c.preparer.PrepareContext(ctx, query)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return c.inner.Prepare(query)
	}
	var (
		s   driver.Stmt
		err error
	)
	if c.inTx.Load() {
		s, err = prepare(ctx)
		err = c.inTxFailed(err)
	} else {
		call := c.statement(query, true)
		s, err = run(ctx, c.h.r, &c.h.r.policy, &call, prepare)
	}
	if err != nil {
		return nil, err
	}
	return wrapStmt(s, c, query), nil
}

// beginKey keys BEGIN in the handoff ledger; no query is empty.
const beginKey = ""

// BeginTx starts a transaction. BEGIN changes nothing that outlives its
// connection, so it is retried like an idempotent statement; nothing is
// retried inside the transaction.
func (x connExt) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c := x.c
	begin := func(ctx context.Context) (driver.Tx, error) {
		if c.beginner != nil {
			return c.beginner.BeginTx(ctx, opts)
		}
		return legacyBegin(ctx, c.inner, opts)
	}
	call := c.statement(beginKey, true)
	st, _ := ctx.Value(txStateKey{}).(*txState)
	// Under RunInTx, the transaction is the request that funds retries,
	// not its BEGIN.
	call.noDeposit = st != nil
	t, err := run(ctx, c.h.r, &c.h.r.policy, &call, begin)
	if err != nil {
		return nil, err
	}
	c.txst.Store(st)
	c.inTx.Store(true)
	return &tx{inner: t, c: c}, nil
}

// Ping implements driver.Pinger.
func (x connExt) Ping(ctx context.Context) error {
	if x.c.pinger == nil {
		return nil
	}
	return x.c.pinger.Ping(ctx)
}

// ResetSession implements driver.SessionResetter.
func (x connExt) ResetSession(ctx context.Context) error {
	if x.c.resetter == nil {
		return nil
	}
	return x.c.resetter.ResetSession(ctx)
}

// IsValid implements driver.Validator.
func (x connExt) IsValid() bool {
	return x.c.validator == nil || x.c.validator.IsValid()
}

// CheckNamedValue implements driver.NamedValueChecker. Its answers,
// driver.ErrSkip and driver.ErrRemoveArgument included, pass through
// untouched: database/sql compares them with ==.
func (x connExt) CheckNamedValue(nv *driver.NamedValue) error {
	if x.c.checker == nil {
		return driver.ErrSkip
	}
	return x.c.checker.CheckNamedValue(nv)
}

var errNamedArgs = errors.New("retrysql: the driver does not support named parameters")

// values converts arguments for a driver with only the legacy Execer or
// Queryer, as database/sql would.
func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errNamedArgs
		}
		out[i] = a.Value
	}
	return out, nil
}

// legacyBegin starts a transaction on a driver without ConnBeginTx, with the
// checks database/sql makes in that case.
func legacyBegin(ctx context.Context, c driver.Conn, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation != 0 {
		return nil, errors.New("sql: driver does not support non-default isolation level")
	}
	if opts.ReadOnly {
		return nil, errors.New("sql: driver does not support read-only transactions")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.Begin() //lint:ignore SA1019 the driver has nothing else
}
