package dbtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Local reports whether the tests run against the local servers that this
// machine can restart (not servers named by the environment, nor
// containers).
func Local() bool {
	return os.Getenv("RETRYSQL_TESTCONTAINERS") != "1" &&
		(os.Getenv("RETRYSQL_PG_DSN") == "" || os.Getenv("RETRYSQL_PG_DSN") == DefaultPostgresDSN) &&
		(os.Getenv("RETRYSQL_MYSQL_DSN") == "" || os.Getenv("RETRYSQL_MYSQL_DSN") == DefaultMySQLDSN)
}

func sh(script string) error {
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// The commands that start the local servers (DEVELOPERS.md).
const (
	startPostgresCmd = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
	startMariaDBCmd  = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
)

// RestartPostgres restarts the local PostgreSQL (a fast shutdown: every
// session is ended) and waits until it accepts connections again.
func RestartPostgres(ctx context.Context) error {
	if err := sh("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart -m fast"); err != nil {
		return err
	}
	return waitUp(ctx, "pgx", DefaultPostgresDSN)
}

// RestartMariaDB shuts the local MariaDB down, waits for its process to
// exit, starts it again and waits until it accepts connections.
func RestartMariaDB(ctx context.Context) error {
	if err := sh("mariadb-admin --host=127.0.0.1 --user=root shutdown"); err != nil {
		return err
	}
	for deadline := time.Now().Add(60 * time.Second); exec.Command("pgrep", "-x", "mariadbd").Run() == nil; {
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd did not exit within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := sh(startMariaDBCmd); err != nil {
		return err
	}
	return waitUp(ctx, "mysql", DefaultMySQLDSN)
}

// EnsureUp starts the local servers if they are down and waits for them;
// a test that restarts one defers it, so that the servers stay up whatever
// happens.
func EnsureUp(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if ping(ctx, "pgx", DefaultPostgresDSN) != nil {
		_ = sh(startPostgresCmd)
		if err := waitUp(ctx, "pgx", DefaultPostgresDSN); err != nil {
			t.Errorf("PostgreSQL did not come back: %v", err)
		}
	}
	if ping(ctx, "mysql", DefaultMySQLDSN) != nil {
		if exec.Command("pgrep", "-x", "mariadbd").Run() != nil {
			_ = sh(startMariaDBCmd)
		}
		if err := waitUp(ctx, "mysql", DefaultMySQLDSN); err != nil {
			t.Errorf("MariaDB did not come back: %v", err)
		}
	}
}

func waitUp(ctx context.Context, driver, dsn string) error {
	for {
		err := ping(ctx, driver, dsn)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not up: %v", driver, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
