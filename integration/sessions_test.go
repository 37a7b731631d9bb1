package integration_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/retrysql/retrysql/integration/dbtest"
)

// sessions opens n connections of their own (a handle that keeps no idle
// connection, so that session settings die with the test), closed when the
// test ends.
func sessions(t *testing.T, db *sql.DB, n int) []*sql.Conn {
	t.Helper()
	db.SetMaxIdleConns(0)
	out := make([]*sql.Conn, n)
	for i := range out {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out[i] = c
	}
	return out
}

// pgAs returns a handle on the test PostgreSQL server logged in as user.
func pgAs(t *testing.T, user string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = user
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// mysqlAs returns a handle on the test MySQL server logged in as user.
func mysqlAs(t *testing.T, user, password string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dbtest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, password
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// table creates a two-row table (id, v) named after the test and drops it
// when the test ends.
func table(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	dbtest.Exec(t, db,
		"DROP TABLE IF EXISTS "+name,
		"CREATE TABLE "+name+" (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO "+name+" (id, v) VALUES (1, 0), (2, 0)",
	)
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + name) })
	return name
}

// deadlock makes two transactions on a and b lock the two rows of tbl in
// opposite orders and returns the error of the one the server chose as
// victim.
func deadlock(t *testing.T, a, b *sql.Conn, tbl string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txA, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback()
	txB, err := b.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txB.Rollback()
	update := func(tx *sql.Tx, id int) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id = %d", tbl, id))
		return err
	}
	if err := update(txA, 1); err != nil {
		t.Fatal(err)
	}
	if err := update(txB, 2); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- update(txA, 2) }()
	time.Sleep(50 * time.Millisecond) // let A wait for B's lock first
	go func() { errs <- update(txB, 1) }()
	var victim error
	for range 2 {
		if err := <-errs; err != nil {
			if victim != nil {
				t.Fatalf("both transactions failed: %v and %v", victim, err)
			}
			victim = err
		}
	}
	if victim == nil {
		t.Fatal("no deadlock happened")
	}
	return victim
}
