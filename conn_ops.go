package retrysql

import (
	"context"
	"database/sql/driver"
	"errors"
)

// The statements of a connection. Outside a transaction each runs through
// statement (statement.go), which retries it as the handle's policy allows;
// inside one it makes a single attempt, and an error is reported to
// RunInTx if RunInTx runs the transaction.

// execContext implements driver.ExecerContext, on the shapes whose driver
// connection has ExecerContext or the legacy Execer.
func (c *conn) execContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	exec := func(ctx context.Context) (driver.Result, error) {
		if c.execer != nil {
			return c.execer.ExecContext(ctx, query, args)
		}
		vals, err := values(ctx, args)
		if err != nil {
			return nil, err
		}
		return c.legacyEx.Exec(query, vals)
	}
	if c.tx != nil {
		if err := c.tx.beforeStatement(ctx, query, args); err != nil {
			return nil, err
		}
		r, err := exec(ctx)
		return r, c.tx.failed(err, query, false)
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	return statement(ctx, c.site.start(query, stmtExec, false), exec)
}

// queryContext implements driver.QueryerContext, on the shapes whose
// driver connection has QueryerContext or the legacy Queryer. Outside a
// transaction the first row is read inside the retry loop (prefetched), so
// that an error the server raises while computing it (a deadlock, a lock
// wait) is retried like any other.
func (c *conn) queryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q := func(ctx context.Context) (driver.Rows, error) {
		if c.queryer != nil {
			return c.queryer.QueryContext(ctx, query, args)
		}
		vals, err := values(ctx, args)
		if err != nil {
			return nil, err
		}
		return c.legacyQ.Query(query, vals)
	}
	if c.tx != nil {
		if err := c.tx.beforeStatement(ctx, query, args); err != nil {
			return nil, err
		}
		rows, err := q(ctx)
		return rows, c.tx.failed(err, query, false)
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	if !c.prefetch {
		return statement(ctx, c.site.start(query, stmtQuery, c.idempotentQuery(query)), q)
	}
	return statement(ctx, c.site.start(query, stmtQuery, c.idempotentQuery(query)), func(ctx context.Context) (driver.Rows, error) {
		rows, err := q(ctx)
		if err != nil {
			return nil, err
		}
		return c.prefetchFirst(rows)
	})
}

// PrepareContext implements driver.ConnPrepareContext: the driver's, or
// its Prepare with database/sql's check of the context. Preparing changes
// nothing on the server but the session's prepared statements, so outside
// a transaction it is retried like an idempotent statement.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	prepare := func(ctx context.Context) (driver.Stmt, error) { return c.prepareInner(ctx, query) }
	var (
		s   driver.Stmt
		err error
	)
	switch {
	case c.tx != nil:
		s, err = prepare(ctx)
		err = c.tx.failed(err, query, false)
	case c.dead:
		err = c.usable()
	default:
		s, err = statement(ctx, c.site.start(query, stmtPrepare, true), prepare)
	}
	if err != nil {
		return nil, err
	}
	return wrapStmt(s, c, query), nil
}

// prepareInner prepares query on the driver's connection and counts it
// among the connection's open prepared statements.
func (c *conn) prepareInner(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		s   driver.Stmt
		err error
	)
	if c.preparer != nil {
		s, err = c.preparer.PrepareContext(ctx, query)
	} else {
		s, err = c.inner.Prepare(query)
		if err == nil && ctx.Err() != nil {
			s.Close()
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if c.prepared == nil {
		c.prepared = make(map[string]int)
	}
	c.prepared[query]++
	return s, nil
}

// unprepared counts out a statement of query that prepareInner counted,
// once it is closed.
func (c *conn) unprepared(query string) {
	if n := c.prepared[query]; n > 1 {
		c.prepared[query] = n - 1
	} else {
		delete(c.prepared, query)
	}
}

// BeginTx implements driver.ConnBeginTx: the driver's, or its Begin with
// database/sql's checks. BEGIN changes nothing that outlives its
// connection, so it is retried like an idempotent statement; nothing is
// retried inside the transaction. Under RunInTx, the transaction reports
// to it.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	begin := func(ctx context.Context) (driver.Tx, error) {
		if c.beginner != nil {
			return c.beginner.BeginTx(ctx, opts)
		}
		return legacyBegin(ctx, c.inner, opts)
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	t, err := statement(ctx, c.site.start("", stmtBegin, true), begin)
	if err != nil {
		return nil, err
	}
	c.tx = &tx{inner: t, c: c, readOnly: opts.ReadOnly}
	if o := opOf(ctx); o != nil && o.tx != nil && o.tx.takeBegin() {
		// RunInTx's own BEGIN: not one of a transaction fn begins beside
		// it with the same context.
		c.tx.facts = o.tx
		o.tx.attach()
	}
	return c.tx, nil
}

var errNamedArgs = errors.New("sql: driver does not support the use of Named Parameters")

// values converts arguments for a driver with only the legacy Execer,
// Queryer or Stmt methods, with database/sql's checks: no named
// arguments, and not once the context has ended.
func values(ctx context.Context, args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errNamedArgs
		}
		out[i] = a.Value
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// legacyBegin starts a transaction on a driver without ConnBeginTx, as
// database/sql would: non-default isolation and read-only refused, and the
// transaction rolled back if the context ended meanwhile.
func legacyBegin(ctx context.Context, c driver.Conn, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation != 0 {
		return nil, errors.New("sql: driver does not support non-default isolation level")
	}
	if opts.ReadOnly {
		return nil, errors.New("sql: driver does not support read-only transactions")
	}
	t, err := c.Begin() //lint:ignore SA1019 the driver has nothing else
	if err == nil && ctx.Err() != nil {
		t.Rollback()
		return nil, ctx.Err()
	}
	return t, err
}

// execInner runs one of retrysql's own statements, without arguments, on
// the driver's connection: no retry, nothing reported.
func (c *conn) execInner(ctx context.Context, query string) error {
	switch {
	case c.execer != nil:
		_, err := c.execer.ExecContext(ctx, query, nil)
		return err
	case c.legacyEx != nil:
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := c.legacyEx.Exec(query, nil)
		return err
	}
	s, err := c.inner.Prepare(query)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Exec(nil) //lint:ignore SA1019 the driver has nothing else
	return err
}
