package contention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/pgxretry"
)

// PgxRunner runs fn as one pgx transaction on pool, retrying as it sees
// fit: the pgx-native counterpart of workload.Runner.
type PgxRunner func(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(context.Context, pgx.Tx) error) error

// PgxRun is what a pgx-native strategy uses for one run: its runner, and
// the admission controller whose limit is sampled (nil without).
type PgxRun struct {
	Runner    PgxRunner
	Admission *admission.Controller
}

// PgxStrategies returns retrysql's default and admission through
// pgxretry.RunInTx on a pgxpool, without database/sql: each run has a
// pool of its own (as many connections as a database/sql run's handle)
// and a Retrier of its own (as a database/sql run's handle has). They run
// on the PostgreSQL cells of one process without phases or cold workers.
func PgxStrategies() []Strategy {
	return []Strategy{
		{Name: "pgxretry, retrysql default", Pgx: func(c Cell) (*PgxRun, error) { return pgxRun(c, nil) }},
		{Name: "pgxretry, retrysql admission", Pgx: func(c Cell) (*PgxRun, error) {
			ctl, err := admission.New(admission.Settings{})
			if err != nil {
				return nil, err
			}
			// As a retrysql handle bounds its controller by the pool's size.
			ctl.SetMaxLimit(poolSize(c))
			return pgxRun(c, ctl)
		}},
	}
}

func pgxRun(c Cell, ctl *admission.Controller) (*PgxRun, error) {
	if c.Dialect != workload.Postgres || c.Processes > 1 || len(c.Phases) > 0 || c.ColdWorkers > 0 {
		return nil, nil
	}
	var opts []retrysql.Option
	if ctl != nil {
		opts = append(opts, retrysql.WithAdmission(ctl))
	}
	r, err := retrysql.NewRetrier(opts...)
	if err != nil {
		return nil, err
	}
	return &PgxRun{Admission: ctl, Runner: func(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(context.Context, pgx.Tx) error) error {
		return pgxretry.RunInTx(ctx, pool, opts, fn, retrysql.WithRetrier(r))
	}}, nil
}

// poolSize is the connections of a run's handle or pool.
func poolSize(c Cell) int { return c.Workers + 4 }

// runPgxOne is RunOne for a pgx-native strategy: the tables are set up
// and verified through database/sql as for every strategy, the transfers
// run on a pgxpool of the run's own.
func runPgxOne(ctx context.Context, dsns DSNs, c Cell, s Strategy, d time.Duration, seed uint64) (Sample, bool, error) {
	run, err := s.Pgx(c)
	if err != nil || run == nil {
		return Sample{}, false, err
	}
	dsn, _, err := dsnFor(dsns, c, true)
	if err != nil {
		return Sample{}, false, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return Sample{}, false, err
	}
	defer db.Close()
	if err := workload.Setup(ctx, db, c.Dialect, c.Accounts); err != nil {
		return Sample{}, false, err
	}
	cfg, err := pgxpool.ParseConfig(dsn) // the cell's settings ride in the DSN
	if err != nil {
		return Sample{}, false, err
	}
	cfg.MaxConns = int32(poolSize(c))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return Sample{}, false, err
	}
	defer pool.Close()
	var limits sampler
	if run.Admission != nil {
		stop := limits.start(run.Admission)
		defer stop()
	}
	res, err := pgxTransfers(ctx, pool, c, run.Runner, d, seed)
	if err != nil {
		return Sample{}, false, err
	}
	check, err := workload.Verify(ctx, db, c.Accounts, res)
	if err != nil {
		return Sample{}, false, err
	}
	smp := Sample{MeanLimit: limits.mean(), Escalations: limits.escalations()}
	return finish(c, res, check, smp, nil), true, nil
}

// pgxIso maps the cells' isolation levels to pgx's.
var pgxIso = map[sql.IsolationLevel]pgx.TxIsoLevel{
	sql.LevelSerializable:   pgx.Serializable,
	sql.LevelRepeatableRead: pgx.RepeatableRead,
	sql.LevelReadCommitted:  pgx.ReadCommitted,
}

// pgxTransfers is workload.Run's transfer loop with pgx: c.Workers
// goroutines make transfers between c's accounts for d, each one the
// transaction of workload.Run (two rows in c.Order, locked FOR UPDATE
// first in random order, and a ledger row) on workload.BenchTables.
func pgxTransfers(ctx context.Context, pool *pgxpool.Pool, c Cell, runner PgxRunner, d time.Duration, seed uint64) (workload.Result, error) {
	iso, ok := pgxIso[c.Isolation]
	if !ok {
		return workload.Result{}, fmt.Errorf("contention: no pgx isolation level for %v", c.Isolation)
	}
	q := workload.QueriesFor(workload.Postgres, workload.BenchTables)
	ambiguous := func(err error) bool {
		return errors.Is(err, retrysql.ErrAmbiguousCommit) || errors.Is(err, retrysql.ErrAmbiguous)
	}
	var (
		runs atomic.Int64
		mu   sync.Mutex
		res  workload.Result
		wg   sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for w := range c.Workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var tally workload.Tally
			for seq := int64(0); time.Now().Before(stop) && ctx.Err() == nil; seq++ {
				tr := workload.NewTransfer(rng, int64(w)<<32|seq, c.Accounts, 0, c.Order)
				fn := func(ctx context.Context, tx pgx.Tx) error {
					runs.Add(1)
					return tr.Apply(ctx, c.Order, q, workload.Statements{
						Scan: func(ctx context.Context, query string, dest any, args ...any) error {
							return tx.QueryRow(ctx, query, args...).Scan(dest)
						},
						Exec: func(ctx context.Context, query string, args ...any) error {
							_, err := tx.Exec(ctx, query, args...)
							return err
						},
					})
				}
				tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				t0 := time.Now()
				err := runner(tctx, pool, pgx.TxOptions{IsoLevel: iso}, fn)
				cancel()
				tally.Record(tr.ID, start, t0, false, err, ambiguous)
			}
			mu.Lock()
			defer mu.Unlock()
			res.Merge(&tally)
		})
	}
	wg.Wait()
	res.Finish(time.Since(start), runs.Load())
	return res, ctx.Err()
}
