package pgxretry

import (
	"context"
	"database/sql/driver"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// The commit check (retrysql.TransactOn) asks whether a transaction whose
// COMMIT lost its answer committed through a connector of pgx's
// database/sql driver: for a pool, another connection of the pool; for a
// *pgx.Conn, a new connection with its configuration. The connector
// connects only then (lost COMMITs are rare), and holds nothing between.

// checkConnector returns the connector through which the transactions
// begun on db can be checked, or nil when there is none (another
// Beginner). Both are a pointer in an interface: no allocation.
func checkConnector(db Beginner) driver.Connector {
	switch b := db.(type) {
	case *pgxpool.Pool:
		return poolConnector{b}
	case *pgx.Conn:
		return connConnector{b}
	}
	return nil
}

// poolConnector connects by acquiring a connection of pool, which goes
// back to the pool when database/sql closes it.
type poolConnector struct{ pool *pgxpool.Pool }

func (c poolConnector) Connect(ctx context.Context) (driver.Conn, error) {
	return stdlib.GetPoolConnector(c.pool).Connect(ctx)
}

// Driver is pgx's database/sql driver: what retrysql knows PostgreSQL by.
func (poolConnector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// connConnector opens new connections with conn's configuration.
type connConnector struct{ conn *pgx.Conn }

func (c connConnector) Connect(ctx context.Context) (driver.Conn, error) {
	return stdlib.GetConnector(*c.conn.Config()).Connect(ctx)
}

func (connConnector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }
