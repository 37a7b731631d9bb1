package dbtest

import (
	"context"
	"sync"

	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// Images used with RETRYSQL_TESTCONTAINERS=1.
const (
	postgresImage = "postgres:17-alpine"
	mysqlImage    = "mysql:8.4"
)

var (
	containersMu sync.Mutex
	containers   []testcontainers.Container
)

func keep(c testcontainers.Container) {
	containersMu.Lock()
	containers = append(containers, c)
	containersMu.Unlock()
}

func stopContainers() {
	containersMu.Lock()
	defer containersMu.Unlock()
	for _, c := range containers {
		_ = testcontainers.TerminateContainer(c)
	}
	containers = nil
}

// startPostgres starts a PostgreSQL container and returns its DSN.
func startPostgres(ctx context.Context) (string, error) {
	c, err := tcpostgres.Run(ctx, postgresImage,
		tcpostgres.WithDatabase("test"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if c != nil {
		keep(c)
	}
	if err != nil {
		return "", err
	}
	return c.ConnectionString(ctx, "sslmode=disable")
}

// startMySQL starts a MySQL container and returns its DSN. (The module waits
// for MySQL's own start-up message, so it runs MySQL, not MariaDB; the tests
// check MariaDB-only behaviour only on MariaDB.)
func startMySQL(ctx context.Context) (string, error) {
	c, err := tcmysql.Run(ctx, mysqlImage,
		tcmysql.WithDatabase("test"),
		tcmysql.WithUsername("root"),
		tcmysql.WithPassword("root"),
	)
	if c != nil {
		keep(c)
	}
	if err != nil {
		return "", err
	}
	return c.ConnectionString(ctx)
}
