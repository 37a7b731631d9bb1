package retrysql

import (
	"os/exec"
	"testing"
)

func goCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command("go", args...)
}
