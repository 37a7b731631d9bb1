package integration_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/integration/dbtest"
	"github.com/retrysql/retrysql/pgxretry"
)

// pgxUncontended returns a pgxpool on the local PostgreSQL (with
// synchronous_commit off, as uncontendedTx's handles) and the transfer of
// the uncontended benchmarks with pgx: two UPDATEs of rows that nothing
// else touches and a ledger INSERT, in tables of its own that it creates
// and drops when the benchmark ends.
func pgxUncontended(b *testing.B) (*pgxpool.Pool, func(context.Context, pgx.Tx) error) {
	admin := dbtest.OpenPostgres(b)
	dbtest.Exec(b, admin, "DROP TABLE IF EXISTS rs_pgxtx_accounts", "DROP TABLE IF EXISTS rs_pgxtx_ledger",
		"CREATE TABLE rs_pgxtx_accounts (id int PRIMARY KEY, balance bigint)",
		"INSERT INTO rs_pgxtx_accounts VALUES (1, 1000000), (2, 1000000)",
		"CREATE TABLE rs_pgxtx_ledger (id bigserial PRIMARY KEY, amount int)")
	b.Cleanup(func() {
		dbtest.Exec(b, admin, "DROP TABLE IF EXISTS rs_pgxtx_accounts", "DROP TABLE IF EXISTS rs_pgxtx_ledger")
	})
	cfg, err := pgxpool.ParseConfig(withSetting(b, dbtest.PostgresDSN(b), "synchronous_commit", "off"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	q := [3]string{
		"UPDATE rs_pgxtx_accounts SET balance = balance - $1 WHERE id = 1",
		"UPDATE rs_pgxtx_accounts SET balance = balance + $1 WHERE id = 2",
		"INSERT INTO rs_pgxtx_ledger (amount) VALUES ($1)",
	}
	return pool, func(ctx context.Context, tx pgx.Tx) error {
		for _, s := range q {
			if _, err := tx.Exec(ctx, s, 1); err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkPgxRunInTxPaired measures what pgxretry.RunInTx costs an
// uncontended pgx transaction beside pgx.BeginTxFunc, on one pgxpool,
// paired as BenchmarkRunInTxPaired pairs admission off and on: blocks of
// pairBlock transfers in turn, a coin toss deciding which goes first, the
// median ratio of the pairs and its 95% confidence interval. In
// "pair=pgxretry", "off" is pgx.BeginTxFunc and "on" is pgxretry.RunInTx
// (retrysql.SharedRetrier(), admission off); in "pair=commitcheck", "off"
// is pgxretry.RunInTx and "on" the same with the commit check (its proof,
// one more round trip per transaction). Allocations per transaction:
// BenchmarkPgxRunInTx.
//
//	go test -run '^$' -bench BenchmarkPgxRunInTxPaired -benchtime 400x ./integration
func BenchmarkPgxRunInTxPaired(b *testing.B) {
	ctx := context.Background()
	pool, fn := pgxUncontended(b)
	block := func(run func() error) func() {
		return func() {
			for range pairBlock {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	checked, err := retrysql.NewRetrier(retrysql.WithCommitCheck(true))
	if err != nil {
		b.Fatal(err)
	}
	txFn := func(tx pgx.Tx) error { return fn(ctx, tx) } // BeginTxFunc's fn has no context
	plain := block(func() error { return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, txFn) })
	retried := block(func() error { return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn) })
	withCheck := block(func() error {
		return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn, retrysql.WithRetrier(checked))
	})
	b.Run("pair=pgxretry", func(b *testing.B) { paired(b, plain, retried) })
	b.Run("pair=commitcheck", func(b *testing.B) { paired(b, retried, withCheck) })
}

// BenchmarkPgxRunInTx runs the same transfer one transaction per
// iteration with pgx.BeginTxFunc, pgxretry.RunInTx, pgxretry.RunInTx under
// admission control, and with the commit check (its proof: one more round
// trip), for the time and the allocations of one transaction (-benchmem;
// allocs/op is per transaction):
//
//	go test -run '^$' -bench BenchmarkPgxRunInTx$ -benchmem -count 6 ./integration | tee pgxtx.txt
//	benchstat -col /runner pgxtx.txt
func BenchmarkPgxRunInTx(b *testing.B) {
	ctx := context.Background()
	pool, fn := pgxUncontended(b)
	ctl, err := admission.New(admission.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	withAdmission, err := retrysql.NewRetrier(retrysql.WithAdmission(ctl))
	if err != nil {
		b.Fatal(err)
	}
	withCheck, err := retrysql.NewRetrier(retrysql.WithCommitCheck(true))
	if err != nil {
		b.Fatal(err)
	}
	txFn := func(tx pgx.Tx) error { return fn(ctx, tx) } // BeginTxFunc's fn has no context
	for _, r := range []struct {
		name string
		run  func() error
	}{
		{"BeginTxFunc", func() error { return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, txFn) }},
		{"pgxretry", func() error { return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn) }},
		{"pgxretry-admission", func() error {
			return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn, retrysql.WithRetrier(withAdmission))
		}},
		{"pgxretry-commitcheck", func() error {
			return pgxretry.RunInTx(ctx, pool, pgx.TxOptions{}, fn, retrysql.WithRetrier(withCheck))
		}},
	} {
		b.Run("runner="+r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := r.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPgxRunInTxFake runs a transaction on a fake pgx Beginner
// whose transactions do nothing, with pgx.BeginTxFunc and with
// pgxretry.RunInTx: what pgxretry's loop itself costs a transaction that
// succeeds at once, in time and allocations, without a server's noise.
//
//	go test -run '^$' -bench BenchmarkPgxRunInTxFake -benchmem -count 6 ./integration | tee fakepgx.txt
//	benchstat -col /runner fakepgx.txt
func BenchmarkPgxRunInTxFake(b *testing.B) {
	ctx := context.Background()
	var db fakeBeginner
	fn := func(context.Context, pgx.Tx) error { return nil }
	txFn := func(tx pgx.Tx) error { return fn(ctx, tx) }
	for _, r := range []struct {
		name string
		run  func() error
	}{
		{"BeginTxFunc", func() error { return pgx.BeginTxFunc(ctx, db, pgx.TxOptions{}, txFn) }},
		{"pgxretry", func() error { return pgxretry.RunInTx(ctx, db, pgx.TxOptions{}, fn) }},
	} {
		b.Run("runner="+r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := r.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fakeBeginner begins fakeTxs.
type fakeBeginner struct{}

func (fakeBeginner) BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error) { return fakeTx{}, nil }

// fakeTx is a pgx.Tx whose Commit and Rollback succeed at once (its other
// methods are not called).
type fakeTx struct{ pgx.Tx }

func (fakeTx) Commit(context.Context) error   { return nil }
func (fakeTx) Rollback(context.Context) error { return nil }

// BenchmarkPgxQueryRow reads one row outside a transaction with pgx's own
// QueryRow and Scan, and with pgxretry.QueryRow (the query and the row
// made inside retrysql's loop), on the local PostgreSQL:
//
//	go test -run '^$' -bench BenchmarkPgxQueryRow -benchmem -count 6 ./integration | tee pgxrow.txt
//	benchstat -col /runner pgxrow.txt
func BenchmarkPgxQueryRow(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgxUncontended(b)
	const q = "SELECT balance FROM rs_pgxtx_accounts WHERE id = $1"
	for _, r := range []struct {
		name string
		run  func() (int64, error)
	}{
		{"pgx", func() (int64, error) {
			var n int64
			err := pool.QueryRow(ctx, q, 1).Scan(&n)
			return n, err
		}},
		{"pgxretry", func() (int64, error) { return pgxretry.QueryRow(ctx, nil, pool, q, []any{1}, pgx.RowTo[int64]) }},
	} {
		b.Run("runner="+r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
