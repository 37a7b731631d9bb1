package retrysql

import (
	"os"
	"os/exec"
	"testing"
)

func goCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command("go", args...)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
