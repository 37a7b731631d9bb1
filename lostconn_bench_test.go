package retrysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/classify"
	"github.com/retrysql/retrysql/strategy"
)

// BenchmarkLostConnections compares the two ways of retrying a statement
// whose connection was lost before anything was sent (issue "One loop, a
// plain driver layer"):
//
//   - mode=in-place (retrysql's): the statement's loop replaces the lost
//     connection, which database/sql had just handed out, by a new one and
//     goes on, with one count;
//   - mode=database-sql: the loss is handed to database/sql at once as
//     driver.ErrBadConn, and database/sql's own bounded tries (three) run
//     the statement on other connections, each try a loop of its own.
//
// Every attempt loses its connection with probability p. Reported per
// statement: the attempts that reached the driver, the connects, and per
// 10,000 statements the failures the application saw and those matching
// driver.ErrBadConn.
func BenchmarkLostConnections(b *testing.B) {
	for _, p := range []float64{0.1, 0.3, 0.5} {
		for _, mode := range []struct {
			name    string
			inPlace bool
		}{{"in-place", true}, {"database-sql", false}} {
			b.Run(fmt.Sprintf("p=%.1f/mode=%s", p, mode.name), func(b *testing.B) {
				defer retrysql.SetReplaceInPlace(mode.inPlace)()
				rng := rand.New(rand.NewPCG(1, 2))
				d := newFake(func(op, q string, n int) error {
					if op == "exec" && rng.Float64() < p {
						return driver.ErrBadConn
					}
					return nil
				})
				db := openFake(b, d, retrysql.WithBudget(nil), retrysql.WithBreaker(nil),
					retrysql.WithStrategy(classify.ConnLost, strategy.Fixed{}))
				ctx := context.Background()
				var failed, badConn int
				b.ReportAllocs()
				for b.Loop() {
					if _, err := db.ExecContext(ctx, "UPDATE t"); err != nil {
						failed++
						if errors.Is(err, driver.ErrBadConn) {
							badConn++
						}
					}
				}
				n := float64(b.N)
				b.ReportMetric(float64(d.count("exec", "UPDATE t"))/n, "attempts/op")
				b.ReportMetric(float64(d.opens)/n, "connects/op")
				b.ReportMetric(1e4*float64(failed)/n, "failed/10k")
				b.ReportMetric(1e4*float64(badConn)/n, "badconn/10k")
			})
		}
	}
}
