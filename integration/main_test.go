package integration_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/retrysql/retrysql/integration/contention"
	"github.com/retrysql/retrysql/integration/dbtest"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(contention.ChildEnv); spec != "" {
		// A client process of TestContentionHarness's multi-process cell:
		// this test binary, started again.
		strategies := append(contention.Strategies(), contention.FleetStrategies()...)
		strategies = append(strategies, fleetAtOne())
		if err := contention.Child(context.Background(), spec, strategies, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(gateHolderEnv); spec != "" {
		// TestFleetGateDiesWithItsProcess's process holding the gate.
		holdGate(spec)
		os.Exit(0)
	}
	dbtest.Main(m)
}
