package integration_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/retrysql/retrysql"
	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/examples/bank/workload"
	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

// fleetAtOne is hot keys with the fleet gate whose limit never leaves
// one attempt per process: each process is at its floor from the start, so
// that aborts turn its gate on within a few windows. On MariaDB's 4 hot
// rows the controllers of the full strategy reach their floor after a few
// seconds or not at all in a short run (the harness's 10-s cells: 2,945 to
// 4,697 gated attempts with 4 and 8 processes, none with 2).
func fleetAtOne() contention.Strategy {
	return contention.Admission("admission hot keys + fleet gate, at one", admission.Settings{AdmitHotOnly: true, Fleet: "contention", MaxLimit: 1})
}

// TestFleetGate runs four client processes (this test binary started
// again) on four hot rows with admission for hot transactions and the
// fleet gate, on PostgreSQL and MariaDB: their controllers, each at its
// floor with attempts still aborting, turn the fleet gate on and take
// turns through it; nothing is lost, applied twice or given up.
func TestFleetGate(t *testing.T) {
	dsns := contention.DSNs{Postgres: dbtest.PostgresDSN(t), MySQL: dbtest.MySQLDSN(t)}
	var def contention.Strategy
	for _, s := range contention.FleetStrategies() {
		if s.Name == "admission hot keys + fleet gate" {
			def = s
		}
	}
	if def.Runner == nil {
		t.Fatal("the strategy was renamed")
	}
	pg := contention.Cell{Name: "PG fleet", Dialect: workload.Postgres, Order: workload.Sorted, Isolation: sql.LevelSerializable,
		Accounts: 4, Workers: 32, Processes: 4, Settings: map[string]string{"enable_seqscan": "off"}}
	my := contention.Cell{Name: "MariaDB fleet", Dialect: workload.MySQL, Order: workload.Random, Isolation: sql.LevelRepeatableRead,
		Accounts: 4, Workers: 32, Processes: 4}
	for _, run := range []struct {
		c contention.Cell
		s contention.Strategy
	}{{pg, def}, {my, fleetAtOne()}} {
		rows, err := contention.Run(context.Background(), dsns, []contention.Cell{run.c}, []contention.Strategy{run.s}, 4*time.Second, 1, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			s := r.Samples[0]
			t.Logf("%s, %s: %.0f/s, p99 %v, runs/commit %.2f, gated %d, fairness %.3f", r.Cell, r.Strategy, s.PerSecond, s.P99, s.RunsPerCommit, s.Gated, s.Fairness)
			if s.Violations != 0 || s.GivenUp != 0 || s.PerSecond == 0 {
				t.Errorf("%s: %+v", r.Cell, s)
			}
			if s.Gated == 0 {
				t.Errorf("%s: the gate never turned on", r.Cell)
			}
		}
	}
}

// gateHolderEnv makes this test binary TestFleetGateDiesWithItsProcess's
// holder: "driver|dsn|fleet".
const gateHolderEnv = "RETRYSQL_GATE_HOLDER"

// fleetOn returns a controller of fleet whose gate is on: a window of
// aborted attempts at its floor turns it on, through its public API.
func fleetOn(fleet string) (*admission.Controller, error) {
	ctl, err := admission.New(admission.Settings{StartLimit: 1, MaxLimit: 1, MinWindow: 4, EscalateAfter: -1, Fleet: fleet})
	if err != nil {
		return nil, err
	}
	for range 4 {
		p, err := ctl.Admit(context.Background(), 0, false)
		if err != nil {
			return nil, err
		}
		p.Release(true)
	}
	if !ctl.FleetOn() {
		return nil, errors.New("the gate did not turn on")
	}
	return ctl, nil
}

// holdGate takes the gate of spec's fleet in a transaction through
// RunInTx, says "holding" on its standard output, and waits to be killed.
func holdGate(spec string) {
	parts := strings.SplitN(spec, "|", 3)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "gate holder:", err)
		os.Exit(1)
	}
	ctl, err := fleetOn(parts[2])
	if err != nil {
		fail(err)
	}
	db, err := retrysql.Open(parts[0], parts[1], retrysql.WithAdmission(ctl))
	if err != nil {
		fail(err)
	}
	err = retrysql.RunInTx(context.Background(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
			return err
		}
		fmt.Println("holding")
		time.Sleep(time.Minute)
		return nil
	})
	fail(fmt.Errorf("still alive after a minute: %v", err))
}

