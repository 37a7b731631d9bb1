package retrysql

//go:generate go run ./internal/gen/variants

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"
)

// The drivers registered by this package with database/sql, each with the
// default policy: every handle opened with them gets a Retrier of its own
// (NewRetrier's defaults).
const (
	DriverPgx   = "retry+pgx"   // github.com/jackc/pgx/v5/stdlib
	DriverMySQL = "retry+mysql" // github.com/go-sql-driver/mysql
)

func init() {
	sql.Register(DriverPgx, &wrapDriver{inner: stdlib.GetDefaultDriver()})
	sql.Register(DriverMySQL, &wrapDriver{inner: &mysql.MySQLDriver{}})
}

// wrapDriver wraps a driver. The one registered with database/sql has no
// handle: each sql.Open makes a connector, and so a handle, of its own. The
// one a connector returns from Driver is bound to that connector's handle,
// so that RetrierOf can find it from a *sql.DB.
//
// wrapDriver always implements driver.DriverContext, even for a driver
// without it: only a connector per sql.Open gives each handle its own
// budget, breaker and counters. For such a driver the connector calls the
// driver's Open, as database/sql would.
type wrapDriver struct {
	inner driver.Driver
	opts  []Option
	h     *handle
}

var (
	_ driver.Driver        = (*wrapDriver)(nil)
	_ driver.DriverContext = (*wrapDriver)(nil)
)

// Open implements driver.Driver. database/sql does not call it (it uses
// OpenConnector); other callers get a connection of a fresh handle.
func (d *wrapDriver) Open(name string) (driver.Conn, error) {
	c, err := d.OpenConnector(name)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector implements driver.DriverContext: a connector, and a handle,
// for one sql.Open.
func (d *wrapDriver) OpenConnector(name string) (driver.Connector, error) {
	var inner driver.Connector
	if dc, ok := d.inner.(driver.DriverContext); ok {
		c, err := dc.OpenConnector(name)
		if err != nil {
			return nil, err
		}
		inner = c
	} else {
		inner = dsnConnector{dsn: name, drv: d.inner}
	}
	return newConnector(inner, d.inner, d.opts)
}

// dsnConnector is database/sql's own fallback for a driver without
// DriverContext.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

// Register makes drv available to sql.Open under name, wrapped with
// retrysql and configured by opts (checked now; each handle opened gets a
// Retrier of its own unless WithRetrier shares one). It returns an error,
// not a panic, if name is taken or an option is invalid.
func Register(name string, drv driver.Driver, opts ...Option) error {
	if drv == nil {
		return errors.New("retrysql: Register with a nil driver")
	}
	if name == "" {
		return errors.New("retrysql: Register with an empty name")
	}
	if slices.Contains(sql.Drivers(), name) {
		return fmt.Errorf("retrysql: a driver named %q is already registered", name)
	}
	if _, err := newHandle(opts); err != nil {
		return err
	}
	sql.Register(name, &wrapDriver{inner: drv, opts: slices.Clone(opts)})
	return nil
}

// NewConnector wraps a connector of any driver, for sql.OpenDB:
//
//	db := sql.OpenDB(retrysql.NewConnector(stdlib.GetConnector(cfg), opts...))
//
// It returns an error if base is nil or an option is invalid.
func NewConnector(base driver.Connector, opts ...Option) (driver.Connector, error) {
	if base == nil {
		return nil, errors.New("retrysql: NewConnector with a nil connector")
	}
	return newConnector(base, base.Driver(), opts)
}

// Open opens a handle on dsn through the driver registered as driverName
// (for example "pgx" or "mysql"), wrapped with retrysql and configured by
// opts. Like sql.Open it does not connect.
func Open(driverName, dsn string, opts ...Option) (*sql.DB, error) {
	if !slices.Contains(sql.Drivers(), driverName) {
		return nil, fmt.Errorf("retrysql: unknown driver %q (forgotten import?)", driverName)
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := db.Driver()
	db.Close()
	var base driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if base, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	} else {
		base = dsnConnector{dsn: dsn, drv: drv}
	}
	c, err := newConnector(base, drv, opts)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// RetrierOf returns the Retrier of a handle opened through retrysql (with a
// registered driver, NewConnector or Open), to read its Stats or to run work
// around the database with Do under the same budget and breaker.
func RetrierOf(db *sql.DB) (*Retrier, bool) {
	if db == nil {
		return nil, false
	}
	if d, ok := db.Driver().(*wrapDriver); ok && d.h != nil {
		return d.h.r, true
	}
	return nil, false
}

// connector wraps a driver's connector: it retries connecting and wraps
// the connections it makes.
type connector struct {
	inner driver.Connector
	h     *handle
	drv   *wrapDriver
}

var _ driver.Connector = (*connector)(nil)

// closingConnector is a connector whose driver's connector has Close, which
// database/sql calls from DB.Close.
type closingConnector struct{ *connector }

var _ io.Closer = closingConnector{}

func (c closingConnector) Close() error { return c.inner.(io.Closer).Close() }

func newConnector(inner driver.Connector, drv driver.Driver, opts []Option) (driver.Connector, error) {
	h, err := newHandle(opts)
	if err != nil {
		return nil, err
	}
	c := &connector{inner: inner, h: h, drv: &wrapDriver{inner: drv, opts: opts, h: h}}
	if _, ok := inner.(io.Closer); ok {
		return closingConnector{c}, nil
	}
	return c, nil
}

// Connect opens a connection, retrying refused connections and "not now"
// answers (too many connections, the server starting) with the connect
// strategy, within ctx.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	call := call{place: PlaceConnect, noDeposit: true}
	inner, err := run(ctx, c.h.r, &c.h.r.policy, &call, c.inner.Connect)
	if err != nil {
		return nil, err
	}
	return wrapConn(inner, c.h), nil
}

// Driver returns the wrapper's driver, bound to this connector's handle.
func (c *connector) Driver() driver.Driver { return c.drv }

// handle is what one database handle shares between its connections.
type handle struct {
	r               *Retrier
	idempotentQuery func(query string) bool
	ledger          ledger
}

func newHandle(opts []Option) (*handle, error) {
	cfg := defaultConfig()
	cfg.handle = true
	if err := cfg.apply(opts); err != nil {
		return nil, err
	}
	h := &handle{idempotentQuery: cfg.idempotentQuery}
	if cfg.retrier != nil {
		if cfg.retrierOptions > 0 {
			return nil, errors.New("retrysql: WithRetrier shares a Retrier as it is; configure that Retrier instead of passing other options with it")
		}
		h.r = cfg.retrier
	} else {
		h.r = cfg.build()
	}
	return h, nil
}
