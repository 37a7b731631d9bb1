package retrysql

//go:generate go run ./internal/gen/shapes

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5/stdlib"
)

// conn wraps a driver's connection. The wrapper database/sql holds is one
// of the shapes of shapes_gen.go, which embed conn and add exactly the
// varied interfaces (internal/shape) the driver's connection has; conn
// itself has every claimed one.
//
// database/sql calls a connection under its own lock of it, one call at a
// time (a transaction ended by its context is rolled back from another
// goroutine, under the same lock), so conn needs no lock of its own.
type conn struct {
	inner driver.Conn
	h     *handle
	shape uint8 // the varied interfaces of inner, as connShapeOf says

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

	// tx is the transaction under way on the connection, or nil.
	tx *tx
	// fresh: nothing but prepared statements has reached the server since
	// the connection was handed out (connected, or reset by database/sql
	// for a new request). Such a connection, once lost, can be replaced in
	// place: no state the application relies on is lost with it.
	fresh bool
	// dead: the connection was lost. database/sql drops it at its next
	// touch (IsValid, ResetSession, or driver.ErrBadConn from a statement).
	dead bool
	// gen counts the replacements of inner; a statement prepared under an
	// older one prepares itself again.
	gen uint32
	// prepared counts the open prepared statements by query.
	prepared map[string]int
	// prefetch: queries read their first row inside the retry loop, since
	// the driver does not (pgx does it in QueryContext).
	prefetch bool
	// rows is reused by a query's prefetched rows when free.
	rows prefetched
	// site is the statement site of this connection's statements.
	site stmtSite
	// check, for drivers that need it, finds a connection the server
	// ended while it was idle (conncheck.go), when it is handed out again.
	check func() error
}

// handle is what one database handle shares between its connections.
type handle struct {
	r               *Retrier
	idempotentQuery func(query string) bool
	// connector is the driver's; a lost connection that was fresh is
	// replaced in place through it.
	connector driver.Connector
	// holding counts the first statements of RunInTx that wait for an
	// admission permit on a connection of the handle (admit_hot.go).
	holding atomic.Int32
}

// wrapConn wraps a connection of the driver for handle h.
func wrapConn(inner driver.Conn, h *handle) driver.Conn {
	shape := connShapeOf(inner)
	w, c := newConnShape(shape)
	c.h, c.shape, c.fresh = h, shape, true
	c.site.c = c
	c.setInner(inner)
	return w
}

// setInner makes inner the driver's connection under c.
func (c *conn) setInner(inner driver.Conn) {
	c.inner = inner
	c.execer, _ = inner.(driver.ExecerContext)
	c.legacyEx, _ = inner.(driver.Execer) //lint:ignore SA1019 see conn.legacyEx
	c.queryer, _ = inner.(driver.QueryerContext)
	c.legacyQ, _ = inner.(driver.Queryer) //lint:ignore SA1019 see conn.legacyQ
	c.preparer, _ = inner.(driver.ConnPrepareContext)
	c.beginner, _ = inner.(driver.ConnBeginTx)
	c.pinger, _ = inner.(driver.Pinger)
	c.resetter, _ = inner.(driver.SessionResetter)
	c.validator, _ = inner.(driver.Validator)
	c.checker, _ = inner.(driver.NamedValueChecker)
	_, pgx := inner.(*stdlib.Conn)
	c.prefetch = !pgx
	c.check = idleCheck(inner)
}

var errOtherShape = errors.New("retrysql: the driver's connector returned a connection of another kind; the lost connection is not replaced")

// revive replaces a lost connection by a new one from the driver's
// connector: one connect attempt, part of the statement's attempt.
func (c *conn) revive(ctx context.Context) error {
	inner, err := c.h.connector.Connect(ctx)
	if err != nil {
		return notBadConn(err)
	}
	if connShapeOf(inner) != c.shape {
		inner.Close()
		return errOtherShape
	}
	c.inner.Close() // lost: whatever it answers
	c.setInner(inner)
	c.gen++
	c.dead, c.fresh, c.prepared = false, true, nil
	return nil
}

// idempotentQuery reports whether the handle's policy declares query
// idempotent (WithIdempotentQueries).
func (c *conn) idempotentQuery(query string) bool {
	return c.h.idempotentQuery != nil && c.h.idempotentQuery(query)
}

// retrier returns the handle's Retrier (for RunInTx on a *sql.Conn).
func (c *conn) retrier() *Retrier { return c.h.r }

// Unwrap returns the driver's own connection. Code that needs it (pgx's
// CopyFrom, LISTEN) reaches it through database/sql's Conn.Raw and
// UnwrapConn. What it does on it is not retried, and the connection is no
// longer fresh: a later loss is handed to database/sql rather than repaired
// in place.
func (c *conn) Unwrap() driver.Conn {
	c.fresh = false
	return c.inner
}

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
	return c.PrepareContext(context.Background(), query)
}

// Close implements driver.Conn.
func (c *conn) Close() error { return c.inner.Close() }

// Begin implements driver.Conn.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// Ping implements driver.Pinger: the driver's, or nil without one, as
// database/sql treats a connection without Ping.
func (c *conn) Ping(ctx context.Context) error {
	switch {
	case c.dead:
		return driver.ErrBadConn
	case c.pinger == nil:
		return nil
	}
	return c.pinger.Ping(ctx)
}

// resetSession implements driver.SessionResetter, on the shapes whose
// driver connection has it: database/sql calls it before handing the
// connection to a new request, which makes it fresh again.
func (c *conn) resetSession(ctx context.Context) error {
	if c.dead {
		return driver.ErrBadConn
	}
	err := c.resetter.ResetSession(ctx)
	if err == nil && c.check != nil {
		err = c.check()
	}
	if err == nil {
		c.fresh = true
	} else if errors.Is(err, driver.ErrBadConn) {
		c.dead = true
	}
	return err
}

// usable returns driver.ErrBadConn for a connection known to be dead (a
// ROLLBACK failed on it, a write was refused by a read-only node inside a
// transaction): database/sql should have dropped it, and a driver without
// Validator lets it come back. Nothing is sent on it: for a *sql.DB,
// database/sql runs the work on another connection; a *sql.Conn is closed.
func (c *conn) usable() error {
	if c.dead {
		return driver.ErrBadConn
	}
	return nil
}

// isValid implements driver.Validator, on the shapes whose driver
// connection has it.
func (c *conn) isValid() bool { return !c.dead && c.validator.IsValid() }

// CheckNamedValue implements driver.NamedValueChecker: the driver's, or
// driver.ErrSkip (database/sql's default conversion) without one. Answers,
// driver.ErrSkip and driver.ErrRemoveArgument included, pass through
// untouched: database/sql compares them with ==.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if c.checker == nil {
		return driver.ErrSkip
	}
	return c.checker.CheckNamedValue(nv)
}