// gateFleet returns a fleet name whose gate stripe is not the contention
// harness's, so that no other test shares it; with n, the n-th such name
// of a distinct stripe (a killed process's lock may outlive it by a few
// milliseconds: a test that needs a free gate right after one that held
// its own takes another).
func gateFleet(t *testing.T, n ...int) string {
	stripe := func(s string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(s))
		return h.Sum32() % admission.FleetStripes
	}
	want := 0
	if len(n) > 0 {
		want = n[0]
	}
	taken := map[uint32]bool{stripe("contention"): true}
	for i := range 100 {
		name := fmt.Sprintf("gate-test-%d", i)
		if s := stripe(name); !taken[s] {
			if want == 0 {
				return name
			}
			want--
			taken[s] = true
		}
	}
	t.Fatal("no fleet name")
	return ""
}

// startHolder starts a process (this test binary again) that takes the
// gate of fleet on driver and dsn and holds it until killed; it is killed
// when the test ends.
func startHolder(t *testing.T, driver, dsn, fleet string) *exec.Cmd {
	t.Helper()
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), gateHolderEnv+"="+strings.TrimPrefix(driver, "retry+")+"|"+dsn+"|"+fleet)
	holder.Stderr = os.Stderr
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	return holder
}

// TestFleetGateSeenByOthers: a process whose attempts abort above its
// floor looks whether its fleet's gate is in use (one query after an
// attempt) and, if another process holds it, joins at its next window
// with aborts instead of waiting to reach its floor; with the gate free it
// does not.
func TestFleetGateSeenByOthers(t *testing.T) {
	for _, c := range []struct{ name, driver, dsn string }{
		{"PostgreSQL", retrysql.DriverPgx, dbtest.PostgresDSN(t)},
		{"MariaDB", retrysql.DriverMySQL, dbtest.MySQLDSN(t)},
	} {
		for _, held := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/held=%v", c.name, held), func(t *testing.T) {
				fleet := gateFleet(t, 1) // free: not the held subtest's stripe
				if held {
					fleet = gateFleet(t)
					startHolder(t, c.driver, c.dsn, fleet)
				}
				ctl, err := admission.New(admission.Settings{StartLimit: 4, MinWindow: 4, EscalateAfter: -1, Fleet: fleet})
				if err != nil {
					t.Fatal(err)
				}
				aborted := func(n int) {
					for range n {
						p, err := ctl.Admit(t.Context(), 0, false)
						if err != nil {
							t.Fatal(err)
						}
						p.Release(true)
					}
				}
				aborted(8) // a window of aborts (twice the limit): the limit halves to 2, above the floor
				if ctl.FleetOn() || ctl.Snapshot().Permits != 2 {
					t.Fatalf("after one window: %+v", ctl.Snapshot())
				}
				db, err := sql.Open(c.driver, c.dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				// An attempt of a transaction; the look follows it.
				if err := retrysql.RunInTx(t.Context(), db, nil, func(ctx context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "SELECT 1")
					return err
				}, retrysql.WithAdmission(ctl)); err != nil {
					t.Fatal(err)
				}
				if _, again := ctl.FleetLook(); again {
					t.Fatal("the look was not taken after the attempt")
				}
				aborted(3) // with the attempt, a window of four at a limit of 2
				if s := ctl.Snapshot(); ctl.FleetOn() != held {
					t.Fatalf("gate on %v with the fleet's gate held %v: %+v", ctl.FleetOn(), held, s)
				}
			})
		}
	}
}

// TestFleetGateDiesWithItsProcess: a process that holds the fleet gate
// and dies (SIGKILL, in the middle of its transaction) does not wedge the
// others: while it lives, another process's transaction waits at the gate
// without sending its statements; once it is killed, the database ends its
// session and the other's transaction goes through.
func TestFleetGateDiesWithItsProcess(t *testing.T) {
	for _, c := range []struct{ name, driver, dsn string }{
		{"PostgreSQL", retrysql.DriverPgx, dbtest.PostgresDSN(t)},
		{"MariaDB", retrysql.DriverMySQL, dbtest.MySQLDSN(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			fleet := gateFleet(t)
			holder := startHolder(t, c.driver, c.dsn, fleet)

			ctl, err := fleetOn(fleet)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open(c.driver, c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			sent := 0
			fn := func(ctx context.Context, tx *sql.Tx) error {
				sent++
				_, err := tx.ExecContext(ctx, "SELECT 1")
				return err
			}
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			err = retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithAdmission(ctl))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("with the gate held elsewhere: %v, want the deadline", err)
			}
			if s := ctl.Snapshot(); s.Gated != 1 {
				t.Fatalf("%d attempts took the gate, want 1", s.Gated)
			}

			if err := holder.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			ctx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := retrysql.RunInTx(ctx, db, nil, fn, retrysql.WithAdmission(ctl)); err != nil {
				t.Fatalf("after the holder died: %v", err)
			}
			t.Logf("the gate came free %v after the holder was killed", time.Since(start).Round(time.Millisecond))
		})
	}
}
