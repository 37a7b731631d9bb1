package contention

import (
	"database/sql"
	"fmt"

	"github.com/retrysql/retrysql/admission"
	"github.com/retrysql/retrysql/examples/bank/workload"
)

// FleetCells returns the cells of a fleet: 32 workers split over 2, 4 and
// 8 client processes, on 4 and 16 hot rows, PostgreSQL SERIALIZABLE and
// MariaDB deadlocks.
func FleetCells() []Cell {
	var cells []Cell
	for _, a := range []int{4, 16} {
		for _, n := range []int{2, 4, 8} {
			cells = append(cells, Cell{
				Name:    fmt.Sprintf("PG serializable, sorted, %d hot, 32 workers in %d processes", a, n),
				Dialect: workload.Postgres, Order: workload.Sorted, Isolation: sql.LevelSerializable, Accounts: a, Workers: 32,
				Settings: map[string]string{"enable_seqscan": "off"}, Processes: n,
			}, Cell{
				Name:    fmt.Sprintf("MariaDB repeatable read, random order, %d hot, 32 workers in %d processes", a, n),
				Dialect: workload.MySQL, Order: workload.Random, Isolation: sql.LevelRepeatableRead, Accounts: a, Workers: 32, Processes: n,
			})
		}
	}
	return cells
}

// FleetStrategies are admission's variants for a fleet and for cold work
// beside hot: first attempts admitted only when hot (AdmitHotOnly), the
// fleet gate (Fleet), and both.
func FleetStrategies() []Strategy {
	return []Strategy{
		Admission("admission hot keys", admission.Settings{AdmitHotOnly: true}),
		Admission("admission fleet gate", admission.Settings{Fleet: "contention"}),
		Admission("admission hot keys + fleet gate", admission.Settings{AdmitHotOnly: true, Fleet: "contention"}),
	}
}
