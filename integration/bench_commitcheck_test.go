package integration_test

import (
	"context"
	"testing"

	"github.com/retrysql/retrysql"
)

// The cost of the commit check on a transaction that meets no fault: the
// uncontended transfer of BenchmarkRunInTxUncontended with RunInTx's
// WithCommitCheck off and on, on one handle.
//
// BenchmarkCommitCheckPaired gives the ratio with the machine's drift
// cancelled (blocks of pairBlock transactions in turn, as
// BenchmarkRunInTxPaired does):
//
//	go test -run '^$' -bench BenchmarkCommitCheckPaired -benchtime 400x ./integration
//
// BenchmarkCommitCheck gives time and allocations per transaction:
//
//	go test -run '^$' -bench 'BenchmarkCommitCheck$' -benchtime 2s -count 6 ./integration | tee cc.txt
//	benchstat -col /check cc.txt

func BenchmarkCommitCheckPaired(b *testing.B) {
	ctx := context.Background()
	for _, dialect := range []string{"postgres", "mariadb"} {
		drv, dsn, setup, fn := uncontendedTx(b, dialect)
		db := openUncontended(b, drv, dsn, false)
		setup(db)
		block := func(on bool) {
			for range pairBlock {
				if err := retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithCommitCheck(on)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run("db="+dialect, func(b *testing.B) {
			paired(b, func() { block(false) }, func() { block(true) })
		})
	}
}

func BenchmarkCommitCheck(b *testing.B) {
	ctx := context.Background()
	for _, dialect := range []string{"postgres", "mariadb"} {
		drv, dsn, setup, fn := uncontendedTx(b, dialect)
		db := openUncontended(b, drv, dsn, false)
		setup(db)
		for _, on := range []bool{false, true} {
			mode := map[bool]string{false: "off", true: "on"}[on]
			b.Run("db="+dialect+"/check="+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithCommitCheck(on)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
