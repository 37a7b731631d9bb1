package sqlxretry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql/sqlxretry"
)

// queryer is what *sqlx.DB and *sqlx.Tx have in common for the scenario.
type queryer interface {
	sqlx.ExtContext
	NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error)
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	PrepareNamedContext(ctx context.Context, query string) (*sqlx.NamedStmt, error)
}

// TestNamedQueriesUnchanged runs sqlx's named and bound queries (NamedExec
// with a struct, a map and a batch, NamedQuery, PrepareNamed, Select, Get,
// In with Rebind, a Get that finds nothing) on each server three ways:
// on the *sqlx.DB, in a transaction of sqlx's own (Beginx, Commit), and in
// sqlxretry.RunInTx; each through the driver's own name and retrysql's
// (sqlx.Open("pgx") or sqlx.Open("retry+pgx"), nothing else differs). All
// six say the same.
func TestNamedQueriesUnchanged(t *testing.T) {
	for _, server := range []string{"postgres", "mariadb"} {
		t.Run(server, func(t *testing.T) {
			var want []string
			for _, d := range dialects {
				if d.name != server {
					continue
				}
				for _, runner := range []string{"db", "db.Beginx", "sqlxretry.RunInTx"} {
					got := named(t, d, runner)
					if want == nil {
						want = got
						t.Logf("%s, %s: %q", d, runner, got)
						continue
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s, %s:\n got %q\nwant %q", d, runner, got, want)
					}
				}
			}
		})
	}
}

func named(t *testing.T, d dialect, runner string) []string {
	t.Helper()
	ctx := context.Background()
	admin := d.admin(t)
	tbl := "rs_sqlxretry_named"
	table(t, admin, tbl, "id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, age INT NOT NULL")
	db := d.open(t)
	var seen []string
	note := func(format string, args ...any) { seen = append(seen, fmt.Sprintf(format, args...)) }
	fn := func(ctx context.Context, q queryer) error {
		seen = nil
		insert := "INSERT INTO " + tbl + " (id, name, age) VALUES (:id, :name, :age)"
		res, err := q.NamedExecContext(ctx, insert, person{1, "ann", 30})
		note("named struct: %v", rows(res, err))
		res, err = q.NamedExecContext(ctx, insert, map[string]any{"id": 2, "name": "bob", "age": 40})
		note("named map: %v", rows(res, err))
		res, err = q.NamedExecContext(ctx, insert, []person{{3, "cy", 50}, {4, "di", 20}})
		note("named batch: %v", rows(res, err))
		var people []person
		err = q.SelectContext(ctx, &people, q.Rebind("SELECT id, name, age FROM "+tbl+" WHERE age > ? ORDER BY id"), 25)
		note("select: %+v %v", people, err)
		var p person
		err = q.GetContext(ctx, &p, q.Rebind("SELECT id, name, age FROM "+tbl+" WHERE name = ?"), "cy")
		note("get: %+v %v", p, err)
		err = q.GetContext(ctx, &p, q.Rebind("SELECT id, name, age FROM "+tbl+" WHERE id = ?"), 99)
		note("get none: ErrNoRows %v", errors.Is(err, sql.ErrNoRows))
		in, args, err := sqlx.In("SELECT name FROM "+tbl+" WHERE id IN (?) ORDER BY id", []int{1, 3, 4})
		if err != nil {
			return err
		}
		var names []string
		err = q.SelectContext(ctx, &names, q.Rebind(in), args...)
		note("in: %v %v", names, err)
		nrows, err := sqlx.NamedQueryContext(ctx, q, "SELECT name FROM "+tbl+" WHERE age >= :age ORDER BY id", map[string]any{"age": 40})
		if err != nil {
			return err
		}
		names = nil
		for nrows.Next() {
			var n string
			if err := nrows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		note("named query: %v %v", names, nrows.Err())
		nrows.Close()
		stmt, err := q.PrepareNamedContext(ctx, "SELECT id, name, age FROM "+tbl+" WHERE id = :id")
		if err != nil {
			return err
		}
		defer stmt.Close()
		p = person{}
		err = stmt.GetContext(ctx, &p, map[string]any{"id": 2})
		note("prepared named: %+v %v", p, err)
		return nil
	}
	var err error
	switch runner {
	case "db":
		err = fn(ctx, db)
	case "db.Beginx":
		var tx *sqlx.Tx
		if tx, err = db.BeginTxx(ctx, nil); err == nil {
			if err = fn(ctx, tx); err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
	default:
		err = sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error { return fn(ctx, tx) })
	}
	note("returned: %v", err)
	var n int
	err = db.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+tbl)
	note("after: %d rows %v", n, err)
	return seen
}

func rows(res sql.Result, err error) string {
	if err != nil {
		return err.Error()
	}
	n, err := res.RowsAffected()
	return fmt.Sprint(n, err)
}
