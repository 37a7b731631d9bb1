package retrysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"sync"

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
	base, err := baseConnector(d.inner, name)
	if err != nil {
		return nil, err
	}
	return newConnector(base, d.inner, d.opts)
}

// baseConnector returns the connector of drv for dsn: its own, or
// database/sql's fallback for a driver without DriverContext; for
// go-sql-driver/mysql with a list of hosts, retrysql's (mysqlhosts.go).
func baseConnector(drv driver.Driver, dsn string) (driver.Connector, error) {
	if _, ok := drv.(*mysql.MySQLDriver); ok {
		if h, err := mysqlHosts(drv, dsn); h != nil || err != nil {
			return h, err
		}
	}
	if dc, ok := drv.(driver.DriverContext); ok {
		return dc.OpenConnector(dsn)
	}
	return dsnConnector{dsn: dsn, drv: drv}, nil
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
// not a panic, if name is taken or an option is invalid. A driver that is
// itself retrysql's (the one behind "retry+pgx", say) is not wrapped
// twice: its own driver is, with its options followed by opts.
func Register(name string, drv driver.Driver, opts ...Option) error {
	if drv == nil {
		return errors.New("retrysql: Register with a nil driver")
	}
	if name == "" {
		return errors.New("retrysql: Register with an empty name")
	}
	if w, ok := drv.(*wrapDriver); ok {
		drv, opts = w.inner, slices.Concat(w.opts, opts)
	}
	if _, err := newHandle(nil, opts); err != nil {
		return err
	}
	registerMu.Lock()
	defer registerMu.Unlock()
	return register(name, &wrapDriver{inner: drv, opts: slices.Clone(opts)})
}

// registerMu makes Register's check and registration one step: two calls
// with one name, at once, both found it free.
var registerMu sync.Mutex

// register registers w as name, or says that name is taken (by another
// package's sql.Register too, which Register cannot lock out).
func register(name string, w *wrapDriver) (err error) {
	taken := fmt.Errorf("retrysql: a driver named %q is already registered", name)
	if slices.Contains(sql.Drivers(), name) {
		return taken
	}
	defer func() {
		if recover() != nil {
			err = taken
		}
	}()
	sql.Register(name, w)
	return nil
}

// Open opens a handle on dsn through the driver registered as driverName
// (for example "pgx" or "mysql"), wrapped with retrysql and configured by
// opts. Like sql.Open it does not connect. Given one of retrysql's own
// drivers ("retry+pgx"), it wraps the driver beneath (pgx's) once, with
// that driver's options followed by opts: a handle never wraps another
// retrysql handle, whose attempts would multiply.
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
	if w, ok := drv.(*wrapDriver); ok {
		drv, opts = w.inner, slices.Concat(w.opts, opts)
	}
	base, err := baseConnector(drv, dsn)
	if err != nil {
		return nil, err
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
