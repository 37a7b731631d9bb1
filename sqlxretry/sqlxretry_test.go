package sqlxretry_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/sqlxretry"
)

type person struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	Age  int    `db:"age"`
}

// TestBindTypes: retrysql's driver names bind as the drivers they wrap.
func TestBindTypes(t *testing.T) {
	for name, want := range map[string]int{
		retrysql.DriverPgx: sqlx.DOLLAR, "pgx": sqlx.DOLLAR,
		retrysql.DriverMySQL: sqlx.QUESTION, "mysql": sqlx.QUESTION,
	} {
		if got := sqlx.BindType(name); got != want {
			t.Errorf("sqlx.BindType(%q) = %d, want %d", name, got, want)
		}
	}
}

// TestReplays: a serialization failure or a deadlock raised twice by the
// server after fn's first write is replayed: fn runs three times, each
// time in a new transaction (the earlier writes were rolled back), and
// the value of the third is returned. On retrysql's drivers the handle's
// Retrier counts the replays.
func TestReplays(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		codes := []string{"1213"}
		if d.pg() {
			codes = []string{"40001", "40P01"}
		}
		for _, code := range codes {
			t.Run(d.String()+"/"+code, func(t *testing.T) {
				admin := d.admin(t)
				name := "rs_sqlxretry_flaky_" + code
				flaky(t, d, admin, name, code, 2)
				tbl := "rs_sqlxretry_replays"
				table(t, admin, tbl, "id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, age INT NOT NULL")
				db := d.open(t)
				var runs atomic.Int32
				n, err := sqlxretry.RunInTxValue(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) (int64, error) {
					runs.Add(1)
					if _, err := tx.NamedExecContext(ctx, "INSERT INTO "+tbl+" (id, name, age) VALUES (:id, :name, :age)", person{1, "ann", 30}); err != nil {
						return 0, err
					}
					var n int64
					err := tx.GetContext(ctx, &n, "SELECT "+name+"()")
					return n, err
				})
				if err != nil || n != 3 || runs.Load() != 3 {
					t.Fatalf("got %d, %v after %d runs; want 3, nil after 3", n, err, runs.Load())
				}
				var rows int
				if err := admin.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&rows); err != nil || rows != 1 {
					t.Fatalf("%d rows, %v; want 1 (the failed attempts rolled back)", rows, err)
				}
				if r, ok := retrysql.RetrierOf(db.DB); ok {
					if st := r.Stats(); st.RetriesByCode[code] != 2 {
						t.Fatalf("the handle's Retrier counted %v, want 2 retries of %s", st.RetriesByCode, code)
					}
				}
			})
		}
	}
}

// TestPermanentErrorReturnedAsIs: a duplicate key rolls back and comes
// back as the driver's error; fn ran once.
func TestPermanentErrorReturnedAsIs(t *testing.T) {
	ctx := context.Background()
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			admin := d.admin(t)
			tbl := "rs_sqlxretry_dup"
			table(t, admin, tbl, "id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, age INT NOT NULL")
			exec(t, admin, "INSERT INTO "+tbl+" VALUES (1, 'ann', 30)")
			db := d.open(t)
			var runs atomic.Int32
			err := sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
				runs.Add(1)
				_, err := tx.NamedExecContext(ctx, "INSERT INTO "+tbl+" (id, name, age) VALUES (:id, :name, :age)",
					[]person{{2, "bob", 40}, {1, "ann", 30}})
				return err
			})
			var pgErr *pgconn.PgError
			var myErr *mysql.MySQLError
			switch {
			case runs.Load() != 1:
				t.Fatalf("fn ran %d times, want 1", runs.Load())
			case d.pg() && (!errors.As(err, &pgErr) || pgErr.Code != "23505"):
				t.Fatalf("%v: not the driver's 23505", err)
			case !d.pg() && (!errors.As(err, &myErr) || myErr.Number != 1062):
				t.Fatalf("%v: not the driver's 1062", err)
			}
			var n int
			if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+tbl); err != nil || n != 1 {
				t.Fatalf("%d rows, %v: the transaction was not rolled back", n, err)
			}
		})
	}
}

