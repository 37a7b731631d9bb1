package integration_test

import (
	"testing"

	"github.com/retrysql/retrysql/integration/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