// TestPanicRollsBack: a panic in fn rolls back and goes on; fn ran once.
func TestPanicRollsBack(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			admin := d.admin(t)
			tbl := "rs_sqlxretry_panic"
			table(t, admin, tbl, "id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, age INT NOT NULL")
			db := d.open(t)
			var runs atomic.Int32
			got := func() (v any) {
				defer func() { v = recover() }()
				sqlxretry.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
					runs.Add(1)
					if _, err := tx.NamedExecContext(ctx, "INSERT INTO "+tbl+" (id, name, age) VALUES (:id, :name, :age)", person{1, "ann", 30}); err != nil {
						return err
					}
					panic("boom")
				})
				return nil
			}()
			if got != "boom" || runs.Load() != 1 {
				t.Fatalf("recovered %v after %d runs; want boom after 1", got, runs.Load())
			}
			var n int
			if err := admin.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d rows, %v: the transaction was not rolled back", n, err)
			}
		})
	}
}

// TestFnThatCommits: fn must not commit; if it does, no replay, and the
// error says so.
func TestFnThatCommits(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := d.open(t)
			var runs atomic.Int32
			err := sqlxretry.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
				runs.Add(1)
				return tx.Commit()
			})
			if !errors.Is(err, retrysql.ErrTxEndedByFn) || runs.Load() != 1 {
				t.Fatalf("got %v after %d runs; want ErrTxEndedByFn after 1", err, runs.Load())
			}
		})
	}
}

// TestBadInput: nil arguments are errors, never panics.
func TestBadInput(t *testing.T) {
	fn := func(context.Context, *sqlx.Tx) error { t.Fatal("fn ran"); return nil }
	ctx := context.Background()
	var noContext context.Context                                     // nil, on purpose
	db, err := sqlx.Open("pgx", "postgres://nobody@127.0.0.1:1/none") // not connected
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, call := range map[string]func() error{
		"nil context": func() error { return sqlxretry.RunInTx(noContext, db, nil, fn) },
		"nil db":      func() error { return sqlxretry.RunInTx(ctx, nil, nil, fn) },
		"zero db":     func() error { return sqlxretry.RunInTx(ctx, &sqlx.DB{}, nil, fn) },
		"nil fn":      func() error { return sqlxretry.RunInTx(ctx, db, nil, nil) },
		"nil fn, value": func() error {
			_, err := sqlxretry.RunInTxValue[int](ctx, db, nil, nil)
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "nil") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSwallowedErrorSeen: on retrysql's drivers, a serialization failure
// or deadlock that fn swallows is seen, as retrysql.RunInTx sees it on a
// *sql.DB: the transaction is replayed, not committed.
func TestSwallowedErrorSeen(t *testing.T) {
	ctx := context.Background()
	for _, d := range []dialect{dialects[1], dialects[3]} {
		t.Run(d.String(), func(t *testing.T) {
			admin := d.admin(t)
			code := "1213"
			if d.pg() {
				code = "40001"
			}
			name := "rs_sqlxretry_swallowed"
			flaky(t, d, admin, name, code, 2)
			db := d.open(t)
			var runs atomic.Int32
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err := sqlxretry.RunInTx(ctx, db, nil, func(ctx context.Context, tx *sqlx.Tx) error {
				runs.Add(1)
				// Swallowed, on purpose. An Exec without arguments: an error
				// that MariaDB sends while the rows of a query are read is
				// not seen, and go-sql-driver/mysql v1.10.1 hangs (until the
				// context ends) in Exec of a prepared SELECT whose function
				// signals an error, which arguments would make it.
				_, _ = tx.ExecContext(ctx, "SELECT "+name+"()")
				return nil
			})
			if err != nil || runs.Load() != 3 {
				t.Fatalf("got %v after %d runs; want nil after 3", err, runs.Load())
			}
		})
	}
}
